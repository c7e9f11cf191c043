"""Feature splitting: how features of a small dictionary map onto those of larger ones.

Decoder columns (rows of W_dec) of SAEs of different sizes trained on the same activations are
compared by cosine similarity; a feature of the smallest SAE and its close relatives (cosine ≥ 0.4,
the paper's mask) in each larger SAE form a "family". The 2-D map of decoder columns uses classical
MDS on cosine distance (UMAP is not installed): for unit vectors, squared distance is 2 − 2·cos, so
classical MDS equals PCA of the centred unit columns; we take the top two principal components.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from ..sae.model import SAE, load_sae


def load_sweep(run_dir: str | Path, sizes: tuple[int, ...], main: str = "A") -> dict[int, SAE]:
    """{n_features: SAE} for sae/A_<n> (each size of the sweep) and the main sae/A, smallest first."""
    run_dir = Path(run_dir)
    out = {}
    for n in sizes:
        path = run_dir / "sae" / f"{main}_{n}"
        if (path / "config.json").exists():
            out[n] = load_sae(path)
    sae = load_sae(run_dir / "sae" / main)
    out[sae.n_features] = sae
    return dict(sorted(out.items()))


def unit_dirs(sae: SAE) -> torch.Tensor:
    """Decoder columns at unit norm [n_features, d_mlp] (the 2024 recipe leaves their norms free)."""
    W = sae.W_dec.detach().float()
    return W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)


def cross_cosine(small: SAE, large: SAE) -> torch.Tensor:
    """[n_small, n_large] cosine similarity of decoder columns."""
    return unit_dirs(small) @ unit_dirs(large).T


def best_match(small: SAE, large: SAE) -> tuple[np.ndarray, np.ndarray]:
    """For every feature of `large`: its most similar feature in `small` and that cosine."""
    cos = cross_cosine(small, large)
    val, idx = cos.max(0)
    return idx.numpy(), val.numpy()


def family(saes: dict[int, SAE], root: int, threshold: float = 0.4, max_children: int = 8) -> dict[int, list]:
    """{n_features: [(feature, cosine to the root)]}: the root feature of the smallest SAE and, in each larger
    SAE, the features whose decoder column has cosine ≥ threshold with it (best first)."""
    sizes = sorted(saes)
    root_dir = unit_dirs(saes[sizes[0]])[root]
    out = {}
    for n in sizes:
        cos = unit_dirs(saes[n]) @ root_dir
        idx = torch.nonzero(cos >= threshold).flatten()
        idx = idx[torch.argsort(cos[idx], descending=True)][:max_children]
        out[n] = [(int(i), float(cos[i])) for i in idx]
    return out


def mds_2d(sae: SAE, features: np.ndarray | None = None) -> np.ndarray:
    """[k, 2] classical-MDS (cosine distance) coordinates of the decoder columns of `features` (default: all)."""
    W = unit_dirs(sae)
    if features is not None:
        W = W[torch.as_tensor(features, dtype=torch.long)]
    W = W - W.mean(0, keepdim=True)
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    return (U[:, :2] * S[:2]).numpy()


def plot_family(fam: dict[int, list], labels: dict[int, dict[int, str]] | None = None, ax=None):
    """The family as a small tree: one column per dictionary size, edges labelled by cosine to the root."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    sizes = sorted(fam)
    for x, n in enumerate(sizes):
        members = fam[n]
        for y, (i, c) in enumerate(members):
            yy = y - (len(members) - 1) / 2
            ax.scatter(x, yy, s=300 * max(c, 0.05), color="C0")
            text = f"#{i} ({c:.2f})" + (f"\n{labels[n].get(i, '')}" if labels and n in labels else "")
            ax.annotate(text, (x, yy), xytext=(8, 0), textcoords="offset points", fontsize=7, va="center")
            if x:
                ax.plot([x - 1, x], [0, yy], color="0.7", lw=0.8, zorder=0)
    ax.set_xticks(range(len(sizes)), [f"{n} features" for n in sizes])
    ax.set_yticks([])
    ax.set_xlim(-0.3, len(sizes) - 0.2)
    ax.set_title("a feature family: cosine ≥ 0.4 with the smallest dictionary's feature")
    return ax


def _umap_2d(W: np.ndarray, seed: int) -> np.ndarray:
    """UMAP of the rows of W with the paper's settings (runs in a worker process, see decoder_map_2d)."""
    import warnings

    import umap
    with warnings.catch_warnings():             # "n_jobs overridden by random_state": wanted (reproducible)
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_neighbors=15, metric="cosine", n_components=2, random_state=seed)
        return reducer.fit_transform(W).astype(np.float32)


def decoder_map_2d(sae: SAE, features: np.ndarray | None = None, method: str = "auto",
                   seed: int = 0) -> tuple[np.ndarray, str]:
    """([k, 2] coordinates, method) of the decoder columns: UMAP with the paper's settings (cosine metric,
    15 neighbours) when umap-learn is installed (method 'auto' or 'umap'), else classical MDS ('mds').

    UMAP runs in a spawned worker process: its numba / LLVM compilation needs ~400 MB that would otherwise
    stay in the notebook's kernel for good (measured: notebook 04's peak 3.21 GB in-process, see README).
    """
    if method not in ("auto", "umap", "mds"):
        raise ValueError(f"method={method!r} must be 'auto', 'umap' or 'mds'")
    if method != "mds":
        import importlib.util
        absent = sys.modules["umap"] is None if "umap" in sys.modules else importlib.util.find_spec("umap") is None
        if absent:
            if method == "umap":
                raise ImportError("UMAP needs umap-learn: pip install -c constraints.txt -e '.[interop]'")
        else:
            W = unit_dirs(sae)
            if features is not None:
                W = W[torch.as_tensor(features, dtype=torch.long)]
            if len(W) > 16:         # UMAP needs more points than neighbours; tiny maps fall back to MDS
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor
                with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
                    return pool.submit(_umap_2d, W.numpy(), seed).result(), "umap"
    return mds_2d(sae, features), "mds"


def map_figure(xy: np.ndarray, category: list[str], log_density: np.ndarray, hover: list[str]):
    """Interactive plotly scatter of the 2-D map, coloured by category, marker size by density."""
    import plotly.graph_objects as go
    size = 3 + 2 * np.clip(log_density - log_density.min(), 0, None)
    category, hover = np.asarray(category), np.asarray(hover)
    fig = go.Figure()
    for name in sorted(set(category.tolist())):
        m = category == name
        fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, text=hover[m],
                                   marker={"size": size[m], "line": {"width": 0}}))
    fig.update_layout(title="decoder columns, classical MDS on cosine distance", xaxis_title="MDS 1",
                      yaxis_title="MDS 2", legend_title="category")
    return fig
