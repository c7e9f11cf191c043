"""Notebook 05's verdicts: a replication and a failed one are worded differently, with the ceiling's reading."""
from monosem_lib.universality import verdicts
from monosem_lib.universality.twins import shared_unit_notes


def test_universality_verdict_failed_replication_below_the_seed_ceiling():
    med = {"features": 0.130, "neurons": 0.538, "control": 0.031, "sae_seed": 0.239, "alt": 0.595, "fired100": 0.445,
           "features_side": 0.120}
    bins = {"features": {"1e-5_1e-4": {"n": 2504, "median": 0.059}, "1e-2_1e-1": {"n": 509, "median": 0.532}},
            "neurons": {"1e-5_1e-4": {"n": 0, "median": float("nan")}, "1e-2_1e-1": {"n": 300, "median": 0.55}}}
    lines = verdicts.universality_verdict(med, "2024", bins)
    text = "\n".join(lines)
    assert "neurons are MORE universal than features here (4.1x)" in lines[1] and "does not reproduce" in lines[1]
    assert "0.099 above it: their matches are more than" in lines[2]
    assert "on the same tokens A vs B gives 0.120, 50% of it" in text and "the ceiling itself is below the neurons" in text
    assert "2024 recipe's SAEs, A vs B: 0.595 (main recipe on the same tokens 0.120), above the neurons" in text
    assert "0.445, still below the neurons" in text
    assert "high-density cluster (density 1e-5..1e-4): 2,504 features, median 0.059, no neuron fires" in text
    assert "where both are densest (1e-2..1e-1): features 0.532 vs neurons 0.550 -> neurons ahead" in text


def test_universality_verdict_replication_and_missing_controls():
    ok = verdicts.universality_verdict({"features": 0.72, "neurons": 0.46, "control": 0.1, "sae_seed": 0.8})
    assert "as in the paper" in ok[1] and not any("ceiling itself" in ln for ln in ok)
    bare = verdicts.universality_verdict({"features": 0.3, "neurons": 0.4, "control": 0.35, "sae_seed": 0.6})
    assert "no better than it" in bare[2] and any("the two LMs' dictionaries differ too" in ln for ln in bare)
    weak = verdicts.universality_verdict({"features": 0.15, "neurons": 0.4, "control": 0.1})
    assert "only 0.050 above it" in weak[2]
    none = verdicts.universality_verdict({"features": 0.3, "neurons": 0.4, "control": 0.1})
    assert any("ceiling is unknown" in ln for ln in none)
    assert any("no feature fires at density 1e-5..1e-4" in ln for ln in none)


def test_matched_and_logit_verdicts():
    shared = verdicts.matched_verdict(4093, 0.058, 0.130, 2575, 4096)
    assert shared[0].startswith("4,093 one-to-one pairs: median correlation 0.058 against 0.130") and "63%" in shared[0]
    assert "most best matches are shared" in shared[1]
    assert "distinct" in verdicts.matched_verdict(100, 0.6, 0.65, 10, 100)[1]
    assert "as they also fire alike less" in verdicts.logit_verdict(0.072, 0.304, 0.13, 0.54)
    assert "more than neuron twins" in verdicts.logit_verdict(0.5, 0.3, 0.13, 0.54)
    assert "write differently" in verdicts.logit_verdict(0.2, 0.3, 0.7, 0.5)


def test_shared_unit_notes_names_features_serving_several_categories():
    table = [{"category": c, "feature_A": a, "twin_B": b} for c, a, b in
             (("armenian", 3446, 2452), ("c", 80, 2452), ("greek", 80, 2452), ("korean", 2901, 2452), ("dna", 1, 2))]
    notes = shared_unit_notes(table)
    assert len(notes) == 2
    assert "feature 80 is A's best feature for 2 categories (c, greek)" in notes[0]
    assert "feature 2452 is B's twin for 4 categories (armenian, c, greek, korean)" in notes[1]
    assert shared_unit_notes(table[-1:]) == []
