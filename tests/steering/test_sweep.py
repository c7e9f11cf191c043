"""The dose sweep and the steering rule: one batched sweep, the interval rule, and the per-k summary."""
import math

import numpy as np
import pytest
import torch

from monosem_lib.steering import controls
from monosem_lib.steering.pinned import sample_pinned
from monosem_lib.steering.shares import sample_shares, share_interval
from monosem_lib.steering.sweep import dose_response, per_category, pinned_sweep

PROMPTS = ["The cat", "ACGT"]


def odd_ids(category, ids, tok):
    """A stand-in proxy: a token 'is of the category' when its id is odd (any mask_fn plugs in the same way)."""
    return np.asarray(ids) % 2 == 1


def test_sweep_rows_match_direct_sampling(tiny, tiny_tok):
    lm, sae = tiny
    features = {"a": 4, "b": 4, "c": 30}                    # a and b share a feature: one pin, the same samples
    max_act = {"a": 2.0, "b": 2.0, "c": 3.0}
    rows = pinned_sweep(lm, tiny_tok, sae, features, max_act, [1, 5], PROMPTS, odd_ids,
                        control={"a": 7, "b": 8, "c": 9}, control_max={"a": 1.0, "b": 1.0, "c": 1.0},
                        n_samples=3, n_new=10, seed=3)
    assert [(r["k"], r["category"]) for r in rows] == [(1.0, "a"), (1.0, "b"), (1.0, "c"), (5.0, "a"), (5.0, "b"), (5.0, "c")]
    assert torch.equal(rows[0]["samples"], rows[1]["samples"]) and rows[0]["share_steered"] == rows[1]["share_steered"]
    direct = sample_pinned(lm, tiny_tok, sae, [None, (30, 15.0), (9, 5.0)], PROMPTS, 3, 10, seed=3)
    c5 = rows[5]
    assert c5["value"] == 15.0 and c5["control_value"] == 5.0 and c5["n_steered"] == 6
    assert torch.equal(c5["samples"], direct[1])
    for name, s in (("base", direct[0]), ("steered", direct[1]), ("control", direct[2])):
        want = share_interval(sample_shares(s, "c", tiny_tok, odd_ids))
        assert [c5[f"share_{name}"], c5[f"share_{name}_lo"], c5[f"share_{name}_hi"]] == \
            pytest.approx([want["mean"], want["lo"], want["hi"]])
    assert all(r["share_base"] == rows[0]["share_base"] for r in rows)     # one unsteered batch for all


def test_max_act_per_category_or_per_feature(tiny):
    sae = tiny[1]
    table = torch.zeros(64)
    table[[4, 30]] = torch.tensor([2.0, 3.0])
    assert per_category(table, {"a": 4, "c": 30}, sae) == per_category({"a": 2.0, "c": 3.0}, {"a": 4, "c": 30}, sae)


def test_dose_response_rows(tiny, tiny_tok):
    lm, sae = tiny
    windows = torch.randint(1, 300, (2, 16))
    sweep = dose_response(lm, tiny_tok, sae, 4, 2.0, [0, 1, 10], "dna", PROMPTS, windows, n_samples=2, n_new=8,
                          mask_fn=odd_ids)
    assert [r["k"] for r in sweep] == [0.0, 1.0, 10.0] and all(r["n"] == 4 for r in sweep)
    assert sweep[2]["kl"] > sweep[1]["kl"] >= 0 and len({r["share_base"] for r in sweep}) == 1
    assert all(r["share_lo"] <= r["share"] <= r["share_hi"] for r in sweep)
    # the student's pin (notebook 06): the library's own gives the same curves; a wrong one changes them
    from monosem_lib.steering.steer import clamp_hook
    same = dose_response(lm, tiny_tok, sae, 4, 2.0, [0, 1, 10], "dna", PROMPTS, windows, n_samples=2, n_new=8,
                         mask_fn=odd_ids, pin=lambda i, v: clamp_hook(sae, i, v))
    assert [torch.equal(a["samples"], b["samples"]) for a, b in zip(sweep, same)] == [True] * 3
    assert [round(a["kl"], 5) for a in sweep] == [round(b["kl"], 5) for b in same]
    wrong = dose_response(lm, tiny_tok, sae, 4, 2.0, [0, 1, 10], "dna", PROMPTS, windows, n_samples=2, n_new=8,
                          mask_fn=odd_ids, pin=lambda i, v: (lambda x: x + v * sae.W_dec[i]))   # no f_i taken away
    assert abs(wrong[1]["kl"] - sweep[1]["kl"]) > 1e-4


