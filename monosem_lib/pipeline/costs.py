"""What a run costs, and what the next one will: per-notebook and per-cell wall times, the machine's speed, and an
estimate for new settings before anything starts.

Every run writes `profile.json` into its run dir (each notebook's wall time and every cell over 2 s, with the
machine's fp32 matmul GFLOP/s), and the runner prints the ten costliest cells at the end, so the budget is visible
to whoever adds a cell. Before a run, `estimate` scales a reference profile (the run dir's own, else the one
measured for the kit, `REFERENCE`) by each notebook's work under the new settings and by the machine's speed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..config import RunConfig, get_config
from ..io import load_json, save_json
from ..machine import available_memory_gb

PROFILE_ADVICE = "delete it (it only holds timings; the next run writes it again)"

MIN_CELL_S = 2.0
START_S = 5.0                      # a notebook's fixed cost: kernel start, imports, loading (not scaled by work)
# Measured: `make replicate`, classroom profile, on a 367 GFLOP/s 2-core machine (notebook walls in seconds).
REFERENCE = {"profile": "classroom", "gflops": 367.0,
             "notebooks": {"00_toy_superposition": 22, "01_train_tiny_lm": 101, "02_harvest_activations": 23,
                           "03_train_sae": 204, "04_interpret_features": 121, "05_universality": 78,
                           "06_steering": 8},
             # the settings of that run where they differ from the profile's today (its work is theirs)
             "overrides": {"sae.n_acts": 450_000, "sae.side_n_acts": 450_000, "harvest.n_rows": 524_288}}


def matmul_gflops(repeats: int = 8, n: int = 2048) -> float:
    """This machine's fp32 matrix-multiply speed on the threads torch uses: the median of `repeats` products of two
    n x n matrices (n = 2048 does not fit in cache, like the kit's own products), in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / sorted(times)[len(times) // 2] / 1e9


def notebook_cells(path: Path, min_s: float = MIN_CELL_S) -> list[dict]:
    """Cells of an executed notebook that took at least `min_s` (papermill's per-cell durations), costliest first."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    out = []
    for i, c in enumerate(cells):
        d = (c.get("metadata", {}).get("papermill") or {}).get("duration")
        if d is not None and d >= min_s:
            first = next((ln.strip() for ln in "".join(c["source"]).splitlines() if ln.strip()), "")
            out.append({"cell": i, "seconds": round(float(d), 1), "source": first[:90]})
    return sorted(out, key=lambda r: -r["seconds"])


def record_notebook(run_dir: Path, name: str, wall_s: float, executed: Path, gflops: float) -> dict:
    """Merge one notebook's wall time and costly cells into run_dir/profile.json; returns the whole profile."""
    path = Path(run_dir) / "profile.json"
    prof = load_json(path, advice=PROFILE_ADVICE) if path.exists() else {"notebooks": {}}
    prof["gflops"] = round(gflops, 1)
    prof["notebooks"][name] = {"wall_s": round(wall_s, 1), "cells": notebook_cells(executed)}
    save_json(path, prof)
    return prof


def summary(prof: dict, top: int = 10) -> str:
    """The run's wall per notebook and its `top` costliest cells, as text."""
    nbs = prof.get("notebooks", {})
    total = sum(v["wall_s"] for v in nbs.values())
    lines = [f"cost profile ({prof.get('gflops', float('nan')):.0f} GFLOP/s machine): {total:,.0f} s in all; "
             + ", ".join(f"{k[:2]} {v['wall_s']:.0f} s" for k, v in nbs.items())]
    cells = sorted(((c["seconds"], k, c) for k, v in nbs.items() for c in v["cells"]), key=lambda t: -t[0])[:top]
    lines += [f"  {s:7.1f} s  {k[:2]} cell {c['cell']:>2}: {c['source']}" for s, k, c in cells]
    return "\n".join(lines)


def work(cfg: RunConfig) -> dict[str, float]:
    """A number per notebook proportional to its cost under `cfg` (FLOP-like; only ratios are used)."""
    lm, tr, h, s, e, t = cfg.lm, cfg.lm_train, cfg.harvest, cfg.sae, cfg.eval, cfg.toy
    params = lm.d_model * (4 * lm.d_model + 2 * lm.d_mlp + lm.vocab_size)
    carrying = 2 + (2 if s.controls else 0)                       # main A, B; the seed and random-LM controls
    sae = s.n_acts * s.n_features * carrying + s.side_n_acts * s.n_features * 3 \
        + s.sweep_n_acts * sum(s.sweep_sizes) + 4 * s.ablation_n_acts * s.ablation_n_features  # side: other recipe A, B; TopK
    encode = e.n_tokens * s.n_features
    return {"00_toy_superposition": t.steps * len(t.sparsities) + t.sae_n_acts * t.sae_n_features / 50,
            "01_train_tiny_lm": 2 * tr.max_steps * tr.batch_size * lm.n_ctx * params,
            "02_harvest_activations": 3 * (h.n_rows + h.heldout_rows) * lm.n_ctx / h.positions_per_context,
            "03_train_sae": sae, "04_interpret_features": encode + e.side_tokens * s.n_features * 3,
            "05_universality": encode + e.side_tokens * s.n_features * 3, "06_steering": s.n_features}


def estimate(cfg: RunConfig, notebooks: list[str], gflops: float, reference: dict | None = None) -> dict[str, float]:
    """Seconds per notebook for `cfg` on a machine of `gflops`: the reference's walls scaled by work and speed."""
    ref = reference or REFERENCE
    base = ref["work"] if "work" in ref else work(get_config(ref["profile"], ref.get("overrides")))
    now = work(cfg)
    out = {}
    for nb in notebooks:
        wall = ref["notebooks"].get(nb)
        if wall is not None and nb in now:
            scaled = max(wall - START_S, 0.0) * now[nb] / max(base[nb], 1e-12) * ref["gflops"] / max(gflops, 1e-9)
            out[nb] = START_S + scaled
    return out


def estimate_lines(cfg: RunConfig, notebooks: list[str], gflops: float, run_dir: Path) -> list[str]:
    """One line with the estimate (and where it comes from); a second if the settings make the run much longer
    than the profile's own on this machine."""
    own = Path(run_dir) / "profile.json"
    ref = None
    if own.exists():
        prof = load_json(own, advice=PROFILE_ADVICE)
        if prof.get("profile") == cfg.profile and "work" in prof and "gflops" in prof and prof.get("notebooks"):
            ref = {"profile": cfg.profile, "gflops": prof["gflops"], "work": prof["work"],
                   "notebooks": {k: v["wall_s"] for k, v in prof["notebooks"].items()}}
    est = estimate(cfg, notebooks, gflops, ref)
    usual = estimate(get_config(cfg.profile), notebooks, gflops, ref)
    total, base = sum(est.values()), sum(usual.values())
    src = "this run dir's last profile" if ref else f"the kit's measured {REFERENCE['profile']} run"
    lines = [f"estimated {total / 60:.1f} min for {len(est)} notebooks on this {gflops:.0f} GFLOP/s machine "
             f"(from {src}, scaled by the settings' work and the machine's speed)"]
    if base > 0 and total > 2 * base:
        worst = max(est, key=lambda k: est[k] / max(usual.get(k, 1e-9), 1e-9))
        lines.append(f"note: these settings make the run {total / base:.1f}x as long as the {cfg.profile} profile's "
                     f"{base / 60:.1f} min; most of it in {worst} ({est[worst] / 60:.1f} min)")
    return lines


# Peak memory of a notebook kernel, measured on classroom (2.99 GB in notebook 04): a fixed part and what grows
# with the evaluation tokens (codes, their per-feature table, every yardstick per token) and with the side tokens
# (dense neurons in float16, their per-neuron table, the side codes).
MEM_FIXED_GB, MEM_PER_EVAL_TOKEN, MEM_PER_SIDE_TOKEN = 1.4, 870, 2600


def memory_estimate_gb(cfg: RunConfig) -> float:
    """Estimated peak RSS of the hungriest notebook kernel (04) for `cfg`, in GB."""
    return MEM_FIXED_GB + (cfg.eval.n_tokens * MEM_PER_EVAL_TOKEN + cfg.eval.side_tokens * MEM_PER_SIDE_TOKEN) / 1e9


def check_memory(cfg: RunConfig, available_gb: float | None = None) -> None:
    """One-line ValueError, before anything runs, when the estimated peak exceeds the memory available."""
    need, have = memory_estimate_gb(cfg), available_memory_gb() if available_gb is None else available_gb
    if need > have:
        lower = max(cfg.eval.n_tokens // 2, 1)
        raise ValueError(f"the {cfg.profile} profile needs an estimated {need:.1f} GB of memory (notebook 04) but "
                         f"{have:.1f} GB is available; lower the evaluation tokens, e.g. -p eval.n_tokens={lower} "
                         f"-p eval.side_tokens={max(cfg.eval.side_tokens // 2, 1)} (~{need - (need - MEM_FIXED_GB) / 2:.1f} GB)")


def save_work(run_dir: Path, cfg: RunConfig) -> None:
    """Record the settings' work units and profile beside the walls, so a later estimate can scale from them."""
    path = Path(run_dir) / "profile.json"
    prof = load_json(path, advice=PROFILE_ADVICE) if path.exists() else {"notebooks": {}}
    prof.update({"profile": cfg.profile, "work": work(cfg)})
    save_json(path, prof)
