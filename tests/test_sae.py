import dataclasses
import warnings

import pytest
import torch

from monosem_lib import train_sae as ts
from monosem_lib.config import SAEConfig, get_config
from monosem_lib.io import load_tensors
from monosem_lib.metrics import (ablation_losses, density_stats, loss_recovered, sae_hook, sae_stats,
                                 scorecard_entries, topk_neuron_baseline)
from monosem_lib.model import TinyLM
from monosem_lib.sae import SAE, geometric_median, load_sae, sae_grads, sae_loss, save_sae
from monosem_lib.synthetic import SyntheticActs
from monosem_lib.train_sae import (init_sae, make_optimizer, resample, train_densities, train_sae,
                                   train_sae_on_store, train_step, validate)
from tests.helpers import TINY_LM

D = 32


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: threads only add OpenMP wake-ups (very slow on a shared, busy CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DATA = SyntheticActs(d_mlp=D, n_true=96, per_token=2.0, width=4, seed=0)
CFG = SAEConfig(n_features=64, l1_coeff=0.003, lr=3e-3, batch_size=64, n_acts=64 * 24, resample_pool=256,
                resample_at=(0.25, 0.5, 0.75), resample_window=0.2)


def _batches(cfg=CFG):
    return lambda start: DATA.batches(cfg.batch_size, cfg.n_acts // cfg.batch_size, start)


def _sae(recipe="paper", n=64, seed=0):
    cfg = dataclasses.replace(CFG, n_features=n, seed=seed, resample="2024" if recipe == "2024" else "paper")
    sae = init_sae(D, cfg, DATA.sample(512, seed=1))
    with torch.no_grad():
        sae.b_enc.fill_(-0.05 if recipe == "paper" else -0.2)      # sparse-ish, as after some training
    return sae


def _perfect_sae(d=D):
    """W_enc = W_dec = [I; -I], biases 0: x̂ = ReLU(x) - ReLU(-x) = x exactly."""
    sae = SAE(d, 2 * d)
    eye = torch.eye(d)
    with torch.no_grad():
        for p in (sae.W_enc, sae.W_dec):
            p.copy_(torch.cat([eye, -eye]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_encode_decode_are_the_papers_equations():
    sae = _sae()
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
    sae = _sae(recipe)
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


@pytest.mark.parametrize("recipe", ["paper", "2024"])
def test_sparse_steps_track_the_autograd_reference(recipe, monkeypatch):
    monkeypatch.setattr(ts, "SPARSE_BELOW", 1.1)          # force the sparse path from the first step
    a = _sae(recipe)
    b = _sae(recipe)
    opt_a, opt_b = make_optimizer(a, 1e-3), make_optimizer(b, 1e-3)
    for k in range(5):
        x = DATA.batch(k, 64) * a.scale
        out_a = train_step(a, opt_a, x, 0.01, "auto", density=0.0)
        out_b = train_step(b, opt_b, x, 0.01, "reference")
        assert abs(out_a["loss"].item() - out_b["loss"].item()) <= 1e-5 * out_b["loss"].item()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert (pa - pb).abs().max() <= 1e-5 * pb.abs().max()


def test_gradient_projection_keeps_decoder_rows_at_unit_norm():
    sae = _sae()
    opt = make_optimizer(sae, 1e-2)
    for k in range(5):
        sae_grads(sae, DATA.batch(k, 64), 0.01, sparse=True)
        sae.project_decoder_grad()
        assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-6   # no component along the row
        opt.step()
        sae.normalize_decoder()
        assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-5)


def _trained_opt(sae):
    opt = make_optimizer(sae, 1e-3)
    for k in range(3):
        train_step(sae, opt, DATA.batch(k, 64), 0.01)
    return opt


def test_paper_resampling_sets_rows_and_resets_exactly_their_adam_state():
    sae = _sae()
    opt = _trained_opt(sae)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[[3, 10, 40]] = True
    before = {k: p.detach().clone() for k, p in sae.named_parameters()}
    moments = {k: {m: opt.state[p][m].clone() for m in ("exp_avg", "exp_avg_sq")} for k, p in sae.named_parameters()}
    alive_norm = sae.W_enc[~dead].norm(dim=1).mean()
    pool = DATA.sample(256, seed=5)
    assert resample(sae, opt, dead, pool, 0.01, "paper", seed=0) == 3
    # decoder row = a pool input at unit norm; encoder row = the same direction at 0.2 x mean alive norm
    dirs = pool / pool.norm(dim=1, keepdim=True).clamp_min(1e-8)
    for i in (3, 10, 40):
        assert torch.allclose(sae.W_dec[i].norm(), torch.tensor(1.0), atol=1e-6)
        assert (dirs @ sae.W_dec[i]).max() > 1 - 1e-5
        assert torch.allclose(sae.W_enc[i], 0.2 * alive_norm * sae.W_dec[i], atol=1e-6)
        assert sae.b_enc[i] == 0
    for k, p in sae.named_parameters():
        rows = dead if k in ("W_enc", "W_dec", "b_enc") else torch.zeros(len(p), dtype=torch.bool)
        assert torch.equal(p[~rows], before[k][~rows]), k
        for m in ("exp_avg", "exp_avg_sq"):
            state = opt.state[p][m]
            assert torch.equal(state[~rows], moments[k][m][~rows]), (k, m)
            assert (state[rows] == 0).all(), (k, m)
            assert k == "b_dec" or (moments[k][m][rows] != 0).any(), (k, m)


def test_resampling_prefers_high_loss_inputs():
    sae = _sae()
    opt = _trained_opt(sae)
    pool = torch.cat([DATA.sample(255, seed=2), 50 * torch.ones(1, D)])   # one input with a huge loss
    dead = torch.zeros(64, dtype=torch.bool)
    dead[0] = True
    resample(sae, opt, dead, pool, 0.01, "paper", seed=0)
    assert torch.allclose(sae.W_dec[0], torch.ones(D) / D ** 0.5, atol=1e-5)


def test_reinit_resampling_changes_only_dead_rows():
    sae = _sae()
    opt = _trained_opt(sae)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[5] = True
    w_before = sae.W_enc.detach().clone()
    assert resample(sae, opt, dead, DATA.sample(64), 0.01, "reinit", seed=0) == 1
    assert not torch.equal(sae.W_enc[5], w_before[5]) and torch.equal(sae.W_enc[6:], w_before[6:])
    assert (opt.state[sae.W_dec]["exp_avg"][5] == 0).all()


def test_bad_settings_are_one_line_errors():
    for field, value, msg in [("l1_coeff", -1.0, "l1_coeff"), ("l1_coeff", float("nan"), "l1_coeff"),
                              ("lr", 0.0, "lr"), ("lr", 5.0, "lr"), ("n_features", 0, "n_features"),
                              ("resample", "kaiming", "resample"), ("n_acts", 10, "n_acts")]:
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
        train_sae(tmp_path / "s", poisoned, D, CFG, DATA.sample(512), ckpt_every=4)
    assert (tmp_path / "s" / "checkpoints" / "step_0000007.safetensors").exists()
    assert not (tmp_path / "s" / "sae.safetensors").exists()


@pytest.mark.parametrize("pool", ["pool_fn", "stream"])
def test_resume_after_kill_equals_uninterrupted_run(tmp_path, pool):
    pool_fn = (lambda n, seed: DATA.sample(n, seed)) if pool == "pool_fn" else None
    _, full = train_sae(tmp_path / "full", _batches(), D, CFG, DATA.sample(512), pool_fn=pool_fn, ckpt_every=4)
    # killed after step 10, between checkpoints and inside the pool window before the step-12 resampling
    train_sae(tmp_path / "res", _batches(), D, CFG, DATA.sample(512), pool_fn=pool_fn, ckpt_every=4, stop_after=10)
    _, hist = train_sae(tmp_path / "res", _batches(), D, CFG, DATA.sample(512), pool_fn=pool_fn, ckpt_every=4)
    a, b = load_tensors(tmp_path / "full" / "sae.safetensors"), load_tensors(tmp_path / "res" / "sae.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert hist["loss"] == full["loss"] and hist["resample"] == full["resample"]
    assert [e["step"] for e in hist["resample"]] == [6, 12, 18]
    assert len(hist["step"]) == len(hist["dead"]) == len(hist["l0"]) and hist["acts_per_s"] > 0


def test_training_learns(tmp_path):
    cfg = dataclasses.replace(CFG, n_acts=64 * 60, n_features=256, l1_coeff=0.05, lr=1e-2)
    sae, hist = train_sae(tmp_path / "p", _batches(cfg), D, cfg, DATA.sample(512))
    stats = sae_stats(sae, DATA.sample(2000, seed=7))
    assert hist["loss"][-1] < 0.2 * hist["loss"][0] and stats["fvu"] < 0.5 and 0 < stats["l0"] < 20


def test_paper_resampling_revives_dead_features(tmp_path):
    cfg = dataclasses.replace(CFG, n_acts=64 * 60, n_features=256, l1_coeff=0.2, lr=1e-2)
    out = {}
    for strategy in ("paper", "none"):
        c = dataclasses.replace(cfg, resample=strategy)
        sae, hist = train_sae(tmp_path / strategy, _batches(c), D, c, DATA.sample(512))
        out[strategy] = (hist, sae_stats(sae, DATA.sample(2000, seed=7)))
    hist = out["paper"][0]
    assert [e["step"] for e in hist["resample"]] == [15, 30, 45] and sum(e["n_resampled"] for e in hist["resample"]) > 0
    assert out["paper"][1]["dead_frac"] < 0.6 * out["none"][1]["dead_frac"]


def test_2024_recipe_scale_schedule_and_round_trip(tmp_path):
    cfg = dataclasses.replace(CFG, resample="2024", l1_coeff=0.01)
    sample = DATA.sample(512)
    sae, hist = train_sae(tmp_path / "n", _batches(cfg), D, cfg, sample)
    assert abs((sample * sae.scale).pow(2).sum(1).mean().item() - D) < 1e-2 * D
    assert hist["resample"] == [] and hist["lr"][-1] < cfg.lr
    lr_l1 = [ts.lr_l1_at(k, 100, cfg) for k in range(100)]     # λ warm-up 5%, LR cool-down last 20%
    assert lr_l1[0][1] == cfg.l1_coeff / 5 and lr_l1[4][1] == lr_l1[50][1] == cfg.l1_coeff
    assert lr_l1[79][0] == cfg.lr and lr_l1[90][0] == cfg.lr / 2 and lr_l1[99][0] == cfg.lr / 20
    loaded = load_sae(tmp_path / "n")
    assert loaded.recipe == "2024" and torch.equal(loaded.scale, sae.scale)
    x = DATA.batch(99, 8)
    assert torch.allclose(loaded(x), sae(x)) and torch.allclose(loaded.encode(x), sae.encode(x))


def test_save_load_round_trip(tmp_path):
    sae = _sae()
    save_sae(sae, tmp_path / "s", extra={"note": 1})
    loaded = load_sae(tmp_path / "s" / "sae.safetensors")
    x = DATA.batch(0, 8)
    assert torch.equal(loaded.encode(x), sae.encode(x)) and loaded.arch == sae.arch
    with pytest.raises(FileNotFoundError, match="03_train_sae"):
        load_sae(tmp_path / "nothing")


def test_feature_statistics():
    x = torch.rand(1000, D) + 0.1                       # all positive
    stats = sae_stats(_perfect_sae(), x)
    assert stats["mse"] < 1e-10 and stats["fvu"] < 1e-8 and stats["l0"] == D
    # features 0..31 (positive half) always fire; 32..63 never: half dead, none ultralow
    assert stats["dead_frac"] == 0.5 and stats["ultralow_frac"] == 0 and stats["above_1pct_frac"] == 0.5
    x[0, 0] = -1.0                                      # the negative copy of neuron 0 fires exactly once
    stats = sae_stats(_perfect_sae(), x)
    assert stats["ultralow_frac"] == 1 / 64 and stats["dead_frac"] == 31 / 64


def test_loss_recovered_is_one_for_a_perfect_sae_and_zero_for_zero_ablation():
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    windows = torch.randint(0, TINY_LM.vocab_size, (4, TINY_LM.n_ctx + 1))
    acts = lm.mlp_acts(windows[:, :-1])
    base = ablation_losses(lm, windows, mean_act=acts.flatten(0, 1).mean(0))
    perfect = loss_recovered(lm, windows, sae_hook(_perfect_sae(TINY_LM.d_mlp)), base)
    assert abs(perfect["loss_recovered"] - 1) < 1e-4 and abs(perfect["loss_recovered_mean_ablation"] - 1) < 1e-4
    off = _perfect_sae(TINY_LM.d_mlp)
    with torch.no_grad():
        off.b_enc.fill_(-1e6)                           # no feature fires: x̂ = b_dec = 0, the zero ablation
    assert abs(loss_recovered(lm, windows, sae_hook(off), base)["loss_recovered"]) < 1e-6
    top = topk_neuron_baseline(lm, windows, acts.flatten(0, 1), k=TINY_LM.d_mlp, base=base)
    assert abs(top["loss_recovered"] - 1) < 1e-4 and top["fvu"] < 1e-10
    top1 = topk_neuron_baseline(lm, windows, acts.flatten(0, 1), k=1, base=base)
    assert top1["l0"] <= 1 and top1["fvu"] > 0
    card = scorecard_entries("A", sae_stats(_perfect_sae(TINY_LM.d_mlp), acts.flatten(0, 1)), perfect, 1e4)
    assert card["sae.A.loss_recovered"] == perfect["loss_recovered"] and "sae.A.dead_frac" in card


def test_no_warnings_from_the_sparse_path():
    sae = _sae()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sae_grads(sae, DATA.batch(0, 64), 0.01, sparse=True)


def test_normalize_off_trains_on_raw_activations():
    sae = init_sae(D, dataclasses.replace(CFG, normalize=False), DATA.sample(512))
    assert sae.scale == 1


class FakeStore:
    """The activation store's reading API (monosem_lib.activations), on synthetic rows."""
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


def test_synthetic_acts_resemble_relu_activations():
    x = SyntheticActs(seed=1).batch(0, 2048)
    assert x.shape == (2048, 512) and (x >= 0).all() and 0.03 < (x > 0).float().mean() < 0.1
    assert torch.equal(x, SyntheticActs(seed=1).batch(0, 2048))
