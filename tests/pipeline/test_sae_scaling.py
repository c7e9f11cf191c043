"""The SAE scaling view: a batch over sae.n_features x sae.n_acts with a planted power law gives back its exponent,
through the command line; another grid or no batch is a one-line error."""
import matplotlib
import pytest

from monosem_lib.io import load_json, save_json
from monosem_lib.pipeline import cli, sae_scaling

matplotlib.use("Agg")
D_MLP = 512          # the classroom profile's


def _batch(tmp_path, labels_losses):
    points = {lab: {"sae.A.fvu": {"mean": loss, "std": 0.0, "n": 1}} for lab, loss in labels_losses}
    save_json(tmp_path / "batch.json", {"definition": {"profile": "classroom", "overrides": {}}, "points": points})
    return tmp_path


def test_a_planted_power_law_is_recovered(tmp_path):
    grid = [(n, a) for n in (1024, 2048, 4096) for a in (100_000, 200_000, 400_000)]
    law = lambda n, a: 3.0 * sae_scaling.flops(D_MLP, n, a) ** -0.2  # noqa: E731
    out = _batch(tmp_path, [(f"sae.n_features={n},sae.n_acts={a}", law(n, a)) for n, a in grid])
    pts = sae_scaling.scaling_points(load_json(out / "batch.json"), D_MLP)
    front = sae_scaling.frontier(pts)
    a, b = sae_scaling.fit_power_law([p["compute"] for p in front], [p["loss"] for p in front])
    assert a == pytest.approx(3.0, rel=1e-6) and b == pytest.approx(-0.2, abs=1e-9)
    assert cli.main(["sae-scaling", str(out)]) == 0
    md = (out / "sae_scaling.md").read_text()
    assert "C^-0.2000" in md and md.count("|") > 40
    assert (out / "sae_scaling.png").stat().st_size > 10_000


def test_the_frontier_keeps_only_points_that_beat_every_cheaper_one():
    pts = [{"compute": c, "loss": loss} for c, loss in ((1, 1.0), (2, 1.2), (3, 0.5), (4, 0.5), (5, 0.4))]
    assert [p["compute"] for p in sae_scaling.frontier(pts)] == [1, 3, 5]


def test_another_grid_or_no_batch_is_a_one_line_error(tmp_path, capsys):
    out = _batch(tmp_path, [("lm_train.max_steps=1100,sae.n_acts=450000", 0.2)])
    with pytest.raises(ValueError, match="is not on a sae.n_features x sae.n_acts grid"):
        sae_scaling.write_sae_scaling(out)
    assert cli.main(["sae-scaling", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
