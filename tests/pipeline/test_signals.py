"""Signals (issue #26 rows 4 and 6): SIGINT or SIGTERM to the runner, alone or with its kernel, stops the run in
seconds, kills the kernel, exits non-zero and keeps the last good executed notebook; in a batch it stops the batch,
and the next `batch` call resumes the interrupted run and only then starts the others."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from monosem_lib.pipeline.run_dir import REPO_ROOT
from tests.pipeline.runner_child import SLEEPY, write_notebook


def _start(nbs: Path, mark: Path, sleep: float, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MARK": str(mark), "SLEEP": str(sleep), "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "tests.pipeline.runner_child", str(nbs), *args, "--profile", "smoke"]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)            # its own process group, as a terminal's job is


def _kernel_busy(mark: Path, proc: subprocess.Popen) -> int:
    """The PID of the kernel once it runs the slow cell."""
    for _ in range(600):
        if mark.exists() and mark.read_text():
            return int(mark.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the kernel never reached its slow cell")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"   # dead, not yet reaped
    except OSError:
        return True


def _stopped(proc: subprocess.Popen, t0: float) -> tuple[float, str, str]:
    out, err = proc.communicate(timeout=30)                 # the old runner slept on (SIGINT) for the whole cell
    return time.monotonic() - t0, out, err


@pytest.mark.slow
def test_a_signal_stops_the_run_kills_its_kernel_and_keeps_the_last_good_notebook(tmp_path):
    nbs, run = tmp_path / "nbs", tmp_path / "run"
    write_notebook(nbs, "01_sleepy.ipynb", *SLEEPY)
    args = ("run", "--run-dir", str(run), "--no-progress")
    good = write_notebook(run / "notebooks", "01_sleepy.ipynb", *SLEEPY, "print('a good run')").read_bytes()
    for n, (sig, with_kernel) in enumerate(((signal.SIGINT, False), (signal.SIGTERM, True))):
        mark = tmp_path / f"m{n + 1}"
        proc = _start(nbs, mark, 120, *args)
        kernel = _kernel_busy(mark, proc)
        t0 = time.monotonic()
        proc.send_signal(sig)
        if with_kernel:
            os.kill(kernel, sig)
        wall, _, err = _stopped(proc, t0)
        assert proc.returncode == 128 + sig and wall < 10, (proc.returncode, wall, err)
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"error: interrupted by {sig.name} during notebook 01_sleepy; its kernel was "
                               f"stopped"), err
        assert line.endswith("rerun the same command to resume")
        assert _gone(kernel)
        assert (run / "notebooks" / "01_sleepy.ipynb").read_bytes() == good
        failed = nbformat.read(run / "notebooks" / "01_sleepy.failed.ipynb", as_version=4)
        assert "first cell" in str(failed.cells[2].outputs) and not failed.cells[4].outputs


@pytest.mark.slow
def test_ctrl_c_in_a_batch_stops_the_batch_and_the_next_call_resumes_it(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "batch"
    write_notebook(nbs, "01_sleepy.ipynb", *SLEEPY)
    args = ("batch", "--seeds", "0,1", "--out", str(out))
    mark = tmp_path / "m1"
    proc = _start(nbs, mark, 120, *args)
    _kernel_busy(mark, proc)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)                      # Ctrl-C: the terminal signals the whole job
    wall, stdout, err = _stopped(proc, t0)
    assert proc.returncode == 130 and wall < 10, (proc.returncode, wall, err)
    assert "[batch] stopped during s0: it resumes, and the 1 run(s) after it start, on the next `batch` call" in stdout
    assert err.strip().splitlines()[-1].startswith("error: interrupted by SIGINT during notebook 01_sleepy")
    assert not (out / "runs" / "s1").exists() and not (out / "runs" / "s0" / ".batch_done").exists()
    again = _start(nbs, tmp_path / "m2", 0, *args)
    stdout, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "[batch 1/2] s0" in stdout and "finished before" not in stdout
    for r in ("s0", "s1"):
        assert (out / "runs" / r / ".batch_done").exists()
        assert sorted(p.name for p in (out / "runs" / r / "notebooks").iterdir()) == ["01_sleepy.ipynb"]
