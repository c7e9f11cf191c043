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

from ..io import atomic_write_text
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


def _escape_vocab(token_strings: list[str]) -> list[str]:
    return [html.escape(_shown(s)) for s in token_strings]


def _context_acts(lm, sae, tokens: np.ndarray, info: dict, feats: np.ndarray, rows: np.ndarray, before: int,
                  after: int, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Token ids [k, before+1+after] around each row and feature feats[k]'s activation at every one of them,
    from the LM's own window of that row (one LM pass per example, batched)."""
    ids, _ = context_ids(tokens, info["token_index"][rows], info["ctx_pos"][rows], before, after)
    out = np.zeros(ids.shape, np.float32)
    for s in range(0, len(rows), batch):
        r = rows[s:s + batch]
        win, col = lm_windows(tokens, info["token_index"][r], info["ctx_pos"][r], lm.cfg.n_ctx, after)
        f = feature_on_windows(lm, sae, win, torch.as_tensor(feats[s:s + batch], dtype=torch.long)).numpy()
        out[s:s + len(r)] = _on_display(f, col, ids[s:s + len(r)], before)
    return ids, out


def nearest_by_decoder(sae, features: list[int], n: int = 5) -> dict[int, list[list]]:
    """For each feature, the `n` other features (of `features`) whose decoder directions are closest: [[j, cos]]."""
    W = sae.W_dec.detach().float()[torch.as_tensor(features, dtype=torch.long)]
    W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = {}
    for s in range(0, len(features), 1024):
        cos = W[s:s + 1024] @ W.T
        cos[torch.arange(len(cos)), torch.arange(s, s + len(cos))] = -2.0           # not itself
        val, idx = cos.topk(min(n, len(features) - 1), dim=1)
        for a in range(len(cos)):
            out[features[s + a]] = [[features[int(j)], round(float(v), 3)] for j, v in zip(idx[a], val[a])]
    return out


def export_browser(path: str | Path, features: list[int], ua: UnitActs, info: dict, tokens: np.ndarray,
                   logits: torch.Tensor, token_strings: list[str], category_names: list[str],
                   explanations: dict[int, str] | None = None, title: str = "feature browser",
                   lm=None, sae=None, scores: dict[int, float] | None = None,
                   n_top: int = 4, per_interval: int = 1, n_intervals: int = 3, before: int = 10,
                   after: int = 3) -> Path:
    """Write one self-contained HTML file (no server, no CDN) browsing `features`; returns its path.

    A sortable, filterable list (density, max activation, autointerp score, dominant category) opening on
    the best-explained feature; per feature: examples from the top and from `n_intervals` activation
    intervals with the feature's activation on every context token (given `lm` and `sae`; else only the
    harvested token's), the activation and logit-weight histograms, top / bottom logit tokens and the
    nearest features by decoder cosine (links). Every string is escaped.
    """
    scores = scores or {}
    built, pairs = [], []
    for i in features:
        d = build_dashboard(i, ua, info, tokens, logits, category_names, n_top=n_top, per_interval=0,
                            n_bins=30, before=before, after=after, n_logits=8)
        if d["hist"] is None:
            continue
        rows, vals = ua.of(i)
        picked = [("top activations", rows[:n_top], vals[:n_top])] + [
            (f"interval {lo:.2f}–{hi:.2f}", r, v) for lo, hi, r, v in
            interval_examples(ua, i, per_interval, n_intervals) if len(r)]
        built.append((i, d, picked))
        pairs += [(i, int(r), float(v)) for _, rs, vs in picked for r, v in zip(rs, vs)]
    feats_arr = np.array([p[0] for p in pairs], np.int64)
    rows_arr = np.array([p[1] for p in pairs], np.int64)
    if lm is not None and sae is not None and len(pairs):
        ids_all, acts_all = _context_acts(lm, sae, tokens, info, feats_arr, rows_arr, before, after)
    else:                                             # only the harvested token's activation is known
        ids_all, _ = context_ids(tokens, info["token_index"][rows_arr], info["ctx_pos"][rows_arr], before, after)
        acts_all = np.zeros(ids_all.shape, np.float32)
        acts_all[:, before] = [v for *_, v in pairs]
    near = nearest_by_decoder(sae, [i for i, _, _ in built]) if sae is not None else {}
    feats, k = [], 0
    for i, d, picked in built:
        counts = np.array(d["hist"]["counts"])
        groups = []
        for name, rs, _ in picked:
            exs = []
            for r in rs:
                keep = ids_all[k] >= 0
                exs.append([int(info["category"][r]), ids_all[k][keep].tolist(),
                            np.round(acts_all[k][keep], 2).tolist(), int(before - (~keep[:before]).sum())])
                k += 1
            groups.append([html.escape(name), exs])
        lc, le = d["logit_hist"]
        feats.append({"i": i, "density": d["density"], "max": round(d["max"], 3), "cat": int(counts.sum(0).argmax()),
                      "score": None if i not in scores else round(float(scores[i]), 3),
                      "hist": [[int(c.sum()), int(c.argmax())] for c in counts], "hmax": round(d["max"], 3),
                      "lhist": [int(c) for c in lc], "lrange": [round(float(le[0]), 3), round(float(le[-1]), 3)],
                      "groups": groups, "up": [[t, round(v, 3)] for t, v in d["logit_top"]],
                      "down": [[t, round(v, 3)] for t, v in d["logit_bottom"]], "near": near.get(i, []),
                      "expl": html.escape((explanations or {}).get(i, ""))})
    data = {"vocab": _escape_vocab(token_strings), "categories": [html.escape(c) for c in category_names],
            "colors": COLORS * (1 + len(category_names) // len(COLORS)), "features": feats,
            "per_token": lm is not None and sae is not None}
    blob = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}"
            f"</style></head><body><h1>{html.escape(title)}</h1><p>{len(feats):,} alive features. Click a column "
            "to sort, filter by category, density or text (Enter searches); hover a token for its activation.</p>"
            "<div id='bar'><input id='q' placeholder='feature index, token or explanation'> <button id='go'>search"
            "</button> <select id='cat'></select> min density <input id='dmin' size='6' value='0'> "
            "<button id='prev'>previous</button><button id='next'>next</button> <span id='pos'></span></div>"
            "<div id='wrap'><div id='list'></div><div id='view'></div></div>"
            f"<script type='application/json' id='data'>{blob}</script><script>{_JS}</script></body></html>")
    path = Path(path)
    atomic_write_text(path, page)
    return path


