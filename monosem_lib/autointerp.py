"""Automated interpretability, offline: explain a unit from examples, simulate it, score with Spearman.

The paper had Claude write an explanation from 49 examples (top and random) and then predict the
activations on held-out examples (top, from every activation interval, and random); the score is the
Spearman correlation of predicted and true activations. The default explainer here needs no API:
its "explanation" is the set of tokens that activate the unit in the explanation examples, each with
its mean normalised activation (a token-set explanation, what a human skimming a dashboard writes
first). The simulator predicts that value for a token in the set and 0 otherwise. Explanation and
scoring examples come from disjoint rows (even / odd held-out rows), as in the paper.

Any object with the `Explainer` methods can replace it (e.g. one that calls an LLM).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.stats import spearmanr

from .feature_stats import N_INTERVALS, UnitActs, interval_of


class Explainer(Protocol):
    """Pluggable explainer/simulator: explain from examples, then predict activations on new tokens."""

    def explain(self, token_ids: np.ndarray, acts: np.ndarray) -> object: ...

    def simulate(self, explanation: object, token_ids: np.ndarray) -> np.ndarray: ...


@dataclass
class TokenSetExplainer:
    """Explanation = {token id: mean activation / max} over the explanation examples (tokens seen ≥ once)."""
    min_share: float = 0.0        # drop tokens whose mean normalised activation is below this

    def explain(self, token_ids: np.ndarray, acts: np.ndarray) -> dict[int, float]:
        vmax = float(acts.max()) if len(acts) else 0.0
        if vmax <= 0:
            return {}
        ids, inv = np.unique(token_ids, return_inverse=True)
        mean = np.bincount(inv, weights=acts / vmax) / np.bincount(inv)
        return {int(t): float(m) for t, m in zip(ids, mean) if m > self.min_share}

    def simulate(self, explanation: dict[int, float], token_ids: np.ndarray) -> np.ndarray:
        return np.array([explanation.get(int(t), 0.0) for t in token_ids], np.float64)


def sample_rows(rows: np.ndarray, vals: np.ndarray, n_rows: int, allowed: np.ndarray, rng: np.random.Generator,
                n_top: int = 10, per_interval: int = 2, n_random: int = 20) -> np.ndarray:
    """Rows drawn as the paper does: the top activations, a few from each interval, and random rows.
    `allowed` [n_rows] bool restricts the draw (disjoint explanation / scoring halves)."""
    keep = allowed[rows]
    rows, vals = rows[keep], vals[keep]
    picked = [rows[:n_top]]
    if len(vals):
        bins = interval_of(vals, float(vals[0]), N_INTERVALS)
        for b in range(N_INTERVALS):
            idx = np.flatnonzero(bins == b)
            picked.append(rows[rng.choice(idx, size=min(per_interval, len(idx)), replace=False)])
    pool = np.flatnonzero(allowed)
    picked.append(rng.choice(pool, size=min(n_random, len(pool)), replace=False))
    return np.unique(np.concatenate(picked))


def score_unit(ua: UnitActs, i: int, token_ids: np.ndarray, explainer: Explainer | None = None,
               seed: int = 0, n_explain_top: int = 20) -> tuple[float, object]:
    """(Spearman score, explanation) of unit i: explain on even rows, simulate and score on odd rows."""
    explainer = explainer or TokenSetExplainer()
    rng = np.random.default_rng([seed, i])
    rows, vals = ua.of(i)
    act = ua.dense(i)
    even = np.arange(ua.n_rows) % 2 == 0
    ex = sample_rows(rows, vals, ua.n_rows, even, rng, n_top=n_explain_top, per_interval=2, n_random=20)
    explanation = explainer.explain(token_ids[ex], act[ex])
    sc = sample_rows(rows, vals, ua.n_rows, ~even, rng)
    pred, true = explainer.simulate(explanation, token_ids[sc]), act[sc]
    if np.ptp(pred) == 0 or np.ptp(true) == 0:
        return 0.0, explanation
    return float(spearmanr(pred, true).statistic), explanation


def score_units(ua: UnitActs, units: np.ndarray, token_ids: np.ndarray, explainer: Explainer | None = None,
                seed: int = 0) -> np.ndarray:
    """Scores of the given units (a Python loop over the few sampled units; each one is vectorised)."""
    return np.array([score_unit(ua, int(i), token_ids, explainer, seed)[0] for i in units])


def pick_units(ua: UnitActs, n: int, min_count: int = 20, seed: int = 0) -> np.ndarray:
    """n random units that fire on at least `min_count` held-out rows (fewer if not enough do)."""
    ok = np.flatnonzero(ua.counts >= min_count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ok, size=min(n, len(ok)), replace=False))


def describe(explanation: dict[int, float], token_strings: list[str], k: int = 6) -> str:
    """A readable explanation: the k tokens with the highest predicted activation."""
    top = sorted(explanation.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{token_strings[t]!r} {v:.2f}" for t, v in top) or "(never fires)"
