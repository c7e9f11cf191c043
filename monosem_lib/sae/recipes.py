"""SAE recipes: one class per architecture, and `RECIPES`, the registry keyed by name (`sae.recipe`).

    paper      Bricken et al. 2023: f = ReLU(W_enc(x − b_dec) + b_enc), penalty λ·Σ_i f_i, unit-norm decoder rows
               (gradient projected, rows renormalised); dead features revived by resampling (resampling.py)
    2024       Anthropic's April 2024 update: no b_dec subtraction, penalty λ·Σ_i f_i‖W_dec,i‖ with free decoder
               norms, λ warm-up and LR cool-down, gradient clipping, inputs always normalised; no resampling
    topk       Gao et al. 2024: each token keeps its k largest pre-activations (ReLU'd); no penalty; unit-norm
               decoder; the AuxK loss asks dead features to model the residual
    batchtopk  Bussmann et al. 2024: the k·B largest of a batch of B; at inference f = pre · [pre > θ], θ learned

A recipe owns what differs between them: encoding, the penalty and its gradient, the decoder constraint, the
training schedule, the auxiliary loss and the SAELens mapping. `SAE` (model.py) holds the weights and asks its
recipe; `sae_grads` (grads.py) does the common algebra. Recipes are stateless: one instance serves every SAE.
"""
from __future__ import annotations

import torch

from .sparse import active_pairs, chunked_pairs, relu_pairs

SAE = torch.nn.Module      # model.SAE, which imports this module (its weights W_enc, b_enc, W_dec, b_dec, scale)

Pairs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]      # (rows, cols, values) of the active codes, row-major


