"""The SAE loss and its exact gradients without autograd (the trainer's hot path), beside the autograd reference.

Once the features are sparse, `sae_grads` runs the decoder and the whole backward pass on the active
(token, feature) pairs only (CSR sparse matrices); the dense encoder matmul is then most of the cost of a step.
The algebra common to every recipe is here; what differs (the encoder's input, the activation, the penalty's
weights and its gradient) is asked of the SAE's recipe (recipes.py).
"""
from __future__ import annotations

import torch

from .model import SAE
from .sparse import csr, csr_pair, sparse_mm_into


def sae_loss(sae: SAE, x: torch.Tensor, l1_coeff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain autograd loss on inputs in the SAE's (scaled) space -> (loss, mse, f). The reference."""
    f = sae.activate(sae.pre_acts(x), train_batch=True)
    mse = (sae.decode_scaled(f) - x).pow(2).mean()
    penalty = sae.recipe.penalty_per_row(sae, f).sum() / len(x)
    return mse + l1_coeff * penalty, mse, f


def _sparse_backward(sae: SAE, pairs, x_bar: torch.Tensor, x: torch.Tensor, l1_coeff: float) -> dict:
    """Decoder and backward pass on the active pairs: every product costs O(nnz · d)."""
    B, n = len(x), sae.n_features
    w = sae.recipe.penalty_weights(sae)
    fc, fT, cols_t, crow_t = csr_pair(*pairs, B, n)
    err = torch.addmm(sae.b_dec, fc, sae.W_dec).sub_(x)                     # x̂ − x
    mse = err.pow(2).mean()
    dL_dxhat = err.mul_(2.0 / err.numel())
    # dL/df only at active pairs (ReLU zeroes the rest): W_dec[i]·dL/dx̂[b] + λ/B (·‖W_dec,i‖)
    g_vals = torch.sparse.sampled_addmm(fT, sae.W_dec, dL_dxhat.T, beta=0.0).values()
    g_vals.add_(l1_coeff / B if w is None else w.index_select(0, cols_t) * (l1_coeff / B))
    gT = csr(crow_t, fT.col_indices(), g_vals, fT.shape)
    sae.W_dec.grad = sparse_mm_into(sae.W_dec.grad, fT, dL_dxhat)
    sae.W_enc.grad = sparse_mm_into(sae.W_enc.grad, gT, x_bar)
    sae.b_enc.grad = torch.zeros_like(sae.b_enc).index_add_(0, cols_t, g_vals)
    f_sum = torch.zeros_like(sae.b_enc).index_add_(0, cols_t, fT.values())
    return {"mse": mse, "dL_dxhat": dL_dxhat, "f_sum": f_sum, "counts": crow_t.diff(), "nnz": cols_t.numel()}


def _dense_backward(sae: SAE, f: torch.Tensor, x_bar: torch.Tensor, x: torch.Tensor, l1_coeff: float) -> dict:
    """The same algebra with dense matmuls (faster while L0 is large, at the start of training)."""
    B = len(x)
    w = sae.recipe.penalty_weights(sae)
    err = torch.addmm(sae.b_dec, f, sae.W_dec).sub_(x)
    mse = err.pow(2).mean()
    dL_dxhat = err.mul_(2.0 / err.numel())
    dL_dpre = torch.addmm(torch.full_like(sae.b_enc, l1_coeff / B) if w is None else w * (l1_coeff / B),
                          dL_dxhat, sae.W_dec.T).mul_(f > 0)
    sae.W_dec.grad = f.T @ dL_dxhat
    sae.W_enc.grad = dL_dpre.T @ x_bar
    sae.b_enc.grad = dL_dpre.sum(0)
    counts = (f > 0).sum(0)
    return {"mse": mse, "dL_dxhat": dL_dxhat, "f_sum": f.sum(0), "counts": counts, "nnz": int(counts.sum())}


@torch.no_grad()
def sae_grads(sae: SAE, x: torch.Tensor, l1_coeff: float, sparse: bool) -> dict:
    """Loss and exact gradients (written to each parameter's .grad) of a batch x [B, d_mlp] in the scaled space.

    sparse=True runs the decoder and the backward pass on the active (token, feature) pairs only, which pays
    once L0 << n_features; sparse=False is the same algebra with dense matmuls.
    Returns {'loss', 'mse', 'penalty', 'l0' (tensors), 'counts' (firings per feature), 'density' (float),
    'x_bar' (the encoder's input), 'dL_dxhat' (the loss's gradient w.r.t. the reconstruction x̂), and what
    the recipe measures of the batch (BatchTopK: 'kept_min')}.
    """
    B, n = x.shape[0], sae.n_features
    x_bar = sae.recipe.centre(sae, x)
    f, pairs = sae.recipe.encode_for_grads(sae, x_bar, sparse)
    out = _sparse_backward(sae, pairs, x_bar, x, l1_coeff) if sparse else _dense_backward(sae, f, x_bar, x, l1_coeff)
    sae.b_dec.grad = out["dL_dxhat"].sum(0)
    penalty = sae.recipe.finish_grads(sae, out.pop("f_sum"), l1_coeff, B)
    nnz = out.pop("nnz")
    return {**out, "loss": out["mse"] + l1_coeff * penalty, "penalty": penalty, "l0": torch.tensor(nnz / B),
            "density": nnz / (B * n), "x_bar": x_bar, **sae.recipe.batch_state(f)}
