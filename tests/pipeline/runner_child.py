"""Tiny notebooks for runner tests, and the process that runs them through the real command line.

    python -m tests.pipeline.runner_child <notebook folder> run|batch <cli arguments>

runs `python -m monosem_lib <cli arguments>` with the runner's notebooks taken from <notebook folder> (and no
benchmark of the machine's speed, which only feeds the time estimate). The
sleepy notebook writes its kernel's PID to $MARK once its slow cell starts, then sleeps $SLEEP seconds (0 when
unset), so a test can signal the runner while a kernel is busy.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

SLEEPY = ("import os, time\nprint('first cell')",
          "open(os.environ['MARK'], 'w').write(str(os.getpid()))\ntime.sleep(float(os.environ.get('SLEEP', '0')))",
          "print('last cell')")


def write_notebook(folder: Path, name: str, *cells: str) -> Path:
    """A notebook with papermill's parameters cell (profile, run_dir, overrides) and then `cells`."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'\nrun_dir = None\noverrides = {}")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


if __name__ == "__main__":
    from monosem_lib.pipeline import costs, runner
    from monosem_lib.pipeline.cli import main

    runner.NOTEBOOK_DIR = Path(sys.argv[1])
    costs.matmul_gflops = lambda *a, **k: 100.0        # the machine's speed only feeds the estimate: a second saved
    sys.exit(main(sys.argv[2:]))
