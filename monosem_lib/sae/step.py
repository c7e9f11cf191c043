"""One SAE training step, and what it starts from: a fresh SAE and its optimiser.

    gradients (exact, sparse once L0 is small) -> the recipe's auxiliary loss (TopK: AuxK on dead features)
    -> averaged over ranks (torchrun) -> the recipe's gradient constraint -> Adam -> its weight constraint

For the paper's recipe the constraints are the decoder-gradient projection and the renormalisation of the
decoder rows (Bricken et al. 2023, 'The sparse autoencoder'); notebook 03's Exercise A writes this step by hand.
"""
from __future__ import annotations

import math

import torch

from ..config import SAEConfig
from ..distributed import SINGLE, Dist, average_grads, mean_over_ranks, sum_over_ranks
from .grads import sae_grads, sae_loss
from .model import SAE, geometric_median

SPARSE_BELOW = 0.08        # use the sparse path while the last step's density (L0 / n_features) is below this
MODES = ("auto", "dense", "reference")


def make_optimizer(sae: SAE, lr: float) -> torch.optim.Adam:
    """Adam(0.9, 0.999), no weight decay; the fused kernel where the device has one (same maths)."""
    fused = sae.W_enc.device.type in ("cpu", "cuda")
    return torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999), fused=fused)


@torch.no_grad()
def init_sae(d_mlp: int, cfg: SAEConfig, sample: torch.Tensor) -> SAE:
    """A fresh SAE: input scale so that E‖x‖² = d_mlp (cfg.normalize, or a recipe that always normalises),
    b_dec = geometric median."""
    sae = SAE(d_mlp, cfg.n_features, cfg.recipe, seed=cfg.seed, k=cfg.k).to(sample.device)
    if sae.recipe.always_normalize or cfg.normalize:
        sae.scale.fill_((d_mlp / sample.pow(2).sum(1).mean().clamp_min(1e-12)).sqrt())
    sae.b_dec.copy_(geometric_median(sample * sae.scale))
    return sae


def gradients(sae: SAE, opt: torch.optim.Optimizer, x: torch.Tensor, l1_coeff: float, mode: str,
              density: float) -> dict:
    """Loss and gradients of batch x: exact manual gradients (sparse path once the last step's density is below
    SPARSE_BELOW, mode 'auto'; dense, mode 'dense') or plain autograd (mode 'reference', the benchmark's baseline)."""
    if mode != "reference":
        return sae_grads(sae, x, l1_coeff, sparse=mode == "auto" and density < SPARSE_BELOW)
    opt.zero_grad(set_to_none=True)
    loss, mse, f = sae_loss(sae, x, l1_coeff)
    loss.backward()
    active = f.detach() > 0
    return {"loss": loss.detach(), "mse": mse.detach(), "l0": active.sum(1).float().mean(), "counts": active.sum(0),
            "density": 1.0}


def add_aux_loss(sae: SAE, x: torch.Tensor, out: dict, dead: torch.Tensor | None, aux: tuple[float, int]) -> None:
    """The recipe's auxiliary loss on the `dead` features (TopK: AuxK on the residual x − x̂), into out['loss']."""
    if dead is None or not bool(dead.any()):
        return
    if "dL_dxhat" in out:                                                    # dL/dx̂ = 2(x̂ − x)/N  ->  x − x̂
        residual = out["dL_dxhat"].mul(-0.5 * out["dL_dxhat"].numel())
    else:                                                                    # the autograd reference: recompute
        with torch.no_grad():
            residual = x - sae.decode_scaled(sae.activate(sae.pre_acts(x), train_batch=True))
    aux_loss = sae.recipe.aux_grads(sae, x, residual, dead, *aux)
    if aux_loss is not None:
        out["aux"] = aux_loss
        out["loss"] = out["loss"] + aux_loss


def reduce_over_ranks(sae: SAE, out: dict, n_local: int, dist: Dist) -> None:
    """torchrun: gradients and logged numbers averaged over ranks (weighted by rows), firing counts summed."""
    average_grads(list(sae.parameters()), n_local, dist)
    out["loss"], out["mse"], out["l0"] = mean_over_ranks(torch.stack([out["loss"].detach(), out["mse"].detach(),
                                                                      out["l0"].float()]), n_local, dist)
    out["counts"] = sum_over_ranks(out["counts"].clone(), dist)
    if out.get("kept_min") is not None:
        out["kept_min"] = mean_over_ranks(out["kept_min"].detach().reshape(1), 1, dist)[0]


def train_step(sae: SAE, opt: torch.optim.Optimizer, x: torch.Tensor, l1_coeff: float, mode: str = "auto",
               density: float = 1.0, dead: torch.Tensor | None = None, aux: tuple[float, int] = (0.0, 0),
               dist: Dist = SINGLE) -> dict:
    """One Adam step on batch x (scaled space); a non-finite loss skips the update and returns ok=False.

    `dead` (bool [n]) and `aux` = (coefficient, k_aux): the recipe's auxiliary loss (TopK's AuxK);
    out['kept_min'] (BatchTopK) is what train_sae folds into θ. `dist`: x is this rank's slice.
    """
    out = gradients(sae, opt, x, l1_coeff, mode, density)
    add_aux_loss(sae, x, out, dead, aux)
    if dist.enabled:
        reduce_over_ranks(sae, out, len(x), dist)
    out["ok"] = math.isfinite(out["loss"].item())
    if out["ok"]:
        sae.recipe.constrain_grads(sae)
        opt.step()
        sae.recipe.constrain_weights(sae)
    return out
