"""Notebook 03's figures: SAE training curves and the paper's feature-density histogram."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_sae_training(histories: dict[str, dict], axes=None):
    """Three panels per run: loss, L0 and dead features over training; resampling steps as dotted lines."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for (name, h), color in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        for ax, key in zip(axes, ("loss", "l0", "dead")):
            ax.plot(h["step"], h[key], color=color, label=name)
            for r in h.get("resample", []):
                ax.axvline(r["step"], color=color, linestyle=":", alpha=0.6)
    for ax, title in zip(axes, ("SAE loss (MSE + λ·L1)", "L0: active features per token",
                                "dead features (not fired within the window)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    return axes


def plot_feature_density(density: np.ndarray, n_tokens: int, ax=None, label: str = "features"):
    """The paper's log10 feature-density histogram; dead features (never fired on n_tokens) in the title."""
    density = np.asarray(density, dtype=float)
    alive = density[density > 0]
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    ax.hist(np.log10(alive), bins=50, color="tab:blue")
    ax.axvline(np.log10(1.0 / n_tokens), color="grey", linestyle=":", label=f"resolution 1/{n_tokens:,}")
    ax.axvline(-2, color="tab:red", linestyle="--", label="1% density")
    ax.set_xlabel("log10(feature density: fraction of tokens on which it fires)")
    ax.set_ylabel(f"number of {label}")
    ax.set_title(f"{len(density):,} {label}: {len(density) - len(alive):,} never fired on {n_tokens:,} tokens",
                 fontsize=10)
    ax.legend(fontsize=8)
    return ax
