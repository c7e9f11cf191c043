"""Data-parallel SAE training throughput: 1 process vs N under torchrun, at classroom size, in one run.

    python benchmarks/bench_ddp.py [--nproc 2] [--n-acts 200000]

Trains the classroom SAE (4,096 features on d_mlp 512, batch 1,024, paper recipe with resampling) on
synthetic ReLU-like activations: once as one process with 1 thread, once as one process with N threads,
and once under torchrun with N processes of 1 thread each (gloo on CPU; nccl on GPUs), and prints
activations/s of each. Same data, same global batch, so the three runs end with (nearly) the same SAE.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def worker(out: str, n_acts: int) -> None:
    """Train one SAE on this rank's slices; rank 0 writes history.json with acts_per_s."""
    import torch

    from monosem_lib.config import SAEConfig
    from monosem_lib.distributed import from_env, rank_slice
    from monosem_lib.sae.synthetic import SyntheticActs
    from monosem_lib.sae.train import TrainOptions, train_sae

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    d = from_env()
    data = SyntheticActs(d_mlp=512, seed=0)
    cfg = dataclasses.replace(SAEConfig(), n_acts=n_acts)

    def mine(start):
        for k in range(start, cfg.n_acts // cfg.batch_size):
            yield data.batch(k, cfg.batch_size)[rank_slice(cfg.batch_size, d)]

    train_sae(out, mine, 512, cfg, data.sample(16_384, seed=1), pool_fn=lambda n, s: data.sample(n, seed=s),
              opts=TrainOptions(dist=d, data_id="synthetic", desc=f"SAE rank {d.rank}", on_step=lambda k: None))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--n-acts", type=int, default=200_000)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n_acts)
        return 0
    me = [str(Path(__file__).resolve()), "--n-acts", str(args.n_acts)]
    runs = {"1 process, 1 thread": ([sys.executable], 1),
            f"1 process, {args.nproc} threads": ([sys.executable], args.nproc),
            f"torchrun, {args.nproc} processes x 1 thread": (
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.nproc)], 1)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (launch, threads)) in enumerate(runs.items()):
            out = Path(tmp) / f"run{i}"
            env = {**os.environ, "BENCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
            subprocess.run(launch + me + ["--worker", str(out)], check=True, env=env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results[name] = json.loads((out / "history.json").read_text())["acts_per_s"]
    base = results["1 process, 1 thread"]
    print(f"SAE training, 4,096 features x d_mlp 512, batch 1,024, {args.n_acts:,} activations:")
    for name, v in results.items():
        print(f"  {name:38s} {v:10,.0f} activations/s  ({v / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
