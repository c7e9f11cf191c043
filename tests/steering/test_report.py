"""Notebook 06's printed notes and verdicts: each outcome gets its own wording, read from the numbers."""
import torch

from monosem_lib.pipeline.scorecard import record, write_markdown
from monosem_lib.steering import report
from monosem_lib.steering.controls import STEERED_RULE, scorecard_entries


def row(cat, base, steered, distinct=0.8, feature=1):
    return {"category": cat, "feature": feature, "share_base": base, "share_steered": steered, "distinct": distinct}


def test_steered_rule_is_read_from_the_function():
    assert STEERED_RULE == {"min_share": 0.5, "max_base": 0.05, "min_distinct": 0.3}


def test_feature_notes_flag_shared_and_weak_features():
    max_act = torch.zeros(10)
    max_act[[1, 2, 3]] = torch.tensor([4.0, 5.0, 0.05])
    notes = report.feature_notes({"chinese": 1, "thai": 1, "dna": 2, "armenian": 3}, max_act,
                                 {"chinese": 0.5, "thai": 0.2, "dna": 0.9, "armenian": 0.3})
    assert len(notes) == 2
    assert notes[0].startswith("chinese, thai share feature 1 (corr 0.50, 0.20)")
    assert "armenian: feature 3 barely fires (max activation 0.05" in notes[1]


def test_feature_notes_say_when_there_is_nothing_to_note():
    notes = report.feature_notes({"a": 1, "b": 2}, torch.tensor([0.0, 3.0, 4.0]), {"a": 0.5, "b": 0.6})
    assert notes[0].startswith("every category has its own feature")


def test_dose_remark_for_each_outcome():
    sweep = [{"k": float(k), "share": s, "distinct": 0.8} for k, s in ((0, 0), (1, 0), (10, 0.11), (20, 0.56))]
    assert report.first_passing_k(sweep) == 20
    text = report.dose_remark(sweep, "arabic", 10)
    assert "first reaches 50% at k = 20 (0.56; 0.00 at k = 1, 0.11 at k = 10)" in text and "only above k_steer" in text
    assert "is enough" in report.dose_remark(sweep, "arabic", 20)
    assert "never reaches 50%" in report.dose_remark(sweep[:3], "arabic", 10)
    collapsed = sweep[:3] + [{"k": 20.0, "share": 0.9, "distinct": 0.1}]
    assert report.first_passing_k(collapsed) is None
    assert "already 0.60 unsteered" in report.dose_remark([{"k": 0.0, "share": 0.6, "distinct": 0.9}], "english", 10)


def test_verdict_when_nothing_passes_names_what_stopped_each():
    table = [row("numbers", 0.12, 0.89), row("cyrillic", 0, 0.41), row("arabic", 0, 0.11), row("dna", 0, 0.7, 0.1)]
    k1 = [row(r["category"], r["share_base"], 0.0) for r in table]
    control = [row(r["category"], 0, 0.01) for r in table]
    lines = report.steering_verdict(table, k1, control, 10)
    assert lines[0].startswith("No category passes (steered at k = 1: 0, at k = 10: 0, and beating the control: 0 of 4)")
    assert "not reproduced" in lines[0]
    assert "numbers: 0.12 -> 0.89 at k = 10, not counted: its unsteered share is above 5%" in lines[1]
    assert "dna" in lines[2] and "collapses" in lines[2]
    assert lines[3] == "  closest below 50% at k = 10: cyrillic 0.41, arabic 0.11"


def test_verdict_when_some_pass_and_a_control_also_steers():
    table = [row("arabic", 0, 0.8), row("dna", 0, 0.9)]
    control = [row("arabic", 0, 0.0), row("dna", 0, 0.6)]
    lines = report.steering_verdict(table, table, control, 10)
    assert lines[0].startswith("Evidence that the model uses the feature for 1 categories (arabic)")
    assert "dna: 0.00 -> 0.90 at k = 10, not counted: its random control reaches 0.60 too" in lines[1]


def test_scorecard_excerpt_keeps_paper_keys_and_steering(tmp_path):
    table = [row("arabic", 0, 0.8, feature=7)]
    record(tmp_path, {"sae.A.l0": 12.5, "lm.A.val_loss": 4.2, "steer.k": 10.0,
                      **scorecard_entries(table, table, [row("arabic", 0, 0.0, feature=9)])})
    md = write_markdown(tmp_path).read_text()
    text = report.scorecard_excerpt(md, ["sae.A.l0", "univ.median_max_corr.features"], ["arabic"])
    assert "| `sae.A.l0` | 12.5 | 10–20 | target range |" in text
    assert "| `univ.median_max_corr.features` | not run | 0.72 |" in text
    assert "lm.A.val_loss" not in text
    assert "| `steer.k` | 10 |" in text
    assert "| arabic | 7 | 0 | 0.8 | 0.8 | 0.8 | 9 | 0 |" in text
    assert "steer.arabic" not in text
    assert "keys in all: `scorecard.md`" in text
