"""An SAE's codes on the evaluation tokens: encoded once per run, kept sparse, reused by notebooks 04, 05 and 06.

Encoding a million tokens through a 4,096-feature encoder is most of the cost of evaluating an SAE, so the
non-zero codes are saved (run_dir/eval/codes_<sae>.safetensors: CSR arrays, values in float16, checksummed) with
the identity of what they came from (the SAE's and the LM's weight checksums, the evaluation windows). A loader
finding other weights or windows recomputes them; a damaged file is an error naming it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from ..harvest.eval_tokens import EvalTokens, mlp_act_batches, rows_limit
from ..io import load_tensors, save_tensors
from ..lm.model import TinyLM
from ..machine import available_memory_gb
from .model import SAE
from .sparse import csr

REDO = "delete it and rerun the notebook (it encodes the evaluation tokens again)"
PAIR_BYTES = 40       # per non-zero code while encoding: row, column and value as collected, then their CSR copy
MEMORY_SHARE = 0.5    # of the memory available: the notebooks hold further copies (per-unit views, the FSA counter)


def to_csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A CSR matrix from row-major (row, col, value) triplets."""
    crow = torch.zeros(shape[0] + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    return csr(crow, cols, vals, shape)


@torch.no_grad()
def encode_rows(lm: TinyLM, sae: SAE, ev: EvalTokens, limit: int | None = None, batch_windows: int = 64,
                desc: str | None = None) -> torch.Tensor:
    """SAE codes of the evaluation rows (the first `limit` rows, whole windows) as CSR [rows, n_features].

    Values are rounded to float16, as saved, so a computed and a reloaded copy give the same figures.
    """
    rows, cols, vals = [], [], []
    for span, acts in mlp_act_batches(lm, ev, batch_windows, limit, desc):
        r, c, v = sae.code_pairs(acts.cpu())
        if not rows:                          # the first batch tells how dense the codes are: refuse before the OOM killer
            check_codes_memory(len(v) / max(len(acts), 1), rows_limit(ev, limit), sae.n_features)
        rows.append(r + span.start), cols.append(c), vals.append(v.half().float())
    cat = lambda xs, dt: torch.cat(xs) if xs else torch.zeros(0, dtype=dt)  # noqa: E731
    return to_csr(cat(rows, torch.long), cat(cols, torch.long), cat(vals, torch.float32),
                  (rows_limit(ev, limit), sae.n_features))


def check_codes_memory(l0: float, n_rows: int, n_features: int, available_gb: float | None = None) -> None:
    """One-line MemoryError when codes of mean L0 `l0` on `n_rows` rows would not fit in the memory available."""
    need, have = l0 * n_rows * PAIR_BYTES / 1e9, available_memory_gb() if available_gb is None else available_gb
    if need > MEMORY_SHARE * have:
        raise MemoryError(f"this SAE's codes on {n_rows:,} evaluation rows would need ~{need:.1f} GB ({l0:,.0f} of its "
                          f"{n_features:,} features fire per token on the first rows), more than half the {have:.1f} GB "
                          f"available; an SAE this dense was trained on too few activations: raise sae.n_acts "
                          f"(sae.side_n_acts, sae.sweep_n_acts for the side SAEs), or lower eval.n_tokens / eval.side_tokens")


def _sidecar(path: Path) -> str:
    """The recorded sha256 of a weights file (its `.sha256` sidecar), or '' if it has none."""
    side = path.with_name(path.name + ".sha256")
    return side.read_text().split()[0] if side.exists() else ""


def codes_identity(sae_dir: Path, lm_dir: Path, ev: EvalTokens, limit: int | None) -> dict:
    """What the codes depend on: both weight files' checksums and the evaluation windows used."""
    n = rows_limit(ev, limit)
    used = ev.windows[: n // (ev.n_ctx - 1)]
    return {"sae_sha256": _sidecar(Path(sae_dir) / "sae.safetensors"), "lm_sha256": _sidecar(Path(lm_dir) / "model.safetensors"),
            "windows_sha256": hashlib.sha256(np.ascontiguousarray(used).tobytes()).hexdigest(), "n_rows": n}


def _saved_identity(path: Path) -> dict | None:
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
        return json.loads(meta["identity"])
    except Exception:  # noqa: BLE001 - an unreadable header is treated as absent; load_tensors names the damage
        return None


def cached_codes(run_dir: str | Path, sae_name: str, lm_name: str, lm: TinyLM, sae: SAE, ev: EvalTokens,
                 limit: int | None = None, batch_windows: int = 64, desc: str | None = None) -> torch.Tensor:
    """`encode_rows` of run_dir/sae/<sae_name> on LM <lm_name>, loaded from run_dir/eval/ when it matches."""
    run_dir = Path(run_dir)
    tag = "" if limit is None else f"_{rows_limit(ev, limit)}"
    path = run_dir / "eval" / f"codes_{sae_name}{tag}.safetensors"
    ident = codes_identity(run_dir / "sae" / sae_name, run_dir / "lm" / lm_name, ev, limit)
    if path.exists() and _saved_identity(path) == ident:
        t = load_tensors(path, advice=REDO)
        return compact(csr(t["crow"], t["col"], t["val"].float(), (ident["n_rows"], sae.n_features)))
    codes = compact(encode_rows(lm, sae, ev, limit, batch_windows, desc))
    save_tensors(path, {"crow": codes.crow_indices().long(), "col": codes.col_indices(), "val": codes.values().half()},
                 meta={"identity": ident})
    return codes


def compact(codes: torch.Tensor) -> torch.Tensor:
    """The same CSR matrix with int32 indices where they fit (a third less memory for a million rows)."""
    if codes.values().numel() >= 2 ** 31 - 1 or codes.shape[1] >= 2 ** 31 - 1:
        return codes
    return csr(codes.crow_indices().int(), codes.col_indices().int(), codes.values(), tuple(codes.shape))
