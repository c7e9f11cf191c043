"""One writer per run dir (issue #26 row 9): a second run is one line naming the holder's PID and start time, a
notebook run alone holds the lock while its cells run, and a dead holder's lock is taken over with a warning."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from monosem_lib.pipeline import lock
from monosem_lib.pipeline.run_dir import REPO_ROOT

HOLD = textwrap.dedent("""
    import sys, time
    from monosem_lib.pipeline.lock import acquire
    acquire(sys.argv[1])
    print("held", flush=True)
    time.sleep(60)
""")


def _holder(run_dir) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir)
    try:
        out = subprocess.run([sys.executable, "-m", "monosem_lib", "run", "--profile", "smoke", "--only", "00",
                              "--run-dir", str(run_dir), "--no-progress"], capture_output=True, text=True,
                             cwd=REPO_ROOT, timeout=120)
        assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert f"run dir {run_dir} is in use by PID {holder.pid} (started 20" in out.stderr
        assert "wait for it to finish or stop it, or pass another run dir" in out.stderr
        assert not (run_dir / "notebooks").exists()
        with pytest.raises(lock.RunDirBusy, match=f"in use by PID {holder.pid}"):
            lock.acquire(run_dir)                           # a notebook run alone, from a script, is refused too
    finally:
        holder.send_signal(signal.SIGKILL)                  # dies holding it: no chance to clear its record
        holder.wait()
    with pytest.warns(UserWarning, match=rf"taking over the lock left by PID {holder.pid} \(started .*\), which "
                                         r"ended without releasing it"):
        lock.acquire(run_dir)
    lock.release(run_dir)
    assert (run_dir / lock.LOCK_FILE).read_bytes() == b""   # a clean release leaves no record to take over


CELLS = textwrap.dedent("""
    import os, sys, time
    from IPython.core.interactiveshell import InteractiveShell
    run_dir, flags = sys.argv[1], sys.argv[2]
    def wait(name):
        while not os.path.exists(os.path.join(flags, name)):
            time.sleep(0.02)
    shell = InteractiveShell.instance()
    r = shell.run_cell(f"from monosem_lib.pipeline.run_dir import setup_notebook\\n"
                       f"cfg, rd = setup_notebook('smoke', {run_dir!r}, {{}}, ['toy'])")
    assert r.success, r.error_in_exec
    print("idle", flush=True)
    wait("go1")
    go2 = os.path.join(flags, "go2")
    shell.run_cell(f"import os, time\\nprint('busy', flush=True)\\nwhile not os.path.exists({go2!r}): time.sleep(0.02)")
    print("idle", flush=True)
    wait("go3")
    r = shell.run_cell("x = 1")
    print("refused:", type(r.error_before_exec).__name__, r.error_before_exec, flush=True)
""")


def test_a_notebook_run_alone_holds_the_lock_while_a_cell_runs(tmp_path):
    run_dir, flags = tmp_path / "run", tmp_path / "flags"
    flags.mkdir()
    nb = subprocess.Popen([sys.executable, "-c", CELLS, str(run_dir), str(flags)], cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert nb.stdout.readline().strip() == "idle", nb.stderr.read()
        lock.acquire(run_dir)                               # between cells the run dir is free
        lock.release(run_dir)
        (flags / "go1").touch()
        assert nb.stdout.readline().strip() == "busy"
        with pytest.raises(lock.RunDirBusy, match=f"in use by PID {nb.pid} "):
            lock.acquire(run_dir)                           # while a cell runs it is the notebook's
        (flags / "go2").touch()
        assert nb.stdout.readline().strip() == "idle"
        lock.acquire(run_dir)                               # a run holds it now: the notebook's next cell is refused
        (flags / "go3").touch()
        for line in nb.stdout:                              # after IPython's own print of the refusal
            if line.startswith("refused:"):
                break
        assert line.startswith(f"refused: InputRejected run dir {run_dir} is in use by PID {os.getpid()} "), line
    finally:
        lock.release(run_dir)
        nb.kill()
        nb.wait()
