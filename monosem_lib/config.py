"""Profiles and per-stage configs: one small dataclass per stage, one place for every default.

A profile (`smoke`, `classroom`, `paper`) is a `RunConfig`; any single setting can be overridden
with a dotted key such as ``lm_train.max_steps=200`` (papermill parameter or ``-p`` on the CLI).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .setting_rules import RULES, validate_stage

PROFILES = ("smoke", "classroom", "paper")


@dataclass
class DataConfig:
    """Which corpus, how much of it, and how documents split into train/val."""
    corpus_dir: str | None = None     # None = the embedded mini-pile in data/
    max_chars: int | None = None      # cap on corpus characters (None = all)
    val_frac: float = 0.15            # share of each category's documents held out (stratified split)
    seed: int = 0


@dataclass
class TokenizerConfig:
    """Byte-level BPE. 2,048 tokens keep the unembedding (the LM's cost centre on a CPU) small."""
    vocab_size: int = 2048
    train_chars: int = 6_000_000      # characters used to learn the merges (a sample is enough)


@dataclass
class LMConfig:
    """The paper's one-layer transformer: residual 128, MLP 512 with ReLU (heads/context: ours)."""
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 128
    vocab_size: int = 2048            # filled from the tokenizer at build time


@dataclass
class LMTrainConfig:
    """AdamW with linear warm-up then cosine decay; batches are a pure function of (seed, step)."""
    seeds: tuple[int, int] = (0, 1)   # init seeds of model A and model B
    batch_size: int = 16              # sequences of n_ctx tokens per step (16 x 128 ran fastest per token here)
    max_steps: int = 1100
    lr: float = 5e-3
    min_lr_frac: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    ckpt_every: int = 200
    eval_tokens: int = 200_000        # validation tokens scored for the loss
    data_seed: int = 1234             # same data order for A and B: only the init differs


@dataclass
class HarvestConfig:
    """The activation pool: sampled positions from many contexts, shuffled, in fixed-size shards."""
    n_rows: int = 524_288             # training rows per model (8 shards): enough for the longest SAE run (450k), read once
    heldout_rows: int = 65_536        # rows from the validation split only, for notebook 03's MSE, FVU and L0 (04-06 use eval.*)
    positions_per_context: int = 64   # sampled positions per n_ctx window (paper: 250 of each context)
    shard_rows: int = 65_536          # rows per shard file
    dtype: str = "float16"            # or "float32"
    batch_contexts: int = 64          # windows per forward pass
    seed: int = 0


@dataclass
class SAEConfig:
    """The sparse autoencoder and its training (PAPER.md: 'The sparse autoencoder')."""
    n_features: int = 4096
    l1_coeff: float = 0.006           # lambda of the main (paper) recipe, on normalised inputs: 4,096 -> L0 ~26 after 450k acts
    lr: float = 1e-3
    batch_size: int = 1024            # 1,024 beats 4,096 per activation on a 2-core CPU
    n_acts: int = 450_000             # training activations (each read once); 4,096 features: ~8k acts/s on 1 core
    recipe: str = "paper"             # the main recipe: paper | 2024 | topk | batchtopk (recipes.py); measured, README
    resampling: str = "auto"          # dead features: auto (the recipe's own: paper for paper, none for the others)
                                      # | paper | reinit | none
    normalize: bool = True            # scale inputs so E|x|^2 = d_mlp (as 2024; here paper too): lambda portable across LMs
    resample_at: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)   # fractions of the run (paper: 25k..100k of 1M steps)
    resample_window: float = 0.05     # dead = not fired during this last fraction of the run (paper: 12.5k steps)
    resample_pool: int = 16_384       # inputs whose loss is computed to pick replacements (paper: 819,200)
    seed: int = 0
    sweep_sizes: tuple[int, ...] = (512, 1024, 2048)   # extra dictionary sizes on model A
    sweep_n_acts: int = 200_000       # each extra size; the main SAE is the sweep's largest member
    ablation_n_features: int = 1024   # resampling-strategy comparison, equal budget each
    ablation_n_acts: int = 150_000
    ablation_lr: float = 4e-3         # 4x lr: a stress test in which features die within a short run (at lr they barely do)
    eval_tokens: int = 32_768         # held-out LM tokens for loss recovered (and held-out rows for sweep/ablation SAEs)
    alt_recipe: str = "2024"          # the recipe that is not the main one, trained on A and B beside it (`alt.<recipe>.*`;
                                      # resampling: its own)
    alt_l1_coeff: float = 0.018       # its lambda (the 2024 penalty weighs f_i by |W_dec,i|: another scale); L0 ~38
    controls: bool = True             # also train the SAE-seed control (A_seed1) and the random-LM control
    k: int = 32                       # topk / batchtopk recipes: active features per token (Gao et al. 2024)
    aux_coeff: float = 0.03125        # their AuxK loss weight (1/32, Gao et al.): dead features model the residual
    aux_k: int = 256                  # dead features used by AuxK per token (Gao et al.: d_model / 2)
    aux_dead_acts: int = 100_000      # AuxK's "dead": not fired for this many activations (Gao et al.: 10M tokens);
                                      # a short window made AuxK push rare features dead on the synthetic tests


