"""The automata of `automata.Transitions`, named: self-loops, lead/continuation pairs, chains, and the figure.

An edge counts when it has >= MIN_EVENTS events and a rate >= MIN_RATIO times the target's base rate (the issue's
yardstick); it belongs to a category when >= MIN_SHARE of its events are at tokens of that category's documents.
A category is a split-character script when >= SPLIT_SHARE of its tokens end inside a UTF-8 character. Per category:
- its self-loops (a unit that re-fires on the token it predicted: the paper's self-exciting base64 feature);
- split scripts: the strongest lead/continuation pair, i -> j with most events at lead pieces and j -> i back (the
  paper's two-node systems); for the diagnosis also the units that fire best (F1) on the lead and on the continuation
  pieces, with their two edges, whatever they measure;
- otherwise (other categories, or a script with no such pair): the cycle through its edges whose weakest rate is
  highest, named "<n>-node cycle" (the paper's HTML chain: open tag -> name -> close -> whitespace -> open tag).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .automata import Transitions

MIN_EVENTS = 20
MIN_RATIO = 5.0
MIN_SHARE = 0.5
SPLIT_SHARE = 0.1
LEAD_CONT = "lead/continuation"
NAMED = ("base64", "html")              # categories always reported (the paper's examples), beside the split scripts


@dataclass
class System:
    """A named automaton: its kind and its edges (dicts of i, j, events, rate, base, ratio)."""
    category: str
    kind: str                           # "lead/continuation" | "cycle" | "none"
    edges: list[dict] = field(default_factory=list)

    @property
    def min_ratio(self) -> float:
        """The weakest edge's rate over its target's base rate."""
        return min((e["ratio"] for e in self.edges), default=float("nan"))

    def describe(self, unit: str = "#") -> str:
        """'#i->#j rate 0.53 vs base 0.021 (x25, 120 events); ...' or 'none'."""
        return "; ".join(f"{unit}{e['i']}->{unit}{e['j']} rate {e['rate']:.2f} vs base {e['base']:.3g} "
                         f"(x{e['ratio']:.0f}, {e['events']:.0f} events)" for e in self.edges) or "none"


@dataclass
class FsaReport:
    """Every strong edge (with its category and share of lead-piece events) and the systems named per category."""
    strong: dict[str, np.ndarray]
    split: list[str]
    systems: dict[str, System]
    self_loops: dict[str, list[dict]]
    piece_pairs: dict[str, System]

    @property
    def n_self_loops(self) -> int:
        """Strong edges from a unit to itself."""
        return int((self.strong["i"] == self.strong["j"]).sum())


def _rows(t: dict[str, np.ndarray], k) -> list[dict]:
    """Edges k of table t as plain dicts."""
    return [{key: (int(t[key][x]) if key in ("i", "j") else float(t[key][x])) for key in
             ("i", "j", "events", "rate", "base", "ratio")} for x in np.atleast_1d(k)]


def strong_edges(tr: Transitions, min_events: int = MIN_EVENTS, min_ratio: float = MIN_RATIO) -> dict[str, np.ndarray]:
    """The edges that count, with the category holding most of their events (`cat`, `share`) and `lead`, the share
    of their events at tokens ending inside a character."""
    t = tr.edge_table(min_events)
    keep = t["ratio"] >= min_ratio
    t = {k: v[keep] for k, v in t.items()}
    shares = np.stack([tr.share(b, t["i"], t["j"]) for b in tr.by_cat], 1) if len(t["i"]) else np.zeros((0, 1))
    t["cat"], t["share"] = shares.argmax(1), shares.max(1) if len(shares) else np.zeros(0)
    t["lead"] = tr.share(tr.lead, t["i"], t["j"]) if len(t["i"]) else np.zeros(0)
    return t


def _best_pair(t: dict, sel: np.ndarray) -> list[dict]:
    """The 2-cycle i -> j (mostly at lead pieces) and j -> i (mostly not) among edges `sel`, highest weaker rate."""
    idx = {(int(t["i"][k]), int(t["j"][k])): k for k in np.flatnonzero(sel) if t["i"][k] != t["j"][k]}
    best, score = None, -1.0
    for (a, b), k in idx.items():
        back = idx.get((b, a))
        if back is not None and t["lead"][k] >= 0.5 > t["lead"][back] and min(t["rate"][k], t["rate"][back]) > score:
            best, score = (k, back), min(t["rate"][k], t["rate"][back])
    return _rows(t, list(best)) if best else []


def _best_cycle(t: dict, sel: np.ndarray) -> list[dict]:
    """The cycle (two units or more) among edges `sel` whose weakest rate is highest: edges are added strongest first
    until one closes a cycle (a path back from its target to its source)."""
    succ: dict[int, list[int]] = {}
    for k in sorted(np.flatnonzero(sel & (t["i"] != t["j"])), key=lambda k: -t["rate"][k]):
        a, b = int(t["i"][k]), int(t["j"][k])
        back = _path(succ, t, b, a)
        if back is not None:
            return _rows(t, [k] + back)
        succ.setdefault(a, []).append(k)
    return []


def _path(succ: dict[int, list[int]], t: dict, src: int, dst: int) -> list[int] | None:
    """Edge indices of a path src -> dst through `succ` (depth first), or None."""
    stack, seen = [(src, [])], {src}
    while stack:
        node, path = stack.pop()
        if node == dst:
            return path
        for k in succ.get(node, ()):
            nxt = int(t["j"][k])
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [k]))
    return None


def piece_pair(tr: Transitions, c: int) -> list[dict]:
    """The unit firing best (F1) on category c's lead pieces and the one on its continuation pieces, and the two
    edges between them as measured (for the diagnosis: they need not count)."""
    f1 = 2 * tr.piece_hits[:, c] / np.maximum(tr.n_fire[None] + tr.cat_pieces[:, c, None], 1)
    lead = int(f1[0].argmax())
    f1[1, lead] = -1
    cont = int(f1[1].argmax())
    e = tr.edges([lead, cont], [cont, lead])
    return _rows(e, [0, 1])


def find_systems(tr: Transitions, categories: list[str], min_events: int = MIN_EVENTS, min_ratio: float = MIN_RATIO,
                 min_share: float = MIN_SHARE, split_share: float = SPLIT_SHARE) -> FsaReport:
    """Name the automata of every category (see the module docstring)."""
    t = strong_edges(tr, min_events, min_ratio)
    split = [c for k, c in enumerate(categories) if tr.cat_rows[k] and tr.cat_pieces[0, k] >= split_share * tr.cat_rows[k]]
    systems, loops, pairs = {}, {}, {}
    for k, c in enumerate(categories):
        sel = (t["cat"] == k) & (t["share"] >= min_share)
        own = np.flatnonzero(sel & (t["i"] == t["j"]))
        loops[c] = _rows(t, own[np.argsort(-t["rate"][own])]) if len(own) else []
        pair = _best_pair(t, sel) if c in split else []
        cycle = [] if pair else _best_cycle(t, sel)
        systems[c] = System(c, LEAD_CONT if pair else f"{len(cycle)}-node cycle" if cycle else "none", pair or cycle)
        if c in split:
            pairs[c] = System(c, "pieces", piece_pair(tr, k))
    return FsaReport(t, split, systems, loops, pairs)


def reported(rep: FsaReport) -> list[str]:
    """The categories whose systems are reported: the paper's examples and the split scripts."""
    return [c for c in rep.systems if c in NAMED or c in rep.split]


