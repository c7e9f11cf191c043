"""The text the LM learns from: the embedded mini-pile in data/, or a user's folder of files.

Every document carries one category label (`english`, `python`, `html`, `arabic`, `hebrew`,
`base64`, `dna`, ...): later notebooks colour histograms and score proxies with it.
"""
from __future__ import annotations

import json
import lzma
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
EMBEDDED_CORPUS = DATA_DIR / "corpus" / "minipile.jsonl.xz"


@dataclass
class Document:
    id: int
    category: str
    text: str


def load_corpus(cfg: DataConfig) -> list[Document]:
    """Load the configured corpus (embedded unless `cfg.corpus_dir`), capped at `cfg.max_chars`."""
    docs = read_folder(Path(cfg.corpus_dir)) if cfg.corpus_dir else read_embedded()
    if cfg.max_chars is not None:
        docs = _cap_chars(docs, cfg.max_chars)
    return docs


def read_embedded(path: Path = EMBEDDED_CORPUS) -> list[Document]:
    """Read the shipped xz-compressed JSON-lines corpus (already shuffled by the build script)."""
    if not path.exists():
        raise FileNotFoundError(f"embedded corpus {path} is missing; restore it with `git checkout -- data/`")
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return [Document(int(r["id"]), r["category"], r["text"]) for r in rows]


def read_folder(folder: Path) -> list[Document]:
    """Read a folder of .txt (one document each; category = sub-folder name) and .jsonl files.

    A .jsonl line is {"text": ..., "category": ...}: text a non-empty string, category a non-empty string or
    absent (then "other"); anything else is a one-line error naming file and line. Symlinked sub-folders are
    followed (each real folder read once, so a link loop ends); empty files are skipped with one warning.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder {folder} does not exist; pass an existing folder of .txt/.jsonl files")
    docs: list[Document] = []
    empty: list[Path] = []
    for path in corpus_files(folder):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"corpus file {path} is not valid UTF-8 (byte {err.start}); convert it to UTF-8 or remove it") from None
        if not text.strip():
            empty.append(path)
        elif path.suffix == ".txt":
            category = path.parent.name.lower() if path.parent != folder else "other"
            docs.append(Document(len(docs), category, text))
        else:
            docs += [Document(len(docs) + i, cat, txt) for i, (cat, txt) in enumerate(_jsonl_rows(path, text))]
    if empty:
        names = ", ".join(str(p.relative_to(folder)) for p in empty[:3]) + (", ..." if len(empty) > 3 else "")
        warnings.warn(f"corpus folder {folder}: {len(empty)} empty file(s) skipped ({names})", stacklevel=2)
    if not docs:
        raise ValueError(f"corpus folder {folder} has no non-empty .txt or .jsonl documents")
    random.Random(0).shuffle(docs)  # so a max_chars cap keeps a mix of the files
    return docs


def corpus_files(folder: Path) -> list[Path]:
    """The .txt and .jsonl files under `folder`, sorted, following symlinked sub-folders (a real folder is read
    once, so a link loop ends) and symlinked files; a broken link is a one-line error naming it."""
    seen, out = set(), []
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.stat(root)
        if (real.st_dev, real.st_ino) in seen:        # reached again through a link: read it once
            dirs[:] = []
            continue
        seen.add((real.st_dev, real.st_ino))
        for name in files:
            path = Path(root) / name
            if path.suffix not in (".txt", ".jsonl"):
                continue
            if not path.exists():
                raise ValueError(f"corpus file {path} is a broken symbolic link (to {os.readlink(path)}); "
                                 f"fix or remove it")
            out.append(path)
    return sorted(out)


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, str]]:
    """(category, text) of each non-blank line of a .jsonl file; a bad line is a one-line error naming it."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"corpus file {path} line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or "text" not in row:
            raise ValueError(f"{where} is not a JSON object with a \"text\" field")
        txt, cat = row["text"], row.get("category", "other")
        if not isinstance(txt, str) or not txt.strip():
            raise ValueError(f"{where}: \"text\" must be a non-empty string, not {json.dumps(txt)[:40]}")
        if not isinstance(cat, str) or not cat.strip():
            raise ValueError(f"{where}: \"category\" must be a non-empty string or left out (then \"other\"), "
                             f"not {json.dumps(cat)[:40]}")
        rows.append((cat.strip().lower(), txt))
    return rows


def _cap_chars(docs: list[Document], max_chars: int) -> list[Document]:
    """The first documents (in shuffled order) up to `max_chars` characters."""
    out, total = [], 0
    for doc in docs:
        if total >= max_chars:
            break
        out.append(doc)
        total += len(doc.text)
    return out


def split_documents(docs: list[Document], val_frac: float, seed: int) -> tuple[list[Document], list[Document]]:
    """Split by whole documents (no validation text leaks into training), stratified by category.

    Each category with at least two documents puts about `val_frac` of its *characters* (not of its
    documents: a rare category's few documents differ in length) into validation, at least one document
    and never all; a category with one document stays in training (`missing_from_validation` names it).
    """
    if not 0 < val_frac < 1:
        raise ValueError(f"data.val_frac must be between 0 and 1, got {val_frac}")
    by_category: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_category.setdefault(d.category, []).append(i)
    rng = random.Random(seed)
    val_ids: set[int] = set()
    for cat in sorted(by_category):
        ids = by_category[cat]
        rng.shuffle(ids)
        if len(ids) >= 2:
            val_ids.update(_take_chars(ids, [len(docs[i].text) for i in ids], val_frac))
    return [d for i, d in enumerate(docs) if i not in val_ids], [d for i, d in enumerate(docs) if i in val_ids]


def _take_chars(ids: list[int], lengths: list[int], frac: float) -> list[int]:
    """Walk `ids` in their (shuffled) order, taking a document when it brings the total closer to
    `frac` of all characters; never all, and the shortest one if none was taken."""
    target, total, taken = frac * sum(lengths), 0, []
    for i, n in zip(ids, lengths):
        if len(taken) == len(ids) - 1:
            break
        if abs(total + n - target) < abs(total - target):
            taken.append(i)
            total += n
    return taken or [min(zip(lengths, ids))[1]]


def missing_from_validation(train: list[Document], val: list[Document]) -> list[str]:
    """Categories that have training documents but none in validation (their held-out figures are missing)."""
    return sorted({d.category for d in train} - {d.category for d in val})


def categories(docs: list[Document]) -> list[str]:
    """Sorted category names present in `docs`."""
    return sorted({d.category for d in docs})
