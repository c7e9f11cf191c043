"""The printed verdicts of notebook 03: each outcome of the paper's expectation gets its own wording."""
from monosem_lib.sae.metrics import l0_verdict, resampling_verdict, size_verdict


def test_l0_verdict_names_each_side_of_the_target():
    assert "inside" in l0_verdict(15.0) and "inside" in l0_verdict(10.0) and "inside" in l0_verdict(20.0)
    assert "ABOVE" in l0_verdict(26.4) and "too low" in l0_verdict(26.4)
    assert "BELOW" in l0_verdict(4.0)


def test_size_verdict_separates_better_denser_and_not_better():
    better = {512: {"mse": 0.2, "l0": 30}, 1024: {"mse": 0.15, "l0": 29}, 2048: {"mse": 0.1, "l0": 31}}
    assert "as in the paper" in size_verdict(better)
    denser = {512: {"mse": 0.2, "l0": 30}, 1024: {"mse": 0.15, "l0": 35}}
    assert "L0 rises" in size_verdict(denser)
    worse = {512: {"mse": 0.149, "l0": 31.4}, 1024: {"mse": 0.144, "l0": 38.6}, 4096: {"mse": 0.158, "l0": 43.5}}
    v = size_verdict(worse)
    assert "does NOT fall" in v and "512 -> 1,024 -> 4,096" in v and "0.158" in v
    assert "one size only" in size_verdict({512: {"mse": 0.1, "l0": 3}})


def test_resampling_verdict_against_the_papers_ordering():
    assert "the paper's ordering" in resampling_verdict({"paper": 0.05, "reinit": 0.1, "none": 0.2, "2024": 0.9})
    assert "swap" in resampling_verdict({"paper": 0.05, "reinit": 0.3, "none": 0.2})
    v = resampling_verdict({"paper": 0.354, "none": 0.294, "reinit": 0.287})
    assert "NOT the paper's ordering" in v and v.startswith("fewest to most dead: reinit 28.7% < none 29.4% < paper 35.4%")
    assert "cannot show" in resampling_verdict({"paper": 0.0, "reinit": 0.0, "none": 0.0})   # nothing died
    assert "NOT" in resampling_verdict({"paper": 0.1, "reinit": 0.1, "none": 0.1})   # a tie is no evidence
