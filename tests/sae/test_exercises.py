"""Notebook 03's exercise checks: the shipped solutions pass, each deliberate mistake fails naming the step."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from monosem_lib.sae.exercises import check_resample, check_top_feature, check_train_step  # noqa: E402
from monosem_lib.sae.metrics import (  # noqa: E402
    density_resolution,
    density_stats,
    feature_acts,
    history_at,
    mean_feature_acts,
    side_entries,
)
from monosem_lib.sae.grads import sae_loss  # noqa: E402
from monosem_lib.sae.plots import plot_resampling_ablation, plot_sae_comparison  # noqa: E402
from monosem_lib.sae.resampling import per_input_loss  # noqa: E402
from tests.sae.common import DATA, make_sae  # noqa: E402

L1, LR = 0.01, 1e-3


def batch(sae, n=256, seed=3):
    return DATA.sample(n, seed=seed) * sae.scale


def train_step_variant(project=True, renorm=True, step=True):
    """The notebook's training step, with one piece optionally left out."""
    def fn(sae, opt, x, l1_coeff):
        opt.zero_grad(set_to_none=True)
        sae_loss(sae, x, l1_coeff)[0].backward()
        if project:
            with torch.no_grad():
                g, w = sae.W_dec.grad, sae.W_dec
                g -= (g * w).sum(1, keepdim=True) * w
        if step:
            opt.step()
        if renorm:
            with torch.no_grad():
                sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)
    return fn


def test_the_shipped_training_step_matches_the_library(capsys):
    sae = make_sae()
    check_train_step(train_step_variant(), sae, batch(sae), L1, LR)
    assert capsys.readouterr().out.startswith("✓ matches the library's train_step")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_training_step_check_is_stable_across_states(seed):
    sae = make_sae(seed=seed)
    check_train_step(train_step_variant(), sae, batch(sae, seed=10 + seed), L1, LR)


@pytest.mark.parametrize("kwargs, words", [
    ({"project": False}, "parallel to the row was not removed"),
    ({"renorm": False}, "renormalise them after opt.step()"),
    ({"project": False, "renorm": False}, "parallel to the row was not removed.*renormalise them"),
    ({"step": False}, "call opt.step()"),
])
def test_a_training_step_missing_a_piece_fails_naming_it(kwargs, words):
    sae = make_sae()
    with pytest.raises(AssertionError, match=r"^✗ .*" + words.replace("()", r"\(\)")):
        check_train_step(train_step_variant(**kwargs), sae, batch(sae), L1, LR)


def test_a_training_step_on_stale_gradients_fails():
    def no_zero_grad(sae, opt, x, l1_coeff):
        sae_loss(sae, x, l1_coeff)[0].backward()          # adds to the warm-up's gradients
        with torch.no_grad():
            g, w = sae.W_dec.grad, sae.W_dec
            g -= (g * w).sum(1, keepdim=True) * w
        opt.step()
        with torch.no_grad():
            sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)
    sae = make_sae()
    with pytest.raises(AssertionError, match="zero the old gradients"):
        check_train_step(no_zero_grad, sae, batch(sae), L1, LR)


def resample_variant(bias=True, adam=True, picks="loss", all_moments=False):
    """The notebook's resampling rule, with one piece optionally wrong or left out."""
    @torch.no_grad()
    def fn(sae, opt, dead, pool, l1_coeff, seed):
        idx = dead.nonzero().squeeze(1)
        p = per_input_loss(sae, pool, l1_coeff).double() ** 2 if picks == "loss" else torch.ones(len(pool))
        gen = torch.Generator().manual_seed(seed)
        x = pool[torch.multinomial(p, len(idx), generator=gen)]
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
        sae.W_enc[idx] = 0.2 * sae.W_enc[~dead].norm(dim=1).mean() * x
        sae.W_dec[idx] = x
        if bias:
            sae.b_enc[idx] = 0.0
        if adam:
            for param in (sae.W_enc, sae.W_dec, sae.b_enc):
                for m in ("exp_avg", "exp_avg_sq"):
                    if all_moments:
                        opt.state[param][m].zero_()
                    else:
                        opt.state[param][m][idx] = 0.0
        return len(idx)
    return fn


def test_the_shipped_resampling_rule_matches_the_library(capsys):
    sae = make_sae()
    check_resample(resample_variant(), sae, DATA.sample(512, seed=7) * sae.scale, L1, LR, seed=4)
    assert capsys.readouterr().out.startswith("✓ matches the library's resample on 3 dead features")


def test_a_missing_encoder_bias_reset_fails_alone():
    sae = make_sae()
    with pytest.raises(AssertionError) as err:
        check_resample(resample_variant(bias=False), sae, DATA.sample(512, seed=7) * sae.scale, L1, LR)
    msg = str(err.value)
    assert "encoder biases of the resampled features are left as they were: reset b_enc[dead] = 0" in msg
    assert "Adam" not in msg and "decoder" not in msg