def fsa_entries(rep: FsaReport, prefix: str = "fsa") -> dict:
    """`<prefix>.n_self_loops`, `.n_edges`, `.n_split_systems`, `.split_scripts`, and per reported category
    `<c>.{n_self_loops, system, edges, min_ratio}` (split scripts also `<c>.piece_edges`, the diagnosis pair)."""
    found = [c for c in rep.split if rep.systems[c].kind == LEAD_CONT]
    out = {f"{prefix}.n_self_loops": rep.n_self_loops, f"{prefix}.n_edges": int(len(rep.strong["i"])),
           f"{prefix}.n_split_systems": len(found), f"{prefix}.split_scripts": ",".join(rep.split),
           f"{prefix}.split_systems": ",".join(found) or "none"}
    for c in reported(rep):
        s = rep.systems[c]
        out.update({f"{prefix}.{c}.n_self_loops": len(rep.self_loops[c]), f"{prefix}.{c}.system": s.kind,
                    f"{prefix}.{c}.edges": s.describe()})
        if s.edges:
            out[f"{prefix}.{c}.min_ratio"] = round(s.min_ratio, 2)
        if rep.self_loops[c]:
            out[f"{prefix}.{c}.self_loop"] = System(c, "self-loop", rep.self_loops[c][:1]).describe()
        if c in rep.piece_pairs:
            out[f"{prefix}.{c}.piece_edges"] = rep.piece_pairs[c].describe()
    return out


