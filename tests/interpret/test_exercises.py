"""Notebook 04's checks: the reference answers pass, and each typical mistake fails with a message that names it."""
import warnings

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from monosem_lib.interpret import autointerp, browse, compare, exercises
from monosem_lib.interpret import feature_stats as fs
from tests.interpret.common import planted


def explain_tokens(token_ids, acts, k=5, min_mean=0.02):
    if acts.max() <= 0:
        return {}
    a = acts / acts.max()
    ids, inv = np.unique(token_ids, return_inverse=True)
    mass = np.bincount(inv, weights=a)
    mean = mass / np.bincount(inv)
    keep = [j for j in np.argsort(-mass, kind="stable") if mean[j] >= min_mean and mass[j] > 0][:k]
    return {int(ids[j]): float(mean[j]) for j in keep}


def spearman(pred, acts):
    if np.ptp(pred) == 0 or np.ptp(acts) == 0:
        return 0.0
    return float(np.corrcoef(rankdata(pred), rankdata(acts))[0, 1])


@pytest.fixture(scope="module")
def data():
    """Planted token features plus dense random ones (which fire on many tokens), in contexts of 32 rows."""
    _, _, tokens, coef = planted(n_rows=6000)
    return fs.UnitActs.from_dense(coef), autointerp.HeldoutText.from_tokens(tokens, window=32)


def _fails(check, *args, **kw) -> str:
    with pytest.raises(AssertionError) as err:
        check(*args, **kw)
    return str(err.value)


def test_reference_answers_pass(data, capsys):
    ua, text = data
    exercises.check_explain_tokens(explain_tokens, ua, text)
    exercises.check_spearman(spearman, ua, text)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith("✓ matches the library") for line in out), out


def by_mean(token_ids, acts, k=5, min_mean=0.02):
    a = acts / acts.max()
    ids, inv = np.unique(token_ids, return_inverse=True)
    mean = np.bincount(inv, weights=a) / np.bincount(inv)
    return {int(ids[j]): float(mean[j]) for j in np.argsort(-mean, kind="stable")[:k] if mean[j] >= min_mean}


@pytest.mark.parametrize("wrong, says", [
    (by_mean, "rank them by total activation (mass)"),
    (lambda t, a, k: {x: v * a.max() for x, v in explain_tokens(t, a, k).items()}, "divide by the examples' max"),
    (lambda t, a, k: explain_tokens(t, a, k + 3), "at most k = 5"),
    (lambda t, a, k: list(explain_tokens(t, a, k)), "return a dict"),
    (lambda t, a, k: explain_tokens(t, a, k, min_mean=0.0), "whose mean is >= min_mean"),
])
def test_wrong_explainers_fail_with_the_reason(data, wrong, says):
    ua, text = data
    msg = _fails(exercises.check_explain_tokens, wrong, ua, text)
    assert says in msg, msg


@pytest.mark.parametrize("wrong, says", [
    (lambda p, a: float(spearmanr(p, a).statistic), "return 0, not NaN"),
    (lambda p, a: float(np.corrcoef(p, a)[0, 1]) if np.ptp(p) and np.ptp(a) else 0.0, "Pearson's r of the values"),
    (lambda p, a: float(np.corrcoef(rankdata(p, "ordinal"), rankdata(a, "ordinal"))[0, 1]) if np.ptp(p) and np.ptp(a)
     else 0.0, "share their average rank"),
    (lambda p, a: 0.5, "nothing to rank, return 0"),
])
def test_wrong_spearman_fails_with_the_reason(data, wrong, says):
    ua, text = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # scipy warns about the constant input it is fed
        msg = _fails(exercises.check_spearman, wrong, ua, text)
    assert says in msg, msg


def test_example_rows_reproduce_score_unit(data):
    ua, text = data
    explainer = autointerp.ConciseExplainer()
    for i in (0, 5):
        score, expl = autointerp.score_unit(ua, i, text, explainer)
        ex, sc = autointerp.example_rows(ua, i, text)
        assert not set(text.window[ex]) & set(text.window[sc])             # disjoint contexts
        assert expl.tokens == explainer.explain(text, ex, ua.dense(i)[ex]).tokens
        assert spearman(expl.predict(text, sc), ua.dense(i)[sc]) == pytest.approx(score, abs=1e-12)


