"""Reader vs writer: a feature whose decoder raises a category's continuation tokens ranks first as a writer."""
import numpy as np
import torch

from monosem_lib.config import LMConfig, TokenizerConfig
from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.model import SAE
from monosem_lib.steering import writers
from monosem_lib.text.corpus import Document
from monosem_lib.text.splits import tokenize_documents
from monosem_lib.text.tokenizer import train_tokenizer
from tests.interpret.test_paper_proxies import ARABIC_TEXT, ENGLISH_TEXT


def test_a_planted_writer_ranks_first():
    docs = [Document(i, c, t) for i, (c, t) in enumerate([("arabic", a) for a in ARABIC_TEXT] * 5
                                                         + [("english", e) for e in ENGLISH_TEXT] * 5)]
    tok = train_tokenizer(docs, TokenizerConfig(vocab_size=300, train_chars=50_000))
    split = tokenize_documents(tok, docs, ["arabic", "english"])
    freq = writers.continuation_freq("arabic", split, tok)
    assert abs(freq.sum() - 1) < 1e-9
    assert all(not tok.id_to_token(int(t)).isascii() for t in np.flatnonzero(freq))     # Arabic bytes, none ASCII
    torch.manual_seed(0)
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=24, n_ctx=8, vocab_size=tok.get_vocab_size())).eval()
    sae = SAE(24, 10)
    d = torch.zeros(24, requires_grad=True)      # feature 3: the direction that raises Arabic continuations most
    r = d @ lm.mlp.W_out.weight.T
    ((((r - r.mean()) * lm.ln_f.weight) @ lm.W_U.weight.T) @ torch.as_tensor(freq, dtype=torch.float32)).backward()
    with torch.no_grad():
        sae.W_dec[3] = d.grad / d.grad.norm() * sae.W_dec[3].norm()
    r = writers.writer_report(lm, sae, tok, 3, "arabic", split, np.ones(10, bool), top=3)
    assert r["rank"] == 1 and r["best"] == 3 and len(r["promotes"]) == 3
    assert "top tenth of writers" in writers.writer_lines(r)[-1]


def test_writer_lines_for_a_reader():
    base = {"category": "base64", "feature": 7, "score": -0.07, "rank": 3397, "n_live": 4096, "median": 0.002,
            "best": 2656, "best_score": 0.35, "promotes": ["fter"], "suppresses": [" the"]}
    assert "a reader, not a writer" in writers.writer_lines(base)[-1]
