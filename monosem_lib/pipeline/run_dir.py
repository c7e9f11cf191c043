"""A run directory: where every notebook reads earlier artifacts and writes its own.

runs/<name>/config/<stage>.json pins the settings each stage was built with, so a run dir is
never silently mixed with artifacts made under other settings.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..config import RunConfig, get_config
from ..io import save_json
from .lock import hold_in_notebook
from .pins import LATER_STAGES, PROFILE_ADVICE, STAGE_NOTEBOOK, STAGE_OUTPUTS, load_pin, pin_advice  # noqa: F401
from .run import Run

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_run_dir(profile: str) -> Path:
    """$MONOSEM_RUN_DIR if set, else runs/<profile> at the repository root."""
    env = os.environ.get("MONOSEM_RUN_DIR")
    return Path(env) if env else REPO_ROOT / "runs" / profile


def config_conflicts(run_dir: str | Path, cfg: RunConfig, stages: list[str]) -> list[tuple[str, str]]:
    """(stage, 'key: pinned vs now') for every pinned setting of `stages` that `cfg` changes; writes nothing."""
    out = []
    for stage in stages:
        path = Path(run_dir) / "config" / f"{stage}.json"
        if path.exists():
            saved, wanted = load_pin(Path(run_dir), stage), _jsonable(cfg.stage(stage))
            out += [(stage, f"{stage}.{k}: {saved.get(k)!r} there vs {wanted.get(k)!r} now")
                    for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    return out


def rebuild_advice(run_dir: Path, stage: str) -> str:
    """How to rebuild from `stage` on while keeping the earlier stages' artifacts."""
    if STAGE_OUTPUTS[stage] is None:
        return f"delete {run_dir} to start fresh"
    paths = [str(run_dir / p) for p in STAGE_OUTPUTS[stage]] + \
            [str(run_dir / "config" / f"{s}.json") for s in LATER_STAGES[stage]]
    return f"rebuild from the {stage} stage on (earlier stages kept) by deleting {' '.join(paths)}"


def conflict_message(run_dir: Path, conflicts: list[tuple[str, str]]) -> str:
    """One line: what differs, and how to keep the run dir or rebuild only from the first changed stage on."""
    first = min((s for s, _ in conflicts), key=list(STAGE_OUTPUTS).index)
    diffs = "; ".join(d for _, d in conflicts)
    return (f"run dir {run_dir} was built with other settings ({diffs}); pass another run_dir to keep it, "
            f"or {rebuild_advice(run_dir, first)}")


def prepare_run_dir(run_dir: str | Path, cfg: RunConfig, stages: list[str]) -> Path:
    """Create the run dir and pin `stages`' settings; refuse (writing nothing) a run dir built with other settings."""
    run_dir = Path(run_dir)
    conflicts = config_conflicts(run_dir, cfg, stages)
    if conflicts:
        raise ValueError(conflict_message(run_dir, conflicts))
    (run_dir / "config").mkdir(parents=True, exist_ok=True)
    for stage in stages:
        path = run_dir / "config" / f"{stage}.json"
        if not path.exists():
            save_json(path, _jsonable(cfg.stage(stage)))
    save_json(run_dir / "config" / "profile.json", {"profile": cfg.profile})
    return run_dir


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _fixed_mmap_threshold(nbytes: int = 4 << 20) -> None:
    """glibc raises its mmap threshold each time a large block is freed, after which the passes of notebooks 04-06
    (tens of MB per batch, freed and allocated again) come from a heap that fragments and only grows: 2 GB of RSS
    for a loop that needs 50 MB. A fixed threshold keeps every block >= 4 MB in its own mapping, returned on free.
    No-op where the C library is not glibc."""
    import ctypes
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, nbytes)          # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _quiet_notebook_bars() -> None:
    """tqdm's notebook bars ignore TQDM_DISABLE (they force disable=False) and leave "0%" widgets in executed
    copies: under the runner (which sets it) every bar of this kernel is disabled instead."""
    from tqdm import notebook
    init = notebook.tqdm_notebook.__init__
    if getattr(init, "_monosem_quiet", False):
        return

    def quiet_init(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "disable": True})
    quiet_init._monosem_quiet = True
    notebook.tqdm_notebook.__init__ = quiet_init


def setup_notebook(profile: str, run_dir: str | Path | None, overrides: dict | None,
                   stages: list[str]) -> tuple[RunConfig, Run]:
    """The first call of every notebook: config, pinned and locked run dir, all cores, no network -> (cfg, Run)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if os.environ.get("TQDM_DISABLE"):
        _quiet_notebook_bars()
    _fixed_mmap_threshold()
    cfg = get_config(profile, overrides)
    # smoke-sized ops are too small to split across threads: a second thread only adds contention
    threads = os.environ.get("MONOSEM_THREADS") or (1 if cfg.profile == "smoke" else os.cpu_count() or 1)
    torch.set_num_threads(int(threads))
    run_dir = Path(run_dir or default_run_dir(profile))
    conflicts = config_conflicts(run_dir, cfg, stages)
    if conflicts:                               # refused before the lock file (or anything else) is written
        raise ValueError(conflict_message(run_dir, conflicts))
    hold_in_notebook(run_dir)                   # one writer: under the runner it holds the lock already
    return cfg, Run(prepare_run_dir(run_dir, cfg, stages), cfg)
