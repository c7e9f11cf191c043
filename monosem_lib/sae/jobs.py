"""A run's SAEs trained from its activation stores: one store-fed run, several in processes, their densities.

`train.py` trains one SAE on any stream of batches; this module feeds it from `harvest.store` (enough epochs
for `n_acts`, the resampling pool drawn from the store, a rank's slice under torchrun) and runs the many SAEs
of notebook 03 side by side.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import dataclasses

import torch

from ..config import SAEConfig
from ..harvest.store import open_store
from ..io import load_json, load_tensors
from ..reuse import check_reuse
from .model import REDO_SAE, SAE
from .train import TrainOptions, schedule, train_sae

MIN_SPAWN_WORK = 5e7       # n_acts x n_features below which a job trains in this process (spawning costs seconds)


def train_densities(folder: str | Path) -> tuple[torch.Tensor, int]:
    """(firings per feature, activations seen) over the last quarter of a finished run: densities at a
    resolution of ~1/(0.25 n_acts), far finer than a held-out set can give."""
    folder = Path(folder)
    counts = load_tensors(folder / "feature_counts.safetensors", advice=REDO_SAE)["counts"]
    return counts, load_json(folder / "history.json", advice=REDO_SAE)["count_acts"]


# the resampling ablation of notebook 03: SAE name -> (recipe, resampling), at an equal budget
ABLATION = {"paper": ("paper", "paper"), "none": ("paper", "none"), "reinit": ("paper", "reinit"), "2024": ("2024", "auto")}
Jobs = dict[str, tuple[str, SAEConfig]]          # SAE folder name -> (LM / store name, its settings)


def notebook_plan(cfg: SAEConfig, models: tuple[str, ...] = ("A", "B"), control_lm: str = "random") -> dict[str, Jobs]:
    """Every SAE notebook 03 trains, by group: the main ones, the dictionary-size sweep, the resampling ablation
    (equal budget, `ablation_lr`), and the controls (the other recipe, TopK, a second seed, the random-weight LM)."""
    lam = {cfg.recipe: cfg.l1_coeff, cfg.alt_recipe: cfg.alt_l1_coeff}           # each recipe's own λ scale
    sweep = {f"A_{n}": ("A", dataclasses.replace(cfg, n_features=n, n_acts=cfg.sweep_n_acts)) for n in cfg.sweep_sizes}
    ablation = {f"ablation_{name}": ("A", dataclasses.replace(
        cfg, n_features=cfg.ablation_n_features, n_acts=cfg.ablation_n_acts, lr=cfg.ablation_lr, recipe=recipe,
        resampling=resampling, l1_coeff=lam.get(recipe, cfg.l1_coeff))) for name, (recipe, resampling) in ABLATION.items()}
    alt = dataclasses.replace(cfg, recipe=cfg.alt_recipe, resampling="auto", l1_coeff=cfg.alt_l1_coeff,
                              n_acts=cfg.side_n_acts)
    controls = {**{f"alt_{m}": (m, alt) for m in models},
                "topk_A": ("A", dataclasses.replace(cfg, recipe="topk", resampling="auto", n_acts=cfg.side_n_acts))}
    if cfg.controls:
        controls.update({"A_seed1": ("A", dataclasses.replace(cfg, seed=cfg.seed + 1)), control_lm: (control_lm, cfg)})
    return {"main": {m: (m, cfg) for m in models}, "sweep": sweep, "ablation": ablation, "controls": controls}


def train_sae_on_store(store, folder: str | Path, cfg: SAEConfig, device: str = "cpu", init_rows: int = 16_384,
                       opts: TrainOptions | None = None) -> tuple[SAE, dict]:
    """`train_sae` fed by an activation store (monosem_lib.harvest.activations): enough epochs for cfg.n_acts;
    under torchrun (opts.dist) each rank reads its own slice of every batch."""
    opts = opts or TrainOptions()
    epochs = -(-cfg.n_acts // max(1, store.n_rows))
    sample = store.sample(min(init_rows, store.n_rows), seed=cfg.seed, device=device)
    part = {"part": (opts.dist.rank, opts.dist.world)} if opts.dist.enabled else {}
    if opts.dist.enabled:
        opts = dataclasses.replace(opts, data_id=store.fingerprint())
    return train_sae(folder, lambda start: store.iter_batches(cfg.batch_size, seed=cfg.seed, epochs=epochs,
                                                              device=device, start_batch=start, **part),
                     store.d_mlp, cfg, sample, pool_fn=lambda n, seed: store.sample(n, seed=seed, device=device),
                     opts=opts)


def _store_job(run_dir: str, model: str, folder: str, cfg: SAEConfig, device: str = "cpu",
               on_step: Callable[[int], None] | None = None) -> dict:
    """One SAE as a job of `run_in_processes`: open the store, train, return the history."""
    opts = TrainOptions(desc=f"SAE {Path(folder).name}", on_step=on_step)
    return train_sae_on_store(open_store(run_dir, model), folder, cfg, device, opts=opts)[1]


def train_saes(run_dir: str | Path, jobs: dict[str, tuple[str, SAEConfig]], max_procs: int | None = None,
               device: str = "cpu", parallel: bool | None = None) -> dict[str, dict]:
    """Train SAEs {folder name: (LM name, cfg)} into run_dir/sae/<folder name>; returns their histories.

    On a multi-core CPU the jobs run in processes of one thread, `max_procs` at a time (default: one
    per core), longest first: two 1-thread processes train ~2x more activations per second than one on 2 threads.
    A finished SAE is only reloaded; an interrupted one resumes from its checkpoint.
    """
    from ..parallel import default_parallel, run_in_processes

    run_dir = Path(run_dir)
    for model, _ in jobs.values():           # a missing or incomplete store: fail here, naming notebook 02
        open_store(run_dir, model)
    # a finished SAE is reloaded, not retrained: only if it was trained with these settings
    check_reuse({run_dir / "sae" / name: {"train": vars(cfg)} for name, (_, cfg) in jobs.items()}, "SAE",
                "03_train_sae", REDO_SAE)
    kwargs = {name: {"run_dir": str(run_dir), "model": model, "folder": str(run_dir / "sae" / name), "cfg": cfg,
                     "device": device} for name, (model, cfg) in jobs.items()}
    steps = {name: schedule(cfg)["n_steps"] for name, (_, cfg) in jobs.items()}
    # longest first (activations x features): the short jobs then fill the gaps, and the pool ends together
    order = sorted(jobs, key=lambda n: -jobs[n][1].n_acts * jobs[n][1].n_features)
    kwargs = {name: kwargs[name] for name in order}
    if parallel is None:             # tiny jobs (smoke): starting a process costs more than the job itself
        parallel = default_parallel(len(jobs)) and min(c.n_acts * c.n_features for _, c in jobs.values()) >= MIN_SPAWN_WORK
    done = run_in_processes(_store_job, kwargs, steps, max_procs=max_procs, desc="SAE ", parallel=parallel)
    return {name: done[name] for name in jobs}
