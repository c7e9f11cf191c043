"""Feature statistics over the held-out activations, vectorised over all features at once.

The SAE's features on the held-out rows are kept sparse (`UnitActs`: a CSR table by feature, values
sorted high to low), so density, quantiles, top examples and examples per activation interval come
from index arithmetic, not a Python loop per feature. Neurons go through the same table
(`UnitActs.from_dense`), so every statistic compares features and neurons like for like.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..lm.model import TinyLM
from ..sae.model import SAE

N_INTERVALS = 11        # the paper shows random examples from ~11 activation intervals


@dataclass
class UnitActs:
    """Non-zero activations of `n_units` units on `n_rows` rows, grouped by unit, largest first."""
    n_rows: int
    offsets: np.ndarray     # [n_units + 1] start of each unit's run in rows/vals
    rows: np.ndarray        # [nnz] int64 row index
    vals: np.ndarray        # [nnz] float32 activation, descending within each unit

    @property
    def n_units(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) where unit i fires, largest first."""
        check_index(i, self.n_units)
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.rows[a:b], self.vals[a:b]

    def dense(self, i: int) -> np.ndarray:
        """Unit i's activation on every row [n_rows] (zeros where it does not fire)."""
        out = np.zeros(self.n_rows, np.float32)
        rows, vals = self.of(i)
        out[rows] = vals
        return out

    @classmethod
    def from_triples(cls, n_rows: int, n_units: int, rows: np.ndarray, units: np.ndarray, vals: np.ndarray):
        offsets = np.zeros(n_units + 1, np.int64)
        np.cumsum(np.bincount(units, minlength=n_units), out=offsets[1:])
        packed = _packed_sort(n_rows, n_units, rows, units, vals)
        if packed is not None:
            return cls(n_rows, offsets, *packed)
        order = np.lexsort((-vals, units))
        return cls(n_rows, offsets, rows[order].astype(np.int64), vals[order].astype(np.float32))

    @classmethod
    def from_csr(cls, codes: torch.Tensor) -> "UnitActs":
        """From a CSR [n_rows, n_units] code matrix (e.g. `sae.codes.cached_codes`)."""
        crow = codes.crow_indices().long().numpy()
        rows = np.repeat(np.arange(codes.shape[0], dtype=np.int32 if codes.shape[0] < 2 ** 31 else np.int64),
                         np.diff(crow))
        return cls.from_triples(codes.shape[0], codes.shape[1], rows, codes.col_indices().long().numpy(),
                                codes.values().numpy())

    @classmethod
    def from_dense(cls, acts: torch.Tensor | np.ndarray) -> "UnitActs":
        """From a dense [n_rows, n_units] matrix (e.g. the MLP neurons).

        Unit by unit, so the peak memory is one column's worth beyond the result (a global nonzero + sort
        of 250k x 512 activations needed ~1 GB of temporaries); same order as `from_triples`.
        """
        a = acts.numpy() if isinstance(acts, torch.Tensor) else np.asarray(acts)
        rows, vals = [], []
        offsets = np.zeros(a.shape[1] + 1, np.int64)
        for j in range(a.shape[1]):
            col = a[:, j].astype(np.float32)             # float16 activations (the stores' dtype) count exactly
            nz = np.flatnonzero(col > 0)
            order = np.argsort(-col[nz], kind="stable")           # largest first, ties by row
            rows.append(nz[order])
            vals.append(col[nz][order].astype(np.float32))
            offsets[j + 1] = offsets[j] + len(nz)
        return cls(a.shape[0], offsets, np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64),
                   np.concatenate(vals) if vals else np.zeros(0, np.float32))


