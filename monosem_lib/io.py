"""Atomic file writes, JSON and safetensors helpers. Nothing here ever unpickles."""
from __future__ import annotations

import hashlib
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


def remove_temp_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Delete the `.<name>.<random>.tmp` files that a kill during `atomic_write` leaves; returns them."""
    folder = Path(folder)
    found = list(folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")) if folder.exists() else []
    for f in found:
        f.unlink(missing_ok=True)
    return found


def save_json(path: str | Path, obj: Any) -> Path:
    """Atomically write `obj` as indented JSON."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_jsonable)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def load_json(path: str | Path, advice: str = "fix or delete it") -> Any:
    """Read a JSON file; a malformed one is a one-line CorruptFileError naming it."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{path} is not valid JSON ({type(err).__name__}: {err}); {advice}") from None


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> Path:
    """Atomically write tensors as safetensors (contiguous CPU copies; `meta` as string metadata), then
    record the file's sha256 beside it (`<file>.sha256`, `sha256sum -c` format)."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in (meta or {}).items()}
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))
    write_checksum(path)
    return Path(path)


def load_tensors(path: str | Path, device: str = "cpu", advice: str = "delete it and re-create it") -> dict[str, torch.Tensor]:
    """Read a safetensors file after checking it against its recorded sha256; `advice` ends the error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {advice}")
    verify_checksum(path, advice)
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptFileError(f"{path} is corrupted or truncated ({err}); {advice}") from None


def checksum_path(path: str | Path) -> Path:
    """Where the sha256 of `path` is recorded."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksum(path: str | Path) -> str:
    """Record the sha256 of a just-written file beside it; returns the digest."""
    digest = file_sha256(path)
    atomic_write(checksum_path(path), lambda tmp: Path(tmp).write_text(f"{digest}  {Path(path).name}\n"))
    return digest


def verify_checksum(path: str | Path, advice: str) -> None:
    """CorruptFileError (one line, naming the file, ending in `advice`) unless `path` matches its sha256."""
    side = checksum_path(path)
    try:
        want = side.read_text().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        raise CorruptFileError(f"{path} has no readable recorded checksum ({side.name}: a write was interrupted?); "
                               f"{advice}") from None
    if file_sha256(path) != want:
        raise CorruptFileError(f"{path} is corrupted: it no longer matches the sha256 recorded when it was "
                               f"written; {advice}")


class CorruptFileError(RuntimeError):
    """A weights/checkpoint file that cannot be read."""
