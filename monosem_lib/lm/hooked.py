"""TransformerLens export: the kit's TinyLM as a `HookedTransformer` with the same weights.

Then every TransformerLens tool (run_with_cache, hooks, activation patching) and SAELens (whose SAEs hook
`blocks.0.mlp.hook_post`, see sae/saelens.py) works on the kit's models. Mapping: our fused W_qkv
[3·d_model, d_model] rows are (q | k | v) x (head, d_head); TransformerLens keeps W_Q/K/V as
[n_heads, d_model, d_head] and W_O as [n_heads, d_head, d_model]; pre-LayerNorm (eps 1e-5), learned
positions, ReLU MLP, untied unembedding without bias — the same computation, nothing folded.
TransformerLens is optional (the `interop` extra); this module imports it only when called.
"""
from __future__ import annotations

import torch

from .model import TinyLM


def hooked_config(lm: TinyLM):
    """The HookedTransformerConfig of `lm`'s architecture."""
    from transformer_lens import HookedTransformerConfig

    c = lm.cfg
    return HookedTransformerConfig(n_layers=1, d_model=c.d_model, n_heads=c.n_heads, d_head=c.d_model // c.n_heads,
                                   d_mlp=c.d_mlp, d_vocab=c.vocab_size, n_ctx=c.n_ctx, act_fn="relu",
                                   normalization_type="LN", positional_embedding_type="standard", eps=1e-5,
                                   default_prepend_bos=False, tokenizer_prepends_bos=False, device="cpu",
                                   dtype=torch.float32)


@torch.no_grad()
def hooked_state_dict(lm: TinyLM) -> dict[str, torch.Tensor]:
    """`lm`'s weights under TransformerLens's names and shapes."""
    c = lm.cfg
    H, dh, D = c.n_heads, c.d_model // c.n_heads, c.d_model
    W, b = lm.attn.W_qkv.weight, lm.attn.W_qkv.bias
    per_head = lambda rows: rows.view(H, dh, D).transpose(1, 2).contiguous()  # noqa: E731  [H, D, dh]
    sd = {"embed.W_E": lm.W_E.weight, "pos_embed.W_pos": lm.W_pos.weight,
          "blocks.0.ln1.w": lm.ln1.weight, "blocks.0.ln1.b": lm.ln1.bias,
          "blocks.0.ln2.w": lm.ln2.weight, "blocks.0.ln2.b": lm.ln2.bias,
          "blocks.0.attn.W_O": lm.attn.W_o.weight.T.reshape(H, dh, D).contiguous(),
          "blocks.0.attn.b_O": lm.attn.W_o.bias,
          "blocks.0.mlp.W_in": lm.mlp.W_in.weight.T.contiguous(), "blocks.0.mlp.b_in": lm.mlp.W_in.bias,
          "blocks.0.mlp.W_out": lm.mlp.W_out.weight.T.contiguous(), "blocks.0.mlp.b_out": lm.mlp.W_out.bias,
          "ln_final.w": lm.ln_f.weight, "ln_final.b": lm.ln_f.bias,
          "unembed.W_U": lm.W_U.weight.T.contiguous(), "unembed.b_U": torch.zeros(c.vocab_size)}
    for i, name in enumerate("QKV"):
        sd[f"blocks.0.attn.W_{name}"] = per_head(W[i * D:(i + 1) * D])
        sd[f"blocks.0.attn.b_{name}"] = b[i * D:(i + 1) * D].view(H, dh).contiguous()
    return {k: v.detach().clone().float() for k, v in sd.items()}


def to_hooked_transformer(lm: TinyLM):
    """A TransformerLens HookedTransformer computing exactly what `lm` computes (same weights, eval mode)."""
    try:
        from transformer_lens import HookedTransformer
    except ImportError:
        raise ImportError("to_hooked_transformer needs TransformerLens: pip install -c constraints.txt "
                          "-e '.[interop]'") from None
    model = HookedTransformer(hooked_config(lm))
    missing, unexpected = model.load_state_dict(hooked_state_dict(lm), strict=False)
    weights = [k for k in missing if not k.endswith(("mask", "IGNORE"))]
    if weights or unexpected:
        raise RuntimeError(f"TransformerLens weight names did not match: missing {weights}, unexpected {unexpected}")
    return model.eval()
