"""Runs (`Run`, run dirs), the scorecard, the papermill runner, batches, reports and the command line.

May import every stage; no stage imports it.

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "run": ("CONTROL_LM", "MODEL_NAMES", "Run", "load_run", "saved_config"),
    "run_dir": ("REPO_ROOT", "default_run_dir", "prepare_run_dir", "setup_notebook"),
    "scorecard": ("PAPER_FIGURES", "record", "write_markdown"),
    "runner": ("run_pipeline",),
    "batch": ("run_batch",),
    "batch_report": ("aggregate_run_dirs", "points_table"),
})
