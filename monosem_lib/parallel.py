"""Run several training jobs side by side: one spawned process per job, one thread each.

Small models cannot keep two CPU cores busy: two 1-thread processes train ~2x more per second in
total than one process on 2 threads (measured for the LMs and the SAEs here). Each job calls
`target(**kwargs, on_step=fn)`; `fn(k)` reports that step k is done, and the parent shows one
tqdm bar per job. A job's exception comes back as a one-line RuntimeError naming the job.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from typing import Any, Callable

import torch
from tqdm.auto import tqdm


def default_parallel(n_jobs: int) -> bool:
    """Processes pay on a multi-core CPU with more than one job; on a GPU one process is better."""
    return not torch.cuda.is_available() and (os.cpu_count() or 1) >= 2 and n_jobs > 1


def _child(target: Callable, name: str, kwargs: dict, threads: int, counter, results) -> None:
    """Entry point of one worker process: run the job, send back ('ok'|'error', name, payload)."""
    torch.set_num_threads(threads)
    try:
        out = target(**kwargs, on_step=lambda k: setattr(counter, "value", k + 1))
        results.put(("ok", name, out))
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        results.put(("error", name, f"{type(err).__name__}: {err}"))


def run_in_processes(target: Callable[..., Any], jobs: dict[str, dict], total_steps: dict[str, int] | int,
                     max_procs: int | None = None, threads: int = 1, desc: str = "",
                     parallel: bool | None = None) -> dict[str, Any]:
    """Run `target(**jobs[name], on_step=...)` for every job; returns {name: its return value}.

    target must be importable (a module-level function): processes are spawned, as fork is unsafe
    once torch's thread pool exists. At most `max_procs` (default: the CPU count) run at a time.
    With parallel=False (default on a GPU or a 1-core CPU) the jobs run here, one after another.
    """
    if parallel is None:
        parallel = default_parallel(len(jobs))
    if not parallel:
        return {name: target(**kw, on_step=None) for name, kw in jobs.items()}
    totals = total_steps if isinstance(total_steps, dict) else {name: total_steps for name in jobs}
    pool = _Pool(target, jobs, totals, max(1, max_procs or os.cpu_count() or 1), threads, desc)
    try:
        while pool.pending or pool.running:
            pool.start_next()
            pool.collect(0.5)            # drain results before join: a full pipe would block the child
            pool.show_progress()
            pool.reap()
    finally:
        pool.stop()
    if pool.errors:
        raise RuntimeError(pool.errors[0])
    return {name: pool.out[name] for name in jobs}


class _Pool:
    """The processes of `run_in_processes`: started in order up to `max_procs`, their results and errors
    collected, one progress bar each; on the first error the rest are stopped."""

    def __init__(self, target: Callable, jobs: dict[str, dict], totals: dict[str, int], max_procs: int,
                 threads: int, desc: str):
        self.target, self.jobs, self.max_procs, self.threads, self.desc = target, jobs, max_procs, threads, desc
        self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.counters = {name: self.ctx.Value("l", 0) for name in jobs}
        self.bars = {name: tqdm(total=totals[name], desc=f"{desc}{name}", position=i, mininterval=1.0)
                     for i, name in enumerate(jobs)}
        self.pending, self.running, self.out, self.errors = list(jobs), {}, {}, []

    def start_next(self) -> None:
        while self.pending and len(self.running) < self.max_procs and not self.errors:
            name = self.pending.pop(0)
            self.running[name] = self.ctx.Process(target=_child, daemon=True, args=(
                self.target, name, self.jobs[name], self.threads, self.counters[name], self.results))
            self.running[name].start()

    def collect(self, timeout: float) -> None:
        """Take one result off the queue (waiting up to `timeout` s)."""
        try:
            status, name, payload = self.results.get(timeout=timeout)
        except queue.Empty:
            return
        if status == "ok":
            self.out[name] = payload
        else:
            self.errors.append(f"{self.desc}{name}: {payload}")

    def show_progress(self) -> None:
        for name, bar in self.bars.items():
            bar.update(self.counters[name].value - bar.n)

    def reap(self) -> None:
        """Join the finished processes; one that ended without a result is an error (a crash, a kill)."""
        for name, p in list(self.running.items()):
            if p.is_alive():
                continue
            p.join()
            deadline = time.monotonic() + 5.0      # its result may still be in the pipe
            while not self.errors and name not in self.out and time.monotonic() < deadline:
                self.collect(0.2)
            if not self.errors and name not in self.out:
                self.errors.append(f"{self.desc}{name} stopped (exit code {p.exitcode}); "
                                   f"re-run to resume from its last checkpoint")
            del self.running[name]
        if self.errors:
            self.pending.clear()
            for p in self.running.values():
                p.terminate()

    def stop(self) -> None:
        for p in self.running.values():
            p.terminate()
            p.join()
        self.show_progress()
        for bar in self.bars.values():
            bar.close()
