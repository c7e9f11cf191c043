"""Checks for notebook 05's exercises: the student's max-activation correlation and its shuffled control.

Both run on a block of the run's own features (the first rows and columns, plus one never-firing column on
each side) against `max_correlation`: a one-line '✓ ...', or AssertionError('✗ what differs and what to fix').
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..exercises import student_check, verdict
from ..interpret.exercises import check_target
from .matching import _csr, _triplets, max_correlation, permute_rows, row_slice

__all__ = ["check_max_corr", "check_shuffled_control", "check_target", "dense_block"]


def dense_block(f: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
    """The first n_rows x n_cols of a dense or CSR matrix, dense float32 on the CPU, plus one all-zero column."""
    n_rows, n_cols = min(n_rows, f.shape[0]), min(n_cols, f.shape[1])
    if f.layout == torch.sparse_csr:
        rows, cols, vals = _triplets(row_slice(f.cpu(), 0, n_rows))
        keep = cols < n_cols
        out = torch.zeros(n_rows, n_cols + 1)
        out[rows[keep], cols[keep]] = vals[keep].float()
        return out
    return torch.cat([f[:n_rows, :n_cols].float().cpu(), torch.zeros(n_rows, 1)], 1)


def _library(a: torch.Tensor, b: torch.Tensor, sparse: bool) -> torch.Tensor:
    """The library's best correlations, on CSR copies where the notebook's matrices are sparse."""
    return max_correlation(_csr(a) if sparse else a, _csr(b) if sparse else b).max


def _as_vector(got, m_a: int) -> tuple[torch.Tensor | None, str | None]:
    """The student's answer as a float64 CPU vector, or a one-line complaint about its type or shape."""
    try:
        got = torch.as_tensor(np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got),
                              dtype=torch.float64)
    except (TypeError, ValueError):
        return None, f"return a tensor of shape [{m_a}] (a best correlation per column of a), got {type(got).__name__}"
    if tuple(got.shape) != (m_a,):
        return None, f"return shape [{m_a}] (one value per column of a), got {list(got.shape)}"
    return got, None


def _pearson(a: torch.Tensor, b: torch.Tensor, centre: bool = True) -> torch.Tensor:
    a, b = a.double(), b.double()
    if centre:
        a, b = a - a.mean(0), b - b.mean(0)
    return (a / a.norm(dim=0)).T @ (b / b.norm(dim=0))


def _nanmax(corr: torch.Tensor) -> torch.Tensor:
    best = corr.nan_to_num(nan=-torch.inf).max(1).values
    return torch.where(torch.isinf(best), torch.nan, best)


def _close(x: torch.Tensor, y: torch.Tensor, tol: float = 1e-4) -> bool:
    return bool((x.isnan() == y.isnan()).all() and ((x - y).abs()[~x.isnan()] <= tol).all())


def _max_corr_problem(got: torch.Tensor, want: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> str | None:
    """What is wrong with the best correlations `got` (None if they match the library's `want`)."""
    if _close(got, want):
        return None
    extra, missing = torch.nonzero(want.isnan() & ~got.isnan()), torch.nonzero(~want.isnan() & got.isnan())
    if len(extra):
        return (f"column {int(extra[0])} of a is constant on these tokens (it never fires): its correlation is "
                f"undefined, so return NaN there, not {float(got[extra[0]]):.3g}")
    if len(missing):
        return (f"yours is NaN for column {int(missing[0])} of a, which does fire: a constant column of b (0/0) must "
                f"not poison the max; skip NaNs (e.g. nan_to_num(nan=-inf) before max)")
    j = int(((got - want).abs().nan_to_num(0)).argmax())
    if _close(got, _nanmax(_pearson(a, b).abs())):
        why = "you took the largest |rho|; a twin is the largest rho (anti-correlation is no match)"
    elif _close(got, _nanmax(_pearson(a, b, centre=False))):
        why = "that is cosine similarity: centre each column (subtract its mean over tokens) first"
    else:
        why = "rho_ij = cov(a_i, b_j) / (std a_i * std b_j), then the max over j"
    return f"column {j} of a: yours {float(got[j]):.4f}, the library's {float(want[j]):.4f}: {why}"


@student_check
def check_max_corr(fn: Callable, f_a: torch.Tensor, f_b: torch.Tensor, n_rows: int = 4096, m_a: int = 256,
                   m_b: int = 1024) -> None:
    """fn(a [n, m_a], b [n, m_b]) -> [m_a] best correlations, against `max_correlation` on a block of the run's data."""
    a, b = dense_block(f_a, n_rows, m_a), dense_block(f_b, n_rows, m_b)
    want = _library(a, b, f_a.layout == torch.sparse_csr)
    got, problem = _as_vector(fn(a.clone(), b.clone()), a.shape[1])
    problem = problem or _max_corr_problem(got, want, a, b)
    dead = int(want.isnan().sum())
    verdict(problem is None, f"matches the library on {a.shape[0]:,} tokens x {a.shape[1]} columns of a x "
                   f"{b.shape[1]} of b, {dead} constant columns of a among them (max diff "
                   f"{float((got - want).abs().nan_to_num(0).max()) if got is not None else 0:.0e})", problem or "")


@student_check
def check_shuffled_control(fn: Callable, max_corr_fn: Callable, f_a: torch.Tensor, f_b: torch.Tensor, seed: int = 0,
                           n_rows: int = 4096, m_a: int = 256, m_b: int = 1024) -> None:
    """fn(a, b, perm) -> the best correlations with b's rows permuted, against the library's control."""
    a, b = dense_block(f_a, n_rows, m_a), dense_block(f_b, n_rows, m_b)
    perm = torch.randperm(a.shape[0], generator=torch.Generator().manual_seed(seed))
    sparse = f_a.layout == torch.sparse_csr
    want = max_correlation(_csr(a) if sparse else a, permute_rows(_csr(b) if sparse else b, perm)).max
    got, problem = _as_vector(fn(a.clone(), b.clone(), perm), a.shape[1])
    aligned = _library(a, b, sparse)
    if problem is None and not _close(got, want):
        if _close(got, aligned):
            problem = "your control equals the aligned maximum: correlate a with b[perm], b's rows shuffled"
        elif _close(got, _library(a[perm], b, sparse)):
            problem = "you shuffled a's rows; shuffle b's (b[perm]) so that the check can compare"
        else:
            problem = _max_corr_problem(got, want, a, b[perm])
    med = lambda v: float(np.nanmedian(v.numpy()))  # noqa: E731
    verdict(problem is None, f"matches the library's control; on this block the median best correlation is "
                   f"{med(aligned):.3f} aligned and {med(want):.3f} on shuffled tokens", problem or "")
