import hashlib
import json
import lzma
from collections import Counter

import pytest

from monosem_lib.config import DataConfig
from monosem_lib.text.corpus import DATA_DIR, load_corpus, read_folder, split_documents

REQUIRED = {"english", "python", "html", "arabic", "hebrew", "base64", "dna"}


def test_manifest_matches_shipped_corpus():
    manifest = json.loads((DATA_DIR / "MANIFEST.json").read_text())
    path = DATA_DIR / manifest["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    assert len(rows) == manifest["n_docs"]
    chars = Counter()
    for r in rows:
        chars[r["category"]] += len(r["text"])
    assert sum(chars.values()) == manifest["n_chars"]
    assert {c: v["n_chars"] for c, v in manifest["categories"].items()} == dict(chars)
    assert REQUIRED <= set(chars)
    for source in manifest["sources"]:
        assert source["license"] and source["category"] in chars
    assert path.stat().st_size <= 10 * 2**20


def test_embedded_corpus_cap_keeps_a_mix():
    docs = load_corpus(DataConfig(max_chars=300_000))
    assert 300_000 <= sum(len(d.text) for d in docs) < 320_000
    assert len({d.category for d in docs}) >= 5


def test_user_folder(tmp_path):
    (tmp_path / "poems").mkdir()
    (tmp_path / "poems" / "a.txt").write_text("roses are red")
    (tmp_path / "b.jsonl").write_text('{"text": "x = 1", "category": "Python"}\n\n')
    docs = read_folder(tmp_path)
    assert sorted((d.category, d.text) for d in docs) == [("poems", "roses are red"), ("python", "x = 1")]


def test_user_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no non-empty"):
        read_folder(tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"ok \xff\xfe broken")
    with pytest.raises(ValueError, match="bad.txt is not valid UTF-8"):
        read_folder(tmp_path)


def test_split_is_by_document_and_disjoint():
    docs = load_corpus(DataConfig(max_chars=100_000))
    train, val = split_documents(docs, 0.1, seed=0)
    assert len(train) + len(val) == len(docs)
    assert not {d.id for d in train} & {d.id for d in val}
