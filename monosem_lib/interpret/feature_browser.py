"""The static, offline HTML feature browser: one self-contained file (no server, no CDN) for many features.

The page carries its data as one JSON object (`<script type="application/json" id="data">`) whose parts have
names, and its script (browser.js, beside this module) reads them by name:

    {"vocab": [token string, ...], "categories": [name, ...], "colors": [css colour, ...], "per_token": bool,
     "features": [{"index", "density", "max_act", "top_category", "score", "explanation",
                   "act_hist": {"counts", "top_category", "max"}, "logit_hist": {"counts", "lo", "hi"},
                   "logits_up": {"tokens", "weights"}, "logits_down": {...}, "nearest": {"features", "cos"},
                   "groups": [{"name", "category", "tokens", "acts", "center"}]}, ...]}

Lists of like things are columns of a named object (a group's examples: `category[e]`, `tokens[e]`, `acts[e]`,
`center[e]`), which keeps a 4,096-feature page near the size of a positional encoding.

Every string that reaches the page is escaped (the corpus contains HTML and script tags).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write
from .dashboards import COLORS, _on_display, _shown, build_dashboard
from .feature_stats import UnitActs, context_ids, feature_on_windows, interval_examples, lm_windows


@dataclass
class TokenView:
    """The evaluation tokens as the browser reads them: per-row info (token_index, ctx_pos, category), the flat
    token ids, each token id's string, and the category names."""
    info: dict
    tokens: np.ndarray
    strings: list[str]
    categories: list[str]


@dataclass
class BrowserOptions:
    """What the page shows: its title, the autointerp explanations and scores, and how many examples of each kind."""
    title: str = "feature browser"
    explanations: dict[int, str] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    n_top: int = 4                 # examples from the top activations
    per_interval: int = 1          # examples from each of n_intervals activation intervals
    n_intervals: int = 3
    before: int = 10               # context tokens before and after the example's token
    after: int = 3


