"""Dead-feature resampling (PAPER.md, 'Neuron resampling'): pick inputs the SAE reconstructs worst.

The rule itself; *when* to resample (the schedule) lives in train.py beside it.
"""
from __future__ import annotations

import torch

from .model import SAE


@torch.no_grad()
def per_input_loss(sae: SAE, x: torch.Tensor, l1_coeff: float, chunk: int = 4096) -> torch.Tensor:
    """The SAE loss of each row of x (already in the SAE's scaled space): MSE + λ·penalty."""
    out = []
    w = sae.penalty_weights()
    for i in range(0, len(x), chunk):
        xc = x[i:i + chunk]
        f = sae.encode_scaled(xc)
        l1 = f.sum(1) if w is None else f @ w
        out.append((sae.decode_scaled(f) - xc).pow(2).mean(1) + l1_coeff * l1)
    return torch.cat(out)


def reset_adam_rows(opt: torch.optim.Optimizer, param: torch.Tensor, rows: torch.Tensor) -> None:
    """Zero both Adam moments of `rows` of one parameter (looked up by the parameter itself)."""
    state = opt.state.get(param, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            state[key][rows] = 0.0


@torch.no_grad()
def resample(sae: SAE, opt: torch.optim.Optimizer, dead: torch.Tensor, pool: torch.Tensor, l1_coeff: float,
             strategy: str, seed: int) -> int:
    """Re-initialise the `dead` features (bool [n_features]) in place; returns how many.

    paper: draw one pool input per dead feature with probability ∝ (its SAE loss)², without
    replacement while the pool allows; decoder row ← input / ‖input‖; encoder row ← input / ‖input‖
    × 0.2 × mean ‖encoder row‖ of the alive features; encoder bias ← 0. reinit: random rows as at
    init. Either way the Adam moments of exactly those rows and biases are reset.
    """
    idx = dead.nonzero().squeeze(1)
    if len(idx) == 0:
        return 0
    gen = torch.Generator(device=pool.device).manual_seed(seed)
    if strategy == "paper":
        p = per_input_loss(sae, pool, l1_coeff).double().pow(2)
        p = p if p.sum() > 0 else torch.ones_like(p)
        pick = torch.multinomial(p, len(idx), replacement=len(idx) > int((p > 0).sum()), generator=gen)
        x = pool[pick]
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
        alive = ~dead
        enc_norm = sae.W_enc[alive].norm(dim=1).mean() if alive.any() else torch.tensor(1.0)
        sae.W_dec[idx] = x if sae.unit_decoder else 0.1 * x
        sae.W_enc[idx] = 0.2 * enc_norm * x
    elif strategy == "reinit":
        d = sae.arch.d_mlp
        sae.W_enc[idx] = torch.empty(len(idx), d, device=pool.device).uniform_(-d ** -0.5, d ** -0.5, generator=gen)
        w = torch.randn(len(idx), d, device=pool.device, generator=gen)
        sae.W_dec[idx] = w / w.norm(dim=1, keepdim=True)
    else:
        raise ValueError(f"cannot resample with strategy {strategy!r}")
    sae.b_enc[idx] = 0.0
    for param in (sae.W_enc, sae.W_dec, sae.b_enc):
        reset_adam_rows(opt, param, idx)
    return len(idx)
