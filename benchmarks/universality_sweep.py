"""Experiment: how SAE training settings move universality, L0 and reconstruction, on an existing run.

For each variant (a set of `sae.*` overrides) it trains SAEs on LM A and LM B of a finished run (its
activation stores and LMs are linked, not copied, into a scratch run dir), then prints, on the held-out
rows: L0, FVU and dead fraction of both SAEs, the share of A's features that fire >= 100 times, and the
median over A's live features of the best activation correlation with any feature of B (all live
features, and those firing >= 100 times). This is the measurement behind the README's universality
notes; each variant takes ~2-3 minutes on 2 CPU cores at classroom size. One JSON line per variant.

    .venv/bin/python benchmarks/universality_sweep.py [--run runs/classroom] [--out /tmp/univ_sweep]
        [--variant name '{"sae.l1_coeff": 0.012}' ...]     (default: the README's set of variants)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monosem_lib.config import set_value  # noqa: E402
from monosem_lib.pipeline.run import saved_config  # noqa: E402
from monosem_lib.sae.metrics import sae_stats  # noqa: E402
from monosem_lib.sae.jobs import train_saes  # noqa: E402
from monosem_lib.universality.matching import encode_sparse, load_twins, max_correlation  # noqa: E402

DEFAULT_VARIANTS = {
    "as run": {},
    "batch 256 (4x steps)": {"sae.batch_size": 256},
    "lr 3e-3": {"sae.lr": 3e-3},
    "800k activations": {"sae.n_acts": 800_000},
    "lambda x2": {"sae.l1_coeff": 0.012},
    "lambda /2": {"sae.l1_coeff": 0.003},
    "2024 recipe": {"sae.recipe": "2024"},
    "1,024 features": {"sae.n_features": 1024, "sae.l1_coeff": 0.004},
}
LINKED = ("acts", "lm", "tokens", "tokenizer.json", "config")


def scratch_run(src: Path, dst: Path) -> Path:
    """A run dir whose stores, LMs and tokens are symlinks to src's (only sae/ is new)."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if (src / name).exists() and not (dst / name).exists():
            os.symlink((src / name).resolve(), dst / name)
    return dst


def measure(run_dir: Path) -> dict:
    """L0/FVU/dead of both SAEs and the universality medians on the held-out rows."""
    tw = load_twins(run_dir)
    x = {n: s.heldout("cpu") for n, s in tw.stores.items()}
    out = {}
    for n in "AB":
        st = sae_stats(tw.saes[n], x[n])
        out.update({f"{n}.l0": round(st["l0"], 2), f"{n}.fvu": round(st["fvu"], 4), f"{n}.dead": round(st["dead_frac"], 4)})
    f = {n: encode_sparse(tw.saes[n], x[n]) for n in x}
    fired = np.bincount(f["A"].col_indices().numpy(), minlength=f["A"].shape[1])
    mc = max_correlation(f["A"], f["B"])
    out["A.share_fired100"] = round(float((fired >= 100).mean()), 3)
    out["univ.features"] = round(float(np.median(mc.alive_max)), 4)
    out["univ.features_fired100"] = round(float(np.median(mc.max.numpy()[fired >= 100])), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/classroom", help="a run with notebooks 01-02 done (stores A and B)")
    ap.add_argument("--out", default="/tmp/univ_sweep", help="scratch folder for the variants' SAEs")
    ap.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), help="name and overrides")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    src = Path(args.run)
    variants = {n: json.loads(j) for n, j in args.variant} if args.variant else DEFAULT_VARIANTS
    for k, (name, ov) in enumerate(variants.items()):
        tag = hashlib.sha1(json.dumps(ov, sort_keys=True).encode()).hexdigest()[:8]
        run_dir = scratch_run(src, Path(args.out) / f"v{k}-{tag}")   # a reused folder is always the same variant
        cfg = saved_config(src)                      # the run's own settings, then the variant's
        for key, value in ov.items():
            set_value(cfg, key, value)
        t0 = time.time()
        train_saes(run_dir, {n: (n, cfg.sae) for n in "AB"})
        print(json.dumps({"variant": name, "overrides": ov, "train_s": round(time.time() - t0, 1), **measure(run_dir)}),
              flush=True)


if __name__ == "__main__":
    main()
