"""Notebook 01's exercise support: tokens per character falls as the vocabulary grows."""
import random

import pytest

from monosem_lib.config import TokenizerConfig
from monosem_lib.lm.exercises import tokens_per_char
from monosem_lib.text.corpus import Document
from monosem_lib.text.tokenizer import train_tokenizer

def _words(rng: random.Random, alphabet: str, n: int) -> str:
    return " ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 6))) for _ in range(n))


_RNG = random.Random(0)
ARABIC, LATIN = "".join(chr(c) for c in range(0x0627, 0x063B)), "abcdefghijklmnopqrstuvwxyz"
DOCS = [Document(i, "arabic" if i % 2 else "english", _words(_RNG, ARABIC if i % 2 else LATIN, 300)) for i in range(10)]


def test_tokens_per_char_counts_tokens_over_characters():
    small = train_tokenizer(DOCS, TokenizerConfig(vocab_size=300, train_chars=100_000))
    texts = [d.text for d in DOCS if d.category == "arabic"]
    by_hand = sum(len(small.encode(t).ids) for t in texts) / sum(map(len, texts))
    assert tokens_per_char(small, DOCS, "arabic") == pytest.approx(by_hand)
    first = texts[0]
    assert tokens_per_char(small, DOCS, "arabic", max_chars=1) == pytest.approx(len(small.encode(first).ids) / len(first))
    big = train_tokenizer(DOCS, TokenizerConfig(vocab_size=1000, train_chars=100_000))
    assert tokens_per_char(big, DOCS, "arabic") < tokens_per_char(small, DOCS, "arabic") <= 2.0


def test_tokens_per_char_names_a_missing_category():
    tok = train_tokenizer(DOCS, TokenizerConfig(vocab_size=300, train_chars=100_000))
    with pytest.raises(ValueError, match="no 'dna' document"):
        tokens_per_char(tok, DOCS, "dna")
