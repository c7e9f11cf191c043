"""Runs (run dirs, `load_run`), the scorecard, the papermill runner and the command line.

May import every stage; no stage imports it."""
