"""Train the tiny LM: AdamW, warm-up + cosine decay, periodic checkpoints, exact resume.

Exact resume works because nothing random is carried between steps: batch `k` is a pure function
of (data_seed, k), the LR a pure function of k, and model + Adam state live in the checkpoint.
A run killed at any point and restarted ends with the same weights as one that never stopped.
Under torchrun (`dist`, see distributed.py) each rank takes its slice of the global batch, gradients are
averaged before clipping, and rank 0 alone writes checkpoints and the final model; every rank resumes from
the same checkpoint, so N processes end with the weights of one process with the same global batch.
"""
from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint, remove_leftovers, save_checkpoint
from ..config import LMConfig, LMTrainConfig
from ..distributed import SINGLE, Dist, average_grads, barrier, check_same, fingerprint, mean_over_ranks, rank_slice
from ..io import load_json, save_json
from ..parallel import run_in_processes
from ..reuse import check_reuse
from .evaluate import lm_loss
from .model import REDO_LM, TinyLM, save_lm

MIN_SPAWN_TOKENS = 1_000_000   # training tokens per model below which models train in this process


def get_batch(tokens: np.ndarray, batch_size: int, n_ctx: int, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of n_ctx+1 tokens, chosen by (seed, step) alone -> (inputs, next-token targets)."""
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(tokens) - n_ctx - 1, size=batch_size)
    chunk = torch.from_numpy(tokens[starts[:, None] + np.arange(n_ctx + 1)].astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


def lr_at(step: int, cfg: LMTrainConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to cfg.lr * cfg.min_lr_frac."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - 1 - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def make_optimizer(lm: TinyLM, cfg: LMTrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (not biases or LayerNorm gains)."""
    decay = [p for p in lm.parameters() if p.dim() >= 2]
    no_decay = [p for p in lm.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def _resume(folder: Path, lm: TinyLM, opt: torch.optim.Optimizer) -> tuple[int, dict]:
    """Load the newest checkpoint; returns (next step, history so far)."""
    restored = load_checkpoint(folder, lm, opt)
    if restored is None:
        return 0, {"step": [], "loss": [], "lr": [], "val_step": [], "val_loss": [], "train_s": 0.0}
    meta, _ = restored
    return meta["step"] + 1, meta["history"]


def train_step(lm: TinyLM, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, step: int,
               cfg: LMTrainConfig, dist: Dist) -> float:
    """One AdamW step at this step's LR, gradients averaged over ranks and clipped; returns the (global) loss."""
    for group in opt.param_groups:
        group["lr"] = lr_at(step, cfg)
    opt.zero_grad(set_to_none=True)
    loss = lm.loss(x, y)
    loss.backward()
    average_grads(list(lm.parameters()), len(x), dist)        # before clipping: clip the global gradient
    loss = mean_over_ranks(loss.detach(), len(x), dist)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"LM loss became {loss.item()} at step {step}; lower lm_train.lr (now {cfg.lr})")
    torch.nn.utils.clip_grad_norm_(lm.parameters(), cfg.grad_clip)
    opt.step()
    return loss.item()


def _checkpoint(folder: Path, step: int, lm: TinyLM, opt: torch.optim.Optimizer, history: dict,
                val_windows: torch.Tensor | None, dist: Dist) -> None:
    """The validation loss on 64 windows into the history, then weights + Adam state (rank 0)."""
    if val_windows is not None:
        history["val_step"].append(step)
        history["val_loss"].append(lm_loss(lm, val_windows[:64]))
        lm.train()
    if dist.is_main:
        save_checkpoint(folder, step, lm, opt, {"history": history})
    barrier(dist)


def train_lm(folder: str | Path, model_cfg: LMConfig, cfg: LMTrainConfig, seed: int, train_tokens: np.ndarray,
             val_windows: torch.Tensor | None = None, stop_after: int | None = None, desc: str = "LM",
             on_step: Callable[[int], None] | None = None, dist: Dist = SINGLE, device: str = "cpu") -> dict:
    """Train (or resume, or skip if finished) one LM into `folder`; returns its training history.

    `stop_after` ends the run early after that step, as if killed (tests use it); `on_step(k)` is
    called after each step (progress reporting from a worker process); `dist`: this rank under torchrun;
    `device`: where the model trains (the weights are initialised on the CPU first: the same on any device).
    """
    folder = Path(folder)
    if cfg.batch_size % dist.world:
        raise ValueError(f"lm_train.batch_size={cfg.batch_size} must be divisible by the {dist.world} processes")
    if dist.enabled:                 # hashing the tokens costs a pass over them: only when ranks must agree
        check_same("LM config or training tokens", fingerprint(model_cfg, cfg, seed, len(train_tokens),
                                                               hashlib.sha256(train_tokens.tobytes()).hexdigest()), dist)
    if dist.is_main:
        remove_leftovers(folder)
    barrier(dist)
    # finished = history *and* weights: a deleted (corrupt) model.safetensors is rebuilt from the last checkpoint
    if all((folder / f).exists() for f in ("history.json", "model.safetensors", "config.json")):
        return load_json(folder / "history.json", advice=REDO_LM)
    torch.manual_seed(seed)
    lm = TinyLM(model_cfg).to(device)
    opt = make_optimizer(lm, cfg)
    start, history = _resume(folder, lm, opt)
    lm.train()
    bar = tqdm(range(start, cfg.max_steps), desc=desc, initial=start, total=cfg.max_steps, mininterval=1.0,
               disable=on_step is not None)
    t0 = time.perf_counter()
    for step in bar:
        x, y = get_batch(train_tokens, cfg.batch_size, model_cfg.n_ctx, cfg.data_seed, step)
        part = rank_slice(cfg.batch_size, dist)                  # this rank's rows of the global batch
        loss = train_step(lm, opt, x[part].to(device), y[part].to(device), step, cfg, dist)
        for key, val in (("step", step), ("loss", round(loss, 5)), ("lr", lr_at(step, cfg))):
            history[key].append(val)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        if on_step is not None:
            on_step(step)
        if (step + 1) % cfg.ckpt_every == 0 or step == cfg.max_steps - 1 or step == stop_after:
            history["train_s"] += time.perf_counter() - t0
            _checkpoint(folder, step, lm, opt, history, val_windows, dist)
            t0 = time.perf_counter()
        if step == stop_after:
            bar.close()
            return history
    bar.close()
    history["tokens_per_s"] = cfg.max_steps * cfg.batch_size * model_cfg.n_ctx / max(history["train_s"], 1e-9)
    if dist.is_main:
        save_lm(lm.eval(), folder, extra={"seed": seed, "train": vars(cfg)})
        save_json(folder / "history.json", history)
    barrier(dist)
    return history


def _lm_job(folder: str, model_cfg: LMConfig, cfg: LMTrainConfig, seed: int, split_dir: str,
            val_windows: torch.Tensor | None, on_step: Callable[[int], None] | None = None, device: str = "cpu") -> dict:
    """One model as a job of `run_in_processes` (reads its own copy of the tokens)."""
    from ..text.splits import load_split

    return train_lm(folder, model_cfg, cfg, seed, load_split(split_dir).tokens, val_windows,
                    desc=f"LM {Path(folder).name}", on_step=on_step, device=device)


def train_lms(jobs: dict[str, tuple[Path, int]], model_cfg: LMConfig, cfg: LMTrainConfig, split_dir: str | Path,
              val_windows: torch.Tensor | None = None, parallel: bool | None = None,
              device: str | None = None) -> dict[str, dict]:
    """Train several LMs ({name: (folder, seed)}); on a multi-core CPU, at once, one process each; on the
    GPU when there is one (`device` None: CUDA if available).

    Two small models side by side on one thread each train ~2x faster in total than one after the
    other on all threads: a 128-wide model cannot keep two cores busy.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    # a finished LM is reloaded, not retrained: only if it was trained with these settings
    wanted = {Path(folder): {"lm": vars(model_cfg), "seed": seed, "train": vars(cfg)} for folder, seed in jobs.values()}
    check_reuse(wanted, "LM", "01_train_tiny_lm", REDO_LM)
    kwargs = {name: {"folder": str(folder), "model_cfg": model_cfg, "cfg": cfg, "seed": seed, "split_dir": str(split_dir),
                     "val_windows": val_windows, "device": device} for name, (folder, seed) in jobs.items()}
    if parallel is None and cfg.max_steps * cfg.batch_size * model_cfg.n_ctx < MIN_SPAWN_TOKENS:
        parallel = False  # tiny runs (smoke): starting a process costs more than it saves
    return run_in_processes(_lm_job, kwargs, cfg.max_steps, desc="LM ", parallel=parallel)
