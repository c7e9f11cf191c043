"""TopK and BatchTopK SAEs: exact gradients, k active features, θ for inference, AuxK, resume, round trip."""
import dataclasses

import pytest
import torch

from monosem_lib.config import get_config
from monosem_lib.io import load_tensors
from monosem_lib.sae import step as ts
from monosem_lib.sae.metrics import sae_stats
from monosem_lib.sae.grads import sae_grads, sae_loss
from monosem_lib.sae.model import SAE, load_sae
from monosem_lib.sae.step import init_sae, make_optimizer, train_step
from monosem_lib.sae.train import TrainOptions, train_sae
from tests.sae.common import CFG, D, DATA, batches_for

TOPK = dataclasses.replace(CFG, recipe="topk", k=4, n_features=128, n_acts=64 * 60, lr=3e-3)


@pytest.mark.parametrize("recipe", ["topk", "batchtopk"])
@pytest.mark.parametrize("sparse", [False, True])
def test_manual_gradients_equal_autograd(recipe, sparse):
    sae = SAE(D, 96, recipe, seed=1, k=5)
    x = DATA.batch(3, 64)
    out = sae_grads(sae, x, 0.0, sparse)
    manual = {n: p.grad.clone() for n, p in sae.named_parameters()}
    for p in sae.parameters():
        p.grad = None
    loss, _, f = sae_loss(sae, x, 0.0)
    loss.backward()
    assert abs(out["loss"].item() - loss.item()) < 1e-6
    for n, p in sae.named_parameters():
        assert (manual[n] - p.grad).abs().max() <= 1e-5 * max(p.grad.abs().max().item(), 1e-6), n
    if recipe == "topk":
        assert ((f > 0).sum(1) <= 5).all() and out["l0"].item() <= 5
    else:
        assert (f > 0).sum().item() <= 5 * 64


def test_topk_is_sparse_from_the_first_step_and_keeps_unit_decoder_rows(monkeypatch):
    seen = []
    real = ts.sae_grads
    monkeypatch.setattr(ts, "sae_grads", lambda *a, **k: seen.append(k["sparse"]) or real(*a, **k))
    sae = init_sae(D, TOPK, DATA.sample(512))
    assert torch.equal(sae.W_enc, sae.W_dec)                      # encoder = decoder transposed at init
    opt = make_optimizer(sae, TOPK.lr)
    density = TOPK.k / TOPK.n_features                            # what the trainer passes after step 1
    for k in range(3):
        out = train_step(sae, opt, DATA.batch(k, 64) * sae.scale, 0.0, "auto", density)
        density = out["density"]
    assert seen == [True, True, True]
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(TOPK.n_features), atol=1e-5)


def test_topk_training_learns_with_exactly_k_features(tmp_path):
    sae, hist = train_sae(tmp_path / "t", batches_for(TOPK), D, TOPK, DATA.sample(512))
    stats = sae_stats(sae, DATA.sample(2000, seed=7))
    assert hist["resample"] == [] and hist["l1_coeff"][-1] == 0.0
    assert stats["l0"] <= TOPK.k and stats["l0"] > 0.8 * TOPK.k and stats["fvu"] < 0.5
    assert hist["mse"][-1] < 0.5 * hist["mse"][0]


def test_batchtopk_learns_a_threshold_that_gives_about_k_at_inference(tmp_path):
    cfg = dataclasses.replace(TOPK, recipe="batchtopk")
    sae, _ = train_sae(tmp_path / "b", batches_for(cfg), D, cfg, DATA.sample(512))
    assert sae.threshold.item() > 0
    stats = sae_stats(sae, DATA.sample(2000, seed=7))
    assert 0.5 * cfg.k <= stats["l0"] <= 2.0 * cfg.k and stats["fvu"] < 0.5
    loaded = load_sae(tmp_path / "b")
    x = DATA.batch(99, 16)
    assert loaded.recipe.name == "batchtopk" and loaded.arch.k == cfg.k
    assert torch.equal(loaded.threshold, sae.threshold) and torch.allclose(loaded.encode(x), sae.encode(x))


def test_auxk_moves_only_dead_features_encoders_and_reduces_dead_features(tmp_path):
    sae = init_sae(D, TOPK, DATA.sample(512))
    x = DATA.batch(0, 64) * sae.scale
    dead = torch.zeros(TOPK.n_features, dtype=torch.bool)
    dead[:10] = True
    residual = (x - sae.decode_scaled(sae.encode_scaled(x))).detach()
    loss = sae.recipe.aux_grads(sae, x, residual, dead, 1 / 32, 8)
    assert loss.item() > 0
    assert sae.W_enc.grad[10:].abs().max() == 0 and sae.W_enc.grad[:10].abs().max() > 0
    assert sae.W_dec.grad[10:].abs().max() == 0
    assert sae.b_enc.grad[10:].abs().max() == 0
    # optimising AuxK alone, the dead features learn to reconstruct the residual
    opt = torch.optim.Adam([sae.W_enc, sae.b_enc, sae.W_dec], lr=1e-2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        aux = sae.recipe.aux_grads(sae, x, residual, dead, 1.0, 8).item()
        first = first if first is not None else aux
        opt.step()
    assert aux < 0.5 * first


@pytest.mark.parametrize("recipe", ["topk", "batchtopk"])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, recipe):
    cfg = dataclasses.replace(TOPK, recipe=recipe, n_acts=64 * 24)
    train_sae(tmp_path / "full", batches_for(cfg), D, cfg, DATA.sample(512), opts=TrainOptions(ckpt_every=4))
    train_sae(tmp_path / "res", batches_for(cfg), D, cfg, DATA.sample(512), opts=TrainOptions(ckpt_every=4, stop_after=10))
    train_sae(tmp_path / "res", batches_for(cfg), D, cfg, DATA.sample(512), opts=TrainOptions(ckpt_every=4))
    a, b = load_tensors(tmp_path / "full" / "sae.safetensors"), load_tensors(tmp_path / "res" / "sae.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="sae.k=0 is not valid"):
        get_config("smoke", {"sae.k": 0})
    with pytest.raises(ValueError, match="must not exceed sae.n_features"):
        get_config("smoke", {"sae.k": 10_000})
    with pytest.raises(ValueError, match="needs 1 <= k"):
        SAE(8, 16, "topk", k=0)
