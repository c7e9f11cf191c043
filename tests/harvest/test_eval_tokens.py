"""The evaluation tokens: windows tiling val then train, rows = every position but the first, contexts traced back."""
import numpy as np
import pytest
import torch

from monosem_lib.config import LMConfig
from monosem_lib.harvest.eval_tokens import (mlp_act_batches, plan_eval_tokens, rows_limit, rows_of_windows,
                                              window_text)
from monosem_lib.lm.model import TinyLM
from monosem_lib.text.splits import TokenSplit


def _split(n: int, offset: int, cats=(0, 1)) -> TokenSplit:
    tokens = (np.arange(n) + offset).astype(np.int32) % 97 + 3
    tokens[0] = 0                                  # EOT before the first document
    tokens[n // 2] = 0                             # and before the second
    return TokenSplit(tokens, np.array([0, n // 2]), np.array([offset, offset + 1]), np.array(cats, np.int16), ["x", "y"])


def test_plan_tiles_val_then_train_and_traces_rows_back():
    val, train = _split(50, 0), _split(200, 1000, cats=(1, 0))
    ev = plan_eval_tokens(val, train, n_ctx=8, n_tokens=60)
    assert ev.n_tokens >= 60 and ev.n_tokens == len(ev.windows) * 7
    assert list(ev.split) == [0] * 6 + [1] * 3 and list(ev.start[:6]) == [0, 8, 16, 24, 32, 40]
    which, index = ev.token_index()
    toks = np.where(which == 0, val.tokens[np.minimum(index, len(val) - 1)], train.tokens[index])
    np.testing.assert_array_equal(toks, ev.token_ids)              # every row is the token its index says
    assert (ev.ctx_pos >= 1).all() and ev.ctx_pos.max() == 7
    cats = ev.categories({"val": val, "train": train})
    np.testing.assert_array_equal(cats[which == 0], val.categories_at(index[which == 0]))
    np.testing.assert_array_equal(cats[which == 1], train.categories_at(index[which == 1]))
    flat, pos = ev.flat_index(np.array([0, 6, 7]))
    np.testing.assert_array_equal(ev.windows.reshape(-1)[flat], ev.token_ids[[0, 6, 7]])
    np.testing.assert_array_equal(pos, [1, 7, 1])


def test_window_text_marks_where_prefixes_stop():
    val, train = _split(50, 0), _split(200, 1000)
    ev = plan_eval_tokens(val, train, n_ctx=8, n_tokens=20)
    ids, starts = window_text(ev, eot_id=0)
    assert starts.reshape(len(ev.windows), 8)[:, 0].all()
    eot = np.flatnonzero(ids == 0)
    assert starts[eot].all() and starts[eot[eot + 1 < len(ids)] + 1].all()
    values = np.arange(len(ids))
    np.testing.assert_array_equal(rows_of_windows(ev, values), values.reshape(-1, 8)[:, 1:].reshape(-1))


def test_too_many_tokens_is_one_line_error():
    with pytest.raises(ValueError, match="eval.n_tokens=10,000 is more than the corpus holds"):
        plan_eval_tokens(_split(50, 0), _split(60, 9), n_ctx=8, n_tokens=10_000)


def test_act_batches_equal_one_forward_and_respect_the_limit():
    torch.manual_seed(0)
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=24, n_ctx=8, vocab_size=100)).eval()
    ev = plan_eval_tokens(_split(50, 0), _split(200, 1000), n_ctx=8, n_tokens=60)
    got = torch.cat([a for _, a in mlp_act_batches(lm, ev, batch_windows=4)])
    want = lm.mlp_acts(torch.from_numpy(ev.windows))[:, 1:].reshape(-1, 24)
    torch.testing.assert_close(got, want)
    part = torch.cat([a for _, a in mlp_act_batches(lm, ev, batch_windows=2, limit=10)])
    assert len(part) == rows_limit(ev, 10) == 14                  # whole windows: 2 of 7 rows each
    torch.testing.assert_close(part, want[:14])
