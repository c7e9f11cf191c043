"""Universality on the evaluation tokens: the headline at the paper's resolution, the side figures on a prefix.

Features of A vs B come from the SAE codes saved once per run (`sae.codes`); neurons are streamed through both
LMs (`harvest.streaming.CrossMoments`), never held in memory; the per-unit results (best correlation, its partner, the
firing count) are saved so that any later figure can be redrawn without recomputing them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..harvest.eval_tokens import EvalTokens, mlp_act_batches
from ..io import save_tensors
from ..lm.model import TinyLM
from ..harvest.streaming import CrossMoments, first_rows  # noqa: F401  (first_rows: notebook 05 imports it here)
from .matching import MaxCorr, max_from_corr


def neuron_max_correlation(lm_a: TinyLM, lm_b: TinyLM, ev: EvalTokens, batch_windows: int = 64,
                           limit: int | None = None, desc: str | None = None) -> tuple[MaxCorr, np.ndarray]:
    """Best correlation of each neuron of A with B's neurons over the evaluation rows, and A's firing counts."""
    cm, counts = CrossMoments(lm_a.cfg.d_mlp, lm_b.cfg.d_mlp), np.zeros(lm_a.cfg.d_mlp, np.int64)
    for (_, a), (_, b) in zip(mlp_act_batches(lm_a, ev, batch_windows, limit, desc),
                              mlp_act_batches(lm_b, ev, batch_windows, limit)):
        cm.add(a, b)
        counts += (a > 0).sum(0).cpu().numpy()
    return max_from_corr(cm.corr()), counts


def save_unit_results(path: str | Path, results: dict[str, tuple[MaxCorr, np.ndarray]], n_rows: int) -> Path:
    """`<kind>.max`, `<kind>.argmax`, `<kind>.count` per unit kind ('features', 'neurons'), checksummed."""
    tensors = {}
    for kind, (mc, counts) in results.items():
        tensors.update({f"{kind}.max": mc.max.float(), f"{kind}.argmax": mc.argmax,
                        f"{kind}.count": torch.as_tensor(np.asarray(counts, np.int64))})
    return save_tensors(path, tensors, meta={"n_rows": n_rows})