@dataclass
class EvalConfig:
    """The evaluation tokens of notebooks 04-06: every position of n_ctx windows tiling the validation split, then
    windows of the training split until `n_tokens` (the paper's medians need millions of tokens: a feature at
    density 1e-5 fires 3 times in 262k). Their SAE codes and proxies are computed once per run (run_dir/eval/)."""
    n_tokens: int = 1_048_576          # the headline figures (proxies, specificity, universality, max activations)
    side_tokens: int = 262_144        # the first tokens of the same set, for the side SAEs (seed and recipe controls)
    batch_windows: int = 64           # windows per forward pass (speed only)


@dataclass
class ToyConfig:
    """Notebook 00: toy models of superposition (Elhage et al. 2022), then the kit's SAE on one of them."""
    n_features: int = 20              # part 1, as Elhage et al.: 20 features in 5 dimensions, importance 0.9^i
    d_hidden: int = 5
    importance_decay: float = 0.9
    sparsities: tuple[float, ...] = (0.0, 0.7, 0.9, 0.97, 0.99)   # one toy model per sparsity S
    steps: int = 3000                 # Adam steps of 1,024 samples (all toy models at once)
    lr: float = 1e-3
    sae_toy_features: int = 80        # part 2: the SAE's ground truth, 80 equally important features in
    sae_toy_hidden: int = 20          # 20 dimensions at S = 0.97 (all 80 represented, ~2.4 active per sample)
    sae_toy_sparsity: float = 0.97
    sae_n_features: int = 160         # 2x the true features (the paper's dictionaries are overcomplete too)
    sae_l1_coeff: float = 0.15        # measured: 0.1-0.15 recover all 80 at 1M activations, 0.3 kills features
    sae_n_acts: int = 1_000_000       # 200k were too few (MMCS 0.66 at lambda 0.1), 700k gave 0.999
    sae_batch_size: int = 256
    seed: int = 0