def test_a_missing_adam_reset_fails_alone():
    sae = make_sae()
    with pytest.raises(AssertionError) as err:
        check_resample(resample_variant(adam=False), sae, DATA.sample(512, seed=7) * sae.scale, L1, LR)
    msg = str(err.value)
    assert "Adam moments not reset at the dead rows" in msg
    assert all(f"{p}.{m}" in msg for p in ("W_enc", "W_dec", "b_enc") for m in ("exp_avg", "exp_avg_sq"))
    assert "encoder bias" not in msg


def test_both_resets_missing_are_both_named():
    sae = make_sae()
    with pytest.raises(AssertionError, match="b_enc\\[dead\\] = 0.*Adam moments not reset"):
        check_resample(resample_variant(bias=False, adam=False), sae, DATA.sample(512, seed=7) * sae.scale, L1, LR)


def test_uniform_picks_and_wiping_all_moments_fail():
    sae = make_sae()
    pool = DATA.sample(512, seed=7) * sae.scale
    with pytest.raises(AssertionError, match="other pool inputs than the library"):
        check_resample(resample_variant(picks="uniform"), sae, pool, L1, LR)
    with pytest.raises(AssertionError, match="Adam moments of alive features changed"):
        check_resample(resample_variant(all_moments=True), sae, pool, L1, LR)


def test_top_feature_check():
    sae, x = make_sae(), DATA.sample(300, seed=2)
    best = int(sae.encode(x).mean(0).argmax())
    assert check_top_feature(None, sae, x) is None
    check_top_feature(best, sae, x)                       # raises if wrong
    with pytest.raises(AssertionError, match=f"feature {best} has the largest"):
        check_top_feature((best + 1) % sae.n_features, sae, x)


def test_chunked_feature_activations_match_a_dense_encode():
    sae, x = make_sae(), DATA.sample(300, seed=2)
    f = sae.encode(x)
    assert torch.allclose(mean_feature_acts(sae, x, chunk=64), f.mean(0), atol=1e-6)
    assert torch.allclose(feature_acts(sae, x, 5, chunk=64), f[:, 5])


def test_density_resolution_beside_the_paper():
    r = density_resolution(100_000)
    assert r["resolution"] == pytest.approx(1e-5)
    assert r["dead_coarser"] == pytest.approx(1000) and r["ultralow_coarser"] == pytest.approx(10)
    assert "100,000" in r["dead_note"] and "1e-06" in r["ultralow_note"]
    assert density_resolution(10_000_000)["ultralow_below"] == 1e-6    # past 1e6 tokens the paper's bound rules
    # the same threshold as density_stats: a feature firing once in n is ultralow
    assert density_stats(torch.tensor([0, 1, 2]), 100_000)["ultralow_frac"] == pytest.approx(1 / 3)


def test_history_at_and_side_entries():
    h = {"step": [0, 4, 9], "loss": [3, 2, 1], "mse": [.3, .2, .1], "l0": [30, 20, 10], "dead": [0, 1, 2]}
    assert history_at(h, 5) == {"step": 4, "loss": 2, "mse": .2, "l0": 20, "dead": 1}
    assert history_at(h, 100)["step"] == 9
    e = {"l0": 5.0, "fvu": .3, "loss_recovered": .9, "train_dead_frac": .1}
    out = side_entries([(64, 1000, e)], {"paper": e})
    assert out == {"sae.sweep.64.n_acts": 1000, "sae.sweep.64.l0": 5.0, "sae.sweep.64.fvu": .3,
                   "sae.sweep.64.loss_recovered": .9, "sae.ablation.paper.dead_frac": .1,
                   "sae.ablation.paper.l0": 5.0, "sae.ablation.paper.loss_recovered": .9}


def test_the_new_figures_draw_every_run():
    h = {"step": [0, 1, 2], "dead": [0, 3, 5]}
    e = {"loss_recovered": 0.8, "l0": 12.0}
    axes = plot_resampling_ablation({"paper": h, "none": h}, {"paper": e, "none": e}, n_features=10)
    assert len(axes[0].lines) == 2 and len(axes[1].patches) == 2
    s, d = {"l0": 10.0, "fvu": 0.2}, {"dead_frac": 0.1}
    axes = plot_sae_comparison({"A": (s, e, d), "B": (s, e, d)})
    assert len(axes[0].collections) == 2 and len(axes[2].patches) == 2
    plt.close("all")


def test_an_encoder_row_scaled_by_the_mean_of_all_features_fails():
    @torch.no_grad()
    def all_features_mean(sae, opt, dead, pool, l1_coeff, seed):
        resample_variant()(sae, opt, dead, pool, l1_coeff, seed)
        sae.W_enc[dead] = 0.2 * sae.W_enc.norm(dim=1).mean() * sae.W_dec[dead]     # dead rows included
    sae = make_sae()
    with pytest.raises(AssertionError, match="0.2 × mean ‖W_enc‖ of the alive features"):
        check_resample(all_features_mean, sae, DATA.sample(512, seed=7) * sae.scale, L1, LR)
