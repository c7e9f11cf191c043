"""Run the numbered notebooks in order with papermill, timing each, into one run dir."""
from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from pathlib import Path

from ..config import get_config
from . import costs
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
    """Execute the notebooks; stop at the first failure naming notebook and cell; returns run dir."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    cfg = get_config(profile, overrides)  # validate profile and overrides before starting anything
    costs.check_memory(cfg)
    run = Run(Path(run_dir) if run_dir else default_run_dir(profile), cfg)
    run_dir = run.dir
    books = list_notebooks(only)
    stages = sorted({s for nb in books for s in notebook_stages(nb)})
    conflicts = config_conflicts(run_dir, cfg, stages)     # refuse before a notebook (or its output) is touched
    if conflicts:
        raise ValueError(conflict_message(run_dir, conflicts))
    out_dir = run.path("notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    gflops = costs.matmul_gflops()
    print("\n".join(costs.estimate_lines(cfg, [nb.stem for nb in books], gflops, run_dir)), flush=True)
    costs.save_work(run_dir, cfg)
    for i, nb in enumerate(books, 1):
        print(f"[{i}/{len(books)}] {nb.stem} (profile {profile}) ...", flush=True)
        t0 = time.perf_counter()
        # papermill rewrites its output after every cell: write beside the last good copy, replace it on success
        running, failed = out_dir / f".{nb.stem}.running.ipynb", out_dir / f"{nb.stem}.failed.ipynb"
        try:
            # progress bars in an executed copy are widgets that a static viewer shows as "0%": none there
            os.environ.setdefault("TQDM_DISABLE", "1")
            pm.execute_notebook(
                str(nb), str(running), cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                parameters={"profile": profile, "run_dir": str(run_dir.resolve()), "overrides": dict(overrides or {})},
                progress_bar=progress, report_mode=False,
            )
        except BaseException as err:          # a failed cell, a dead kernel, Ctrl-C: the last good copy stays
            if running.exists():
                os.replace(running, failed)
            if not isinstance(err, PapermillExecutionError):
                raise
            kept = f"; the last good run of it is kept as {out_dir / nb.name}" if (out_dir / nb.name).exists() else ""
            raise RuntimeError(f"notebook {nb.stem} failed in cell {err.exec_count} ({err.ename}: {err.evalue}); "
                               f"the failed notebook is {failed}{kept}") from None
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
                "pipeline.peak_rss_mb": round(_peak_child_rss_mb(), 1), "pipeline.profile": profile})
    md = write_markdown(run_dir)
    print(costs.summary(prof), flush=True)
    print(f"scorecard: {run.path('scorecard.json')} and {md}; per-cell costs: {run.path('profile.json')}",
          file=sys.stderr)
    return run_dir
