"""The sparse autoencoder (PAPER.md, 'The sparse autoencoder'), its exact gradients, save and load.

    x̄ = x − b_dec;   f = ReLU(W_enc x̄ + b_enc);   x̂ = W_dec f + b_dec
    loss = mean over elements of (x − x̂)²  +  λ · mean over batch of Σ_i f_i

Inputs are first multiplied by a stored scalar `scale` chosen so that E‖x‖² = d_mlp (the 2024
recipe's normalisation; by default also used with the paper recipe, where it changes the units of
λ (and the biases' Adam step relative to the data), making λ portable between LMs; scale = 1 when
SAEConfig.normalize is off). `recipe="2024"`
(PAPER.md, 'The 2024 recipe'): no pre-encoder subtraction of b_dec, decoder norms are free and the
penalty is λ·Σ_i f_i‖W_dec,i‖. `recipe="topk"` (Gao et al. 2024) keeps each token's k largest
pre-activations (ReLU'd) and `recipe="batchtopk"` (Bussmann et al. 2024) the k·B largest of a batch of B,
with a learned threshold θ for inference (f = pre · [pre > θ]); both have no sparsity penalty, a unit-norm
decoder (gradient projected as in the paper), the encoder initialised as the decoder's transpose, and an
auxiliary loss on dead features (AuxK, in train.py). `encode`/`decode` take and return raw activations.

`sae_grads` computes the loss and writes exact gradients without autograd. Once the features are
sparse it runs the decoder, and the whole backward pass, on the active (token, feature) pairs only
(CSR sparse matrices); the dense encoder matmul is then most of the cost of a step.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..io import load_json, load_tensors, save_json, save_tensors

RECIPES = ("paper", "2024", "topk", "batchtopk")
TOPK_RECIPES = ("topk", "batchtopk")


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
        if recipe not in RECIPES:
            raise ValueError(f"unknown SAE recipe {recipe!r}; use one of {', '.join(RECIPES)}")
        if recipe in TOPK_RECIPES and not 1 <= k <= n_features:
            raise ValueError(f"a {recipe} SAE needs 1 <= k <= n_features={n_features} (sae.k), got {k}")
        self.arch = SAEArch(d_mlp, n_features, recipe, k if recipe in TOPK_RECIPES else 0)
        gen = torch.Generator().manual_seed(seed)
        # Kaiming-uniform encoder (as nn.Linear); decoder rows random directions at unit norm
        bound = 1.0 / d_mlp ** 0.5
        self.W_enc = nn.Parameter(torch.empty(n_features, d_mlp).uniform_(-bound, bound, generator=gen))
        self.b_enc = nn.Parameter(torch.zeros(n_features))
        W_dec = torch.randn(n_features, d_mlp, generator=gen)
        if recipe == "2024":       # Anthropic 2024: decoder rows with norm ~0.1, encoder = decoder transposed
            W_dec = 0.1 * W_dec / W_dec.norm(dim=1, keepdim=True)
            self.W_enc.data.copy_(W_dec)
        self.W_dec = nn.Parameter(W_dec / W_dec.norm(dim=1, keepdim=True) if recipe != "2024" else W_dec)
        if recipe in TOPK_RECIPES:  # Gao et al.: encoder = decoder transposed at init
            self.W_enc.data.copy_(self.W_dec.data)
        self.b_dec = nn.Parameter(torch.zeros(d_mlp))
        self.register_buffer("scale", torch.ones(()))    # input multiplier: E‖scale·x‖² = d_mlp (or 1)
        if recipe == "batchtopk":
            self.register_buffer("threshold", torch.zeros(()))   # θ: running mean of the smallest kept value

    @property
    def recipe(self) -> str:
        return self.arch.recipe

    @property
    def n_features(self) -> int:
        return self.arch.n_features

    @property
    def unit_decoder(self) -> bool:
        """Decoder rows kept at unit norm, inputs centred by b_dec (all recipes but 2024)."""
        return self.recipe != "2024"

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations [B, n] of scaled inputs [B, d_mlp]."""
        return torch.addmm(self.b_enc, x - self.b_dec if self.unit_decoder else x, self.W_enc.T)

    def activate(self, pre: torch.Tensor, train_batch: bool = False) -> torch.Tensor:
        """Pre-activations [B, n] -> features: ReLU, per-token top-k, or batch top-k (θ at inference)."""
        if self.recipe == "topk":
            vals, idx = pre.topk(self.arch.k, dim=1)
            return torch.zeros_like(pre).scatter_(1, idx, vals.relu_())
        if self.recipe == "batchtopk":
            if not train_batch:
                return pre * (pre > self.threshold.clamp_min(0))
            flat = pre.relu().view(-1)
            vals, idx = flat.topk(min(flat.numel(), self.arch.k * len(pre)))
            return torch.zeros_like(flat).scatter_(0, idx, vals).view_as(pre)
        return pre.relu()

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

    def penalty_weights(self) -> torch.Tensor | None:
        """Per-feature weight on f_i in the sparsity penalty: ‖W_dec,i‖ (2024) or None (all 1)."""
        return self.W_dec.norm(dim=1) if self.recipe == "2024" else None

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Paper and TopK recipes: put every decoder row back at unit norm (after each optimiser step)."""
        if self.unit_decoder:
            self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Paper and TopK recipes: remove from each decoder row's gradient its component along that (unit) row."""
        if self.unit_decoder and self.W_dec.grad is not None:
            g, w = self.W_dec.grad, self.W_dec
            g.addcmul_(torch.linalg.vecdot(g, w)[:, None], w, value=-1.0)