def fsa_verdict(feat: FsaReport, neur: FsaReport, min_ratio: float = MIN_RATIO) -> list[str]:
    """Features against neurons on the issue's targets, worded for either outcome, then one line per named system."""
    lines = [f"edges at >= {min_ratio:g}x base rate: features {len(feat.strong['i']):,}, neurons "
             f"{len(neur.strong['i']):,}; self-loops: features {feat.n_self_loops}, neurons {neur.n_self_loops}"]
    for name, rep in (("features", feat), ("neurons", neur)):
        b64 = rep.self_loops.get("base64", [])
        found = [c for c in rep.split if rep.systems[c].kind == LEAD_CONT]
        pairs = [c for c in rep.split if rep.systems[c].kind == "2-node cycle"]
        lines.append(f"{name}: {len(b64)} self-exciting base64 unit(s) (target >= 1: {'met' if b64 else 'not met'}); "
                     f"lead/continuation systems in {len(found)} of {len(rep.split)} split-character scripts "
                     f"({', '.join(found) or 'none'}; target >= 2: {'met' if len(found) >= 2 else 'not met'}); "
                     f"other two-node systems in {', '.join(pairs) or 'none'}")
    for c in reported(feat):
        lines.append(f"  {c}: features {feat.systems[c].kind}: {feat.systems[c].describe('f')}")
        if c in neur.systems:
            lines.append(f"  {' ' * len(c)}  neurons {neur.systems[c].kind}: {neur.systems[c].describe('n')}")
        if c in feat.piece_pairs and feat.systems[c].kind == "none":
            lines.append(f"  {' ' * len(c)}  (the best lead-piece and continuation features: "
                         f"{feat.piece_pairs[c].describe('f')})")
    return lines


def continuation_verdict(paths: dict[str, tuple[float, float, int]], rep: FsaReport) -> tuple[list[str], dict]:
    """Lines and scorecard entries for the MLP-path control of the split scripts (`automata.continuation_paths`):
    whether the MLP carries the lead -> continuation prediction that a lead/continuation system would need."""
    lines, card, drops = [], {}, []
    for c in rep.split:
        if c not in paths:
            continue
        full, without, n = paths[c]
        drops.append(full - without)
        card.update({f"fsa.{c}.p_continuation": round(full, 3), f"fsa.{c}.p_continuation_without_mlp": round(without, 3)})
        lines.append(f"  {c}: after {n:,} lead pieces P(continuation) {full:.3f}; with the MLP's neurons zeroed "
                     f"{without:.3f}; system: {rep.systems[c].kind}")
    if drops:
        mean = float(np.mean(drops))
        lines.insert(0, f"zeroing the MLP's neurons lowers P(next token is a continuation piece) after a lead piece by "
                        f"{mean:.3f} on average over {len(drops)} split scripts: " +
                     ("the MLP carries part of that prediction, so MLP units can form lead/continuation systems"
                      if mean >= 0.05 else "the direct path (embedding, attention -> unembedding) predicts the "
                      "continuation by itself, so no MLP unit, feature or neuron, has to: no system is expected"))
        card["fsa.continuation_drop_without_mlp"] = round(mean, 3)
    return lines, card


def strongest(rep: FsaReport, n: int = 8) -> list[dict]:
    """The n edges carrying the most evidence, events x log(ratio) (their share of the mutual information)."""
    t = rep.strong
    return _rows(t, np.argsort(-t["events"] * np.log(t["ratio"]))[:n]) if len(t["i"]) else []


def fsa_panels(rep: FsaReport, n_strongest: int = 6) -> list[tuple[str, str, list[dict]]]:
    """(category, title, edges): the strongest edges of all, then each named system found with the best self-loop of
    the category (of one of the system's units, if it has any; the category's best one if it has no system)."""
    top = strongest(rep, n_strongest)
    out = [("all", f"the {len(top)} strongest edges", top)] if top else []
    for c in reported(rep):
        s = rep.systems[c]
        units = {x for e in s.edges for x in (e["i"], e["j"])}
        loop = [e for e in rep.self_loops[c] if e["i"] in units or not s.edges][:1]
        if s.edges or loop:
            out.append((c, f"{c}: {s.kind if s.edges else 'self-loop'}", s.edges + loop))
    return out


