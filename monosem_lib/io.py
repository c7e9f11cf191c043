"""Atomic file writes, checksummed JSON and safetensors helpers. Nothing here ever unpickles.

Every file is written to a private temp file beside its target, given the mode the user's umask asks for
(0644 under umask 022) and renamed over the target, so a crash never leaves half a file. A write the
operating system refuses (full disk, read-only file system, no permission) is one `StorageError` line that
names the file and what to do. JSON records carry the sha256 of their own content (`_sha256`), so an edit made
after they were written is refused like a damaged tensor file.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKSUM_KEY = "_sha256"                    # the JSON record's own checksum, stored inside it
ACCEPT_UNSEALED = "MONOSEM_ACCEPT_UNSEALED"  # set to 1 to trust JSON records written before they carried one
REDO_ANY = "delete it and rerun the notebook that wrote it"
_UMASK_LOCK = threading.Lock()


class CorruptFileError(RuntimeError):
    """A weights/checkpoint file that cannot be read."""


class StorageError(OSError):
    """A write the operating system refused, as one line naming the file and what to do."""


def storage_error(err: OSError, path: str | Path) -> OSError:
    """`err` as a one-line StorageError naming `path` when its errno is a storage failure; else `err` itself."""
    where = Path(path).parent
    advice = {
        errno.ENOSPC: f"no space left on the device; free some space there (df -h {where}) or use a run dir on "
                      f"another disk, then rerun (finished work is kept)",
        errno.EDQUOT: f"your disk quota is used up; free some space (du -sh {where}) or use a run dir on another "
                      f"disk, then rerun (finished work is kept)",
        errno.EROFS: "its file system is read-only; use a run dir on a writable disk (--run-dir, or run_dir=...)",
        errno.EACCES: f"permission denied; make {where} writable (chmod -R u+w {where}) or use another run dir",
        errno.EPERM: f"operation not permitted; make {where} writable (chmod -R u+w {where}) or use another run dir",
        errno.EFBIG: "the file would exceed this process's file-size limit (ulimit -f); raise it, then rerun",
    }
    if isinstance(err, StorageError) or err.errno not in advice:
        return err
    out = StorageError(f"cannot write {path}: {advice[err.errno]}")
    out.errno = err.errno
    return out


def os_error_line(err: OSError) -> str:
    """One line for any OSError: a storage failure's advice when its errno has one, else what failed and where."""
    line = storage_error(err, err.filename) if err.filename and not isinstance(err, StorageError) else err
    if line is not err or isinstance(err, StorageError):
        return str(line)
    return f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")


def file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the process's umask (0644 under umask 022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:   # reads the umask without changing it
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:                     # elsewhere: set and restore it (another thread could see 022 meanwhile)
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Write via `write(tmp_path)` then rename, so a crash never leaves a half-written file; the file gets the
    umask's mode (the temp file stays private until then); a refused write is a one-line StorageError."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise storage_error(err, path) from None
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as err:
        raise storage_error(err, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write `data` (through os.write, so every byte goes through one call tests can fail)."""
    def write(tmp: str) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    return atomic_write(path, write)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomically write `text` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_temp_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Delete the `.<name>.<random>.tmp` files that a kill during `atomic_write` leaves; returns them."""
    folder = Path(folder)
    found = list(folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")) if folder.exists() else []
    for f in found:
        f.unlink(missing_ok=True)
    return found


def _digest(obj: Any) -> str:
    """sha256 of a JSON value's canonical text (sorted keys, no spaces): formatting does not count, values do."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save_json(path: str | Path, obj: Any, checksum: bool = True) -> Path:
    """Atomically write `obj` as indented JSON; a dict carries the sha256 of its content under `_sha256`
    (`checksum=False`: a file for other programs, e.g. SAELens' cfg.json)."""
    plain = json.loads(json.dumps(obj, default=_jsonable))      # as it reads back: tuples are lists, keys strings
    if checksum:
        if not isinstance(plain, dict):
            raise TypeError(f"only a JSON object can carry its checksum, not a {type(plain).__name__} ({path})")
        plain.pop(CHECKSUM_KEY, None)
        plain[CHECKSUM_KEY] = _digest(plain)
    return atomic_write_text(path, json.dumps(plain, indent=2, sort_keys=True) + "\n")


def load_json(path: str | Path, advice: str = REDO_ANY, checksum: bool = True) -> Any:
    """Read a JSON file, checked against the checksum recorded in it; a malformed or edited file, or one without
    a checksum (unless `checksum=False`, or $MONOSEM_ACCEPT_UNSEALED=1), is a one-line CorruptFileError ending
    in `advice`."""
    try:
        obj = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{path} is not valid JSON ({type(err).__name__}: {err}); {advice}") from None
    if isinstance(obj, dict) and CHECKSUM_KEY in obj:
        if _digest({k: v for k, v in obj.items() if k != CHECKSUM_KEY}) != obj.pop(CHECKSUM_KEY):
            raise CorruptFileError(f"{path} was changed after it was written (its content no longer matches the "
                                   f"checksum recorded in it); {advice}")
    elif checksum and os.environ.get(ACCEPT_UNSEALED) != "1":
        raise CorruptFileError(f"{path} has no recorded checksum (written by a kit before JSON checksums, or it was "
                               f"removed); {advice}, or set {ACCEPT_UNSEALED}=1 to trust such files as they are")
    return obj


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


def tensor_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata `save_tensors` stored in a safetensors file's header (values decoded; {} if none)."""
    from safetensors import safe_open
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    out = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


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
    atomic_write_text(checksum_path(path), f"{digest}  {Path(path).name}\n")
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
