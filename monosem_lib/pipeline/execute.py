"""Executing one notebook with papermill so that signals stop it and its output is never half written.

papermill runs in a worker thread: the main thread keeps its own SIGINT/SIGTERM handlers (nbclient installs
loop handlers of its own in the main thread, which let the run go on), and on a signal it kills the kernel's
process group (the kernel and the workers it spawned) at once and raises `RunInterrupted`. Every save papermill
makes of the executed notebook goes through `atomic_write`, so the copy on disk is always a whole notebook, even
when the disk fills up mid-run.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import weakref
from pathlib import Path
from typing import Iterator

from ..io import atomic_write_text

SCHEME = "monosem-atomic:"          # papermill I/O scheme: a path after it is written atomically
_KERNELS: "weakref.WeakSet" = weakref.WeakSet()
_STATE = {"signum": None}


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM; `signum` says which (the exit status is 128 + signum)."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class _AtomicHandler:
    """papermill I/O for `SCHEME` paths: reads plainly, writes through atomic_write."""

    @staticmethod
    def read(path: str) -> str:
        return Path(path[len(SCHEME):]).read_text(encoding="utf-8")

    @staticmethod
    def listdir(path: str) -> list[str]:
        return [str(p) for p in Path(path[len(SCHEME):]).iterdir()]

    @staticmethod
    def write(buf: str, path: str) -> None:
        atomic_write_text(path[len(SCHEME):], buf)

    @staticmethod
    def pretty_path(path: str) -> str:
        return path[len(SCHEME):]


def _kernel_manager_class():
    """jupyter_client's kernel manager, remembering each instance so that a signal can kill its kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _KERNELS.add(self)
    return TrackedKernelManager


def kill_kernels() -> list[int]:
    """SIGKILL every kernel this process started, with its process group (its own session: the workers it
    spawned go too); returns their PIDs."""
    killed = []
    for km in list(_KERNELS):
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if not pid:
            continue
        try:
            pgid = os.getpgid(pid)
            os.killpg(pgid, signal.SIGKILL) if pgid == pid else os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def _on_signal(signum: int, frame) -> None:
    """Kill the kernels, then raise RunInterrupted in the main thread (once: a second Ctrl-C only kills again)."""
    kill_kernels()
    if _STATE["signum"] is None:
        _STATE["signum"] = signum
        raise RunInterrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM stop the run (see `_on_signal`) while inside; the previous handlers come back after.
    Outside the main thread signals cannot be caught: then nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    _STATE["signum"] = None
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def execute_notebook(nb: Path, output: Path, parameters: dict, cwd: Path, progress: bool) -> None:
    """Run `nb` into `output` with papermill in a worker thread (saved atomically after every cell); the main
    thread waits, so that a signal reaches its handler within a fraction of a second."""
    import papermill as pm
    from papermill.iorw import papermill_io

    if not any(scheme == SCHEME for scheme, _ in papermill_io._handlers):
        papermill_io.register(SCHEME, _AtomicHandler())
    outcome: dict = {}

    def work() -> None:
        try:
            pm.execute_notebook(str(nb), SCHEME + str(output), cwd=str(cwd), kernel_name="python3",
                                parameters=parameters, progress_bar=progress, report_mode=False,
                                kernel_manager_class=_kernel_manager_class())
        except BaseException as err:  # noqa: BLE001 -- handed to the main thread, which raises it
            outcome["error"] = err

    worker = threading.Thread(target=work, name=f"papermill {nb.stem}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except RunInterrupted:
        kill_kernels()
        worker.join(15)                       # papermill notices the dead kernel and saves what it has
        raise
    if "error" in outcome:
        raise outcome["error"]
