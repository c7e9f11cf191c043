"""Universality by feature density: how a unit's best-match correlation depends on how often it fires.

A feature that fires 3 times in the evaluation tokens has a best match decided by 3 tokens; the paper's
"high density cluster" (1e-5 ... 1e-4) needs millions of tokens to be seen at all. So the median is reported
per density decade beside the headline, with each bin's count, for features and for neurons alike.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch


def firing_counts(codes: torch.Tensor) -> np.ndarray:
    """Rows on which each column of a CSR (or dense) matrix is non-zero."""
    if codes.layout == torch.sparse_csr:
        return torch.bincount(codes.col_indices(), minlength=codes.shape[1]).numpy()
    return (codes != 0).sum(0).cpu().numpy()


def bin_name(lo: float, hi: float) -> str:
    """'1e-05_1e-04'-style names (no dots: scorecard keys are dotted paths)."""
    return f"{lo:.0e}_{hi:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def density_edges(n_rows: int) -> list[float]:
    """Decade edges from the evaluation's resolution (one firing in n_rows) up to 1."""
    lowest = math.floor(math.log10(1 / max(n_rows, 1)))
    return [10.0 ** k for k in range(lowest, 1)]


def by_density(max_corr: np.ndarray, counts: np.ndarray, n_rows: int) -> dict[str, dict]:
    """{bin name: {'n': units firing at that density, 'median': their median best correlation}} (live units only)."""
    dens = counts / max(n_rows, 1)
    live = (counts > 0) & np.isfinite(max_corr)
    edges = density_edges(n_rows)
    out = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = live & (dens >= lo) & ((dens < hi) if hi < 1 else (dens <= hi))
        out[bin_name(lo, hi)] = {"n": int(sel.sum()), "median": float(np.median(max_corr[sel])) if sel.any() else float("nan")}
    return out


def scorecard_entries(bins: dict[str, dict], prefix: str) -> dict:
    """`<prefix>.<bin>.n` and `.median` (a bin without units has n 0 and no median key)."""
    out = {}
    for name, b in bins.items():
        out[f"{prefix}.{name}.n"] = b["n"]
        if b["n"]:
            out[f"{prefix}.{name}.median"] = round(b["median"], 4)
    return out


def plot_by_density(units: dict[str, tuple[np.ndarray, np.ndarray]], n_rows: int, paper_band=(1e-5, 1e-4)):
    """Two panels: best-match correlation against density (log x) per unit kind, and the density histograms.

    `units`: {label: (max_corr [m], firing counts [m])}. The paper's high-density cluster is shaded.
    """
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    edges = density_edges(n_rows)
    for k, (label, (mc, counts)) in enumerate(units.items()):
        live = (counts > 0) & np.isfinite(mc)
        d = counts[live] / n_rows
        ax.scatter(d, mc[live], s=3, alpha=0.35, color=f"C{k}", label=f"{label} ({live.sum():,} live)")
        med = by_density(mc, counts, n_rows)
        centres = [math.sqrt(lo * hi) for lo, hi in zip(edges[:-1], edges[1:])]
        ys = [b["median"] if b["n"] >= 5 else np.nan for b in med.values()]
        ax.plot(centres, ys, "o-", color=f"C{k}", lw=2, markeredgecolor="k", label=f"{label}: median per decade")
        hx.hist(d, bins=np.logspace(math.log10(edges[0]), 0, 4 * (len(edges) - 1) + 1), color=f"C{k}", alpha=0.5,
                label=label)
    for a in (ax, hx):
        a.axvspan(*paper_band, color="0.9", zorder=0)
        a.set_xscale("log")
    ax.set(ylabel="best correlation in the other model", ylim=(-0.05, 1.02),
           title=f"Universality against density ({n_rows:,} evaluation tokens; grey: the paper's high-density cluster)")
    ax.legend(fontsize=7, loc="upper left")
    hx.set(xlabel="density (share of evaluation tokens on which the unit fires)", ylabel="units")
    hx.legend(fontsize=7)
    fig.tight_layout()
    return fig
