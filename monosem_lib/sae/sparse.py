"""Sparse-matrix helpers of the SAE's exact gradients: active (token, feature) pairs and CSR products.

Once an SAE's codes are sparse (L0 << n_features), the decoder and the whole backward pass run on the active
pairs only; these helpers find the pairs (for ReLU codes without building the dense [B, n] matrix) and multiply.
"""
from __future__ import annotations

import warnings

import torch


def active_pairs(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, cols, values) of the active pairs of a dense f [B, n], row-major."""
    flat = f.view(-1)
    idx = flat.nonzero().squeeze(1)                      # row-major: sorted by (token, feature)
    rows = idx.div(f.shape[1], rounding_mode="floor")
    return rows, idx - rows * f.shape[1], flat.index_select(0, idx)


def relu_pairs(x_bar: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor,
               chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The active pairs of ReLU(x̄ W_encᵀ + b_enc), computed `chunk` rows at a time so that the ReLU and the search
    for non-zeros run on data still in cache (the dense [B, n] features are never built)."""
    return chunked_pairs(lambda xs: torch.addmm(b_enc, xs, W_enc.T).relu_(), x_bar, chunk)


def chunked_pairs(codes, x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The active pairs of codes(x), computed on `chunk` rows at a time (codes: rows [c, d] -> dense [c, n])."""
    rows, cols, vals = [torch.zeros(0, dtype=torch.long, device=x.device)], \
        [torch.zeros(0, dtype=torch.long, device=x.device)], [torch.zeros(0, device=x.device)]
    for i in range(0, len(x), chunk):
        r, c, v = active_pairs(codes(x[i:i + chunk]))
        rows.append(r + i), cols.append(c), vals.append(v)
    return torch.cat(rows), torch.cat(cols), torch.cat(vals)


def csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A torch CSR matrix from its arrays (no copy, no invariant check)."""
    with warnings.catch_warnings():       # "sparse CSR support is in beta": the ops used here are tested
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, size=shape, check_invariants=False)


def csr_pair(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, B: int,
             n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Active pairs (row-major) as CSR of f [B, n] and of fᵀ [n, B] (rows = features); + their columns."""
    crow = torch.zeros(B + 1, dtype=torch.long, device=vals.device)
    torch.cumsum(torch.bincount(rows, minlength=B), 0, out=crow[1:])
    fc = csr(crow, cols, vals, (B, n))
    order = torch.argsort(cols, stable=True)               # the same pairs sorted by (feature, token)
    cols_t = cols.index_select(0, order)
    crow_t = torch.zeros(n + 1, dtype=torch.long, device=vals.device)
    torch.cumsum(torch.bincount(cols_t, minlength=n), 0, out=crow_t[1:])
    fT = csr(crow_t, rows.index_select(0, order), vals.index_select(0, order), (n, B))
    return fc, fT, cols_t, crow_t


def sparse_mm_into(buf: torch.Tensor | None, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (a sparse CSR) written into the reused buffer `buf` (~3x faster than a fresh result)."""
    if buf is None or buf.shape != (a.shape[0], b.shape[1]) or not buf.is_contiguous():
        buf = torch.empty(a.shape[0], b.shape[1], device=b.device)
    return torch.addmm(buf, a, b, beta=0.0, out=buf)
