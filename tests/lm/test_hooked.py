"""TransformerLens export: same logits and the same MLP activations at blocks.0.mlp.hook_post."""
import pytest
import torch

from monosem_lib.lm.hooked import hooked_state_dict, to_hooked_transformer
from monosem_lib.lm.train import train_lm
from monosem_lib.lm.model import load_lm
from monosem_lib.config import LMTrainConfig
from tests.helpers import TINY_LM, tiny_split


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


def test_hooked_transformer_matches_logits_and_mlp_activations(trained_lm):
    pytest.importorskip("transformer_lens", reason="TransformerLens is an optional extra: pip install '.[interop]'")
    model = to_hooked_transformer(trained_lm)
    tokens = torch.from_numpy(tiny_split(seed=3).tokens[:8 * 16].astype("int64")).view(8, 16)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        ours = trained_lm(tokens)
    assert (logits - ours).abs().max() <= 1e-4
    assert (cache["blocks.0.mlp.hook_post"] - trained_lm.mlp_acts(tokens)).abs().max() <= 1e-5
