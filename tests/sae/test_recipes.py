"""The recipe registry: every registered recipe's exact gradients against autograd, its constraint, its
resampling default, and no recipe name compared as a string outside the registry."""
import re
from pathlib import Path

import pytest
import torch

from monosem_lib.sae.grads import sae_grads, sae_loss
from monosem_lib.sae.model import SAE
from monosem_lib.sae.recipes import RECIPES, get_recipe
from monosem_lib.sae.resampling import CHOICES, resampling_rule
from monosem_lib.setting_rules import RECIPES as RECIPE_CHOICES
from monosem_lib.setting_rules import RESAMPLING as RESAMPLING_CHOICES
from tests.sae.common import DATA, D

PKG = Path(__file__).resolve().parents[2] / "monosem_lib"


def sparse_sae(name: str) -> SAE:
    sae = SAE(D, 96, name, seed=1, k=5)
    with torch.no_grad():
        sae.b_enc.fill_(-0.05)                     # ReLU recipes: sparse-ish, as after some training
    return sae


@pytest.mark.parametrize("name", list(RECIPES))
@pytest.mark.parametrize("sparse", [False, True])
def test_every_recipes_gradients_equal_autograd(name, sparse):
    sae = sparse_sae(name)
    x = DATA.batch(3, 64)
    out = sae_grads(sae, x, 0.01, sparse)
    manual = {n: p.grad.clone() for n, p in sae.named_parameters()}
    for p in sae.parameters():
        p.grad = None
    loss, _, f = sae_loss(sae, x, 0.01)
    loss.backward()
    assert abs(out["loss"].item() - loss.item()) <= 1e-5 * loss.item()
    assert out["dL_dxhat"].shape == x.shape and out["x_bar"].shape == x.shape
    for n, p in sae.named_parameters():
        assert (manual[n] - p.grad).abs().max() <= 1e-5 * max(p.grad.abs().max().item(), 1e-6), (name, n)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_keeps_its_decoder_constraint_through_a_step(name):
    sae = sparse_sae(name)
    opt = torch.optim.Adam(sae.parameters(), lr=1e-2)
    norms = sae.W_dec.norm(dim=1).detach().clone()
    sae_grads(sae, DATA.batch(0, 64), 0.01, sparse=True)
    sae.recipe.constrain_grads(sae)
    opt.step()
    sae.recipe.constrain_weights(sae)
    after = sae.W_dec.norm(dim=1)
    if sae.recipe.unit_decoder:
        assert torch.allclose(after, torch.ones_like(after), atol=1e-5)
    else:                                           # free norms: the step moved them
        assert not torch.allclose(after, norms)


def test_the_registry_and_the_settings_agree():
    assert tuple(RECIPES) == RECIPE_CHOICES and set(CHOICES) == set(RESAMPLING_CHOICES)
    assert all(name == r.name for name, r in RECIPES.items())
    assert resampling_rule("paper", "auto") == "paper" and resampling_rule("2024", "auto") is None
    assert resampling_rule("topk", "reinit") == "reinit" and resampling_rule("paper", "none") is None
    with pytest.raises(ValueError, match="unknown SAE recipe 'paper2'; use one of paper, 2024, topk, batchtopk"):
        get_recipe("paper2")
    with pytest.raises(ValueError, match="sae.k"):
        SAE(8, 16, "topk", k=0)


def test_no_recipe_name_is_compared_outside_the_registry():
    names = "|".join(re.escape(n) for n in RECIPES)
    pattern = re.compile(rf"""recipe\w*\s*(==|!=|in|not in)\s*[("']*({names})["']|["']({names})["']\s*(==|!=)\s*\w*recipe""")
    hits = [f"{p.relative_to(PKG)}:{i}" for p in PKG.rglob("*.py") if p.name != "recipes.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == [], f"compare recipes through sae.recipe's attributes, not by name: {hits}"
