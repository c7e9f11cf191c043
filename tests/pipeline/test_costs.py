"""The cost profile: costly cells read from executed notebooks, merged per run, summarised; estimates scale with work."""
import json

import nbformat
import pytest

from monosem_lib.config import get_config
from monosem_lib.pipeline import costs

NBS = list(costs.REFERENCE["notebooks"])


def _executed(path, durations):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x = {i}\n# more") for i in range(len(durations))]
    for c, d in zip(nb.cells, durations):
        c.metadata["papermill"] = {"duration": d}
    nbformat.write(nb, str(path))
    return path


def test_cells_over_two_seconds_are_recorded_and_summarised(tmp_path):
    a = _executed(tmp_path / "a.ipynb", [0.5, 12.0, 3.0, None])
    assert [c["cell"] for c in costs.notebook_cells(a)] == [1, 2]
    assert costs.notebook_cells(a)[0] == {"cell": 1, "seconds": 12.0, "source": "x = 1"}
    costs.record_notebook(tmp_path, "03_train_sae", 20.0, a, 300.0)
    prof = costs.record_notebook(tmp_path, "04_interpret_features", 7.0, _executed(tmp_path / "b.ipynb", [5.0]), 300.0)
    assert set(prof["notebooks"]) == {"03_train_sae", "04_interpret_features"}          # merged, not replaced
    assert json.loads((tmp_path / "profile.json").read_text())["gflops"] == 300.0
    text = costs.summary(prof, top=2)
    assert "27 s in all" in text and text.splitlines()[1].strip().startswith("12.0 s  03 cell  1: x = 1")
    assert len(text.splitlines()) == 3


def test_estimates_scale_with_work_and_machine_speed(tmp_path):
    cfg = get_config("classroom")
    measured = get_config("classroom", costs.REFERENCE.get("overrides"))     # the settings the reference ran with
    assert costs.estimate(measured, NBS, costs.REFERENCE["gflops"])["03_train_sae"] == \
        pytest.approx(costs.REFERENCE["notebooks"]["03_train_sae"])
    base = costs.estimate(cfg, NBS, costs.REFERENCE["gflops"])
    more = get_config("classroom", {"sae.n_acts": 2 * cfg.sae.n_acts, "harvest.n_rows": 2 * cfg.harvest.n_rows})
    side = get_config("classroom", {"sae.side_n_acts": 2 * cfg.sae.side_n_acts})
    assert costs.estimate(more, NBS, 367.0)["03_train_sae"] > costs.estimate(side, NBS, 367.0)["03_train_sae"] > \
        costs.estimate(cfg, NBS, 367.0)["03_train_sae"]                 # 4 SAEs read n_acts, 3 read side_n_acts
    slow = costs.estimate(cfg, NBS, costs.REFERENCE["gflops"] / 2)
    assert slow["01_train_tiny_lm"] - costs.START_S == pytest.approx(2 * (base["01_train_tiny_lm"] - costs.START_S))
    long = get_config("classroom", {"sae.n_acts": 4_500_000})
    assert costs.estimate(long, NBS, 254.0)["03_train_sae"] > 5 * base["03_train_sae"]
    lines = costs.estimate_lines(long, NBS, 254.0, tmp_path)
    assert lines[0].startswith("estimated ") and "as long as the classroom profile's" in lines[1]
    assert "03_train_sae" in lines[1]
    assert len(costs.estimate_lines(cfg, NBS, 254.0, tmp_path)) == 1          # the profile's own: no warning


def test_a_run_dirs_own_profile_is_the_reference(tmp_path):
    cfg = get_config("classroom")
    costs.save_work(tmp_path, cfg)                          # a run killed before its first notebook ended
    assert "the kit's measured classroom run" in costs.estimate_lines(cfg, ["03_train_sae"], 254.0, tmp_path)[0]
    costs.record_notebook(tmp_path, "03_train_sae", 100.0, _executed(tmp_path / "a.ipynb", [1.0]), 254.0)
    assert "this run dir's last profile" in costs.estimate_lines(cfg, ["03_train_sae"], 254.0, tmp_path)[0]
    assert costs.matmul_gflops(repeats=2, n=256) > 0


def test_a_profile_that_needs_more_memory_than_there_is_is_refused_in_one_line():
    full = get_config("full")
    need = costs.memory_estimate_gb(full)
    assert need > costs.memory_estimate_gb(get_config("classroom")) > 2.5
    costs.check_memory(full, available_gb=need + 1)                              # enough: silent
    with pytest.raises(ValueError, match=r"the full profile needs an estimated .* GB .* -p eval.n_tokens=1048576"):
        costs.check_memory(full, available_gb=need - 1)
    assert costs.available_memory_gb() > 0
