"""Category features and their twins: A's best feature for each corpus category, its twin in B, as a table."""
from __future__ import annotations

import numpy as np
import torch

from .matching import MaxCorr, category_indicators, max_correlation


def category_twins(categories: np.ndarray, names: list[str], f_a: torch.Tensor, f_b: torch.Tensor,
                   feat: MaxCorr) -> list[dict]:
    """Per category with evaluation tokens: A's feature that best tracks its document indicator, that feature's
    twin in B (`feat`, the A-vs-B best match) and how each tracks the indicator; one dict per category."""
    onehot = category_indicators(categories, len(names))
    cat_a = max_correlation(onehot, f_a)
    cat_b = max_correlation(onehot, f_b, keep_matrix=True).matrix
    table = []
    for c, cat in enumerate(names):
        if not cat_a.alive_a[c]:
            continue                                   # no evaluation tokens of this category
        fa = int(cat_a.argmax[c])
        fb = int(feat.argmax[fa])
        table.append({"category": cat, "share": float(onehot[:, c].mean()), "feature_A": fa,
                      "corr_cat_A": float(cat_a.max[c]), "twin_B": fb, "corr_cat_B": float(cat_b[c, fb]),
                      "twin_corr": float(feat.max[fa])})
    return table


def format_twin_table(table: list[dict]) -> str:
    """The category table as text: share, A's feature and its category correlation, B's twin and its, A~B."""
    lines = [f"{'category':10s} {'tokens':>7s} {'A feat':>7s} {'A~cat':>6s} {'B twin':>7s} {'B~cat':>6s} {'A~B':>6s}"]
    for r in table:
        lines.append(f"{r['category']:10s} {r['share']:7.2%} {r['feature_A']:7d} {r['corr_cat_A']:6.2f} "
                     f"{r['twin_B']:7d} {r['corr_cat_B']:6.2f} {r['twin_corr']:6.2f}")
    return "\n".join(lines)


def shared_unit_notes(table: list[dict]) -> list[str]:
    """A note for each feature that is A's best feature, or B's twin, for more than one category of `table`."""
    notes = []
    for key, who in (("feature_A", "A's best feature"), ("twin_B", "B's twin")):
        by_unit: dict[int, list[str]] = {}
        for r in table:
            by_unit.setdefault(r[key], []).append(r["category"])
        notes += [f"note: feature {u} is {who} for {len(cats)} categories ({', '.join(cats)}): it is not specific "
                  "to any one of them, so read its row as a shared, broader feature" for u, cats in by_unit.items()
                  if len(cats) > 1]
    return notes
