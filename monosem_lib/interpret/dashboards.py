"""Feature dashboards (the paper's anatomy of a feature) and the static, offline HTML feature browser.

A dashboard is a plain dict: activation histogram split by corpus category, examples from the top
and from each activation interval (context tokens, activations, optional ablation effect), logit-weight
histogram with top and bottom tokens. Every token string put into HTML goes through `html.escape`.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write
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
    acts = np.zeros(ids.shape, np.float32)
    abl = np.zeros(ids.shape, np.float32)
    for k in range(len(r)):                                      # a few examples: align window -> display
        for j in range(ids.shape[1]):
            t = col[k] + j - before
            if ids[k, j] >= 0 and 0 <= t < win.shape[1]:
                acts[k, j] = f[k, t]
                abl[k, j] = delta[k, t - 1] if t >= 1 else 0.0
    return acts, abl


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


_JS = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const V = D.vocab, C = D.categories, COL = D.colors;
let order = D.features.map((f, k) => k), pos = 0;
function span(t, a, m) { const al = m > 0 ? Math.min(Math.max(a / m, 0), 1) : 0;
  return '<span title="act ' + a.toFixed(2) + '" style="background:rgba(255,120,0,' + al.toFixed(2) + ')">' + V[t] + '</span>'; }
function hist(f) { if (!f.hist) return ''; let s = '<svg width="420" height="90">', n = f.hist.length;
  const mx = Math.max(...f.hist.map(h => h[0])); f.hist.forEach((h, k) => { const y = 80 * Math.log1p(h[0]) / Math.log1p(mx);
  s += '<rect x="' + (k * 420 / n) + '" y="' + (85 - y) + '" width="' + (420 / n - 1) + '" height="' + y + '" fill="' + COL[h[1]] + '"/>'; });
  return s + '</svg>'; }
function show() { const f = D.features[order[pos]]; let h = '<h2>feature ' + f.i + '</h2><p>density ' + f.density.toExponential(2) +
  ', max activation ' + f.max.toFixed(2) + ', dominant category <b>' + C[f.cat] + '</b>, explanation: ' + f.expl + '</p>' + hist(f);
  h += '<p>bars: activation histogram (log counts), coloured by the dominant corpus category of each bin</p>';
  f.groups.forEach(g => { h += '<div><i>' + g[0] + '</i></div>'; g[1].forEach(ex => {
    h += '<div class="ex">[' + C[ex[0]] + '] ' + ex[1].map((t, j) => span(t, j == ex[2] ? ex[3] : 0, f.max)).join('') + '</div>'; }); });
  h += '<p>logit weights ↑ ' + f.up.map(t => '<code>' + V[t] + '</code>').join(' ') + '<br>logit weights ↓ ' +
       f.down.map(t => '<code>' + V[t] + '</code>').join(' ') + '</p>';
  document.getElementById('view').innerHTML = h; document.getElementById('pos').textContent = (pos + 1) + ' / ' + order.length; }
function search() { const q = document.getElementById('q').value.trim(); pos = 0;
  if (!q) order = D.features.map((f, k) => k);
  else if (/^\d+$/.test(q)) order = D.features.map((f, k) => k).filter(k => D.features[k].i == +q);
  else { const ci = C.indexOf(q.toLowerCase()); order = D.features.map((f, k) => k).filter(k => ci >= 0 ? D.features[k].cat == ci :
         D.features[k].groups.some(g => g[1].some(ex => V[ex[1][ex[2]]].includes(q)))); }
  if (!order.length) { document.getElementById('view').textContent = 'no feature matches'; document.getElementById('pos').textContent = '0 / 0'; } else show(); }
function step(s) { if (order.length) { pos = (pos + s + order.length) % order.length; show(); } }
show();
"""


def _escape_vocab(token_strings: list[str]) -> list[str]:
    return [html.escape(_shown(s)) for s in token_strings]


def export_browser(path: str | Path, features: list[int], ua: UnitActs, info: dict, tokens: np.ndarray,
                   logits: torch.Tensor, token_strings: list[str], category_names: list[str],
                   explanations: dict[int, str] | None = None, title: str = "feature browser",
                   n_top: int = 4, per_interval: int = 1, before: int = 10, after: int = 2) -> Path:
    """Write one self-contained HTML file (no server, no CDN) browsing `features`; returns its path.

    Only the token each example was harvested at is highlighted (its exact activation): per-token
    activations over whole contexts would need an LM pass per example (the notebook's dashboards do that).
    """
    feats = []
    for i in features:
        d = build_dashboard(i, ua, info, tokens, logits, category_names, n_top=n_top, per_interval=per_interval,
                            n_bins=30, before=before, after=after, n_logits=8)
        if d["hist"] is None:
            continue
        counts = np.array(d["hist"]["counts"])
        hist = [[int(c.sum()), int(c.argmax())] for c in counts]
        groups = [[html.escape(g["name"]), [[category_names.index(c), [t for t in ids if t >= 0],
                                              before - sum(1 for t in ids[:before] if t < 0),
                                              round(float(acts[before]), 3)]
                                             for ids, acts, c in zip(g["ids"], g["acts"], g["category"])]]
                  for g in d["groups"]]
        feats.append({"i": i, "density": d["density"], "max": round(d["max"], 3), "cat": int(counts.sum(0).argmax()),
                      "hist": hist, "groups": groups, "up": [t for t, _ in d["logit_top"]],
                      "down": [t for t, _ in d["logit_bottom"]],
                      "expl": html.escape((explanations or {}).get(i, ""))})
    data = {"vocab": _escape_vocab(token_strings), "categories": [html.escape(c) for c in category_names],
            "colors": COLORS * (1 + len(category_names) // len(COLORS)), "features": feats}
    blob = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:1em}.ex{font-family:monospace;white-space:pre;margin:1px 0}"
            f"</style></head><body><h1>{html.escape(title)}</h1><p>{len(feats):,} alive features. Search by "
            "feature index, a category name or a token; highlighted: the example's harvested token.</p>"
            "<input id='q' placeholder='index, category or token'><button onclick='search()'>search</button> "
            "<button onclick='step(-1)'>previous</button><button onclick='step(1)'>next</button> <span id='pos'></span>"
            f"<div id='view'></div><script type='application/json' id='data'>{blob}</script>"
            f"<script>{_JS}</script></body></html>")
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path
