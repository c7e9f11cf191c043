"""Notebook 00's figures: the toy models' Wᵀ W and feature norms per sparsity; SAE recovery vs controls."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from .model import ToyModel, superposition_stats
from .recovery import cosine_matrix, matched_cosine


@torch.no_grad()
def plot_superposition(model: ToyModel):
    """Elhage et al.'s figure: Wᵀ W per sparsity (top) and each feature's ‖W_i‖ (bottom), coloured by its
    interference Σ_{j≠i} (Ŵ_i·W_j)² on one absolute scale for every sparsity (0: a dimension to itself, ≥ 1:
    as much overlap as a whole feature), with a colour bar for each row."""
    W, S = model.W.detach(), model.cfg.sparsities
    stats = superposition_stats(W)
    fig, axes = plt.subplots(2, len(S), figsize=(2.6 * len(S) + 1.2, 5.4), squeeze=False)
    interfere = Normalize(0.0, 1.0)
    for i, s in enumerate(S):
        im = axes[0, i].imshow((W[i].T @ W[i]).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        axes[0, i].set_title(f"S = {s:g}\n{stats['n_represented'][i]} of {W.shape[2]} represented", fontsize=9)
        axes[0, i].set_xticks([]), axes[0, i].set_yticks([])
        unit = W[i] / W[i].norm(dim=0, keepdim=True).clamp_min(1e-9)
        interference = ((unit.T @ W[i]) ** 2).sum(1) - (unit * W[i]).sum(0) ** 2   # Σ_{j≠i} (Ŵ_i·W_j)²
        axes[1, i].barh(range(W.shape[2]), stats["norms"][i].numpy(), color=plt.cm.viridis(interfere(interference.numpy())))
        axes[1, i].invert_yaxis(), axes[1, i].set_xlim(0, 1.3)
        axes[1, i].set_xlabel("‖W_i‖", fontsize=8)
    axes[0, 0].set_ylabel("Wᵀ W (features x features)")
    axes[1, 0].set_ylabel("feature (importance falls ↓)")
    fig.colorbar(im, ax=list(axes[0]), label="(Wᵀ W)_ij: ‖W_i‖² on the diagonal,\noverlap off it", fraction=0.02)
    fig.colorbar(ScalarMappable(interfere, plt.cm.viridis), ax=list(axes[1]), fraction=0.02,
                 label="interference Σ_j≠i (Ŵ_i·W_j)²\n(clipped at 1)")
    return fig


@torch.no_grad()
def plot_recovery(true_dirs: torch.Tensor, learned: dict[str, torch.Tensor]):
    """Left: cosines of true features with their matched SAE features; right: best cosine per true feature."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    name0, sae_dirs = next(iter(learned.items()))
    _, cols = matched_cosine(true_dirs, sae_dirs)
    im = a.imshow(cosine_matrix(true_dirs, sae_dirs[cols]).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    a.set_title(f"true features vs their matched {name0} features", fontsize=10)
    a.set_xlabel("matched learned feature"), a.set_ylabel("true feature")
    fig.colorbar(im, ax=a, label="cosine")
    for name, dirs in learned.items():
        b.hist(cosine_matrix(true_dirs, dirs).max(1).values.numpy(), bins=40, range=(0, 1), alpha=0.6, label=name)
    b.set_xlabel("best cosine of each true feature with any learned direction"), b.set_ylabel("true features")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig
