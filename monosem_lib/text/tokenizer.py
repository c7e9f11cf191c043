"""Byte-level BPE (HuggingFace `tokenizers`): any UTF-8 text round-trips exactly, byte for byte.

Like the paper's tokenizer it has byte fallback: rare scripts (Arabic, Hebrew) that got few merges
are split into byte tokens, one letter becoming two tokens.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..config import TokenizerConfig
from ..io import atomic_write, verify_checksum, write_checksum
from .corpus import Document

EOT = "<|endoftext|>"
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(docs: Iterable[Document], cfg: TokenizerConfig) -> Tokenizer:
    """Learn `cfg.vocab_size` byte-level BPE tokens from the first `cfg.train_chars` characters."""
    if cfg.vocab_size < 300:
        raise ValueError(f"tokenizer.vocab_size must be at least 300 (256 bytes + merges), got {cfg.vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_capped_texts(docs, cfg.train_chars), trainer)
    return tok


def _capped_texts(docs: Iterable[Document], max_chars: int) -> Iterator[str]:
    total = 0
    for doc in docs:
        if total >= max_chars:
            return
        total += len(doc.text)
        yield doc.text


# the tokenizer's presence marks tokenisation done: without it notebook 01 re-tokenises (deterministically)
REDO_TOKENS = "delete {run_dir}/tokenizer.json and rerun notebook 01_train_tiny_lm (it re-tokenises the corpus the same way)"


def save_tokenizer(tok: Tokenizer, run_dir: str | Path) -> Path:
    """Atomically save as run_dir/tokenizer.json (the library's own JSON format), with its sha256 beside it."""
    path = atomic_write(Path(run_dir) / TOKENIZER_FILE, lambda tmp: tok.save(tmp))
    write_checksum(path)
    return path


def load_tokenizer(run_dir: str | Path) -> Tokenizer:
    """Load the run's tokenizer; a missing one names notebook 01."""
    path = Path(run_dir) / TOKENIZER_FILE
    if not path.exists():
        raise FileNotFoundError(f"no tokenizer at {path}; run notebook 01_train_tiny_lm first")
    verify_checksum(path, REDO_TOKENS.format(run_dir=Path(run_dir)))
    return Tokenizer.from_file(str(path))


def encode(tok: Tokenizer, text: str) -> torch.Tensor:
    """Text -> LongTensor[T] of token ids."""
    return torch.tensor(tok.encode(text).ids, dtype=torch.long)


def decode(tok: Tokenizer, ids: Iterable[int] | torch.Tensor) -> str:
    """Token ids -> text (exact inverse of `encode` for whole sequences)."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    return tok.decode(ids, skip_special_tokens=False)


def token_strings(tok: Tokenizer) -> list[str]:
    """A readable string for every token id (partial UTF-8 bytes shown as <0xAB>), for display."""
    byte_decoder = {c: b for b, c in bytes_to_unicode().items()}
    out = []
    for i in range(tok.get_vocab_size()):
        piece = tok.id_to_token(i)
        if piece == EOT:
            out.append(EOT)
            continue
        raw = bytes(byte_decoder[c] for c in piece)
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append("".join(f"<0x{b:02X}>" for b in raw))
    return out


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable-character table, which byte-level BPE uses for its pieces."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))