class L1Recipe:
    """The paper's 2023 recipe (Bricken et al.): ReLU codes, an L1 penalty, unit-norm decoder rows."""
    name = "paper"
    unit_decoder = True             # the encoder reads x̄ = x − b_dec; decoder rows held at unit norm
    decoder_norm = 1.0              # norm of a fresh (or resampled) decoder row
    always_normalize = False        # scale inputs to E‖x‖² = d_mlp whatever sae.normalize says
    uses_k = False                  # sparsity set by k active features, not by a penalty
    own_resampling = "paper"        # what sae.resampling = "auto" means for this recipe
    saelens_architecture = "standard"

    # ---- construction
    def check_k(self, k: int, n_features: int) -> int:
        """The k the SAE keeps (0 for penalty recipes)."""
        return 0

    def init_weights(self, sae: SAE) -> None:
        """After W_enc (Kaiming-uniform) and W_dec (random rows at `decoder_norm`) are drawn."""

    # ---- encoding
    def centre(self, sae: SAE, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input: x̄ = x − b_dec (paper, TopK) or x itself (2024)."""
        return x - sae.b_dec if self.unit_decoder else x

    def activate(self, sae: SAE, pre: torch.Tensor, train_batch: bool = False) -> torch.Tensor:
        """Pre-activations [B, n] -> features."""
        return pre.relu()

    def encode_for_grads(self, sae: SAE, x_bar: torch.Tensor, sparse: bool) -> tuple[torch.Tensor | None, Pairs | None]:
        """(dense f or None, active pairs or None) of a training batch; ReLU codes are found chunk by chunk
        on the sparse path, never building the dense [B, n] features."""
        if sparse:
            return None, relu_pairs(x_bar, sae.W_enc, sae.b_enc)
        return self.activate(sae, torch.addmm(sae.b_enc, x_bar, sae.W_enc.T), train_batch=True), None

    def code_pairs(self, sae: SAE, x: torch.Tensor, chunk: int = 512) -> Pairs:
        """Active pairs of the codes of scaled inputs x (inference), chunk by chunk."""
        return relu_pairs(self.centre(sae, x), sae.W_enc, sae.b_enc, chunk)

    def encode_features(self, sae: SAE, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """f_{features[b]} at every position of raw x[b] ([B, T, d_mlp], features [B]) -> [B, T]: a ReLU code
        depends on its own encoder row only, so one row per example is read, not the whole encoder."""
        z = self.centre(sae, x * sae.scale)
        return (torch.einsum("btd,bd->bt", z, sae.W_enc[features]) + sae.b_enc[features][:, None]).relu()

    # ---- the penalty and its gradient
    def penalty_weights(self, sae: SAE) -> torch.Tensor | None:
        """Per-feature weight on f_i in the penalty (None: all 1)."""
        return None

    def penalty_per_row(self, sae: SAE, f: torch.Tensor) -> torch.Tensor:
        """The sparsity penalty of each row of f [B, n] (before λ)."""
        w = self.penalty_weights(sae)
        return f.sum(1) if w is None else f @ w

    def finish_grads(self, sae: SAE, f_sum: torch.Tensor, l1_coeff: float, B: int) -> torch.Tensor:
        """The recipe's own terms of the backward pass (after the common ones are in each .grad); returns the
        batch's mean penalty. Here: b_dec also feeds the encoder through x̄ = x − b_dec."""
        sae.b_dec.grad.sub_(sae.b_enc.grad @ sae.W_enc)
        return f_sum.sum() / B

    def schedule(self, step: int, n_steps: int, lr: float, l1_coeff: float) -> tuple[float, float]:
        """(lr, λ) at a step: constant."""
        return lr, l1_coeff

    # ---- constraints around the optimiser step
    @torch.no_grad()
    def constrain_grads(self, sae: SAE) -> None:
        """Before the step: remove from each decoder row's gradient its component along that (unit) row."""
        if sae.W_dec.grad is not None:
            g, w = sae.W_dec.grad, sae.W_dec
            g.addcmul_(torch.linalg.vecdot(g, w)[:, None], w, value=-1.0)

    @torch.no_grad()
    def constrain_weights(self, sae: SAE) -> None:
        """After the step: every decoder row back at unit norm."""
        sae.W_dec.div_(sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))

    # ---- recipe state learned during training (BatchTopK's θ)
    def batch_state(self, f: torch.Tensor | None) -> dict:
        return {}

    def update_state(self, sae: SAE, out: dict, n_mean: int) -> None:
        """After a good step: fold what `batch_state` measured into the SAE's buffers."""

    def aux_grads(self, sae: SAE, x: torch.Tensor, residual: torch.Tensor, dead: torch.Tensor, coeff: float,
                  k_aux: int) -> torch.Tensor | None:
        """An auxiliary loss on dead features, its gradients added to each .grad; None if the recipe has none."""
        return None

    # ---- SAELens v6 (saelens.py folds the input scale into the weights)
    def to_saelens(self, sae: SAE, cfg: dict, weights: dict) -> None:
        """Add this architecture's fields to an exported cfg.json / weights."""
        cfg.update(architecture=self.saelens_architecture, apply_b_dec_to_input=self.unit_decoder)

    def reads_saelens(self, cfg: dict) -> bool:
        """Is an SAELens cfg.json this recipe?"""
        return cfg.get("architecture", "standard") == "standard" and cfg.get("apply_b_dec_to_input", True)

    def saelens_k(self, cfg: dict, weights: dict, where: str) -> int:
        """k of an imported SAE (after checking it has a monosem equivalent)."""
        return 0

    def from_saelens(self, sae: SAE, weights: dict) -> None:
        """Buffers of an imported SAE beyond the four weights."""


