"""SAE training: steps, schedule, settings, checkpoints and resume, both recipes."""
import dataclasses
import warnings

import pytest
import torch

from monosem_lib.config import get_config
from monosem_lib.io import load_tensors
from monosem_lib.sae import step
from monosem_lib.sae import train as ts
from monosem_lib.sae.metrics import (
    density_stats,
    sae_stats,
    scorecard_entries,
)
from monosem_lib.sae.grads import sae_grads
from monosem_lib.sae.model import load_sae
from monosem_lib.sae.step import init_sae, make_optimizer, train_step
from monosem_lib.sae.train import TrainOptions, train_sae, validate
from monosem_lib.sae.jobs import train_densities, train_sae_on_store
from tests.sae.common import CFG, DATA, D, batches_for, make_sae


@pytest.mark.parametrize("recipe", ["paper", "2024"])
def test_sparse_steps_track_the_autograd_reference(recipe, monkeypatch):
    monkeypatch.setattr(step, "SPARSE_BELOW", 1.1)          # force the sparse path from the first step
    a = make_sae(recipe)
    b = make_sae(recipe)
    opt_a, opt_b = make_optimizer(a, 1e-3), make_optimizer(b, 1e-3)
    for k in range(5):
        x = DATA.batch(k, 64) * a.scale
        out_a = train_step(a, opt_a, x, 0.01, "auto", density=0.0)
        out_b = train_step(b, opt_b, x, 0.01, "reference")
        assert abs(out_a["loss"].item() - out_b["loss"].item()) <= 1e-5 * out_b["loss"].item()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert (pa - pb).abs().max() <= 1e-5 * pb.abs().max()


def test_gradient_projection_keeps_decoder_rows_at_unit_norm():
    sae = make_sae()
    opt = make_optimizer(sae, 1e-2)
    for k in range(5):
        sae_grads(sae, DATA.batch(k, 64), 0.01, sparse=True)
        sae.recipe.constrain_grads(sae)
        assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-6   # no component along the row
        opt.step()
        sae.recipe.constrain_weights(sae)
        assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-5)


def test_bad_settings_are_one_line_errors():
    for field, value, msg in [("l1_coeff", -1.0, "l1_coeff"), ("l1_coeff", float("nan"), "l1_coeff"),
                              ("lr", 0.0, "lr"), ("lr", 5.0, "lr"), ("n_features", 0, "n_features"),
                              ("recipe", "kaiming", "recipe"), ("resampling", "2024", "resampling"), ("n_acts", 10, "n_acts")]:
        with pytest.raises(ValueError, match=msg) as err:
            validate(dataclasses.replace(CFG, **{field: value}))
        assert "\n" not in str(err.value)


def test_profiles_validate():
    for profile in ("smoke", "classroom", "paper"):
        validate(get_config(profile).sae)


def test_nan_loss_stops_names_the_step_and_keeps_the_last_checkpoint(tmp_path):
    def poisoned(start):
        for k, x in enumerate(DATA.batches(64, 24, start), start):
            yield x * float("nan") if k == 9 else x
    with pytest.raises(FloatingPointError, match=r"at step 9; the last good checkpoint step_0000007"):
        train_sae(tmp_path / "s", poisoned, D, CFG, DATA.sample(512), opts=TrainOptions(ckpt_every=4))
    assert (tmp_path / "s" / "checkpoints" / "step_0000007.safetensors").exists()
    assert not (tmp_path / "s" / "sae.safetensors").exists()


