"""Automated interpretability, offline: explain a unit from examples, simulate it, score with Spearman.

The paper had Claude write a short explanation from 49 examples (top and random) and then predict the
activations on 540 held-out tokens: the contexts of top examples, of examples from every activation
interval, and of random text; the score is the Spearman correlation of predicted and true activations.
Here an example is the context around a held-out row (the rows within ±`half` tokens of it in the same LM
window), so a unit that also fires on unrelated tokens nearby is caught out, as in the paper.

The default explainer needs no API. Like a person writing one line, it picks the best-fitting of three
*concise* hypotheses on the explanation examples: "these k tokens", "text of category C", or "these k
tokens in category C"; the simulator predicts from that hypothesis alone. A unit that a short
explanation cannot cover (a polysemantic one) scores low. Explanation and scoring examples come from
disjoint contexts (even / odd LM windows). Any object with the `Explainer` methods can replace it (e.g.
one that calls an LLM); `TokenSetExplainer` is the unbounded variant (every token seen), for comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.stats import spearmanr

from .feature_stats import N_INTERVALS, UnitActs, interval_of


@dataclass
class HeldoutText:
    """What an explainer may read about each held-out row: its token, its document's category, its context."""
    token_id: np.ndarray       # [n] int64
    category: np.ndarray       # [n] int64 index into category_names
    window: np.ndarray         # [n] int64 id of the LM window (context) the row was taken from
    token_index: np.ndarray    # [n] int64 position in the token stream (orders rows within a window)
    category_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._order = np.lexsort((self.token_index, self.window))      # rows by (window, position)
        self._pos = np.empty_like(self._order)
        self._pos[self._order] = np.arange(len(self._order))
        self._rank = np.unique(self.window, return_inverse=True)[1].reshape(-1)   # windows numbered 0, 1, 2, ...

    @classmethod
    def from_row_info(cls, info: dict, category_names: list[str] | None = None) -> "HeldoutText":
        """From an activation store's `row_info("heldout")`."""
        ti = np.asarray(info["token_index"], np.int64)
        return cls(np.asarray(info["token_id"], np.int64), np.asarray(info["category"], np.int64),
                   ti - np.asarray(info["ctx_pos"], np.int64), ti, list(category_names or []))

    @classmethod
    def from_tokens(cls, token_ids: np.ndarray, window: int = 32) -> "HeldoutText":
        """Rows that are consecutive tokens, cut into contexts of `window` (one category): for tests and toys."""
        n = len(token_ids)
        return cls(np.asarray(token_ids, np.int64), np.zeros(n, np.int64), np.arange(n) // window, np.arange(n))

    def __len__(self) -> int:
        return len(self.token_id)

    def even_contexts(self) -> np.ndarray:
        """[n] bool: rows of every other window (explanation half); the rest are for scoring."""
        return self._rank % 2 == 0

    def context_rows(self, rows: np.ndarray, half: int) -> np.ndarray:
        """Sorted union of the rows within ±half tokens of each given row, in the same window."""
        if half <= 0 or not len(rows):
            return np.unique(rows)
        p = self._pos[rows][:, None] + np.arange(-half, half + 1)[None]          # candidate neighbours
        cand = self._order[np.clip(p, 0, len(self._order) - 1)]
        ok = (self.window[cand] == self.window[rows][:, None]) & \
             (np.abs(self.token_index[cand] - self.token_index[rows][:, None]) <= half)
        return np.unique(cand[ok])


@dataclass
class Explanation:
    """A concise hypothesis: predicted value per token (None: any token), optionally only in one category."""
    tokens: dict[int, float] | None
    category: int | None = None
    value: float = 0.0          # the prediction for 'any token' (category-only hypothesis)

    @property
    def kind(self) -> str:
        """'tokens', 'category' or 'tokens in category'."""
        return "category" if self.tokens is None else "tokens" if self.category is None else "tokens in category"

    def predict(self, text: HeldoutText, rows: np.ndarray) -> np.ndarray:
        if self.tokens is None:
            pred = np.full(len(rows), self.value)
        else:
            pred = np.array([self.tokens.get(int(t), 0.0) for t in text.token_id[rows]], np.float64)
        if self.category is not None:
            pred = pred * (text.category[rows] == self.category)
        return pred

    def describe(self, token_strings: list[str], category_names: list[str] | None = None, k: int = 4) -> str:
        """One line, as a person would write it."""
        where = ""
        if self.category is not None:
            where = f"in {category_names[self.category] if category_names else f'category {self.category}'} text"
        if self.tokens is None:
            return f"any token {where}".strip() if where else "(never fires)"
        top = sorted(self.tokens.items(), key=lambda kv: -kv[1])[:k]
        toks = ", ".join(repr(token_strings[t]) for t, _ in top)
        return f"{toks} {where}".strip() if top else "(never fires)"


class Explainer(Protocol):
    """Pluggable explainer/simulator: explain from example rows and their activations, then predict new rows."""

    def explain(self, text: HeldoutText, rows: np.ndarray, acts: np.ndarray) -> Explanation: ...

    def simulate(self, explanation: Explanation, text: HeldoutText, rows: np.ndarray) -> np.ndarray: ...


def _token_means(token_ids: np.ndarray, acts: np.ndarray, k: int | None, min_mean: float) -> dict[int, float]:
    """{token: mean activation} of the k tokens carrying the most activation mass (all tokens: k=None),
    leaving out tokens whose mean (normalised) activation is below min_mean: nobody writes those down."""
    ids, inv = np.unique(token_ids, return_inverse=True)
    mass = np.bincount(inv, weights=acts, minlength=len(ids))
    mean = mass / np.bincount(inv, minlength=len(ids))
    keep = [j for j in np.argsort(-mass, kind="stable") if mean[j] >= min_mean and mass[j] > 0]
    return {int(ids[j]): float(mean[j]) for j in (keep[:k] if k else keep)}


def _spearman(pred: np.ndarray, acts: np.ndarray, constant: float) -> float:
    """Spearman correlation, or `constant` when either side is constant (nothing to rank)."""
    return float(spearmanr(pred, acts).statistic) if np.ptp(pred) > 0 and np.ptp(acts) > 0 else constant


@dataclass
class ConciseExplainer:
    """Best of: 'these k tokens', 'category C text', 'these k tokens in category C' (fit on the examples)."""
    k: int = 5                  # tokens an explanation may name (a one-line explanation names a handful)
    categories: bool = True
    min_mean: float = 0.02      # ignore tokens whose mean activation is below this share of the max

    def explain(self, text: HeldoutText, rows: np.ndarray, acts: np.ndarray) -> Explanation:
        vmax = float(acts.max()) if len(acts) else 0.0
        if vmax <= 0:
            return Explanation(tokens={})
        a, tok, cat = acts / vmax, text.token_id[rows], text.category[rows]
        hyps = [Explanation(_token_means(tok, a, self.k, self.min_mean))]
        if self.categories:
            for c in np.unique(cat[a > 0]):
                m = cat == c
                hyps += [Explanation(None, int(c), float(a[m].mean())),
                         Explanation(_token_means(tok[m], a[m], self.k, self.min_mean), int(c))]
        fits = [_spearman(h.predict(text, rows), a, -1.0) for h in hyps]   # a constant line fits worst
        return hyps[int(np.argmax(fits))]

    def simulate(self, explanation: Explanation, text: HeldoutText, rows: np.ndarray) -> np.ndarray:
        return explanation.predict(text, rows)


@dataclass
class TokenSetExplainer(ConciseExplainer):
    """The unbounded variant: every token seen active, each with its mean activation (no length limit)."""
    k: int = 0
    categories: bool = False


def sample_rows(rows: np.ndarray, vals: np.ndarray, allowed: np.ndarray, rng: np.random.Generator,
                n_top: int = 10, per_interval: int = 2, n_random: int = 10) -> np.ndarray:
    """Centre rows drawn as the paper does: the top activations, a few from each interval, and random rows.
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


def _as_text(text: HeldoutText | np.ndarray) -> HeldoutText:
    return text if isinstance(text, HeldoutText) else HeldoutText.from_tokens(text)


def score_unit(ua: UnitActs, i: int, text: HeldoutText | np.ndarray, explainer: Explainer | None = None,
               seed: int = 0, half: int = 13, n_explain_top: int = 20) -> tuple[float, Explanation]:
    """(Spearman score, explanation) of unit i: explain on even contexts, simulate and score on odd ones.

    Each drawn row brings its context (±half tokens): ~40 contexts of ~13 held-out rows, ~540 tokens.
    """
    text, explainer = _as_text(text), explainer or ConciseExplainer()
    ex, sc = example_rows(ua, i, text, seed, half, n_explain_top)
    act = ua.dense(i)
    explanation = explainer.explain(text, ex, act[ex])
    return _spearman(explainer.simulate(explanation, text, sc), act[sc], 0.0), explanation


def example_rows(ua: UnitActs, i: int, text: HeldoutText | np.ndarray, seed: int = 0, half: int = 13,
                 n_explain_top: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(explanation rows, scoring rows) of unit i as `score_unit` draws them: even vs odd contexts, ±half tokens."""
    text = _as_text(text)
    if len(text) != ua.n_rows:
        raise ValueError(f"the text describes {len(text):,} rows but the unit table has {ua.n_rows:,}")
    rng = np.random.default_rng([seed, i])
    rows, vals = ua.of(i)
    even = text.even_contexts()
    ex = text.context_rows(sample_rows(rows, vals, even, rng, n_top=n_explain_top), half)
    return ex, text.context_rows(sample_rows(rows, vals, ~even, rng), half)


def score_units(ua: UnitActs, units: np.ndarray, text: HeldoutText | np.ndarray, explainer: Explainer | None = None,
                seed: int = 0) -> np.ndarray:
    """Scores of the given units (a Python loop over the few sampled units; each one is vectorised)."""
    text = _as_text(text)
    return np.array([score_unit(ua, int(i), text, explainer, seed)[0] for i in units])


def pick_units(ua: UnitActs, n: int, min_count: int = 20, seed: int = 0) -> np.ndarray:
    """n random units that fire on at least `min_count` held-out rows (fewer if not enough do)."""
    ok = np.flatnonzero(ua.counts >= min_count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ok, size=min(n, len(ok)), replace=False))
