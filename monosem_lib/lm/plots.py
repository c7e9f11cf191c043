"""Notebook 01's figures: the corpus mixture and the LM training curves (matplotlib, static)."""
from __future__ import annotations

from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from ..text.corpus import Document


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
