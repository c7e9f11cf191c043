"""Synthetic ReLU-like activations with a known sparse dictionary: ground truth for tests and benchmarks."""
from __future__ import annotations

from typing import Iterator

import torch


class SyntheticActs:
    """Toy ReLU-like activations with a known sparse dictionary (for tests, benchmarks, exercises).

    n_true non-negative directions, each touching ~`width` of the d_mlp neurons; a token mixes a few of
    them (power-law frequencies, exponential magnitudes) plus noise, through a ReLU: with the defaults
    ~6% of 512 neurons fire per token, as in the LM. Batch k depends on (seed, k) only.
    """

    def __init__(self, d_mlp: int = 512, n_true: int = 2048, per_token: float = 3.0, width: int = 12, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.d_mlp, self.per_token, self.seed = d_mlp, per_token, seed
        mask = torch.rand(n_true, d_mlp, generator=gen) < width / d_mlp
        self.D = torch.rand(n_true, d_mlp, generator=gen) * mask
        self.D /= self.D.norm(dim=1, keepdim=True).clamp_min(1e-8)
        self.freq = 1.0 / torch.arange(1, n_true + 1).float() ** 0.8

    def batch(self, k: int, batch_size: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + k) % (1 << 62))
        n_on = torch.poisson(torch.full((batch_size,), self.per_token), generator=gen).clamp(1, 16).long()
        idx = torch.multinomial(self.freq, int(n_on.sum()), replacement=True, generator=gen)
        mag = torch.empty(len(idx)).exponential_(1.0, generator=gen)
        x = torch.zeros(batch_size, self.d_mlp).index_add_(
            0, torch.repeat_interleave(torch.arange(batch_size), n_on), self.D[idx] * mag[:, None])
        return torch.relu(x + 0.02 * torch.randn(batch_size, self.d_mlp, generator=gen) - 0.05)

    def batches(self, batch_size: int, n_batches: int, start: int = 0) -> Iterator[torch.Tensor]:
        return (self.batch(k, batch_size) for k in range(start, n_batches))

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        return self.batch(-1 - (seed % (1 << 40)), n)         # negative k: never a training batch
