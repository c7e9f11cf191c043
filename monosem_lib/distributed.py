"""Data parallelism with torch.distributed (launched by `torchrun`), and the same code path on one process.

`from_env()` reads torchrun's RANK / WORLD_SIZE: with more than one process it starts the process group
(gloo on CPU, nccl on CUDA); with one (plain `python`, or `torchrun --nproc_per_node 1`) it returns a
`Dist` of world 1 whose collectives do nothing, so both give the same result. Training splits each global
batch into one contiguous slice per rank, averages the gradients weighted by slice size (exactly the
gradient of the global batch's mean loss), and lets rank 0 write checkpoints and decide resampling.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank r of `world` processes (world 1 = no collectives)."""
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


SINGLE = Dist()


def from_env(device: str = "cpu") -> Dist:
    """The Dist of this process: torchrun's RANK / WORLD_SIZE (starting the process group if needed), else world 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return Dist(tdist.get_rank(), tdist.get_world_size())


def rank_slice(n: int, d: Dist) -> slice:
    """Rank d.rank's contiguous part of n rows (sizes differ by at most one)."""
    lo, hi = n * d.rank // d.world, n * (d.rank + 1) // d.world
    return slice(lo, hi)


def average_grads(params: list[torch.nn.Parameter], n_local: int, d: Dist) -> None:
    """Replace each gradient by the mean over ranks weighted by their rows: the global batch's gradient.

    Each rank's gradient is of its own mean loss over n_local rows; Σ_r n_r g_r / Σ_r n_r is the gradient of
    the mean over all rows. One flat buffer: one all-reduce per step.
    """
    if not d.enabled:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [torch.ones(1, device=grads[0].device)]) * n_local
    tdist.all_reduce(flat)
    flat = flat[:-1] / flat[-1]
    i = 0
    for p, g in zip(params, grads):
        p.grad = flat[i:i + g.numel()].view_as(g).clone()
        i += g.numel()


def mean_over_ranks(values: torch.Tensor, n_local: int, d: Dist) -> torch.Tensor:
    """Row-weighted mean over ranks of per-rank means (loss, MSE, L0 for the history)."""
    if not d.enabled:
        return values
    buf = torch.cat([values.reshape(-1).double() * n_local, torch.tensor([float(n_local)], dtype=torch.float64,
                                                                         device=values.device)])
    tdist.all_reduce(buf)
    return (buf[:-1] / buf[-1]).to(values.dtype).view_as(values)


def sum_over_ranks(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """Element-wise sum over ranks (feature firing counts), in place; returns t."""
    if d.enabled:
        tdist.all_reduce(t)
    return t


def broadcast_from_main(tensors: list[torch.Tensor], d: Dist) -> None:
    """Copy rank 0's values of `tensors` to every rank, in place (after a decision made on rank 0)."""
    if d.enabled:
        for t in tensors:
            tdist.broadcast(t, src=0)


def barrier(d: Dist) -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    if d.enabled:
        tdist.barrier()


def fingerprint(*parts) -> str:
    """A short hash of what every rank must agree on (configs, sizes, checksums)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def check_same(what: str, print_: str, d: Dist) -> None:
    """Refuse (one-line ValueError on every rank) a job whose ranks disagree on `what`."""
    if not d.enabled:
        return
    got: list = [None] * d.world
    tdist.all_gather_object(got, print_)
    odd = [r for r, g in enumerate(got) if g != got[0]]
    if odd:
        raise ValueError(f"rank {odd[0]} has another {what} than rank 0 ({got[odd[0]]} vs {got[0]}): launch every rank "
                         f"with the same profile, settings and run dir")
