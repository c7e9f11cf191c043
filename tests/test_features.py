"""Feature statistics, autointerp on planted features, HTML escaping of the browser, splitting, errors."""
import numpy as np
import pytest
import torch

from monosem_lib import autointerp, dashboards, feature_stats as fs, splitting
from monosem_lib.sae import SAE


def planted(n_rows=4000, d=32, n_planted=4, n_features=12, vocab=50, seed=0):
    """Activations where feature j (< n_planted) fires exactly on token j; the other features are random."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (n_rows,), generator=g)
    dirs = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:n_features]
    coef = torch.zeros(n_rows, n_features)
    for j in range(n_planted):
        coef[tokens == j, j] = 1 + torch.rand(int((tokens == j).sum()), generator=g)
    coef[:, n_planted:] = torch.relu(torch.randn(n_rows, n_features - n_planted, generator=g) - 1.0)
    x = coef @ dirs
    sae = SAE(d, n_features)
    sae.W_enc.data, sae.W_dec.data = dirs.clone(), dirs.clone()
    sae.b_enc.data.zero_(), sae.b_dec.data.zero_()
    return sae, x, tokens.numpy(), coef


def test_encode_sparse_stats_match_dense():
    sae, x, _, coef = planted()
    ua = fs.encode_sparse(sae, x, batch_size=1000)
    f = sae.encode(x).detach()
    np.testing.assert_allclose(fs.density(ua), (f > 0).float().mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(fs.max_act(ua), f.max(0).values.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ua.dense(3), f[:, 3].numpy(), rtol=1e-5, atol=1e-6)
    q = fs.quantiles(ua, (0.5,))[:, 0]
    assert abs(q[0] - np.median(f[:, 0][f[:, 0] > 0].numpy())) < 0.05
    p = (np.arange(len(x)) % 3 == 0).astype(float)
    np.testing.assert_allclose(fs.corr_with(ua, p)[5], np.corrcoef(f[:, 5].numpy(), p)[0, 1], atol=1e-5)


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


def test_browser_escapes_tokens_and_works_offline(tmp_path):
    sae, x, tokens, _ = planted(n_rows=500)
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(500), "ctx_pos": np.full(500, 5), "category": np.zeros(500, np.int16),
            "token_id": tokens}
    strings = [f"tok{i}" for i in range(50)]
    strings[1] = "<script>alert(1)</script>"
    logits = torch.randn(12, 50)
    path = dashboards.export_browser(tmp_path / "b" / "index.html", [0, 1, 2], ua, info, tokens, logits, strings,
                                     ["html"], {1: "<b>x</b>"})
    page = path.read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and "http" not in page.lower().replace("http-equiv", "")   # no CDN, no server
    d = dashboards.build_dashboard(1, ua, info, tokens, logits, ["html"])
    assert "&lt;script&gt;" in dashboards.dashboard_html(d, strings)


def test_dead_feature_dashboard_and_index_errors():
    sae, x, tokens, _ = planted(n_rows=300)
    sae.b_enc.data[7] = -100.0                             # feature 7 never fires
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(300), "ctx_pos": np.zeros(300), "category": np.zeros(300, np.int16)}
    d = dashboards.build_dashboard(7, ua, info, tokens, torch.zeros(12, 50), ["english"])
    assert d["count"] == 0 and "never fired" in dashboards.dashboard_html(d, [str(i) for i in range(50)])
    with pytest.raises(IndexError, match="valid features are 0..11"):
        ua.of(12)


def test_missing_sae_names_notebook_03(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 03"):
        fs.sae_exists(tmp_path)


def test_splitting_family_and_map():
    small, _, _, _ = planted(n_features=6)
    large, _, _, _ = planted(n_features=12)
    fam = splitting.family({6: small, 12: large}, root=0)
    assert fam[6][0] == (0, pytest.approx(1.0)) and fam[12][0][0] == 0
    assert splitting.mds_2d(large).shape == (12, 2)
    idx, cos = splitting.best_match(small, large)
    assert idx[:6].tolist() == list(range(6)) and np.allclose(cos[:6], 1.0, atol=1e-5)
