"""Neuron statistics and top-activating contexts: why the MLP's own basis is hard to read.

Notebook 02 uses these on the held-out slice of an activation store to show that a ReLU MLP is
already sparse (few neurons fire per token) yet its neurons are polysemantic: one neuron's top
activations come from unrelated kinds of text (the paper's motivation for dictionary learning).
Everything is vectorised over neurons; the only Python loops are over a handful of printed examples.
"""
from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer

from ..text.tokenizer import EOT

SHOWN = {"\n": "⏎", "\t": "⇥", "\r": "", EOT: "⟨EOT⟩"}   # so each context prints on one line


def neuron_density(acts: torch.Tensor, threshold: float = 0.0, chunk: int = 1 << 16) -> torch.Tensor:
    """Fraction of rows [n, d_mlp] on which each neuron is above `threshold` -> [d_mlp] float32."""
    if acts.dim() != 2 or len(acts) == 0:
        raise ValueError(f"acts must be a non-empty [rows, d_mlp] tensor, got shape {tuple(acts.shape)}")
    counts = sum((acts[i:i + chunk] > threshold).sum(0) for i in range(0, len(acts), chunk))
    return counts.float() / len(acts)


def active_per_token(acts: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """How many neurons are above `threshold` on each row -> [n] (the neuron basis's L0)."""
    return (acts > threshold).sum(1)


def top_activations(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each neuron's k largest activations and the rows they come from: values, rows, both [d_mlp, k]."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    values, rows = torch.topk(acts, min(k, len(acts)), dim=0)       # [k, d_mlp], sorted descending
    return values.T.contiguous(), rows.T.contiguous()


def category_counts(categories: np.ndarray, n_categories: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Per-row category histogram: categories [n, k] (ints) -> counts [n, n_categories]; `valid` masks entries."""
    onehot = np.asarray(categories)[..., None] == np.arange(n_categories)
    if valid is not None:
        onehot &= np.asarray(valid)[..., None]
    return onehot.sum(-2)


def category_entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of category counts [n, C]; 0 = one category, NaN = no counts at all.

    High entropy among a neuron's top activations means it fires strongly on many kinds of text.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / total
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(-1)
    return np.where(total[..., 0] > 0, h, np.nan)


def spans_categories(counts: np.ndarray, min_frac: float = 0.1, n: int = 2) -> np.ndarray:
    """Bool per row of category counts [units, C]: at least `n` categories each hold >= `min_frac` of the row.

    Applied to each neuron's top activations: a neuron for which this holds responds most strongly to
    several unrelated kinds of text (polysemantic by the corpus's coarse lens).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, counts / total, 0.0)
    return (frac >= min_frac).sum(-1) >= n


def random_entropy(categories: np.ndarray, n_categories: int, k: int, n_draws: int, seed: int = 0) -> np.ndarray:
    """Category entropy (bits) of k rows drawn at random, n_draws times -> [n_draws]: what a unit firing on
    random tokens would score, the reference for `category_entropy` of a neuron's top k activations."""
    categories = np.asarray(categories)
    rows = np.random.default_rng(seed).integers(0, len(categories), size=(n_draws, k))
    return category_entropy(category_counts(categories[rows], n_categories))


def topk_fvu(acts: torch.Tensor, k: int, chunk: int = 1 << 15) -> float:
    """Fraction of variance unexplained when each row [n, d_mlp] keeps only its k largest neurons (the rest
    zeroed): how well the neuron basis reconstructs at L0 <= k, the control for an SAE's FVU at equal L0."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    mean, err, tot = acts.float().mean(0), 0.0, 0.0
    for i in range(0, len(acts), chunk):
        x = acts[i:i + chunk].float()
        v, idx = x.topk(min(k, x.shape[1]), dim=1)
        err += (x - torch.zeros_like(x).scatter(1, idx, v)).pow(2).sum().item()
        tot += (x - mean).pow(2).sum().item()
    return err / max(tot, 1e-30)


def distinct_counts(ids: np.ndarray) -> np.ndarray:
    """Number of different values in each row of ids [n, k] (e.g. token ids among a neuron's top activations)."""
    ids = np.sort(np.asarray(ids), axis=-1)
    return 1 + (np.diff(ids, axis=-1) != 0).sum(-1)


def most_polysemantic(entropy: np.ndarray, n_tokens: np.ndarray, min_tokens: int, n: int = 3) -> np.ndarray:
    """The `n` units with the highest category entropy among those whose top activations span >= `min_tokens`
    different tokens (a one-token detector, e.g. a newline neuron, is not polysemantic); others follow, NaN last.
    """
    entropy = np.asarray(entropy, dtype=float)
    ok = np.isfinite(entropy)
    order = np.lexsort((-np.where(ok, entropy, 0.0), ~(np.asarray(n_tokens) >= min_tokens), ~ok))
    return order[:n]


def context_strings(tok: Tokenizer, tokens: np.ndarray, token_index: np.ndarray, ctx_pos: np.ndarray | None = None,
                    before: int = 12, after: int = 3) -> list[str]:
    """One line per token: up to `before` tokens the LM saw, «the token», then `after` tokens that follow.

    `ctx_pos` (the token's position in its window) caps the left context at what the model could see.
    """
    ti = np.asarray(token_index, dtype=np.int64)
    left = np.maximum(ti - (before if ctx_pos is None else np.minimum(before, np.asarray(ctx_pos))), 0)
    right = np.minimum(ti + 1 + after, len(tokens))
    pieces = [[tokens[a:b].tolist() for a, b in zip(lo, hi)] for lo, hi in ((left, ti), (ti, ti + 1), (ti + 1, right))]
    texts = [tok.decode_batch(p, skip_special_tokens=False) for p in pieces]
    return [f"{_shown(a)}«{_shown(m)}»{_shown(b)}" for a, m, b in zip(*texts)]


def _shown(text: str) -> str:
    for raw, shown in SHOWN.items():
        text = text.replace(raw, shown)
    return text


def format_top_contexts(neuron: int, values: np.ndarray, categories: np.ndarray, strings: list[str],
                        category_names: list[str], per_category: int = 3) -> str:
    """A neuron's top activations grouped by corpus category, most frequent category first, as text."""
    values, categories = np.asarray(values, dtype=float), np.asarray(categories)
    live = values > 0
    counts = category_counts(categories[None], len(category_names), live[None])[0]
    order = [c for c in np.argsort(-counts, kind="stable") if counts[c]]
    lines = [f"neuron {neuron}: top {int(live.sum())} activations — "
             + ", ".join(f"{category_names[c]} {counts[c]}" for c in order)]
    for c in order:
        lines.append(f"  {category_names[c]}:")
        for i in np.flatnonzero(live & (categories == c))[:per_category]:
            lines.append(f"    {values[i]:6.2f}  {strings[i]}")
    return "\n".join(lines)
