"""Shared checks for the notebooks' exercises: one-line verdicts, AssertionError on a miss.

Stage-specific checks (`check_<name>(student_fn, ...)`) live in each stage's `exercises.py` and use these.
"""
from __future__ import annotations

import torch


def verdict(ok: bool, good: str, bad: str) -> bool:
    """Print '✓ good' or raise AssertionError('✗ bad'): the one-line result of a check."""
    if not ok:
        raise AssertionError(f"✗ {bad}")
    print(f"✓ {good}")
    return True


def check_close(name: str, mine: torch.Tensor, theirs: torch.Tensor, atol: float = 1e-5, advice: str = "") -> bool:
    """Same shape and values within `atol` (of the larger magnitude): a one-line verdict naming `name`."""
    if tuple(mine.shape) != tuple(theirs.shape):
        return verdict(False, "", f"{name}: shape {tuple(mine.shape)}, expected {tuple(theirs.shape)}")
    diff = (mine.detach().float() - theirs.detach().float()).abs().max().item() if mine.numel() else 0.0
    tol = atol * max(1.0, theirs.detach().abs().max().item() if theirs.numel() else 1.0)
    return verdict(diff <= tol, f"{name} matches the library (max diff {diff:.1e})",
                   f"{name} differs from the library by up to {diff:.2e}{': ' + advice if advice else ''}")


def check_target(value: float | None, target: float, above: bool, what: str) -> bool | None:
    """An exercise's numeric target: 'not attempted yet' while `value` is None, else a one-line verdict."""
    if value is None:
        print(f"… not attempted yet: {what} should end {'above' if above else 'below'} {target:.4g}")
        return None
    ok = value > target if above else value < target
    side = "above" if above else "below"
    return verdict(ok, f"{what} = {value:.4g}, {side} the target {target:.4g}",
                   f"{what} = {value:.4g}, not {side} the target {target:.4g}")
