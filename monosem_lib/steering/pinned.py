"""Pinned sampling for many (feature, value) pins at once: one batched forward per new token, one pin per row.

The paper's pinned sampling clamps feature i at its maximum observed activation at every position while the
model writes. Steering every category at several strengths means hundreds of small runs; here they share one
batch, and the MLP hook pins a different feature at a different value in each batch row:

    x_b ← x_b + (v_b − f_{i_b}(x_b)) · d_{i_b}     (a row with v_b = NaN is left as it is: unsteered).

Every run draws its tokens from the same uniform numbers u[prompt, sample, step] (inverse-CDF sampling over
the top-k), so a row's continuation does not depend on which other pins share its batch, and steered and
unsteered samples differ only through the pin (common random numbers).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ..lm.model import MlpHook, TinyLM
from ..sae.model import SAE
from .steer import check_feature, check_prompt, check_strength

Pin = tuple[int, float] | None          # (feature, value) or None: unsteered


def row_pin_hook(sae: SAE, features: torch.Tensor, values: torch.Tensor) -> MlpHook:
    """MLP hook for a batch [B, T, d_mlp] that sets feature features[b] to values[b] at every token of row b,
    keeping the SAE's reconstruction error (as `steer.clamp_hook`, one pin per row); NaN values: no change."""
    features, values = torch.as_tensor(features, dtype=torch.long), torch.as_tensor(values, dtype=torch.float32)
    if features.dim() != 1 or features.shape != values.shape:
        raise ValueError(f"features and values must be 1-d of one length, got {tuple(features.shape)} and "
                         f"{tuple(values.shape)}")
    if len(features) and not 0 <= int(features.min()) <= int(features.max()) < sae.n_features:
        raise ValueError(f"unknown feature in pins: the SAE has features 0..{sae.n_features - 1}")
    if torch.isinf(values).any():
        raise ValueError("pin values must be finite (NaN marks an unsteered row)")
    device = sae.W_dec.device
    features, keep, v = features.to(device), torch.isnan(values).to(device), values.nan_to_num(0.0).to(device)
    d = (sae.W_dec[features] / sae.scale).detach()                          # [B, d_mlp]

    def hook(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != len(features):
            raise ValueError(f"the hook pins {len(features)} rows, the batch has {x.shape[0]}")
        f = sae.encode_features(x, features)                                      # [B, T]
        delta = torch.where(keep[:, None], torch.zeros_like(f), v[:, None] - f)       # [B, T]
        return x + delta[..., None] * d[:, None, :]
    return hook


@torch.no_grad()
def next_token_logits(lm: TinyLM, seq: torch.Tensor, mlp_hook: MlpHook | None = None) -> torch.Tensor:
    """Logits [B, vocab] for the token after `seq` [B, T] = lm(seq, mlp_hook)[:, -1], computing the MLP and the
    unembedding at the last position only: in this one-layer model attention comes before the MLP, so the MLP
    (and any hook on it) at earlier positions cannot reach the last position's logits."""
    x = lm.residual_mid(seq)[:, -1:]
    x = x + lm.mlp(lm.ln2(x), mlp_hook)
    return lm.W_U(lm.ln_f(x))[:, 0]


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0, top_k: int | None = 40) -> torch.Tensor:
    """One token per row [B] from softmax(logits / temperature) over the top_k, by inverse CDF at uniforms u [B]:
    the same u and logits always give the same token, whatever the batch around them."""
    logits = logits / max(temperature, 1e-6)
    k = logits.shape[-1] if top_k is None else min(top_k, logits.shape[-1])
    top, idx = torch.topk(logits, k, dim=-1)                               # sorted, largest first
    cdf = F.softmax(top, -1).cumsum(-1)
    pick = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None].contiguous()).clamp_max(k - 1)
    return idx.gather(1, pick)[:, 0]


