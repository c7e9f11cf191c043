"""The OS refusing a write (issue #26 row 8): a read-only run dir and a full disk are one line naming the file and
what to do, the failed notebook is never truncated, and doing what the line says lets the run finish."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from monosem_lib.io import StorageError
from monosem_lib.pipeline import costs, runner
from monosem_lib.pipeline.run_dir import REPO_ROOT
from tests.pipeline.runner_child import write_notebook

REAL_WRITE = os.write


@pytest.fixture()
def tiny(tmp_path, monkeypatch) -> Path:
    """The runner's notebooks: one tiny notebook in tmp_path/nbs (and no benchmark of the machine's speed)."""
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setattr(costs, "matmul_gflops", lambda *a, **k: 100.0)
    write_notebook(tmp_path / "nbs", "01_tiny.ipynb", "print('small')", "print('x' * 300_000)", "print('end')")
    return tmp_path / "nbs"


def _read_only_cli(nbs: Path, folder: Path) -> subprocess.CompletedProcess:
    """The runner's command line on folder/run, which it cannot write: a read-only file system in a user namespace
    when running as root (root ignores file modes), else a folder without write permission."""
    cmd = [sys.executable, "-m", "tests.pipeline.runner_child", str(nbs), "run", "--profile", "smoke", "--run-dir",
           str(folder / "run"), "--no-progress"]
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("running as root without user namespaces: no read-only folder to test with")
    script = f"mount -t tmpfs -o ro,size=64k tmpfs {folder} && exec \"$@\""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *cmd], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)


def test_a_read_only_run_dir_is_one_line_naming_the_file_and_what_to_do(tmp_path, tiny):
    folder = tmp_path / "ro"
    out = _read_only_cli(tiny, folder)
    folder.chmod(0o755)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith(f"error: cannot write {folder / 'run'}") and "Traceback" not in out.stderr
    if "its file system is read-only; use a run dir on a writable disk" in out.stderr:
        run = tmp_path / "writable" / "run"                 # the advice: another run dir
    else:
        assert f"permission denied; make {folder} writable (chmod -R u+w {folder})" in out.stderr, out.stderr
        run = folder / "run"                                # the advice: chmod (done above), same run dir
    runner.run_pipeline("smoke", run, progress=False)
    assert (run / "notebooks" / "01_tiny.ipynb").exists()


def _disk_fills(monkeypatch, under: Path, free: int) -> None:
    """Writes to files under `under` fail with ENOSPC once one would pass `free` bytes (every write of the kit goes
    through os.write: atomic_write_bytes)."""
    real = os.write

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(under)) and len(data) > free:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)
    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_is_one_line_keeps_a_whole_failed_notebook_and_the_rerun_finishes(tmp_path, tiny, monkeypatch):
    run = tmp_path / "run"
    good = write_notebook(run / "notebooks", "01_tiny.ipynb", "print('a good run')").read_bytes()
    _disk_fills(monkeypatch, run, free=100_000)            # room for the small saves, not for the big output
    with pytest.raises(StorageError) as err:
        runner.run_pipeline("smoke", run, progress=False)
    msg, out = str(err.value), run / "notebooks"
    running = out / ".01_tiny.running.ipynb"
    assert "\n" not in msg and msg.startswith(f"notebook 01_tiny stopped: cannot write {running}: no space left on the "
                                              f"device; free some space there"), msg
    assert msg.endswith(f"the failed notebook is {out / '01_tiny.failed.ipynb'}; the last good run of it is kept as "
                        f"{out / '01_tiny.ipynb'}")
    failed = nbformat.read(out / "01_tiny.failed.ipynb", as_version=4)          # whole JSON, not truncated
    assert "small" in str(failed.cells[2].outputs)
    assert (out / "01_tiny.ipynb").read_bytes() == good
    assert sorted(p.name for p in out.iterdir()) == ["01_tiny.failed.ipynb", "01_tiny.ipynb"]     # no temp files
    monkeypatch.setattr(os, "write", REAL_WRITE)
    old = os.umask(0o022)
    try:
        runner.run_pipeline("smoke", run, progress=False)  # space freed, rerun: it finishes
    finally:
        os.umask(old)
    assert sorted(p.name for p in out.iterdir()) == ["01_tiny.ipynb"]
    assert "x" * 1000 in (out / "01_tiny.ipynb").read_text()
    modes = {str(p.relative_to(run)): oct(p.stat().st_mode & 0o777) for p in run.rglob("*") if p.is_file()}
    assert set(modes.values()) == {"0o644"}, modes            # row 10: every file readable by the class

