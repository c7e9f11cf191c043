"""The toy model of superposition, the recovery metrics, notebook 00's checks, and the SAE on a small toy."""
import pytest
import torch

from monosem_lib.config import ToyConfig, get_config
from monosem_lib.toy.exercises import check_mean_max_cosine, check_toy_forward
from monosem_lib.toy.model import ToyModel, ToyModelConfig, sample_features, superposition_stats, train_toy_model
from monosem_lib.toy.recovery import matched_cosine, mean_max_cosine, random_directions
from monosem_lib.toy.train import load_or_train_toy, train_toy_sae, true_directions


def test_recovery_metrics_on_known_dictionaries():
    true = torch.randn(10, 30, generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert mean_max_cosine(true, 3 * true[perm]) == pytest.approx(1.0, abs=1e-6)       # scale/order free
    mcc, cols = matched_cosine(true, true[perm])
    assert mcc == pytest.approx(1.0, abs=1e-6) and torch.equal(perm[cols], torch.arange(10))
    assert mean_max_cosine(true, -true) < 0.5                                           # signs count
    # one learned direction copied 10 times: MMCS counts it for every true feature, MCC only once
    assert matched_cosine(true, torch.cat([true[:1]] * 10))[0] < 0.5
    with pytest.raises(ValueError, match="at least as many learned"):
        matched_cosine(true, true[:5])


def test_random_directions_are_a_low_control():
    true = torch.randn(80, 20, generator=torch.Generator().manual_seed(5))
    assert mean_max_cosine(true, random_directions(true, 160)) < 0.7


def test_features_are_sparse_at_the_requested_rate():
    x = sample_features(torch.tensor([1.0, 0.1]), 50, 4000, torch.Generator().manual_seed(0))
    on = (x > 0).float().mean((0, 2))
    assert on[0] > 0.99 and abs(on[1] - 0.1) < 0.01 and x.max() <= 1


def test_superposition_appears_with_sparsity():
    """Dense: about m features kept, one dimension each; sparse: more features than dimensions."""
    model, losses = train_toy_model(ToyModelConfig(20, 5, 0.9, (0.0, 0.99)), steps=1500)
    stats = superposition_stats(model.W)
    assert losses[-1] < losses[0]
    assert stats["n_represented"][0] <= 6 and stats["n_represented"][1] > 8
    assert stats["dims_per_feature"][1] < stats["dims_per_feature"][0]


def test_toy_forward_matches_the_formula():
    model = ToyModel(ToyModelConfig(6, 3, 0.9, (0.5,)))
    x = torch.rand(4, 1, 6)
    W, b = model.W[0], model.b[0]
    assert torch.allclose(model(x)[:, 0], torch.relu(x[:, 0] @ W.T @ W + b))


def test_checks_pass_the_right_answer_and_name_the_mistake(capsys):
    check_toy_forward(lambda W, b, x: torch.relu(x @ W.T @ W + b))
    with pytest.raises(AssertionError, match="ReLU"):
        check_toy_forward(lambda W, b, x: x @ W.T @ W + b)
    with pytest.raises(AssertionError, match="bias"):
        check_toy_forward(lambda W, b, x: torch.relu(x @ W.T @ W))
    check_mean_max_cosine(mean_max_cosine)
    unit = lambda a: a / a.norm(dim=1, keepdim=True)  # noqa: E731
    with pytest.raises(AssertionError, match="TRUE feature"):
        check_mean_max_cosine(lambda t, d: (unit(t) @ unit(d).T).max(0).values.mean().item())
    with pytest.raises(AssertionError, match="sign"):
        check_mean_max_cosine(lambda t, d: (unit(t) @ unit(d).T).abs().max(1).values.mean().item())
    with pytest.raises(AssertionError, match="normalise"):
        check_mean_max_cosine(lambda t, d: (t @ d.T).max(1).values.mean().item())
    assert "✓" in capsys.readouterr().out


def test_the_kits_sae_recovers_a_small_toys_features(tmp_path):
    """A smaller toy than the notebook's (30 features in 10 dims): the trainer finds its directions."""
    cfg = ToyConfig(sae_toy_features=30, sae_toy_hidden=10, sae_toy_sparsity=0.95, sae_n_features=60,
                    sae_n_acts=600_000, steps=1500)
    from monosem_lib.toy.train import ground_truth_config
    model = load_or_train_toy(tmp_path / "gt.safetensors", ground_truth_config(cfg), cfg.steps, cfg.lr, 0)
    again = load_or_train_toy(tmp_path / "gt.safetensors", ground_truth_config(cfg), cfg.steps, cfg.lr, 0)
    assert torch.equal(model.W, again.W)                                          # cached, checksum-checked
    true = true_directions(model)
    sae, hist = train_toy_sae(tmp_path / "sae", model, cfg)
    mmcs, mcc = mean_max_cosine(true, sae.W_dec.detach()), matched_cosine(true, sae.W_dec.detach())[0]
    chance = mean_max_cosine(true, random_directions(true, cfg.sae_n_features))
    assert len(true) >= 25 and mmcs > 0.9 and mcc > 0.85 and mmcs > chance + 0.2, (len(true), mmcs, mcc, chance)


def test_toy_settings_are_checked():
    with pytest.raises(ValueError, match="toy.d_hidden"):
        get_config("smoke", {"toy.d_hidden": 40})
    with pytest.raises(ValueError, match="toy.sparsities"):
        get_config("smoke", {"toy.sparsities": [0.5, 1.5]})
