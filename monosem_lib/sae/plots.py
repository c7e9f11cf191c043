"""Notebook 03's figures: training curves, the feature-density histogram, the resampling ablation, SAEs side by side."""
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


def plot_resampling_ablation(histories: dict[str, dict], evals: dict[str, dict], n_features: int, axes=None):
    """The resampling ablation: dead fraction over training per strategy, and the loss each recovers (with L0)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for s, h in histories.items():
        axes[0].plot(h["step"], np.array(h["dead"]) / n_features, label=s)
    axes[0].set(xlabel="step", ylabel="dead fraction (within window)", title="dead features during training")
    axes[0].legend(fontsize=8)
    names = list(evals)
    rec = [evals[s]["loss_recovered"] for s in names]
    axes[1].bar(names, rec, color="tab:blue")
    for i, s in enumerate(names):
        axes[1].text(i, rec[i], f"{rec[i]:.1%}\nL0 {evals[s]['l0']:.0f}", ha="center", va="bottom", fontsize=8)
    axes[1].set(ylabel="loss recovered (vs zero ablation)", title="held-out loss recovered", ylim=(min(0, *rec), 1.15))
    return axes


def plot_sae_comparison(saes: dict[str, tuple[dict, dict, dict]], axes=None):
    """SAEs side by side from {name: (sae_stats, loss_recovered, density_stats)}: L0 vs loss recovered, FVU, dead."""
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for n, (s, r, _) in saes.items():
        axes[0].scatter(s["l0"], r["loss_recovered"])
        axes[0].annotate(n, (s["l0"], r["loss_recovered"]), xytext=(4, 4), textcoords="offset points", fontsize=8)
    axes[0].set(xlabel="L0 (features per token)", ylabel="loss recovered (vs zero ablation)", title="SAEs on LM A")
    axes[1].bar(list(saes), [s["fvu"] for s, _, _ in saes.values()])
    axes[1].set(ylabel="FVU (held-out)", title="reconstruction error")
    axes[2].bar(list(saes), [d["dead_frac"] for _, _, d in saes.values()])
    axes[2].set(ylabel="dead fraction (training counts)", title="dead features")
    for ax in axes[1:]:
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return axes
