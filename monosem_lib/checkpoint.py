"""Training checkpoints shared by the LM and SAE trainers: weights + Adam state, atomic, last two kept.

Adam state is keyed by parameter *name*, not by position in the optimiser, so a checkpoint stays
valid when parameter order changes and resampling can reset exactly the rows it touched.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .io import CorruptFileError, load_json, load_tensors, save_json, save_tensors

ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files in folder/checkpoints, oldest first."""
    return sorted((Path(folder) / "checkpoints").glob("step_*.safetensors"))


def save_checkpoint(folder: Path, step: int, model: nn.Module, opt: torch.optim.Optimizer, meta: dict,
                    extra: dict[str, torch.Tensor] | None = None, keep: int = 2) -> Path:
    """Write step_<k>.safetensors (+ .json meta) atomically, then prune all but the newest `keep`."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for name, p in model.named_parameters():
        for key, val in opt.state.get(p, {}).items():
            tensors[f"opt.{name}.{key}"] = val if torch.is_tensor(val) else torch.tensor(val)
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    path = Path(folder) / "checkpoints" / f"step_{step:07d}.safetensors"
    save_tensors(path, tensors)
    save_json(path.with_suffix(".json"), {**meta, "step": step})
    for old in checkpoints(folder)[:-keep]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def load_checkpoint(folder: Path, model: nn.Module, opt: torch.optim.Optimizer,
                    device: str = "cpu") -> tuple[dict, dict[str, torch.Tensor]] | None:
    """Restore the newest checkpoint into model and opt; returns (meta, extra tensors), or None if none.

    A damaged newest checkpoint is an error that names it and the previous good one (kept).
    """
    ckpts = checkpoints(folder)
    if not ckpts:
        return None
    latest = ckpts[-1]
    try:
        tensors = load_tensors(latest, device=device)
        meta = load_json(latest.with_suffix(".json"))
    except (CorruptFileError, FileNotFoundError, ValueError):
        prev = (f"the previous good one, {ckpts[-2].name}, is kept: delete {latest} to resume from it"
                if len(ckpts) > 1 else f"delete {folder} to start this model fresh")
        raise CorruptFileError(f"checkpoint {latest} is corrupted or incomplete; {prev}") from None
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    for name, p in model.named_parameters():
        state = {key: tensors[f"opt.{name}.{key}"] for key in ADAM_KEYS if f"opt.{name}.{key}" in tensors}
        if state:
            opt.state[p] = state
    return meta, {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
