"""Dead-feature resampling (Bricken et al. 2023, 'Neuron resampling'): a strategy of its own, optional for any recipe.

`sae.resampling` picks one of `RESAMPLING` ('paper': from the inputs the SAE reconstructs worst; 'reinit': fresh
random rows), 'none', or 'auto' (the recipe's own: the paper's rule for the 2023 recipe, none for the others,
which answer dead features in their own way). *When* to resample (the schedule) lives in train.py.
"""
from __future__ import annotations

from typing import Callable

import torch

from .model import SAE
from .recipes import get_recipe

Rule = Callable[[SAE, torch.Tensor, torch.Tensor, float, torch.Generator], None]


@torch.no_grad()
def per_input_loss(sae: SAE, x: torch.Tensor, l1_coeff: float, chunk: int = 4096) -> torch.Tensor:
    """The SAE loss of each row of x (already in the SAE's scaled space): MSE + λ·penalty."""
    out = []
    for i in range(0, len(x), chunk):
        xc = x[i:i + chunk]
        f = sae.encode_scaled(xc)
        out.append((sae.decode_scaled(f) - xc).pow(2).mean(1) + l1_coeff * sae.recipe.penalty_per_row(sae, f))
    return torch.cat(out)


def reset_adam_rows(opt: torch.optim.Optimizer, param: torch.Tensor, rows: torch.Tensor) -> None:
    """Zero both Adam moments of `rows` of one parameter (looked up by the parameter itself)."""
    state = opt.state.get(param, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            state[key][rows] = 0.0


def paper_rule(sae: SAE, dead: torch.Tensor, pool: torch.Tensor, l1_coeff: float, gen: torch.Generator) -> None:
    """Draw one pool input per dead feature with probability ∝ (its SAE loss)², without replacement while the
    pool allows; decoder row ← input / ‖input‖ (× the recipe's row norm); encoder row ← input / ‖input‖ × 0.2 ×
    mean ‖encoder row‖ of the alive features."""
    idx = dead.nonzero().squeeze(1)
    p = per_input_loss(sae, pool, l1_coeff).double().pow(2)
    p = p if p.sum() > 0 else torch.ones_like(p)
    pick = torch.multinomial(p, len(idx), replacement=len(idx) > int((p > 0).sum()), generator=gen)
    x = pool[pick]
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = sae.W_enc[alive].norm(dim=1).mean() if alive.any() else torch.tensor(1.0)
    sae.W_dec[idx] = sae.recipe.decoder_norm * x
    sae.W_enc[idx] = 0.2 * enc_norm * x


def reinit_rule(sae: SAE, dead: torch.Tensor, pool: torch.Tensor, l1_coeff: float, gen: torch.Generator) -> None:
    """Random rows as at initialisation (the ablation's control for the paper's choice of inputs)."""
    n, d = int(dead.sum()), sae.arch.d_mlp
    sae.W_enc[dead] = torch.empty(n, d, device=pool.device).uniform_(-d ** -0.5, d ** -0.5, generator=gen)
    w = torch.randn(n, d, device=pool.device, generator=gen)
    sae.W_dec[dead] = sae.recipe.decoder_norm * w / w.norm(dim=1, keepdim=True)


RESAMPLING: dict[str, Rule] = {"paper": paper_rule, "reinit": reinit_rule}
CHOICES = ("auto", "none", *RESAMPLING)            # the values of sae.resampling


def resampling_rule(recipe: str, resampling: str) -> str | None:
    """The rule a run uses ('auto': the recipe's own), or None for no resampling."""
    name = get_recipe(recipe).own_resampling if resampling == "auto" else resampling
    if name != "none" and name not in RESAMPLING:
        raise ValueError(f"unknown sae.resampling {resampling!r}; use one of {', '.join(CHOICES)}")
    return None if name == "none" else name


@torch.no_grad()
def resample(sae: SAE, opt: torch.optim.Optimizer, dead: torch.Tensor, pool: torch.Tensor, l1_coeff: float,
             strategy: str, seed: int) -> int:
    """Re-initialise the `dead` features (bool [n_features]) in place by the rule `strategy`; returns how many.

    Either rule also sets their encoder biases to 0 and resets the Adam moments of exactly those rows and biases.
    """
    if strategy not in RESAMPLING:
        raise ValueError(f"cannot resample with strategy {strategy!r}; use one of {', '.join(RESAMPLING)}")
    idx = dead.nonzero().squeeze(1)
    if len(idx) == 0:
        return 0
    RESAMPLING[strategy](sae, dead, pool, l1_coeff, torch.Generator(device=pool.device).manual_seed(seed))
    sae.b_enc[idx] = 0.0
    for param in (sae.W_enc, sae.W_dec, sae.b_enc):
        reset_adam_rows(opt, param, idx)
    return len(idx)
