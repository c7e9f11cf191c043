"""Feature completeness: a category that only the larger dictionary resolves is reported at that size, a planted
size ~ 1 / frequency law gives slope -1, and a missing speed measurement is a one-line error."""
import matplotlib
import numpy as np
import pytest
import torch

from monosem_lib.interpret import completeness
from monosem_lib.interpret.categories import TOO_FEW, CategoryProxies

matplotlib.use("Agg")
N = 6000


def _proxies():
    """Two categories with binary proxies: 'rare' on 10% of rows, 'never' on another 10% (no feature tracks it)."""
    rng = np.random.default_rng(0)
    rare, never = rng.random(N) < 0.1, rng.random(N) < 0.1
    values = {"proxy": {"rare": rare.astype(np.float32), "never": never.astype(np.float32)}}
    return CategoryProxies(values, {"rare": rare, "never": never}, {"rare": "paper", "never": "paper"}, None,
                           [("proxy", "rare"), ("proxy", "never")])


def _codes(n_features: int, track: bool, in_cat: np.ndarray) -> torch.Tensor:
    """Random sparse features; with `track`, feature 3 fires exactly on the category."""
    g = torch.Generator().manual_seed(n_features)
    x = torch.relu(torch.randn(N, n_features, generator=g) - 1.5)
    if track:
        x[:, 3] = torch.from_numpy(in_cat.astype(np.float32)) * 2.0
    return x.to_sparse_csr()


def test_a_category_resolved_only_by_the_larger_dictionary_is_reported_at_that_size():
    cp = _proxies()
    table = {n: completeness.score_dictionary(_codes(n, n == 16, cp.in_cat["rare"]), cp, ["rare", "never"])
             for n in (8, 16)}
    assert table[16]["rare"].found and table[16]["rare"].feature == 3 and table[16]["rare"].spec == 1.0
    assert not table[8]["rare"].found and not table[16]["never"].found
    assert completeness.min_sizes(table) == {"never": None, "rare": 16}
    card = completeness.completeness_entries(table, ["tiny"], {"rare": 0.01, "never": 0.02})
    assert card["completeness.rare.min_size"] == 16
    assert card["completeness.never.min_size"] == "not found up to 16"
    assert card["completeness.tiny.min_size"] == TOO_FEW and card["completeness.slope"] is None
    assert "rare" in completeness.completeness_table(table, {"rare": 0.01, "never": 0.02})
    assert completeness.plot_completeness({"rare": 0.01, "never": 0.02}, completeness.min_sizes(table), [8, 16])


def test_a_planted_inverse_law_gives_slope_minus_one():
    freq = {"a": 1e-2, "b": 1e-3, "c": 1e-4}
    slope, _, n = completeness.fit_slope(freq, {"a": 512, "b": 5120, "c": 51200, "d": None})
    assert n == 3 and slope == pytest.approx(-1.0)


def test_the_cost_of_a_larger_size_needs_the_measured_speed():
    with pytest.raises(ValueError, match="run notebook 03_train_sae first"):
        completeness.larger_size_cost({}, 8192, 200_000)
    card = {"sae.A.acts_per_s": 10_000.0, "sae.A.n_features": 4096, "pipeline.wall_s.01_train_tiny_lm": 540.0}
    line, cost = completeness.larger_size_line(8192, [512, 4096], card, 200_000, "classroom")
    assert cost == pytest.approx(40.0) and "not in this run's sweep" in line and "does not fit" in line
    assert completeness.larger_size_line(512, [512, 4096], card, 200_000, "classroom")[0].startswith("512 features: in")
    # notebooks not yet recorded in this run (04-06, while 04 runs) count with their expected walls
    card = {**card, "pipeline.wall_s.01_train_tiny_lm": 300.0}
    assert "it fits" in completeness.larger_size_line(8192, [512, 4096], card, 200_000, "classroom")[0]
    line = completeness.larger_size_line(8192, [512, 4096], card, 200_000, "classroom",
                                         {"01_train_tiny_lm": 100.0, "05_universality": 250.0})[0]
    assert "does not fit" in line and "as estimated for those not yet recorded" in line and "550 s" in line


def test_a_category_no_unit_can_pass_is_out_of_reach_not_missing():
    """The control: a category whose perfect detector correlates below the bar with its proxy is reported out of
    reach (and counted), one above it stays "not found"."""
    from monosem_lib.interpret import completeness as cm
    table = {512: {"greek": cm.SizeScore(False, 0, 0.3, 0.9), "arabic": cm.SizeScore(False, 1, 0.4, 0.9)},
             1024: {"greek": cm.SizeScore(False, 0, 0.3, 0.9), "arabic": cm.SizeScore(False, 1, 0.45, 0.9)}}
    reach = {"greek": 0.47, "arabic": 0.69}
    card = cm.completeness_entries(table, [], {"greek": 0.003, "arabic": 0.008}, reach)
    assert card["completeness.greek.min_size"] == "out of reach (a perfect detector scores 0.47 < 0.5)"
    assert card["completeness.arabic.min_size"] == "not found up to 1024" and card["completeness.n_reachable"] == 1
    assert card["completeness.arabic.perfect_detector"] == 0.69
    assert "1 of them are out of reach" in cm.completeness_verdict(table, {"greek": 0.003, "arabic": 0.008}, reach)
    assert "(out of reach)" in cm.completeness_table(table, {"greek": 0.003, "arabic": 0.008}, reach).splitlines()[2]