def test_check_target_says_not_attempted_matches_and_fails(capsys):
    what = "your median"
    exercises.check_target(None, 0.364, what=what, tol=1e-3)
    exercises.check_target(0.3642, 0.364, what=what, tol=1e-3)
    exercises.check_target(0.5, None, what=what, tol=1e-3)
    exercises.check_target(0.5, 0.364, above=True, what=what)               # without tol: the shared check
    out = capsys.readouterr().out.splitlines()
    assert "not attempted yet" in out[0] and "0.364" in out[0]
    assert out[1].startswith("✓") and "no target" in out[2] and out[3].startswith("✓") and "above" in out[3]
    with pytest.raises(AssertionError) as err:
        exercises.check_target(0.41, 0.364, what=what, tol=1e-3)
    assert str(err.value).startswith("✗ your median = 0.41") and "0.364" in str(err.value)
    with pytest.raises(AssertionError, match="not below"):
        exercises.check_target(0.5, 0.364, above=False, what=what)


def test_format_card_groups_tables_and_shows_the_paper():
    card = {"interp.autointerp_median.features": 0.3641, "interp.alive_features": 205,
            "interp.proxy.arabic.n_tokens": 134, "interp.proxy.arabic.status": "too few tokens",
            "interp.proxy.english.feature_corr": 0.124, "interp.proxy.english.n_tokens": 1578,
            "interp.proxy.english.status": "ok", "interp.proxy_by_size.128.english": 0.1,
            "interp.proxy_by_size.64.english": 0.2, "univ.median_max_corr.features": 0.5}
    text = compare.format_card(card, "interp", {"interp.autointerp_median.features": ("well above neurons", ""),
                                                "interp.proxy.arabic.feature_corr": ("0.74", "")})
    lines = text.splitlines()
    assert "univ." not in text and "{" not in text
    assert any("interp.autointerp_median.features" in x and "0.3641" in x and "well above neurons" in x for x in lines)
    assert any("1,578" in x and "0.124" in x and x.rstrip().endswith("ok") for x in lines)
    assert any(x.startswith("arabic") and "too few tokens" in x and "feature_corr 0.74" in x for x in lines)
    sizes = [x.split()[0] for x in lines[lines.index("interp.proxy_by_size.<row>.<column>:") + 2:]]
    assert sizes == ["64", "128"]                                             # numeric order


def test_resolve_feature_by_number_category_and_token():
    acts = np.zeros((6, 3), np.float32)
    acts[[1, 4], 2] = [3.0, 2.0]                                              # feature 2 fires on token 'ab'
    acts[[0, 2], 0] = 1.0
    ua = fs.UnitActs.from_dense(acts)
    token_id, strings, alive = np.array([0, 1, 0, 2, 1, 2]), ["x", "ab", "zz"], np.array([0, 2])
    assert browse.resolve_feature(" 7 ", {}, strings, ua, token_id, alive) == 7
    assert browse.resolve_feature("Arabic", {"arabic": 1}, strings, ua, token_id, alive) == 1
    assert browse.resolve_feature("b", {}, strings, ua, token_id, alive) == 2
    with pytest.raises(ValueError, match="not a feature number"):
        browse.resolve_feature("q", {"arabic": 1}, strings, ua, token_id, alive)
    assert [browse.neighbour(np.array([2, 5, 9]), i, k) for i, k in ((5, 1), (9, 1), (2, -1), (6, 1), (6, -1))] == \
        [9, 2, 9, 9, 5]


def test_feature_panel_renders_steps_and_reports_bad_queries(capsys):
    pytest.importorskip("ipywidgets")
    shown = []

    def render(i):
        if i == 99:
            raise IndexError("feature index 99 is out of range")
        shown.append(i)

    def resolve(q):
        return browse.resolve_feature(q, {"dna": 5}, ["a"], fs.UnitActs.from_dense(np.ones((1, 1))), np.zeros(1), [0])

    panel = browse.feature_panel(render, resolve, np.array([2, 5, 9]), "dna")
    box, prev, nxt = panel.children[0].children
    nxt.click()
    prev.click()
    prev.click()
    assert shown == [5, 9, 5, 2] and box.value == "2"
    capsys.readouterr()
    box.value = "99"                                 # out of range: the panel prints the error, nothing raises
    box.value = "nonsense"
    out = capsys.readouterr().out                    # outside a kernel the Output widget passes prints through
    assert shown == [5, 9, 5, 2]
    assert "error: feature index 99" in out and "error: 'nonsense' is not a feature number" in out
