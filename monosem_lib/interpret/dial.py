"""The superposition dial: best feature vs best neuron on each category's proxy, against its token share.

The prediction (Toy Models of Superposition): where a category is common the LM can afford neurons of its
own, and the best single neuron tracks it; where it is rare it shares neurons with others (superposition),
and only a dictionary feature tracks it. Notebook 04 prints whether a run bears this out.
Every figure carries the number of held-out tokens it rests on; below `MIN_TOKENS` it is not a number.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from tokenizers import Tokenizer

from ..text.splits import TokenSplit
from . import proxies
from .feature_stats import UnitActs, corr_with

MIN_TOKENS = 500                     # fewer held-out tokens of a category: no correlation is reported
TOO_FEW = "too few tokens"
MISSING = "missing: no validation tokens"
PAPER_FOUR = ("arabic", "hebrew", "base64", "dna")
BINARY_PROXY = ("dna",)              # as the paper: DNA's proxy is the binarised detector


@dataclass
class ProxyScore:
    category: str
    n_tokens: int                    # held-out tokens of the category (detector, or document label)
    status: str = "ok"               # "ok", TOO_FEW or MISSING
    feature: int = -1
    feature_corr: float = float("nan")
    neuron: int = -1
    neuron_corr: float = float("nan")


def row_masks(val: TokenSplit, tok: Tokenizer, token_index: np.ndarray, categories: list[str]) -> dict[str, np.ndarray]:
    """Per category, a bool per held-out row: is its token of the category (detector, else document label)?"""
    present = [c for c in categories if c in val.category_names]
    return {c: proxies.category_mask(c, val, tok)[token_index] for c in present}


def score_proxies(features: UnitActs, neurons: UnitActs | None, val: TokenSplit, tok: Tokenizer, token_index: np.ndarray,
                  token_id: np.ndarray, llr: dict[str, np.ndarray], categories: list[str] | None = None,
                  min_tokens: int = MIN_TOKENS, masks: dict[str, np.ndarray] | None = None) -> dict[str, ProxyScore]:
    """Best feature and best neuron per category by Pearson correlation with its proxy on held-out rows.

    `masks` (from `row_masks`) saves re-running the detectors when several SAEs are scored on the same rows;
    `neurons=None` scores the features only (the neurons' figures are then NaN).
    """
    out = {}
    for c in categories or list(llr):
        if c not in val.category_names or not (val.doc_category == val.category_names.index(c)).any():
            warnings.warn(f"category {c!r} has no validation tokens: its proxy figures are marked missing", stacklevel=2)
            out[c] = ProxyScore(c, 0, MISSING)
            continue
        is_c = masks[c] if masks is not None else proxies.category_mask(c, val, tok)[token_index]
        n = int(is_c.sum())
        if n < min_tokens:
            out[c] = ProxyScore(c, n, TOO_FEW)
            continue
        proxy = is_c.astype(np.float32) if c in BINARY_PROXY else llr[c][token_id].astype(np.float32)
        rf = corr_with(features, proxy)
        fi = int(np.nanargmax(rf))
        if neurons is None:
            out[c] = ProxyScore(c, n, "ok", fi, float(rf[fi]))
            continue
        rn = corr_with(neurons, proxy)
        ni = int(np.nanargmax(rn))
        out[c] = ProxyScore(c, n, "ok", fi, float(rf[fi]), ni, float(rn[ni]))
    return out


def scorecard_entries(scores: dict[str, ProxyScore], prefix: str = "interp.proxy") -> dict:
    """`<prefix>.<c>.{feature_corr,neuron_corr,n_tokens,status}`.

    A category that is not scored keeps its token count and a `status` ("too few tokens", "missing: ...")
    and has no correlation keys at all, so no reader can mistake it for a measured 0.
    """
    out = {}
    for c, s in scores.items():
        out[f"{prefix}.{c}.n_tokens"] = s.n_tokens
        out[f"{prefix}.{c}.status"] = s.status
        if s.status == "ok":
            out[f"{prefix}.{c}.feature_corr"] = round(s.feature_corr, 3)
            if np.isfinite(s.neuron_corr):
                out[f"{prefix}.{c}.neuron_corr"] = round(s.neuron_corr, 3)
    return out


def format_table(scores: dict[str, ProxyScore], shares: dict[str, float]) -> str:
    """One line per category, rarest first: share, held-out tokens, best feature vs best neuron."""
    lines = [f"{'category':11s} {'share':>7s} {'tokens':>7s}  {'feature':>13s}  {'neuron':>12s}  winner"]
    for c in sorted(scores, key=lambda c: shares.get(c, 0.0)):
        s = scores[c]
        head = f"{c:11s} {100 * shares.get(c, 0.0):6.2f}% {s.n_tokens:7,d}"
        if s.status != "ok":
            lines.append(f"{head}  {s.status}")
            continue
        win = "feature" if s.feature_corr > s.neuron_corr else "neuron"
        lines.append(f"{head}  #{s.feature:<5d} {s.feature_corr:5.2f}  #{s.neuron:<4d} {s.neuron_corr:5.2f}  {win}")
    return "\n".join(lines)


def plot_dial(scores: dict[str, ProxyScore], shares: dict[str, float], ax=None):
    """Best-feature and best-neuron proxy correlation against token share (log x), one pair per category."""
    ok = [c for c, s in scores.items() if s.status == "ok" and shares.get(c, 0) > 0]
    ax = ax or plt.subplots(figsize=(7.5, 4.2))[1]
    x = np.array([shares[c] for c in ok])
    f = np.array([scores[c].feature_corr for c in ok])
    n = np.array([scores[c].neuron_corr for c in ok])
    ax.vlines(x, np.minimum(f, n), np.maximum(f, n), color="0.8", zorder=1)
    ax.scatter(x, f, color="C0", label="best feature", zorder=2)
    ax.scatter(x, n, color="C3", marker="s", label="best neuron", zorder=2)
    for c, xi, yi in zip(ok, x, np.maximum(f, n)):
        ax.annotate(c, (xi, yi), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7,
                    fontweight="bold" if c in PAPER_FOUR else "normal")
    ax.set_xscale("log")
    ax.set(xlabel="category's share of training tokens (log)", ylabel="proxy correlation on held-out tokens",
           title="The superposition dial: rare categories need a feature, common ones get a neuron")
    ax.legend(fontsize=8, loc="lower right")
    return ax
