"""Streaming correlations equal the direct ones for dense and sparse chunks; density bins count and name right."""
import numpy as np
import pytest
import torch

from monosem_lib.universality.density import bin_name, by_density, density_edges, firing_counts, scorecard_entries
from monosem_lib.harvest.streaming import CrossMoments, row_slice
from monosem_lib.universality.matching import max_correlation, max_from_corr


def _data():
    g = torch.Generator().manual_seed(0)
    a = torch.relu(torch.randn(3000, 12, generator=g) + 0.5) * 3 + 40.0     # large mean: cancellation-prone
    a[:, 3] = 0.0                                                          # dead
    a[:, 4] = 2.0                                                          # constant
    b = torch.relu(torch.randn(3000, 9, generator=g) - 1.0)
    b[:, :4] += a[:, :4] - 40
    return a, b


def test_dense_and_sparse_chunks_equal_max_correlation():
    a, b = _data()
    bs = b.to_sparse_csr()
    for left, right in ((a, b), (a, bs), (bs, a)):
        cm = CrossMoments(left.shape[1], right.shape[1])
        for r in range(0, 3000, 700):
            cm.add(row_slice(left, r, min(r + 700, 3000)), row_slice(right, r, min(r + 700, 3000)))
        got, want = max_from_corr(cm.corr()), max_correlation(left.to_dense(), right.to_dense())
        assert torch.equal(got.alive_a, want.alive_a) and torch.equal(got.argmax, want.argmax)
        assert float((got.max - want.max).abs().nan_to_num(0).max()) < 1e-5
    assert not max_from_corr(CrossMoments(12, 9).corr()).alive_a.any()         # no rows: nothing is alive


def test_density_bins():
    assert bin_name(1e-5, 1e-4) == "1e-5_1e-4" and bin_name(1e-1, 1.0) == "1e-1_1e+0"
    assert density_edges(1000) == [1e-3, 1e-2, 1e-1, 1.0]
    counts = np.array([0, 1, 5, 50, 500, 1000])
    mc = np.array([np.nan, 0.1, 0.2, 0.3, 0.6, 0.8])
    bins = by_density(mc, counts, 1000)
    assert {k: v["n"] for k, v in bins.items()} == {"1e-3_1e-2": 2, "1e-2_1e-1": 1, "1e-1_1e+0": 2}
    assert bins["1e-3_1e-2"]["median"] == pytest.approx(0.15) and bins["1e-1_1e+0"]["median"] == pytest.approx(0.7)
    keys = scorecard_entries({**bins, "1e-4_1e-3": {"n": 0, "median": float("nan")}}, "univ.by_density")
    assert keys["univ.by_density.1e-2_1e-1.median"] == 0.3 and "univ.by_density.1e-4_1e-3.median" not in keys
    x = torch.tensor([[0.0, 1.0], [2.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(firing_counts(x), [2, 1])
    np.testing.assert_array_equal(firing_counts(x.to_sparse_csr()), [2, 1])
