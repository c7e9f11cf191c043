"""Command line:
`python -m monosem_lib run --profile classroom [--run-dir DIR] [--only 01,03] [-p k=v ...]`;
`python -m monosem_lib batch --profile classroom --seeds 0,1,2 [--grid k=v1,v2 ...] [--only 03,04] --out DIR`;
`python -m monosem_lib aggregate --out DIR [--by k ...] RUN_DIR ...` (run dirs made any other way);
`torchrun --nproc_per_node N -m monosem_lib train --profile P [--run-dir DIR] [--stage lm,harvest,sae]`;
`python -m monosem_lib seed-overrides N [--profile P]` (batch seed N's settings, JSON for papermill's -y);
`python -m monosem_lib student --out DIR` (the notebooks with every implement exercise as a stub to fill in);
`python -m monosem_lib report --out docs/RESULTS.md DIR ...` (measured figures from run or batch dirs);
`python -m monosem_lib scale BATCH_DIR` (the claims against LM tokens and SAE activations: scale.png, scale.md);
`python -m monosem_lib sae-scaling BATCH_DIR [--key sae.A.fvu]` (SAE loss against compute, a power law fitted)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import PROFILES, parse_overrides


def _profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="classroom", help=f"one of {', '.join(PROFILES)} (default classroom)")


def _params(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help=what)


def parser() -> argparse.ArgumentParser:
    """The command line's parser: one sub-command per job."""
    ap = argparse.ArgumentParser(prog="python -m monosem_lib", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the numbered notebooks with papermill into a run dir")
    _profile(run)
    run.add_argument("--run-dir", default=None, help="output folder (default runs/<profile>)")
    run.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    _params(run, "override one setting, e.g. -p lm_train.max_steps=200 (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="hide papermill's per-cell progress bar")
    batch = sub.add_parser("batch", help="seeds x grid points, one run dir each, aggregated with error bars")
    _profile(batch)
    batch.add_argument("--seeds", required=True, help="comma-separated batch seeds, e.g. 0,1,2 (0 = the profile's run)")
    batch.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="sweep one setting over values (repeatable: the grid is their product)")
    batch.add_argument("--only", default=None, help="comma-separated notebook numbers to execute in each run")
    _params(batch, "a setting for every run of the batch (repeatable)")
    batch.add_argument("--out", required=True, help="the batch folder (runs/<name>)")
    batch.add_argument("--progress", action="store_true", help="show papermill's per-cell progress bars")
    agg = sub.add_parser("aggregate", help="mean/std/min/max/n over existing run dirs (e.g. a papermill loop)")
    agg.add_argument("run_dirs", nargs="+", help="run dirs with a scorecard.json")
    agg.add_argument("--out", required=True, help="folder for batch.json, batch.md, batch.png")
    agg.add_argument("--by", action="append", default=[], metavar="KEY",
                     help="group runs by this pinned setting (repeatable; default: all runs one group)")
    tr = sub.add_parser("train", help="notebooks 01-03's training steps, data parallel under torchrun")
    _profile(tr)
    tr.add_argument("--run-dir", default=None, help="output folder (default runs/<profile>)")
    tr.add_argument("--stage", default="lm,harvest,sae", help="comma-separated: lm, harvest, sae (default all)")
    _params(tr, "override one setting (repeatable)")
    so = sub.add_parser("seed-overrides", help="the overrides batch seed N sets, as JSON (for papermill -y)")
    so.add_argument("seed", type=int)
    _profile(so)
    st = sub.add_parser("student", help="student copies of the notebooks: each implement exercise holds its stub")
    st.add_argument("--out", required=True, help="folder for the copies (e.g. student/)")
    rep = sub.add_parser("report", help="docs/RESULTS.md from run dirs (scorecard.json) or batch dirs (batch.json)")
    rep.add_argument("dirs", nargs="+", help="run or batch dirs")
    rep.add_argument("--out", required=True, help="the markdown file (its hand-written preamble is kept)")
    sc = sub.add_parser("scale", help="a batch gridded over lm_train.max_steps x sae.n_acts: scale.png and scale.md")
    sc.add_argument("batch_dir", help="the batch folder (with batch.json)")
    ss = sub.add_parser("sae-scaling", help="a batch gridded over sae.n_features x sae.n_acts: SAE loss against "
                                           "compute with a fitted power law (sae_scaling.png, sae_scaling.md)")
    ss.add_argument("batch_dir", help="the batch folder (with batch.json)")
    ss.add_argument("--key", default="sae.A.fvu", help="the scorecard key used as the loss (default sae.A.fvu)")
    return ap


def _run(args) -> int:
    from .runner import run_pipeline
    run_pipeline(args.profile, args.run_dir, _only(args), parse_overrides(args.param), progress=not args.no_progress)
    return 0


def _batch(args) -> int:
    from .batch import parse_grid, parse_seeds, run_batch
    seeds, grid = parse_seeds(args.seeds), parse_grid(args.grid)
    report = run_batch(args.profile, seeds, grid, Path(args.out), _only(args), parse_overrides(args.param),
                       progress=args.progress)
    failed = [r for r, s in report["runs"].items() if s.get("status") != "done"]
    print(f"batch: {Path(args.out) / 'batch.md'}" + (f"; failed runs: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _aggregate(args) -> int:
    from .batch_report import aggregate_run_dirs
    aggregate_run_dirs([Path(d) for d in args.run_dirs], Path(args.out), args.by)
    print(f"aggregate: {Path(args.out) / 'batch.md'}")
    return 0


def _train(args) -> int:
    from .train_parallel import train_stages
    train_stages(args.profile, args.run_dir, [s.strip() for s in args.stage.split(",") if s.strip()],
                 parse_overrides(args.param))
    return 0


def _seed_overrides(args) -> int:
    import json

    from .batch import parse_seeds, seed_overrides
    print(json.dumps(seed_overrides(args.profile, parse_seeds(str(args.seed))[0])))
    return 0


def _student(args) -> int:
    from .runner import list_notebooks
    from .student import write_student_notebooks
    paths = write_student_notebooks(args.out, list_notebooks())
    print(f"student notebooks: {len(paths)} in {Path(args.out)}")
    return 0


def _report(args) -> int:
    from .results import write_results
    print(f"report: {write_results(args.out, [Path(d) for d in args.dirs])}")
    return 0


def _scale(args) -> int:
    from .scale import write_scale
    png, md = write_scale(Path(args.batch_dir))
    print(f"scale: {png} and {md}")
    return 0


def _sae_scaling(args) -> int:
    from .sae_scaling import write_sae_scaling
    png, md = write_sae_scaling(Path(args.batch_dir), args.key)
    print(f"sae-scaling: {png} and {md}")
    return 0


def _only(args) -> list[str] | None:
    return [o.strip() for o in args.only.split(",")] if getattr(args, "only", None) else None


COMMANDS = {"run": _run, "batch": _batch, "aggregate": _aggregate, "train": _train, "seed-overrides": _seed_overrides,
            "student": _student, "report": _report, "scale": _scale,
            "sae-scaling": _sae_scaling}


def main(argv: list[str] | None = None) -> int:
    """Parse, run the command, and turn an expected failure into one line on stderr (exit status 1)."""
    args = parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as err:            # SIGINT / SIGTERM: the run stopped, its kernel killed
        from .execute import RunInterrupted
        print(f"error: {err or 'interrupted'}", file=sys.stderr)
        return 128 + (err.signum if isinstance(err, RunInterrupted) else 2)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:                      # a refused write or read: one line naming the file
        from ..io import os_error_line
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return 1
