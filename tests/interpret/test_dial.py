"""The superposition dial: proxy scores per category, 'too few tokens' and missing categories, the plot."""
import matplotlib
import numpy as np
import pytest

from monosem_lib.interpret import dial
from monosem_lib.interpret.feature_stats import UnitActs
from monosem_lib.text.splits import TokenSplit

matplotlib.use("Agg")


def _split():
    """20 sql documents (2,000 tokens, ids 1-99), 3 xml documents (300 tokens, ids 100-199); 'absent' has none."""
    rng = np.random.default_rng(0)
    cats = np.array([0] * 20 + [1] * 3, np.int16)
    tokens = np.concatenate([rng.integers(1 + 99 * c, 100 + 99 * c, 100) for c in cats]).astype(np.uint16)
    return TokenSplit(tokens, np.arange(23, dtype=np.int64) * 100, np.arange(23, dtype=np.int64), cats,
                      ["sql", "xml", "absent"])


def test_scores_a_category_and_refuses_too_few_or_missing_tokens():
    val = _split()
    is_sql = np.arange(len(val.tokens)) < 2000
    rng = np.random.default_rng(1)
    feats = np.stack([is_sql * 3.0, rng.random(len(is_sql)) * (rng.random(len(is_sql)) < 0.1)], 1)
    neurons = np.stack([is_sql * (rng.random(len(is_sql)) < 0.5), rng.random(len(is_sql))], 1)
    llr = {c: np.zeros(300) for c in val.category_names}
    llr["sql"][1:100], llr["xml"][100:199] = 2.0, 2.0
    with pytest.warns(UserWarning, match="'absent' has no validation tokens"):
        scores = dial.score_proxies(UnitActs.from_dense(feats), UnitActs.from_dense(neurons), val, None,
                                    np.arange(len(val.tokens)), val.tokens.astype(np.int64), llr)
    sql = scores["sql"]
    assert sql.status == "ok" and sql.n_tokens == 2000 and sql.feature == 0 and sql.neuron == 0
    assert sql.feature_corr == pytest.approx(1.0) and sql.neuron_corr < 0.8
    assert scores["xml"].status == dial.TOO_FEW and scores["xml"].n_tokens == 300
    assert scores["absent"].status == dial.MISSING
    card = dial.scorecard_entries(scores)
    assert card["interp.proxy.sql.feature_corr"] == 1.0 and card["interp.proxy.sql.n_tokens"] == 2000
    assert card["interp.proxy.xml.status"] == "too few tokens" and "interp.proxy.xml.feature_corr" not in card
    assert card["interp.proxy.absent.status"].startswith("missing") and "interp.proxy.absent.neuron_corr" not in card
    shares = {"sql": 0.005, "xml": 0.001, "absent": 0.0001}
    table = dial.format_table(scores, shares)
    assert "too few tokens" in table and table.splitlines()[1].startswith("absent")      # rarest first
    ax = dial.plot_dial(scores, shares)
    assert ax.get_xscale() == "log" and len(ax.collections) == 3                        # lines, features, neurons
