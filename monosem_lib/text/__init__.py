"""The corpus, its train/val split and the tokenizer (notebook 01).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "corpus": ("load_corpus",),
    "splits": ("TokenSplit", "load_split", "prepare_tokens", "token_shares"),
    "tokenizer": ("decode", "encode", "load_tokenizer", "token_strings"),
})
