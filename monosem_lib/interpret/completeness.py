"""Feature completeness against frequency (Templeton et al. 2024, "Scaling Monosemanticity"): how large must a
dictionary be before a concept gets a feature of its own?

A category *has a feature* in a dictionary when one of its features tracks the category's paper proxy (Pearson
correlation >= CORR_MIN, `categories.feature_correlations`) and is specific to it (>= SPEC_MIN of the feature's active
tokens in the proxy's positive set, `categories.specificity`). The smallest such dictionary is the category's
`min_size`; the 2024 paper found it falls as the concept grows more frequent (a slope below 0 on log axes). Every
size is scored on the same evaluation rows (the first `eval.side_tokens`, where notebook 04 encodes the sweep).
The control beside it, `completeness_reach`: what a unit firing exactly on the category scores with its proxy; where
that is below CORR_MIN no feature can qualify, and the category is reported as out of reach, not as missing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .categories import MIN_TOKENS, TOO_FEW, CategoryProxies, feature_correlations, perfect_detector_corr, specificity
from .feature_stats import UnitActs

CORR_MIN = 0.5
SPEC_MIN = 0.8
BUDGET_S = {"smoke": 120, "classroom": 600, "full": 2700}     # each profile's wall-time target (DESIGN.md)
MARGIN = 0.1                                                    # of a budget, kept free for slower machines


@dataclass
class SizeScore:
    """One category in one dictionary: the feature that qualifies (else the best-correlated one) and its figures."""
    found: bool
    feature: int
    corr: float
    spec: float


def proxy_categories(cp: CategoryProxies, categories: list[str], n_rows: int,
                     min_tokens: int = MIN_TOKENS) -> tuple[list[str], list[str]]:
    """(scored, too few): the categories with a paper proxy, split by whether their positive set holds at least
    `min_tokens` of the first n_rows rows (fewer: a correlation is noise, reported as too few tokens)."""
    have = [c for c in categories if c in cp.in_cat]
    scored = [c for c in have if int(cp.in_cat[c][:n_rows].sum()) >= min_tokens]
    return scored, [c for c in have if c not in scored]


def score_dictionary(codes: torch.Tensor, cp: CategoryProxies, cats: list[str], corr_min: float = CORR_MIN,
                     spec_min: float = SPEC_MIN) -> dict[str, SizeScore]:
    """Per category: the best-correlated feature with correlation >= corr_min and specificity >= spec_min, else the
    best-correlated feature (codes: CSR over the first rows of the evaluation tokens)."""
    corr, ua = feature_correlations(codes, cp), UnitActs.from_csr(codes)
    out = {}
    for c in cats:
        r = corr[:, cp.columns.index(("proxy", c))].nan_to_num(-2.0).numpy()
        order = np.flatnonzero(r >= corr_min)
        spec = {int(i): specificity(*ua.of(int(i)), cp.in_cat[c])[0] for i in order[np.argsort(-r[order])]}
        good = [i for i, s in spec.items() if s >= spec_min]
        i = good[0] if good else int(r.argmax())
        s = spec[i] if i in spec else specificity(*ua.of(i), cp.in_cat[c])[0]
        out[c] = SizeScore(bool(good), i, float(r[i]), float(s))
    return out


def completeness_reach(cp: CategoryProxies, cats: list[str]) -> dict[str, float]:
    """{category: the correlation of a perfect binary detector of it with its paper proxy}: the most a feature can
    score; below CORR_MIN the category cannot get a qualifying feature at any size."""
    return {c: perfect_detector_corr(cp, c) for c in cats}


def _out_of_reach(reach: dict[str, float] | None, c: str) -> bool:
    return reach is not None and c in reach and not reach[c] >= CORR_MIN


def min_sizes(table: dict[int, dict[str, SizeScore]]) -> dict[str, int | None]:
    """{category: the smallest dictionary size where it has a feature, or None}."""
    cats = sorted({c for scores in table.values() for c in scores})
    return {c: next((n for n in sorted(table) if c in table[n] and table[n][c].found), None) for c in cats}


def fit_slope(freq: dict[str, float], sizes: dict[str, int | None]) -> tuple[float, float, int]:
    """Least-squares line log10(min_size) = a + slope * log10(frequency) over the categories found: (slope, a, number
    of points); NaN with fewer than two distinct sizes or frequencies."""
    pts = [(np.log10(freq[c]), np.log10(n)) for c, n in sizes.items() if n and freq.get(c, 0) > 0]
    if len({p[0] for p in pts}) < 2 or len({p[1] for p in pts}) < 2:
        return float("nan"), float("nan"), len(pts)
    x, y = np.array(pts).T
    slope, a = np.polyfit(x, y, 1)
    return float(slope), float(a), len(pts)


def completeness_entries(table: dict[int, dict[str, SizeScore]], too_few: list[str], freq: dict[str, float],
                         reach: dict[str, float] | None = None) -> dict:
    """`completeness.<c>.min_size` (a size, "not found up to N", "out of reach (...)" or "too few tokens"),
    `completeness.<c>.frequency` and `.perfect_detector`, `completeness.slope` (None when it cannot be fitted),
    `.n_found`, `.n_categories`, `.n_reachable`, `.sizes`."""
    top, mins = max(table), min_sizes(table)
    slope, _, n_pts = fit_slope(freq, mins)
    out = {"completeness.sizes": ",".join(str(n) for n in sorted(table)), "completeness.max_size": top,
           "completeness.n_found": n_pts,
           "completeness.n_categories": len(mins), "completeness.slope": round(slope, 3) if np.isfinite(slope) else None}
    if reach is not None:
        out["completeness.n_reachable"] = sum(not _out_of_reach(reach, c) for c in mins)
    for c, n in mins.items():
        out[f"completeness.{c}.min_size"] = n if n else (
            f"out of reach (a perfect detector scores {reach[c]:.2f} < {CORR_MIN})" if _out_of_reach(reach, c)
            else f"not found up to {top}")
        out[f"completeness.{c}.frequency"] = round(freq.get(c, 0.0), 6)
        if reach is not None and c in reach and np.isfinite(reach[c]):
            out[f"completeness.{c}.perfect_detector"] = round(reach[c], 3)
    out.update({f"completeness.{c}.min_size": TOO_FEW for c in too_few})
    return out


def completeness_table(table: dict[int, dict[str, SizeScore]], freq: dict[str, float],
                       reach: dict[str, float] | None = None) -> str:
    """One line per category, rarest first: its frequency, then per size the best feature's corr / specificity
    (a star where it qualifies), the smallest size that has one, and what a perfect detector scores (`reach`)."""
    sizes, mins = sorted(table), min_sizes(table)
    lines = [f"{'category':11s} {'share':>7s}" + "".join(f"{n:>14,d}" for n in sizes) + "  min size"
             + ("  perfect" if reach is not None else ""), f"{'':19s}" + "   corr / spec" * len(sizes)]
    for c in sorted(mins, key=lambda c: freq.get(c, 0.0)):
        cells = "".join(f"   {table[n][c].corr:4.2f} / {table[n][c].spec:4.2f}{'*' if table[n][c].found else ' '}"
                        for n in sizes)
        perfect = "" if reach is None or c not in reach else f"  {reach[c]:7.2f}" + (" (out of reach)"
                                                                                     if _out_of_reach(reach, c) else "")
        lines.append(f"{c:11s} {100 * freq.get(c, 0.0):6.2f}%{cells}  {str(mins[c] or 'none'):>8s}{perfect}")
    return "\n".join(lines)


def completeness_verdict(table: dict[int, dict[str, SizeScore]], freq: dict[str, float],
                         reach: dict[str, float] | None = None) -> str:
    """One sentence: how many categories got a feature (and how many could), the fitted slope and whether it points
    the 2024 paper's way."""
    mins = min_sizes(table)
    slope, _, n_pts = fit_slope(freq, mins)
    head = (f"{n_pts} of {len(mins)} categories have a feature (corr >= {CORR_MIN}, specificity >= {SPEC_MIN}) "
            f"in a dictionary of at most {max(table):,}")
    if reach is not None:
        out = [c for c in mins if _out_of_reach(reach, c)]
        head += (f"; {len(out)} of them are out of reach of that bar, since even a unit firing exactly on the category "
                 f"correlates below {CORR_MIN} with its paper proxy ({', '.join(out) or 'none'})")
    if not np.isfinite(slope):
        return head + "; too few distinct sizes or frequencies to fit a slope"
    way = "falls" if slope < 0 else "does not fall"
    return (head + f"; the size needed {way} with frequency (slope {slope:.2f} on log axes"
            + (", the 2024 paper's direction)" if slope < 0 else "; the 2024 paper found it falling)"))


