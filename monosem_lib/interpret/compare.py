"""Score any SAE the way notebook 04 scores the main one: autointerp median and the proxy table.

Used for the controls (an SAE on the random-weight LM, a second SAE seed) and for the recipe that is not
the main one, so that every headline figure has its yardstick computed by the very same code.
"""
from __future__ import annotations

import numpy as np

from . import autointerp, categories, dial
from .feature_stats import UnitActs


def score_codes(codes, cp: categories.CategoryProxies, text: autointerp.HeldoutText, n_score: int,
                explainer: autointerp.Explainer | None = None) -> dict:
    """{'autointerp': scores of n_score random live features, 'proxies': the paper's proxy per category (best feature
    only)} for an SAE's CSR codes on the first rows of the evaluation tokens."""
    ua = UnitActs.from_csr(codes)
    units, explainer = autointerp.pick_units(ua, n_score), explainer or autointerp.ConciseExplainer()
    scores = np.array([autointerp.score_unit(ua, int(i), text, explainer)[0] for i in units])
    corr = categories.feature_correlations(codes, cp)
    n_tokens = {c: int(m[:codes.shape[0]].sum()) for c, m in cp.in_cat.items()}
    return {"autointerp": scores, "proxies": categories.best_units(corr, None, cp, "proxy", n_tokens)}


def comparison_entries(result: dict, prefix: str) -> dict:
    """`<prefix>autointerp_median.features` and `<prefix>proxy.<c>.*` for one scored SAE."""
    med = float(np.median(result["autointerp"])) if len(result["autointerp"]) else float("nan")
    return {f"{prefix}autointerp_median.features": round(med, 3),
            **dial.scorecard_entries(result["proxies"], prefix=f"{prefix}proxy")}


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_card(card: dict, prefix: str, paper: dict[str, tuple[str, str]] | None = None) -> str:
    """The scorecard's `<prefix>.*` keys, readable: single figures one a line (with the paper's, where there is
    one); keys `<prefix>.<group>.<row>.<column>` as one small table per group (a status column last)."""
    paper, singles, groups = paper or {}, [], {}
    for key, value in card.items():
        if not key.startswith(prefix + "."):
            continue
        parts = key[len(prefix) + 1:].split(".")
        if len(parts) == 3:
            groups.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            singles.append(key)
    w = max([len(k) for k in singles] + [10])
    lines = [f"{k:{w}s} {_cell(card[k]):>9s}" + (f"   (paper: {paper[k][0]})" if k in paper else "") for k in singles]
    for g, rows in groups.items():
        cols = [c for c in dict.fromkeys(c for r in rows.values() for c in r) if c != "status"]
        sw = max((len(str(r.get("status", ""))) for r in rows.values()), default=0)
        lines += ["", f"{prefix}.{g}.<row>.<column>:",
                  f"{'':12s}" + "".join(f"{c:>14s}" for c in cols) + (f"  {'status':{sw}s}" if sw else "")]
        for r in sorted(rows, key=lambda r: (0, int(r), "") if r.isdigit() else (1, 0, r)):
            ref = ", ".join(f"{c} {paper[k][0]}" for c in cols if (k := f"{prefix}.{g}.{r}.{c}") in paper)
            status = f"  {str(rows[r].get('status', '')):{sw}s}" if sw else ""
            lines.append(f"{r:12s}" + "".join(f"{_cell(rows[r][c]) if c in rows[r] else '':>14s}" for c in cols)
                         + status + (f"   (paper: {ref})" if ref else ""))
    return "\n".join(line.rstrip() for line in lines)
