"""Batched pinned sampling: one pin per batch row, the same draws whatever shares the batch."""
import math

import pytest
import torch

from monosem_lib.sae.model import SAE
from monosem_lib.steering import steer as st
from monosem_lib.steering.pinned import draw, next_token_logits, row_pin_hook, sample_pinned

PROMPTS = ["The cat", "ACGT"]


def test_row_hook_pins_a_different_feature_per_row(tiny):
    lm, sae = tiny
    x = torch.relu(torch.randn(3, 7, 32))
    out = row_pin_hook(sae, torch.tensor([5, 9, 17]), torch.tensor([3.0, math.nan, 0.0]))(x)
    assert torch.allclose(out[0], st.clamp_hook(sae, 5, 3.0)(x[:1])[0], atol=1e-6)
    assert torch.equal(out[1], x[1])                                        # NaN: unsteered row
    assert torch.allclose(out[2], st.ablate_hook(sae, 17)(x[2:])[0], atol=1e-6)


def test_row_hook_with_a_topk_sae(tiny):
    sae = SAE(32, 64, "topk", seed=1, k=5)
    x = torch.relu(torch.randn(2, 6, 32))
    out = row_pin_hook(sae, torch.tensor([3, 40]), torch.tensor([2.0, 7.0]))(x)
    assert torch.allclose(out[0], st.clamp_hook(sae, 3, 2.0)(x[:1])[0], atol=1e-5)
    assert torch.allclose(out[1], st.clamp_hook(sae, 40, 7.0)(x[1:])[0], atol=1e-5)


def test_row_hook_through_the_lm_matches_single_feature_runs(tiny):
    lm, sae = tiny
    tokens = torch.randint(1, 300, (3, 10))
    feats, vals = torch.tensor([4, 4, 30]), torch.tensor([2.0, 6.0, 1.5])
    batched = lm(tokens, mlp_hook=row_pin_hook(sae, feats, vals))
    for b in range(3):
        single = lm(tokens[b:b + 1], mlp_hook=st.clamp_hook(sae, int(feats[b]), float(vals[b])))
        assert torch.allclose(batched[b], single[0], atol=1e-5)
    assert not torch.allclose(batched[0], batched[1])                       # the pins differ, so do the logits


def test_next_token_logits_are_the_last_position_of_the_full_forward(tiny):
    lm, sae = tiny
    tokens = torch.randint(1, 300, (4, 12))
    hook = row_pin_hook(sae, torch.tensor([1, 2, 3, 4]), torch.tensor([5.0, math.nan, 1.0, 9.0]))
    with torch.no_grad():
        assert torch.allclose(next_token_logits(lm, tokens, hook), lm(tokens, mlp_hook=hook)[:, -1], atol=1e-5)
        assert torch.allclose(next_token_logits(lm, tokens), lm(tokens)[:, -1], atol=1e-5)


def test_draw_is_the_inverse_cdf_of_the_top_k():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert draw(logits, torch.tensor([0.0]), top_k=None).item() == 0
    assert draw(logits, torch.tensor([0.79]), top_k=None).item() == 1
    assert draw(logits, torch.tensor([0.999]), top_k=None).item() == 3
    assert draw(logits, torch.tensor([0.999]), top_k=2).item() == 1          # only the top 2 remain
    u = torch.rand(20_000, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draw(logits.expand(len(u), -1), u, top_k=None), minlength=4) / len(u)
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.015)


def test_batched_sampling_equals_single_pin_runs(tiny, tiny_tok):
    lm, sae = tiny
    pins = [None, (4, 8.0), (30, 5.0), (4, 8.0)]
    both = sample_pinned(lm, tiny_tok, sae, pins, PROMPTS, n_samples=3, n_new=20, seed=1)
    assert both.shape == (4, 6, 20)                                         # 4 + 20 > n_ctx: the window slides
    for p, pin in enumerate(pins):
        alone = sample_pinned(lm, tiny_tok, sae, [pin], PROMPTS, n_samples=3, n_new=20, seed=1)[0]
        assert torch.equal(both[p], alone)
    small = sample_pinned(lm, tiny_tok, sae, pins, PROMPTS, n_samples=3, n_new=20, seed=1, max_rows=3)
    assert torch.equal(small, both)                                         # one pin per batch: the same samples
    assert torch.equal(both[1], both[3]) and not torch.equal(both[0], both[1])
    assert not torch.equal(both, sample_pinned(lm, tiny_tok, sae, pins, PROMPTS, n_samples=3, n_new=20, seed=2))


@pytest.mark.parametrize("call, msg", [
    (lambda lm, sae, tok: sample_pinned(lm, tok, sae, [(64, 1.0)], PROMPTS), "unknown feature 64"),
    (lambda lm, sae, tok: sample_pinned(lm, tok, sae, [(3, math.inf)], PROMPTS), "strength must be finite"),
    (lambda lm, sae, tok: sample_pinned(lm, tok, sae, [], PROMPTS), "no pins to sample"),
    (lambda lm, sae, tok: sample_pinned(lm, tok, sae, [None], [""]), "prompt is empty"),
    (lambda lm, sae, tok: sample_pinned(lm, tok, sae, [None], PROMPTS, n_new=0), "n_samples and n_new must be >= 1"),
    (lambda lm, sae, tok: row_pin_hook(sae, torch.tensor([1, 99]), torch.tensor([1.0, 2.0])), "unknown feature in pins"),
    (lambda lm, sae, tok: row_pin_hook(sae, torch.tensor([1]), torch.tensor([1.0, 2.0])), "1-d of one length"),
    (lambda lm, sae, tok: row_pin_hook(sae, torch.tensor([1]), torch.tensor([1.0]))(torch.zeros(2, 3, 32)),
     "the hook pins 1 rows, the batch has 2"),
])
def test_bad_input_is_a_one_line_error(tiny, tiny_tok, call, msg):
    lm, sae = tiny
    with pytest.raises(ValueError, match=msg) as err:
        call(lm, sae, tiny_tok)
    assert "\n" not in str(err.value)
