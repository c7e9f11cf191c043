"""compare.score_sae: the same autointerp and proxy scores for any SAE (controls, the other recipe)."""
import numpy as np

from monosem_lib.interpret import compare, dial
from monosem_lib.text.splits import TokenSplit
from tests.interpret.common import planted


class FakeStore:
    """The two methods score_sae reads from an activation store (rows streamed in batches)."""

    def __init__(self, x, tokens):
        self.x, self.tokens = x, tokens

    def heldout_batches(self, batch_size):
        return (self.x[i:i + batch_size] for i in range(0, len(self.x), batch_size))

    def row_info(self, part):
        n = len(self.tokens)
        return {"token_index": np.arange(n), "token_id": self.tokens.astype(np.int64),
                "category": (np.arange(n) >= n // 2).astype(np.int64), "ctx_pos": np.arange(n) % 32}


def test_score_sae_gives_planted_features_high_scores_and_a_proxy_table():
    sae, x, tokens, _ = planted(n_rows=4000)
    sae.b_enc.data.fill_(-1e-4)                      # no float-noise activations on rows where a feature is off
    n = len(tokens)
    cats = np.array([0] * 20 + [1] * 20, np.int16)                 # two labelled halves of 20 documents
    val = TokenSplit(tokens.astype(np.uint16), np.arange(40, dtype=np.int64) * 100, np.arange(40), cats, ["sql", "xml"])
    llr = {"sql": np.where(np.arange(50) < 25, 1.0, -1.0), "xml": np.zeros(50)}
    masks = dial.row_masks(val, None, np.arange(n), ["sql", "xml"])
    result = compare.score_sae(sae, FakeStore(x, tokens), val, None, llr, masks, n_score=12)
    assert len(result["autointerp"]) == 12 and np.sort(result["autointerp"])[-4:].min() > 0.8
    assert result["proxies"]["sql"].status == "ok" and result["proxies"]["sql"].n_tokens == n // 2
    card = compare.scorecard_entries(result, "control.random_lm.")
    assert 0 < card["control.random_lm.autointerp_median.features"] <= 1
    assert card["control.random_lm.proxy.sql.n_tokens"] == n // 2
    assert "control.random_lm.proxy.sql.feature_corr" in card
    again = compare.score_sae(sae, FakeStore(x, tokens), val, None, llr, masks, n_score=12, x=x)   # rows in memory
    np.testing.assert_array_equal(again["autointerp"], result["autointerp"])