def _packed_sort(n_rows: int, n_units: int, rows: np.ndarray, units: np.ndarray,
                 vals: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, vals) by unit, largest value first, ties by row: one sort of packed 64-bit keys (unit | value | row),
    ~20x faster than a lexsort of a million rows' codes. Only for non-negative values that float16 holds exactly
    (the cached SAE codes) and sizes that fit 64 bits; None otherwise. Built in place: a few temporaries of nnz."""
    ub, rb = max(int(n_units - 1).bit_length(), 1), max(int(n_rows - 1).bit_length(), 1)
    if ub + 16 + rb > 64 or not len(vals):
        return None
    half = vals.astype(np.float16)
    if not (np.array_equal(half.astype(vals.dtype), vals) and (half >= 0).all()):
        return None
    key = units.astype(np.uint64)
    key <<= np.uint64(16)
    key |= (0xFFFF - half.view(np.uint16)).astype(np.uint64)     # non-negative float16 bits order like the values
    del half
    key <<= np.uint64(rb)
    key |= rows.astype(np.uint64, copy=False)
    key.sort()
    out_rows = (key & np.uint64((1 << rb) - 1)).astype(np.int64)
    key >>= np.uint64(rb)
    out_vals = (0xFFFF - (key & np.uint64(0xFFFF))).astype(np.uint16).view(np.float16).astype(np.float32)
    return out_rows, out_vals


def check_index(i: int, n: int, what: str = "feature") -> int:
    """i if 0 <= i < n, else a one-line IndexError giving the valid range."""
    if not 0 <= int(i) < n:
        raise IndexError(f"{what} index {i} is out of range; valid {what}s are 0..{n - 1}")
    return int(i)


def encode_sparse(sae: SAE, acts: torch.Tensor, batch_size: int = 8192) -> UnitActs:
    """Run the SAE over held-out activations [n_rows, d_mlp] and keep the non-zero features."""
    return encode_sparse_batches(sae, (acts[i:i + batch_size] for i in range(0, len(acts), batch_size)))


@torch.no_grad()
def encode_sparse_batches(sae: SAE, batches: Iterable[torch.Tensor]) -> UnitActs:
    """`encode_sparse` over consecutive row batches (e.g. `store.heldout_batches`): the rows are never all in RAM."""
    rows, units, vals, n = [], [], [], 0
    for x in batches:
        r, u, v = sae.code_pairs(x)
        rows.append((r + n).numpy()), units.append(u.numpy()), vals.append(v.numpy())
        n += len(x)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return UnitActs.from_triples(n, sae.n_features, cat(rows, np.int64), cat(units, np.int64), cat(vals, np.float32))


def density(ua: UnitActs) -> np.ndarray:
    """Share of rows on which each unit fires."""
    return ua.counts / max(ua.n_rows, 1)


def max_act(ua: UnitActs) -> np.ndarray:
    """Largest activation of each unit (0 for one that never fires)."""
    out = np.zeros(ua.n_units, np.float32)
    alive = ua.counts > 0
    out[alive] = ua.vals[ua.offsets[:-1][alive]]
    return out


def quantiles(ua: UnitActs, qs=(0.5, 0.9, 0.99)) -> np.ndarray:
    """[n_units, len(qs)] quantiles of each unit's non-zero activations (NaN for a unit that never fires)."""
    n = ua.counts
    out = np.full((ua.n_units, len(qs)), np.nan, np.float32)
    alive = n > 0
    for j, q in enumerate(qs):                 # values are descending: quantile q sits at (1-q)(n-1)
        k = ua.offsets[:-1][alive] + np.round((1 - q) * (n[alive] - 1)).astype(np.int64)
        out[alive, j] = ua.vals[k]
    return out


def interval_of(vals: np.ndarray, vmax: float, n_intervals: int = N_INTERVALS) -> np.ndarray:
    """Which of `n_intervals` equal-width intervals of (0, vmax] each value lies in."""
    return np.clip((vals / max(vmax, 1e-12) * n_intervals).astype(np.int64), 0, n_intervals - 1)


def interval_examples(ua: UnitActs, i: int, per_interval: int = 4, n_intervals: int = N_INTERVALS,
                      seed: int = 0) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """[(lo, hi, rows, values)] random examples from each activation interval, highest interval first."""
    rows, vals = ua.of(i)
    if not len(vals):
        return []
    vmax = float(vals[0])
    bins = interval_of(vals, vmax, n_intervals)
    rng = np.random.default_rng([seed, i])
    out = []
    for b in range(n_intervals - 1, -1, -1):
        idx = np.flatnonzero(bins == b)
        pick = np.sort(rng.choice(idx, size=min(per_interval, len(idx)), replace=False)) if len(idx) else idx
        out.append((b * vmax / n_intervals, (b + 1) * vmax / n_intervals, rows[pick], vals[pick]))
    return out


def context_ids(tokens: np.ndarray, token_index: np.ndarray, ctx_pos: np.ndarray, before: int = 12,
                after: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Token windows [k, before+1+after] around each row's token (-1 = padding, never beyond the LM's
    window on the left), and the column of the row's token (always `before`)."""
    ti = np.asarray(token_index, np.int64)[:, None]
    offs = np.arange(-before, after + 1)[None]
    pos = ti + offs
    ok = (offs >= -np.asarray(ctx_pos, np.int64)[:, None]) & (pos >= 0) & (pos < len(tokens))
    ids = np.where(ok, np.asarray(tokens)[np.clip(pos, 0, len(tokens) - 1)].astype(np.int64), -1)
    return ids, np.full(len(ti), before)


