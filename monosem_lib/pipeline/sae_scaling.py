"""The SAE scaling view (Templeton et al. 2024): SAE loss against training compute, over dictionary size x activations.

    python -m monosem_lib batch --profile classroom --seeds 0 --only 01,02,03 --grid sae.n_features=1024,2048,4096 \
        --grid sae.n_acts=225000,450000,900000 -p sae.controls=false --out runs/sae_scaling
    python -m monosem_lib sae-scaling runs/sae_scaling     # sae_scaling.png and sae_scaling.md beside batch.json

Compute is the SAE's matmul FLOPs, C = 12 · d_mlp · n_features · n_acts (encoder and decoder, forward and backward).
The loss is a scorecard key, by default `sae.A.fvu` (the held-out reconstruction error over the variance: the
loss term that does not depend on λ). The fitted power law L = a · C^b runs through the compute-efficient frontier:
at each compute, the lowest loss any point reached at that compute or less.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .scale import _mean, load_batch, parse_point, write_view

FEATURES_KEY, ACTS_KEY = "sae.n_features", "sae.n_acts"
LOSS_KEY = "sae.A.fvu"


def flops(d_mlp: int, n_features: float, n_acts: float) -> float:
    """The SAE's training FLOPs: 12 · d_mlp · n_features per activation (two matmuls, forward and backward)."""
    return 12.0 * d_mlp * n_features * n_acts


def scaling_points(batch: dict, d_mlp: int, key: str = LOSS_KEY) -> list[dict]:
    """[{n_features, n_acts, compute, loss, std}] of a batch gridded over both (a one-line error otherwise)."""
    pts = []
    for label, stats in batch.get("points", {}).items():
        p = parse_point(label)
        if not isinstance(p.get(FEATURES_KEY), float) or not isinstance(p.get(ACTS_KEY), float):
            raise ValueError(f"batch point {label!r} is not on a {FEATURES_KEY} x {ACTS_KEY} grid; run the batch in "
                             f"monosem_lib/pipeline/sae_scaling.py's docstring")
        loss, std = _mean(stats, key)
        pts.append({"n_features": p[FEATURES_KEY], "n_acts": p[ACTS_KEY], "loss": loss, "std": std,
                    "compute": flops(d_mlp, p[FEATURES_KEY], p[ACTS_KEY])})
    if not any(math.isfinite(p["loss"]) and p["loss"] > 0 for p in pts):
        raise ValueError(f"no point of the batch has a positive {key}; did its runs reach notebook 03?")
    return sorted(pts, key=lambda p: (p["n_features"], p["n_acts"]))


def frontier(points: list[dict]) -> list[dict]:
    """The compute-efficient points: each one's loss is below that of every point of less compute."""
    out, best = [], math.inf
    for p in sorted((p for p in points if math.isfinite(p["loss"]) and p["loss"] > 0), key=lambda p: p["compute"]):
        if p["loss"] < best:
            out.append(p)
            best = p["loss"]
    return out


def fit_power_law(compute: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """(a, b) of loss = a · compute^b by least squares on log-log axes (NaN with fewer than two computes)."""
    x, y = np.log(np.asarray(compute, float)), np.log(np.asarray(loss, float))
    if len(set(x.tolist())) < 2:
        return math.nan, math.nan
    b, log_a = np.polyfit(x, y, 1)
    return float(math.exp(log_a)), float(b)


def plot_scaling(points: list[dict], key: str = LOSS_KEY):
    """Loss against compute (log-log), one line per dictionary size, the frontier's power law dashed."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    for j, n in enumerate(sorted({p["n_features"] for p in points})):
        row = [p for p in points if p["n_features"] == n]
        ax.errorbar([p["compute"] for p in row], [p["loss"] for p in row], yerr=[p["std"] for p in row], fmt="o-",
                    capsize=3, color=f"C{j}", label=f"{n:,.0f} features")
    front = frontier(points)
    a, b = fit_power_law([p["compute"] for p in front], [p["loss"] for p in front])
    if math.isfinite(b):
        xs = np.geomspace(min(p["compute"] for p in points), max(p["compute"] for p in points), 50)
        ax.plot(xs, a * xs ** b, "k--", label=f"frontier fit: loss = {a:.3g} · C^{b:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="SAE training compute C (FLOPs)", ylabel=key,
           title="SAE loss against compute")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def scaling_markdown(points: list[dict], key: str = LOSS_KEY) -> str:
    """The points as a table (frontier points starred) and the fitted law in one line."""
    front = {id(p) for p in frontier(points)}
    lines = [f"| n_features | n_acts | compute (FLOPs) | `{key}` |", "|---|---|---|---|"]
    for p in points:
        star = " *" if id(p) in front else ""
        lines.append(f"| {p['n_features']:,.0f} | {p['n_acts']:,.0f} | {p['compute']:.3g} | "
                     f"{p['loss']:.4g} ± {p['std']:.2g}{star} |")
    fp = frontier(points)
    a, b = fit_power_law([p["compute"] for p in fp], [p["loss"] for p in fp])
    fit = f"loss = {a:.4g} · C^{b:.4f} over the {len(fp)} frontier points (*)" if math.isfinite(b) else \
        "too few frontier points to fit a power law"
    return "\n".join(lines) + f"\n\nFitted: {fit}.\n"


def write_sae_scaling(batch_dir: str | Path, key: str = LOSS_KEY) -> tuple[Path, Path]:
    """sae_scaling.png and sae_scaling.md from batch_dir/batch.json; returns their paths."""
    batch, cfg = load_batch(Path(batch_dir), "sae_scaling")
    points = scaling_points(batch, cfg.lm.d_mlp, key)
    return write_view(Path(batch_dir), "sae_scaling", plot_scaling(points, key), scaling_markdown(points, key))
