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
    totals = total_steps if isinstance(total_steps, dict) else {name: total_steps for name in jobs}
    if not parallel:
        return {name: target(**kw, on_step=None) for name, kw in jobs.items()}
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    counters = {name: ctx.Value("l", 0) for name in jobs}
    bars = {name: tqdm(total=totals[name], desc=f"{desc}{name}", position=i, mininterval=1.0)
            for i, name in enumerate(jobs)}
    pending, running, out, errors = list(jobs), {}, {}, []
    max_procs = max(1, max_procs or os.cpu_count() or 1)

    def collect(timeout: float) -> None:
        try:
            status, name, payload = results.get(timeout=timeout)
        except queue.Empty:
            return
        (out.__setitem__(name, payload) if status == "ok" else errors.append(f"{desc}{name}: {payload}"))

    try:
        while pending or running:
            while pending and len(running) < max_procs and not errors:
                name = pending.pop(0)
                running[name] = ctx.Process(target=_child, args=(target, name, jobs[name], threads,
                                                                 counters[name], results), daemon=True)
                running[name].start()
            collect(0.5)            # drain results before join: a full pipe would block the child
            for name, bar in bars.items():
                bar.update(counters[name].value - bar.n)
            for name, p in list(running.items()):
                if not p.is_alive():
                    p.join()
                    deadline = time.monotonic() + 5.0      # its result may still be in the pipe
                    while not errors and name not in out and time.monotonic() < deadline:
                        collect(0.2)
                    if not errors and name not in out:
                        errors.append(f"{desc}{name} stopped (exit code {p.exitcode}); "
                                      f"re-run to resume from its last checkpoint")
                    del running[name]
            if errors:
                pending.clear()
                for p in running.values():
                    p.terminate()
    finally:
        for p in running.values():
            p.terminate()
            p.join()
        for name, bar in bars.items():
            bar.update(counters[name].value - bar.n)
            bar.close()
    if errors:
        raise RuntimeError(errors[0])
    return {name: out[name] for name in jobs}
