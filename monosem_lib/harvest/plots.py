"""Notebook 02's figures: neuron densities and the categories among a neuron's top activations."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


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
