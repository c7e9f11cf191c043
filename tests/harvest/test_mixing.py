"""Notebook 02's reference figures: the entropy of random tokens' categories and the top-k neuron FVU."""
import numpy as np
import pytest
import torch

from monosem_lib.harvest.neurons import random_entropy, topk_fvu


def test_random_entropy_matches_the_category_mix():
    one = random_entropy(np.zeros(1000, dtype=np.int16), 4, k=40, n_draws=50)
    assert one.shape == (50,) and np.all(one == 0)                          # one category: 0 bits
    even = random_entropy(np.arange(4000) % 4, 4, k=400, n_draws=20, seed=1)
    assert np.all(np.abs(even - 2.0) < 0.05)                                 # four even categories: ~2 bits
    assert np.array_equal(random_entropy(np.arange(100) % 3, 3, 10, 5, seed=2),
                          random_entropy(np.arange(100) % 3, 3, 10, 5, seed=2))   # seeded


def test_topk_fvu_by_hand():
    torch.manual_seed(0)
    x = torch.relu(torch.randn(500, 16))
    v, i = x.topk(3, dim=1)
    kept = torch.zeros_like(x).scatter(1, i, v)
    by_hand = ((x - kept) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert topk_fvu(x, 3) == pytest.approx(by_hand.item(), rel=1e-5)
    assert topk_fvu(x, 3, chunk=7) == pytest.approx(topk_fvu(x, 3), rel=1e-5)       # chunking changes nothing
    assert topk_fvu(x, 16) == 0.0 and topk_fvu(x, 100) == 0.0                        # every neuron kept
    assert topk_fvu(x, 1) > topk_fvu(x, 3) > topk_fvu(x, 8)
    with pytest.raises(ValueError, match="at least 1"):
        topk_fvu(x, 0)
