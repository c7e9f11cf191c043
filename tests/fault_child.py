"""The process that tests/test_faults.py kills: run one stage into a folder, dying by SIGKILL at one event.

    python -m tests.fault_child <stage> <folder> [<event>:<n>]

stage: lm | sae | harvest (harvest reads the run dir built by `make_harvest_run`). event: `step` (the n-th
training step has just finished) or `write` (just before the n-th atomic rename: the file's .tmp is on
disk, the previous version still in place). Without an event the run finishes and prints the counts of
both events, from which the test picks its kill points.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

from monosem_lib.config import HarvestConfig, LMTrainConfig
from tests.helpers import TINY_LM, tiny_split

torch.set_num_threads(1)
LM_TRAIN = LMTrainConfig(batch_size=4, max_steps=12, warmup_steps=2, ckpt_every=4, eval_tokens=200)
HARVEST = HarvestConfig(n_rows=3000, heldout_rows=500, positions_per_context=4, shard_rows=1024,
                        dtype="float16", batch_contexts=16, seed=0)
COUNTS = {"step": 0, "write": 0}
KILL: tuple[str, int] | None = None


def _event(kind: str) -> None:
    COUNTS[kind] += 1
    if KILL == (kind, COUNTS[kind]):
        os.kill(os.getpid(), signal.SIGKILL)


def _arm_writes() -> None:
    real = os.replace

    def replace(src, dst, *a, **k):
        _event("write")
        return real(src, dst, *a, **k)
    os.replace = replace


def make_harvest_run(run_dir: Path) -> None:
    """Token splits and one LM in a run dir: what harvesting reads."""
    from monosem_lib.lm.model import TinyLM, save_lm
    from monosem_lib.text.splits import save_split

    save_split(tiny_split(n_docs=60, seed=0), run_dir / "tokens" / "train")
    save_split(tiny_split(n_docs=30, seed=1), run_dir / "tokens" / "val")
    torch.manual_seed(0)
    save_lm(TinyLM(TINY_LM).eval(), run_dir / "lm" / "A")


def run(stage: str, folder: Path) -> None:
    on_step = lambda k: _event("step")  # noqa: E731
    if stage == "lm":
        from monosem_lib.lm.train import train_lm
        train_lm(folder, TINY_LM, LM_TRAIN, 0, tiny_split().tokens, on_step=on_step)
    elif stage == "sae":
        from monosem_lib.sae.train import TrainOptions, train_sae
        from tests.sae.common import CFG, D, DATA, batches_for
        pool_fn = lambda n, seed: DATA.sample(n, seed=seed)  # noqa: E731
        train_sae(folder, batches_for(), D, CFG, DATA.sample(512, seed=1), pool_fn=pool_fn,
                  opts=TrainOptions(ckpt_every=4, on_step=on_step))
    elif stage == "harvest":
        from monosem_lib.harvest.activations import harvest_mlp_activations
        harvest_mlp_activations(folder, "A", HARVEST)
    else:
        raise SystemExit(f"unknown stage {stage!r}")


if __name__ == "__main__":
    stage, folder = sys.argv[1], Path(sys.argv[2])
    if len(sys.argv) > 3:
        kind, n = sys.argv[3].split(":")
        KILL = (kind, int(n))
    _arm_writes()
    run(stage, folder)
    print(f"events step={COUNTS['step']} write={COUNTS['write']}")