@dataclass
class RunConfig:
    """Everything a run needs, grouped by stage (each stage saves its part as JSON)."""
    profile: str = "classroom"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    lm_train: LMTrainConfig = field(default_factory=LMTrainConfig)
    harvest: HarvestConfig = field(default_factory=HarvestConfig)
    sae: SAEConfig = field(default_factory=SAEConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    toy: ToyConfig = field(default_factory=ToyConfig)

    def stage(self, name: str) -> dict:
        """The JSON-able dict of one stage's settings."""
        return dataclasses.asdict(getattr(self, name))


STAGES = ("data", "tokenizer", "lm", "lm_train", "harvest", "sae", "eval", "toy")


def _profile_overrides(profile: str) -> dict[str, Any]:
    """The settings in which each profile differs from the dataclass defaults (= classroom)."""
    if profile == "smoke":
        return {
            "data.max_chars": 400_000,
            "tokenizer.vocab_size": 512, "tokenizer.train_chars": 400_000,
            "lm.d_model": 32, "lm.n_heads": 2, "lm.d_mlp": 128, "lm.n_ctx": 32,
            "lm_train.batch_size": 16, "lm_train.max_steps": 60, "lm_train.warmup_steps": 5,
            "lm_train.ckpt_every": 20, "lm_train.eval_tokens": 8_000,
            "harvest.n_rows": 20_000, "harvest.heldout_rows": 4_000, "harvest.positions_per_context": 16,
            "harvest.shard_rows": 8_192, "harvest.batch_contexts": 32,
            "sae.n_features": 256, "sae.l1_coeff": 0.03, "sae.alt_l1_coeff": 0.03, "sae.batch_size": 256, "sae.n_acts": 20_000,
            "sae.resample_pool": 2048,
            "sae.sweep_sizes": (64, 128), "sae.sweep_n_acts": 10_000, "sae.k": 16, "sae.aux_k": 64,
            "sae.aux_dead_acts": 5_000,
            "sae.ablation_n_features": 128, "sae.ablation_n_acts": 10_000,
            "sae.eval_tokens": 4_096,
            "eval.n_tokens": 24_000, "eval.side_tokens": 8_000,
            "toy.steps": 600, "toy.sae_n_acts": 100_000,
        }
    if profile == "paper":
        return {
            "tokenizer.vocab_size": 4096, "tokenizer.train_chars": 30_000_000,
            "lm.n_ctx": 256,
            "lm_train.batch_size": 64, "lm_train.max_steps": 20_000, "lm_train.lr": 2e-3,
            "lm_train.warmup_steps": 500, "lm_train.ckpt_every": 1000,
            "lm_train.eval_tokens": 1_000_000,
            "harvest.n_rows": 50_000_000, "harvest.heldout_rows": 1_000_000, "harvest.shard_rows": 262_144,
            "sae.batch_size": 8192, "sae.n_acts": 50_000_000, "sae.lr": 3e-4, "sae.resample_pool": 262_144,
            "sae.sweep_sizes": (512, 1024, 2048, 8192, 16384), "sae.sweep_n_acts": 20_000_000,
            "sae.ablation_n_acts": 5_000_000, "sae.ablation_lr": 1.2e-3, "sae.eval_tokens": 262_144,
            "eval.n_tokens": 16_777_216, "eval.side_tokens": 2_097_152,
        }
    return {}


def _coerce(value: Any, like: Any, key: str) -> Any:
    """Turn an override (often a string from the command line) into the type of the default."""
    want = RULES[key].describe() if key in RULES else f"a {type(like).__name__}"
    bad = ValueError(f"{key}={value!r} is not valid: it must be {want}")
    if isinstance(value, str) and not isinstance(like, str):
        special = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "none": None, "null": None}
        if value.strip().lower() in special:
            value = special[value.strip().lower()]
        else:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                if like is not None:
                    raise bad from None
    if isinstance(like, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(like, int) and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise bad
        return float(value) if isinstance(like, float) else value
    if isinstance(like, tuple):
        if not isinstance(value, (list, tuple)) or not value:
            each = RULES[key].describe(plural=True) if key in RULES else "values"
            raise ValueError(f"{key}={value!r} is not valid: it must be a non-empty list of {each}")
        return tuple(int(v) if isinstance(v, float) and v.is_integer() and isinstance(like[0], int) else v for v in value)
    return value


def validate(cfg: RunConfig) -> None:
    """Every setting against RULES, then the settings that constrain each other; raises one line."""
    for s in STAGES:
        validate_stage(s, getattr(cfg, s))
    c = cfg
    pairs = [
        (c.lm.d_model % c.lm.n_heads == 0, f"lm.d_model ({c.lm.d_model}) must be divisible by lm.n_heads ({c.lm.n_heads})"),
        (len(c.lm_train.seeds) == 2, f"lm_train.seeds={list(c.lm_train.seeds)} must be two seeds, for LM A and LM B"),
        (c.harvest.positions_per_context < c.lm.n_ctx,
         f"harvest.positions_per_context={c.harvest.positions_per_context} must be below lm.n_ctx={c.lm.n_ctx}"),
        (c.lm_train.warmup_steps <= c.lm_train.max_steps,
         f"lm_train.warmup_steps={c.lm_train.warmup_steps} must not exceed lm_train.max_steps={c.lm_train.max_steps}"),
    ]
    pairs += [(c.toy.d_hidden < c.toy.n_features,
               f"toy.d_hidden={c.toy.d_hidden} must be below toy.n_features={c.toy.n_features} (else nothing to squeeze)"),
              (c.toy.sae_toy_hidden < c.toy.sae_toy_features,
               f"toy.sae_toy_hidden={c.toy.sae_toy_hidden} must be below toy.sae_toy_features={c.toy.sae_toy_features}"),
              (max(c.toy.sparsities + (c.toy.sae_toy_sparsity,)) < 1,
               "toy sparsities must be below 1 (at S = 1 no feature is ever on)"),
              (c.toy.sae_n_acts >= c.toy.sae_batch_size,
               f"toy.sae_n_acts={c.toy.sae_n_acts} must be at least one batch (toy.sae_batch_size={c.toy.sae_batch_size})")]
    if c.sae.k > c.sae.n_features:
        pairs.append((False, f"sae.k={c.sae.k} must not exceed sae.n_features={c.sae.n_features}"))
    for name in ("n_acts", "sweep_n_acts", "ablation_n_acts"):
        pairs.append((getattr(c.sae, name) >= c.sae.batch_size,
                      f"sae.{name}={getattr(c.sae, name)} must be at least one batch (sae.batch_size={c.sae.batch_size})"))
    for ok, msg in pairs:
        if not ok:
            raise ValueError(msg)


def valid_keys(cfg: RunConfig | None = None) -> list[str]:
    """Every dotted setting name that can be overridden."""
    cfg = cfg or RunConfig()
    return [f"{s}.{f.name}" for s in STAGES for f in dataclasses.fields(getattr(cfg, s))]


# settings that were renamed or split: refused with a line naming their successors
RETIRED = {"sae.resample": "sae.resample was split in two: set sae.recipe (paper, 2024, topk, batchtopk) and "
                           "sae.resampling (auto, none, paper, reinit); e.g. the old sae.resample=reinit is "
                           "sae.recipe=paper with sae.resampling=reinit"}


def set_value(cfg: RunConfig, key: str, value: Any) -> None:
    """Set one dotted setting, with a one-line error listing the valid ones for a bad key."""
    if key in RETIRED:
        raise ValueError(RETIRED[key])
    stage, _, name = key.partition(".")
    if stage not in STAGES or not hasattr(getattr(cfg, stage), name):
        raise ValueError(f"unknown setting {key!r}; valid settings: {', '.join(valid_keys(cfg))}")
    sub = getattr(cfg, stage)
    setattr(sub, name, _coerce(value, getattr(sub, name), key))


def get_config(profile: str = "classroom", overrides: dict[str, Any] | None = None) -> RunConfig:
    """The profile's RunConfig with `overrides` ({"lm_train.max_steps": 200, ...}) applied."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    cfg = RunConfig(profile=profile)
    for key, value in {**_profile_overrides(profile), **(overrides or {})}.items():
        set_value(cfg, key, value)
    cfg.lm.vocab_size = cfg.tokenizer.vocab_size
    validate(cfg)
    return cfg


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """['a.b=1', ...] -> {'a.b': '1'}; values are coerced later against the defaults."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"override {pair!r} must look like key=value, e.g. lm_train.max_steps=200")
        out[key.strip()] = value.strip()
    return out
