"""Every setting's valid values (`RULES`), checked before anything is written: a value that fails is never pinned.

config.py builds the profiles and applies overrides; this module only says what each dotted setting may be
and gives the one-line error (with a hint of the profiles' range) when it is not.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

RECIPES = ("paper", "2024", "topk", "batchtopk")        # sae.recipe: the registry's names (sae/recipes.py)
RESAMPLING = ("auto", "none", "paper", "reinit")        # sae.resampling (sae/resampling.py)
INF = float("inf")


@dataclass(frozen=True)
class Rule:
    """The valid values of one setting: a number range (ends included unless open), or a set of choices."""
    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    choices: tuple | None = None
    optional: bool = False            # None allowed
    integer: bool = False

    def describe(self, plural: bool = False) -> str:
        if self.choices:
            if set(self.choices) == {True, False}:
                return "true or false"
            return "one of " + ", ".join(map(str, self.choices))
        kind = ("integers" if plural else "an integer") if self.integer else ("finite numbers" if plural else "a finite number")
        fmt = lambda x: f"{int(x):,}" if float(x).is_integer() else f"{x:g}"  # noqa: E731
        lo = "" if self.lo == -INF else f"{'>' if self.lo_open else '>='} {fmt(self.lo)}"
        hi = "" if self.hi == INF else f"<= {fmt(self.hi)}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        return f"{kind}{' ' + bounds if bounds else ''}{' (or null)' if self.optional else ''}"


def _int(lo: float = 1, hi: float = INF, optional: bool = False) -> Rule:
    return Rule(lo, hi, integer=True, optional=optional)


def _frac(lo_open: bool = True, hi: float = 1.0) -> Rule:
    return Rule(0.0, hi, lo_open=lo_open)


# every setting's valid values, checked before anything is written (a value that fails is never pinned)
RULES: dict[str, Rule] = {
    "data.max_chars": _int(1000, optional=True), "data.val_frac": Rule(0, 0.9, lo_open=True), "data.seed": _int(0),
    "tokenizer.vocab_size": _int(260, 65_535), "tokenizer.train_chars": _int(1000),
    "lm.d_model": _int(1, 8192), "lm.n_heads": _int(1, 256), "lm.d_mlp": _int(1, 65_536), "lm.n_ctx": _int(4, 8192),
    "lm.vocab_size": _int(260, 65_535),
    "lm_train.seeds": _int(0), "lm_train.batch_size": _int(1), "lm_train.max_steps": _int(1),
    "lm_train.lr": Rule(0, 1, lo_open=True), "lm_train.min_lr_frac": _frac(False), "lm_train.warmup_steps": _int(0),
    "lm_train.weight_decay": _frac(False), "lm_train.grad_clip": Rule(0, lo_open=True), "lm_train.ckpt_every": _int(1),
    "lm_train.eval_tokens": _int(1), "lm_train.data_seed": _int(0),
    "harvest.n_rows": _int(1), "harvest.heldout_rows": _int(1), "harvest.positions_per_context": _int(1),
    "harvest.shard_rows": _int(1), "harvest.dtype": Rule(choices=("float16", "float32")),
    "harvest.batch_contexts": _int(1), "harvest.seed": _int(0),
    "sae.n_features": _int(1, 1 << 20), "sae.l1_coeff": Rule(0, 1000), "sae.lr": Rule(0, 0.1, lo_open=True),
    "sae.batch_size": _int(1), "sae.n_acts": _int(1), "sae.recipe": Rule(choices=RECIPES),
    "sae.resampling": Rule(choices=RESAMPLING),
    "sae.normalize": Rule(choices=(True, False)), "sae.resample_at": Rule(0, 0.999999, lo_open=True),
    "sae.resample_window": _frac(), "sae.resample_pool": _int(1), "sae.seed": _int(0),
    "sae.sweep_sizes": _int(1, 1 << 20), "sae.sweep_n_acts": _int(1), "sae.ablation_n_features": _int(1, 1 << 20),
    "sae.ablation_n_acts": _int(1), "sae.ablation_lr": Rule(0, 0.1, lo_open=True), "sae.eval_tokens": _int(1),
    "sae.alt_recipe": Rule(choices=RECIPES), "sae.alt_l1_coeff": Rule(0, 1000), "sae.controls": Rule(choices=(True, False)),
    "sae.k": _int(1, 1 << 20), "sae.aux_coeff": Rule(0, 100), "sae.aux_k": _int(1, 1 << 20),
    "sae.aux_dead_acts": _int(1),
    "eval.n_tokens": _int(1), "eval.side_tokens": _int(1), "eval.batch_windows": _int(1),
    "toy.n_features": _int(2, 4096), "toy.d_hidden": _int(1, 4096), "toy.importance_decay": Rule(0, 1, lo_open=True),
    "toy.sparsities": Rule(0, 1), "toy.steps": _int(1), "toy.lr": Rule(0, 1, lo_open=True),
    "toy.sae_toy_features": _int(2, 4096), "toy.sae_toy_hidden": _int(1, 4096), "toy.sae_toy_sparsity": Rule(0, 1),
    "toy.sae_n_features": _int(1, 1 << 16), "toy.sae_l1_coeff": Rule(0, 1000), "toy.sae_n_acts": _int(1),
    "toy.sae_batch_size": _int(1), "toy.seed": _int(0),
}
HINTS = {"sae.l1_coeff": "; the profiles use 0.006-0.03 on normalised inputs",
         "sae.alt_l1_coeff": "; the profiles use 0.018-0.03", "lm_train.lr": "; the profiles use 2e-3-5e-3",
         "sae.lr": "; the profiles use 3e-4-1e-3"}


def check_value(key: str, value: Any) -> None:
    """One-line ValueError if `value` is not valid for setting `key` (tuples: every element)."""
    rule = RULES.get(key)
    if rule is None:
        return
    for v in (value if isinstance(value, (tuple, list)) else (value,)):
        if v is None and rule.optional:
            continue
        if rule.choices is not None:
            ok = any(v == c and type(v) is type(c) for c in rule.choices)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            ok = False
        else:
            ok = (math.isfinite(v) and (not rule.integer or float(v).is_integer())
                  and (v > rule.lo if rule.lo_open else v >= rule.lo) and v <= rule.hi)
        if not ok:
            raise ValueError(f"{key}={v!r} is not valid: it must be {rule.describe()}{HINTS.get(key, '')}")


def validate_stage(stage: str, settings: Any) -> None:
    """Every setting of one stage's dataclass against RULES (for a stage config built without get_config)."""
    for f in dataclasses.fields(settings):
        check_value(f"{stage}.{f.name}", getattr(settings, f.name))
