import pytest
import torch

from monosem_lib.config import DataConfig, TokenizerConfig
from monosem_lib.text.corpus import load_corpus
from monosem_lib.text.splits import load_split, save_split, tokenize_documents
from monosem_lib.text.tokenizer import (
    EOT,
    decode,
    encode,
    load_tokenizer,
    save_tokenizer,
    token_strings,
    train_tokenizer,
)


@pytest.fixture(scope="module")
def docs():
    return load_corpus(DataConfig(max_chars=300_000))


@pytest.fixture(scope="module")
def tok(docs):
    return train_tokenizer(docs, TokenizerConfig(vocab_size=512, train_chars=300_000))


@pytest.mark.parametrize("text", [
    "مرحبا بالعالم، هذا نص عربي.", "שָׁלוֹם עולם", "aGVsbG8gd29ybGQ=\nQUJDRA==", "party 🎉🧪 time",
    "<script>alert(1)</script>", "  leading spaces\ttabs\r\nCRLF", "ACGTACGTTTGA", "中文 日本語 한국어", "",
])
def test_exact_round_trip(tok, text):
    ids = encode(tok, text)
    assert ids.dtype == torch.long
    assert decode(tok, ids) == text


def test_vocab_and_save_load(tok, tmp_path):
    assert tok.get_vocab_size() == 512
    save_tokenizer(tok, tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode("def f(x): return x").ids == tok.encode("def f(x): return x").ids
    strings = token_strings(again)
    assert len(strings) == 512 and EOT in strings


def test_rare_script_falls_back_to_bytes(tok):
    # with only 512 tokens, an Arabic letter often needs two byte tokens (the paper's byte fallback)
    text = "ث"
    assert len(encode(tok, text)) >= 1
    assert any(s.startswith("<0x") for s in token_strings(tok))


def test_missing_tokenizer_names_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="01_train_tiny_lm"):
        load_tokenizer(tmp_path)


def test_tokenised_split_tracks_documents(tok, docs, tmp_path):
    split = tokenize_documents(tok, docs[:10], sorted({d.category for d in docs}))
    save_split(split, tmp_path / "s")
    again = load_split(tmp_path / "s")
    assert (again.tokens[again.doc_starts] == tok.token_to_id(EOT)).all()
    # a token in document 3 maps back to document 3 and its category
    pos = again.doc_starts[3] + 1
    assert again.doc_index(pos) == 3
    assert again.category_names[again.categories_at(pos)] == docs[3].category
    assert decode(tok, again.tokens[again.doc_starts[3] + 1:again.doc_starts[4]].astype(int)) == docs[3].text
