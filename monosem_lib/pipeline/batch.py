"""Batch replication: one papermill run dir per (seed, grid point), stages shared where settings agree.

    python -m monosem_lib batch --profile classroom --seeds 0,1,2 --grid sae.l1_coeff=0.003,0.006 --out runs/b

A seed s offsets every seed of the run from the profile's own (s = 0 is the profile's run, bit for bit):
the LM data order (`lm_train.data_seed`), LM A and B's inits (`lm_train.seeds`), the harvested positions
(`harvest.seed`), the SAEs (`sae.seed`) and the toy models (`toy.seed`). The corpus split and the tokenizer
are not seeds: every run is scored on the same held-out text, so the spread is the training's.

Sharing: the outputs of a stage group (tokens, LMs, activations, SAEs, toy) depend on its settings and those
of the groups it reads. The first run with a given set of those settings computes them; every later run gets
a relative symlink to them (nothing copied), so its notebooks find them finished and only re-evaluate. A run
that finishes is marked (`.batch_done`, with the notebooks it ran); a rerun skips it, an interrupted run
resumes (the notebooks' own checkpoints), a failed run is reported in batch.json and the others go on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import time
from pathlib import Path

from ..config import RunConfig, get_config, valid_keys
from ..io import load_json, save_json, storage_error
from . import lock
from .batch_report import point_label, write_report

# seed settings: (key, how a batch seed s changes the profile's value)
SEED_KEYS = ("lm_train.seeds", "lm_train.data_seed", "harvest.seed", "sae.seed", "toy.seed")

# stage groups in pipeline order: (name, the stages their outputs depend on, the run-dir paths they occupy);
# "toy.models" depends on the toy settings that are not the toy SAE's (`sae_*`), "toy.sae" on all of them
SHARE_GROUPS = (
    ("tokens", ("data", "tokenizer"), ("tokenizer.json", "tokenizer.json.sha256", "tokens")),
    ("lm", ("data", "tokenizer", "lm", "lm_train"), ("lm",)),
    ("acts", ("data", "tokenizer", "lm", "lm_train", "harvest"), ("acts",)),
    ("sae", ("data", "tokenizer", "lm", "lm_train", "harvest", "sae"), ("sae",)),
    ("toy models", ("toy.models",), tuple(f"toy/{n}.safetensors{x}" for n in ("sparsity_sweep", "ground_truth")
                                          for x in ("", ".sha256"))),
    ("toy SAEs", ("toy",), ("toy/sae", "toy/sae_seed1")),
)
DONE = ".batch_done"


def seed_overrides(profile: str, seed: int) -> dict:
    """The settings batch seed `seed` changes: each seed of the profile plus `seed` (LM seeds: plus 2·seed)."""
    base = get_config(profile)
    a, b = base.lm_train.seeds
    return {"lm_train.seeds": [a + 2 * seed, b + 2 * seed], "lm_train.data_seed": base.lm_train.data_seed + seed,
            "harvest.seed": base.harvest.seed + seed, "sae.seed": base.sae.seed + seed,
            "toy.seed": base.toy.seed + seed}


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; duplicates, negatives and an empty list are one-line errors."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds {text!r} must be comma-separated integers, e.g. --seeds 0,1,2") from None
    if not seeds:
        raise ValueError("--seeds is empty; give at least one seed, e.g. --seeds 0,1,2")
    if len(set(seeds)) != len(seeds):
        dup = sorted({s for s in seeds if seeds.count(s) > 1})
        raise ValueError(f"--seeds {text!r} repeats {', '.join(map(str, dup))}; each seed once, e.g. --seeds 0,1,2")
    if min(seeds) < 0:
        raise ValueError(f"--seeds {text!r}: seeds must be >= 0")
    return seeds


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """['sae.l1_coeff=0.003,0.006', ...] -> [(key, values)]; unknown / seed keys and empty lists refused.

    Settings that must move together are joined by '+', their values too: `sae.recipe+sae.l1_coeff=paper+0.006,
    2024+0.018` is two grid points, not four.
    """
    grid, known = [], set(valid_keys())
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep:
            raise ValueError(f"--grid {item!r} must look like key=v1,v2, e.g. --grid sae.l1_coeff=0.003,0.006")
        for part in key.split("+"):
            if part not in known:
                raise ValueError(f"--grid: unknown setting {part!r}; valid settings: {', '.join(sorted(known))}")
            if part in SEED_KEYS:
                raise ValueError(f"--grid {part}: that setting is set by --seeds; sweep seeds with --seeds")
        n_keys = len(key.split("+"))
        bad = [v for v in vals if len(v.split("+")) != n_keys]
        if bad:
            raise ValueError(f"--grid {key}: value {bad[0]!r} must give {n_keys} values joined by '+', one per setting")
        if not vals:
            raise ValueError(f"--grid {key}= has no values; give at least one, e.g. --grid {key}=v1,v2")
        if len(set(vals)) != len(vals):
            raise ValueError(f"--grid {key}={values} repeats a value; each value once")
        if key in dict(grid):
            raise ValueError(f"--grid {key} is given twice; put all its values in one --grid")
        grid.append((key, vals))
    return grid


@dataclasses.dataclass
class BatchRun:
    """One (seed, grid point) run of a batch."""
    run_id: str
    seed: int
    point: dict[str, str]           # grid key -> value (as given)
    overrides: dict
    cfg: RunConfig


def expand_point(point: dict[str, str]) -> dict[str, str]:
    """A grid point's settings, linked keys ('a+b' = 'x+y') split into one setting each."""
    return {k: v for key, val in point.items() for k, v in zip(key.split("+"), val.split("+"))}


