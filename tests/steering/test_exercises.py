"""Notebook 06's exercise checks and the steering controls: right hooks pass, the usual wrong ones fail
with a message that names the mistake."""
import copy

import pytest
import torch

from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.model import SAE
from monosem_lib.steering import controls, steer as st
from monosem_lib.steering.exercises import check_ablate_feature, check_pin_feature, diagnose
from tests.helpers import TINY_LM


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval()
    sae = SAE(32, 64, seed=0)
    with torch.no_grad():                       # biases, a scale != 1 and features that fire
        sae.b_dec.normal_(0, 0.1)
        sae.b_enc.fill_(0.05)
        sae.scale.fill_(1.7)
    tokens = torch.randint(1, 300, (2, 16))
    with torch.no_grad():
        i = int(sae.encode(lm.mlp_acts(tokens)).flatten(0, 1).sum(0).argmax())
    return lm, sae, tokens, i


def notebook_pin(sae):
    """The notebook's shipped version: x − x̂ + decode(f′)."""
    def pin_feature(i, value):
        def hook(x):
            f = sae.encode(x)
            f_pinned = f.clone()
            f_pinned[..., i] = value
            return x - sae.decode(f) + sae.decode(f_pinned)
        return hook
    return pin_feature


def notebook_ablate(sae):
    """The notebook's shipped version: x + (target − f_i)·W_dec[i]/scale."""
    def ablate_feature(i, mean=None):
        d_i = sae.W_dec[i] / sae.scale
        def hook(x):
            f_i = sae.encode(x)[..., i:i + 1]
            return x + ((0.0 if mean is None else mean) - f_i) * d_i
        return hook
    return ablate_feature


def test_the_shipped_pin_feature_passes(parts, capsys):
    lm, sae, tokens, i = parts
    check_pin_feature(notebook_pin(sae), lm, sae, tokens, i)
    out = capsys.readouterr().out
    assert out.startswith("✓ pin_feature matches the library's clamp_hook") and out.count("\n") == 1


@pytest.mark.parametrize("wrong, msg", [
    (lambda sae: lambda i, v: None, "returned NoneType, not a hook"),
    (lambda sae: lambda i, v: (lambda x: None), "must return the new activations"),
    (lambda sae: lambda i, v: (lambda x: x), "returns x unchanged"),
    (lambda sae: lambda i, v: (lambda x: sae.decode(torch.cat([sae.encode(x)[..., :i], torch.full_like(x[..., :1], v),
                                                                sae.encode(x)[..., i + 1:]], -1))),
     "lost the SAE's error term"),
    (lambda sae: lambda i, v: (lambda x: x + (v - sae.encode(x)[..., i:i + 1]) * sae.W_dec[i]), "input scale"),
    (lambda sae: lambda i, v: (lambda x: x + v * sae.W_dec[i] / sae.scale), "without taking away f_i"),
])
def test_a_wrong_pin_feature_fails_with_a_useful_message(parts, wrong, msg):
    lm, sae, tokens, i = parts
    with pytest.raises(AssertionError, match=msg) as err:
        check_pin_feature(wrong(sae), lm, sae, tokens, i)
    assert str(err.value).startswith("✗") and "\n" not in str(err.value)


def test_the_shipped_ablate_feature_passes(parts, capsys):
    lm, sae, tokens, i = parts
    with torch.no_grad():
        mean = float(st.feature_activation(sae, lm.mlp_acts(tokens), i).mean())
    assert mean > 0
    check_ablate_feature(notebook_ablate(sae), lm, sae, tokens, i, mean)
    assert capsys.readouterr().out.startswith("✓ zero and mean ablation match the library")


def test_a_wrong_ablate_feature_fails_with_a_useful_message(parts):
    lm, sae, tokens, i = parts
    right = notebook_ablate(sae)
    ignores_mean = lambda j, mean=None: right(j)                                         # noqa: E731
    with pytest.raises(AssertionError, match="ignores `mean`"):
        check_ablate_feature(ignores_mean, lm, sae, tokens, i, 0.3)
    no_scale = lambda j, mean=None: (lambda x: x - sae.encode(x)[..., j:j + 1] * sae.W_dec[j])   # noqa: E731
    with pytest.raises(AssertionError, match=r"ablate_feature\(\d+\) differs .*input scale"):
        check_ablate_feature(no_scale, lm, sae, tokens, i, 0.3)
    subtracts_mean = lambda j, mean=None: (lambda x: right(j)(x) - (mean or 0.0) * st.decoder_direction(sae, j))  # noqa: E731
    with pytest.raises(AssertionError, match="mean_ablate_hook"):
        check_ablate_feature(subtracts_mean, lm, sae, tokens, i, 0.3)


def test_the_ablation_check_refuses_tokens_where_the_feature_is_silent(parts):
    lm, sae, tokens, i = parts
    quiet = copy.deepcopy(sae)
    with torch.no_grad():
        quiet.b_enc[i] = -1e3                                  # feature i can no longer fire
    with pytest.raises(ValueError, match=f"feature {i} never fires on these tokens"):
        check_ablate_feature(notebook_ablate(quiet), lm, quiet, tokens, i, 0.1)


def test_diagnose_names_nothing_specific_for_an_unknown_error(parts):
    lm, sae, tokens, i = parts
    x = lm.mlp_acts(tokens)
    assert diagnose(x * 3 + 1, x, sae, i, 2.0).startswith("compare with x + (value − f_i(x))·d_i")


@torch.no_grad()
def test_mean_ablation_sets_the_feature_to_its_mean(parts):
    lm, sae, tokens, i = parts
    x = lm.mlp_acts(tokens)
    by_hand = x + (0.4 - sae.encode(x)[..., i:i + 1]) * sae.W_dec[i] / sae.scale
    assert torch.allclose(st.mean_ablate_hook(sae, i, 0.4)(x), by_hand, atol=1e-6)
    assert torch.equal(st.mean_ablate_hook(sae, i, 0.4)(x), st.clamp_hook(sae, i, 0.4)(x))


def test_matched_controls_push_as_hard_as_the_category_feature(parts):
    sae = copy.deepcopy(parts[1])
    max_act = torch.rand(sae.n_features) + 0.5
    max_act[:10] = 0                                           # never fired: not eligible as controls
    with torch.no_grad():
        sae.W_dec[20] *= 3                                     # unequal decoder norms (the 2024 recipe)
    features = {"arabic": 20, "dna": 30}
    picked, values = controls.matched_controls(sae, features, max_act, seed=1)
    assert set(picked) == {"arabic", "dna"} and len(set(picked.values())) == 2
    assert all(j >= 10 and j not in (20, 30) for j in picked.values())
    norms = sae.W_dec.detach().norm(dim=1)
    for c, i_cat in features.items():
        j = picked[c]
        assert float(values[j] * norms[j]) == pytest.approx(float(max_act[i_cat] * norms[i_cat]), rel=1e-5)
    assert controls.matched_controls(sae, features, max_act, seed=1)[0] == picked           # seeded
    with pytest.raises(ValueError, match="only 1 other features fired"):
        controls.matched_controls(sae, features, torch.eye(sae.n_features)[0] + torch.eye(sae.n_features)[20], seed=0)
