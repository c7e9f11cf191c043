"""The training steps of notebooks 01-03, data parallel on N processes (GPUs or CPU cores) under torchrun.

    torchrun --nproc_per_node N -m monosem_lib train --profile paper --run-dir runs/paper
    python -m monosem_lib run --profile paper --run-dir runs/paper     # the notebooks, finding them finished

It runs exactly the library calls the notebooks make, with the run's pinned settings: the tokenizer and token
splits (rank 0; the others wait and load them), LM A and B (`lm.train.train_lm`), the activation stores of A, B
and the random-weight control (`harvest_mlp_activations`, shards dealt out to the ranks) and the main SAEs of A
and B (`train_sae_on_store`). The side SAEs (sweep, ablation, controls) stay with notebook 03: many small jobs,
which its process pool already spreads over the cores. Plain `python -m monosem_lib train` is the same code on
one process.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from ..config import get_config
from ..distributed import Dist, barrier, from_env
from ..io import save_json
from ..harvest.activations import harvest_mlp_activations
from ..harvest.store import open_store
from ..lm.evaluate import val_windows
from ..lm.model import random_lm, save_lm
from ..lm.train import train_lm
from ..sae.jobs import train_sae_on_store
from ..sae.train import TrainOptions
from ..text.splits import prepare_tokens
from .run import CONTROL_LM, MODEL_NAMES
from .run_dir import default_run_dir, prepare_run_dir

STAGES = ("lm", "harvest", "sae")
PINNED = {"lm": ["data", "tokenizer", "lm", "lm_train"], "harvest": ["harvest"], "sae": ["sae"]}


def local_device() -> str:
    """This rank's device: its own GPU (LOCAL_RANK) when CUDA is there, else the CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        return f"cuda:{torch.cuda.current_device()}"
    return "cpu"


def _log(d: Dist, text: str) -> None:
    if d.is_main:
        print(text, flush=True)


def train_stages(profile: str, run_dir: str | Path | None, stages: list[str], overrides: dict | None = None) -> dict:
    """Run the chosen training stages (in pipeline order) on every rank; returns figures for the log."""
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise ValueError(f"--stage {','.join(stages)}: choose from {', '.join(STAGES)}")
    device = local_device()
    d = from_env(device)
    cfg = get_config(profile, overrides)
    run_dir = Path(run_dir) if run_dir else default_run_dir(profile)
    if d.is_main:                                   # pin (or refuse) before any rank writes
        prepare_run_dir(run_dir, cfg, [s for st in STAGES for s in PINNED[st]])
    barrier(d)
    if d.is_main:
        prepare_tokens(run_dir, cfg)
    barrier(d)
    _, train, val = prepare_tokens(run_dir, cfg)    # the other ranks: load what rank 0 wrote
    figures: dict = {"world": d.world, "device": device}
    if "lm" in stages:
        win = val_windows(val.tokens, cfg.lm_train.eval_tokens, cfg.lm.n_ctx)
        for name, seed in zip(MODEL_NAMES, cfg.lm_train.seeds):
            h = train_lm(run_dir / "lm" / name, cfg.lm, cfg.lm_train, seed, train.tokens, win, dist=d,
                         desc=f"LM {name} (rank {d.rank})", device=device)
            figures[f"lm.{name}.tokens_per_s"] = h["tokens_per_s"]
            _log(d, f"LM {name}: {h['tokens_per_s']:,.0f} tokens/s on {d.world} process(es)")
        if d.is_main and not (run_dir / "lm" / CONTROL_LM / "model.safetensors").exists():
            save_lm(random_lm(cfg.lm, seed=cfg.lm_train.seeds[0] + 1000), run_dir / "lm" / CONTROL_LM,
                    {"control": "random weights, never trained"})        # as notebook 01
        barrier(d)
    if "harvest" in stages:
        for name in MODEL_NAMES + (CONTROL_LM,):
            t0 = time.perf_counter()
            store = harvest_mlp_activations(run_dir, name, cfg.harvest, device=device, dist=d)
            rows = store.n_rows + store.n_heldout
            figures[f"harvest.{name}.rows_per_s"] = rows / (time.perf_counter() - t0)
            _log(d, f"harvest {name}: {rows:,} rows, {figures[f'harvest.{name}.rows_per_s']:,.0f} rows/s")
    if "sae" in stages:
        for name in MODEL_NAMES:
            _, h = train_sae_on_store(open_store(run_dir, name), run_dir / "sae" / name, cfg.sae, device,
                                      opts=TrainOptions(desc=f"SAE {name} (rank {d.rank})", dist=d))
            figures[f"sae.{name}.acts_per_s"] = h["acts_per_s"]
            _log(d, f"SAE {name}: {h['acts_per_s']:,.0f} activations/s on {d.world} process(es)")
    if device.startswith("cuda"):
        figures["peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30
    if d.is_main:                                   # for benchmarks/gpu_check.py and the curious
        save_json(run_dir / "train_figures.json", figures)
    return figures
