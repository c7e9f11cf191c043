"""Reading an activation store: shuffled training batches, the held-out slice, row metadata, checks.

The on-disk format (written by `monosem_lib.harvest.activations.harvest_mlp_activations`), in
run_dir/acts/<model>/: manifest.json (shapes, dtype, model sha256, per-file size and crc32);
train_00000.npy [rows, d_mlp] float16|float32 beside train_00000.rows.npy (per row: token_index
into tokens/train, token_id, doc_id, position in document, ctx_pos in the window, category); and
heldout_*.npy / heldout_*.rows.npy, drawn from tokens/val and kept for evaluation only.
Every file is checked against the manifest's size (always) and crc32 (on full reads) before use.
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import CorruptFileError, load_json

SPLITS = {"train": "train", "heldout": "val"}      # store part -> token split it is drawn from
ROW_DTYPE = np.dtype([("token_index", "<i8"), ("doc_id", "<i8"), ("position", "<i4"),
                      ("token_id", "<i4"), ("ctx_pos", "<i2"), ("category", "<i2")])
REDO_MANIFEST = "delete it and rerun notebook 02_harvest_activations (it harvests the store again)"
REDO = "delete it and rerun notebook 02_harvest_activations (it redoes only missing shards)"


def _check_size(folder: Path, entry: dict) -> Path:
    """The file's path, or a CorruptFileError naming it when it is missing or of the wrong size."""
    path = folder / entry["file"]
    size = path.stat().st_size if path.exists() else None
    if size != entry["bytes"]:
        state = ("missing" if size is None else
                 f"truncated or damaged ({size:,} bytes, manifest says {entry['bytes']:,})")
        raise CorruptFileError(f"activation shard {path} is {state}; {REDO}")
    return path


def _read_checked(folder: Path, entry: dict, verify: bool = True) -> np.ndarray:
    """Read one .npy file whole into RAM, refusing it if its size or crc32 differs from the manifest."""
    path = _check_size(folder, entry)
    buf = np.empty(entry["bytes"], np.uint8)
    with open(path, "rb") as fh:
        fh.readinto(memoryview(buf))
    if verify and zlib.crc32(buf) != entry["crc32"]:
        raise CorruptFileError(f"activation shard {path} is corrupted (crc32 differs from the manifest); {REDO}")
    fp = io.BytesIO(buf[:65_536].tobytes())
    np.lib.format.read_magic(fp)
    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    return buf[fp.tell():].view(dtype).reshape(shape)


