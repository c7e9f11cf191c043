"""Pearson correlations accumulated over row chunks, for units that are never all in memory at once (and the
row slicing of dense or CSR matrices they are fed with).

The neurons of two LMs on a million evaluation tokens are 2 x 2 GB dense; their correlations need only the
sums Σa, Σa², Σb, Σb² and Σ a bᵀ, which are added up chunk by chunk as the activations are recomputed
(`harvest.eval_tokens.mlp_act_batches`). Dense chunks are shifted by the first chunk's column means before the
products, so float32 chunk products of ReLU activations stay accurate; CSR chunks are multiplied sparsely.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch


def row_slice(x: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
    """Rows [r0, r1) of a dense or CSR matrix (CSR: a view of its arrays, no copy of the whole)."""
    if x.layout != torch.sparse_csr:
        return x[r0:r1]
    crow = x.crow_indices()[r0:r1 + 1]
    a, b = int(crow[0]), int(crow[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow - a, x.col_indices()[a:b], x.values()[a:b], size=(r1 - r0, x.shape[1]),
                                       check_invariants=False)


def first_rows(x: torch.Tensor, n: int, copy: bool = False) -> torch.Tensor:
    """The first n rows of a dense or CSR matrix (all of them if it has fewer): a view, or with `copy` a matrix of
    its own (so that the whole can be freed)."""
    part = row_slice(x, 0, min(n, x.shape[0]))
    return part.clone() if copy else part


def to_scipy(x: torch.Tensor):
    """A CPU CSR tensor as a scipy.sparse matrix sharing its arrays."""
    import scipy.sparse as sp
    return sp.csr_matrix((x.values().numpy(), x.col_indices().numpy(), x.crow_indices().numpy()), shape=tuple(x.shape))


class CrossMoments:
    """Running sums for the correlation of every column of a with every column of b over the rows seen."""

    def __init__(self, m_a: int, m_b: int):
        self.n = 0
        self.shift_a = self.shift_b = None
        self.s_a, self.s_b = torch.zeros(m_a, dtype=torch.float64), torch.zeros(m_b, dtype=torch.float64)
        self.ss_a, self.ss_b = torch.zeros_like(self.s_a), torch.zeros_like(self.s_b)
        self.cross = torch.zeros(m_a, m_b, dtype=torch.float64)

    def _shifted(self, x: torch.Tensor, which: str) -> torch.Tensor:
        """Dense chunks minus a fixed per-column shift (the first chunk's mean); CSR chunks as they are."""
        if x.layout == torch.sparse_csr:
            return x
        if getattr(self, f"shift_{which}") is None:
            setattr(self, f"shift_{which}", x.float().mean(0))
        return x.float() - getattr(self, f"shift_{which}")

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Add the rows of a [r, m_a] and b [r, m_b] (the same r rows; dense or CSR each, on the CPU)."""
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"a and b chunks must hold the same rows, got {a.shape[0]} and {b.shape[0]}")
        a, b = self._shifted(a.cpu(), "a"), self._shifted(b.cpu(), "b")
        for x, s, ss in ((a, self.s_a, self.ss_a), (b, self.s_b, self.ss_b)):
            if x.layout == torch.sparse_csr:
                v = x.values().double()
                s.index_add_(0, x.col_indices(), v)
                ss.index_add_(0, x.col_indices(), v * v)
            else:
                s += x.sum(0).double()
                ss += x.pow(2).sum(0).double()
        self.cross += self._product(a, b)
        self.n += a.shape[0]

    @staticmethod
    def _product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a.T @ b in float64, sparse where either side is."""
        sa, sb = a.layout == torch.sparse_csr, b.layout == torch.sparse_csr
        if sa and sb:
            return torch.from_numpy((to_scipy(a).T @ to_scipy(b)).toarray().astype(np.float64, copy=False))
        if sa:
            return torch.from_numpy(np.asarray(to_scipy(a).T @ b.numpy().astype(np.float64)))
        if sb:
            return torch.from_numpy(np.asarray((to_scipy(b).T @ a.numpy().astype(np.float64)).T))
        return (a.T @ b).double()

    def corr(self) -> torch.Tensor:
        """[m_a, m_b] Pearson correlations over all rows added (NaN where a column is constant)."""
        n = max(self.n, 1)
        mu_a, mu_b = self.s_a / n, self.s_b / n
        sd_a = (self.ss_a / n - mu_a ** 2).clamp_min(0).sqrt()
        sd_b = (self.ss_b / n - mu_b ** 2).clamp_min(0).sqrt()
        cov = self.cross / n - mu_a[:, None] * mu_b[None]
        inv_a = torch.where(sd_a > 0, 1 / sd_a, torch.nan)          # a column that never moves: no correlation
        inv_b = torch.where(sd_b > 0, 1 / sd_b, torch.nan)
        return (cov * inv_a[:, None] * inv_b[None]).clamp(-1, 1)
