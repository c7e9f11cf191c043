"""One writer per run dir: an OS file lock (flock) on run_dir/.monosem.lock.

The runner holds it for a whole run (its kernels are told so through $MONOSEM_LOCKED_RUN_DIR); a notebook run
alone holds it while each of its cells runs, so stepping through notebooks one kernel after another in JupyterLab
never blocks, but a cell started while a run (or another kernel's cell) writes the same run dir is refused. The
lock file names its holder (PID, start time, command) for the one-line refusal. The OS drops the lock when its
holder dies; the holder's record then stays behind, and the next process takes the lock over with a warning.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import sys
import time
import warnings
from pathlib import Path

from ..io import storage_error

LOCK_FILE = ".monosem.lock"
LOCKED_ENV = "MONOSEM_LOCKED_RUN_DIR"     # set by the runner for its kernels: this run dir is locked for them
_HELD: dict[str, tuple[int, int]] = {}    # resolved run dir -> (fd, how many holds in this process)


class RunDirBusy(RuntimeError):
    """Another live process holds the run dir's lock."""


def _process_start(pid: int) -> float | None:
    """When process `pid` started (Unix time, from /proc), or None where that cannot be read."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(ln.split()[1]) for ln in Path("/proc/stat").read_text().splitlines()
                    if ln.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _alive(pid: int, started: float | None) -> bool:
    """Whether the recorded holder still runs (the same process: a reused PID has another start time)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _process_start(pid)
    return started is None or now is None or abs(now - started) < 2


def _command() -> str:
    """This process's command line, shortened (e.g. `python -m monosem_lib run --profile smoke`)."""
    try:
        args = Path("/proc/self/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        args = [sys.executable] + sys.argv
    return " ".join(" ".join([Path(args[0]).name] + args[1:]).split())[:160] if args else "python"


def _record() -> dict:
    """Who holds the lock: this process's PID, start time and command line."""
    return {"pid": os.getpid(), "started": _process_start(os.getpid()) or time.time(), "command": _command()}


def _read(fd: int) -> dict | None:
    """The holder record in an open lock file (None if empty or unreadable)."""
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return None


def describe(rec: dict | None) -> str:
    """'PID 123 (started 2024-05-01 10:00:00, python -m monosem_lib run ...)' for a holder record."""
    if not rec:
        return "an unknown process"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec.get("started") or 0))
    return f"PID {rec.get('pid')} (started {when}, `{rec.get('command', '?')}`)"


def acquire(run_dir: str | Path) -> None:
    """Hold run_dir's lock (re-entrant within a process); RunDirBusy, one line naming the holder, if another
    live process holds it; a record left by a dead holder is taken over with a warning."""
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _HELD:
        fd, n = _HELD[key]
        _HELD[key] = (fd, n + 1)
        return
    path = run_dir / LOCK_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as err:
        raise storage_error(err, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        rec = _read(fd)
        os.close(fd)
        if rec and not _alive(int(rec.get("pid", -1)), rec.get("started")):
            raise RunDirBusy(f"run dir {run_dir} is locked by processes that {describe(rec)} started and left running "
                             f"after it ended; end them (fuser -v {path}), or pass another run dir") from None
        raise RunDirBusy(f"run dir {run_dir} is in use by {describe(rec)}; wait for it to finish or stop it, "
                         f"or pass another run dir") from None
    old = _read(fd)
    if old and old.get("pid") != os.getpid():
        warnings.warn(f"run dir {run_dir}: taking over the lock left by {describe(old)}, which ended without "
                      f"releasing it (killed?); its last notebook may be unfinished: the run resumes it", stacklevel=2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_record()).encode(), 0)
    _HELD[key] = (fd, 1)


def release(run_dir: str | Path) -> None:
    """Drop one hold of run_dir's lock; the last one clears the holder record and unlocks."""
    key = str(Path(run_dir).resolve())
    if key not in _HELD:
        return
    fd, n = _HELD.pop(key)
    if n > 1:
        _HELD[key] = (fd, n - 1)
        return
    try:
        os.ftruncate(fd, 0)                 # an empty record: released, not abandoned
    except OSError:
        pass
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def held_by_runner(run_dir: str | Path) -> bool:
    """Whether this process is a kernel of a runner that holds run_dir's lock."""
    return os.environ.get(LOCKED_ENV) == str(Path(run_dir).resolve())


def hold_in_notebook(run_dir: str | Path) -> None:
    """A notebook's lock: none under the runner (it holds it); in an IPython kernel, held while each cell runs
    (this one from now on); elsewhere (a script), held until the process ends."""
    if held_by_runner(run_dir):
        return
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        acquire(run_dir)
        atexit.register(release, run_dir)
        return
    current = _CellLock._current
    if current is not None and current.run_dir.resolve() == Path(run_dir).resolve():
        return                               # this cell holds it already (taken before the cell ran)
    acquire(run_dir)                         # this cell, from here on; the hooks release it when the cell ends
    _CellLock.install(shell, Path(run_dir))


class _CellLock:
    """IPython hooks: take the lock before a cell runs (an AST transformer raising InputRejected refuses the cell
    in one line) and drop it after (post_run_cell)."""
    _current: "_CellLock | None" = None

    def __init__(self, run_dir: Path):
        import ast
        from IPython.core.error import InputRejected

        self.run_dir = run_dir
        lock = self

        class Transformer(ast.NodeTransformer):
            def visit(self, node):
                try:
                    acquire(lock.run_dir)
                except (RunDirBusy, OSError) as err:
                    raise InputRejected(str(err)) from None
                return node
        self.transformer = Transformer()

    def after_cell(self, result=None) -> None:
        release(self.run_dir)

    @classmethod
    def install(cls, shell, run_dir: Path) -> None:
        """Lock run_dir around every later cell of this kernel (replacing the hooks of an earlier run dir, whose
        hold for this cell goes)."""
        old = cls._current
        if old is not None:
            if old.transformer in shell.ast_transformers:
                shell.ast_transformers.remove(old.transformer)
            try:
                shell.events.unregister("post_run_cell", old.after_cell)
            except ValueError:
                pass
            release(old.run_dir)
        new = cls._current = cls(run_dir)
        shell.ast_transformers.append(new.transformer)
        shell.events.register("post_run_cell", new.after_cell)