def plan_runs(profile: str, seeds: list[int], grid: list[tuple[str, list[str]]], overrides: dict) -> list[BatchRun]:
    """Every (grid point, seed) run, each config built and validated now (a bad value stops the batch here)."""
    runs = []
    for values in itertools.product(*[vals for _, vals in grid]):
        point = dict(zip([k for k, _ in grid], values))
        for seed in seeds:
            ov = {**overrides, **expand_point(point), **seed_overrides(profile, seed)}
            try:
                cfg = get_config(profile, ov)
            except ValueError as err:
                raise ValueError(f"grid point {point_label(point)}: {err}") from None
            name = f"s{seed}" + "".join(f"__{k}={v}" for k, v in point.items())
            runs.append(BatchRun(re.sub(r"[^A-Za-z0-9_.=+-]", "_", name), seed, point, ov, cfg))
    return runs


def definition(profile: str, seeds: list[int], grid, overrides: dict) -> dict:
    """What makes a batch this batch (not --only: which notebooks to execute may change between calls)."""
    return {"profile": profile, "seeds": seeds, "grid": [[k, v] for k, v in grid],
            "overrides": {k: str(v) for k, v in sorted(overrides.items())}}


def check_out_folder(out: Path, want: dict) -> None:
    """Refuse (one line, nothing written) an --out folder made by another batch definition or not by a batch, or
    one inside another batch's folder or inside a run dir (whose runs, reports and locks it would mix with)."""
    for above in reversed(Path(os.path.abspath(out)).parents):          # the outermost: its sibling is outside all
        if (above / "batch_def.json").exists() or (above / "config" / "profile.json").exists():
            kind = "batch" if (above / "batch_def.json").exists() else "run dir"
            raise ValueError(f"--out {out} is inside the {kind} {above}; pass a folder outside it, e.g. "
                             f"--out {above.parent / (above.name + '_' + Path(out).name)}")
    path = out / "batch_def.json"
    if path.exists():
        have = load_json(path, advice=f"delete {out} to start the batch again, or pass another --out")
        if have != want:
            diff = [f"{k}: {have.get(k)} there vs {want[k]} now" for k in want if have.get(k) != want[k]]
            raise ValueError(f"--out {out} holds another batch ({'; '.join(diff)}); pass another --out, or delete {out}")
    elif out.exists() and any(p.name != lock.LOCK_FILE for p in out.iterdir()):
        raise ValueError(f"--out {out} exists and is not a batch folder (no batch_def.json); pass another --out")


