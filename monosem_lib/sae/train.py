"""Train an SAE on MLP activations: Adam, batches read without replacement, resampling, checkpoints.

`train_sae` is the loop, in the order of nanoGPT's: start or resume, then per batch one step, the resampling
when it is due, a log line, a checkpoint. Each is a named function below; the step itself is in step.py.

The recipe (`SAEConfig.recipe`, recipes.py) decides the architecture and loss; resampling (`SAEConfig.resampling`,
resampling.py) is a separate strategy: `paper` (Bricken et al. 2023, 'Neuron resampling'), `reinit`, `none`, or `auto`
(the recipe's own). The paper resamples at steps 25k/50k/75k/100k of 1M with a 12.5k-step window; runs here are
~1,000x shorter, so the schedule is in fractions of the run: at `resample_at` (default 10/20/30/40%) features
that have not fired during the last `resample_window` of the run (default 5%, i.e. half the interval, as in the
paper) are resampled from a pool of `resample_pool` inputs.

Exact resume: batch k is fixed by the data stream, the resampling draws by (seed, step), and weights, Adam
moments and the fired-at table live in the checkpoint.

Data parallel under torchrun (`TrainOptions.dist`, distributed.py): each rank gets its own slice of every global
batch (`store.iter_batches(part=...)`), gradients are averaged weighted by rows, firing counts summed, so every
rank sees the same dead features; resampling runs on rank 0 (its pool drawn as on one process) and the new
weights and Adam moments are broadcast; rank 0 writes checkpoints and the result. BatchTopK picks its top k·B
per rank slice (equal in expectation to one process, not bit for bit); the other recipes match one process with
the same global batch up to float rounding.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from tqdm.auto import tqdm

from ..checkpoint import checkpoints, load_checkpoint, remove_leftovers, save_checkpoint
from ..config import SAEConfig, validate_stage
from ..distributed import SINGLE, Dist, barrier, broadcast_from_main, check_same, fingerprint
from ..io import CorruptFileError, load_json, save_json, save_tensors
from .model import REDO_SAE, SAE, load_sae, save_sae
from .recipes import get_recipe
from .resampling import resample, resampling_rule
from .step import MODES, init_sae, make_optimizer, train_step

COUNT_LAST = 0.25          # feature firings are counted over this last fraction of the run (train_densities)
DONE_FILES = ("history.json", "sae.safetensors", "feature_counts.safetensors", "config.json")

PoolFn = Callable[[int, int], torch.Tensor]          # (n, seed) -> n random training rows (store.sample)
Batches = Iterable[torch.Tensor] | Callable[[int], Iterable[torch.Tensor]]


@dataclass
class TrainOptions:
    """How to run a training, not what it learns (that is SAEConfig)."""
    mode: str = "auto"                 # 'auto' (sparse path once L0 is small), 'dense', 'reference' (autograd)
    ckpt_every: int | None = None      # steps between checkpoints (default: max(100, a quarter of the run))
    stop_after: int | None = None      # stop after this step as if killed (tests)
    desc: str = "SAE"                  # the progress bar's label
    on_step: Callable[[int], None] | None = None   # called after each step (a worker's progress; the bar is off)
    dist: Dist = SINGLE                # this rank under torchrun
    data_id: str = ""                  # names the data: ranks with another config or data refuse to start


@dataclass
class Training:
    """What the loop carries from step to step (besides the data stream); the first seven are checkpointed."""
    folder: Path
    sae: SAE
    opt: torch.optim.Optimizer
    cfg: SAEConfig
    sched: dict
    last_fired: torch.Tensor           # the step each feature last fired at (-1: never)
    fire_count: torch.Tensor           # firings per feature over the last COUNT_LAST of the run
    hist: dict
    density: float = 1.0               # the last step's L0 / n_features (picks the sparse path)
    start: int = 0
    pool_from: list[int] = field(default_factory=list)   # first batch of each coming pool drawn from the batches
    pool_batches: list = field(default_factory=list)   # without pool_fn: the batches before a resampling step
    acc: torch.Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.float64))   # loss, mse, l0 sums
    n_acc: int = 0
    t0: float = field(default_factory=time.perf_counter)


def validate(cfg: SAEConfig) -> None:
    """One-line errors for settings that cannot train (the same rules as get_config's)."""
    validate_stage("sae", cfg)
    if cfg.n_acts < cfg.batch_size:
        raise ValueError(f"sae.n_acts={cfg.n_acts} must be at least one batch of sae.batch_size={cfg.batch_size}")


def schedule(cfg: SAEConfig) -> dict:
    """Steps of the run, resampling steps and pool, dead windows, counting start and log interval, from cfg."""
    n_steps = cfg.n_acts // cfg.batch_size
    window = max(1, round(cfg.resample_window * n_steps))
    rule = resampling_rule(cfg.recipe, cfg.resampling)
    at = [] if rule is None else sorted({round(a * n_steps) for a in cfg.resample_at})
    pool_rows = min(cfg.resample_pool, n_steps * cfg.batch_size)
    return {"n_steps": n_steps, "resample_steps": [s for s in at if window <= s < n_steps], "window": window,
            "rule": rule, "log_every": max(1, n_steps // 250), "pool_rows": pool_rows,
            "pool_steps": -(-pool_rows // cfg.batch_size),                 # batches a pool without pool_fn spans
            "aux_window": max(1, -(-cfg.aux_dead_acts // cfg.batch_size)),  # steps without firing = dead, for AuxK
            "count_from": n_steps - max(1, round(COUNT_LAST * n_steps))}


def lr_l1_at(step: int, n_steps: int, cfg: SAEConfig) -> tuple[float, float]:
    """(lr, λ) at a step, by the recipe's schedule (constant for the paper's; 2024: λ warm-up, LR cool-down)."""
    return get_recipe(cfg.recipe).schedule(step, n_steps, cfg.lr, cfg.l1_coeff)


def train_sae(folder: str | Path, batches: Batches, d_mlp: int, cfg: SAEConfig, init_sample: torch.Tensor,
              pool_fn: PoolFn | None = None, opts: TrainOptions | None = None) -> tuple[SAE, dict]:
    """Train (or resume, or load if finished) one SAE into `folder`; returns (sae, history).

    batches: float32 [B, d_mlp] raw activations, an iterable or a callable start_batch -> iterable (under
    torchrun: this rank's slice of each global batch). init_sample: rows for b_dec's geometric median (and the
    input scale). pool_fn(n, seed): random rows for resampling; without it the pool is the batches just before
    each resampling step.
    """
    opts, folder = opts or TrainOptions(), Path(folder)
    check_start(folder, cfg, d_mlp, pool_fn, opts)
    if all((folder / f).exists() for f in DONE_FILES):     # a deleted weight file: rebuilt from the last checkpoint
        return load_sae(folder, str(init_sample.device)), load_json(folder / "history.json", advice=REDO_SAE)
    run = start_or_resume(folder, d_mlp, cfg, init_sample)
    data = resume_stream(batches, run, pool_fn is None)
    bar = tqdm(range(run.start, run.sched["n_steps"]), desc=opts.desc, initial=run.start,
               total=run.sched["n_steps"], mininterval=1.0, disable=opts.on_step is not None)
    for step in bar:
        x = next_batch(data, run, step, pool_fn is None)
        out = optimizer_step(run, x, step, opts)
        if step in run.sched["resample_steps"]:
            resample_step(run, step, out["l1_coeff"], pool_fn, opts.dist)
        log_step(run, out, step, bar)
        checkpoint_step(run, step, opts)
        if opts.on_step is not None:
            opts.on_step(step)
        if step == opts.stop_after:
            bar.close()
            return run.sae, run.hist
    bar.close()
    return finish(run, opts.dist)


def check_start(folder: Path, cfg: SAEConfig, d_mlp: int, pool_fn: PoolFn | None, opts: TrainOptions) -> None:
    """Refuse bad settings, and (torchrun) ranks that disagree; clear what a kill left in `folder`."""
    validate(cfg)
    if opts.mode not in MODES:
        raise ValueError(f"mode={opts.mode!r} must be one of {', '.join(repr(m) for m in MODES)}")
    if opts.dist.enabled and pool_fn is None:
        raise ValueError("data-parallel SAE training needs pool_fn (rank 0 draws the resampling pool from the store)")
    check_same("SAE config or activation store", fingerprint(vars(cfg), d_mlp, opts.mode, opts.data_id), opts.dist)
    if opts.dist.is_main:
        remove_leftovers(folder)
    barrier(opts.dist)


def start_or_resume(folder: Path, d_mlp: int, cfg: SAEConfig, init_sample: torch.Tensor) -> Training:
    """A fresh SAE, optimiser and bookkeeping, restored from the newest checkpoint in `folder` if there is one."""
    sched, dev = schedule(cfg), init_sample.device
    sae = init_sae(d_mlp, cfg, init_sample)
    hist = {"step": [], "loss": [], "mse": [], "l0": [], "dead": [], "lr": [], "l1_coeff": [], "resample": [],
            "train_s": 0.0, "n_steps": sched["n_steps"], "window": sched["window"],
            "resample_steps": sched["resample_steps"]}
    run = Training(folder, sae, make_optimizer(sae, cfg.lr), cfg, sched, hist=hist,
                   last_fired=torch.full((cfg.n_features,), -1, dtype=torch.long, device=dev),
                   fire_count=torch.zeros(cfg.n_features, dtype=torch.long, device=dev))
    meta = load_ckpt(run)
    if meta is not None:
        run.start, run.hist, run.density = meta["step"] + 1, meta["history"], meta["density"]
    return run


def resume_stream(batches: Batches, run: Training, pool_from_batches: bool) -> Iterator[torch.Tensor]:
    """The data from batch `run.start` on; without pool_fn, a resumed run first re-reads the batches of a coming
    resampling pool that it had seen before the stop (a callable `batches` is given its start batch,
    as store.iter_batches(start_batch=...); an iterable is skipped ahead)."""
    pending = [s for s in run.sched["resample_steps"] if s >= run.start]
    run.pool_from = [s - run.sched["pool_steps"] + 1 for s in pending] if pool_from_batches else []
    replay = next((k for k in range(max(0, run.start - run.sched["pool_steps"]), run.start) if in_pool(run, k)),
                  run.start)
    data = iter(batches(replay)) if callable(batches) else itertools.islice(iter(batches), replay, None)
    run.pool_batches = [next(data).to(run.sae.W_enc.device, torch.float32) * run.sae.scale
                        for _ in range(replay, run.start)]
    return data


def in_pool(run: Training, k: int) -> bool:
    """Is batch k part of a coming resampling pool (one drawn from the batches, without pool_fn)?"""
    return any(lo <= k < lo + run.sched["pool_steps"] for lo in run.pool_from)


def next_batch(data: Iterator[torch.Tensor], run: Training, step: int, pool_from_batches: bool) -> torch.Tensor:
    """Batch `step` in the SAE's scaled space (kept for the resampling pool when it is part of one)."""
    x = next(data, None)
    if x is None:
        raise ValueError(f"the activation stream ended at batch {step} but sae.n_acts={run.cfg.n_acts:,} needs "
                         f"{run.sched['n_steps']} batches of {run.cfg.batch_size}; harvest more rows or lower "
                         f"sae.n_acts")
    x = x.to(run.sae.W_enc.device, torch.float32) * run.sae.scale
    if pool_from_batches and in_pool(run, step):
        run.pool_batches.append(x.clone())
    return x


def optimizer_step(run: Training, x: torch.Tensor, step: int, opts: TrainOptions) -> dict:
    """One step at this step's (lr, λ); the recipe's learned state (BatchTopK's θ) and the firing tables updated;
    a non-finite loss stops the run, naming the last good checkpoint."""
    cfg, sae = run.cfg, run.sae
    lr, l1 = lr_l1_at(step, run.sched["n_steps"], cfg)
    for group in run.opt.param_groups:
        group["lr"] = lr
    dead = (step - run.last_fired) >= run.sched["aux_window"] if sae.recipe.uses_k else None   # AuxK's dead
    out = train_step(sae, run.opt, x, l1, opts.mode, run.density, dead, (cfg.aux_coeff, cfg.aux_k), opts.dist)
    out["lr"], out["l1_coeff"] = lr, l1
    run.density = out["density"]
    if not out["ok"]:
        raise FloatingPointError(f"SAE loss became {out['loss'].item()} at step {step}; {last_good(run)}; "
                                 f"lower sae.lr (now {cfg.lr}) or sae.l1_coeff (now {cfg.l1_coeff})")
    sae.recipe.update_state(sae, out, n_mean=step - run.sched["count_from"] + 1)
    run.last_fired[out["counts"] > 0] = step
    if step >= run.sched["count_from"]:
        run.fire_count += out["counts"]
    run.acc += torch.stack([out["loss"], out["mse"], out["l0"]]).double()
    run.n_acc += 1
    return out


def resample_step(run: Training, step: int, l1_coeff: float, pool_fn: PoolFn | None, dist: Dist) -> None:
    """Re-initialise the features that have not fired within the window, from a pool of inputs (rank 0 decides,
    every other rank takes its weights and Adam moments)."""
    sae, seed = run.sae, run.cfg.seed * 1_000_003 + step
    dead = (step - run.last_fired) >= run.sched["window"]
    n = 0
    if dist.is_main:
        pool = (pool_fn(run.sched["pool_rows"], seed).to(sae.W_enc.device) * sae.scale if pool_fn is not None
                else torch.cat(run.pool_batches)[-run.sched["pool_rows"]:])
        n = resample(sae, run.opt, dead, pool, l1_coeff, run.sched["rule"], seed)
    if dist.enabled:
        broadcast_from_main(resampled_state(sae, run.opt), dist)
    run.last_fired[dead] = step
    run.pool_batches = []
    run.hist["resample"].append({"step": step, "n_resampled": n})


def log_step(run: Training, out: dict, step: int, bar) -> None:
    """Every `log_every` steps: the means since the last line, the dead count, lr and λ into the history."""
    n_steps = run.sched["n_steps"]
    if (step + 1) % run.sched["log_every"] != 0 and step != n_steps - 1:
        return
    loss_m, mse_m, l0_m = (run.acc / run.n_acc).tolist()
    n_dead = int(((step - run.last_fired) >= min(run.sched["window"], step + 1)).sum())
    for key, val in zip(("step", "loss", "mse", "l0", "dead", "lr", "l1_coeff"),
                        (step, loss_m, mse_m, l0_m, n_dead, out["lr"], out["l1_coeff"])):
        run.hist[key].append(round(val, 6) if isinstance(val, float) else val)
    run.acc.zero_()
    run.n_acc = 0
    bar.set_postfix(loss=f"{loss_m:.4g}", L0=f"{l0_m:.1f}", dead=n_dead, refresh=False)


def checkpoint_step(run: Training, step: int, opts: TrainOptions) -> None:
    """Every `ckpt_every` steps, at the end and at `stop_after`: weights, Adam state and the firing tables (rank 0),
    after checking that no weight went non-finite."""
    n_steps = run.sched["n_steps"]
    every = opts.ckpt_every or max(100, n_steps // 4)
    if (step + 1) % every != 0 and step != n_steps - 1 and step != opts.stop_after:
        return
    run.hist["train_s"] += time.perf_counter() - run.t0
    if not all(torch.isfinite(p).all() for p in run.sae.parameters()):
        raise FloatingPointError(f"SAE weights became non-finite at step {step}; {last_good(run)}; "
                                 f"lower sae.lr (now {run.cfg.lr})")
    if opts.dist.is_main:
        save_checkpoint(run.folder, step, run.sae, run.opt,
                        {"history": run.hist, "density": run.density, "arch": vars(run.sae.arch)},
                        extra={"last_fired": run.last_fired, "fire_count": run.fire_count})
    barrier(opts.dist)
    run.t0 = time.perf_counter()


def last_good(run: Training) -> str:
    """Which checkpoint a failed run leaves (for its error message)."""
    ckpts = checkpoints(run.folder)
    return f"the last good checkpoint {ckpts[-1].name} is kept" if ckpts else "no checkpoint was written yet"


def finish(run: Training, dist: Dist) -> tuple[SAE, dict]:
    """The finished SAE, its training-time feature counts and its history (rank 0 writes them)."""
    n_steps, cfg = run.sched["n_steps"], run.cfg
    run.hist["acts_per_s"] = n_steps * cfg.batch_size / max(run.hist["train_s"], 1e-9)
    run.hist["count_acts"] = (n_steps - run.sched["count_from"]) * cfg.batch_size
    if dist.is_main:
        save_tensors(run.folder / "feature_counts.safetensors", {"counts": run.fire_count})
        save_sae(run.sae.eval(), run.folder, extra={"train": vars(cfg)})
        save_json(run.folder / "history.json", run.hist)
    barrier(dist)
    return run.sae.eval(), run.hist


def load_ckpt(run: Training) -> dict | None:
    """Restore the newest checkpoint into `run` (refusing one of a differently shaped SAE); its meta, or None."""
    ckpts = checkpoints(run.folder)
    if ckpts:
        try:
            arch = load_json(ckpts[-1].with_suffix(".json")).get("arch")
        except (FileNotFoundError, ValueError, CorruptFileError):
            arch = None  # damaged: load_checkpoint below says which file and what to do
        if arch is not None and arch != vars(run.sae.arch):
            raise ValueError(f"{run.folder} holds a checkpoint of another SAE ({arch}); delete it or use another")
    restored = load_checkpoint(run.folder, run.sae, run.opt, device=str(run.last_fired.device))
    if restored is None:
        return None
    meta, extra = restored
    run.last_fired.copy_(extra["last_fired"])
    run.fire_count.copy_(extra["fire_count"])
    return meta


def resampled_state(sae: SAE, opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    """What resampling may change: the parameters and their Adam moments (broadcast from rank 0)."""
    out = [p.data for p in sae.parameters()]
    for p in sae.parameters():
        out += [opt.state[p][k] for k in ("exp_avg", "exp_avg_sq") if k in opt.state.get(p, {})]
    return out
