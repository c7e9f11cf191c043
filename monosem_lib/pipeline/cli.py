"""Command line: `python -m monosem_lib run --profile classroom [--run-dir DIR] [--only 01,03] [-p k=v ...]`."""
from __future__ import annotations

import argparse
import os
import sys

from ..config import PROFILES, parse_overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monosem_lib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the numbered notebooks with papermill into a run dir")
    run.add_argument("--profile", default="classroom", help=f"one of {', '.join(PROFILES)} (default classroom)")
    run.add_argument("--run-dir", default=None, help="output folder (default runs/<profile>)")
    run.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override one setting, e.g. -p lm_train.max_steps=200 (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="hide papermill's per-cell progress bar")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .runner import run_pipeline
    try:
        only = [o.strip() for o in args.only.split(",")] if args.only else None
        run_pipeline(args.profile, args.run_dir, only, parse_overrides(args.param), progress=not args.no_progress)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0