@pytest.mark.parametrize("pool", ["pool_fn", "stream"])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, pool):
    pool_fn = (lambda n, seed: DATA.sample(n, seed)) if pool == "pool_fn" else None
    _, full = train_sae(tmp_path / "full", batches_for(), D, CFG, DATA.sample(512), pool_fn=pool_fn, opts=TrainOptions(ckpt_every=4))
    # killed after step 10, between checkpoints and inside the pool window before the step-12 resampling
    train_sae(tmp_path / "res", batches_for(), D, CFG, DATA.sample(512), pool_fn=pool_fn, opts=TrainOptions(ckpt_every=4, stop_after=10))
    _, hist = train_sae(tmp_path / "res", batches_for(), D, CFG, DATA.sample(512), pool_fn=pool_fn, opts=TrainOptions(ckpt_every=4))
    a, b = load_tensors(tmp_path / "full" / "sae.safetensors"), load_tensors(tmp_path / "res" / "sae.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert hist["loss"] == full["loss"] and hist["resample"] == full["resample"]
    assert [e["step"] for e in hist["resample"]] == [6, 12, 18]
    assert len(hist["step"]) == len(hist["dead"]) == len(hist["l0"]) and hist["acts_per_s"] > 0


def test_training_learns(tmp_path):
    cfg = dataclasses.replace(CFG, n_acts=64 * 60, n_features=256, l1_coeff=0.05, lr=1e-2)
    sae, hist = train_sae(tmp_path / "p", batches_for(cfg), D, cfg, DATA.sample(512))
    stats = sae_stats(sae, DATA.sample(2000, seed=7))
    assert hist["loss"][-1] < 0.2 * hist["loss"][0] and stats["fvu"] < 0.5 and 0 < stats["l0"] < 20


def test_2024_recipe_scale_schedule_and_round_trip(tmp_path):
    cfg = dataclasses.replace(CFG, recipe="2024", l1_coeff=0.01)
    sample = DATA.sample(512)
    sae, hist = train_sae(tmp_path / "n", batches_for(cfg), D, cfg, sample)
    assert abs((sample * sae.scale).pow(2).sum(1).mean().item() - D) < 1e-2 * D
    assert hist["resample"] == [] and hist["lr"][-1] < cfg.lr
    lr_l1 = [ts.lr_l1_at(k, 100, cfg) for k in range(100)]     # λ warm-up 5%, LR cool-down last 20%
    assert lr_l1[0][1] == cfg.l1_coeff / 5 and lr_l1[4][1] == lr_l1[50][1] == cfg.l1_coeff
    assert lr_l1[79][0] == cfg.lr and lr_l1[90][0] == cfg.lr / 2 and lr_l1[99][0] == cfg.lr / 20
    loaded = load_sae(tmp_path / "n")
    assert loaded.recipe.name == "2024" and torch.equal(loaded.scale, sae.scale)
    x = DATA.batch(99, 8)
    assert torch.allclose(loaded(x), sae(x)) and torch.allclose(loaded.encode(x), sae.encode(x))


def test_no_warnings_from_the_sparse_path():
    sae = make_sae()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sae_grads(sae, DATA.batch(0, 64), 0.01, sparse=True)


def test_normalize_off_trains_on_raw_activations():
    sae = init_sae(D, dataclasses.replace(CFG, normalize=False), DATA.sample(512))
    assert sae.scale == 1


class FakeStore:
    """The activation store's reading API (monosem_lib.harvest.activations), on synthetic rows."""
    d_mlp, n_rows = D, 64 * 24

    def iter_batches(self, batch_size, seed=0, epochs=1, device="cpu", start_batch=0):
        return DATA.batches(batch_size, self.n_rows // batch_size, start_batch)

    def sample(self, n, seed=0, device="cpu"):
        return DATA.sample(n, seed)


def test_train_on_store_and_training_densities(tmp_path):
    sae, hist = train_sae_on_store(FakeStore(), tmp_path / "s", CFG)
    counts, n = train_densities(tmp_path / "s")
    assert n == 6 * 64 and counts.shape == (64,) and counts.sum() > 0
    dens = density_stats(counts, n)
    assert 0 <= dens["dead_frac"] <= 1 and torch.allclose(dens["density"], counts.double() / n)
    stats = sae_stats(sae, DATA.sample(500, seed=3))
    card = scorecard_entries("A", stats, {"loss_recovered": 0.9}, densities=dens)
    assert card["sae.A.dead_frac"] == dens["dead_frac"] and card["sae.A.heldout_dead_frac"] == stats["dead_frac"]


def test_notebook_plan_names_every_sae_of_notebook_03():
    from monosem_lib.config import get_config
    from monosem_lib.sae.jobs import notebook_plan
    cfg = get_config("classroom").sae
    plan = notebook_plan(cfg)
    assert list(plan["main"]) == ["A", "B"] and plan["main"]["A"] == ("A", cfg)
    assert set(plan["sweep"]) == {f"A_{n}" for n in cfg.sweep_sizes}
    assert {(c.recipe, c.resampling) for _, c in plan["ablation"].values()} == {("paper", "paper"), ("paper", "none"), ("paper", "reinit"), ("2024", "auto")}
    lam = {cfg.recipe: cfg.l1_coeff, cfg.alt_recipe: cfg.alt_l1_coeff}         # each recipe its own λ
    assert plan["ablation"]["ablation_2024"][1].l1_coeff == lam["2024"]
    assert plan["ablation"]["ablation_paper"][1].l1_coeff == lam["paper"]
    assert plan["controls"]["alt_B"] == ("B", dataclasses.replace(cfg, recipe=cfg.alt_recipe, resampling="auto",
                                                                           l1_coeff=cfg.alt_l1_coeff,
                                                                           n_acts=cfg.side_n_acts))
    assert plan["controls"]["topk_A"][1].n_acts == cfg.side_n_acts < cfg.n_acts      # the minutes go to the main
    assert plan["controls"]["A_seed1"][1].n_acts == plan["controls"]["random"][1].n_acts == cfg.n_acts
    assert plan["controls"]["random"][0] == "random" and plan["controls"]["A_seed1"][1].seed == cfg.seed + 1
    assert "A_seed1" not in notebook_plan(dataclasses.replace(cfg, controls=False))["controls"]
