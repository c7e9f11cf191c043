"""The SAE itself: the paper's equations, sparse vs dense paths, gradients, save/load."""
import pytest
import torch

from monosem_lib.sae.grads import sae_grads, sae_loss
from monosem_lib.sae.model import SAE, geometric_median, load_sae, save_sae
from tests.sae.common import DATA, D, make_sae


def test_encode_decode_are_the_papers_equations():
    sae = make_sae()
    x = DATA.batch(0, 16)
    assert sae.scale != 1                               # inputs scaled so that E|x|^2 = d_mlp (cfg.normalize)
    f = torch.relu((x * sae.scale - sae.b_dec) @ sae.W_enc.T + sae.b_enc)
    assert torch.allclose(sae.encode(x), f, atol=1e-5)
    assert torch.allclose(sae.decode(f), (f @ sae.W_dec + sae.b_dec) / sae.scale, atol=1e-5)
    assert sae.W_dec.shape == (64, D) and sae.encode(x.view(4, 4, D)).shape == (4, 4, 64)
    with pytest.raises(ValueError, match="width 32"):
        sae.encode(torch.zeros(3, 7))


def test_sparse_decode_of_big_batches_matches_dense():
    sae = SAE(D, 2048)
    f = torch.relu(torch.randn(600, 2048) - 2.0)            # > 1M entries, ~2% active: the CSR branch
    assert torch.allclose(sae.decode(f), f @ sae.W_dec + sae.b_dec, atol=1e-5)


def test_geometric_median_is_robust_to_outliers():
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [100.0]])
    assert abs(geometric_median(x).item() - 2.0) < 1e-2
    pts = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1], [50, 50]])
    assert geometric_median(pts).norm() < 0.5          # the mean would be (10, 10)


@pytest.mark.parametrize("recipe", ["paper", "2024"])
def test_sparse_and_dense_gradients_match_autograd(recipe):
    sae = make_sae(recipe)
    x = DATA.batch(3, 64) * sae.scale
    loss, _, f = sae_loss(sae, x, 0.01)
    loss.backward()
    assert 0 < (f > 0).float().mean() < 0.5
    ref = {k: p.grad.clone() for k, p in sae.named_parameters()}
    for sparse in (True, False):
        for p in sae.parameters():
            p.grad = None
        out = sae_grads(sae, x, 0.01, sparse=sparse)
        assert torch.allclose(out["loss"], loss, rtol=1e-5)
        assert torch.equal(out["counts"], (f > 0).sum(0))
        for k, p in sae.named_parameters():
            assert torch.allclose(p.grad, ref[k], rtol=1e-4, atol=1e-6 * ref[k].abs().max()), (sparse, k)


def test_save_load_round_trip(tmp_path):
    sae = make_sae()
    save_sae(sae, tmp_path / "s", extra={"note": 1})
    loaded = load_sae(tmp_path / "s" / "sae.safetensors")
    x = DATA.batch(0, 8)
    assert torch.equal(loaded.encode(x), sae.encode(x)) and loaded.arch == sae.arch
    with pytest.raises(FileNotFoundError, match="03_train_sae"):
        load_sae(tmp_path / "nothing")