def plot_completeness(freq: dict[str, float], sizes: dict[str, int | None], tried: list[int], ax=None):
    """Category frequency against the smallest dictionary with a feature for it, log axes; categories with none are
    open triangles above the largest size; the fitted line and the 2024 paper's trend (slope -1) beside it."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(6.5, 4.2))[1]
    found = {c: n for c, n in sizes.items() if n and freq.get(c, 0) > 0}
    missing = [c for c, n in sizes.items() if not n and freq.get(c, 0) > 0]
    above = max(tried) * 1.6
    ax.scatter([freq[c] for c in found], list(found.values()), color="C0", label="smallest size with a feature")
    ax.scatter([freq[c] for c in missing], [above] * len(missing), marker="^", facecolors="none", edgecolors="C3",
               label=f"none up to {max(tried):,}")
    for c in list(found) + missing:
        ax.annotate(c, (freq[c], found.get(c, above)), fontsize=7, xytext=(3, 3), textcoords="offset points")
    slope, a, n_pts = fit_slope(freq, sizes)
    xs = np.array([min(freq[c] for c in list(found) + missing), max(freq[c] for c in list(found) + missing)]) \
        if found or missing else np.array([1e-4, 1e-2])
    if np.isfinite(slope):
        ax.plot(xs, 10 ** (a + slope * np.log10(xs)), color="C0", label=f"fit: slope {slope:.2f} ({n_pts} categories)")
    if found:
        cx, cy = np.mean(np.log10([freq[c] for c in found])), np.mean(np.log10(list(found.values())))
        ax.plot(xs, 10 ** (cy - (np.log10(xs) - cx)), color="grey", linestyle=":", label="2024 paper's trend (slope -1)")
    ax.set(xscale="log", yscale="log", xlabel="category frequency (share of training tokens)",
           ylabel="dictionary size (features)")
    ax.set_yticks(sorted(tried), [f"{n:,}" for n in sorted(tried)])
    ax.legend(fontsize=7)
    return ax


def larger_size_cost(card: dict, n_features: int, n_acts: int) -> float:
    """Seconds to train one more sweep SAE of n_features on n_acts activations, from the main SAE's measured speed
    (`sae.A.acts_per_s` at `sae.A.n_features`; the cost of a step grows with the number of features)."""
    speed, n_main = card.get("sae.A.acts_per_s"), card.get("sae.A.n_features")
    if not speed or not n_main:
        raise ValueError("the scorecard has no sae.A.acts_per_s / sae.A.n_features; run notebook 03_train_sae first")
    return n_acts / (speed * n_main / n_features)


def larger_size_line(n_features: int, sizes: list[int], card: dict, n_acts: int, profile: str,
                     expected_walls: dict[str, float] | None = None) -> tuple[str, float]:
    """Whether a dictionary of n_features is in this run's sweep, and if not what it would cost against the profile's
    time budget, measured from this run (`expected_walls`: every notebook's estimated seconds, used for those this run
    has not recorded yet): (the sentence, the estimated seconds)."""
    cost = larger_size_cost(card, n_features, n_acts)
    if n_features in sizes:
        return f"{n_features:,} features: in this run's sweep (sae.sweep_sizes), scored above", cost
    head = (f"{n_features:,} features: not in this run's sweep. One more sweep SAE of that size on {n_acts:,} activations would take "
            f"~{cost:.0f} s at this run's measured SAE speed ({card['sae.A.acts_per_s']:,.0f} activations/s at "
            f"{card['sae.A.n_features']:,} features; a step's cost grows with the features), plus its encoding")
    return head + _budget_clause(card, cost, profile, expected_walls or {}) + ". Larger sizes go in sae.sweep_sizes (the paper profile's " \
        "sweep has them).", cost


def _budget_clause(card: dict, cost: float, profile: str, expected: dict[str, float]) -> str:
    """How that cost compares with the profile's budget and this run's wall time (recorded, else expected)."""
    budget = BUDGET_S.get(profile)
    if budget is None:
        return f"; the {profile} profile has no fixed time budget"
    recorded = {k[len("pipeline.wall_s."):]: v for k, v in card.items()
                if k.startswith("pipeline.wall_s.0") and isinstance(v, (int, float))}
    walls = {**expected, **recorded}
    if not walls:
        return (f", {cost / budget:.0%} of the {profile} profile's {budget} s budget (this run recorded no wall "
                f"times; `python -m monosem_lib run` does)")
    spent = sum(walls.values())
    how = "took" if set(walls) <= set(recorded) else "take (as recorded, and as estimated for those not yet recorded)"
    margin = budget - spent - cost
    verdict = (f"it would leave {margin:.0f} s, less than the {MARGIN:.0%} kept for slower machines: it does not fit"
               if margin < MARGIN * budget else f"it would leave {margin:.0f} s: it fits")
    return f"; the notebooks {how} {spent:.0f} s of the {profile} profile's {budget} s budget, so {verdict}"
