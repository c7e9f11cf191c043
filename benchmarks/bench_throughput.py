"""Benchmark: this machine's fp32 matmul speed, and the kit's three hot loops beside the bounds it sets.

LM training tokens/s, harvest tokens/s and SAE training activations/s, each beside its FLOP bound at the measured
GFLOP/s (the FLOPs a step needs / the machine's speed), so that a slowdown in code is told apart from a slower
machine. Classroom shapes, synthetic tokens and activations (nothing to download, no run needed):

    .venv/bin/python benchmarks/bench_throughput.py [--threads 2] [--seconds 8]

FLOPs counted (multiply-adds x 2): LM training 6 x the matmul weights per token (forward + backward) plus causal
attention; harvest the forward up to the MLP input for every token of a window and the MLP's first layer at the
sampled positions only; SAE training the encoder's dense product (the sparse-aware trainer's floor: its decoder and
backward pass touch only the active pairs). The last line printed is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monosem_lib.config import get_config  # noqa: E402
from monosem_lib.lm.model import TinyLM  # noqa: E402
from monosem_lib.lm.train import make_optimizer as lm_optimizer  # noqa: E402
from monosem_lib.pipeline.costs import matmul_gflops  # noqa: E402
from monosem_lib.sae.synthetic import SyntheticActs  # noqa: E402
from monosem_lib.sae.step import init_sae, make_optimizer, train_step  # noqa: E402


def lm_flops_per_token(c) -> tuple[float, float]:
    """(training FLOPs, harvest FLOPs) per token of a window, for LM shapes `c` and positions_per_context/n_ctx."""
    d, T = c.lm.d_model, c.lm.n_ctx
    weights = d * 3 * d + d * d + 2 * d * c.lm.d_mlp + d * c.lm.vocab_size
    attention = 2 * 2 * d * (T + 1) / 2                      # QK^T and AV over the causal half, per query
    train = 6 * weights + 3 * attention
    harvest = 2 * (d * 3 * d + d * d) + attention + 2 * d * c.lm.d_mlp * c.harvest.positions_per_context / T
    return train, harvest


def timed(step, seconds: float) -> float:
    """Calls per second of `step` over about `seconds` (after two warm-up calls)."""
    step(), step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - t0)


def bench_lm(c, seconds: float) -> float:
    """Training tokens/s of one LM of the classroom shape (AdamW, batch x n_ctx tokens a step)."""
    lm = TinyLM(c.lm)
    opt = lm_optimizer(lm, c.lm_train)
    x = torch.randint(0, c.lm.vocab_size, (c.lm_train.batch_size, c.lm.n_ctx + 1))

    def step():
        opt.zero_grad(set_to_none=True)
        lm.loss(x[:, :-1], x[:, 1:]).backward()
        opt.step()
    return timed(step, seconds) * c.lm_train.batch_size * c.lm.n_ctx


@torch.no_grad()
def bench_harvest(c, seconds: float) -> float:
    """Harvest tokens/s, end to end: `harvest_mlp_activations` on random tokens into a temporary run dir."""
    from monosem_lib.harvest.activations import harvest_mlp_activations
    from monosem_lib.lm.model import save_lm
    from monosem_lib.text.splits import TokenSplit, save_split
    rng = np.random.default_rng(0)
    n_tok = 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        for name in ("train", "val"):
            save_split(TokenSplit(rng.integers(0, c.lm.vocab_size, n_tok).astype(np.uint16), np.array([0]),
                                  np.array([0]), np.array([0], np.int16), ["x"]), run / "tokens" / name)
        save_lm(TinyLM(c.lm), run / "lm" / "A")
        rows = int(seconds * 100_000)
        hcfg = type(c.harvest)(**{**vars(c.harvest), "n_rows": rows, "heldout_rows": c.harvest.shard_rows})
        t0 = time.perf_counter()
        harvest_mlp_activations(run, "A", hcfg)
        wall = time.perf_counter() - t0
    return (rows + hcfg.heldout_rows) * c.lm.n_ctx / c.harvest.positions_per_context / wall


@torch.no_grad()
def bench_forward(c, seconds: float) -> float:
    """Harvest's compute alone: tokens/s of `mlp_acts` at the sampled positions (no shards, no disk)."""
    lm = TinyLM(c.lm).eval()
    B, T, k = c.harvest.batch_contexts, c.lm.n_ctx, c.harvest.positions_per_context
    x = torch.randint(0, c.lm.vocab_size, (B, T))
    pos = torch.stack([torch.randperm(T - 1)[:k] + 1 for _ in range(B)])
    return timed(lambda: lm.mlp_acts(x, pos), seconds) * B * T


