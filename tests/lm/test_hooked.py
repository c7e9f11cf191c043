"""TransformerLens export: same logits and the same MLP activations at blocks.0.mlp.hook_post.

The interop extra brings TransformerLens 3.9 (HookedTransformer; sae-lens 6.54 needs TL < 4). The 4.x path
(TransformerBridge) is tested by `make test-tl4`, which overlays TransformerLens 4.3 on the same venv; .ci/run
runs both.
"""
import pytest
import torch

from monosem_lib.lm.hooked import (hooked_state_dict, native_state_dict, to_hooked_transformer,
                                   to_transformer_bridge, to_transformer_lens, transformer_lens_major)
from monosem_lib.lm.train import train_lm
from monosem_lib.lm.model import load_lm
from monosem_lib.config import LMTrainConfig
from tests.helpers import TINY_LM, tiny_split

MAJOR = transformer_lens_major()
needs_tl = pytest.mark.skipif(MAJOR is None, reason="TransformerLens is an optional extra: pip install '.[interop]'")


@pytest.fixture(scope="module")
def trained_lm(tmp_path_factory):
    """A briefly trained tiny LM (trained weights: biases and LayerNorms away from their initial values)."""
    folder = tmp_path_factory.mktemp("lm")
    train_lm(folder, TINY_LM, LMTrainConfig(batch_size=8, max_steps=30, warmup_steps=2, ckpt_every=30), 0,
             tiny_split().tokens)
    return load_lm(folder)


def test_state_dict_has_transformer_lens_shapes(trained_lm):
    sd = hooked_state_dict(trained_lm)
    H, D = TINY_LM.n_heads, TINY_LM.d_model
    assert sd["blocks.0.attn.W_Q"].shape == (H, D, D // H) and sd["blocks.0.attn.W_O"].shape == (H, D // H, D)
    assert sd["unembed.W_U"].shape == (D, TINY_LM.vocab_size) and sd["blocks.0.mlp.W_in"].shape == (D, TINY_LM.d_mlp)


def test_native_state_dict_splits_the_fused_qkv(trained_lm):
    sd, D = native_state_dict(trained_lm), TINY_LM.d_model
    fused = torch.cat([sd[f"layers.0.attn.{n}.weight"] for n in "qkv"])
    assert torch.equal(fused, trained_lm.attn.W_qkv.weight)
    assert sd["layers.0.attn.q.bias"].shape == (D,) and sd["head.weight"].shape == (TINY_LM.vocab_size, D)


@needs_tl
def test_transformer_lens_matches_logits_and_mlp_activations(trained_lm):
    model = to_transformer_lens(trained_lm)
    expected = "HookedTransformer" if MAJOR < 4 else "TransformerBridge"
    assert type(model).__name__ == expected
    tokens = torch.from_numpy(tiny_split(seed=3).tokens[:8 * 16].astype("int64")).view(8, 16)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        ours = trained_lm(tokens)
    assert (logits - ours).abs().max() <= 1e-4
    assert (cache["blocks.0.mlp.hook_post"] - trained_lm.mlp_acts(tokens)).abs().max() <= 1e-5


@needs_tl
def test_a_hook_on_hook_post_changes_the_output(trained_lm):
    """Zero-ablating the MLP through TransformerLens's hook equals doing it in our model."""
    model = to_transformer_lens(trained_lm)
    tokens = torch.from_numpy(tiny_split(seed=4).tokens[:4 * 16].astype("int64")).view(4, 16)
    with torch.no_grad():
        ablated = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_post", lambda a, hook: a * 0)])
        ours = trained_lm(tokens, mlp_hook=lambda a: a * 0)
    assert (ablated - ours).abs().max() <= 1e-4


def test_the_wrong_exporter_for_the_installed_version_says_which_to_use(trained_lm):
    if MAJOR is None:
        with pytest.raises(ImportError, match="interop"):
            to_transformer_lens(trained_lm)
    elif MAJOR < 4:
        with pytest.raises(ImportError, match="to_hooked_transformer"):
            to_transformer_bridge(trained_lm)
    else:
        with pytest.raises(ImportError, match="to_transformer_bridge"):
            to_hooked_transformer(trained_lm)
