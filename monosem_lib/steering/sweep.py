"""Steering every category at several strengths (a dose sweep) and one feature's dose-response, in one batch.

Inputs are plain arguments so that a caller can swap any of them: each category's feature, that feature's
maximum activation (the paper pins at k = 1 × it), the strengths k, and `mask_fn`, which says which generated
tokens are of the category (default: notebook 04's detector; `shares.MaskFn`). The matched random control of
`controls.matched_controls` is sampled at every k beside its category.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from ..lm.model import MlpHook, TinyLM
from ..sae.model import SAE
from .pinned import Pin, sample_hooked, sample_pinned
from .shares import MaskFn, sample_shares, share_interval
from .steer import check_feature, check_strength, clamp_hook, distinct_ratio, next_token_kl

MaxAct = Mapping[str, float] | torch.Tensor


def per_category(max_act: MaxAct, features: Mapping[str, int], sae: SAE) -> dict[str, float]:
    """Each category's max activation: from a mapping category -> value, or a tensor [n_features] read at its feature."""
    out = {}
    for c, f in features.items():
        check_feature(sae, f)
        if isinstance(max_act, torch.Tensor):
            value = float(max_act[f])
        elif c in max_act:
            value = float(max_act[c])
        else:
            raise ValueError(f"no max activation for category {c!r}: give one per category (or a tensor over features)")
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"max activation of {c!r} (feature {f}) must be finite and >= 0, got {value!r}")
        out[c] = value
    return out


def _check_ks(ks: Sequence[float]) -> list[float]:
    ks = [check_strength(k) for k in ks]
    if not ks or min(ks) < 0 or len(set(ks)) != len(ks):
        raise ValueError(f"ks must be distinct strengths >= 0 (multiples of the max activation), got {list(ks)}")
    return ks


def pinned_sweep(lm: TinyLM, tok: Tokenizer, sae: SAE, features: Mapping[str, int], max_act: MaxAct,
                 ks: Sequence[float], prompts: Sequence[str], mask_fn: MaskFn | None = None,
                 control: Mapping[str, int] | None = None, control_max: MaxAct | None = None,
                 n_samples: int = 4, n_new: int = 24, seed: int = 0) -> list[dict]:
    """One row per (k, category): its feature pinned at k × its max activation; the category's per-sample share of
    unsteered (`share_base*`), steered (`share_steered*`) and, given `control` (category -> feature) and
    `control_max`, control samples (`share_control*`), each with its 95% interval and n; the steered samples'
    distinct ratio and ids (`samples` [n, n_new]). All pins go through one batched `sample_pinned`; a pin used by
    several categories (a shared feature) is sampled once."""
    ks, maxima = _check_ks(ks), per_category(max_act, features, sae)
    if control is not None:
        if set(control) != set(features):
            raise ValueError("control must give one feature for every category of `features`")
        cmax = per_category(control_max if control_max is not None else {}, control, sae)
    index: dict[Pin, int] = {None: 0}
    want = {}
    for k in ks:
        for c, f in features.items():
            pins = [(int(f), k * maxima[c])] + ([(int(control[c]), k * cmax[c])] if control is not None else [])
            want[k, c] = [index.setdefault(p, len(index)) for p in pins]
    samples = sample_pinned(lm, tok, sae, list(index), prompts, n_samples, n_new, seed=seed)
    shares = {}                                  # (pin index, category) -> stats, one mask_fn call per category
    for c in features:
        pins = sorted({0} | {i for k in ks for i in want[k, c]})
        ids = samples[pins].reshape(-1, n_new)
        per = sample_shares(ids, c, tok, mask_fn).reshape(len(pins), -1)
        for p, row in zip(pins, per):
            s = share_interval(row)
            shares[p, c] = (s["mean"], s["lo"], s["hi"], s["n"])
    rows = []
    for k in ks:
        for c, f in features.items():
            i = want[k, c]
            row = {"category": c, "k": k, "feature": int(f), "value": k * maxima[c]}
            for name, p in (("base", 0), ("steered", i[0])) + ((("control", i[1]),) if control is not None else ()):
                row.update(zip((f"share_{name}", f"share_{name}_lo", f"share_{name}_hi", f"n_{name}"), shares[p, c]))
            if control is not None:
                row.update(control_feature=int(control[c]), control_value=k * cmax[c])
            rows.append({**row, "distinct": distinct_ratio([samples[i[0]]]), "samples": samples[i[0]]})
    return rows


def dose_response(lm: TinyLM, tok: Tokenizer, sae: SAE, feature: int, max_act: float, ks: Sequence[float],
                  category: str, prompts: Sequence[str], windows: torch.Tensor, n_samples: int = 4, n_new: int = 24,
                  seed: int = 0, mask_fn: MaskFn | None = None,
                  pin: Callable[[int, float], MlpHook] | None = None) -> list[dict]:
    """For each k: KL from the clean model on `windows`, and the category's share (with its interval) and distinct
    ratio of samples with `feature` pinned at k × `max_act`; `share_base` is that of unsteered samples.
    `pin(feature, value) -> hook` (notebook 06's pin_feature) replaces the library's pin in both, with the same
    random draws: a correct one gives the library's curves, a wrong one shows in them."""
    ks, feature = _check_ks(ks), check_feature(sae, feature)
    if pin is None:
        pin = lambda i, value: clamp_hook(sae, i, value)     # noqa: E731
        samples = sample_pinned(lm, tok, sae, [None] + [(feature, k * max_act) for k in ks], prompts, n_samples,
                                n_new, seed=seed)
    else:
        samples = sample_hooked(lm, tok, [None] + [pin(feature, k * max_act) for k in ks], prompts, n_samples, n_new,
                                seed=seed)
    base = share_interval(sample_shares(samples[0], category, tok, mask_fn))["mean"]
    rows = []
    for k, s in zip(ks, samples[1:]):
        sh = share_interval(sample_shares(s, category, tok, mask_fn))
        rows.append({"k": k, "kl": next_token_kl(lm, windows, pin(feature, k * max_act)),
                     "share": sh["mean"], "share_lo": sh["lo"], "share_hi": sh["hi"], "n": sh["n"],
                     "share_base": base, "distinct": distinct_ratio([s]), "samples": s})
    return rows
