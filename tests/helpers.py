"""Tiny fixtures shared by the unit tests (a miniature LM and token split, built in tmp dirs)."""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from monosem_lib.config import LMConfig
from monosem_lib.text.splits import TokenSplit

TINY_LM = LMConfig(d_model=16, n_heads=2, d_mlp=32, n_ctx=16, vocab_size=300)


def tiny_split(n_docs: int = 20, doc_len: int = 50, vocab: int = 300, seed: int = 0) -> TokenSplit:
    """Random token documents with two categories, each starting with token 0 as EOT."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab, size=n_docs * doc_len).astype(np.uint16)
    starts = np.arange(n_docs) * doc_len
    tokens[starts] = 0
    return TokenSplit(tokens, starts.astype(np.int64), np.arange(n_docs, dtype=np.int64),
                      (np.arange(n_docs) % 2).astype(np.int16), ["english", "python"])


def follow_advice(advice_line: str, run: Path, named: Path, redo: dict[str, Callable[[Path], object]]) -> None:
    """Do exactly what 'delete <it|path> and rerun notebook NN' says: delete, then rerun that notebook (`redo[NN]`)."""
    m = re.search(r"delete (it|\S+) and rerun notebook (\d\d)", advice_line)
    assert m, advice_line
    target = named if m.group(1) == "it" else Path(m.group(1))
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    redo[m.group(2)](run)