def _part(pieces: list[np.ndarray], part: tuple[int, int]) -> list[np.ndarray]:
    """Rank r of w's contiguous slice of the rows of `pieces` (all of them for (0, 1))."""
    r, w = part
    if w == 1:
        return pieces
    rows = np.concatenate(pieces)
    return [rows[len(rows) * r // w:len(rows) * (r + 1) // w]]


def _to_torch(pieces: list[np.ndarray], device: str) -> torch.Tensor:
    """Stack row blocks into one float32 tensor on `device` (an accelerator converts float16 itself)."""
    rows = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    if torch.device(device).type == "cpu":
        return torch.from_numpy(rows.astype(np.float32, copy=False))
    return torch.from_numpy(np.ascontiguousarray(rows)).to(device).float()


class ActivationStore:
    """Read side of a harvested store: shuffled training batches, the held-out slice, row metadata."""

    def __init__(self, folder: str | Path, manifest: dict | None = None):
        self.folder = Path(folder)
        self.manifest = manifest or load_json(self.folder / "manifest.json", advice=REDO_MANIFEST)

    d_mlp = property(lambda self: int(self.manifest["d_mlp"]), doc="Width of each row (the LM's d_mlp).")
    n_rows = property(lambda self: sum(s["rows"] for s in self._shards("train")), doc="Training rows.")
    n_heldout = property(lambda self: sum(s["rows"] for s in self._shards("heldout")), doc="Held-out rows.")
    stats = property(lambda self: self.manifest.get("stats", {}), doc="Harvest figures (tokens_per_s, ...).")

    def __repr__(self) -> str:
        m = self.manifest
        return (f"ActivationStore(model {m['model']['name']}: {self.n_rows:,} train + {self.n_heldout:,} held-out rows "
                f"x d_mlp {self.d_mlp}, {m['dtype']}, {self.folder})")

    def fingerprint(self) -> str:
        """A short hash of the training shards' names, sizes and checksums: equal stores, equal fingerprints."""
        blob = json.dumps([self.d_mlp, self.manifest["dtype"], self._shards("train")], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _shards(self, part: str) -> list[dict]:
        if part not in SPLITS:
            raise ValueError(f"unknown part {part!r}; use 'train' or 'heldout'")
        return self.manifest["parts"][part]["shards"]

    def verify(self, parts: tuple[str, ...] = ("train", "heldout")) -> None:
        """Check every file's size and crc32 against the manifest; CorruptFileError names a bad shard."""
        for part in parts:
            for shard in tqdm(self._shards(part), desc=f"verify {part}", leave=False):
                _read_checked(self.folder, shard["acts"])
                _read_checked(self.folder, shard["meta"])

    def iter_batches(self, batch_size: int, seed: int = 0, epochs: int = 1, device: str = "cpu",
                     start_batch: int = 0, verify: bool = True, part: tuple[int, int] = (0, 1)) -> Iterator[torch.Tensor]:
        """Float32 batches [B, d_mlp]: each epoch visits every training row once, in a seeded random order.

        One shard is in RAM at a time (checked against its crc32 when read); shards come in random
        order and rows in random order within them. Batch k is a function of (seed, k), so
        `start_batch` resumes a run exactly. A second epoch repeats data, which warns. `part` = (rank, world):
        only that rank's contiguous slice of every batch is converted and yielded (data-parallel training).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        shards = self._shards("train")
        per_epoch = -(-self.n_rows // batch_size) if self.n_rows else 1
        for epoch in range(start_batch // per_epoch, epochs):
            if epoch >= 1:
                warnings.warn(f"epoch {epoch + 1} re-reads the {self.n_rows:,} training activations; the paper samples "
                              f"without replacement, so harvest more rows (harvest.n_rows) instead", stacklevel=2)
            rng = np.random.default_rng([seed, epoch, 3])
            skip = (start_batch % per_epoch) * batch_size if epoch == start_batch // per_epoch else 0
            pend: list[np.ndarray] = []
            n_pend = 0
            for k in rng.permutation(len(shards)):
                perm = rng.permutation(shards[k]["rows"])
                if skip >= len(perm):
                    skip -= len(perm)
                    continue
                perm, skip = perm[skip:], 0
                data = _read_checked(self.folder, shards[k]["acts"], verify)   # one shard in RAM at a time
                i = 0
                while i < len(perm):
                    take = min(batch_size - n_pend, len(perm) - i)
                    pend.append(data[perm[i:i + take]])      # numpy gathers rows far faster than torch on CPU
                    n_pend, i = n_pend + take, i + take
                    if n_pend == batch_size:
                        yield _to_torch(_part(pend, part), device)
                        pend, n_pend = [], 0
                del data
            if n_pend:
                yield _to_torch(_part(pend, part), device)

    def heldout_batches(self, batch_size: int, device: str = "cpu") -> Iterator[torch.Tensor]:
        """The held-out rows in stored order as float32 batches (for slices too big for RAM)."""
        for shard in self._shards("heldout"):
            data = _read_checked(self.folder, shard["acts"])
            for i in range(0, len(data), batch_size):
                yield _to_torch([data[i:i + batch_size]], device)

    def heldout(self, device: str = "cpu", n_rows: int | None = None) -> torch.Tensor:
        """The first `n_rows` (default: all) held-out rows [n, d_mlp] float32 (validation split; never trained on)."""
        n = self.n_heldout if n_rows is None else min(int(n_rows), self.n_heldout)
        out = torch.empty(n, self.d_mlp, device=device)
        i = 0
        for batch in self.heldout_batches(1 << 16, device):
            take = min(len(batch), n - i)
            out[i:i + take] = batch[:take]
            i += take
            if i >= n:               # before the generator reads (and checks) another shard
                break
        return out

    def heldout_mean(self, device: str = "cpu") -> torch.Tensor:
        """Mean held-out activation [d_mlp] (for mean ablation), read batch by batch."""
        total = torch.zeros(self.d_mlp, dtype=torch.float64, device=device)
        for batch in self.heldout_batches(1 << 16, device):
            total += batch.sum(0, dtype=torch.float64)
        return (total / max(self.n_heldout, 1)).float()

    def token_split(self, split: str = "heldout") -> str:
        """The token split (run_dir/tokens/<name>) that the rows of `split` index into."""
        return self.manifest["parts"][split]["token_split"]

    def row_info(self, split: str = "heldout") -> dict[str, np.ndarray]:
        """Per-row metadata in stored row order: token_index, token_id, doc_id, position, ctx_pos, category.

        token_index points into run_dir/tokens/<token_split(split)>; the LM's context of a row is
        tokens[token_index - ctx_pos : token_index + 1].
        """
        shards = self._shards(split)
        out = {name: np.empty(sum(s["rows"] for s in shards), ROW_DTYPE[name]) for name in ROW_DTYPE.names}
        i = 0
        for shard in shards:                  # field by field: never two copies of the whole table
            meta = _read_checked(self.folder, shard["meta"])
            for name in ROW_DTYPE.names:
                out[name][i:i + len(meta)] = meta[name]
            i += len(meta)
        return out

    def sample(self, n: int, seed: int = 0, device: str = "cpu") -> torch.Tensor:
        """`n` distinct random training rows [n, d_mlp] float32 (size-checked; verify() checks crc32)."""
        if not 0 <= n <= self.n_rows:
            raise ValueError(f"cannot sample {n:,} rows from a store of {self.n_rows:,} training rows")
        idx = np.random.default_rng([seed, 4]).choice(self.n_rows, size=n, replace=False)
        order = np.argsort(idx)
        out = np.empty((n, self.d_mlp), np.float32)
        offsets = np.cumsum([0] + [s["rows"] for s in self._shards("train")])
        cuts = np.searchsorted(idx[order], offsets)
        for k, shard in enumerate(self._shards("train")):
            if cuts[k] < cuts[k + 1]:
                mm = np.load(_check_size(self.folder, shard["acts"]), mmap_mode="r", allow_pickle=False)
                sel = order[cuts[k]:cuts[k + 1]]
                out[sel] = mm[idx[sel] - offsets[k]]
                del mm                       # unmap: keeps resident memory at one shard at most
        return torch.from_numpy(out).to(device)


def open_store(run_dir: str | Path, model_name: str) -> ActivationStore:
    """Open run_dir/acts/<model_name>, written by `harvest_mlp_activations`."""
    folder = Path(run_dir) / "acts" / model_name
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"no activation store at {folder}; run notebook 02_harvest_activations first")
    store = ActivationStore(folder)
    if not store.manifest.get("complete"):
        raise RuntimeError(f"activation store {folder} is incomplete (harvest interrupted); re-run notebook "
                           f"02_harvest_activations to finish it (it resumes)")
    return store

