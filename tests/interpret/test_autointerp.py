"""Offline autointerp: planted features rank high, polysemantic units low, contexts stay in their window."""
import numpy as np

from monosem_lib.interpret import autointerp
from monosem_lib.interpret import feature_stats as fs
from tests.interpret.common import planted


def test_autointerp_ranks_planted_features_high_and_random_low():
    _, _, tokens, coef = planted()
    ua = fs.UnitActs.from_dense(coef)         # the planted activations (an SAE's encoding adds float noise ~1e-7)
    text = autointerp.HeldoutText.from_tokens(tokens, window=32)
    for explainer in (autointerp.ConciseExplainer(), autointerp.TokenSetExplainer()):
        scores = autointerp.score_units(ua, np.arange(12), text, explainer)
        assert scores[:4].min() > 0.8, scores
        assert np.median(scores[4:]) < 0.4, scores
    score, expl = autointerp.score_unit(ua, 2, text)
    assert set(expl.tokens) == {2} and expl.describe([f"t{i}" for i in range(50)]) == "'t2'"
    assert expl.describe([f"t{i}" for i in range(50)], ["english"]) == "'t2'"      # no category: names none


def test_concise_explainer_prefers_a_category_and_penalises_polysemantic_units():
    rng = np.random.default_rng(0)
    n = 6000
    tokens = rng.integers(0, 200, n)
    category = (np.arange(n) // 300) % 3                      # documents of 300 tokens, three categories
    text = autointerp.HeldoutText(tokens, category, np.arange(n) // 60, np.arange(n), ["a", "b", "c"])
    script = (category == 1) * 1.0                            # fires on any token of category 1
    poly = np.isin(tokens, rng.choice(200, 40, replace=False)) * 1.0      # fires on 40 unrelated tokens
    ua = fs.UnitActs.from_dense(np.stack([script, poly], 1))
    s_script, e_script = autointerp.score_unit(ua, 0, text)
    assert e_script.tokens is None and e_script.category == 1 and s_script > 0.8
    assert e_script.describe([], ["a", "b", "c"]) == "any token in b text"
    s_poly = autointerp.score_unit(ua, 1, text)[0]
    s_poly_unbounded = autointerp.score_unit(ua, 1, text, autointerp.TokenSetExplainer())[0]
    assert s_poly < 0.6 < s_poly_unbounded, (s_poly, s_poly_unbounded)


def test_context_rows_stay_inside_their_window():
    text = autointerp.HeldoutText(np.zeros(10, np.int64), np.zeros(10, np.int64), np.array([0] * 5 + [7] * 5),
                                  np.array([0, 2, 4, 6, 8, 9, 11, 13, 15, 17]))
    assert text.context_rows(np.array([2]), 2).tolist() == [1, 2, 3]
    assert text.context_rows(np.array([4]), 3).tolist() == [3, 4]          # row 5 is another window
    assert text.even_contexts().tolist() == [True] * 5 + [False] * 5
