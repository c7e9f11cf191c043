"""Controls for the steering claims: a random feature pushed exactly as hard, and the steered-category count.

A category feature that makes the model write its category is evidence that the model uses it only if
a random other feature, pinned so that it moves the MLP activations by the same amount, does not.
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


def steered_categories(table: list[dict], control: list[dict] | None = None, min_share: float = 0.5,
                       max_base: float = 0.05, min_distinct: float = 0.3) -> list[str]:
    """Categories of a `steer.category_table` whose share rose to >= min_share from <= max_base with varied
    output (distinct ratio >= min_distinct); given the control table, only those whose control stays below."""
    ok = [r["category"] for r in table
          if r["share_steered"] >= min_share and r["share_base"] <= max_base and r["distinct"] >= min_distinct]
    if control is not None:
        below = {r["category"] for r in control if r["share_steered"] < min_share}
        ok = [c for c in ok if c in below]
    return ok


# steered_categories' thresholds (min_share, max_base, min_distinct) for prose, remarks and exercise targets;
# read from its signature, so the rule has one source
STEERED_RULE: dict[str, float] = {name: p.default for name, p in inspect.signature(steered_categories).parameters.items()
                                  if isinstance(p.default, float)}


def scorecard_entries(table: list[dict], table_k1: list[dict], control: list[dict]) -> dict:
    """Per-category steering keys: shares unsteered, at k_steer and at k = 1, distinct ratio, the control's share."""
    out = {}
    for r, r1, rc in zip(table, table_k1, control):
        c = r["category"]
        out.update({f"steer.{c}.share_base": round(r["share_base"], 4), f"steer.{c}.share_steered": round(r["share_steered"], 4),
                    f"steer.{c}.distinct": round(r["distinct"], 4), f"steer.{c}.feature": r["feature"],
                    f"steer.{c}.share_steered_k1": round(r1["share_steered"], 4),
                    f"steer.{c}.share_control": round(rc["share_steered"], 4), f"steer.{c}.control_feature": rc["feature"]})
    return out
