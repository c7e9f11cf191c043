"""Tokenised corpus splits: one flat token array per split, documents separated by <|endoftext|>.

Each split also keeps where every document starts and its category, so any token position can be
traced back to its document (harvesting and the proxies of later notebooks need that).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..io import CorruptFileError, atomic_write, load_json, remove_temp_files, save_json, verify_checksum, write_checksum
from .corpus import Document
from .tokenizer import EOT, REDO_TOKENS


@dataclass
class TokenSplit:
    tokens: np.ndarray         # [N] uint16/int32 token ids, EOT before every document
    doc_starts: np.ndarray     # [n_docs] int64 index of each document's first token (its EOT)
    doc_ids: np.ndarray        # [n_docs] int64 corpus document ids
    doc_category: np.ndarray   # [n_docs] int16 index into `category_names`
    category_names: list[str]

    def __len__(self) -> int:
        return len(self.tokens)

    def doc_index(self, positions: np.ndarray) -> np.ndarray:
        """Which document (row of doc_starts) each token position belongs to."""
        return np.searchsorted(self.doc_starts, positions, side="right") - 1

    def categories_at(self, positions: np.ndarray) -> np.ndarray:
        """Category index of the document each token position belongs to."""
        return self.doc_category[self.doc_index(positions)]


def tokenize_documents(tok: Tokenizer, docs: list[Document], category_names: list[str],
                       chunk: int = 256) -> TokenSplit:
    """Encode documents in parallel (Rust), in chunks to bound memory, each preceded by EOT."""
    eot = tok.token_to_id(EOT)
    dtype = np.uint16 if tok.get_vocab_size() <= 65536 else np.int32
    pieces, lengths = [], []
    for i in range(0, len(docs), chunk):
        for enc in tok.encode_batch([d.text for d in docs[i:i + chunk]]):
            ids = np.empty(len(enc.ids) + 1, dtype=dtype)
            ids[0], ids[1:] = eot, enc.ids
            pieces.append(ids)
            lengths.append(len(ids))
    tokens = np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)
    cat_index = {c: i for i, c in enumerate(category_names)}
    return TokenSplit(
        tokens=tokens, doc_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        doc_ids=np.array([d.id for d in docs], dtype=np.int64),
        doc_category=np.array([cat_index[d.category] for d in docs], dtype=np.int16),
        category_names=list(category_names),
    )


def save_split(split: TokenSplit, folder: str | Path) -> None:
    """Write the arrays as .npy (memory-mappable, each with its sha256) and the category names as JSON, atomically."""
    folder = Path(folder)
    for name in ("tokens", "doc_starts", "doc_ids", "doc_category"):
        arr = getattr(split, name)
        write_checksum(atomic_write(folder / f"{name}.npy", lambda tmp, arr=arr: _save_npy(tmp, arr)))
    save_json(folder / "meta.json", {"category_names": split.category_names, "n_tokens": len(split)})


def _save_npy(tmp: str, arr: np.ndarray) -> None:
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def load_split(folder: str | Path, mmap: bool = True) -> TokenSplit:
    """Read a saved split (token array memory-mapped by default), each array checked against its sha256."""
    folder = Path(folder)
    if not (folder / "meta.json").exists():
        raise FileNotFoundError(f"no tokenised split at {folder}; run notebook 01_train_tiny_lm first")
    advice = REDO_TOKENS.format(run_dir=folder.parent.parent)
    meta = load_json(folder / "meta.json", advice=advice)

    def load(name: str, mmap_mode: str | None = None) -> np.ndarray:
        path = folder / f"{name}.npy"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; {advice}")
        verify_checksum(path, advice)
        try:
            return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise CorruptFileError(f"{path} is not a readable array ({err}); {advice}") from None

    return TokenSplit(load("tokens", "r" if mmap else None), load("doc_starts"), load("doc_ids"),
                      load("doc_category"), meta["category_names"])


def token_counts(split: TokenSplit) -> dict[str, int]:
    """Tokens per category in a split (the end-of-text separator before each document not counted)."""
    lengths = np.diff(np.append(split.doc_starts, len(split.tokens))) - 1
    counts = np.bincount(np.asarray(split.doc_category, np.int64), weights=lengths,
                         minlength=len(split.category_names))
    return {c: int(n) for c, n in zip(split.category_names, counts)}


def token_shares(split: TokenSplit) -> dict[str, float]:
    """Share of a split's tokens per category (the corpus mixture as the LM sees it)."""
    counts = token_counts(split)
    total = max(1, sum(counts.values()))
    return {c: n / total for c, n in counts.items()}


def prepare_tokens(run_dir: str | Path, cfg) -> tuple[Tokenizer, TokenSplit, TokenSplit]:
    """Corpus -> tokenizer -> train/val splits in run_dir (reused if already there)."""
    from .corpus import categories, load_corpus, missing_from_validation, split_documents
    from .tokenizer import TOKENIZER_FILE, load_tokenizer, save_tokenizer, train_tokenizer

    run_dir = Path(run_dir)
    remove_temp_files(run_dir, recursive=False)      # a kill while writing the tokenizer or a split
    remove_temp_files(run_dir / "tokens")
    if (run_dir / TOKENIZER_FILE).exists():
        return load_tokenizer(run_dir), load_split(run_dir / "tokens" / "train"), load_split(run_dir / "tokens" / "val")
    docs = load_corpus(cfg.data)
    train_docs, val_docs = split_documents(docs, cfg.data.val_frac, cfg.data.seed)
    for cat in missing_from_validation(train_docs, val_docs):
        warnings.warn(f"category {cat!r} has no validation document (it has only one): its held-out figures "
                      f"(proxies, steering) will be marked missing; add documents of it to the corpus", stacklevel=2)
    tok = train_tokenizer(train_docs, cfg.tokenizer)
    names = categories(docs)
    train, val = tokenize_documents(tok, train_docs, names), tokenize_documents(tok, val_docs, names)
    save_split(train, run_dir / "tokens" / "train")
    save_split(val, run_dir / "tokens" / "val")
    save_tokenizer(tok, run_dir)  # last: its presence marks the step complete
    return tok, train, val
