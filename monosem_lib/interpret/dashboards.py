"""Feature dashboards (the paper's anatomy of a feature); the offline HTML browser of many is feature_browser.py.

A dashboard is a plain dict: activation histogram split by corpus category, examples from the top
and from each activation interval (context tokens, activations, optional ablation effect), logit-weight
histogram with top and bottom tokens. Every token string put into HTML goes through `html.escape`.
"""
from __future__ import annotations

import html

import numpy as np
import torch

from .feature_stats import (
    N_INTERVALS,
    UnitActs,
    ablation_effect,
    check_index,
    context_ids,
    feature_on_windows,
    interval_examples,
    lm_windows,
)

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]


def build_dashboard(i: int, ua: UnitActs, info: dict, tokens: np.ndarray, logits: torch.Tensor,
                    category_names: list[str], lm=None, sae=None, n_top: int = 6, per_interval: int = 2,
                    n_bins: int = 40, before: int = 12, after: int = 3, n_logits: int = 10) -> dict:
    """Everything one feature's dashboard shows; with `lm` and `sae`, per-token activations and ablation."""
    check_index(i, ua.n_units)
    rows, vals = ua.of(i)
    d = {"index": i, "n_rows": ua.n_rows, "count": len(rows), "density": len(rows) / max(ua.n_rows, 1),
         "max": float(vals[0]) if len(vals) else 0.0, "categories": list(category_names)}
    lw = logits[i].numpy()
    order = np.argsort(lw)
    d["logit_top"] = [(int(t), float(lw[t])) for t in order[::-1][:n_logits]]
    d["logit_bottom"] = [(int(t), float(lw[t])) for t in order[:n_logits]]
    d["logit_hist"] = [h.tolist() for h in np.histogram(lw, bins=n_bins)]
    if not len(rows):
        d["hist"], d["groups"] = None, []
        return d
    edges = np.linspace(0, d["max"], n_bins + 1)
    b = np.clip(np.searchsorted(edges, vals, side="right") - 1, 0, n_bins - 1)
    cats = info["category"][rows].astype(np.int64)
    d["hist"] = {"edges": edges.tolist(),
                 "counts": np.bincount(b * len(category_names) + cats,
                                       minlength=n_bins * len(category_names)).reshape(n_bins, -1).tolist()}
    groups = [("top activations", rows[:n_top], vals[:n_top])]
    groups += [(f"interval {lo:.2f}–{hi:.2f}", r, v) for lo, hi, r, v in
               interval_examples(ua, i, per_interval, N_INTERVALS) if len(r)]
    d["groups"] = []
    for name, r, v in groups:
        ids, _ = context_ids(tokens, info["token_index"][r], info["ctx_pos"][r], before, after)
        acts = np.zeros(ids.shape, np.float32)
        acts[:, before] = v
        abl = None
        if lm is not None and sae is not None:
            acts, abl = _recompute(lm, sae, i, tokens, info, r, ids, before, after)
        d["groups"].append({"name": name, "ids": ids.tolist(), "acts": np.round(acts, 3).tolist(),
                            "ablation": None if abl is None else np.round(abl, 3).tolist(),
                            "category": [category_names[c] for c in info["category"][r]]})
    return d


