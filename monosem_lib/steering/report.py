"""Notebook 06's printed notes and verdicts, formatted from the run's numbers (never typed into the prose).

Each function turns tables the notebook already computed into lines of text for both outcomes: features that
several categories share or that barely fire, the strength at which a dose-response first steers, whether any
category passes the steering test against its control, and the closing scorecard excerpt beside the paper.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import torch

from .controls import STEERED_RULE, steered_categories

# the per-category steering keys of `controls.scorecard_entries`, in the order the closing table shows them
CATEGORY_COLUMNS = ("feature", "share_base", "share_steered_k1", "share_steered", "distinct",
                    "control_feature", "share_control")


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


def first_passing_k(sweep: Sequence[dict], min_share: float = STEERED_RULE["min_share"],
                    min_distinct: float = STEERED_RULE["min_distinct"]) -> float | None:
    """The smallest k of a `steer.dose_response` sweep whose share reaches `min_share` with varied output."""
    ks = [r["k"] for r in sweep if r["share"] >= min_share and r["distinct"] >= min_distinct]
    return min(ks, default=None)


def dose_remark(sweep: Sequence[dict], category: str, k_steer: float, min_share: float = STEERED_RULE["min_share"],
                min_distinct: float = STEERED_RULE["min_distinct"]) -> str:
    """One line: the smallest k at which the sweep steers (share >= min_share, distinct >= min_distinct),
    set against the paper's k = 1 and this notebook's `k_steer`."""
    share = {r["k"]: r["share"] for r in sweep}
    at = ", ".join(f"{share[k]:.2f} at k = {k:g}" for k in (1.0, float(k_steer)) if k in share)
    k = first_passing_k(sweep, min_share, min_distinct)
    if k is None:
        return (f"{category}: the share never reaches {min_share:.0%} with varied output up to k = {max(share):g} "
                f"({at}): at these strengths this feature does not steer by section 5's rule")
    if k == 0:
        return (f"{category}: the share is already {share[k]:.2f} unsteered (k = 0): the category is common in neutral "
                f"samples, so this sweep cannot show steering")
    where = ("at or below the paper's k = 1" if k <= 1 else
             f"at or below k_steer = {k_steer:g}: section 5's strength is enough" if k <= k_steer else
             f"only above k_steer = {k_steer:g}: section 5's table, at k_steer, cannot count it as steered")
    return f"{category}: the share first reaches {min_share:.0%} at k = {k:g} ({share[k]:.2f}; {at}), {where}"


def steering_verdict(table: Sequence[dict], table_k1: Sequence[dict], control: Sequence[dict], k_steer: float,
                     min_share: float = STEERED_RULE["min_share"], max_base: float = STEERED_RULE["max_base"],
                     min_distinct: float = STEERED_RULE["min_distinct"]) -> list[str]:
    """Lines: does any category pass the steering test (steered at k_steer, its matched control not), and for
    the others, which rule stopped them. The first line is the verdict."""
    rule = dict(min_share=min_share, max_base=max_base, min_distinct=min_distinct)
    beat = steered_categories(table, control, **rule)
    n1, n = len(steered_categories(table_k1, None, **rule)), len(steered_categories(table, None, **rule))
    counts = f"steered at k = 1: {n1}, at k = {k_steer:g}: {n}, and beating the control: {len(beat)} of {len(table)}"
    if beat:
        lines = [f"Evidence that the model uses the feature for {len(beat)} categories ({', '.join(beat)}): pinned, "
                 f"it writes its category and a random feature pushed as hard does not, as in the paper ({counts})"]
    else:
        lines = [f"No category passes ({counts}): in this run, pinning a category's feature gives no evidence that "
                 f"the model uses it, so the paper's pinned-sampling result is not reproduced here"]
    ctrl = {r["category"]: r["share_steered"] for r in control}
    for r in table:
        c, s = r["category"], r["share_steered"]
        if s >= min_share and c not in beat:
            why = (f"its unsteered share is above {max_base:.0%}, and the rule asks for a rise from near zero (its "
                   f"random control: {ctrl.get(c, 0.0):.2f})" if r["share_base"] > max_base else
                   f"its output collapses (distinct {r['distinct']:.2f} < {min_distinct:g})" if r["distinct"] < min_distinct
                   else f"its random control reaches {ctrl.get(c, 0.0):.2f} too")
            lines.append(f"  {c}: {r['share_base']:.2f} -> {s:.2f} at k = {k_steer:g}, not counted: {why}")
    near = sorted((r for r in table if 0.005 <= r["share_steered"] < min_share and r["share_base"] <= max_base),
                  key=lambda r: -r["share_steered"])[:3]
    if near:
        lines.append(f"  closest below {min_share:.0%} at k = {k_steer:g}: "
                     + ", ".join(f"{r['category']} {r['share_steered']:.2f}" for r in near))
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
