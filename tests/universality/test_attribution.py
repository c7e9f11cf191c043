"""Attribution similarity: a planted always-co-firing twin pair with proportional logit weights scores 1, an unrelated
pair does not, and mismatched inputs are a one-line error."""
import matplotlib
import numpy as np
import pytest
import torch

from monosem_lib.harvest.eval_tokens import EvalTokens
from monosem_lib.universality import attribution

matplotlib.use("Agg")
V, N_CTX = 40, 16


def _ev(n_windows: int = 200) -> EvalTokens:
    rng = np.random.default_rng(0)
    return EvalTokens(rng.integers(0, V, (n_windows, N_CTX)), np.zeros(n_windows, np.int8),
                      np.arange(n_windows) * N_CTX)


def _planted(ev: EvalTokens):
    """A: feature 0 fires on tokens < 10 (random strength), feature 1 at random. B: feature 1 is A's 0 exactly,
    feature 0 random. Logits: B's feature 1 = 2 x A's feature 0."""
    g = torch.Generator().manual_seed(1)
    n, tok = ev.n_tokens, torch.from_numpy(ev.token_ids)
    shared = (tok < 10).float() * (1 + torch.rand(n, generator=g))
    a = torch.stack([shared, (torch.rand(n, generator=g) < 0.2).float()], 1)
    b = torch.stack([(torch.rand(n, generator=g) < 0.2).float(), shared], 1)
    la = torch.randn(2, V, generator=g)
    lb = torch.stack([torch.randn(V, generator=g), 2 * la[0]])
    return _csr32(a), _csr32(b), la, lb


def _csr32(x: torch.Tensor) -> torch.Tensor:
    """CSR with int32 indices, as the cached codes are (scipy then shares the arrays instead of copying them)."""
    c = x.to_sparse_csr()
    return torch.sparse_csr_tensor(c.crow_indices().int(), c.col_indices().int(), c.values(), size=c.shape)


def test_an_always_co_firing_pair_has_attribution_similarity_one():
    ev = _ev()
    a, b, la, lb = _planted(ev)
    before = [t.clone() for t in (a.crow_indices(), a.col_indices(), a.values())]
    sims = attribution.feature_similarities(a, b, la, lb, np.array([1, 0]), ev)
    assert all(torch.equal(x, y) for x, y in zip(before, (a.crow_indices(), a.col_indices(), a.values())))  # untouched
    for key in ("activation", "attribution", "logit"):
        assert sims[key][0] == pytest.approx(1.0, abs=1e-6), key
        assert abs(sims[key][1]) < 0.3, key
    card = attribution.attribution_entries({"features": sims})
    assert card["univ.median_attribution_corr.features"] == pytest.approx(np.median(sims["attribution"]), abs=1e-4)
    assert card["univ.attribution_tracking.features"] is None            # two pairs: too few to correlate
    assert card["univ.twins_act70.features.n"] == 1 and card["univ.twins_act70.features.median_attribution"] == 1.0
    assert attribution.plot_similarities({"features": sims}).axes
    assert attribution.attribution_verdict({"features": sims})[0].endswith("too few pairs to say")   # 2 pairs


def test_a_unit_without_twin_is_nan_and_the_last_row_of_a_window_has_no_next_token():
    ev = _ev(4)
    nxt, ok = attribution.next_tokens(ev)
    assert nxt[0] == ev.windows[0, 2] and not ok[N_CTX - 2] and ok.sum() == 4 * (N_CTX - 2)
    a, b, la, lb = _planted(ev)
    sims = attribution.feature_similarities(a, b, la, lb, np.array([-1, 0]), ev)
    assert np.isnan(sims["attribution"][0]) and np.isnan(sims["logit"][0])


def test_codes_over_different_rows_are_a_one_line_error():
    ev = _ev(4)
    a, b, la, lb = _planted(ev)
    with pytest.raises(ValueError, match="must cover the same first rows"):
        attribution.feature_similarities(a, torch.zeros(5, 2).to_sparse_csr(), la, lb, np.array([1, 0]), ev)
