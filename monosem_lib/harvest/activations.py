"""Harvesting the activation pool: an LM's post-ReLU MLP activations at sampled positions, sharded on disk.

As in the paper's pool (Bricken et al. 2023, "The sparse autoencoder"): `positions_per_context` random positions
from each of many n_ctx windows, shuffled, read without replacement. Which (window, position) pairs
are taken depends on (seed, token split, sizes) only, never on the model, so the stores of LM A and
LM B hold the same tokens in the same row order (universality compares them row by row).
Only the sampled positions go through the MLP (`TinyLM.mlp_acts(tokens, positions)`).

This module writes (and resumes) a store; `store.py` beside it reads it and defines the file format.
Under torchrun (`dist`) the shards still to write are dealt out to the ranks (rank r takes every world-th);
each rank records what it wrote in its own `.manifest.rank<r>.json`, and rank 0 merges them into the one
manifest at the end (and at the start of a resumed run), so the store is the one a single process writes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import HarvestConfig, validate_stage
from ..distributed import SINGLE, Dist, barrier
from ..io import atomic_write, load_json, remove_temp_files, save_json
from ..lm.model import TinyLM, load_lm
from ..text.splits import TokenSplit, load_split
from .store import REDO_MANIFEST, ROW_DTYPE, SPLITS, ActivationStore

FORMAT = "monosem-activations/1"
SALT = {"train": 0, "heldout": 1}                  # keeps the two parts' random streams apart
SPEED_ONLY = ("batch_contexts",)                   # settings that change speed, never the rows


def plan_contexts(n_tokens: int, n_ctx: int, n_rows: int, ppc: int, seed: int,
                  salt: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Window starts [n_contexts] and in-window positions [n_contexts, ppc] from (seed, split) alone.

    Windows tile the flat token array and are taken in random order without replacement; only when
    more are needed does another pass use a grid shifted by a fresh phase, so no (token, ctx_pos)
    pair repeats. Position 0 is skipped: a token seen with no context is atypical of the MLP's use.
    """
    if not 1 <= ppc < n_ctx:
        raise ValueError(f"harvest.positions_per_context={ppc} must be between 1 and n_ctx-1={n_ctx - 1}")
    if n_tokens < n_ctx:
        raise ValueError(f"a token split has {n_tokens} tokens, fewer than one context of {n_ctx}; use a bigger corpus")
    rng = np.random.default_rng([seed, salt, 1])
    n_contexts = -(-n_rows // ppc)
    phases, grids, have = rng.permutation(n_ctx), [], 0
    while have < n_contexts:
        if len(grids) == n_ctx:
            raise ValueError(f"{n_rows:,} rows is more than {n_tokens:,} tokens x {ppc} positions can give without "
                             f"repeats; lower harvest.n_rows / harvest.heldout_rows or raise positions_per_context")
        off = int(phases[len(grids)])
        grids.append(off + n_ctx * np.arange((n_tokens - off) // n_ctx, dtype=np.int64))
        have += len(grids[-1])
    starts = rng.permutation(np.concatenate(grids))[:n_contexts] if grids else np.zeros(0, np.int64)
    pos = np.empty((n_contexts, ppc), np.int16)
    for i in range(0, n_contexts, 1 << 16):
        r = rng.random((min(1 << 16, n_contexts - i), n_ctx - 1), dtype=np.float32)
        pos[i:i + len(r)] = 1 + np.argpartition(r, ppc - 1, axis=1)[:, :ppc]
    return starts, pos


def _row_info(split: TokenSplit, starts: np.ndarray, pos: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """ROW_DTYPE records of plan rows `rows` (row r = context r // ppc, slot r % ppc)."""
    ctx, slot = np.divmod(rows, pos.shape[1])
    out = np.empty(len(rows), ROW_DTYPE)
    out["ctx_pos"] = pos[ctx, slot]
    out["token_index"] = tok = starts[ctx] + out["ctx_pos"]
    doc = split.doc_index(tok)
    out["token_id"], out["doc_id"] = split.tokens[tok], split.doc_ids[doc]
    out["position"], out["category"] = tok - split.doc_starts[doc], split.doc_category[doc]
    return out


@torch.no_grad()
def _fits_float16(lm: TinyLM) -> bool:
    """Whether no MLP activation can exceed float16's range: |W_in y + b| <= |W_in| |y| + |b|, |ln2 out| bounded."""
    ln, W_in = lm.ln2, lm.mlp.W_in
    y_norm = ln.weight.abs().max() * lm.cfg.d_model ** 0.5 + ln.bias.norm()
    return bool((W_in.weight.norm(dim=1) * y_norm + W_in.bias.abs()).max() < 65_504)


@torch.no_grad()
def _harvest_rows(lm: TinyLM, tokens: np.ndarray, starts: np.ndarray, pos: np.ndarray, r0: int, r1: int,
                  dest: np.ndarray, out: np.ndarray, batch_contexts: int, pbar) -> int:
    """Put the activations of plan rows [r0, r1) at out[dest[r - r0]]; returns tokens forwarded."""
    device, ppc, n_ctx = next(lm.parameters()).device, pos.shape[1], lm.cfg.n_ctx
    to_dtype = torch.float16 if out.dtype == np.float16 else torch.float32
    check = to_dtype == torch.float16 and not _fits_float16(lm)
    c0, c1 = r0 // ppc, -(-r1 // ppc)
    for b0 in range(c0, c1, batch_contexts):
        b1 = min(b0 + batch_contexts, c1)
        win = torch.from_numpy(tokens[starts[b0:b1, None] + np.arange(n_ctx)].astype(np.int64))
        at = torch.from_numpy(pos[b0:b1].astype(np.int64)).to(device)
        acts = lm.mlp_acts(win.to(device), at).flatten(0, 1)   # [B * ppc, d_mlp]: plan rows b0*ppc ...
        lo, hi = max(r0 - b0 * ppc, 0), min(r1 - b0 * ppc, len(acts))
        sel, rows = acts[lo:hi], np.arange(b0 * ppc + lo, b0 * ppc + hi)
        if check and not sel.amax() <= 65_504:              # also catches NaN
            raise OverflowError("MLP activations do not fit float16 (above 65,504, or NaN); "
                                "set harvest.dtype='float32' (or check the LM)")
        out[dest[rows - r0]] = sel.to(to_dtype).cpu().numpy()
        pbar.update((b1 - b0) * n_ctx)
    return (c1 - c0) * n_ctx


def _write_npy(path: Path, arr: np.ndarray) -> dict:
    """Atomically write `arr` as .npy; returns its file name, size and crc32 (computed in memory)."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(arr))
    head, raw = head.getvalue(), np.ascontiguousarray(arr).reshape(-1).view(np.uint8)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(head)
            fh.write(raw.data)
    atomic_write(path, write)
    return {"file": path.name, "bytes": len(head) + raw.nbytes, "crc32": zlib.crc32(raw, zlib.crc32(head))}


def _file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algo).hexdigest()


def _identity(lm_dir: Path, lm: TinyLM, cfg: HarvestConfig, token_dirs: dict[str, Path]) -> dict:
    """What a store's contents depend on: the model's weights, the token splits, the settings."""
    return json.loads(json.dumps({
        "format": FORMAT, "dtype": cfg.dtype, "d_mlp": lm.cfg.d_mlp, "n_ctx": lm.cfg.n_ctx,
        "model": {"name": lm_dir.name, "sha256": _file_digest(lm_dir / "model.safetensors"), "lm": vars(lm.cfg)},
        "harvest": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in SPEED_ONLY},
        "token_splits": {t: {"n_tokens": int(np.load(d / "tokens.npy", mmap_mode="r").shape[0]),
                             "sha256": _file_digest(d / "tokens.npy")} for t, d in token_dirs.items()},
    }))     # as it reads back from JSON, so tuples compare equal


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {str(a)[:16]} there vs {str(b)[:16]} now")
    return out


def _validate(cfg: HarvestConfig) -> None:
    """One-line errors for settings that cannot work (the same rules as get_config's)."""
    validate_stage("harvest", cfg)


def _check_disk(folder: Path, needed: int) -> None:
    """Refuse to start when the disk cannot hold what is left to write."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise OSError(f"not enough free disk for the activation store at {folder}: need {needed / 1e9:.2f} GB, "
                      f"{free / 1e9:.2f} GB free; free some space or lower harvest.n_rows")


def _start_manifest(folder: Path, want: dict, category_names: list[str]) -> dict:
    """The existing manifest if it matches `want` (keeping only intact shards), else a fresh one; refuses to mix."""
    if not (folder / "manifest.json").exists():
        return {**want, "complete": False, "category_names": category_names,
                "parts": {p: {"token_split": t, "for": "training" if p == "train" else "evaluation", "shards": []}
                          for p, t in SPLITS.items()}}
    manifest = load_json(folder / "manifest.json", advice=REDO_MANIFEST)
    diffs = _diff({k: manifest.get(k) for k in want}, want)
    if diffs:
        raise ValueError(f"activation store {folder} was harvested from another model or settings "
                         f"({'; '.join(diffs)}); delete {folder} to start fresh")
    for part in SPLITS:
        manifest["parts"][part]["shards"] = [s for s in manifest["parts"][part]["shards"] if _is_intact(folder, s)]
    return manifest


def _merge_rank_manifests(folder: Path, manifest: dict) -> dict:
    """Fold the shards that ranks recorded in `.manifest.rank<r>.json` into `manifest` (intact ones only)."""
    for frag in sorted(folder.glob(".manifest.rank*.json")):
        for part, shards in load_json(frag, advice=f"delete {frag}").items():
            have = {s["index"] for s in manifest["parts"][part]["shards"]}
            manifest["parts"][part]["shards"] = sorted(manifest["parts"][part]["shards"] +
                                                       [s for s in shards if s["index"] not in have and _is_intact(folder, s)],
                                                       key=lambda s: s["index"])
    return manifest


def _save_merged(folder: Path, manifest: dict) -> None:
    """Write the one manifest, then drop the ranks' files it now contains."""
    save_json(folder / "manifest.json", manifest)
    for frag in folder.glob(".manifest.rank*.json"):
        frag.unlink()


def _is_intact(folder: Path, shard: dict) -> bool:
    """Whether a shard's two files exist with the sizes the manifest recorded (resume keeps those)."""
    return all((folder / shard[f]["file"]).exists() and (folder / shard[f]["file"]).stat().st_size == shard[f]["bytes"]
               for f in ("acts", "meta"))


def _compute_shard(lm: TinyLM, split: TokenSplit, plan: tuple[np.ndarray, np.ndarray], part: str, k: int,
                   r0: int, r1: int, cfg: HarvestConfig, pbar) -> tuple[np.ndarray, np.ndarray, int]:
    """Plan rows [r0, r1) of shard k, rows shuffled: (activations, row records, tokens forwarded)."""
    perm = np.random.default_rng([cfg.seed, SALT[part], 2, k]).permutation(r1 - r0)  # row i = plan row r0+perm[i]
    dest = np.empty_like(perm)
    dest[perm] = np.arange(r1 - r0)
    out = np.empty((r1 - r0, lm.cfg.d_mlp), cfg.dtype)
    forwarded = _harvest_rows(lm, split.tokens, *plan, r0, r1, dest, out, cfg.batch_contexts, pbar)
    return out, _row_info(split, *plan, r0 + perm), forwarded


def _store_shard(folder: Path, manifest: dict, part: str, k: int, acts: np.ndarray, rows: np.ndarray,
                 dist: Dist = SINGLE) -> None:
    """Write shard k's two files, then record it in the manifest (a shard counts only once both are on disk)."""
    name = f"{part}_{k:05d}"
    shard = {"index": k, "rows": len(acts), "acts": _write_npy(folder / f"{name}.npy", acts),
             "meta": _write_npy(folder / f"{name}.rows.npy", rows)}
    manifest["parts"][part]["shards"] = sorted(manifest["parts"][part]["shards"] + [shard], key=lambda s: s["index"])
    if dist.enabled:                  # one manifest file per rank until rank 0 merges them
        save_json(folder / f".manifest.rank{dist.rank}.json", {p: manifest["parts"][p]["shards"] for p in SPLITS})
    else:
        save_json(folder / "manifest.json", manifest)


def _harvest_shards(folder: Path, manifest: dict, lm: TinyLM, splits: dict, plans: dict, todo: list, cfg: HarvestConfig,
                    pbar, dist: Dist = SINGLE) -> int:
    """Compute the shards in `todo` one after another while a writer thread stores the previous one (disk and
    checksums overlap the next shard's forward passes; at most one shard waits in memory); returns tokens forwarded."""
    from concurrent.futures import ThreadPoolExecutor
    forwarded, pending = 0, None
    with ThreadPoolExecutor(max_workers=1) as writer:
        for p, k, r0, r1 in todo:
            acts, rows, n = _compute_shard(lm, splits[p], plans[p], p, k, r0, r1, cfg, pbar)
            forwarded += n
            if pending is not None:
                pending.result()                        # a failed write stops here, with its own error
            pending = writer.submit(_store_shard, folder, manifest, p, k, acts, rows, dist)
        if pending is not None:
            pending.result()
    return forwarded


def harvest_mlp_activations(run_dir: str | Path, model_name: str, cfg: HarvestConfig,
                            device: str = "cpu", dist: Dist = SINGLE) -> ActivationStore:
    """Run LM `model_name` over the sampled positions of tokens/train and tokens/val; write (or resume) its store.

    `store.stats` (also in the manifest) gives tokens_per_s (tokens forwarded per second of this
    call's wall time), rows_per_s and bytes, for the last call that wrote shards.
    """
    t0 = time.perf_counter()
    run_dir, folder = Path(run_dir), Path(run_dir) / "acts" / model_name
    lm_dir = run_dir / "lm" / model_name
    if not (lm_dir / "model.safetensors").exists():
        raise FileNotFoundError(f"no LM {model_name!r} at {lm_dir}; run notebook 01_train_tiny_lm first")
    _validate(cfg)
    if dist.is_main:
        remove_temp_files(folder)                   # what a kill mid-write left; intact shards are kept
    barrier(dist)
    token_dirs = {part: run_dir / "tokens" / t for part, t in SPLITS.items()}
    splits = {part: load_split(d) for part, d in token_dirs.items()}
    lm = load_lm(lm_dir, device)
    manifest = _merge_rank_manifests(folder, _start_manifest(folder, _identity(lm_dir, lm, cfg, token_dirs),
                                                             splits["train"].category_names))
    barrier(dist)                                   # every rank has read the same manifest before any writes
    if dist.is_main and list(folder.glob(".manifest.rank*.json")):
        _save_merged(folder, manifest)              # a data-parallel run stopped before rank 0 merged its ranks'
    barrier(dist)
    n_want, S, ppc = {"train": cfg.n_rows, "heldout": cfg.heldout_rows}, cfg.shard_rows, cfg.positions_per_context
    todo = [(p, k, k * S, min((k + 1) * S, n)) for p, n in n_want.items() for k in range(-(-n // S))
            if k not in {s["index"] for s in manifest["parts"][p]["shards"]}]
    if not todo and manifest["complete"]:
        return ActivationStore(folder, manifest)
    todo = todo[dist.rank::dist.world]
    row_bytes = np.dtype(cfg.dtype).itemsize * lm.cfg.d_mlp + ROW_DTYPE.itemsize
    _check_disk(folder, sum((r1 - r0) * row_bytes + 1024 for *_, r0, r1 in todo) + 2**20)
    folder.mkdir(parents=True, exist_ok=True)
    manifest["complete"] = False      # until every shard is back
    plans = {p: plan_contexts(len(splits[p]), lm.cfg.n_ctx, n_want[p], ppc, cfg.seed, SALT[p]) for p in SPLITS}
    pbar = tqdm(total=sum((-(-r1 // ppc) - r0 // ppc) * lm.cfg.n_ctx for *_, r0, r1 in todo),
                desc=f"harvest {model_name}", unit="tok", unit_scale=True)
    forwarded = _harvest_shards(folder, manifest, lm, splits, plans, todo, cfg, pbar, dist)
    pbar.close()
    if dist.enabled:                  # every rank merges every rank's shards into the one manifest...
        barrier(dist)
        manifest = _merge_rank_manifests(folder, manifest)
        barrier(dist)                 # ...before rank 0 drops the ranks' files (a late rank would miss them)
    wall, n_rows = time.perf_counter() - t0, sum(r1 - r0 for *_, r0, r1 in todo)
    files = [s[f] for p in SPLITS for s in manifest["parts"][p]["shards"] for f in ("acts", "meta")]
    if todo:
        manifest["stats"] = {"wall_s": round(wall, 2), "tokens_forwarded": forwarded, "rows_written": n_rows,
                             "tokens_per_s": round(forwarded / wall), "rows_per_s": round(n_rows / wall),
                             "n_rows": cfg.n_rows, "n_heldout": cfg.heldout_rows, "device": str(device),
                             "bytes": sum(f["bytes"] for f in files)}
    manifest["complete"] = all(k in {s["index"] for s in manifest["parts"][p]["shards"]}
                               for p, n in n_want.items() for k in range(-(-n // S)))
    if dist.is_main:
        _save_merged(folder, manifest)
    barrier(dist)
    return ActivationStore(folder, manifest)
