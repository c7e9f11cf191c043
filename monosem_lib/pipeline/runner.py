"""Run the numbered notebooks in order with papermill, timing each, into one run dir."""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import sys
import time
from pathlib import Path

from ..config import RunConfig, get_config
from ..io import StorageError, storage_error
from . import costs, lock
from .execute import RunInterrupted, execute_notebook, interruptible
from .run import Run
from .run_dir import REPO_ROOT, config_conflicts, conflict_message, default_run_dir
from .scorecard import write_markdown

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def list_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks (NN_name.ipynb) in order, optionally only those whose NN is in `only`."""
    books = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if re.match(r"\d\d_", p.name))
    if only:
        known = {p.name[:2] for p in books}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise ValueError(f"unknown notebook number(s) {', '.join(unknown)}; available: {', '.join(sorted(known))}")
        books = [p for p in books if p.name[:2] in only]
    return books


def notebook_stages(nb: Path) -> list[str]:
    """The stages a notebook pins: the `stages=[...]` of its setup_notebook call (none without one)."""
    src = "".join("".join(c["source"]) for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
                  if c["cell_type"] == "code")
    m = re.search(r"setup_notebook\([^)]*stages=\[([^\]]*)\]", src)
    return [] if m is None else re.findall(r"[\"']([a-z_]+)[\"']", m.group(1))


def _peak_child_rss_mb() -> float:
    """Largest resident memory of any finished child process (the kernels), in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_pipeline(profile: str, run_dir: str | Path | None = None, only: list[str] | None = None,
                 overrides: dict | None = None, progress: bool = True) -> Path:
    """Execute the notebooks; stop at the first failure naming notebook and cell; returns run dir.

    The run holds the run dir's lock throughout (a second run, or a notebook's cell, on it is refused); SIGINT or
    SIGTERM stops it within seconds, kills the kernel and raises RunInterrupted (the last good executed copy of
    each notebook is kept; rerunning resumes)."""
    cfg = get_config(profile, overrides)  # validate profile and overrides before starting anything
    costs.check_memory(cfg)
    run_dir = Path(run_dir) if run_dir else default_run_dir(profile)
    books = list_notebooks(only)
    stages = sorted({s for nb in books for s in notebook_stages(nb)})
    conflicts = config_conflicts(run_dir, cfg, stages)     # refuse before a notebook (or its output) is touched
    if conflicts:
        raise ValueError(conflict_message(run_dir, conflicts))
    lock.acquire(run_dir)
    old_env = os.environ.get(lock.LOCKED_ENV)
    os.environ[lock.LOCKED_ENV] = str(run_dir.resolve())     # the kernels' notebooks: the runner holds the lock
    try:
        with interruptible():
            return _run_books(cfg, Run(run_dir, cfg), books, overrides or {}, progress)
    finally:
        os.environ.pop(lock.LOCKED_ENV) if old_env is None else os.environ.__setitem__(lock.LOCKED_ENV, old_env)
        lock.release(run_dir)


def _run_books(cfg: RunConfig, run: Run, books: list[Path], overrides: dict, progress: bool) -> Path:
    """The run itself, under the lock: each notebook, its walls and costs, then the scorecard."""
    from papermill.exceptions import PapermillExecutionError

    run_dir = run.dir
    out_dir = run.path("notebooks")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise storage_error(err, out_dir / books[0].name if books else out_dir) from None
    gflops = costs.matmul_gflops()
    print("\n".join(costs.estimate_lines(cfg, [nb.stem for nb in books], gflops, run_dir)), flush=True)
    costs.save_work(run_dir, cfg)
    # progress bars in an executed copy are widgets that a static viewer shows as "0%": none there
    os.environ.setdefault("TQDM_DISABLE", "1")
    params = {"profile": cfg.profile, "run_dir": str(run_dir.resolve()), "overrides": dict(overrides)}
    prof, card = {}, {}
    for i, nb in enumerate(books, 1):
        print(f"[{i}/{len(books)}] {nb.stem} (profile {cfg.profile}) ...", flush=True)
        t0 = time.perf_counter()
        # each save is atomic: the running copy is always whole; it replaces the last good copy on success
        running, failed = out_dir / f".{nb.stem}.running.ipynb", out_dir / f"{nb.stem}.failed.ipynb"
        try:
            execute_notebook(nb, running, params, NOTEBOOK_DIR, progress)
        except RunInterrupted as err:
            kept = _keep(running, failed, out_dir / nb.name)
            raise RunInterrupted(err.signum, f"interrupted by {signal.Signals(err.signum).name} during notebook "
                                             f"{nb.stem}; its kernel was stopped; {kept}; rerun the same command "
                                             f"to resume") from None
        except PapermillExecutionError as err:
            kept = _keep(running, failed, out_dir / nb.name)
            if err.ename == "KeyboardInterrupt":          # the kernel itself was interrupted: stop, as for Ctrl-C
                raise RunInterrupted(signal.SIGINT, f"notebook {nb.stem} was interrupted in cell {err.exec_count}; "
                                                    f"{kept}; rerun the same command to resume") from None
            raise RuntimeError(f"notebook {nb.stem} failed in cell {err.exec_count} ({err.ename}: {err.evalue}); "
                               f"{kept}") from None
        except OSError as err:                            # papermill could not save the executed copy
            kept = _keep(running, failed, out_dir / nb.name)
            raise StorageError(f"notebook {nb.stem} stopped: {storage_error(err, running)}; {kept}") from None
        except BaseException:
            _keep(running, failed, out_dir / nb.name)
            raise
        os.replace(running, out_dir / nb.name)
        failed.unlink(missing_ok=True)
        wall = time.perf_counter() - t0
        prof = costs.record_notebook(run_dir, nb.stem, wall, out_dir / nb.name, gflops)
        # the running maximum over the kernels so far: a jump names the notebook that needed the memory
        card = run.record({f"pipeline.wall_s.{nb.stem}": round(wall, 1),
                                f"pipeline.peak_rss_mb_so_far.{nb.stem}": round(_peak_child_rss_mb(), 1)})
        print(f"    done in {wall:.0f} s", flush=True)
    walls = [v for k, v in card.items() if k.startswith("pipeline.wall_s.") and k != "pipeline.wall_s.total"]
    run.record({"pipeline.wall_s.total": round(sum(walls), 1), "pipeline.gflops": round(gflops, 1),
                "pipeline.peak_rss_mb": round(_peak_child_rss_mb(), 1), "pipeline.profile": cfg.profile})
    md = write_markdown(run_dir)
    print(costs.summary(prof), flush=True)
    print(f"scorecard: {run.path('scorecard.json')} and {md}; per-cell costs: {run.path('profile.json')}",
          file=sys.stderr)
    return run_dir


def _keep(running: Path, failed: Path, good: Path) -> str:
    """Keep the partly executed copy as the .failed notebook (the last good copy stays); says where both are."""
    if running.exists():
        os.replace(running, failed)
    kept = f"the failed notebook is {failed}" if failed.exists() else "no partly executed copy was saved"
    return kept + (f"; the last good run of it is kept as {good}" if good.exists() else "")
