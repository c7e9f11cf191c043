"""Notebook 06's printed notes and verdicts, formatted from the run's numbers (never typed into the prose).

Each function turns tables the notebook already computed into lines of text for both outcomes: features that
several categories share or that barely fire, the strength at which a dose-response first steers, whether any
category passes the steering test (`controls.is_steered`) against its control at the paper's k = 1 and over the
dose sweep, and the closing scorecard excerpt beside the paper.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import torch

from .controls import STEERED_RULE, at_k, by_k, is_steered, steered_categories

# the per-category steering keys of `controls.scorecard_entries`, in the order the closing table shows them
CATEGORY_COLUMNS = ("feature", "share_base", "share_steered", "share_steered_lo", "share_steered_hi", "first_k",
                    "distinct", "control_feature", "share_control")
MIN_LOWER, MAX_BASE = STEERED_RULE["min_lower"], STEERED_RULE["max_base"]


def _ci(mean: float, lo: float, hi: float) -> str:
    return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def _share(row: dict, name: str) -> str:
    """A row's share `name` ('steered', 'control') with its interval, as text."""
    return _ci(row[f"share_{name}"], row[f"share_{name}_lo"], row[f"share_{name}_hi"])


def _lower(row: dict, key: str = "share_steered_lo") -> float:
    """The interval's lower end, NaN (no countable token) ranked last."""
    return row[key] if row[key] == row[key] else -1.0


def feature_notes(features: dict[str, int], max_act: torch.Tensor, corr: dict[str, float],
                  weak_frac: float = 0.1) -> list[str]:
    """Notes on the per-category features: one feature chosen for several categories (their steering rows
    repeat one experiment), and features whose max activation is under `weak_frac` × the median of them."""
    by_feature: dict[int, list[str]] = {}
    for c, f in features.items():
        by_feature.setdefault(f, []).append(c)
    notes = []
    for f, cs in by_feature.items():
        if len(cs) > 1:
            cs = sorted(cs, key=lambda c: -corr[c])
            fits = f", and it correlates best with {cs[0]}" if corr[cs[0]] - corr[cs[1]] >= 0.005 else ""
            notes.append(f"{', '.join(cs)} share feature {f} (corr {', '.join(f'{corr[c]:.2f}' for c in cs)}): one feature "
                         f"for several categories, not one each; their rows in section 5 pin the same feature (the same "
                         f"samples){fits}")
    maxima = torch.tensor([float(max_act[f]) for f in by_feature])
    median = float(maxima.median()) if len(maxima) else 0.0
    for f, cs in by_feature.items():
        if float(max_act[f]) < weak_frac * median:
            notes.append(f"{', '.join(cs)}: feature {f} barely fires (max activation {float(max_act[f]):.2f}, under "
                         f"{weak_frac:g} × the median {median:.2f} of these features): pinning it at k × its max is a "
                         f"small push at every k")
    return notes or ["every category has its own feature, and each fires at least "
                     f"{weak_frac:g} × the median max activation of these features"]


def first_passing_k(sweep: Sequence[dict], min_lower: float = MIN_LOWER, max_base: float = MAX_BASE) -> float | None:
    """The smallest k of a `sweep.dose_response` at which the feature steers by section 5's rule (the steered
    interval starts at >= min_lower, the unsteered share is <= max_base); None if no k does."""
    rows = [{"share_steered_lo": r["share_lo"], "share_base": r["share_base"], "k": r["k"]} for r in sweep]
    return min((r["k"] for r in rows if is_steered(r, min_lower, max_base)), default=None)


def dose_remark(sweep: Sequence[dict], category: str, min_lower: float = MIN_LOWER, max_base: float = MAX_BASE) -> str:
    """One line: the smallest k of the sweep that steers by section 5's rule, set against the paper's k = 1."""
    at = {r["k"]: r for r in sweep}
    one = f"; at the paper's k = 1: {_ci(at[1.0]['share'], at[1.0]['share_lo'], at[1.0]['share_hi'])}" if 1.0 in at else ""
    base = sweep[0]["share_base"]
    if not base <= max_base:
        return (f"{category}: the unsteered share is already {base:.2f} (above {max_base:.0%}): the category is common in "
                f"neutral samples, so by section 5's rule this sweep cannot show steering{one}")
    k = first_passing_k(sweep, min_lower, max_base)
    if k is None:
        best = max(sweep, key=lambda r: _lower(r, "share_lo"))
        return (f"{category}: the share's 95% interval never starts at or above {min_lower:.0%} up to k = {max(at):g} (highest "
                f"lower end {best['share_lo']:.2f}, at k = {best['k']:g}{one}): at these strengths this feature does not "
                f"steer by section 5's rule")
    where = "at or below the paper's k = 1" if k <= 1 else "above the paper's k = 1"
    return (f"{category}: steered first at k = {k:g} ({_ci(at[k]['share'], at[k]['share_lo'], at[k]['share_hi'])}, from "
            f"{base:.2f} unsteered), {where}{one if k > 1 else ''}")