def sae_loss(sae: SAE, x: torch.Tensor, l1_coeff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain autograd loss on inputs in the SAE's (scaled) space -> (loss, mse, f). The reference."""
    f = sae.activate(sae.pre_acts(x), train_batch=True)
    mse = (sae.decode_scaled(f) - x).pow(2).mean()
    w = sae.penalty_weights()
    l1 = (f.sum(0) @ w if w is not None else f.sum()) / len(x)
    return mse + l1_coeff * l1, mse, f


def _active_pairs(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, cols, values) of the active pairs of a dense f [B, n], row-major."""
    flat = f.view(-1)
    idx = flat.nonzero().squeeze(1)                      # row-major: sorted by (token, feature)
    rows = idx.div(f.shape[1], rounding_mode="floor")
    return rows, idx - rows * f.shape[1], flat.index_select(0, idx)


def _relu_pairs(x_bar: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor,
                chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The active pairs of ReLU(x̄ W_encᵀ + b_enc), computed `chunk` rows at a time so that the ReLU and the search
    for non-zeros run on data still in cache (the dense [B, n] features are never built)."""
    parts = []
    for i in range(0, len(x_bar), chunk):
        pre = torch.addmm(b_enc, x_bar[i:i + chunk], W_enc.T).relu_()
        r, c, v = _active_pairs(pre)
        parts.append((r + i, c, v))
    return tuple(torch.cat([p[k] for p in parts]) for k in range(3))


def _csr_pair(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, B: int,
              n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Active pairs (row-major) as CSR of f [B, n] and of fᵀ [n, B] (rows = features); + their columns."""
    crow = torch.zeros(B + 1, dtype=torch.long, device=vals.device)
    torch.cumsum(torch.bincount(rows, minlength=B), 0, out=crow[1:])
    fc = torch.sparse_csr_tensor(crow, cols, vals, size=(B, n), check_invariants=False)
    order = torch.argsort(cols, stable=True)               # the same pairs sorted by (feature, token)
    cols_t = cols.index_select(0, order)
    crow_t = torch.zeros(n + 1, dtype=torch.long, device=vals.device)
    torch.cumsum(torch.bincount(cols_t, minlength=n), 0, out=crow_t[1:])
    fT = torch.sparse_csr_tensor(crow_t, rows.index_select(0, order), vals.index_select(0, order), size=(n, B),
                                 check_invariants=False)
    return fc, fT, cols_t, crow_t


def _sparse_mm_into(buf: torch.Tensor | None, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (a sparse CSR) written into the reused buffer `buf` (~3x faster than a fresh result)."""
    if buf is None or buf.shape != (a.shape[0], b.shape[1]) or not buf.is_contiguous():
        buf = torch.empty(a.shape[0], b.shape[1], device=b.device)
    return torch.addmm(buf, a, b, beta=0.0, out=buf)


def sae_grads(sae: SAE, x: torch.Tensor, l1_coeff: float, sparse: bool) -> dict:
    """Loss and exact gradients (written to each parameter's .grad) of a batch in the scaled space.

    sparse=True runs the decoder and the backward pass on the active (token, feature) pairs only
    (CSR matrices; all products then cost O(nnz·d)), which pays once L0 << n_features;
    sparse=False is the same algebra with dense matmuls (faster while L0 is large, at the start).
    Returns {'loss', 'mse', 'l1', 'l0' (tensors), 'counts' (firings per feature), 'density' (float)}.
    """
    B, d = x.shape
    W_enc, b_enc, W_dec, b_dec = sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec
    with torch.no_grad():
        x_bar = x - b_dec if sae.unit_decoder else x
        n = W_enc.shape[0]
        if sparse and not sae.arch.k:                   # ReLU recipes: only the active pairs, chunk by chunk
            f, pairs = None, _relu_pairs(x_bar, W_enc, b_enc)
        else:
            f = sae.activate(torch.addmm(b_enc, x_bar, W_enc.T), train_batch=True)   # [B, n]: the one dense matmul
            pairs = _active_pairs(f) if sparse else None
        kept_min = f[f > 0].min() if sae.recipe == "batchtopk" and bool((f > 0).any()) else None
        w = sae.penalty_weights()
        if sparse:
            with warnings.catch_warnings():             # "sparse CSR support is in beta": the ops used here are tested
                warnings.simplefilter("ignore", UserWarning)
                fc, fT, cols_t, crow_t = _csr_pair(*pairs, B, n)
            x_hat = torch.addmm(b_dec, fc, W_dec)
        else:
            x_hat = torch.addmm(b_dec, f, W_dec)
        err = x_hat.sub_(x)
        mse = err.pow(2).mean()
        g_xhat = err.mul_(2.0 / err.numel())                                 # dL/dx̂
        if sparse:
            # dL/df only at active pairs (ReLU zeroes the rest): W_dec[i]·g_xhat[b] + λ/B (·‖W_dec,i‖)
            g_vals = torch.sparse.sampled_addmm(fT, W_dec, g_xhat.T, beta=0.0).values()
            g_vals.add_(l1_coeff / B if w is None else w.index_select(0, cols_t) * (l1_coeff / B))
            gT = torch.sparse_csr_tensor(crow_t, fT.col_indices(), g_vals, size=fT.shape, check_invariants=False)
            W_dec.grad = _sparse_mm_into(W_dec.grad, fT, g_xhat)
            W_enc.grad = _sparse_mm_into(W_enc.grad, gT, x_bar)
            b_enc.grad = torch.zeros_like(b_enc).index_add_(0, cols_t, g_vals)
            f_sum = torch.zeros_like(b_enc).index_add_(0, cols_t, fT.values())
            nnz = cols_t.numel()
            counts = crow_t.diff()
        else:
            g_pre = torch.addmm(torch.full_like(b_enc, l1_coeff / B) if w is None else w * (l1_coeff / B),
                                g_xhat, W_dec.T).mul_(f > 0)
            f_sum = f.sum(0)
            W_dec.grad = f.T @ g_xhat
            W_enc.grad = g_pre.T @ x_bar
            b_enc.grad = g_pre.sum(0)
            counts = (f > 0).sum(0)
            nnz = int(counts.sum())
        b_dec.grad = g_xhat.sum(0)
        if sae.unit_decoder:                                                 # x̄ = x − b_dec feeds the encoder
            b_dec.grad.sub_(b_enc.grad @ W_enc)
            l1 = f_sum.sum() / B
        else:                                                                # d(λ Σ f_i‖W_i‖)/dW_i
            W_dec.grad.addcmul_((f_sum * (l1_coeff / B) / w.clamp_min(1e-12))[:, None], W_dec)
            l1 = f_sum @ w / B
    return {"loss": mse + l1_coeff * l1, "mse": mse, "l1": l1, "l0": torch.tensor(nnz / B), "counts": counts,
            "density": nnz / (B * n), "x_bar": x_bar, "residual": g_xhat, "kept_min": kept_min}


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
