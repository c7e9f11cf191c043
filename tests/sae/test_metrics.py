"""SAE metrics: densities, L0/FVU, loss recovered against zero ablation."""
import torch

from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.metrics import (
    ablation_losses,
    loss_recovered,
    sae_hook,
    sae_stats,
    scorecard_entries,
    topk_neuron_baseline,
)
from tests.helpers import TINY_LM
from tests.sae.common import D, perfect_sae


def test_feature_statistics():
    x = torch.rand(1000, D) + 0.1                       # all positive
    stats = sae_stats(perfect_sae(), x)
    assert stats["mse"] < 1e-10 and stats["fvu"] < 1e-8 and stats["l0"] == D
    # features 0..31 (positive half) always fire; 32..63 never: half dead, none ultralow
    assert stats["dead_frac"] == 0.5 and stats["ultralow_frac"] == 0 and stats["above_1pct_frac"] == 0.5
    x[0, 0] = -1.0                                      # the negative copy of neuron 0 fires exactly once
    stats = sae_stats(perfect_sae(), x)
    assert stats["ultralow_frac"] == 1 / 64 and stats["dead_frac"] == 31 / 64


def test_loss_recovered_is_one_for_a_perfect_sae_and_zero_for_zero_ablation():
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    windows = torch.randint(0, TINY_LM.vocab_size, (4, TINY_LM.n_ctx + 1))
    acts = lm.mlp_acts(windows[:, :-1])
    base = ablation_losses(lm, windows, mean_act=acts.flatten(0, 1).mean(0))
    perfect = loss_recovered(lm, windows, sae_hook(perfect_sae(TINY_LM.d_mlp)), base)
    assert abs(perfect["loss_recovered"] - 1) < 1e-4 and abs(perfect["loss_recovered_mean_ablation"] - 1) < 1e-4
    off = perfect_sae(TINY_LM.d_mlp)
    with torch.no_grad():
        off.b_enc.fill_(-1e6)                           # no feature fires: x̂ = b_dec = 0, the zero ablation
    assert abs(loss_recovered(lm, windows, sae_hook(off), base)["loss_recovered"]) < 1e-6
    top = topk_neuron_baseline(lm, windows, acts.flatten(0, 1), k=TINY_LM.d_mlp, base=base)
    assert abs(top["loss_recovered"] - 1) < 1e-4 and top["fvu"] < 1e-10
    top1 = topk_neuron_baseline(lm, windows, acts.flatten(0, 1), k=1, base=base)
    assert top1["l0"] <= 1 and top1["fvu"] > 0
    card = scorecard_entries("A", sae_stats(perfect_sae(TINY_LM.d_mlp), acts.flatten(0, 1)), perfect, 1e4)
    assert card["sae.A.loss_recovered"] == perfect["loss_recovered"] and "sae.A.dead_frac" in card
