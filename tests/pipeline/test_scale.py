"""The scale figure: a batch gridded over LM steps x SAE activations becomes one figure and one table."""
import matplotlib
import pytest

from monosem_lib.io import save_json
from monosem_lib.pipeline import cli, scale

matplotlib.use("Agg")


def _batch(tmp_path, labels):
    points = {lab: {"univ.median_max_corr.features": {"mean": 0.1 * i, "std": 0.01, "n": 2},
                    "univ.median_max_corr.neurons": {"mean": 0.5, "std": 0.0, "n": 2}} for i, lab in enumerate(labels)}
    save_json(tmp_path / "batch.json", {"definition": {"profile": "classroom", "overrides": {}}, "points": points})
    return tmp_path


def test_a_two_by_two_grid_gives_a_figure_and_a_table(tmp_path):
    labels = [f"lm_train.max_steps={lm},sae.n_acts={a}" for lm in (1100, 4400) for a in (450000, 1800000)]
    out = _batch(tmp_path, labels)
    assert cli.main(["scale", str(out)]) == 0
    md = (out / "scale.md").read_text()
    assert "| 2.3M | 450,000 | 0 ± 0.01 | 0.5 ± 0 |" in md and "| 9.0M | 1,800,000 | 0.3 ± 0.01 |" in md
    assert (out / "scale.png").stat().st_size > 10_000
    assert [p[:2] for p in scale.scale_points({"points": {k: {} for k in labels}})][0] == (1100.0, 450000.0)


def test_a_batch_on_another_grid_is_a_one_line_error(tmp_path):
    out = _batch(tmp_path, ["sae.l1_coeff=0.01"])
    with pytest.raises(ValueError, match="is not on a lm_train.max_steps x sae.n_acts grid"):
        scale.write_scale(out)
    assert cli.main(["scale", str(tmp_path / "nowhere")]) == 1
