"""Benchmark: the sparse-aware SAE trainer against a plain dense autograd trainer, side by side, per recipe.

For each recipe the classroom run trains (paper 2023, the 2024 update, TopK; `--recipe` picks one), both
train the same SAE (same init, same fused Adam, same batches) one step each in turn, so load on a shared machine hits both alike. Measured in two regimes: at initialisation
(L0 ~ n_features/2, the trainer takes its dense path) and after a short warm-up of the sparse
trainer (L0 small; from there both continue from identical weights and Adam state). The two must
end with the same weights and losses within float tolerance.

Data: --acts FILE.npy, else real MLP activations from runs/classroom/acts/A when present, else
synthetic ReLU-like ones (~6% of 512 neurons active). The last line printed is a JSON object.

    .venv/bin/python benchmarks/bench_sae.py [--recipe all|paper|2024|topk] [--batch 1024] [--threads 1] [--acts F.npy]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monosem_lib.config import SAEConfig  # noqa: E402
from monosem_lib.sae.synthetic import SyntheticActs  # noqa: E402
from monosem_lib.sae.step import init_sae, make_optimizer, train_step  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def data_source(args) -> tuple[str, object, int]:
    """(name, batch(k, batch_size) function, d_mlp): --acts file, else the real store if any, else synthetic."""
    if args.acts:
        rows = np.load(args.acts, mmap_mode="r", allow_pickle=False)

        def from_file(k: int, b: int) -> torch.Tensor:
            i = (k * b) % (len(rows) - b + 1)
            return torch.from_numpy(np.asarray(rows[i:i + b], dtype=np.float32))
        return f"real ({args.acts})", from_file, rows.shape[1]
    if args.data != "synthetic" and (REPO / "runs" / "classroom" / "acts" / "A" / "manifest.json").exists():
        from monosem_lib.harvest.store import open_store
        store = open_store(REPO / "runs" / "classroom", "A")
        it = store.iter_batches(args.batch, seed=args.seed, epochs=4)
        cache: dict[int, torch.Tensor] = {}

        def batch(k: int, _b: int) -> torch.Tensor:
            while k not in cache:
                cache[len(cache)] = next(it)
            return cache.pop(k)
        return "real (runs/classroom/acts/A)", batch, store.d_mlp
    if args.data == "real":
        raise SystemExit("no runs/classroom/acts/A; run notebook 02 first or use --data synthetic")
    synth = SyntheticActs(d_mlp=512, seed=args.seed)
    return "synthetic", synth.batch, 512


def side_by_side(fast, ref, batches: list[torch.Tensor], l1: float) -> dict:
    """Alternate one step of each on the same batches; time each; compare the losses."""
    t_fast = t_ref = 0.0
    loss_diff, l0s, density = 0.0, [], 1.0
    for x in batches:
        t = time.perf_counter()
        out_f = train_step(*fast, x, l1, "auto", density)
        t_fast += time.perf_counter() - t
        density = out_f["density"]
        t = time.perf_counter()
        out_r = train_step(*ref, x, l1, "reference")
        t_ref += time.perf_counter() - t
        loss_diff = max(loss_diff, abs(out_f["loss"].item() - out_r["loss"].item()) / abs(out_r["loss"].item()))
        l0s.append(out_r["l0"].item())
    n = sum(len(x) for x in batches)
    return {"sparse_acts_per_s": n / t_fast, "dense_acts_per_s": n / t_ref, "speedup": t_ref / t_fast,
            "max_rel_loss_diff": loss_diff, "l0": sum(l0s) / len(l0s)}


def weight_diff(a, b) -> float:
    """Largest |Δw| of any parameter, relative to that parameter's largest |w|."""
    return max(((pa - pb).abs().max() / pa.abs().max().clamp_min(1e-12)).item()
               for pa, pb in zip(a.parameters(), b.parameters()))