_CSS = ("body{font-family:sans-serif;margin:1em}#wrap{display:flex;gap:1em}#list{flex:0 0 34em;max-height:85vh;"
        "overflow:auto;font-size:12px}#view{flex:1}table{border-collapse:collapse}th{cursor:pointer;background:#eee;"
        "position:sticky;top:0}td,th{padding:1px 5px;text-align:right}td.e{text-align:left;max-width:14em;"
        "overflow:hidden;white-space:nowrap}tr.sel{background:#ffe7c2}tr:hover{background:#f4f4f4}"
        ".ex{font-family:monospace;white-space:pre;margin:1px 0}svg text{font-size:10px}a{cursor:pointer}")

_JS = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const V = D.vocab, C = D.categories, COL = D.colors, F = D.features;
const byIndex = new Map(F.map((f, k) => [f.i, k]));
let key = F.some(f => f.score !== null) ? 'score' : 'max', desc = true, order = [], pos = 0;
const $ = id => document.getElementById(id);
$('cat').innerHTML = '<option value="-1">all categories</option>' + C.map((c, k) => '<option value="' + k + '">' + c + '</option>').join('');
function val(f, k) { return k === 'cat' ? C[f.cat] : (f[k] === null ? -1 : f[k]); }
function filtered() { const q = $('q').value.trim(), ci = +$('cat').value, dmin = parseFloat($('dmin').value) || 0;
  let ks = F.map((f, k) => k).filter(k => F[k].density >= dmin && (ci < 0 || F[k].cat === ci));
  if (/^\d+$/.test(q)) ks = ks.filter(k => F[k].i === +q);
  else if (q) { const ql = q.toLowerCase(); ks = ks.filter(k => F[k].expl.toLowerCase().includes(ql) ||
    F[k].groups.some(g => g[1].some(ex => V[ex[1][ex[3]]].includes(q)))); }
  ks.sort((a, b) => { const x = val(F[a], key), y = val(F[b], key); return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1); });
  return ks; }
function table() { const cols = [['i', 'feature'], ['density', 'density'], ['max', 'max act'], ['score', 'autointerp'], ['cat', 'category']];
  let h = '<table><tr>' + cols.map(c => '<th data-k="' + c[0] + '">' + c[1] + (key === c[0] ? (desc ? ' ▼' : ' ▲') : '') + '</th>').join('') + '<th>explanation</th></tr>';
  order.slice(0, 2000).forEach((k, n) => { const f = F[k]; h += '<tr data-n="' + n + '"' + (n === pos ? ' class="sel"' : '') + '><td>' + f.i +
    '</td><td>' + f.density.toExponential(1) + '</td><td>' + f.max.toFixed(2) + '</td><td>' + (f.score === null ? '' : f.score.toFixed(2)) +
    '</td><td>' + C[f.cat] + '</td><td class="e">' + f.expl + '</td></tr>'; });
  $('list').innerHTML = h + '</table>' + (order.length > 2000 ? '<p>first 2,000 of ' + order.length + ' shown: filter to see others</p>' : '');
  $('list').querySelectorAll('th[data-k]').forEach(th => th.onclick = () => { const k = th.dataset.k; desc = key === k ? !desc : true; key = k; refresh(); });
  $('list').querySelectorAll('tr[data-n]').forEach(tr => tr.onclick = () => { pos = +tr.dataset.n; show(); table(); }); }