class L1DecoderNormRecipe(L1Recipe):
    """Anthropic's April 2024 update: no b_dec subtraction, λ·Σ f_i‖W_dec,i‖, free decoder norms."""
    name = "2024"
    unit_decoder = False
    decoder_norm = 0.1              # rows start at norm 0.1, the encoder at the decoder's transpose
    always_normalize = True
    own_resampling = "none"

    def init_weights(self, sae: SAE) -> None:
        sae.W_enc.data.copy_(sae.W_dec.data)

    def penalty_weights(self, sae: SAE) -> torch.Tensor:
        return sae.W_dec.norm(dim=1)

    def finish_grads(self, sae: SAE, f_sum: torch.Tensor, l1_coeff: float, B: int) -> torch.Tensor:
        """d(λ Σ_i f_i‖W_dec,i‖)/dW_dec,i = λ f_i W_dec,i / ‖W_dec,i‖ (summed over the batch)."""
        w = self.penalty_weights(sae)
        sae.W_dec.grad.addcmul_((f_sum * (l1_coeff / B) / w.clamp_min(1e-12))[:, None], sae.W_dec)
        return f_sum @ w / B

    def schedule(self, step: int, n_steps: int, lr: float, l1_coeff: float) -> tuple[float, float]:
        """λ warm-up over the first 5% of the run, LR cool-down over the last 20%."""
        warm, cool = max(1, round(0.05 * n_steps)), max(1, round(0.2 * n_steps))
        return lr * min(1.0, (n_steps - step) / cool), l1_coeff * min(1.0, (step + 1) / warm)

    def constrain_grads(self, sae: SAE) -> None:
        """No projection (norms are free); the gradient norm is clipped at 1."""
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)

    def constrain_weights(self, sae: SAE) -> None:
        """Decoder norms are free: nothing to do."""

    def reads_saelens(self, cfg: dict) -> bool:
        return cfg.get("architecture", "standard") == "standard" and not cfg.get("apply_b_dec_to_input", True)


