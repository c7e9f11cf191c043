"""The first GPU run, in one command: a short paper-profile run that prints comparable figures.

    python benchmarks/gpu_check.py                 # one GPU, ~10 minutes
    python benchmarks/gpu_check.py --nproc 4       # 4 GPUs: training under torchrun, then the notebooks

It trains LM A and B, harvests their activations and trains the main SAEs with the `paper` profile's
architecture and learning rates on a shortened budget (the settings below), data parallel on --nproc
processes (`python -m monosem_lib train`), then runs the seven notebooks on the same run dir (they find the
training finished), and prints tokens/s, activations/s, peak GPU memory and the scorecard's headline keys.
Without a GPU it refuses, unless --allow-cpu (a dry run of the script itself, e.g. with --profile smoke).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# ~10 minutes on one recent GPU (paper profile otherwise: 20k LM steps, 50M activations, 5 sweep sizes)
SHORT = {"lm_train.max_steps": 3000, "harvest.n_rows": 8_000_000, "sae.n_acts": 8_000_000,
         "sae.sweep_sizes": "[1024,4096]", "sae.sweep_n_acts": 2_000_000, "sae.ablation_n_acts": 1_000_000}
HEADLINE = ("lm.A.val_loss", "lm.A.unigram_loss", "sae.A.l0", "sae.A.fvu", "sae.A.loss_recovered", "sae.A.dead_frac",
            "interp.autointerp_median.features", "interp.autointerp_median.neurons",
            "interp.proxy.arabic.feature_corr", "interp.proxy.arabic.neuron_corr",
            "univ.median_max_corr.features", "univ.median_max_corr.neurons", "toy.sae.mmcs", "pipeline.wall_s.total")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nproc", type=int, default=1, help="processes (GPUs) for the training steps")
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--run-dir", default=str(REPO / "runs" / "gpu_check"))
    ap.add_argument("--allow-cpu", action="store_true", help="run without a GPU (a dry run of this script)")
    ap.add_argument("--full", action="store_true", help="the profile's own budget, not the 10-minute one")
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available() and not args.allow_cpu:
        print("no CUDA GPU is visible to torch (install a CUDA build of torch 2.13 into .venv, see README); "
              "--allow-cpu runs the script anyway", file=sys.stderr)
        return 1
    params = [] if args.full or args.profile != "paper" else [f"{k}={v}" for k, v in SHORT.items()]
    p = [x for kv in params for x in ("-p", kv)]
    launch = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.nproc)]
              if args.nproc > 1 else [sys.executable])
    t0 = time.perf_counter()
    steps = [launch + ["-m", "monosem_lib", "train", "--profile", args.profile, "--run-dir", args.run_dir, *p],
             [sys.executable, "-m", "monosem_lib", "run", "--profile", args.profile, "--run-dir", args.run_dir,
              "--no-progress", *p]]
    walls = []
    for cmd in steps:
        print("$", " ".join(cmd), flush=True)
        t = time.perf_counter()
        if subprocess.run(cmd, cwd=REPO).returncode:
            print(f"failed: {' '.join(cmd)}", file=sys.stderr)
            return 1
        walls.append(time.perf_counter() - t)
    run = Path(args.run_dir)
    figures = json.loads((run / "train_figures.json").read_text())
    card = json.loads((run / "scorecard.json").read_text())
    print(f"\n== gpu_check: {figures['world']} process(es) on {figures['device']} "
          f"({torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}); "
          f"training {walls[0]:.0f} s, notebooks {walls[1]:.0f} s, total {time.perf_counter() - t0:.0f} s")
    for key, value in figures.items():
        if key not in ("world", "device"):
            print(f"{key:42s} {value:,.1f}")
    for key in HEADLINE:
        value = card.get(key)
        print(f"{key:42s} {'—' if value is None else format(value, ',.4g')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
