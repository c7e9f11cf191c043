"""The paper's neuron resampling rule and the re-init variant."""
import dataclasses

import torch

from monosem_lib.sae.metrics import (
    sae_stats,
)
from monosem_lib.sae.resampling import resample
from monosem_lib.sae.step import make_optimizer, train_step
from monosem_lib.sae.train import train_sae
from tests.sae.common import CFG, DATA, D, batches_for, make_sae


def _trained_opt(sae):
    opt = make_optimizer(sae, 1e-3)
    for k in range(3):
        train_step(sae, opt, DATA.batch(k, 64), 0.01)
    return opt


def test_paper_resampling_sets_rows_and_resets_exactly_their_adam_state():
    sae = make_sae()
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
    sae = make_sae()
    opt = _trained_opt(sae)
    pool = torch.cat([DATA.sample(255, seed=2), 50 * torch.ones(1, D)])   # one input with a huge loss
    dead = torch.zeros(64, dtype=torch.bool)
    dead[0] = True
    resample(sae, opt, dead, pool, 0.01, "paper", seed=0)
    assert torch.allclose(sae.W_dec[0], torch.ones(D) / D ** 0.5, atol=1e-5)


def test_reinit_resampling_changes_only_dead_rows():
    sae = make_sae()
    opt = _trained_opt(sae)
    dead = torch.zeros(64, dtype=torch.bool)
    dead[5] = True
    w_before = sae.W_enc.detach().clone()
    assert resample(sae, opt, dead, DATA.sample(64), 0.01, "reinit", seed=0) == 1
    assert not torch.equal(sae.W_enc[5], w_before[5]) and torch.equal(sae.W_enc[6:], w_before[6:])
    assert (opt.state[sae.W_dec]["exp_avg"][5] == 0).all()


def test_paper_resampling_revives_dead_features(tmp_path):
    cfg = dataclasses.replace(CFG, n_acts=64 * 60, n_features=256, l1_coeff=0.2, lr=1e-2)
    out = {}
    for strategy in ("paper", "none"):
        c = dataclasses.replace(cfg, resampling=strategy)
        sae, hist = train_sae(tmp_path / strategy, batches_for(c), D, c, DATA.sample(512))
        out[strategy] = (hist, sae_stats(sae, DATA.sample(2000, seed=7)))
    hist = out["paper"][0]
    assert [e["step"] for e in hist["resample"]] == [15, 30, 45] and sum(e["n_resampled"] for e in hist["resample"]) > 0
    assert out["paper"][1]["dead_frac"] < 0.6 * out["none"][1]["dead_frac"]
