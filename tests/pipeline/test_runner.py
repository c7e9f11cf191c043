"""The papermill runner: bad input, a failing notebook, and one end-to-end smoke run."""
import json
import os
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


def _notebook(folder, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'\nrun_dir = None\noverrides = {}")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / "01_broken.ipynb")


def test_failure_names_notebook_and_cell_and_keeps_the_last_good_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    out = tmp_path / "run" / "notebooks"
    _notebook(tmp_path / "nbs", "x = 1", "print('the class figure')")
    pipeline.run_pipeline("smoke", tmp_path / "run", progress=False)
    good = (out / "01_broken.ipynb").read_bytes()
    assert b"the class figure" in good
    _notebook(tmp_path / "nbs", "x = 1", "raise ValueError('boom')")
    # cell numbers are execution counts of the executed notebook, which has papermill's injected cell
    with pytest.raises(RuntimeError, match=r"notebook 01_broken failed in cell 4 \(ValueError: boom\).*"
                                           r"01_broken.failed.ipynb; the last good run of it is kept"):
        pipeline.run_pipeline("smoke", tmp_path / "run", progress=False)
    assert (out / "01_broken.ipynb").read_bytes() == good
    assert b"boom" in (out / "01_broken.failed.ipynb").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["01_broken.failed.ipynb", "01_broken.ipynb"]   # no temp file
    _notebook(tmp_path / "nbs", "x = 2")
    pipeline.run_pipeline("smoke", tmp_path / "run", progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["01_broken.ipynb"]          # fixed: the failed copy goes


def test_every_shipped_notebook_declares_the_stages_it_pins():
    for nb in pipeline.list_notebooks():
        if nb.name.startswith("00_"):          # the toy model needs no corpus, tokenizer or LM
            assert pipeline.notebook_stages(nb) == ["toy"], nb.name
        else:
            assert pipeline.notebook_stages(nb)[:4] == ["data", "tokenizer", "lm", "lm_train"], nb.name


def test_end_to_end_smoke_pipeline(tmp_path):
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "monosem_lib", "run", "--profile", "smoke", "--run-dir", str(run_dir),
                          "--no-progress"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
                         preexec_fn=lambda: os.umask(0o022))
    assert out.returncode == 0, out.stderr[-2000:]
    card = json.loads((run_dir / "scorecard.json").read_text())
    books = [p.stem for p in pipeline.list_notebooks()]
    for stem in books:
        assert card[f"pipeline.wall_s.{stem}"] > 0
        assert (run_dir / "notebooks" / f"{stem}.ipynb").exists()
    expected = {f"lm.{m}.{k}" for m in "AB" for k in ("val_loss", "unigram_loss", "bigram_loss", "tokens_per_s")}
    expected |= {"toy.sae.mmcs", "toy.sae.mcc", "toy.control.random.mmcs", "toy.control.neurons.mmcs"}
    assert expected <= set(card), expected - set(card)
    assert card["toy.sae.mmcs"] > card["toy.control.random.mmcs"]
    assert card["lm.A.val_loss"] < card["lm.A.unigram_loss"]
    assert card["pipeline.wall_s.total"] <= 120 * 1.5  # smoke budget (2 min), with slack for a busy machine
    assert (run_dir / "scorecard.md").exists()
    private = [str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
               if p.is_file() and p.stat().st_mode & 0o777 != 0o644]
    assert private == [], private                            # under umask 022 a class can read every file (#26 row 10)
