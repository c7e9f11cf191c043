"""Shared checks for the notebooks' exercises: one-line verdicts, AssertionError on a miss.

Stage-specific checks (`check_<name>(student_fn, ...)`) live in each stage's `exercises.py` and use these.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch


def student_check(check: Callable) -> Callable:
    """Wrap a check of the student's function: a stub still raising NotImplementedError (the student notebooks'
    cells, `make student`) becomes the one-line ✗ verdict, naming what the stub says is left to write."""
    @functools.wraps(check)
    def wrapped(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except NotImplementedError as err:
            raise AssertionError(f"✗ not written yet: {err}") from None
    return wrapped


def verdict(ok: bool, good: str, bad: str) -> None:
    """Print '✓ good' or raise AssertionError('✗ bad'): the one-line result of a check (returns nothing, so a
    notebook cell ending in a check shows only the verdict)."""
    if not ok:
        raise AssertionError(f"✗ {bad}")
    print(f"✓ {good}")


def check_close(name: str, mine: torch.Tensor, theirs: torch.Tensor, atol: float = 1e-5, advice: str = "") -> None:
    """Same shape and values within `atol` (of the larger magnitude): a one-line verdict naming `name`."""
    if tuple(mine.shape) != tuple(theirs.shape):
        return verdict(False, "", f"{name}: shape {tuple(mine.shape)}, expected {tuple(theirs.shape)}")
    diff = (mine.detach().float() - theirs.detach().float()).abs().max().item() if mine.numel() else 0.0
    tol = atol * max(1.0, theirs.detach().abs().max().item() if theirs.numel() else 1.0)
    return verdict(diff <= tol, f"{name} matches the library (max diff {diff:.1e})",
                   f"{name} differs from the library by up to {diff:.2e}{': ' + advice if advice else ''}")


def check_target(value: float | None, target: float | None, above: bool | None = None, what: str = "your answer",
                 tol: float | None = None) -> None:
    """An exercise's numeric target from the run's scorecard: end above / below it, or (with `tol`) reproduce it.

    Prints '… not attempted yet' while `value` is None and '– no target' when the run has no such figure.
    """
    if target is None:
        print(f"– no target for {what}: this run's scorecard has no such figure")
    elif value is None:
        goal = f"come out at {target:.4g}" if tol is not None else f"end {'above' if above else 'below'} {target:.4g}"
        print(f"… not attempted yet: {what} should {goal}")
    elif tol is not None:
        diff = abs(float(value) - float(target))
        verdict(diff <= tol, f"{what} = {float(value):.4g}, the run's {target:.4g} (|diff| {diff:.1e})",
                f"{what} = {float(value):.4g}, but the run's figure is {target:.4g} (|diff| {diff:.1e} > {tol:g})")
    else:
        side = "above" if above else "below"
        ok = value > target if above else value < target
        verdict(ok, f"{what} = {value:.4g}, {side} the target {target:.4g}",
                f"{what} = {value:.4g}, not {side} the target {target:.4g}")