@pytest.mark.parametrize("call, msg", [
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 4}, {"b": 1.0}, [1], PROMPTS), "no max activation for category 'a'"),
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 4}, {"a": math.nan}, [1], PROMPTS), "must be finite and >= 0"),
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 99}, {"a": 1.0}, [1], PROMPTS), "unknown feature 99"),
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 4}, {"a": 1.0}, [1, 1], PROMPTS), "ks must be distinct"),
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 4}, {"a": 1.0}, [-1], PROMPTS), "ks must be distinct"),
    (lambda lm, sae, tok: pinned_sweep(lm, tok, sae, {"a": 4}, {"a": 1.0}, [1], PROMPTS, control={"b": 3}),
     "control must give one feature for every category"),
])
def test_bad_input_is_a_one_line_error(tiny, tiny_tok, call, msg):
    lm, sae = tiny
    with pytest.raises(ValueError, match=msg) as err:
        call(lm, sae, tiny_tok)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- the rule on made-up tables

def row(c, k=1.0, base=0.0, lo=0.6, mean=None, hi=0.9, ctrl_hi=0.1, feature=1):
    mean = (lo + hi) / 2 if mean is None else mean
    return {"category": c, "k": k, "feature": feature, "share_base": base, "share_steered": mean,
            "share_steered_lo": lo, "share_steered_hi": hi, "share_control": ctrl_hi / 2, "share_control_lo": 0.0,
            "share_control_hi": ctrl_hi, "control_feature": feature + 100, "distinct": 0.8}


def test_the_rule_reads_the_interval_lower_end_and_the_base():
    assert controls.STEERED_RULE == {"min_lower": 0.5, "max_base": 0.05}
    table = [row("at", lo=0.5), row("below", lo=0.4999, mean=0.8), row("base_at", base=0.05),
             row("base_above", base=0.0501), row("nan", lo=math.nan, base=0.0), row("nan_base", base=math.nan)]
    assert controls.steered_categories(table) == ["at", "base_at"]
    assert controls.steered_categories(table, min_lower=0.3) == ["at", "below", "base_at"]


def test_beating_the_control_reads_its_upper_end():
    table = [row("clean", ctrl_hi=0.4999), row("tied", ctrl_hi=0.5), row("loud", ctrl_hi=0.9), row("not_steered", lo=0.2)]
    assert controls.steered_categories(table) == ["clean", "tied", "loud"]
    assert controls.steered_categories(table, against_control=True) == ["clean"]


def test_sweep_summary_counts_each_k_and_finds_the_first():
    rows = [row("arabic", 1, lo=0.2), row("dna", 1, lo=0.1), row("html", 1, base=0.3),
            row("arabic", 5, lo=0.55, ctrl_hi=0.7), row("dna", 5, lo=0.3), row("html", 5, base=0.3),
            row("arabic", 20, lo=0.8), row("dna", 20, lo=0.6), row("html", 20, base=0.3)]
    s = controls.sweep_summary(rows)
    assert s["ks"] == [1.0, 5.0, 20.0]
    assert {k: len(v) for k, v in s["steered"].items()} == {1.0: 0, 5.0: 1, 20.0: 2}
    assert s["beat_control"] == {1.0: [], 5.0: [], 20.0: ["arabic", "dna"]}
    assert s["first_k"] == {"arabic": 5.0, "dna": 20.0, "html": None}
    keys = controls.scorecard_entries(rows, k_head=1.0)
    assert keys["steer.n_categories_steered"] == 0 and keys["steer.k20.n_categories_steered"] == 2
    assert keys["steer.k5.n_categories_steered"] == 1 and keys["steer.n_categories_beat_control"] == 0
    assert keys["steer.k20.n_categories_beat_control"] == 2 and keys["steer.k"] == 1.0
    assert keys["steer.arabic.first_k"] == 5.0 and keys["steer.html.first_k"] is None
    assert keys["steer.arabic.share_steered_lo"] == 0.2 and keys["steer.arabic.share_steered_hi"] == 0.9
    assert keys["steer.dna.control_feature"] == 101 and keys["steer.dna.share_control"] == 0.05
    with pytest.raises(ValueError, match="k = 2 is not one of the sweep's ks"):
        controls.scorecard_entries(rows, k_head=2)
