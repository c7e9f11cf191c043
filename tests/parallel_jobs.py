"""Module-level job functions for tests/test_parallel.py (spawned processes must import them)."""
import os

import torch


def count_job(n: int, tag: str, on_step=None) -> dict:
    for k in range(n):
        if on_step is not None:
            on_step(k)
    return {"tag": tag, "steps": n, "pid": os.getpid(), "threads": torch.get_num_threads()}


def failing_job(message: str = "", exit_code: int | None = None, n: int = 0, tag: str = "", on_step=None) -> dict:
    if exit_code is not None:
        os._exit(exit_code)
    if message:
        raise ValueError(message)
    return count_job(n, tag, on_step)
