"""Figures and twin mini-dashboards for notebook 05 (universality): static matplotlib and escaped HTML."""
from __future__ import annotations

import html

import matplotlib.pyplot as plt
import numpy as np


def plot_max_corr_hist(values: dict[str, np.ndarray], ax=None, bins: int = 40):
    """Overlaid histograms (as shares, since the groups differ in size) of max correlations, medians dashed."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    edges = np.linspace(-0.05, 1.0, bins + 1)
    for (name, v), color in zip(values.items(), ("tab:blue", "tab:orange", "tab:grey", "tab:green")):
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=edges, weights=np.full(len(v), 1 / max(len(v), 1)), histtype="stepfilled", alpha=0.45,
                color=color, label=f"{name} (n={len(v):,}, median {np.median(v) if len(v) else np.nan:.2f})")
        if len(v):
            ax.axvline(np.median(v), color=color, linestyle="--")
    ax.set_xlabel("max activation correlation with any unit of model B")
    ax.set_ylabel("share of units of model A")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_act_vs_logit(act: np.ndarray, logit: np.ndarray, neuron_act: np.ndarray | None = None,
                      neuron_logit: np.ndarray | None = None, ax=None):
    """Scatter of matched pairs: activation correlation (x) vs logit-weight correlation (y), diagonal for reference."""
    ax = ax or plt.subplots(figsize=(5.5, 5))[1]
    ax.scatter(act, logit, s=4, alpha=0.35, color="tab:blue",
               label=f"features (median logit corr {np.nanmedian(logit):.2f})")
    if neuron_act is not None:
        ax.scatter(neuron_act, neuron_logit, s=8, alpha=0.6, color="tab:orange", marker="x",
                   label=f"neurons (median logit corr {np.nanmedian(neuron_logit):.2f})")
    ax.plot([-1, 1], [-1, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(-0.05, 1.0)
    ax.set_ylim(-1.0, 1.0)
    ax.set_xlabel("activation correlation with its twin in B")
    ax.set_ylabel("logit-weight correlation with its twin in B")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_twin_scatter(pairs: list[dict], max_points: int = 20_000, seed: int = 0):
    """One panel per pair: f_A vs f_B on each evaluation token, tokens of the category in colour.

    Each pair dict: {'title', 'f_a', 'f_b' (activations [n]), 'in_cat' (bool [n])}.
    """
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs), 3.2), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, p in zip(axes[0], pairs):
        fa, fb, cat = np.asarray(p["f_a"]), np.asarray(p["f_b"]), np.asarray(p["in_cat"], bool)
        shown = np.flatnonzero((fa > 0) | (fb > 0))           # tokens where neither fires sit at (0, 0)
        if len(shown) > max_points:
            shown = rng.choice(shown, max_points, replace=False)
        for mask, color, label in ((~cat[shown], "tab:grey", "other text"), (cat[shown], "tab:red", "category")):
            ax.scatter(fa[shown][mask], fb[shown][mask], s=5, alpha=0.5, color=color, label=label)
        ax.set_title(p["title"], fontsize=9)
        ax.set_xlabel("feature in A")
    axes[0][0].set_ylabel("twin in B")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _cell(strings: list[str], values: np.ndarray) -> str:
    rows = "".join(f"<div><code>{v:6.2f}</code> {_marked(s)}</div>" for s, v in zip(strings, values))
    return rows or "<i>never fires on the evaluation rows</i>"


def _marked(s: str) -> str:
    """Escape a context line from neurons.context_strings and bold its «activating token»."""
    left, sep, rest = s.partition("«")
    token, sep2, right = rest.rpartition("»") if sep else ("", "", "")
    if not (sep and sep2):
        return html.escape(s)
    return f"{html.escape(left)}<b style='background:#fd8'>{html.escape(token)}</b>{html.escape(right)}"


def twin_table_html(title: str, head_a: str, strings_a: list[str], values_a: np.ndarray,
                    head_b: str, strings_b: list[str], values_b: np.ndarray) -> str:
    """Two columns of top evaluation contexts, A's feature beside its twin in B; every token string escaped."""
    style = "style='vertical-align:top;text-align:left;font-size:85%;white-space:pre-wrap'"
    return (f"<h4>{html.escape(title)}</h4><table><tr><th {style}>{html.escape(head_a)}</th>"
            f"<th {style}>{html.escape(head_b)}</th></tr><tr><td {style}>{_cell(strings_a, values_a)}</td>"
            f"<td {style}>{_cell(strings_b, values_b)}</td></tr></table>")
