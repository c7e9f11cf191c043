"""How much of a steered sample is of a category: per-sample shares over non-whitespace tokens, with an interval.

Counting: a generated token whose decoded text is all whitespace (spaces, newlines, tabs) says nothing about
the category, and a model pushed into a script still writes spaces between its words, so such tokens are left
out of numerator and denominator. Each sample (one continuation) gets its own share; a sample without a
countable token contributes nothing. The category's share is the mean over the n samples, with a 95% t
interval over samples (`share_interval`).

Which generated tokens are of the category goes through one pluggable function, `mask_fn(category, ids[B, T],
tokenizer) -> bool[B, T]`; the default is notebook 04's binary detector, `interpret.proxies.detect_tokens`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy import stats
from tokenizers import Tokenizer

from ..interpret.proxies import detect_tokens, token_bytes

MaskFn = Callable[[str, torch.Tensor, Tokenizer], np.ndarray]   # (category, ids [B, T], tokenizer) -> bool [B, T]

_WS_CACHE: dict[int, tuple[Tokenizer, np.ndarray]] = {}


def whitespace_tokens(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: the token's decoded text is all whitespace (partial UTF-8 bytes and <|endoftext|> are not)."""
    hit = _WS_CACHE.get(id(tok))
    if hit is None or hit[0] is not tok:
        ws = np.array([b.decode("utf-8", errors="replace").isspace() for b in token_bytes(tok)], bool)
        hit = _WS_CACHE[id(tok)] = (tok, ws)
    return hit[1]


def _ids(ids) -> np.ndarray:
    ids = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids, dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"samples must be token ids [n_samples, n_tokens], got shape {ids.shape}")
    return ids


def countable(ids, tok: Tokenizer) -> np.ndarray:
    """bool [B, T]: the generated tokens that count towards a share (those not all whitespace)."""
    ids = _ids(ids)
    V = tok.get_vocab_size()
    if ids.size and not 0 <= ids.min() <= ids.max() < V:
        raise ValueError(f"token ids must lie in [0, {V - 1}] (the tokenizer's vocabulary)")
    return ~whitespace_tokens(tok)[ids]


def sample_shares(ids, category: str, tok: Tokenizer, mask_fn: MaskFn | None = None) -> np.ndarray:
    """float [B]: per sample, the share of its countable tokens that `mask_fn` puts in `category`
    (NaN for a sample with no countable token). Each row of `ids` [B, T] is read as its own text."""
    ids = _ids(ids)
    keep = countable(ids, tok)
    hit = np.asarray((mask_fn or detect_tokens)(category, torch.as_tensor(ids), tok), bool)
    if hit.shape != ids.shape:
        raise ValueError(f"mask_fn returned shape {hit.shape} for samples of shape {ids.shape}; it must return "
                         "one bool per token")
    n = keep.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (hit & keep).sum(1) / np.maximum(n, 1), np.nan)


def share_interval(shares, level: float = 0.95) -> dict:
    """Mean of per-sample shares (NaN ones dropped) and its t interval over the n samples, clipped to [0, 1]:
    mean ± t_{(1+level)/2, n−1} · s / √n (s: the samples' standard deviation, ddof 1). With n = 1 the interval
    is [0, 1] (no spread to go on); with n = 0 everything is NaN. Samples are the units (the tokens of one
    sample are not independent), so n = prompts × samples per prompt, minus samples with no countable token."""
    x = np.asarray(shares, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "lo": 0.0, "hi": 1.0, "n": 1}
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "lo": max(0.0, mean - half), "hi": min(1.0, mean + half), "n": n}


def category_share(ids, category: str, tok: Tokenizer, mask_fn: MaskFn | None = None) -> dict:
    """`share_interval` of the per-sample shares of samples `ids` [B, T]: {"mean", "lo", "hi", "n"}."""
    return share_interval(sample_shares(ids, category, tok, mask_fn))
