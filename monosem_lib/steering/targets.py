"""What notebook 06 steers with: notebook 04's feature per category and its activations on the evaluation tokens.

The features are the ones notebook 04 found best by the paper's proxies on a million evaluation tokens
(`eval/category_features.json`); their maxima, the paper's pinning strength (k = 1), come from the same tokens
(the cached codes), not from a held-out sample of a few hundred thousand rows.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..io import load_json

REDO_04 = "run notebook 04_interpret_features first (it picks each category's feature)"


def load_category_features(run_dir: str | Path) -> dict[str, dict]:
    """{category: {feature, corr, yardstick, max_act}} as notebook 04 wrote it, or a one-line error naming 04."""
    path = Path(run_dir) / "eval" / "category_features.json"
    if not path.exists():
        raise FileNotFoundError(f"no category features at {path}; {REDO_04}")
    return load_json(path, advice=f"delete it and {REDO_04}")


def column_stats(codes: torch.Tensor, feature: int) -> dict[str, float]:
    """One feature's largest activation, the row where it occurs and its mean over all rows (CSR codes)."""
    col = codes.col_indices().long()
    where = torch.nonzero(col == int(feature)).squeeze(1)
    if not len(where):
        return {"max": 0.0, "row": -1, "mean": 0.0}
    vals = codes.values()[where]
    k = int(vals.argmax())
    row = int(torch.searchsorted(codes.crow_indices().long(), where[k], right=True)) - 1
    return {"max": float(vals[k]), "row": row, "mean": float(vals.sum()) / codes.shape[0]}


def column_max(codes: torch.Tensor) -> torch.Tensor:
    """[n_features] every feature's largest activation over the rows of CSR codes (0 where it never fires)."""
    out = torch.zeros(codes.shape[1])
    return out.scatter_reduce_(0, codes.col_indices().long(), codes.values().float(), "amax")
