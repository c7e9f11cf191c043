"""monosem_lib: the library behind the monosem notebooks (a replication of "Towards Monosemanticity").

Public API (notebooks, users and tests rely on these names):
`load_run`, `load_lm`, `load_sae`, `load_tokenizer`, `encode`, `decode`, `get_config`, `record`.
Importing does nothing but import.
"""
from .config import get_config
from .lm.model import TinyLM, generate, load_lm
from .pipeline.run_dir import load_run, setup_notebook
from .pipeline.scorecard import record
from .sae.model import load_sae
from .text.tokenizer import decode, encode, load_tokenizer

__all__ = ["get_config", "TinyLM", "generate", "load_lm", "load_run", "load_sae", "setup_notebook", "record",
           "decode", "encode", "load_tokenizer"]
