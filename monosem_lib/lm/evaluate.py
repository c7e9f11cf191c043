"""LM evaluation: validation loss, and unigram/bigram baselines scored on the very same targets."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .model import MlpHook, TinyLM


def val_windows(tokens: np.ndarray, n_tokens: int, n_ctx: int) -> torch.Tensor:
    """Consecutive, non-overlapping windows of n_ctx+1 tokens covering the first ~n_tokens."""
    n_win = max(1, min(n_tokens, len(tokens) - 1) // n_ctx)
    n_win = min(n_win, (len(tokens) - 1) // n_ctx)
    if n_win < 1:
        raise ValueError(f"validation split has only {len(tokens)} tokens, fewer than one context of {n_ctx}")
    idx = np.arange(n_win)[:, None] * n_ctx + np.arange(n_ctx + 1)
    return torch.from_numpy(np.asarray(tokens)[idx].astype(np.int64))


@torch.no_grad()
def per_token_loss(lm: TinyLM, windows: torch.Tensor, batch_size: int = 64, mlp_hook: MlpHook | None = None) -> torch.Tensor:
    """Next-token cross-entropy [n_win, n_ctx] (nats) of every target in the windows."""
    lm.eval()
    out = []
    device = next(lm.parameters()).device
    for i in range(0, len(windows), batch_size):
        w = windows[i:i + batch_size].to(device)
        logits = lm(w[:, :-1], mlp_hook=mlp_hook)
        out.append(F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="none").view(len(w), -1).cpu())
    return torch.cat(out)


def lm_loss(lm: TinyLM, windows: torch.Tensor, mlp_hook: MlpHook | None = None) -> float:
    """Mean next-token loss (nats/token) over the windows' targets."""
    return per_token_loss(lm, windows, mlp_hook=mlp_hook).mean().item()


def unigram_loss(train_tokens: np.ndarray, windows: torch.Tensor, vocab_size: int) -> float:
    """Loss of predicting every target from train-set token frequencies (add-one smoothed)."""
    counts = np.bincount(np.asarray(train_tokens), minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[windows[:, 1:].numpy()].mean())


def bigram_loss(train_tokens: np.ndarray, windows: torch.Tensor, vocab_size: int,
                betas: tuple[float, ...] = (0.5, 1, 2, 4, 8, 16, 32)) -> float:
    """Loss of P(next | previous) from train-set bigram counts, Dirichlet-smoothed toward the unigram.

    The smoothing strength is the best of `betas` on these very targets, so the baseline is, if
    anything, flattered: beating it means the LM really uses more than the previous token.
    """
    t = np.asarray(train_tokens).astype(np.int64)
    pair = np.unique(t[:-1] * vocab_size + t[1:], return_counts=True)
    prev_count = np.bincount(t[:-1], minlength=vocab_size).astype(np.float64)
    uni = np.bincount(t, minlength=vocab_size).astype(np.float64) + 1.0
    uni /= uni.sum()
    w = windows.numpy()
    a, b = w[:, :-1].ravel(), w[:, 1:].ravel()
    keys = a * vocab_size + b
    pos = np.searchsorted(pair[0], keys).clip(max=len(pair[0]) - 1)
    c_ab = np.where(pair[0][pos] == keys, pair[1][pos], 0).astype(np.float64)
    losses = [-np.log((c_ab + beta * uni[b]) / (prev_count[a] + beta)).mean() for beta in betas]
    return float(min(losses))
