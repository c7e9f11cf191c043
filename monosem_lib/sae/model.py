"""The sparse autoencoder (Bricken et al. 2023, 'The sparse autoencoder'): its weights, encode / decode, save and load.

    x̄ = x − b_dec;   f = ReLU(W_enc x̄ + b_enc);   x̂ = W_dec f + b_dec
    loss = mean over elements of (x − x̂)²  +  λ · mean over batch of Σ_i f_i

That is the paper's recipe; the others (the 2024 update, TopK, BatchTopK) differ in the encoder's input, the
activation, the penalty and the decoder constraint: each is a class in recipes.py, which the SAE asks
(`sae.recipe`). Inputs are first multiplied by a stored scalar `scale` chosen so that E‖x‖² = d_mlp (the 2024
recipe's normalisation; by default also used with the others, where it makes λ portable between LMs; scale = 1
when SAEConfig.normalize is off). `encode` / `decode` take and return raw activations. The exact gradients
without autograd are in grads.py.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..io import load_json, load_tensors, save_json, save_tensors
from .recipes import L1Recipe, get_recipe


@dataclass
class SAEArch:
    """What is needed to rebuild an SAE: sizes and recipe (saved as JSON beside the weights)."""
    d_mlp: int
    n_features: int
    recipe: str = "paper"
    k: int = 0                 # topk / batchtopk: active features per token (on average, for batchtopk)


class SAE(nn.Module):
    """Untied one-layer sparse autoencoder; W_enc and W_dec are both [n_features, d_mlp]."""

    def __init__(self, d_mlp: int, n_features: int, recipe: str = "paper", seed: int = 0, k: int = 0):
        super().__init__()
        self.recipe: L1Recipe = get_recipe(recipe)
        self.arch = SAEArch(d_mlp, n_features, recipe, self.recipe.check_k(k, n_features))
        gen = torch.Generator().manual_seed(seed)
        # Kaiming-uniform encoder (as nn.Linear); decoder rows random directions at the recipe's norm
        bound = 1.0 / d_mlp ** 0.5
        self.W_enc = nn.Parameter(torch.empty(n_features, d_mlp).uniform_(-bound, bound, generator=gen))
        self.b_enc = nn.Parameter(torch.zeros(n_features))
        W_dec = torch.randn(n_features, d_mlp, generator=gen)
        self.W_dec = nn.Parameter(self.recipe.decoder_norm * W_dec / W_dec.norm(dim=1, keepdim=True))
        self.b_dec = nn.Parameter(torch.zeros(d_mlp))
        self.register_buffer("scale", torch.ones(()))    # input multiplier: E‖scale·x‖² = d_mlp (or 1)
        self.recipe.init_weights(self)

    @property
    def n_features(self) -> int:
        return self.arch.n_features

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations [B, n] of scaled inputs [B, d_mlp]."""
        return torch.addmm(self.b_enc, self.recipe.centre(self, x), self.W_enc.T)

    def activate(self, pre: torch.Tensor, train_batch: bool = False) -> torch.Tensor:
        """Pre-activations [B, n] -> features, by the recipe (BatchTopK: its batch rule only while training)."""
        return self.recipe.activate(self, pre, train_batch)

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Features of inputs already multiplied by `scale` (the space the SAE is trained in)."""
        return self.activate(self.pre_acts(x.reshape(-1, x.shape[-1]))).view(*x.shape[:-1], -1)

    def decode_scaled(self, f: torch.Tensor) -> torch.Tensor:
        """x̂ in the scaled space; without autograd, sparse f goes through a CSR matmul (~4x faster at L0 ~ 20)."""
        f2 = f.reshape(-1, f.shape[-1])
        if not f.requires_grad and f2.numel() >= 1 << 20 and torch.count_nonzero(f2) < 0.1 * f2.numel():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                f2 = f2.to_sparse_csr()
        return torch.addmm(self.b_dec, f2, self.W_dec).view(*f.shape[:-1], -1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw MLP activations [..., d_mlp] -> feature activations [..., n_features]."""
        if x.shape[-1] != self.arch.d_mlp:
            raise ValueError(f"SAE expects inputs of width {self.arch.d_mlp}, got shape {tuple(x.shape)}")
        return self.encode_scaled(x * self.scale)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Feature activations [..., n_features] -> reconstructed raw activations [..., d_mlp]."""
        return self.decode_scaled(f) / self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction x̂ of raw activations x."""
        return self.decode(self.encode(x))

    def encode_features(self, x: torch.Tensor, features: torch.Tensor | int) -> torch.Tensor:
        """f_{features[b]} at every position of raw x[b] ([B, T, d_mlp], features [B]) -> [B, T]; or feature `i`
        (an int) of raw x [..., d_mlp] -> [...]. A ReLU recipe reads one encoder row, not the whole encoder."""
        if isinstance(features, int):
            one = torch.tensor([features], device=x.device)
            return self.recipe.encode_features(self, x.reshape(1, -1, x.shape[-1]), one).view(x.shape[:-1])
        return self.recipe.encode_features(self, x, features.to(x.device))

    @torch.no_grad()
    def code_pairs(self, x: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, cols, values) of the non-zero codes of raw x [n, d_mlp], row-major, `chunk` rows at a time
        (ReLU recipes never build the dense [chunk, n_features] codes twice)."""
        return self.recipe.code_pairs(self, x * self.scale, chunk)


@torch.no_grad()
def geometric_median(x: torch.Tensor, n_iter: int = 100, tol: float = 1e-6) -> torch.Tensor:
    """Weiszfeld iterations: the point minimising the sum of Euclidean distances to the rows of x."""
    y = x.mean(0)
    for _ in range(n_iter):
        w = 1.0 / (x - y).norm(dim=1).clamp_min(1e-8)
        y_new = (w[:, None] * x).sum(0) / w.sum()
        if (y_new - y).norm() <= tol * max(1.0, y.norm().item()):
            return y_new
        y = y_new
    return y


REDO_SAE = "delete it and rerun notebook 03_train_sae (the SAE is rebuilt from its last checkpoint, or retrained)"


def save_sae(sae: SAE, folder: str | Path, extra: dict | None = None) -> Path:
    """Weights as sae.safetensors + {'sae': arch, **extra} as config.json, both atomic."""
    folder = Path(folder)
    save_tensors(folder / "sae.safetensors", sae.state_dict())
    save_json(folder / "config.json", {"sae": asdict(sae.arch), **(extra or {})})
    return folder


def load_sae(path: str | Path, device: str = "cpu") -> SAE:
    """Load an SAE saved by `save_sae` (its folder, or the sae.safetensors inside it)."""
    folder = Path(path)
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no SAE at {folder}; run notebook 03_train_sae first")
    sae = SAE(**load_json(folder / "config.json", advice=REDO_SAE)["sae"])
    sae.load_state_dict(load_tensors(folder / "sae.safetensors", advice=REDO_SAE))
    return sae.to(device).eval()