def bench_sae(c, recipe: str, seconds: float) -> tuple[float, float]:
    """(activations/s of the sparse-aware trainer on one thread, its L0) after a warm-up to a trained-like L0."""
    cfg = type(c.sae)(**{**vars(c.sae), "recipe": recipe,
                         "l1_coeff": {c.sae.alt_recipe: c.sae.alt_l1_coeff}.get(recipe, c.sae.l1_coeff)})
    data = SyntheticActs(d_mlp=c.lm.d_mlp, seed=0)
    sae = init_sae(c.lm.d_mlp, cfg, data.batch(0, 8192))
    opt = make_optimizer(sae, cfg.lr)
    state = {"k": 0, "density": 1.0, "l0": 0.0}

    def step():
        out = train_step(sae, opt, data.batch(state["k"], cfg.batch_size) * sae.scale, cfg.l1_coeff, "auto",
                         state["density"])
        state.update(k=state["k"] + 1, density=out["density"], l0=float(out["l0"]))
    for _ in range(150):                                     # warm-up: L0 falls to a trained-like level
        step()
    return timed(step, seconds) * cfg.batch_size, state["l0"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for the LM and harvest (the SAEs use 1 each)")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per measurement")
    args = ap.parse_args()
    c = get_config("classroom")
    torch.set_num_threads(args.threads)
    g = matmul_gflops()
    torch.set_num_threads(1)
    g1 = matmul_gflops()
    torch.set_num_threads(args.threads)
    train_f, harvest_f = lm_flops_per_token(c)
    rows = {"lm_train": (bench_lm(c, args.seconds), g * 1e9 / train_f),
            "harvest": (bench_harvest(c, args.seconds), g * 1e9 / harvest_f),
            "harvest_fwd": (bench_forward(c, args.seconds), g * 1e9 / harvest_f)}
    torch.set_num_threads(1)
    for recipe in ("paper", "2024", "topk"):
        acts, l0 = bench_sae(c, recipe, args.seconds)
        rows[f"sae_{recipe}"] = (acts, g1 * 1e9 / (2 * c.lm.d_mlp * c.sae.n_features))
    print(f"machine: fp32 matmul {g:.0f} GFLOP/s on {args.threads} threads, {g1:.0f} on 1 (median of 2048^3 products)")
    print(f"{'loop':12s} {'measured':>12s} {'FLOP bound':>12s}  share  unit")
    units = {"lm_train": "tokens/s (one LM, all threads)", "harvest": "tokens/s forwarded (end to end, disk included)",
             "harvest_fwd": "tokens/s forwarded (its forward passes alone: the gap to the bound is small-matrix speed)"}
    for k, (got, bound) in rows.items():
        print(f"{k:12s} {got:12,.0f} {bound:12,.0f}  {got / bound:5.0%}  "
              f"{units.get(k, 'activations/s (one process, 1 thread)')}")
    print(json.dumps({"gflops": round(g, 1), "gflops_1_thread": round(g1, 1),
                      **{k: {"per_s": round(a), "bound": round(b), "share": round(a / b, 3)} for k, (a, b) in rows.items()}}))


if __name__ == "__main__":
    main()
