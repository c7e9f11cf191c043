"""Synthetic ReLU-like activations used by the SAE tests."""
import torch

from monosem_lib.sae.synthetic import SyntheticActs


def test_synthetic_acts_resemble_relu_activations():
    x = SyntheticActs(seed=1).batch(0, 2048)
    assert x.shape == (2048, 512) and (x >= 0).all() and 0.03 < (x > 0).float().mean() < 0.1
    assert torch.equal(x, SyntheticActs(seed=1).batch(0, 2048))