def _recompute(lm, sae, i: int, tokens: np.ndarray, info: dict, r: np.ndarray, ids: np.ndarray, before: int,
               after: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token activation of feature i and the ablation effect on log P(token), on the LM's own windows."""
    win, col = lm_windows(tokens, info["token_index"][r], info["ctx_pos"][r], lm.cfg.n_ctx, after)
    f = feature_on_windows(lm, sae, win, torch.full((len(r),), i)).numpy()
    delta = ablation_effect(lm, sae, win, i).numpy()             # [B, T-1]: effect on predicting token t+1
    return _on_display(f, col, ids, before), _on_display(delta, col, ids, before, lag=1)


def _on_display(values: np.ndarray, col: np.ndarray, ids: np.ndarray, before: int, lag: int = 0) -> np.ndarray:
    """Window-indexed values [B, T] put on the display grid of `ids` [B, before+1+after] (0 where the display
    has padding or the window has no such position); value t - lag is shown at window position t."""
    out = np.zeros(ids.shape, np.float32)
    k = np.arange(len(ids))
    for j in range(ids.shape[1]):
        t = np.asarray(col) + j - before
        ok = (ids[:, j] >= 0) & (t >= lag) & (t - lag < values.shape[1])
        out[k[ok], j] = values[k[ok], t[ok] - lag]
    return out


def _span(text: str, a: float, vmax: float, title: str = "") -> str:
    alpha = 0.0 if vmax <= 0 else min(max(a / vmax, 0.0), 1.0)
    style = f"background:rgba(255,120,0,{alpha:.2f})" if alpha > 0 else ""
    return f'<span style="{style}" title="{html.escape(title)}">{html.escape(text)}</span>'


def _shown(s: str) -> str:
    return s.replace("\n", "⏎").replace("\t", "⇥")


def dashboard_html(d: dict, token_strings: list[str]) -> str:
    """The examples and logit tokens of a dashboard as HTML (tokens highlighted by activation, escaped)."""
    if d["count"] == 0:
        return (f"<p><b>feature {d['index']}</b> never fired on the {d['n_rows']:,} held-out tokens "
                f"(a dead feature): no examples to show.</p>")
    out = [f"<p><b>feature {d['index']}</b>: density {d['density']:.2e}, max activation {d['max']:.2f}</p>"]
    for g in d["groups"]:
        out.append(f"<div><i>{html.escape(g['name'])}</i></div>")
        for k, ids in enumerate(g["ids"]):
            spans = "".join(_span(_shown(token_strings[t]), a, d["max"],
                                  f"act {a:.2f}" + (f", ablation Δlogp {g['ablation'][k][j]:+.3f}"
                                                    if g["ablation"] else ""))
                            for j, (t, a) in enumerate(zip(ids, g["acts"][k])) if t >= 0)
            out.append(f'<div style="font-family:monospace;white-space:pre">[{html.escape(g["category"][k])}] '
                       f'{spans}</div>')
    tops = ", ".join(html.escape(repr(token_strings[t])) for t, _ in d["logit_top"])
    bots = ", ".join(html.escape(repr(token_strings[t])) for t, _ in d["logit_bottom"])
    out.append(f"<p>logit weights ↑ {tops}<br>logit weights ↓ {bots}</p>")
    return "\n".join(out)


def plot_dashboard(d: dict, token_strings: list[str]):
    """Activation histogram (stacked by corpus category), logit-weight histogram, ablation effect."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3))
    ax = axes[0]
    if d["hist"] is None:
        ax.text(0.5, 0.5, f"feature {d['index']} never fires\non {d['n_rows']:,} held-out tokens",
                ha="center", va="center")
    else:
        edges, counts = np.array(d["hist"]["edges"]), np.array(d["hist"]["counts"])
        bottom = np.zeros(len(counts))
        for c, name in enumerate(d["categories"]):
            if counts[:, c].any():
                ax.bar(edges[:-1], counts[:, c], width=np.diff(edges), bottom=bottom, align="edge",
                       color=COLORS[c % len(COLORS)], label=name)
                bottom += counts[:, c]
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set(title=f"feature {d['index']}: activations (density {d['density']:.1e})", xlabel="activation")
    cnt, e = d["logit_hist"]
    axes[1].bar(e[:-1], cnt, width=np.diff(e), align="edge", color="0.5")
    axes[1].set(title="logit weights (median 0)", xlabel="logit weight", yscale="log")
    tops = " ".join(repr(token_strings[t]) for t, _ in d["logit_top"][:5])
    axes[1].text(0.02, 0.95, f"↑ {tops}", transform=axes[1].transAxes, fontsize=7, va="top")
    abl = [np.array(g["ablation"])[np.array(g["ids"]) >= 0] for g in d.get("groups", []) if g["ablation"]]
    if abl:
        axes[2].hist(np.concatenate(abl), bins=30, color="C3")
    axes[2].set(title="ablation: Δ log P(token), shown examples", xlabel="Δ log-likelihood")
    fig.tight_layout()
    return fig
