"""Support for notebook 01's exercises: the figure its tokenizer exercise is scored on.

The checks themselves are `monosem_lib.exercises.check_target` against the run's scorecard.
"""
from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer

from ..text.corpus import Document


def tokens_per_char(tok: Tokenizer, docs: Iterable[Document], category: str, max_chars: int | None = None) -> float:
    """Tokens per character over the documents of one category (whole documents, up to about `max_chars`):
    ~2 for a script left to byte tokens (an Arabic letter is two bytes in UTF-8), well below 1 where merges
    cover whole words."""
    texts, n = [], 0
    for d in docs:
        if d.category == category and (max_chars is None or n < max_chars):
            texts.append(d.text)
            n += len(d.text)
    if not texts:
        raise ValueError(f"the corpus has no {category!r} document; pick one of its categories")
    return sum(len(e.ids) for e in tok.encode_batch(texts)) / sum(len(t) for t in texts)