@torch.no_grad()
def logit_weights(lm: TinyLM, directions: torch.Tensor) -> torch.Tensor:
    """[n, vocab] effect of each MLP direction (rows of W_dec) on the logits: d · W_out → linearised final
    LayerNorm (centre, scale by its gain) → W_U; each row shifted so its median is 0 (as the paper)."""
    resid = directions.float() @ lm.mlp.W_out.weight.T                      # [n, d_model]
    resid = (resid - resid.mean(1, keepdim=True)) * lm.ln_f.weight
    logits = resid @ lm.W_U.weight.T
    return logits - logits.median(1, keepdim=True).values


@torch.no_grad()
def feature_on_windows(lm: TinyLM, sae: SAE, windows: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Activation of feature features[b] at every token of windows[b] ([B, T] token ids, right-padded)."""
    return sae.encode_features(lm.mlp_acts(windows), features)


@torch.no_grad()
def ablation_effect(lm: TinyLM, sae: SAE, windows: torch.Tensor, feature: int) -> torch.Tensor:
    """Change in log P(next token) at each position [B, T-1] when feature i is removed from the MLP at
    every token (x ← x − f_i(x)·d_i, through the LM's one MLP hook)."""
    check_index(feature, sae.n_features)
    d = sae.W_dec[feature] / sae.scale

    def hook(acts: torch.Tensor) -> torch.Tensor:
        f = sae.encode(acts)[..., feature]
        return acts - f[..., None] * d

    tgt = windows[:, 1:, None]
    clean = torch.log_softmax(lm(windows)[:, :-1], -1).gather(2, tgt)[..., 0]
    abl = torch.log_softmax(lm(windows, mlp_hook=hook)[:, :-1], -1).gather(2, tgt)[..., 0]
    return abl - clean


def lm_windows(tokens: np.ndarray, token_index: np.ndarray, ctx_pos: np.ndarray, n_ctx: int,
               after: int = 3) -> tuple[torch.Tensor, np.ndarray]:
    """The LM's own window of each row (its ctx_pos tokens of left context) plus `after` tokens, right-padded
    with token 0 (causal: padding never changes earlier positions); returns (windows, column of the row)."""
    cp = np.asarray(ctx_pos, np.int64)
    ti = np.asarray(token_index, np.int64)
    length = np.minimum(cp + 1 + after, n_ctx)
    length = np.minimum(length, len(tokens) - (ti - cp))
    T = int(length.max()) if len(length) else 1
    offs = np.arange(T)[None]
    pos = np.clip(ti[:, None] - cp[:, None] + offs, 0, len(tokens) - 1)
    win = np.where(offs < length[:, None], np.asarray(tokens)[pos].astype(np.int64), 0)
    return torch.from_numpy(win), cp


def sae_exists(run_dir: str | Path, name: str = "A") -> Path:
    """run_dir/sae/<name>, or a one-line FileNotFoundError naming notebook 03."""
    path = Path(run_dir) / "sae" / name
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"no SAE at {path}; run notebook 03_train_sae first")
    return path


def corr_with(ua: UnitActs, proxy: np.ndarray) -> np.ndarray:
    """Pearson correlation of every unit's activation with a per-row proxy [n_rows] (0 for a silent unit)."""
    p = np.asarray(proxy, np.float64)
    n, pm, ps = ua.n_rows, p.mean(), p.std()
    units = np.repeat(np.arange(ua.n_units), ua.counts)
    v = ua.vals.astype(np.float64)
    s1 = np.bincount(units, weights=v, minlength=ua.n_units)
    s2 = np.bincount(units, weights=v * v, minlength=ua.n_units)
    sp = np.bincount(units, weights=v * p[ua.rows], minlength=ua.n_units)
    fm = s1 / n
    fs = np.sqrt(np.maximum(s2 / n - fm ** 2, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (sp / n - fm * pm) / (fs * ps)
    return np.nan_to_num(r)


def precision_recall(ua: UnitActs, i: int, truth: np.ndarray, threshold: float = 0.0) -> tuple[float, float]:
    """Of the rows where unit i fires above `threshold`, the share `truth` accepts; and the share of `truth`
    rows on which it fires."""
    rows, vals = ua.of(i)
    fired = rows[vals > threshold]
    prec = float(truth[fired].mean()) if len(fired) else 0.0
    rec = float(np.isin(np.flatnonzero(truth), fired).mean()) if truth.any() else 0.0
    return prec, rec
