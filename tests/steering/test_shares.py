"""Steering shares: per sample, over non-whitespace generated tokens, with a t interval over samples."""
import math

import numpy as np
import pytest
import torch

from monosem_lib.interpret import proxies
from monosem_lib.steering import shares
from monosem_lib.text.tokenizer import encode


def ids_of(tok, *pieces):
    """One token id per piece (each piece must be a single token)."""
    out = []
    for p in pieces:
        ids = encode(tok, p).tolist()
        assert len(ids) == 1, (p, ids)
        out += ids
    return out


def test_whitespace_tokens(tiny_tok):
    ws = shares.whitespace_tokens(tiny_tok)
    assert ws.shape == (tiny_tok.get_vocab_size(),)
    for p in (" ", "\n", "\n\n"):
        assert ws[ids_of(tiny_tok, p)[0]]
    for p in ("The", " cat", "."):
        assert not ws[encode(tiny_tok, p)[0]]


def test_byte_fragments_and_eot_are_counted(tiny_tok):
    ws = shares.whitespace_tokens(tiny_tok)
    frag = encode(tiny_tok, "\u0645")[:1]                    # first byte of an Arabic letter (0xD9): not whitespace
    assert not ws[int(frag[0])]
    assert not ws[tiny_tok.token_to_id("<|endoftext|>")]


def test_per_sample_shares_skip_whitespace_and_drop_empty_samples(tiny_tok):
    hit, miss = ids_of(tiny_tok, "A"), ids_of(tiny_tok, "B")
    sp, nl = ids_of(tiny_tok, " "), ids_of(tiny_tok, "\n")
    batch = torch.tensor([hit + sp + miss + hit,             # 2 of 3 countable
                          sp + nl + sp + nl,                 # nothing countable: dropped
                          miss + miss + nl + hit,            # 1 of 3
                          hit + hit + hit + hit])            # 4 of 4
    mask_fn = lambda c, ids, tok: np.isin(np.asarray(ids), hit)          # noqa: E731
    got = shares.sample_shares(batch, "letters", tiny_tok, mask_fn)
    assert got[0] == pytest.approx(2 / 3) and math.isnan(got[1]) and got[2] == pytest.approx(1 / 3) and got[3] == 1.0
    counted = shares.countable(batch, tiny_tok)
    assert counted.sum(1).tolist() == [3, 0, 3, 4]
    # the old way (all tokens, whitespace included) gives 2/4, 0, 1/4, 1 instead
    s = shares.category_share(batch, "letters", tiny_tok, mask_fn)
    assert s["n"] == 3 and s["mean"] == pytest.approx((2 / 3 + 1 / 3 + 1) / 3)


def test_default_mask_is_the_notebook_04_detector(tiny_tok, monkeypatch):
    batch = torch.stack([encode(tiny_tok, "ACGTACGT the cat ACGT")[:5], encode(tiny_tok, "The cat sat on the mat")[:5]])
    det = proxies.detect_tokens("dna", batch, tiny_tok)
    keep = shares.countable(batch, tiny_tok)
    want = (det & keep).sum(1) / keep.sum(1)
    assert det.any() and np.allclose(shares.sample_shares(batch, "dna", tiny_tok), want)
    calls = []
    monkeypatch.setattr(shares, "detect_tokens", lambda c, ids, tok: calls.append((c, tuple(ids.shape))) or det)
    shares.sample_shares(batch, "dna", tiny_tok)
    assert calls == [("dna", (2, 5))]                        # one call for the whole batch


def test_interval_against_a_hand_computation():
    x = [0.2, 0.4, 0.6, 0.5, 0.3, math.nan]                  # the NaN (a sample with no countable token) is dropped
    s = shares.share_interval(x)
    t4 = 2.7764451051977987                                  # t_{0.975, 4}, from a table
    half = t4 * math.sqrt(0.1 / 4) / math.sqrt(5)            # sd: squares of (-.2, 0, .2, .1, -.1) sum to 0.1
    assert s["n"] == 5 and s["mean"] == pytest.approx(0.4)
    assert s["lo"] == pytest.approx(0.4 - half) and s["hi"] == pytest.approx(0.4 + half)


def test_interval_is_clipped_and_degenerate_cases():
    s = shares.share_interval([0.9, 1.0, 1.0, 1.0])
    assert s["hi"] == 1.0 and 0 < s["lo"] < s["mean"] < 1
    assert shares.share_interval([0.0] * 16) == {"mean": 0.0, "lo": 0.0, "hi": 0.0, "n": 16}
    assert shares.share_interval([0.7]) == {"mean": 0.7, "lo": 0.0, "hi": 1.0, "n": 1}
    empty = shares.share_interval([math.nan, math.nan])
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["lo"])


@pytest.mark.parametrize("call, msg", [
    (lambda tok: shares.sample_shares(torch.zeros(5, dtype=torch.long), "dna", tok), "samples must be token ids"),
    (lambda tok: shares.countable(torch.full((2, 3), 10_000), tok), "token ids must lie in"),
    (lambda tok: shares.sample_shares(torch.zeros(2, 3, dtype=torch.long), "dna", tok,
                                      lambda c, ids, t: np.zeros(3, bool)), "mask_fn returned shape"),
])
def test_bad_input_is_a_one_line_error(tiny_tok, call, msg):
    with pytest.raises(ValueError, match=msg) as err:
        call(tiny_tok)
    assert "\n" not in str(err.value)
