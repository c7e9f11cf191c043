"""Controls for the steering claims: a random feature pushed exactly as hard, and the steered-category count.

A category feature that makes the model write its category is evidence that the model uses it only if
a random other feature, pinned so that it moves the MLP activations by the same amount, does not.
The steering rule itself (`is_steered`) lives here, in one place; `STEERED_RULE` reads its thresholds.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch

from ..sae.model import SAE


def matched_controls(sae: SAE, features: dict[str, int], max_act: torch.Tensor,
                     seed: int = 0) -> tuple[dict[str, int], torch.Tensor]:
    """For each category, a random other feature that fired on held-out data, and stand-in 'max activations'
    [n_features] such that pinning it at k × its value moves the activations as far as the category feature
    at k × its own max (‖value·d‖ equal: value_j = max_i · ‖W_dec[i]‖ / ‖W_dec[j]‖)."""
    taken = set(features.values())
    pool = [j for j in torch.nonzero(max_act > 0).flatten().tolist() if j not in taken]
    if len(pool) < len(features):
        raise ValueError(f"only {len(pool)} other features fired on the held-out data, need {len(features)} controls")
    picks = np.random.default_rng(seed).choice(pool, size=len(features), replace=False)
    norms = sae.W_dec.detach().norm(dim=1).cpu()
    values = torch.zeros(sae.n_features)
    for i, j in zip(features.values(), picks):
        values[j] = float(max_act[i]) * norms[i] / norms[j]
    return {c: int(j) for c, j in zip(features, picks)}, values


def is_steered(row: dict, min_lower: float = 0.5, max_base: float = 0.05) -> bool:
    """THE steering rule: the steered share's 95% interval starts at >= min_lower (so the category is most of
    what the pinned model writes, beyond sampling noise) and the unsteered share is <= max_base (a rise from near
    zero, not a category the prompts already produce). NaN shares (no countable token) never pass."""
    return bool(row["share_steered_lo"] >= min_lower and row["share_base"] <= max_base)


# the rule's thresholds, read from `is_steered`'s signature so that the rule has one source (prose, remarks and
# exercise targets print them from here)
STEERED_RULE: dict[str, float] = {name: p.default for name, p in inspect.signature(is_steered).parameters.items()
                                  if isinstance(p.default, float)}


def beats_control(row: dict, **rule: float) -> bool:
    """Steered, and its matched random control's interval ends below min_lower: a push of that size alone does
    not write the category."""
    rule = {**STEERED_RULE, **rule}
    return is_steered(row, **rule) and bool(row["share_control_hi"] < rule["min_lower"])


def steered_categories(table: list[dict], against_control: bool = False, **rule: float) -> list[str]:
    """The categories of rows at one k (`sweep.pinned_sweep`) that are steered (`is_steered`, thresholds
    overridable by keyword); with `against_control`, only those that also `beats_control`."""
    ok = beats_control if against_control else is_steered
    return [r["category"] for r in table if ok(r, **rule)]


def by_k(rows: list[dict]) -> dict[float, list[dict]]:
    """Rows of a sweep grouped by k, in the sweep's order."""
    out: dict[float, list[dict]] = {}
    for r in rows:
        out.setdefault(float(r["k"]), []).append(r)
    return out


def at_k(rows: list[dict], k: float) -> list[dict]:
    """The rows of a sweep at strength k, or a one-line error naming the sweep's ks."""
    groups = by_k(rows)
    if float(k) not in groups:
        raise ValueError(f"k = {k:g} is not one of the sweep's ks ({', '.join(f'{g:g}' for g in groups)})")
    return groups[float(k)]


def sweep_summary(rows: list[dict]) -> dict:
    """Of a sweep: per k the categories steered and those that beat their control (when the rows have one),
    and per category the smallest k that steers it (None: no k of the sweep does)."""
    if not rows:
        raise ValueError("no rows to summarise: run sweep.pinned_sweep with at least one category and one k")
    groups = by_k(rows)
    steered = {k: steered_categories(t) for k, t in groups.items()}
    beat = {k: steered_categories(t, True) for k, t in groups.items()} if "share_control_hi" in rows[0] else {}
    cats = [r["category"] for r in next(iter(groups.values()))]
    first = {c: min((k for k, cs in steered.items() if c in cs), default=None) for c in cats}
    return {"ks": list(groups), "steered": steered, "beat_control": beat, "first_k": first}


def _r(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def scorecard_entries(rows: list[dict], k_head: float = 1.0) -> dict:
    """Flat steering keys: the headline counts at k_head (the paper's k = 1), the count per k of the sweep, and
    per category its shares at k_head (with the interval), distinct ratio, feature, control and first k."""
    summary, head = sweep_summary(rows), at_k(rows, k_head)
    out = {"steer.k": float(k_head), "steer.n_categories_steered": len(summary["steered"][float(k_head)])}
    if summary["beat_control"]:
        out["steer.n_categories_beat_control"] = len(summary["beat_control"][float(k_head)])
    for k in summary["ks"]:
        out[f"steer.k{k:g}.n_categories_steered"] = len(summary["steered"][k])
        if summary["beat_control"]:
            out[f"steer.k{k:g}.n_categories_beat_control"] = len(summary["beat_control"][k])
    for r in head:
        c = r["category"]
        out.update({f"steer.{c}.share_base": _r(r["share_base"]), f"steer.{c}.share_steered": _r(r["share_steered"]),
                    f"steer.{c}.share_steered_lo": _r(r["share_steered_lo"]),
                    f"steer.{c}.share_steered_hi": _r(r["share_steered_hi"]), f"steer.{c}.distinct": _r(r["distinct"]),
                    f"steer.{c}.feature": r["feature"], f"steer.{c}.first_k": summary["first_k"][c]})
        if "control_feature" in r:
            out.update({f"steer.{c}.control_feature": r["control_feature"],
                        f"steer.{c}.share_control": _r(r["share_control"])})
    return out
