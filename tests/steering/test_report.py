"""Notebook 06's printed notes and verdicts: each outcome gets its own wording, read from the numbers."""
import torch

from monosem_lib.pipeline.scorecard import record, write_markdown
from monosem_lib.steering import report
from monosem_lib.steering.controls import scorecard_entries
from tests.steering.test_sweep import row


def dose(k, share, lo, hi, base=0.0):
    return {"k": float(k), "share": share, "share_lo": lo, "share_hi": hi, "share_base": base, "distinct": 0.8, "n": 16}


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
    sweep = [dose(0, 0, 0, 0), dose(1, 0.1, 0.0, 0.2), dose(10, 0.6, 0.45, 0.75), dose(20, 0.7, 0.55, 0.85)]
    assert report.first_passing_k(sweep) == 20
    text = report.dose_remark(sweep, "arabic")
    assert text.startswith("arabic: steered first at k = 20 (0.70 [0.55, 0.85], from 0.00 unsteered), above the paper's k = 1")
    assert text.endswith("at the paper's k = 1: 0.10 [0.00, 0.20]")
    assert "at or below the paper's k = 1" in report.dose_remark([dose(1, 0.9, 0.8, 1.0)], "dna")
    never = report.dose_remark(sweep[:3], "arabic")
    assert "never starts at or above 50% up to k = 10 (highest lower end 0.45, at k = 10" in never
    common = [dose(1, 0.9, 0.8, 1.0, base=0.6)]
    assert report.first_passing_k(common) is None
    assert "the unsteered share is already 0.60" in report.dose_remark(common, "english")


def test_verdict_when_nothing_passes_at_k1_names_what_the_sweep_showed():
    rows = [row("numbers", 1, base=0.12), row("cyrillic", 1, lo=0.0, mean=0.1, hi=0.2), row("arabic", 1, lo=0.0, mean=0.05, hi=0.1),
            row("numbers", 10, base=0.12), row("cyrillic", 10, lo=0.9, mean=0.95, hi=1.0), row("arabic", 10, lo=0.3, mean=0.41, hi=0.52)]
    lines = report.steering_verdict(rows)
    assert lines[0].startswith("No category is steered at the paper's strength k = 1 (0 of 3)") and "not reproduced" in lines[0]
    assert lines[1] == ("dose sweep, categories steered: k = 1: 0, k = 10: 1; and beating their control: k = 1: 0, k = 10: 1")
    assert lines[2].startswith("  numbers: unsteered share 0.12 is above 5%")
    assert lines[3] == ("  cyrillic: steered first at k = 10, 0.95 [0.90, 1.00] from 0.00; its random control there "
                        "0.05 [0.00, 0.10]: beats it")
    assert lines[4] == "  closest below the rule (highest interval lower end over the sweep): arabic 0.41 [0.30, 0.52] at k = 10"


def test_verdict_when_some_pass_and_a_control_also_steers():
    rows = [row("arabic", 1), row("dna", 1, ctrl_hi=0.6)]
    lines = report.steering_verdict(rows)
    assert lines[0].startswith("Evidence that the model uses the feature for 1 of 2 categories (arabic) at the paper's")
    assert "dna: steered first at k = 1" in lines[3] and lines[3].endswith("does not beat it")
    only_loud = report.steering_verdict([row("dna", 1, ctrl_hi=0.6)])
    assert only_loud[0].startswith("At the paper's k = 1, 1 categories are steered (dna), but their random controls")


def test_scorecard_excerpt_keeps_paper_keys_and_steering(tmp_path):
    rows = [row("arabic", 1, lo=0.6, mean=0.8, hi=1.0, feature=7), row("arabic", 5, lo=0.7, feature=7)]
    record(tmp_path, {"sae.A.l0": 12.5, "lm.A.val_loss": 4.2, **scorecard_entries(rows)})
    md = write_markdown(tmp_path).read_text()
    text = report.scorecard_excerpt(md, ["sae.A.l0", "univ.median_max_corr.features"], ["arabic"])
    assert "| `sae.A.l0` | 12.5 | 10–20 | target range |" in text
    assert "| `univ.median_max_corr.features` | not run | 0.72 |" in text
    assert "lm.A.val_loss" not in text
    assert "| `steer.k` | 1 |" in text and "| `steer.k5.n_categories_steered` | 1 |" in text
    assert "| arabic | 7 | 0 | 0.8 | 0.6 | 1 | 1 | 0.8 | 107 | 0.05 |" in text
    assert "steer.arabic" not in text
    assert "keys in all: `scorecard.md`" in text
