"""Training checkpoints shared by the LM and SAE trainers: weights + Adam state, atomic, last two kept.

Adam state is keyed by parameter *name*, not by position in the optimiser, so a checkpoint stays
valid when parameter order changes and resampling can reset exactly the rows it touched.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn

from .io import CorruptFileError, checksum_path, load_json, load_tensors, remove_temp_files, save_json, save_tensors

ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files in folder/checkpoints, oldest first."""
    return sorted((Path(folder) / "checkpoints").glob("step_*.safetensors"))


def save_checkpoint(folder: Path, step: int, model: nn.Module, opt: torch.optim.Optimizer, meta: dict,
                    extra: dict[str, torch.Tensor] | None = None, keep: int = 2) -> Path:
    """Write step_<k>.safetensors (+ its .sha256, then the .json meta) atomically; prune all but the newest `keep`."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for name, p in model.named_parameters():
        for key, val in opt.state.get(p, {}).items():
            tensors[f"opt.{name}.{key}"] = val if torch.is_tensor(val) else torch.tensor(val)
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    path = Path(folder) / "checkpoints" / f"step_{step:07d}.safetensors"
    save_tensors(path, tensors)
    save_json(path.with_suffix(".json"), {**meta, "step": step})   # last: a checkpoint counts once its meta is there
    for old in checkpoints(folder)[:-keep]:
        _remove_checkpoint(old)
    return path


def _remove_checkpoint(path: Path) -> None:
    for f in (path, checksum_path(path), path.with_suffix(".json")):
        f.unlink(missing_ok=True)


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete what a kill can leave in a training folder: half-written `.tmp` files, and checkpoint meta
    or checksums whose tensors are gone. Returns what was removed."""
    gone = remove_temp_files(folder)
    ck = Path(folder) / "checkpoints"
    for f in list(ck.glob("step_*.json")) + list(ck.glob("step_*.safetensors.sha256")):
        if not (ck / (f.name.split(".")[0] + ".safetensors")).exists():
            f.unlink(missing_ok=True)
            gone.append(f)
    return gone


def load_checkpoint(folder: Path, model: nn.Module, opt: torch.optim.Optimizer,
                    device: str = "cpu") -> tuple[dict, dict[str, torch.Tensor]] | None:
    """Restore the newest intact checkpoint into model and opt; returns (meta, extra tensors), or None if none.

    A damaged or incomplete newer checkpoint (a kill between its tensors and its meta, flipped bytes) is
    removed with a warning naming it, and the previous one is used: training is a pure function of the
    step, so resuming from earlier ends with the same weights, only later.
    """
    for path in reversed(checkpoints(folder)):
        try:
            tensors = load_tensors(path, device=device)
            meta = load_json(path.with_suffix(".json"))
        except (CorruptFileError, FileNotFoundError, ValueError) as err:
            warnings.warn(f"checkpoint {path.name} in {folder} is damaged or incomplete ({err}); removed, "
                          f"resuming from the one before it", stacklevel=2)
            _remove_checkpoint(path)
            continue
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        for name, p in model.named_parameters():
            state = {key: tensors[f"opt.{name}.{key}"] for key in ADAM_KEYS if f"opt.{name}.{key}" in tensors}
            if state:
                opt.state[p] = state
        return meta, {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    return None
