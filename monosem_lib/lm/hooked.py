"""TransformerLens export: the kit's TinyLM as a `HookedTransformer` with the same weights.

Then every TransformerLens tool (run_with_cache, hooks, activation patching) and SAELens (whose SAEs hook
`blocks.0.mlp.hook_post`, see sae/saelens.py) works on the kit's models. Mapping: our fused W_qkv
[3·d_model, d_model] rows are (q | k | v) x (head, d_head); TransformerLens keeps W_Q/K/V as
[n_heads, d_model, d_head] and W_O as [n_heads, d_head, d_model]; pre-LayerNorm (eps 1e-5), learned
positions, ReLU MLP, untied unembedding without bias — the same computation, nothing folded.
TransformerLens 4.x removed `HookedTransformer`; its successor is `TransformerBridge`, and for a model
that is not on the Hugging Face hub its own "TL-native" transformer (`TransformerBridge.boot_native`) has
exactly our architecture, so `to_transformer_bridge` loads our weights into that, unprocessed (raw weights,
like the 3.x export: no LayerNorm folding, no centring). `to_transformer_lens` picks whichever the
installed TransformerLens offers. TransformerLens is optional (the `interop` extra brings 3.9, which
sae-lens 6.54 requires); this module imports it only when called.
"""
from __future__ import annotations

import torch

from .model import TinyLM

INSTALL_HINT = "pip install -c constraints.txt -e '.[interop]'"


def transformer_lens_major() -> int | None:
    """The installed TransformerLens major version, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        return int(version("transformer-lens").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return None


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
    major = transformer_lens_major()
    if major is None:
        raise ImportError(f"to_hooked_transformer needs TransformerLens: {INSTALL_HINT}")
    if major >= 4:
        raise ImportError(f"TransformerLens {major}.x has no HookedTransformer: use to_transformer_bridge(lm) "
                          "(or to_transformer_lens(lm), which picks the right one)")
    from transformer_lens import HookedTransformer
    model = HookedTransformer(hooked_config(lm))
    missing, unexpected = model.load_state_dict(hooked_state_dict(lm), strict=False)
    weights = [k for k in missing if not k.endswith(("mask", "IGNORE"))]
    if weights or unexpected:
        raise RuntimeError(f"TransformerLens weight names did not match: missing {weights}, unexpected {unexpected}")
    return model.eval()


def bridge_config(lm: TinyLM):
    """The TransformerBridgeConfig (TransformerLens 4.x) of `lm`'s architecture."""
    from transformer_lens.config import TransformerBridgeConfig

    c = lm.cfg
    return TransformerBridgeConfig(d_model=c.d_model, d_head=c.d_model // c.n_heads, n_layers=1, n_ctx=c.n_ctx,
                                   n_heads=c.n_heads, d_vocab=c.vocab_size, d_mlp=c.d_mlp, act_fn="relu",
                                   normalization_type="LN", eps=1e-5, positional_embedding_type="standard",
                                   architecture="TransformerLensNative", tokenizer_prepends_bos=False,
                                   default_prepend_bos=False, init_weights=False, model_name="monosem-tinylm",
                                   dtype=torch.float32)


@torch.no_grad()
def native_state_dict(lm: TinyLM) -> dict[str, torch.Tensor]:
    """`lm`'s weights under the names of TransformerLens 4.x's NativeModel (nn.Linear layout, no reshaping)."""
    D = lm.cfg.d_model
    W, b = lm.attn.W_qkv.weight, lm.attn.W_qkv.bias
    sd = {"tok_embed.weight": lm.W_E.weight, "pos.weight": lm.W_pos.weight,
          "layers.0.ln1.weight": lm.ln1.weight, "layers.0.ln1.bias": lm.ln1.bias,
          "layers.0.ln2.weight": lm.ln2.weight, "layers.0.ln2.bias": lm.ln2.bias,
          "layers.0.attn.o.weight": lm.attn.W_o.weight, "layers.0.attn.o.bias": lm.attn.W_o.bias,
          "layers.0.mlp.fc_in.weight": lm.mlp.W_in.weight, "layers.0.mlp.fc_in.bias": lm.mlp.W_in.bias,
          "layers.0.mlp.fc_out.weight": lm.mlp.W_out.weight, "layers.0.mlp.fc_out.bias": lm.mlp.W_out.bias,
          "ln_out.weight": lm.ln_f.weight, "ln_out.bias": lm.ln_f.bias, "head.weight": lm.W_U.weight}
    for i, name in enumerate("qkv"):
        sd[f"layers.0.attn.{name}.weight"] = W[i * D:(i + 1) * D]
        sd[f"layers.0.attn.{name}.bias"] = b[i * D:(i + 1) * D]
    return {k: v.detach().clone().float() for k, v in sd.items()}


def to_transformer_bridge(lm: TinyLM):
    """A TransformerLens 4.x TransformerBridge computing exactly what `lm` computes (same raw weights, eval)."""
    major = transformer_lens_major()
    if major is None or major < 4:
        raise ImportError(f"to_transformer_bridge needs TransformerLens >= 4 (installed: "
                          f"{'none' if major is None else f'{major}.x'}); with 3.x use to_hooked_transformer(lm)")
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformer_lens.model_bridge.sources.native import NativeModel

    cfg = bridge_config(lm)
    native = NativeModel(cfg)
    native.load_state_dict(native_state_dict(lm), strict=True)  # every weight named, nothing left at init
    bridge = build_bridge_from_module(native.eval(), architecture="TransformerLensNative", tl_config=cfg,
                                      dtype=torch.float32, device="cpu", model_name=cfg.model_name)
    return bridge.eval()


def to_transformer_lens(lm: TinyLM):
    """`lm` in the installed TransformerLens: a HookedTransformer (3.x) or a TransformerBridge (4.x)."""
    major = transformer_lens_major()
    if major is None:
        raise ImportError(f"to_transformer_lens needs TransformerLens: {INSTALL_HINT}")
    return to_hooked_transformer(lm) if major < 4 else to_transformer_bridge(lm)
