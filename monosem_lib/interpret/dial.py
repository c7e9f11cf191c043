"""The superposition dial: best feature vs best neuron on each category's proxy, against its token share.

The prediction (Toy Models of Superposition): where a category is common the LM can afford neurons of its
own, and the best single neuron tracks it; where it is rare it shares neurons with other rare categories
(superposition), and only a dictionary feature tracks it. Notebook 04 prints whether a run bears this out.
The scores come from `categories.best_units` (the paper's proxies on the evaluation tokens); a category with too
few tokens in its proxy's positive set carries a status instead of a number.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .categories import CategoryScore

PAPER_FOUR = ("arabic", "hebrew", "base64", "dna")
ProxyScore = CategoryScore           # the name the verdicts were written against


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