def plot_fsa(panel_list: list[tuple[str, str, list[dict]]], labels: dict[int, str], cols: int = 4,
             size: float = 3.4):
    """One panel per (category, title, edges): units on a circle, an arrow per edge labelled with its rate and
    ratio, a loop per self-edge; `labels[unit]` (e.g. its most frequent tokens) is printed under each unit."""
    import matplotlib.pyplot as plt
    n = max(1, len(panel_list))
    cols = min(cols, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(size * cols, size * -(-n // cols)), squeeze=False)
    for ax, (c, title, edges) in zip(axes.flat, panel_list):
        _draw(ax, edges, labels)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(panel_list):]:
        ax.axis("off")
    if not panel_list:
        axes.flat[0].text(0.5, 0.5, "no edge reaches the yardstick", ha="center", va="center")
    fig.tight_layout()
    return fig


def _draw(ax, edges: list[dict], labels: dict[int, str]) -> None:
    """One panel of `plot_fsa`."""
    from matplotlib.patches import Circle
    nodes = list(dict.fromkeys([e["i"] for e in edges] + [e["j"] for e in edges]))
    ang = np.pi / 2 - 2 * np.pi * np.arange(len(nodes)) / len(nodes)
    pos = {u: (np.cos(a), np.sin(a)) if len(nodes) > 1 else (0.0, -0.3) for u, a in zip(nodes, ang)}
    for e in edges:
        (x0, y0), (x1, y1) = pos[e["i"]], pos[e["j"]]
        text = f"{e['rate']:.2f} (x{e['ratio']:.0f})"
        if e["i"] == e["j"]:                       # a loop outside the circle, away from the centre
            r = np.hypot(x0, y0)
            ux, uy = (x0 / r, y0 / r) if r else (0.0, 1.0)
            cx, cy = x0 + 0.45 * ux, y0 + 0.45 * uy
            ax.add_patch(Circle((cx, cy), 0.25, fill=False, ec="C3", lw=1.2))
            ax.text(cx + 0.4 * ux, cy + 0.4 * uy, text, fontsize=7, ha="center", va="center", color="C3")
            continue
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={
            "arrowstyle": "-|>", "color": "C0", "connectionstyle": "arc3,rad=0.25", "shrinkA": 14, "shrinkB": 14})
        dx, dy = x1 - x0, y1 - y0
        ax.text((x0 + x1) / 2 - 0.3 * dy, (y0 + y1) / 2 + 0.3 * dx, text, fontsize=7, ha="center", va="center",
                color="C0")
    for u, (x, y) in pos.items():
        ax.text(x, y, f"#{u}\n{labels.get(u, '')}", ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.5"})
    ax.set_xlim(-2.0, 2.0), ax.set_ylim(-2.0, 2.0)
    ax.set_aspect("equal"), ax.axis("off")


def fsa_labels(codes, panel_list: list[tuple[str, str, list[dict]]], token_ids: np.ndarray, strings: list[str],
               n: int = 2) -> dict[int, str]:
    """{unit: its n most frequent tokens where it fires} for the units of the panels, from CSR codes or dense
    activations [rows, units]."""
    import torch
    units = sorted({int(e[k]) for _, _, edges in panel_list for e in edges for k in ("i", "j")})
    if isinstance(codes, torch.Tensor) and codes.layout == torch.sparse_csr:
        crow, col = codes.crow_indices().numpy(), codes.col_indices().numpy()
        sel = np.isin(col, units)
        row_of = np.repeat(np.arange(len(crow) - 1), np.diff(crow))[sel]
        hits = {u: row_of[col[sel] == u] for u in units}
    else:
        a = np.asarray(codes)
        hits = {u: np.flatnonzero(a[:, u] > 0) for u in units}
    out = {}
    for u, r in hits.items():
        ids, cnt = np.unique(token_ids[r], return_counts=True)
        out[u] = " ".join(repr(strings[t])[1:-1][:8] for t in ids[np.argsort(-cnt)[:n]]).replace("$", r"\$")
    return out