def group_key(cfg: RunConfig, stages: tuple[str, ...]) -> str:
    """A hash of the profile and the settings of `stages`: equal keys = identical outputs."""
    def settings(stage: str) -> dict:
        if stage == "toy.models":
            return {k: v for k, v in cfg.stage("toy").items() if not k.startswith("sae_")}
        return cfg.stage(stage)
    blob = json.dumps({"profile": cfg.profile, **{s: settings(s) for s in stages}}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def link_shared(run_dir: Path, owner_dir: Path, paths: tuple[str, ...]) -> list[str]:
    """Relative symlinks run_dir/<p> -> owner_dir/<p> for the paths the owner has; returns those linked."""
    linked = []
    for p in paths:
        src, dst = owner_dir / p, run_dir / p
        if not src.exists() or dst.is_symlink():
            continue
        if dst.exists():                 # computed here before (e.g. an earlier batch version): keep it
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(src, dst.parent), dst)
        linked.append(p)
    return linked


def share_stages(runs: list[BatchRun], run: BatchRun, out: Path) -> dict[str, str]:
    """Link every stage group `run` shares with an earlier run of the batch; {group: owner run id}."""
    shared = {}
    for name, stages, paths in SHARE_GROUPS:
        key = group_key(run.cfg, stages)
        owner = next((r for r in runs if group_key(r.cfg, stages) == key), run)
        if owner is not run and link_shared(out / "runs" / run.run_id, out / "runs" / owner.run_id, paths):
            shared[name] = owner.run_id
    return shared


def done_notebooks(run_dir: Path) -> list[str]:
    """The notebooks a finished run executed ([] if it never finished)."""
    path = run_dir / DONE
    if not path.exists():
        return []
    return load_json(path, advice="delete it (the run's notebooks then run again, reusing their work)")["notebooks"]


def run_batch(profile: str, seeds: list[int], grid: list[tuple[str, list[str]]], out: str | Path,
              only: list[str] | None = None, overrides: dict | None = None, progress: bool = False) -> dict:
    """Run (or resume) the batch into `out`; aggregates into batch.json / batch.md / batch.png; returns batch.json."""
    from .runner import list_notebooks

    out, overrides = Path(out), dict(overrides or {})
    books = [nb.stem for nb in list_notebooks(only)]           # validates --only before anything runs
    runs = plan_runs(profile, seeds, grid, overrides)
    want = definition(profile, seeds, grid, overrides)
    check_out_folder(out, want)
    lock.acquire(out)                                          # one batch at a time in a folder
    try:
        return _run_all(profile, out, runs, books, only, want, grid, progress)
    finally:
        lock.release(out)


def _run_all(profile: str, out: Path, runs: list[BatchRun], books: list[str], only: list[str] | None, want: dict,
             grid, progress: bool) -> dict:
    """The batch's runs in order, under its folder's lock; a signal stops the batch (the interrupted run resumes,
    and the later ones start, on the next call)."""
    from .runner import run_pipeline

    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise storage_error(err, out / "batch_def.json") from None
    save_json(out / "batch_def.json", want)
    status = {}
    for i, run in enumerate(runs, 1):
        run_dir = out / "runs" / run.run_id
        if set(books) <= set(done_notebooks(run_dir)):
            print(f"[batch {i}/{len(runs)}] {run.run_id}: finished before, skipped", flush=True)
            status[run.run_id] = {"status": "done", "skipped": True}
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        shared = share_stages(runs[:i - 1], run, out)
        print(f"[batch {i}/{len(runs)}] {run.run_id}" + (f" (sharing {', '.join(f'{g} of {o}' for g, o in shared.items())})"
                                                       if shared else ""), flush=True)
        t0 = time.perf_counter()
        try:
            run_pipeline(profile, run_dir, only, run.overrides, progress=progress)
        except KeyboardInterrupt:
            print(f"[batch] stopped during {run.run_id}: it resumes, and the {len(runs) - i} run(s) after it start, "
                  f"on the next `batch` call with the same arguments", flush=True)
            raise
        except (RuntimeError, ValueError, FileNotFoundError) as err:
            print(f"[batch] {run.run_id} failed: {err}", flush=True)
            status[run.run_id] = {"status": "failed", "error": str(err).splitlines()[0]}
            continue
        save_json(run_dir / DONE, {"notebooks": sorted(set(books) | set(done_notebooks(run_dir)))})
        status[run.run_id] = {"status": "done", "skipped": False, "wall_s": round(time.perf_counter() - t0, 1),
                              "shared": shared}
    return write_report(out, runs, status, grid)

