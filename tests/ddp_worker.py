"""Worker for tests/test_distributed.py: trains a tiny LM and two tiny SAEs under torchrun (or plain python).

    python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT [--kill-rank1-at K] [--odd-rank1]

Writes OUT/lm, OUT/sae_paper, OUT/sae_topk (rank 0). --kill-rank1-at K: rank 1 dies after step K of the paper
SAE, as if killed; --odd-rank1: rank 1 uses another l1_coeff (must be refused).
"""
import dataclasses
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
torch.set_num_threads(1)

from monosem_lib.config import LMTrainConfig, SAEConfig  # noqa: E402
from monosem_lib.distributed import from_env, rank_slice  # noqa: E402
from monosem_lib.lm.train import train_lm  # noqa: E402
from monosem_lib.sae.synthetic import SyntheticActs  # noqa: E402
from monosem_lib.sae.train import TrainOptions, train_sae  # noqa: E402
from tests.helpers import TINY_LM, tiny_split  # noqa: E402

out, args = sys.argv[1], sys.argv[2:]
dist = from_env()
kill_at = int(args[args.index("--kill-rank1-at") + 1]) if "--kill-rank1-at" in args else None
train_lm(f"{out}/lm", TINY_LM, LMTrainConfig(batch_size=8, max_steps=20, warmup_steps=2, ckpt_every=10), 0,
         tiny_split().tokens, dist=dist)

data = SyntheticActs(d_mlp=32, n_true=96, per_token=2.0, width=4, seed=0)
cfg = SAEConfig(recipe="paper", n_features=256, l1_coeff=0.06, lr=1e-2, batch_size=64, n_acts=64 * 40, resample_pool=256,
                resample_at=(0.25, 0.5), resample_window=0.2)
if "--odd-rank1" in args and dist.rank == 1:
    cfg = dataclasses.replace(cfg, l1_coeff=0.004)


def my_slices(start):
    """This rank's rows of every global batch (the synthetic stand-in for store.iter_batches(part=...))."""
    for k in range(start, cfg.n_acts // cfg.batch_size):
        yield data.batch(k, cfg.batch_size)[rank_slice(cfg.batch_size, dist)]


def die(step):
    if dist.rank == 1 and step == kill_at:
        os._exit(3)


for recipe in ("paper", "topk"):
    c = dataclasses.replace(cfg, recipe=recipe, k=8, aux_dead_acts=640)
    train_sae(f"{out}/sae_{recipe}", my_slices, 32, c, data.sample(512, seed=1),
              pool_fn=lambda n, seed: data.sample(n, seed=seed),
              opts=TrainOptions(ckpt_every=10, dist=dist, data_id="synthetic-0",
                                on_step=die if recipe == "paper" and kill_at is not None else None))
print(f"rank {dist.rank} of {dist.world}: done", flush=True)
