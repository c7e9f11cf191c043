"""Test-session setup: notebooks run on the `smoke` profile in a fresh run dir, offline.

nbval executes the notebooks as saved; their parameters cell reads MONOSEM_PROFILE and
MONOSEM_RUN_DIR, so setting them here makes every notebook run tiny and share one run dir
(in file order: 01 writes what 02 reads, and so on).
"""
import os
import shutil
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MONOSEM_PROFILE", "smoke")
if "MONOSEM_RUN_DIR" not in os.environ:
    _nb_run = os.path.join(tempfile.gettempdir(), f"monosem_nbval_{os.getpid()}")
    shutil.rmtree(_nb_run, ignore_errors=True)
    os.environ["MONOSEM_RUN_DIR"] = _nb_run

