"""Steering and ablation (notebook 06): the hook's algebra, the shared detector, and bad input."""
import math

import pytest
import torch

from monosem_lib.config import TokenizerConfig
from monosem_lib.interpret import proxies
from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.model import SAE
from monosem_lib.steering import steer as st
from monosem_lib.text.corpus import Document
from monosem_lib.text.tokenizer import encode, train_tokenizer
from tests.helpers import TINY_LM


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    sae = SAE(32, 64, seed=0)
    with torch.no_grad():                       # a non-trivial SAE: biases, scale, and features that fire
        sae.b_dec.normal_(0, 0.1)
        sae.b_enc.fill_(0.05)
        sae.scale.fill_(1.7)
    tokens = torch.randint(1, 300, (3, 16))
    return lm, sae, tokens


@pytest.fixture(scope="module")
def tok():
    docs = [Document(i, "english", "The cat sat on the mat. 12345 " * 3 + "ACGTACGT مرحبا " * 2) for i in range(20)]
    return train_tokenizer(docs, TokenizerConfig(vocab_size=300, train_chars=10_000))


def active_feature(lm, sae, tokens) -> int:
    """A feature that fires somewhere on `tokens` (so ablating it changes something)."""
    acts = {}
    lm(tokens, mlp_hook=lambda x: acts.setdefault("x", x))
    return int(sae.encode(acts["x"]).flatten(0, 1).sum(0).argmax())


def test_feature_activation_matches_encoder(parts):
    lm, sae, tokens = parts
    x = torch.relu(torch.randn(5, 7, 32))
    full = sae.encode(x)
    for i in (0, 17, 63):
        assert torch.allclose(st.feature_activation(sae, x, i)[..., 0], full[..., i], atol=1e-6)


def test_own_value_reproduces_base_logits_exactly(parts):
    lm, sae, tokens = parts
    i = active_feature(lm, sae, tokens)
    base = lm(tokens)
    assert torch.equal(lm(tokens, mlp_hook=st.clamp_hook(sae, i, None)), base)
    # the notebook's form x - x̂ + decode(f'), f' = f: the reconstruction error is kept, so nothing moves
    def unchanged(x):
        f = sae.encode(x)
        return x - sae.decode(f) + sae.decode(f.clone())
    assert torch.allclose(lm(tokens, mlp_hook=unchanged), base, atol=1e-5)


def test_clamp_to_zero_equals_ablation(parts):
    lm, sae, tokens = parts
    i = active_feature(lm, sae, tokens)
    acts = {}
    lm(tokens, mlp_hook=lambda x: acts.setdefault("x", x))
    x = acts["x"]
    ablated = x - sae.encode(x)[..., i:i + 1] * (sae.W_dec[i] / sae.scale)      # the paper's rule, by hand
    assert torch.allclose(st.clamp_hook(sae, i, 0.0)(x), ablated, atol=1e-6)
    assert torch.equal(lm(tokens, mlp_hook=st.clamp_hook(sae, i, 0.0)), lm(tokens, mlp_hook=st.ablate_hook(sae, i)))
    assert not torch.allclose(lm(tokens, mlp_hook=st.ablate_hook(sae, i)), lm(tokens))    # the feature mattered


def test_clamp_changes_only_feature_i(parts):
    lm, sae, tokens = parts
    x = torch.relu(torch.randn(4, 32))
    f, f_new = sae.encode(x), sae.encode(st.clamp_hook(sae, 5, 3.0)(x))
    # decode of the pinned f equals the hook minus the kept error: x - x̂ + decode(f')
    f_pin = f.clone()
    f_pin[:, 5] = 3.0
    assert torch.allclose(st.clamp_hook(sae, 5, 3.0)(x), x - sae.decode(f) + sae.decode(f_pin), atol=1e-5)
    assert f_new.shape == f.shape


def test_loglik_change_and_kl(parts):
    lm, sae, tokens = parts
    i = active_feature(lm, sae, tokens)
    delta = st.loglik_change(lm, tokens[0], st.ablate_hook(sae, i))
    assert delta.shape == (15,) and torch.isfinite(delta).all()
    assert torch.equal(st.loglik_change(lm, tokens[0], st.clamp_hook(sae, i, None)), torch.zeros(15))
    assert st.next_token_kl(lm, tokens, st.clamp_hook(sae, i, None)) == pytest.approx(0.0, abs=1e-6)
    assert st.next_token_kl(lm, tokens, st.clamp_hook(sae, i, 50.0)) > 0


def test_distinct_ratio():
    assert st.distinct_ratio([torch.tensor([[5, 5, 5, 5], [1, 2, 3, 4]])]) == pytest.approx((0.25 + 1) / 2)


def test_sampling_is_seeded_and_hook_aware(parts):
    lm, sae, tokens = parts
    prompt = tokens[0, :4]
    a = st.sample_batch(lm, prompt, 2, 20, seed=3)          # 4 + 20 > n_ctx: the window slides
    assert torch.equal(a, st.sample_batch(lm, prompt, 2, 20, seed=3)) and a.shape == (2, 20)
    b = st.sample_batch(lm, prompt, 2, 20, seed=3, mlp_hook=st.clamp_hook(sae, 0, None))
    assert torch.equal(a, b)


@pytest.mark.parametrize("call, msg", [
    (lambda sae, tok: st.clamp_hook(sae, 64, 1.0), "unknown feature 64"),
    (lambda sae, tok: st.clamp_hook(sae, -1, 1.0), "unknown feature -1"),
    (lambda sae, tok: st.clamp_hook(sae, "arabic", 1.0), "unknown feature 'arabic'"),
    (lambda sae, tok: st.clamp_hook(sae, 3, math.nan), "strength must be finite"),
    (lambda sae, tok: st.clamp_hook(sae, 3, float("inf")), "strength must be finite"),
    (lambda sae, tok: st.check_strength("lots"), "strength must be a number"),
    (lambda sae, tok: st.check_prompt(tok, "", 16), "prompt is empty"),
    (lambda sae, tok: st.check_prompt(tok, "The cat sat on the mat. " * 20, 16), "longer than the LM's context of 16"),
    (lambda sae, tok: st.check_category("klingon", proxies.CATEGORIES), "unknown category 'klingon'"),
])
def test_bad_input_is_a_one_line_error(parts, tok, call, msg):
    lm, sae, tokens = parts
    with pytest.raises(ValueError, match=msg) as err:
        call(sae, tok)
    assert "\n" not in str(err.value)


def test_demo_html_escapes(parts, tok):
    lm, sae, tokens = parts
    out = st.steer_demo_html(lm, tok, sae, 3, 2.0, "<b>The", n_samples=1, n_new=4)
    assert "&lt;b&gt;The" in out and "<b>The" not in out
    ids = encode(tok, "<script>alert(1)</script>")[:16]
    html = st.effect_html(tok, ids, st.loglik_change(lm, ids, st.ablate_hook(sae, 3)))
    assert "<script" not in html and "&lt;" in html
