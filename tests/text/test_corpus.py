import hashlib
import importlib.util
import json
import lzma
import sys
from collections import Counter

import pytest

from monosem_lib.config import DataConfig, get_config
from monosem_lib.text.corpus import (
    DATA_DIR,
    Document,
    load_corpus,
    missing_from_validation,
    read_folder,
    split_documents,
)

REQUIRED = {"english", "python", "html", "arabic", "hebrew", "base64", "dna"}
PAPER_FOUR = ("arabic", "hebrew", "base64", "dna")
MANIFEST = json.loads((DATA_DIR / "MANIFEST.json").read_text())


def _rows() -> list[dict]:
    with lzma.open(DATA_DIR / MANIFEST["file"], "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_manifest_matches_shipped_corpus():
    manifest = json.loads((DATA_DIR / "MANIFEST.json").read_text())
    path = DATA_DIR / manifest["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]
    rows = _rows()
    assert len(rows) == manifest["n_docs"]
    chars = Counter()
    for r in rows:
        chars[r["category"]] += len(r["text"])
    assert sum(chars.values()) == manifest["n_chars"]
    assert {c: v["n_chars"] for c, v in manifest["categories"].items()} == dict(chars)
    assert REQUIRED <= set(chars)
    for source in manifest["sources"]:
        assert source["license"] and source["category"] in chars
    assert path.stat().st_size <= 15 * 2**20
    by_source = Counter()
    for r in rows:
        by_source[r["source"]] += len(r["text"])
    assert {s["name"]: s["n_chars"] for s in manifest["sources"]} == dict(by_source)
    shares = {c: v["share"] for c, v in manifest["categories"].items()}
    assert all(abs(shares[c] - chars[c] / sum(chars.values())) < 1e-4 for c in chars)


def test_manifest_token_shares_are_those_of_the_classroom_tokenizer():
    """Recount with the build script's own function (the classroom BPE trained as notebook 01 trains it)."""
    spec = importlib.util.spec_from_file_location("build_corpus", DATA_DIR / "build_corpus.py")
    build = importlib.util.module_from_spec(spec)
    sys.modules["build_corpus"] = build
    spec.loader.exec_module(build)
    rows = _rows()
    counts = build.classroom_token_counts(rows)
    by_cat = Counter()
    for r, n in zip(rows, counts):
        by_cat[r["category"]] += n
    assert sum(counts) == MANIFEST["n_tokens"]
    assert {c: v["n_tokens"] for c, v in MANIFEST["categories"].items()} == dict(by_cat)
    for c, v in MANIFEST["categories"].items():
        assert v["token_share"] == pytest.approx(by_cat[c] / sum(counts), abs=1e-5)


def test_the_mixture_is_shaped_like_the_pile():
    """Bulk prose and code, a tail of >= 15 categories at <= 1% of tokens, the paper's four at 0.2-1%."""
    shares = {c: v["token_share"] for c, v in MANIFEST["categories"].items()}
    assert shares["english"] >= 0.5 and shares["english"] + shares["python"] + shares["c"] >= 0.75
    tail = [c for c, s in shares.items() if s <= 0.01]
    assert len(tail) >= 15, tail
    assert all(0.002 <= shares[c] <= 0.01 for c in PAPER_FOUR), {c: shares[c] for c in PAPER_FOUR}
    assert min(shares.values()) <= 0.001 and max(shares[c] for c in tail) >= 0.008    # a spread, not one level
    english_sources = {s["name"] for s in MANIFEST["sources"] if s["category"] == "english"}
    assert len(english_sources) >= 4


def test_every_category_is_in_the_classroom_validation_split():
    cfg = get_config("classroom")
    train, val = split_documents(load_corpus(cfg.data), cfg.data.val_frac, cfg.data.seed)
    assert missing_from_validation(train, val) == []
    assert {d.category for d in val} == set(MANIFEST["categories"])
    # no repeats: the training split holds more tokens than the classroom LMs read (chars/token < 4 here)
    steps_tokens = cfg.lm_train.max_steps * cfg.lm_train.batch_size * cfg.lm.n_ctx
    train_tokens = MANIFEST["n_tokens"] * sum(len(d.text) for d in train) / MANIFEST["n_chars"]
    assert train_tokens > 1.1 * steps_tokens


def test_split_is_stratified_and_names_categories_it_cannot_hold_out():
    docs = [Document(i, "common", "x") for i in range(100)] + [Document(100 + i, "rare", "y") for i in range(3)]
    docs.append(Document(200, "single", "z"))
    train, val = split_documents(docs, 0.1, seed=0)
    n_val = Counter(d.category for d in val)
    assert n_val == {"common": 10, "rare": 1}
    assert missing_from_validation(train, val) == ["single"]


def test_split_holds_out_a_share_of_characters_not_of_documents():
    # one long and nine short documents: a tenth of the documents would hold out 1% or 50% of the text
    docs = [Document(0, "rare", "x" * 9000)] + [Document(1 + i, "rare", "y" * 100) for i in range(9)]
    docs += [Document(20 + i, "bulk", "z" * 100) for i in range(50)]
    for seed in range(5):
        _, val = split_documents(docs, 0.2, seed)
        chars = sum(len(d.text) for d in val if d.category == "rare")
        assert chars == 900, (seed, chars)       # 0.2 of 9,900 = 1,980: the long one would overshoot, so it stays
        assert sum(len(d.text) for d in val if d.category == "bulk") == 1000


def test_classroom_validation_holds_val_frac_of_every_category_text():
    cfg = get_config("classroom")
    train, val = split_documents(load_corpus(cfg.data), cfg.data.val_frac, cfg.data.seed)
    chars, longest = Counter(), Counter()
    for d in train + val:
        chars[d.category] += len(d.text)
        longest[d.category] = max(longest[d.category], len(d.text))
    held = Counter()
    for d in val:
        held[d.category] += len(d.text)
    for c in chars:
        if MANIFEST["categories"][c]["n_docs"] >= 3:          # within one document of the target share
            assert abs(held[c] - cfg.data.val_frac * chars[c]) <= longest[c], c


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


def test_a_user_category_without_validation_documents_is_warned_about(tmp_path):
    from monosem_lib.text.splits import prepare_tokens
    folder = tmp_path / "corpus"
    for cat, n in (("prose", 12), ("lonely", 1)):
        (folder / cat).mkdir(parents=True)
        for i in range(n):
            (folder / cat / f"{i}.txt").write_text(f"{cat} document number {i} with some words in it. " * 20)
    cfg = get_config("smoke", {"data.corpus_dir": str(folder), "tokenizer.vocab_size": 300})
    with pytest.warns(UserWarning, match="category 'lonely' has no validation document"):
        _, train, val = prepare_tokens(tmp_path / "run", cfg)
    assert "lonely" in train.category_names and not (val.doc_category == val.category_names.index("lonely")).any()
