"""Universality (Bricken et al. 2023, 'Universality'): do two LMs differing only in their seed learn the same features?

For every feature of SAE A we find the feature of SAE B whose activations correlate best (Pearson) with
it over the same tokens. Activations are compared row by row, which works because both models read the
same tokens in the same order. SAE features are kept as sparse CSR matrices and
the cross-products run over row chunks and blocks of B's columns, so memory stays bounded well past
4,096 x 4,096; units that never fire on the rows (zero variance) are left out.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..harvest.streaming import row_slice, to_scipy as _scipy  # noqa: F401  (row_slice: re-exported)
from ..lm.model import TinyLM, load_lm
from ..sae.codes import to_csr
from ..sae.model import SAE, load_sae


@dataclass
class MaxCorr:
    """For each unit of A: its best correlation over B's units and which unit of B gives it."""
    max: torch.Tensor          # [m_a] float64, NaN where A's unit is dead
    argmax: torch.Tensor       # [m_a] long, -1 where A's unit is dead
    alive_a: torch.Tensor      # [m_a] bool: nonzero variance on these rows
    alive_b: torch.Tensor      # [m_b] bool
    matrix: torch.Tensor | None = None   # [m_a, m_b] float32 correlations (dead: NaN), when kept

    @property
    def alive_max(self) -> np.ndarray:
        """Max correlations of A's live units only (what the medians are taken over)."""
        return self.max[self.alive_a].numpy()


def _csr(x: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():       # "sparse CSR support is in beta": the ops used here are tested
        warnings.simplefilter("ignore", UserWarning)
        return x.to_sparse_csr()


def _csr_from(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """CSR matrix from (row, col, value) triplets in any order (duplicates are not expected)."""
    order = torch.argsort(rows * shape[1] + cols)
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=vals.device)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols[order], vals[order], size=shape, check_invariants=False)


def _triplets(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, col, value) of a CSR matrix's stored entries."""
    crow = x.crow_indices()
    rows = torch.repeat_interleave(torch.arange(len(crow) - 1, device=crow.device), crow.diff())
    return rows, x.col_indices(), x.values()


def max_from_corr(corr: torch.Tensor) -> MaxCorr:
    """For each row of a [m_a, m_b] correlation matrix (NaN: dead), the best column and its value."""
    alive_a, alive_b = ~torch.isnan(corr).all(1), ~torch.isnan(corr).all(0)
    v, i = corr.nan_to_num(-torch.inf).max(1)
    return MaxCorr(torch.where(alive_a, v, torch.nan), torch.where(alive_a, i, -1), alive_a, alive_b)


@torch.no_grad()
def encode_sparse(sae: SAE, x: torch.Tensor, chunk: int = 8192, desc: str | None = None) -> torch.Tensor:
    """SAE features of rows x [n, d_mlp] as a sparse CSR [n, n_features] (a dense one would not fit at scale)."""
    rows, cols, vals = [torch.zeros(0, dtype=torch.long)], [torch.zeros(0, dtype=torch.long)], [torch.zeros(0)]
    quiet = {"disable": True} if desc is None else {}         # passing disable=False would override TQDM_DISABLE
    for i in tqdm(range(0, len(x), chunk), desc=desc, leave=False, **quiet):
        r, c, v = sae.code_pairs(x[i:i + chunk].cpu())
        rows.append(r + i), cols.append(c), vals.append(v)
    return to_csr(torch.cat(rows), torch.cat(cols), torch.cat(vals), (len(x), sae.n_features))


