"""Profiles and per-stage configs: one small dataclass per stage, one place for every default and its rule.

Each field is `setting(default, rule)`: the rule (setting_rules.py) says what the setting may be, right beside
it. A profile (`PROFILES`: `smoke`, `classroom`, `paper`) is data, the settings in which it differs from the
defaults (= classroom); any single setting can be overridden with a dotted key such as
``lm_train.max_steps=200`` (papermill parameter or ``-p`` on the CLI).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .setting_rules import (FLAG, RECIPES, RESAMPLING, SEED, Rule, fraction, integer, number, one_of, rule_of, setting,
                            text, validate_stage)

BIG = 1 << 20


@dataclass
class DataConfig:
    """Which corpus, how much of it, and how documents split into train/val."""
    corpus_dir: str | None = setting(None, text())                  # None = the embedded mini-pile in data/
    max_chars: int | None = setting(None, integer(1000, optional=True))   # cap on corpus characters (None = all)
    val_frac: float = setting(0.15, number(0, 0.9, lo_open=True))   # share of each category's documents held out
    seed: int = setting(0, SEED)


@dataclass
class TokenizerConfig:
    """Byte-level BPE. 2,048 tokens keep the unembedding (the LM's cost centre on a CPU) small."""
    vocab_size: int = setting(2048, integer(260, 65_535))
    train_chars: int = setting(6_000_000, integer(1000))    # characters used to learn the merges (a sample is enough)


@dataclass
class LMConfig:
    """The paper's one-layer transformer: residual 128, MLP 512 with ReLU (heads/context: ours)."""
    d_model: int = setting(128, integer(1, 8192))
    n_heads: int = setting(4, integer(1, 256))
    d_mlp: int = setting(512, integer(1, 65_536))
    n_ctx: int = setting(128, integer(4, 8192))
    vocab_size: int = setting(2048, integer(260, 65_535))   # filled from the tokenizer at build time


@dataclass
class LMTrainConfig:
    """AdamW with linear warm-up then cosine decay; batches are a pure function of (seed, step)."""
    seeds: tuple[int, int] = setting((0, 1), SEED)          # init seeds of model A and model B
    batch_size: int = setting(16, integer(1))               # sequences of n_ctx tokens per step (16 x 128: fastest)
    max_steps: int = setting(1100, integer(1))
    lr: float = setting(5e-3, number(0, 1, lo_open=True, hint="; the profiles use 2e-3-5e-3"))
    min_lr_frac: float = setting(0.1, fraction(lo_open=False))
    warmup_steps: int = setting(50, integer(0))
    weight_decay: float = setting(0.05, fraction(lo_open=False))
    grad_clip: float = setting(1.0, number(0, lo_open=True))
    ckpt_every: int = setting(200, integer(1))
    eval_tokens: int = setting(200_000, integer(1))         # validation tokens scored for the loss
    data_seed: int = setting(1234, SEED)                    # same data order for A and B: only the init differs


@dataclass
class HarvestConfig:
    """The activation pool: sampled positions from many contexts, shuffled, in fixed-size shards."""
    n_rows: int = setting(655_360, integer(1))              # training rows per model (10 shards): the longest SAE
                                                            # run (sae.n_acts) reads each once
    heldout_rows: int = setting(65_536, integer(1))         # validation rows, for notebook 03's MSE, FVU and L0
                                                            # (04-06 use eval.*)
    positions_per_context: int = setting(64, integer(1))    # sampled positions per n_ctx window (paper: 250)
    shard_rows: int = setting(65_536, integer(1))           # rows per shard file
    dtype: str = setting("float16", one_of("float16", "float32"))
    batch_contexts: int = setting(64, integer(1))           # windows per forward pass
    seed: int = setting(0, SEED)


@dataclass
class SAEConfig:
    """The sparse autoencoder and its training (Bricken et al. 2023, 'The sparse autoencoder')."""
    n_features: int = setting(4096, integer(1, BIG))
    # λ of the main recipe (2024: the penalty weighs f_i by |W_dec,i|), on normalised inputs: 4,096 -> L0 ~35
    # after 650k acts; the paper recipe's λ scale is 3x smaller (alt_l1_coeff)
    l1_coeff: float = setting(0.018, number(0, 1000, hint="; the profiles use 0.006-0.03 on normalised inputs"))
    lr: float = setting(1e-3, number(0, 0.1, lo_open=True, hint="; the profiles use 3e-4-1e-3"))
    batch_size: int = setting(1024, integer(1))             # 1,024 beats 4,096 per activation on a 2-core CPU
    # training activations of the SAEs that carry the claims (main A and B, and their controls: a second seed,
    # the random-weight LM), each read once (harvest.n_rows >= n_acts): ~8k acts/s per core at 4,096 features
    n_acts: int = setting(650_000, integer(1))
    # the main recipe (sae/recipes.py), chosen by measurement: 3 seeds x {paper, 2024, topk} (README, notebook 03)
    recipe: str = setting("2024", one_of(*RECIPES))
    # dead features: auto (the recipe's own: paper for paper, none for the others) | none | paper | reinit
    resampling: str = setting("auto", one_of(*RESAMPLING))
    normalize: bool = setting(True, FLAG)                   # scale inputs so E|x|^2 = d_mlp: λ portable across LMs
    # resampling at these fractions of the run (paper: 25k..100k of 1M steps), of features dead for the last
    # `resample_window` of it (paper: 12.5k steps), from `resample_pool` inputs (paper: 819,200)
    resample_at: tuple[float, ...] = setting((0.1, 0.2, 0.3, 0.4), number(0, 0.999999, lo_open=True))
    resample_window: float = setting(0.05, fraction())
    resample_pool: int = setting(16_384, integer(1))
    seed: int = setting(0, SEED)
    sweep_sizes: tuple[int, ...] = setting((512, 1024, 2048), integer(1, BIG))   # extra dictionary sizes on A
    sweep_n_acts: int = setting(200_000, integer(1))        # each extra size; the main SAE is the sweep's largest
    ablation_n_features: int = setting(1024, integer(1, BIG))   # resampling-strategy comparison, equal budget each
    ablation_n_acts: int = setting(150_000, integer(1))
    # 4x lr: a stress test in which features die within a short run (at lr they barely do)
    ablation_lr: float = setting(4e-3, number(0, 0.1, lo_open=True))
    eval_tokens: int = setting(32_768, integer(1))          # held-out LM tokens for loss recovered (and side SAEs)
    # the recipe that is not the main one, trained on A and B beside it (`alt.<recipe>.*`; resampling: its own),
    # and its λ (the paper's penalty has no |W_dec,i| factor: another scale; L0 ~28 at 450k acts)
    alt_recipe: str = setting("paper", one_of(*RECIPES))
    alt_l1_coeff: float = setting(0.006, number(0, 1000, hint="; the profiles use 0.006-0.03"))
    # activations of the SAEs beside the main ones (the other recipe on A and B, TopK on A): fewer than n_acts, so
    # the minutes go to the claim-carrying SAEs; the equal-budget recipe comparison is a batch (README)
    side_n_acts: int = setting(450_000, integer(1))
    controls: bool = setting(True, FLAG)                    # also train the SAE-seed and the random-LM controls
    k: int = setting(32, integer(1, BIG))                   # topk / batchtopk: active features per token
    aux_coeff: float = setting(0.03125, number(0, 100))     # their AuxK loss weight (1/32, Gao et al.)
    aux_k: int = setting(256, integer(1, BIG))              # dead features used by AuxK per token (d_model / 2)
    # AuxK's "dead": not fired for this many activations (Gao et al.: 10M tokens); a short window made AuxK
    # push rare features dead on the synthetic tests
    aux_dead_acts: int = setting(100_000, integer(1))


@dataclass
class EvalConfig:
    """The evaluation tokens of notebooks 04-06: every position of n_ctx windows tiling the validation split, then
    windows of the training split until `n_tokens` (the paper's medians need millions of tokens: a feature at
    density 1e-5 fires 3 times in 262k). Their SAE codes and proxies are computed once per run (run_dir/eval/)."""
    n_tokens: int = setting(1_048_576, integer(1))          # the headline figures (proxies, universality, max acts)
    side_tokens: int = setting(262_144, integer(1))         # their first tokens, for the side SAEs (seed, recipe)
    batch_windows: int = setting(64, integer(1))            # windows per forward pass (speed only)


@dataclass
class ToyConfig:
    """Notebook 00: toy models of superposition (Elhage et al. 2022), then the kit's SAE on one of them."""
    n_features: int = setting(20, integer(2, 4096))         # part 1, as Elhage et al.: 20 features in 5 dimensions,
    d_hidden: int = setting(5, integer(1, 4096))            # importance 0.9^i
    importance_decay: float = setting(0.9, number(0, 1, lo_open=True))
    sparsities: tuple[float, ...] = setting((0.0, 0.7, 0.9, 0.97, 0.99), number(0, 1))   # one toy model per S
    steps: int = setting(3000, integer(1))                  # Adam steps of 1,024 samples (all toy models at once)
    lr: float = setting(1e-3, number(0, 1, lo_open=True))
    sae_toy_features: int = setting(80, integer(2, 4096))   # part 2: the SAE's ground truth, 80 equally important
    sae_toy_hidden: int = setting(20, integer(1, 4096))     # features in 20 dimensions at S = 0.97 (all 80
    sae_toy_sparsity: float = setting(0.97, number(0, 1))   # represented, ~2.4 active per sample)
    sae_n_features: int = setting(160, integer(1, 1 << 16))  # 2x the true features (overcomplete, as the paper's)
    sae_l1_coeff: float = setting(0.15, number(0, 1000))    # measured: 0.1-0.15 recover all 80 at 1M activations
    sae_n_acts: int = setting(1_000_000, integer(1))        # 200k were too few (MMCS 0.66 at λ 0.1), 700k: 0.999
    sae_batch_size: int = setting(256, integer(1))
    seed: int = setting(0, SEED)


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


STAGE_TYPES = {"data": DataConfig, "tokenizer": TokenizerConfig, "lm": LMConfig, "lm_train": LMTrainConfig,
               "harvest": HarvestConfig, "sae": SAEConfig, "eval": EvalConfig, "toy": ToyConfig}
STAGES = tuple(STAGE_TYPES)


def rule(key: str) -> Rule:
    """The rule of a dotted setting (stage.name)."""
    stage, _, name = key.partition(".")
    return rule_of(stage, next(f for f in dataclasses.fields(STAGE_TYPES[stage]) if f.name == name))


# each profile: the settings in which it differs from the dataclass defaults (= classroom)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "data.max_chars": 400_000,
        "tokenizer.vocab_size": 512, "tokenizer.train_chars": 400_000,
        "lm.d_model": 32, "lm.n_heads": 2, "lm.d_mlp": 128, "lm.n_ctx": 32,
        "lm_train.batch_size": 16, "lm_train.max_steps": 60, "lm_train.warmup_steps": 5,
        "lm_train.ckpt_every": 20, "lm_train.eval_tokens": 8_000,
        "harvest.n_rows": 20_000, "harvest.heldout_rows": 4_000, "harvest.positions_per_context": 16,
        "harvest.shard_rows": 8_192, "harvest.batch_contexts": 32,
        "sae.n_features": 256, "sae.l1_coeff": 0.03, "sae.alt_l1_coeff": 0.03, "sae.batch_size": 256, "sae.n_acts": 20_000,
        "sae.side_n_acts": 20_000,
        "sae.resample_pool": 2048,
        "sae.sweep_sizes": (64, 128), "sae.sweep_n_acts": 10_000, "sae.k": 16, "sae.aux_k": 64,
        "sae.aux_dead_acts": 5_000,
        "sae.ablation_n_features": 128, "sae.ablation_n_acts": 10_000,
        "sae.eval_tokens": 4_096,
        "eval.n_tokens": 24_000, "eval.side_tokens": 8_000,
        "toy.steps": 600, "toy.sae_n_acts": 100_000,
    },
    "classroom": {},
    # the classroom's shapes, the claims given 4x the compute: LMs on 4x the tokens (3.1 passes over the training
    # split: the corpus has 2.9M training tokens), the SAEs that carry the claims on 4x the activations (read once),
    # the side SAEs on 2x, and twice the evaluation tokens; <= 45 min on 2 cores. Its budget has room for the
    # 8,192-feature dictionary that feature completeness (#27) asks for: the sweep gets it, on the side SAEs'
    # 900k activations (at 200k the sweep SAEs recovered only 36-41% of the loss on this LM)
    "full": {
        "lm_train.max_steps": 4400, "lm_train.warmup_steps": 200, "lm_train.ckpt_every": 800,
        "harvest.n_rows": 2_621_440,
        "sae.n_acts": 2_600_000, "sae.side_n_acts": 900_000,
        "sae.sweep_sizes": (512, 1024, 2048, 8192), "sae.sweep_n_acts": 900_000,
        "eval.n_tokens": 2_097_152, "eval.side_tokens": 524_288,
    },
    "paper": {
        "tokenizer.vocab_size": 4096, "tokenizer.train_chars": 30_000_000,
        "lm.n_ctx": 256,
        "lm_train.batch_size": 64, "lm_train.max_steps": 20_000, "lm_train.lr": 2e-3,
        "lm_train.warmup_steps": 500, "lm_train.ckpt_every": 1000,
        "lm_train.eval_tokens": 1_000_000,
        "harvest.n_rows": 50_000_000, "harvest.heldout_rows": 1_000_000, "harvest.shard_rows": 262_144,
        "sae.batch_size": 8192, "sae.n_acts": 50_000_000, "sae.side_n_acts": 50_000_000, "sae.lr": 3e-4, "sae.resample_pool": 262_144,
        "sae.sweep_sizes": (512, 1024, 2048, 8192, 16384), "sae.sweep_n_acts": 20_000_000,
        "sae.ablation_n_acts": 5_000_000, "sae.ablation_lr": 1.2e-3, "sae.eval_tokens": 262_144,
        "eval.n_tokens": 16_777_216, "eval.side_tokens": 2_097_152,
    },
}


def _coerce(value: Any, like: Any, key: str) -> Any:
    """Turn an override (often a string from the command line) into the type of the default."""
    want = rule(key).describe()
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
            each = rule(key).describe(plural=True)
            raise ValueError(f"{key}={value!r} is not valid: it must be a non-empty list of {each}")
        return tuple(int(v) if isinstance(v, float) and v.is_integer() and isinstance(like[0], int) else v for v in value)
    return value


def validate(cfg: RunConfig) -> None:
    """Every setting against its rule, then the settings that constrain each other; raises one line."""
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
    for name in ("n_acts", "side_n_acts", "sweep_n_acts", "ablation_n_acts"):
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
    for key, value in {**PROFILES[profile], **(overrides or {})}.items():
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
