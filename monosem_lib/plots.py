"""Matplotlib figures shared by the notebooks (static, so they survive papermill and nbval)."""
from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from .corpus import Document


def plot_category_shares(docs: list[Document], ax=None):
    """Horizontal bars: share of corpus characters per category."""
    chars = Counter()
    for d in docs:
        chars[d.category] += len(d.text)
    cats = sorted(chars, key=chars.get)
    total = sum(chars.values())
    ax = ax or plt.subplots(figsize=(6, 0.35 * len(cats) + 1))[1]
    ax.barh(cats, [chars[c] / total for c in cats], color="tab:blue")
    ax.set_xlabel("share of characters")
    ax.set_title(f"corpus: {total / 1e6:.1f}M characters, {len(docs):,} documents")
    return ax


def smooth(values: list[float], window: int = 20) -> np.ndarray:
    """Trailing moving average (short series are returned as they are)."""
    v = np.asarray(values, dtype=float)
    if len(v) < window:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    head = c[1:window] / np.arange(1, window)
    return np.concatenate([head, (c[window:] - c[:-window]) / window])


def plot_training_curves(histories: dict[str, dict], baselines: dict[str, float] | None = None, ax=None):
    """Training loss (smoothed) and validation loss per model, with horizontal baseline lines."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for (name, h), color in zip(histories.items(), ("tab:blue", "tab:orange", "tab:green")):
        ax.plot(h["step"], smooth(h["loss"]), color=color, label=f"LM {name} train (smoothed)")
        if h.get("val_step"):
            ax.plot(h["val_step"], h["val_loss"], "o--", color=color, label=f"LM {name} val")
    for (name, value), style in zip((baselines or {}).items(), (":", "-.", "--")):
        ax.axhline(value, color="grey", linestyle=style, label=f"{name} baseline")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=8)
    return ax


def plot_neuron_density(density: np.ndarray, ax=None, label: str = "neurons"):
    """Histogram of log10(fraction of tokens on which each unit fires); never-firing units counted in the title."""
    density = np.asarray(density, dtype=float)
    alive = density[density > 0]
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    ax.hist(np.log10(alive), bins=40, color="tab:blue")
    ax.set_xlabel("log10(fraction of tokens with activation > 0)")
    ax.set_ylabel(f"number of {label}")
    ax.set_title(f"{len(density):,} {label}: {len(density) - len(alive):,} never fire, "
                 f"median density {np.median(density):.3f}")
    return ax


def plot_top_categories(counts: np.ndarray, labels: list[str], category_names: list[str],
                        base_share: np.ndarray | None = None):
    """One bar chart per row of counts [n, C]: corpus categories among a unit's top activations.

    `base_share` (the categories' shares among all rows) is drawn as the count expected by chance.
    """
    counts = np.atleast_2d(counts)
    fig, axes = plt.subplots(1, len(counts), figsize=(3.6 * len(counts), 0.3 * len(category_names) + 1.4),
                             sharey=True, squeeze=False)
    y = np.arange(len(category_names))
    for ax, row, label in zip(axes[0], counts, labels):
        ax.barh(y, row, color="tab:orange")
        if base_share is not None:
            ax.plot(np.asarray(base_share) * row.sum(), y, "k|", markersize=12, label="expected by chance")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("top activations")
    axes[0][0].set_yticks(y, category_names)
    axes[0][0].invert_yaxis()                     # first category on top
    if base_share is not None:
        axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


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
