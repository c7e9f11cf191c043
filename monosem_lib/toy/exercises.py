"""Checks for notebook 00's exercises: the toy model's forward pass and mean max cosine similarity."""
from __future__ import annotations

from typing import Callable

import torch

from ..exercises import check_close, student_check, verdict
from .recovery import mean_max_cosine


@student_check
def check_toy_forward(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """fn(W [m, n], b [n], x [batch, n]) -> x' = ReLU(Wᵀ W x + b), against the formula on random inputs."""
    gen = torch.Generator().manual_seed(0)
    W, b = torch.randn(5, 20, generator=gen), torch.randn(20, generator=gen) - 0.5
    x = torch.rand(64, 20, generator=gen) * (torch.rand(64, 20, generator=gen) < 0.2)
    want = torch.relu(x @ W.T @ W + b)
    got = fn(W, b, x)
    if tuple(got.shape) == tuple(want.shape):
        if (got < 0).any():
            return verdict(False, "", "some outputs are negative: apply the ReLU after adding b")
        if torch.allclose(got, torch.relu(x @ W.T @ W), atol=1e-5) and not torch.allclose(got, want, atol=1e-5):
            return verdict(False, "", "the bias b is missing: x' = ReLU(Wᵀ W x + b)")
    return check_close("toy forward", got, want, atol=1e-5, advice="h = W x (m dims), then x' = ReLU(Wᵀ h + b)")


@student_check
def check_mean_max_cosine(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> bool:
    """fn(true [n_true, d], learned [n_learned, d]) -> MMCS, against the library on unnormalised inputs."""
    gen = torch.Generator().manual_seed(1)
    true = torch.randn(30, 10, generator=gen) * torch.rand(30, 1, generator=gen) * 3
    learned = torch.cat([true[:20] + 0.1 * torch.randn(20, 10, generator=gen), -true[20:],   # flipped: not recovered
                         torch.randn(15, 10, generator=gen)])
    want, got = mean_max_cosine(true, learned), float(fn(true, learned))
    wrong_axis = (true / true.norm(dim=1, keepdim=True)) @ (learned / learned.norm(dim=1, keepdim=True)).T
    if abs(got - wrong_axis.max(0).values.mean().item()) < 1e-6:
        return verdict(False, "", "you averaged over learned directions: take each TRUE feature's best match")
    if abs(got - wrong_axis.abs().max(1).values.mean().item()) < 1e-6 and abs(got - want) > 1e-6:
        return verdict(False, "", "keep the sign: a decoder row pointing the opposite way is not a recovery")
    return verdict(abs(got - want) < 1e-5, f"MMCS matches the library ({got:.4f})",
                   f"MMCS = {got:.4f}, the library gives {want:.4f}: normalise both sets of rows, then max over "
                   "learned per true feature, then mean")
