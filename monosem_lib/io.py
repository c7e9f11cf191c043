"""Atomic file writes, JSON and safetensors helpers. Nothing here ever unpickles."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Write via `write(tmp_path)` then rename, so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_json(path: str | Path, obj: Any) -> Path:
    """Atomically write `obj` as indented JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_jsonable)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def load_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> Path:
    """Atomically write tensors as safetensors (contiguous CPU copies; `meta` as string metadata)."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in (meta or {}).items()}
    return atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def load_tensors(path: str | Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning a damaged file into a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptFileError(f"{path} is corrupted or truncated ({err}); delete it and re-create it") from None


class CorruptFileError(RuntimeError):
    """A weights/checkpoint file that cannot be read."""
