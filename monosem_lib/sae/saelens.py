"""SAELens v6 interop: write a monosem SAE as a folder `sae_lens.SAE.load_from_disk` reads, and read one back.

SAELens stores `cfg.json` + `sae_weights.safetensors` with W_enc [d_in, d_sae], W_dec [d_sae, d_in],
b_enc [d_sae], b_dec [d_in] and applies the SAE to raw hook activations. monosem multiplies inputs by a
stored `scale` first (E‖scale·x‖² = d_mlp), so the export folds it into the weights:

    W_enc' = scale · W_encᵀ,  b_dec' = b_dec / scale,  W_dec' = W_dec / scale,  b_enc' = b_enc

which leaves the feature activations unchanged and reconstructs raw activations (normalize_activations
"none"; the folded scale is recorded in the metadata). Each recipe (recipes.py) writes and recognises its own
architecture: paper -> "standard" (b_dec subtracted from the input), 2024 -> "standard" without that
subtraction, topk -> "topk" (k), batchtopk -> "jumprelu" with its inference threshold θ on every feature (the
form SAELens gives a trained BatchTopK SAE). The hook is TransformerLens's name for the MLP's post-ReLU
activations.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..io import CorruptFileError, save_json, save_tensors
from .model import SAE
from .recipes import recipe_for_saelens

HOOK_NAME = "blocks.0.mlp.hook_post"      # TransformerLens: the one MLP's post-ReLU activations
SAELENS_VERSION = "6.54.12"               # the version the export was checked against
CFG_FILE, WEIGHTS_FILE = "cfg.json", "sae_weights.safetensors"


@torch.no_grad()
def export_saelens(sae: SAE, folder: str | Path, model_name: str = "monosem-tiny-lm", context_size: int = 128) -> Path:
    """Write `sae` as an SAELens v6 folder (cfg.json + sae_weights.safetensors); returns the folder."""
    folder = Path(folder)
    s = float(sae.scale)
    weights = {"W_enc": (sae.W_enc * s).T.contiguous(), "b_enc": sae.b_enc.clone(),
               "W_dec": (sae.W_dec / s).contiguous(), "b_dec": sae.b_dec / s}
    cfg = {"d_in": sae.arch.d_mlp, "d_sae": sae.n_features, "dtype": "float32", "device": "cpu",
           "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": SAELENS_VERSION, "sae_lens_training_version": SAELENS_VERSION,
                        "model_name": model_name, "hook_name": HOOK_NAME, "hook_head_index": None,
                        "context_size": context_size, "prepend_bos": False,
                        "monosem_recipe": sae.recipe.name, "monosem_input_scale_folded": s}}
    sae.recipe.to_saelens(sae, cfg, weights)
    save_tensors(folder / WEIGHTS_FILE, {k: v.detach().float().cpu() for k, v in weights.items()})
    save_json(folder / CFG_FILE, cfg, checksum=False)           # SAELens' own format: no extra key
    return folder


@torch.no_grad()
def import_saelens(folder: str | Path) -> SAE:
    """Read an SAELens v6 folder (standard, topk, or jumprelu with one threshold for all features) as a monosem SAE."""
    folder = Path(folder)
    try:
        cfg = json.loads((folder / CFG_FILE).read_text(encoding="utf-8"))
        w = load_file(str(folder / WEIGHTS_FILE))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{folder} is not an SAELens folder ({Path(err.filename).name} missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, ValueError) as err:
        raise CorruptFileError(f"{folder}: cannot read the SAELens files ({err})") from None
    if cfg.get("normalize_activations", "none") != "none" or cfg.get("reshape_activations", "none") != "none":
        raise ValueError(f"{folder}: normalize_activations={cfg.get('normalize_activations')!r} / reshape_activations="
                         f"{cfg.get('reshape_activations')!r} cannot be imported; fold the normalisation first")
    recipe = recipe_for_saelens(cfg, str(folder))
    k = recipe.saelens_k(cfg, w, str(folder))
    d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    if tuple(w["W_enc"].shape) != (d_in, d_sae) or tuple(w["W_dec"].shape) != (d_sae, d_in):
        raise ValueError(f"{folder}: weight shapes {tuple(w['W_enc'].shape)} / {tuple(w['W_dec'].shape)} do not "
                         f"match d_in={d_in}, d_sae={d_sae}")
    sae = SAE(d_in, d_sae, recipe.name, k=k)
    sae.W_enc.copy_(w["W_enc"].T)
    sae.W_dec.copy_(w["W_dec"])
    sae.b_enc.copy_(w["b_enc"])
    sae.b_dec.copy_(w["b_dec"])
    recipe.from_saelens(sae, w)
    return sae.eval()