class TopKRecipe(L1Recipe):
    """Gao et al. 2024: each token keeps its k largest pre-activations; no penalty; AuxK on dead features."""
    name = "topk"
    uses_k = True
    own_resampling = "none"
    saelens_architecture = "topk"

    def check_k(self, k: int, n_features: int) -> int:
        if not 1 <= k <= n_features:
            raise ValueError(f"a {self.name} SAE needs 1 <= k <= n_features={n_features} (sae.k), got {k}")
        return k

    def init_weights(self, sae: SAE) -> None:
        sae.W_enc.data.copy_(sae.W_dec.data)             # encoder = decoder transposed at init

    def activate(self, sae: SAE, pre: torch.Tensor, train_batch: bool = False) -> torch.Tensor:
        vals, idx = pre.topk(sae.arch.k, dim=1)
        return torch.zeros_like(pre).scatter_(1, idx, vals.relu_())

    def encode_for_grads(self, sae: SAE, x_bar: torch.Tensor, sparse: bool) -> tuple[torch.Tensor, Pairs | None]:
        """The top-k needs every pre-activation: one dense [B, n] matmul, then its pairs."""
        f = self.activate(sae, torch.addmm(sae.b_enc, x_bar, sae.W_enc.T), train_batch=True)
        return f, active_pairs(f) if sparse else None

    def code_pairs(self, sae: SAE, x: torch.Tensor, chunk: int = 512) -> Pairs:
        return chunked_pairs(sae.encode_scaled, x, chunk)

    def encode_features(self, sae: SAE, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """A feature's value depends on the others': encode them all, then pick."""
        f = sae.encode(x)
        return f.gather(2, features.view(-1, 1, 1).expand(-1, f.shape[1], 1))[..., 0]

    def schedule(self, step: int, n_steps: int, lr: float, l1_coeff: float) -> tuple[float, float]:
        return lr, 0.0                                    # sparsity is set by k: no penalty

    def aux_grads(self, sae: SAE, x: torch.Tensor, residual: torch.Tensor, dead: torch.Tensor, coeff: float,
                  k_aux: int) -> torch.Tensor | None:
        """AuxK: the top-k_aux *dead* features reconstruct the main reconstruction's residual x − x̂; adds
        coeff · MSE(residual, their reconstruction) to the gradients (autograd over the dead rows only)."""
        if coeff <= 0 or dead is None or not bool(dead.any()):
            return None
        idx = dead.nonzero().squeeze(1)
        with torch.enable_grad():
            pre = torch.addmm(sae.b_enc[idx], self.centre(sae, x), sae.W_enc[idx].T)
            vals, top = pre.topk(min(k_aux, len(idx)), dim=1)
            f = torch.zeros_like(pre).scatter(1, top, vals.relu())
            loss = coeff * (f @ sae.W_dec[idx] - residual).pow(2).mean()
            loss.backward()
        return loss.detach()

    def to_saelens(self, sae: SAE, cfg: dict, weights: dict) -> None:
        super().to_saelens(sae, cfg, weights)
        cfg.update(k=sae.arch.k, rescale_acts_by_decoder_norm=False)

    def reads_saelens(self, cfg: dict) -> bool:
        return cfg.get("architecture") == "topk"

    def saelens_k(self, cfg: dict, weights: dict, where: str) -> int:
        if cfg.get("rescale_acts_by_decoder_norm") or not cfg.get("apply_b_dec_to_input", True):
            raise ValueError(f"{where}: a TopK SAE with rescale_acts_by_decoder_norm or without b_dec on the "
                             f"input has no monosem equivalent")
        return int(cfg["k"])


class BatchTopKRecipe(TopKRecipe):
    """Bussmann et al. 2024: the k·B largest codes of a batch; θ (the mean smallest kept value) at inference."""
    name = "batchtopk"
    saelens_architecture = "jumprelu"     # the form SAELens gives a trained BatchTopK SAE

    def init_weights(self, sae: SAE) -> None:
        super().init_weights(sae)
        sae.register_buffer("threshold", torch.zeros(()))   # θ: running mean of the smallest kept value

    def activate(self, sae: SAE, pre: torch.Tensor, train_batch: bool = False) -> torch.Tensor:
        if not train_batch:
            return pre * (pre > sae.threshold.clamp_min(0))
        flat = pre.relu().view(-1)
        vals, idx = flat.topk(min(flat.numel(), sae.arch.k * len(pre)))
        return torch.zeros_like(flat).scatter_(0, idx, vals).view_as(pre)

    def batch_state(self, f: torch.Tensor | None) -> dict:
        """The batch's smallest kept activation (θ is its mean over the last quarter of the run)."""
        return {"kept_min": f[f > 0].min() if f is not None and bool((f > 0).any()) else None}

    @torch.no_grad()
    def update_state(self, sae: SAE, out: dict, n_mean: int) -> None:
        """θ = mean of the batches' smallest kept value over the last quarter (before it: the latest batch's)."""
        if out.get("kept_min") is not None:
            t = sae.threshold
            t.copy_(out["kept_min"] if n_mean <= 1 else t + (out["kept_min"] - t) / n_mean)

    def to_saelens(self, sae: SAE, cfg: dict, weights: dict) -> None:
        L1Recipe.to_saelens(self, sae, cfg, weights)
        weights["threshold"] = torch.full((sae.n_features,), max(float(sae.threshold), 0.0))
        cfg["metadata"]["monosem_k"] = sae.arch.k

    def reads_saelens(self, cfg: dict) -> bool:
        return cfg.get("architecture") == "jumprelu"

    def saelens_k(self, cfg: dict, weights: dict, where: str) -> int:
        thr = weights["threshold"]
        if not torch.allclose(thr, thr[0].expand_as(thr)):
            raise ValueError(f"{where}: a JumpReLU SAE with per-feature thresholds has no monosem equivalent "
                             f"(only BatchTopK's single threshold does)")
        return int((cfg.get("metadata") or {}).get("monosem_k") or 1)

    def from_saelens(self, sae: SAE, weights: dict) -> None:
        sae.threshold.fill_(float(weights["threshold"][0]))


RECIPES: dict[str, L1Recipe] = {r.name: r for r in (L1Recipe(), L1DecoderNormRecipe(), TopKRecipe(), BatchTopKRecipe())}


def get_recipe(name: str) -> L1Recipe:
    """The recipe registered under `name`; a one-line error listing the valid names otherwise."""
    if name not in RECIPES:
        raise ValueError(f"unknown SAE recipe {name!r}; use one of {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe_for_saelens(cfg: dict, where: str) -> L1Recipe:
    """The recipe that reads an SAELens cfg.json; a one-line error for architectures with no equivalent."""
    for recipe in RECIPES.values():
        if recipe.reads_saelens(cfg):
            return recipe
    raise ValueError(f"{where}: SAELens architecture {cfg.get('architecture')!r} is not supported; use standard, "
                     f"topk or jumprelu")
