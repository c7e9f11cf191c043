import pytest
import torch

from monosem_lib.lm.model import TinyLM, generate, load_lm, save_lm
from tests.helpers import TINY_LM


@pytest.fixture
def lm():
    torch.manual_seed(0)
    return TinyLM(TINY_LM).eval()


def test_shapes(lm):
    tokens = torch.randint(0, 300, (3, 10))
    assert lm(tokens).shape == (3, 10, 300)
    assert lm.mlp_acts(tokens).shape == (3, 10, 32)


def test_hook_reads_the_post_relu_activations(lm):
    tokens = torch.randint(0, 300, (2, 8))
    seen = []
    lm(tokens, mlp_hook=seen.append)
    assert torch.allclose(seen[0], lm.mlp_acts(tokens))
    assert (seen[0] >= 0).all()


def test_hook_replaces_activations(lm):
    tokens = torch.randint(0, 300, (2, 8))
    clean = lm(tokens)
    assert torch.equal(lm(tokens, mlp_hook=lambda a: a.clone()), clean)
    zeroed = lm(tokens, mlp_hook=torch.zeros_like)
    assert not torch.allclose(zeroed, clean)
    # zeroing the activations is the same as removing W_out's input: only its bias remains
    x = lm.residual_mid(tokens)
    expected = lm.W_U(lm.ln_f(x + lm.mlp.W_out.bias))
    assert torch.allclose(zeroed, expected, atol=1e-5)


def test_bad_inputs(lm):
    with pytest.raises(ValueError, match="exceeds the context"):
        lm(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        lm(torch.zeros(5, dtype=torch.long))


def test_save_load_round_trip(lm, tmp_path):
    save_lm(lm, tmp_path / "m")
    again = load_lm(tmp_path / "m")
    tokens = torch.randint(0, 300, (2, 8))
    assert torch.equal(again(tokens), lm(tokens))
    assert load_lm(tmp_path / "m" / "model.safetensors").cfg == lm.cfg
    with pytest.raises(FileNotFoundError, match="01_train_tiny_lm"):
        load_lm(tmp_path / "missing")


def test_generate_is_seeded(lm):
    prompt = torch.tensor([1, 2, 3])
    a = generate(lm, prompt, 20, seed=1)
    assert len(a) == 20 and torch.equal(a, generate(lm, prompt, 20, seed=1))


def test_fused_loss_matches_autograd_cross_entropy(lm):
    tokens, targets = torch.randint(0, 300, (3, 10)), torch.randint(0, 300, (3, 10))
    ref = torch.nn.functional.cross_entropy(lm(tokens).flatten(0, 1), targets.flatten())
    ref_grads = torch.autograd.grad(ref, list(lm.parameters()))
    fused = lm.loss(tokens, targets)
    grads = torch.autograd.grad(fused, list(lm.parameters()))
    assert torch.allclose(fused, ref, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, ref_grads))


def test_mlp_acts_at_positions_equals_gathering_the_full_result(lm):
    tokens = torch.randint(0, 300, (3, 16))
    positions = torch.tensor([[1, 5, 15, 5], [0, 2, 3, 4], [15, 14, 7, 9]])
    full = lm.mlp_acts(tokens)
    at = lm.mlp_acts(tokens, positions)
    assert at.shape == (3, 4, 32)
    torch.testing.assert_close(at, full[torch.arange(3)[:, None], positions])
    assert torch.equal(lm.mlp_acts(tokens, None), full)
    with pytest.raises(ValueError, match=r"\[batch, k\]"):
        lm.mlp_acts(tokens, positions[:2])
    with pytest.raises(ValueError, match="must lie in"):
        lm.mlp_acts(tokens, positions + 1)
