"""Shared data and SAE builders for the SAE tests (synthetic activations, tiny configs)."""
import dataclasses

import torch

from monosem_lib.config import SAEConfig
from monosem_lib.sae.model import SAE
from monosem_lib.sae.synthetic import SyntheticActs
from monosem_lib.sae.step import init_sae

D = 32


DATA = SyntheticActs(d_mlp=D, n_true=96, per_token=2.0, width=4, seed=0)


CFG = SAEConfig(recipe="paper", n_features=64, l1_coeff=0.003, lr=3e-3, batch_size=64, n_acts=64 * 24, resample_pool=256,
                resample_at=(0.25, 0.5, 0.75), resample_window=0.2)


def batches_for(cfg=CFG):
    return lambda start: DATA.batches(cfg.batch_size, cfg.n_acts // cfg.batch_size, start)


def make_sae(recipe="paper", n=64, seed=0):
    cfg = dataclasses.replace(CFG, n_features=n, seed=seed, recipe=recipe)
    sae = init_sae(D, cfg, DATA.sample(512, seed=1))
    with torch.no_grad():
        sae.b_enc.fill_(-0.05 if recipe == "paper" else -0.2)      # sparse-ish, as after some training
    return sae


def perfect_sae(d=D):
    """W_enc = W_dec = [I; -I], biases 0: x̂ = ReLU(x) - ReLU(-x) = x exactly."""
    sae = SAE(d, 2 * d)
    eye = torch.eye(d)
    with torch.no_grad():
        for p in (sae.W_enc, sae.W_dec):
            p.copy_(torch.cat([eye, -eye]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae
