"""Feature statistics from the sparse encoding."""
import numpy as np
import torch

from monosem_lib.interpret import feature_stats as fs
from tests.interpret.common import planted


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


def test_from_dense_matches_the_triples_path():
    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((500, 7)), 0).astype(np.float32)
    a[:10, 3] = 1.0                                                    # ties: order by row
    r, u = np.nonzero(a > 0)
    ref = fs.UnitActs.from_triples(500, 7, r, u, a[r, u])
    got = fs.UnitActs.from_dense(torch.from_numpy(a))
    assert np.array_equal(got.offsets, ref.offsets) and np.array_equal(got.rows, ref.rows)
    assert np.array_equal(got.vals, ref.vals)
