"""The papermill runner: bad input, a failing notebook, and one end-to-end smoke run."""
import json
import subprocess
import sys

import nbformat
import pytest

from monosem_lib.pipeline import runner as pipeline
from monosem_lib.pipeline.run_dir import REPO_ROOT


def test_unknown_profile_and_notebook_are_one_line_errors():
    for args, msg in ((["--profile", "huge"], "valid profiles"), (["--only", "99"], "unknown notebook number")):
        out = subprocess.run([sys.executable, "-m", "monosem_lib", "run", *args], capture_output=True, text=True)
        assert out.returncode == 1 and msg in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_failure_names_notebook_and_cell(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'\nrun_dir = None\noverrides = {}"),
                nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "01_broken.ipynb")
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    # cell numbers are execution counts of the executed notebook, which has papermill's injected cell
    with pytest.raises(RuntimeError, match=r"notebook 01_broken failed in cell 4 \(ValueError: boom\)"):
        pipeline.run_pipeline("smoke", tmp_path / "run", progress=False)


def test_end_to_end_smoke_pipeline(tmp_path):
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "monosem_lib", "run", "--profile", "smoke", "--run-dir", str(run_dir),
                          "--no-progress"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((run_dir / "scorecard.json").read_text())
    books = [p.stem for p in pipeline.list_notebooks()]
    for stem in books:
        assert card[f"pipeline.wall_s.{stem}"] > 0
        assert (run_dir / "notebooks" / f"{stem}.ipynb").exists()
    expected = {f"lm.{m}.{k}" for m in "AB" for k in ("val_loss", "unigram_loss", "bigram_loss", "tokens_per_s")}
    assert expected <= set(card), expected - set(card)
    assert card["lm.A.val_loss"] < card["lm.A.unigram_loss"]
    assert card["pipeline.wall_s.total"] <= 120 * 1.5  # smoke budget (2 min), with slack for a busy machine
    assert (run_dir / "scorecard.md").exists()
