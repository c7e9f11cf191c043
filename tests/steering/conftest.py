"""Fixtures for the steering tests: a tiny LM and SAE whose features fire, and a tokenizer of the LM's vocabulary."""
import pytest
import torch

from monosem_lib.config import TokenizerConfig
from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.model import SAE
from monosem_lib.text.corpus import Document
from monosem_lib.text.tokenizer import train_tokenizer
from tests.helpers import TINY_LM


@pytest.fixture(scope="package")
def tiny():
    """(lm, sae): a random tiny LM and an SAE with biases, a scale != 1 and features that fire."""
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    sae = SAE(32, 64, seed=0)
    with torch.no_grad():
        sae.b_dec.normal_(0, 0.1)
        sae.b_enc.fill_(0.05)
        sae.scale.fill_(1.7)
    return lm, sae


@pytest.fixture(scope="package")
def tiny_tok():
    """A byte-level BPE of exactly the tiny LM's 300 tokens (so any sampled id decodes), with whitespace tokens."""
    text = "The cat sat on the mat.\n\n  12345 " * 3 + "ACGTACGT مرحبا " * 2 + "dog ran far away, over hills and rivers. "
    docs = [Document(i, "english", text) for i in range(20)]
    return train_tokenizer(docs, TokenizerConfig(vocab_size=300, train_chars=10_000))