def _pin_tensors(sae: SAE, pins: Sequence[Pin]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pins -> (features [P], values [P]); unsteered rows get feature 0 and value NaN."""
    feats = [0 if p is None else check_feature(sae, p[0]) for p in pins]
    vals = [math.nan if p is None else check_strength(p[1]) for p in pins]
    return torch.tensor(feats, dtype=torch.long), torch.tensor(vals, dtype=torch.float32)


@torch.no_grad()
def sample_pinned(lm: TinyLM, tok: Tokenizer, sae: SAE, pins: Sequence[Pin], prompts: Sequence[str],
                  n_samples: int = 4, n_new: int = 24, temperature: float = 1.0, top_k: int | None = 40,
                  seed: int = 0, max_rows: int = 2048) -> torch.Tensor:
    """Continuations [P, n_prompts × n_samples, n_new] for each pin (feature, value) or None (unsteered), all pins
    of one prompt in shared batches of at most `max_rows` rows; row j·n_samples + s is sample s of prompt j."""
    if not pins:
        raise ValueError("no pins to sample: give at least one (feature, value) or None")
    if n_samples < 1 or n_new < 1:
        raise ValueError(f"n_samples and n_new must be >= 1, got {n_samples} and {n_new}")
    features, values = _pin_tensors(sae, pins)
    u = torch.rand(len(prompts), n_samples, n_new, generator=torch.Generator().manual_seed(seed))
    P, device = len(pins), next(lm.parameters()).device
    out = torch.empty(P, len(prompts), n_samples, n_new, dtype=torch.long)
    per = max(1, max_rows // n_samples)                                     # pins per batch
    jobs = [(j, s) for j in range(len(prompts)) for s in range(0, P, per)]
    for j, s in tqdm(jobs, desc="pinned sampling", leave=False):
        ids = check_prompt(tok, prompts[j], lm.cfg.n_ctx).to(device)
        e = min(P, s + per)
        rows = (e - s) * n_samples
        hook = row_pin_hook(sae, features[s:e].repeat_interleave(n_samples), values[s:e].repeat_interleave(n_samples))
        seq = ids[None].repeat(rows, 1)
        uu = u[j].repeat(e - s, 1).to(device)                              # [rows, n_new], same draws per pin
        for t in range(n_new):
            nxt = draw(next_token_logits(lm, seq[:, -lm.cfg.n_ctx:], hook), uu[:, t], temperature, top_k)
            seq = torch.cat([seq, nxt[:, None]], 1)
        out[s:e, j] = seq[:, len(ids):].view(e - s, n_samples, n_new).cpu()
    return out.view(P, len(prompts) * n_samples, n_new)


@torch.no_grad()
def sample_hooked(lm: TinyLM, tok: Tokenizer, hooks: Sequence[MlpHook | None], prompts: Sequence[str],
                  n_samples: int = 4, n_new: int = 24, temperature: float = 1.0, top_k: int | None = 40,
                  seed: int = 0) -> torch.Tensor:
    """`sample_pinned` for any hooks (one batch per hook and prompt; None: unsteered), with the same uniform draws:
    a hook equal to the library's pin gives the library's samples, so a different one shows in what it writes."""
    u = torch.rand(len(prompts), n_samples, n_new, generator=torch.Generator().manual_seed(seed))
    device = next(lm.parameters()).device
    out = torch.empty(len(hooks), len(prompts), n_samples, n_new, dtype=torch.long)
    for h, hook in enumerate(hooks):
        for j, prompt in enumerate(prompts):
            ids = check_prompt(tok, prompt, lm.cfg.n_ctx).to(device)
            seq = ids[None].repeat(n_samples, 1)
            for t in range(n_new):
                nxt = draw(next_token_logits(lm, seq[:, -lm.cfg.n_ctx:], hook), u[j, :, t].to(device), temperature, top_k)
                seq = torch.cat([seq, nxt[:, None]], 1)
            out[h, j] = seq[:, len(ids):].cpu()
    return out.view(len(hooks), len(prompts) * n_samples, n_new)