# λ per recipe. The 2024 recipe's trainer warms λ up over the first 5% of a run; stepped at a constant λ, as here,
# its classroom λ (0.018) drives L0 to ~0 within the warm-up. 0.005 gives an L0 of ~80, above the classroom run's
# ~40: the harder case for the sparse-aware path (more active pairs), so the ratio printed is a lower bound.
RECIPES = {"paper": SAEConfig.l1_coeff, "2024": 0.005, "topk": SAEConfig.l1_coeff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", choices=("all", *RECIPES), default="all")
    ap.add_argument("--n-features", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--l1", type=float, default=None, help="λ on normalised inputs (default: SAEConfig's)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup-acts", type=int, default=200_000, help="activations the sparse trainer sees first")
    ap.add_argument("--steps", type=int, default=None, help="timed steps after warm-up (default: 30k activations)")
    ap.add_argument("--init-steps", type=int, default=3, help="timed steps from initialisation")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data", choices=("auto", "real", "synthetic"), default="auto")
    ap.add_argument("--acts", default=None, help="a .npy [rows, d_mlp] of MLP activations to use instead")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = [bench_recipe(args, r) for r in (RECIPES if args.recipe == "all" else (args.recipe,))]
    for r in results:
        print(f"{r['recipe']:6s} L0 {r['l0']:6.1f}: sparse-aware {r['sparse_acts_per_s']:8,} acts/s, dense "
              f"{r['dense_acts_per_s']:8,} acts/s: {r['speedup']:.2f}x (target 2.5x: {'met' if r['speedup'] >= 2.5 else 'NOT met'})")
    print(json.dumps(results))


def bench_recipe(args, recipe: str) -> dict:
    """The side-by-side measurement for one recipe; returns its figures."""
    name, batch, d_mlp = data_source(args)
    l1 = args.l1 if args.l1 is not None else RECIPES[recipe]
    cfg = SAEConfig(n_features=args.n_features, l1_coeff=l1, lr=args.lr, batch_size=args.batch, seed=args.seed,
                    recipe=recipe)
    B = args.batch
    n_warm = max(1, args.warmup_acts // B)
    n_steps = args.steps or max(4, 30_000 // B)
    k = 0

    def take(n: int) -> list[torch.Tensor]:
        nonlocal k
        out = [batch(k + i, B) * scale for i in range(n)]      # the trainers work on scaled inputs
        k += n
        return out

    scale = 1.0
    sae = init_sae(d_mlp, cfg, torch.cat(take(max(1, 8192 // B)))[:8192])
    scale = sae.scale
    fast = (sae, make_optimizer(sae, cfg.lr))
    ref_sae = copy.deepcopy(sae)
    ref = (ref_sae, make_optimizer(ref_sae, cfg.lr))
    print(f"{recipe} recipe; data: {name}; SAE {d_mlp}->{args.n_features}, batch {B}, λ={l1}, lr={args.lr}, "
          f"threads {torch.get_num_threads()}", flush=True)
    init = side_by_side(fast, ref, take(args.init_steps), l1)
    print(f"at init   (L0 {init['l0']:7.1f}): sparse-aware {init['sparse_acts_per_s']:8,.0f} acts/s, "
          f"dense autograd {init['dense_acts_per_s']:8,.0f} acts/s, ratio {init['speedup']:.2f}x", flush=True)
    density, t = 1.0, time.perf_counter()
    for _ in range(n_warm):                                # warm-up: the sparse-aware trainer alone
        out = train_step(*fast, batch(k, B) * scale, l1, "auto", density)
        density, k = out["density"], k + 1
    warm_s = time.perf_counter() - t
    ref_sae.load_state_dict(sae.state_dict())              # the reference continues from identical state
    ref[1].load_state_dict(copy.deepcopy(fast[1].state_dict()))
    sparse = side_by_side(fast, ref, take(n_steps), l1)
    w_diff = weight_diff(sae, ref_sae)
    print(f"after {n_warm * B:,} acts of warm-up ({warm_s:.0f} s) (L0 {sparse['l0']:5.1f}): sparse-aware "
          f"{sparse['sparse_acts_per_s']:8,.0f} acts/s, dense autograd {sparse['dense_acts_per_s']:8,.0f} acts/s, "
          f"ratio {sparse['speedup']:.2f}x", flush=True)
    print(f"agreement after {n_steps} steps: max rel weight diff {w_diff:.2e}, max rel loss diff "
          f"{max(init['max_rel_loss_diff'], sparse['max_rel_loss_diff']):.2e}", flush=True)
    same = w_diff < 1e-3 and max(init["max_rel_loss_diff"], sparse["max_rel_loss_diff"]) < 1e-4
    return {
        "recipe": recipe, "data": name, "d_mlp": d_mlp, "n_features": args.n_features, "batch": B, "threads": torch.get_num_threads(),
        "l1_coeff": l1, "lr": args.lr, "warmup_acts": n_warm * B, "timed_steps": n_steps,
        "l0": round(sparse["l0"], 2), "sparse_acts_per_s": round(sparse["sparse_acts_per_s"]),
        "dense_acts_per_s": round(sparse["dense_acts_per_s"]), "speedup": round(sparse["speedup"], 2),
        "init_l0": round(init["l0"], 1), "init_sparse_acts_per_s": round(init["sparse_acts_per_s"]),
        "init_dense_acts_per_s": round(init["dense_acts_per_s"]), "init_speedup": round(init["speedup"], 2),
        "max_rel_weight_diff": float(f"{w_diff:.3g}"),
        "max_rel_loss_diff": float(f"{max(init['max_rel_loss_diff'], sparse['max_rel_loss_diff']):.3g}"),
        "same_within_tol": same, "at_least_2.5x": sparse["speedup"] >= 2.5}


if __name__ == "__main__":
    main()