function span(t, a, m) { const al = m > 0 ? Math.min(Math.max(a / m, 0), 1) : 0;
  return '<span title="activation ' + a.toFixed(2) + '" style="background:rgba(255,120,0,' + al.toFixed(2) + ')">' + V[t] + '</span>'; }
function bars(counts, colors, lo, hi, xlabel, title) { const W = 380, H = 110, L = 34, B = 24, n = counts.length;
  const mx = Math.max(1, ...counts); let s = '<svg width="' + (W + L + 10) + '" height="' + (H + B + 16) + '"><text x="' + L + '" y="10">' + title + '</text>';
  counts.forEach((c, k) => { const y = c > 0 ? (H - 4) * Math.log1p(c) / Math.log1p(mx) : 0;
    s += '<rect x="' + (L + k * W / n) + '" y="' + (14 + H - y) + '" width="' + Math.max(W / n - 1, 1) + '" height="' + y + '" fill="' + colors[k] + '"><title>' + c + '</title></rect>'; });
  s += '<line x1="' + L + '" y1="' + (14 + H) + '" x2="' + (L + W) + '" y2="' + (14 + H) + '" stroke="#000"/><line x1="' + L + '" y1="14" x2="' + L + '" y2="' + (14 + H) + '" stroke="#000"/>';
  s += '<text x="' + L + '" y="' + (H + 27) + '">' + lo.toFixed(2) + '</text><text x="' + (L + W - 30) + '" y="' + (H + 27) + '">' + hi.toFixed(2) + '</text>';
  s += '<text x="' + (L + W / 2 - 30) + '" y="' + (H + 38) + '">' + xlabel + '</text><text x="2" y="20">' + mx + '</text><text x="2" y="' + (14 + H) + '">0</text>';
  s += '<text transform="rotate(-90)" x="' + (-14 - H / 2 - 25) + '" y="10">count (log)</text></svg>'; return s; }
function show() { if (!order.length) { $('view').textContent = 'no feature matches'; $('pos').textContent = '0 / 0'; return; }
  const f = F[order[pos]]; let h = '<h2>feature ' + f.i + '</h2><p>density ' + f.density.toExponential(2) + ', max activation ' + f.max.toFixed(2) +
    ', dominant category <b>' + C[f.cat] + '</b>' + (f.score === null ? '' : ', autointerp ' + f.score.toFixed(2)) + '<br>explanation: ' + (f.expl || '—') + '</p>';
  h += bars(f.hist.map(x => x[0]), f.hist.map(x => COL[x[1]]), 0, f.hmax, 'activation', 'activations (bar colour: its most common category)');
  h += bars(f.lhist, f.lhist.map(() => '#888'), f.lrange[0], f.lrange[1], 'logit weight', 'logit weights over the vocabulary');
  f.groups.forEach(g => { h += '<div><i>' + g[0] + '</i></div>'; g[1].forEach(ex => { const m = Math.max(f.max, 1e-9);
    h += '<div class="ex">[' + C[ex[0]] + '] ' + ex[1].map((t, j) => span(t, ex[2][j], m)).join('') + '</div>'; }); });
  if (!D.per_token) h += '<p>(only the harvested token of each example is highlighted)</p>';
  h += '<p>logit weights ↑ ' + f.up.map(u => '<code title="' + u[1] + '">' + V[u[0]] + '</code>').join(' ') + '<br>logit weights ↓ ' +
       f.down.map(u => '<code title="' + u[1] + '">' + V[u[0]] + '</code>').join(' ') + '</p>';
  if (f.near.length) h += '<p>nearest by decoder cosine: ' + f.near.map(nb => '<a data-i="' + nb[0] + '">#' + nb[0] + '</a> (' + nb[1].toFixed(2) + ')').join(', ') + '</p>';
  $('view').innerHTML = h; $('pos').textContent = (pos + 1) + ' / ' + order.length;
  $('view').querySelectorAll('a[data-i]').forEach(a => a.onclick = () => open_feature(+a.dataset.i)); }
function open_feature(i) { $('q').value = ''; $('cat').value = '-1'; $('dmin').value = '0'; order = filtered();
  pos = Math.max(0, order.indexOf(byIndex.get(i))); show(); table(); }
function refresh() { order = filtered(); pos = 0; show(); table(); }
function step(s) { if (order.length) { pos = (pos + s + order.length) % order.length; show(); table(); } }
$('go').onclick = refresh; $('q').addEventListener('keydown', e => { if (e.key === 'Enter') refresh(); });
$('cat').onchange = refresh; $('dmin').addEventListener('keydown', e => { if (e.key === 'Enter') refresh(); });
$('prev').onclick = () => step(-1); $('next').onclick = () => step(1);
refresh();
"""