def export_browser(path: str | Path, features: list[int], ua: UnitActs, view: TokenView, logits: torch.Tensor,
                   lm=None, sae=None, options: BrowserOptions | None = None) -> Path:
    """Write one self-contained HTML file browsing `features`; returns its path.

    A sortable, filterable list (density, max activation, autointerp score, dominant category) opening on
    the best-explained feature; per feature: examples from the top and from activation intervals with the
    feature's activation on every context token (given `lm` and `sae`; else only the harvested token's), the
    activation and logit-weight histograms, top / bottom logit tokens and the nearest features by decoder cosine.
    """
    opts = options or BrowserOptions()
    built = [b for i in features if (b := _dashboard(i, ua, view, logits, opts)) is not None]
    ids, acts = _examples(built, view, lm, sae, opts)
    near = nearest_by_decoder(sae, [i for i, _, _ in built]) if sae is not None else {}
    feats, k = [], 0
    for i, d, picked in built:
        n = sum(len(rows) for _, rows, _ in picked)
        feats.append(_feature_json(i, d, picked, view, ids[k:k + n], acts[k:k + n], near.get(i, []), opts))
        k += n
    data = {"vocab": [html.escape(_shown(s)) for s in view.strings], "categories": [html.escape(c) for c in view.categories],
            "colors": COLORS * (1 + len(view.categories) // len(COLORS)), "features": feats,
            "per_token": lm is not None and sae is not None}
    path = Path(path)
    page = _page(data, opts.title, len(feats))
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


def _dashboard(i: int, ua: UnitActs, view: TokenView, logits: torch.Tensor, opts: BrowserOptions):
    """(i, dashboard, [(group name, rows, values)]) of one alive feature, or None for a dead one."""
    d = build_dashboard(i, ua, view.info, view.tokens, logits, view.categories, n_top=opts.n_top, per_interval=0,
                        n_bins=30, before=opts.before, after=opts.after, n_logits=8)
    if d["hist"] is None:
        return None
    rows, vals = ua.of(i)
    picked = [("top activations", rows[:opts.n_top], vals[:opts.n_top])] + [
        (f"interval {lo:.2f}–{hi:.2f}", r, v) for lo, hi, r, v in
        interval_examples(ua, i, opts.per_interval, opts.n_intervals) if len(r)]
    return i, d, picked


def _examples(built: list, view: TokenView, lm, sae, opts: BrowserOptions) -> tuple[np.ndarray, np.ndarray]:
    """Token ids [k, before+1+after] around every example row, in order, and the feature's activation on each
    (one LM pass per example with `lm` and `sae`; else only the harvested token's value is known)."""
    pairs = [(i, int(r), float(v)) for i, _, picked in built for _, rs, vs in picked for r, v in zip(rs, vs)]
    feats = np.array([p[0] for p in pairs], np.int64)
    rows = np.array([p[1] for p in pairs], np.int64)
    if lm is not None and sae is not None and len(pairs):
        return _context_acts(lm, sae, view, feats, rows, opts.before, opts.after)
    ids, _ = context_ids(view.tokens, view.info["token_index"][rows], view.info["ctx_pos"][rows], opts.before,
                         opts.after)
    acts = np.zeros(ids.shape, np.float32)
    acts[:, opts.before] = [v for *_, v in pairs]
    return ids, acts


def _feature_json(i: int, d: dict, picked: list, view: TokenView, ids: np.ndarray, acts: np.ndarray, near: list,
                  opts: BrowserOptions) -> dict:
    """One feature's named JSON object (see the module doc)."""
    counts, (lc, le), k, groups = np.array(d["hist"]["counts"]), d["logit_hist"], 0, []
    for name, rows, _ in picked:
        g = {"name": html.escape(name), "category": [], "tokens": [], "acts": [], "center": []}
        for r in rows:
            keep = ids[k] >= 0
            for key, val in (("category", int(view.info["category"][r])), ("tokens", ids[k][keep].tolist()),
                             ("acts", np.round(acts[k][keep], 2).tolist()),
                             ("center", int(opts.before - (~keep[:opts.before]).sum()))):
                g[key].append(val)
            k += 1
        groups.append(g)
    score = opts.scores.get(i)
    return {"index": i, "density": d["density"], "max_act": round(d["max"], 3), "top_category": int(counts.sum(0).argmax()),
            "score": None if score is None else round(float(score), 3),
            "explanation": html.escape(opts.explanations.get(i, "")),
            "act_hist": {"counts": [int(c.sum()) for c in counts], "top_category": [int(c.argmax()) for c in counts],
                         "max": round(d["max"], 3)},
            "logit_hist": {"counts": [int(c) for c in lc], "lo": round(float(le[0]), 3), "hi": round(float(le[-1]), 3)},
            "logits_up": {"tokens": [t for t, _ in d["logit_top"]], "weights": [round(v, 3) for _, v in d["logit_top"]]},
            "logits_down": {"tokens": [t for t, _ in d["logit_bottom"]],
                            "weights": [round(v, 3) for _, v in d["logit_bottom"]]},
            "nearest": {"features": [j for j, _ in near], "cos": [c for _, c in near]}, "groups": groups}


def _context_acts(lm, sae, view: TokenView, feats: np.ndarray, rows: np.ndarray, before: int, after: int,
                  batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Token ids [k, before+1+after] around each row and feature feats[k]'s activation at every one of them,
    from the LM's own window of that row (one LM pass per example, batched)."""
    info = view.info
    ids, _ = context_ids(view.tokens, info["token_index"][rows], info["ctx_pos"][rows], before, after)
    out = np.zeros(ids.shape, np.float32)
    for s in range(0, len(rows), batch):
        r = rows[s:s + batch]
        win, col = lm_windows(view.tokens, info["token_index"][r], info["ctx_pos"][r], lm.cfg.n_ctx, after)
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


def _page(data: dict, title: str, n_features: int) -> str:
    """The HTML page: the data as JSON (with '</' escaped), the CSS and browser.js inline."""
    blob = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    script = (Path(__file__).with_name("browser.js")).read_text(encoding="utf-8")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}"
            f"</style></head><body><h1>{html.escape(title)}</h1><p>{n_features:,} alive features. Click a column "
            "to sort, filter by category, density or text (Enter searches); hover a token for its activation.</p>"
            "<div id='bar'><input id='q' placeholder='feature index, token or explanation'> <button id='go'>search"
            "</button> <select id='cat'></select> min density <input id='dmin' size='6' value='0'> "
            "<button id='prev'>previous</button><button id='next'>next</button> <span id='pos'></span></div>"
            "<div id='wrap'><div id='list'></div><div id='view'></div></div>"
            f"<script type='application/json' id='data'>{blob}</script><script>{script}</script></body></html>")


_CSS = ("body{font-family:sans-serif;margin:1em}#wrap{display:flex;gap:1em}#list{flex:0 0 34em;max-height:85vh;"
        "overflow:auto;font-size:12px}#view{flex:1}table{border-collapse:collapse}th{cursor:pointer;background:#eee;"
        "position:sticky;top:0}td,th{padding:1px 5px;text-align:right}td.e{text-align:left;max-width:14em;"
        "overflow:hidden;white-space:nowrap}tr.sel{background:#ffe7c2}tr:hover{background:#f4f4f4}"
        ".ex{font-family:monospace;white-space:pre;margin:1px 0}svg text{font-size:10px}a{cursor:pointer}")