def steering_verdict(rows: Sequence[dict], k_head: float = 1.0, min_lower: float = MIN_LOWER,
                     max_base: float = MAX_BASE) -> list[str]:
    """Lines from a `sweep.pinned_sweep` with controls: the verdict at the paper's strength k_head (steered, and
    its matched random control not), the counts over the sweep, then per category what the sweep showed."""
    rule = dict(min_lower=min_lower, max_base=max_base)
    groups, head = by_k(list(rows)), at_k(list(rows), k_head)
    ks = list(groups)
    steered = {k: steered_categories(t, **rule) for k, t in groups.items()}
    beat = {k: steered_categories(t, True, **rule) for k, t in groups.items()}
    b, s = beat[float(k_head)], steered[float(k_head)]
    if b:
        lines = [f"Evidence that the model uses the feature for {len(b)} of {len(head)} categories ({', '.join(b)}) at the "
                 f"paper's strength k = {k_head:g}: pinned, it writes its category and a random feature pushed as hard does not"]
    elif s:
        lines = [f"At the paper's k = {k_head:g}, {len(s)} categories are steered ({', '.join(s)}), but their random controls "
                 f"write the category too: no evidence that the model uses these features"]
    else:
        lines = [f"No category is steered at the paper's strength k = {k_head:g} (0 of {len(head)}): in this run, pinning a "
                 f"category's feature at its max activation gives no evidence that the model uses it, so the paper's "
                 f"pinned-sampling result is not reproduced at k = {k_head:g}"]
    lines.append("dose sweep, categories steered: " + ", ".join(f"k = {k:g}: {len(steered[k])}" for k in ks)
                 + "; and beating their control: " + ", ".join(f"k = {k:g}: {len(beat[k])}" for k in ks))
    closest = []
    for r0 in head:
        c = r0["category"]
        own = [t for k in ks for t in groups[k] if t["category"] == c]
        first = next((t for t in own if t["category"] in steered[t["k"]]), None)
        if not r0["share_base"] <= max_base:
            lines.append(f"  {c}: unsteered share {r0['share_base']:.2f} is above {max_base:.0%}: the rule asks for a rise "
                         f"from near zero, so it cannot count at any k")
        elif first is not None:
            won = "beats it" if c in beat[first["k"]] else "does not beat it"
            lines.append(f"  {c}: steered first at k = {first['k']:g}, {_share(first, 'steered')} from "
                         f"{first['share_base']:.2f}; its random control there {_share(first, 'control')}: {won}")
        else:
            best = max(own, key=_lower)
            if best["share_steered"] >= 0.005:
                closest.append((_lower(best), f"{c} {_share(best, 'steered')} at k = {best['k']:g}"))
    if closest:
        lines.append("  closest below the rule (highest interval lower end over the sweep): "
                     + ", ".join(t for _, t in sorted(closest, key=lambda x: -x[0])[:3]))
    return lines


def _rows(md: str) -> dict[str, tuple[str, str, str]]:
    """key -> (this run, paper, note) from the table of `pipeline.scorecard.write_markdown`."""
    rows = {}
    for line in md.splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*?) \| (.*?) \| (.*?) \|$", line)
        if m:
            rows[m[1]] = (m[2], m[3], m[4])
    return rows


def scorecard_excerpt(md: str, paper_keys: Iterable[str], categories: Sequence[str]) -> str:
    """Markdown: the keys of scorecard.md (`md`) that have a paper figure, then the steering keys (headline keys,
    and one row per category for `steer.<category>.*`); the rest stays in scorecard.md."""
    rows, paper_keys = _rows(md), set(paper_keys)
    out = ["**Beside the paper** (the keys the paper gives a figure for)", "", "| key | this run | paper | note |",
           "|---|---|---|---|"]
    out += [f"| `{k}` | {v[0]} | {v[1]} | {v[2]} |" for k, v in rows.items() if k in paper_keys]
    head = [k for k in rows if k.startswith("steer.") and k.split(".")[1] not in categories]
    out += ["", "**Steering** (this notebook; the paper reports no figure for these)", "", "| key | this run |", "|---|---|"]
    out += [f"| `{k}` | {rows[k][0]} |" for k in head]
    out += ["", "| category | " + " | ".join(CATEGORY_COLUMNS) + " |", "|---" * (len(CATEGORY_COLUMNS) + 1) + "|"]
    for c in categories:
        out.append(f"| {c} | " + " | ".join(rows.get(f"steer.{c}.{col}", ("—",))[0] for col in CATEGORY_COLUMNS) + " |")
    out += ["", f"{len(rows):,} keys in all: `scorecard.md` in the run directory lists every one."]
    return "\n".join(out)