def permute_rows(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """x[perm] for a dense or CSR matrix: the control that pairs each token with an unrelated one."""
    if x.layout != torch.sparse_csr:
        return x[perm]
    crow = x.crow_indices()
    counts = crow.diff()[perm]
    new_crow = torch.zeros_like(crow)
    torch.cumsum(counts, 0, out=new_crow[1:])
    offset = torch.arange(int(new_crow[-1])) - torch.repeat_interleave(new_crow[:-1], counts)
    idx = torch.repeat_interleave(crow[:-1][perm], counts) + offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(new_crow, x.col_indices()[idx], x.values()[idx], size=x.shape,
                                       check_invariants=False)


def _cross(a: torch.Tensor, b: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
    """a.T @ b[:, c0:c1] for a row chunk -> [m_a, c1 - c0] float64; a and b dense or CSR.

    Sparse x sparse multiplies only co-active pairs (on a CPU through scipy, whose product is several
    times faster than torch's there); dense inputs arrive centred, so float32 sums stay accurate.
    """
    if b.layout == torch.sparse_csr:
        if a.layout == torch.sparse_csr and a.device.type == "cpu":
            return torch.from_numpy((_scipy(a).T @ _scipy(b)[:, c0:c1]).toarray().astype(np.float64, copy=False))
        rows, cols, vals = _triplets(b)
        keep = (cols >= c0) & (cols < c1)
        bT = _csr_from(cols[keep] - c0, rows[keep], vals[keep], (c1 - c0, b.shape[0]))   # [cb, r]
        out = bT @ a
        return (out.to_dense() if out.layout != torch.strided else out).double().T
    if a.layout == torch.sparse_csr:
        rows, cols, vals = _triplets(a)
        aT = _csr_from(cols, rows, vals, (a.shape[1], a.shape[0]))
        return (aT @ b[:, c0:c1]).double()
    return (a.T @ b[:, c0:c1]).double()


def moments(x: torch.Tensor, row_chunk: int = 32_768) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and (population) standard deviation in float64, streaming over row chunks."""
    n, s = x.shape[0], torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s)
    if x.layout == torch.sparse_csr:
        for r0 in range(0, n, row_chunk):
            c = row_slice(x, r0, min(r0 + row_chunk, n))
            v = c.values().double()
            s.index_add_(0, c.col_indices(), v)
            s2.index_add_(0, c.col_indices(), v * v)
        mean = s / n
        return mean, (s2 / n - mean ** 2).clamp_min(0).sqrt()
    for r0 in range(0, n, row_chunk):                       # dense: two passes, the second centred (accurate)
        s += x[r0:r0 + row_chunk].sum(0).double()
    mean = s / n
    for r0 in range(0, n, row_chunk):
        s2 += (x[r0:r0 + row_chunk] - mean.to(x.dtype)).pow(2).sum(0).double()
    return mean, (s2 / n).sqrt()


def _centred(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return x if x.layout == torch.sparse_csr else x - mean.to(x.dtype)


def correlation_blocks(a: torch.Tensor, b: torch.Tensor, col_chunk: int = 2048, row_chunk: int = 32_768,
                       desc: str | None = None, stats: tuple | None = None):
    """Yield (c0, c1, corr [m_a, c1 - c0] float64): Pearson correlations of a's columns with b's columns c0..c1.

    Each block is a streaming sum over row chunks of a.T @ b (sparse products where a matrix is sparse;
    dense chunks are centred first). Dead columns (zero variance) come out NaN. `stats`: precomputed
    (moments(a), moments(b)).
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must hold the same rows (row-aligned tokens), got {a.shape[0]:,} and {b.shape[0]:,}")
    n = a.shape[0]
    (mu_a, sd_a), (mu_b, sd_b) = stats or (moments(a, row_chunk), moments(b, row_chunk))
    # sums of products: centred dense columns contribute no mean term
    m_a = mu_a if a.layout == torch.sparse_csr else torch.zeros_like(mu_a)
    m_b = mu_b if b.layout == torch.sparse_csr else torch.zeros_like(mu_b)
    inv_a = torch.where(sd_a > 0, 1 / sd_a, torch.nan)
    quiet = {"disable": True} if desc is None else {}
    for c0 in tqdm(range(0, b.shape[1], col_chunk), desc=desc, leave=False, **quiet):
        c1 = min(c0 + col_chunk, b.shape[1])
        S = torch.zeros(a.shape[1], c1 - c0, dtype=torch.float64, device=a.device)
        for r0 in range(0, n, row_chunk):
            r1 = min(r0 + row_chunk, n)
            S += _cross(_centred(row_slice(a, r0, r1), mu_a), _centred(row_slice(b, r0, r1), mu_b), c0, c1)
        cov = S / n - m_a[:, None] * m_b[None, c0:c1]
        inv_b = torch.where(sd_b[c0:c1] > 0, 1 / sd_b[c0:c1], torch.nan)
        yield c0, c1, (cov * inv_a[:, None] * inv_b[None]).clamp_(-1, 1)


def max_correlation(a: torch.Tensor, b: torch.Tensor, col_chunk: int = 2048, row_chunk: int = 32_768,
                    keep_matrix: bool = False, desc: str | None = None) -> MaxCorr:
    """For each column of a [n, m_a], its highest Pearson correlation over the columns of b [n, m_b] (same rows)."""
    best = torch.full((a.shape[1],), -torch.inf, dtype=torch.float64)
    arg = torch.full((a.shape[1],), -1, dtype=torch.long)
    matrix = torch.empty(a.shape[1], b.shape[1]) if keep_matrix else None
    stats = (moments(a, row_chunk), moments(b, row_chunk))
    alive_a, alive_b = stats[0][1].cpu() > 0, stats[1][1].cpu() > 0
    for c0, c1, corr in correlation_blocks(a, b, col_chunk, row_chunk, desc, stats):
        corr = corr.cpu()
        if matrix is not None:
            matrix[:, c0:c1] = corr.float()
        v, i = corr.nan_to_num(-torch.inf).max(1)
        better = v > best
        best, arg = torch.where(better, v, best), torch.where(better, i + c0, arg)
    alive_a &= bool(alive_b.any())
    return MaxCorr(torch.where(alive_a, best, torch.nan), torch.where(alive_a, arg, -1), alive_a, alive_b, matrix)


def hungarian_match(corr: torch.Tensor, alive_a: torch.Tensor, alive_b: torch.Tensor) -> tuple[np.ndarray, ...]:
    """One-to-one matching of live units maximising total correlation -> (rows of A, cols of B, their corr).

    Negative correlations count as 0 (an anti-correlated twin is no better than none): the optimum barely
    moves, and the solver, which has to rank thousands of near-zero noise pairs otherwise, runs ~50x faster.
    """
    from scipy.optimize import linear_sum_assignment

    ia, ib = torch.nonzero(alive_a).squeeze(1), torch.nonzero(alive_b).squeeze(1)
    sub = corr[ia][:, ib].double().nan_to_num(0.0).numpy()
    r, c = linear_sum_assignment(np.clip(sub, 0.0, None), maximize=True)
    return ia.numpy()[r], ib.numpy()[c], sub[r, c]


@torch.no_grad()
def logit_weights(lm: TinyLM, directions: torch.Tensor, resid_scale: float = 1.0) -> torch.Tensor:
    """Each direction [k, d_mlp] in MLP-activation space -> its direct effect on the logits [k, vocab].

    d -> W_out d (into the residual) -> final LayerNorm linearised (centre, / resid_scale, * ln_f.weight)
    -> W_U. A constant `resid_scale` changes no correlation, so the default 1 serves for comparisons.
    """
    r = directions.float() @ lm.mlp.W_out.weight.T                     # [k, d_model]
    r = (r - r.mean(1, keepdim=True)) / resid_scale * lm.ln_f.weight
    return r @ lm.W_U.weight.T


def rowwise_corr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of x [k, v] with the same row of y [k, v] -> [k]."""
    x = x.double() - x.double().mean(1, keepdim=True)
    y = y.double() - y.double().mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-300)


def category_indicators(categories: np.ndarray, n_categories: int) -> torch.Tensor:
    """One-hot [n, n_categories] float32 of each row's document category (the simplest 'proxy')."""
    return torch.from_numpy(np.asarray(categories)[:, None] == np.arange(n_categories)).float()


def top_rows(f: torch.Tensor, feature: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows where column `feature` of f (CSR or dense) is largest and positive -> (rows, values)."""
    if f.layout == torch.sparse_csr:
        rows, cols, vals = _triplets(f)
        rows, vals = rows[cols == feature], vals[cols == feature]
    else:
        vals = f[:, feature]
        rows = torch.nonzero(vals > 0).squeeze(1)
        vals = vals[rows]
    v, i = torch.topk(vals, min(k, len(vals)))
    return rows[i].numpy(), v.numpy()


def column(f: torch.Tensor, feature: int) -> np.ndarray:
    """One column of a CSR or dense matrix as a dense numpy vector [n]."""
    out = np.zeros(f.shape[0], np.float32)
    rows, vals = top_rows(f, feature, f.shape[0])
    out[rows] = vals
    return out


@dataclass
class Twins:
    """Everything notebook 05 compares: both LMs and both SAEs (the evaluation tokens come from the token splits)."""
    lms: dict[str, TinyLM]
    saes: dict[str, SAE]

    def __post_init__(self):
        for name in self.saes:
            if self.saes[name].arch.d_mlp != self.lms[name].cfg.d_mlp:
                raise ValueError(f"SAE {name} reads inputs of width {self.saes[name].arch.d_mlp} but LM {name}'s MLP "
                                 f"has {self.lms[name].cfg.d_mlp}; re-run notebook 03_train_sae on this run's LMs")


def load_twins(run_dir: str | Path, seeds: tuple[int, int] = (0, 1), device: str = "cpu") -> Twins:
    """LMs and SAEs of A and B, with one-line errors naming the notebook to run."""
    run_dir = Path(run_dir)
    lms, saes = {}, {}
    for name, seed in zip("AB", seeds):
        if not (run_dir / "lm" / name / "model.safetensors").exists():
            raise FileNotFoundError(f"LM {name} (seed {seed}) is missing at {run_dir / 'lm' / name}; "
                                    f"run notebook 01_train_tiny_lm first (it trains A and B)")
        if not (run_dir / "sae" / name / "config.json").exists():
            raise FileNotFoundError(f"the SAE of model {name} (LM seed {seed}) is missing at {run_dir / 'sae' / name}; "
                                    f"run notebook 03_train_sae first (it trains SAEs on A and B)")
        lms[name], saes[name] = load_lm(run_dir / "lm" / name, device), load_sae(run_dir / "sae" / name, device)
    return Twins(lms, saes)
