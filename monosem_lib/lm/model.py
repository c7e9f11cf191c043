"""The paper's one-layer transformer: embed -> attention block -> MLP block (ReLU) -> unembed.

The post-ReLU MLP activations are what the sparse autoencoders decompose. They are reachable
through exactly one hook, `lm(tokens, mlp_hook=fn)`: `fn(acts)` sees [B, T, d_mlp] and may return
a replacement. Harvesting, loss-recovered, ablation and steering all go through it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import LMConfig
from ..io import CorruptFileError, load_json, load_tensors, save_json, save_tensors, tensor_metadata

MlpHook = Callable[[torch.Tensor], Optional[torch.Tensor]]


class UnembedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits = h @ W_U.T, fused: backward reuses the logits buffer in place.

    On a CPU the 4,096-way softmax and its backward dominate a step of this tiny model; doing them
    by hand (softmax - onehot, computed in place) takes about half the time of the autograd version.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, W_U: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = h @ W_U.t()
        lse = torch.logsumexp(logits, 1)
        loss = (lse - logits.gather(1, targets[:, None]).squeeze(1)).mean()
        ctx.save_for_backward(h, W_U, targets, logits, lse)
        return loss

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, W_U, targets, logits, lse = ctx.saved_tensors
        p = logits.sub_(lse[:, None]).exp_()  # softmax, in place
        p[torch.arange(len(targets), device=p.device), targets] -= 1
        p.mul_(grad / len(targets))
        return p @ W_U, p.t() @ h, None


class Attention(nn.Module):
    """Causal multi-head self-attention (fused scaled-dot-product kernel)."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.W_qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_o = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.W_qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.W_o(y.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    """d_model -> d_mlp (ReLU) -> d_model; the hook sits between the ReLU and W_out."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model)

    def forward(self, x: torch.Tensor, hook: MlpHook | None = None) -> torch.Tensor:
        acts = F.relu(self.W_in(x))
        if hook is not None:
            replaced = hook(acts)
            acts = acts if replaced is None else replaced
        return self.W_out(acts)


class TinyLM(nn.Module):
    """One attention block + one MLP block, pre-LayerNorm, learned positions, untied unembedding."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.W_E = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.W_pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.ln1, self.attn = nn.LayerNorm(cfg.d_model), Attention(cfg)
        self.ln2, self.mlp = nn.LayerNorm(cfg.d_model), MLP(cfg)
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.W_U = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init)
        # GPT-2 style: shrink the residual-writing projections so the stream starts near the embedding
        for p in (self.attn.W_o.weight, self.mlp.W_out.weight):
            nn.init.normal_(p, std=0.02 / math.sqrt(2))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _check(self, tokens: torch.Tensor) -> None:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [batch, seq], got shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds the context of {self.cfg.n_ctx} tokens")

    def residual_mid(self, tokens: torch.Tensor) -> torch.Tensor:
        """The residual stream after the attention block (the MLP's input, before ln2)."""
        self._check(tokens)
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.W_E(tokens) + self.W_pos(pos)
        return x + self.attn(self.ln1(x))

    def forward(self, tokens: torch.Tensor, mlp_hook: MlpHook | None = None) -> torch.Tensor:
        """tokens [B, T] -> logits [B, T, vocab]; `mlp_hook` may read or replace the MLP activations."""
        x = self.residual_mid(tokens)
        x = x + self.mlp(self.ln2(x), mlp_hook)
        return self.W_U(self.ln_f(x))

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy, with the fused unembedding + softmax (training path)."""
        x = self.residual_mid(tokens)
        x = self.ln_f(x + self.mlp(self.ln2(x)))
        return UnembedCrossEntropy.apply(x.flatten(0, 1), self.W_U.weight, targets.flatten())

    @torch.no_grad()
    def mlp_acts(self, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Post-ReLU MLP activations [B, T, d_mlp], computing only up to the MLP (no unembedding).

        With `positions` [B, k] (indices into each row's T tokens) only those positions go through
        ln2, W_in and the ReLU: [B, k, d_mlp]. Attention still sees the whole window (harvesting).
        """
        x = self.residual_mid(tokens)
        if positions is not None:
            if positions.dim() != 2 or positions.shape[0] != tokens.shape[0]:
                raise ValueError(f"positions must be [batch, k] with batch {tokens.shape[0]}, "
                                 f"got shape {tuple(positions.shape)}")
            if positions.numel() and not 0 <= int(positions.min()) <= int(positions.max()) < tokens.shape[1]:
                raise ValueError(f"positions must lie in [0, {tokens.shape[1] - 1}] (the window's tokens)")
            x = x.gather(1, positions.to(x.device, torch.long)[..., None].expand(-1, -1, x.shape[-1]))
        return F.relu(self.mlp.W_in(self.ln2(x)))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def random_lm(cfg: LMConfig, seed: int) -> TinyLM:
    """The control LM: the same shape as A and B, weights left at their (seeded) initialisation.

    SAEs trained on random transformers can look interpretable too (later work on this paper), so
    every claim about the trained LM's features is held against an SAE on this one.
    """
    torch.manual_seed(seed)
    return TinyLM(cfg)


REDO_LM = "delete it and rerun notebook 01_train_tiny_lm (the LM is rebuilt from its last checkpoint, or retrained)"


def save_lm(lm: TinyLM, folder: str | Path, extra: dict | None = None) -> None:
    """Weights as safetensors (their settings recorded in its header too) + config as JSON, both written atomically."""
    folder = Path(folder)
    save_tensors(folder / "model.safetensors", lm.state_dict(), meta={"lm": vars(lm.cfg)})
    save_json(folder / "config.json", {"lm": vars(lm.cfg), **(extra or {})})


def load_lm(path: str | Path, device: str = "cpu") -> TinyLM:
    """Load an LM saved by `save_lm` (a folder, or its model.safetensors); config.json must agree with the
    settings the weights recorded (n_heads, say, changes the model without changing any weight's shape)."""
    folder = Path(path)
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no LM at {folder}; run notebook 01_train_tiny_lm first")
    settings = load_json(folder / "config.json", advice=REDO_LM)["lm"]
    state = load_tensors(folder / "model.safetensors", advice=REDO_LM)
    recorded = tensor_metadata(folder / "model.safetensors").get("lm")     # None: weights saved before the record
    if recorded is not None and recorded != settings:
        diff = "; ".join(f"{k}: {settings.get(k)!r} there vs {recorded.get(k)!r} in the weights"
                         for k in sorted(set(settings) | set(recorded)) if settings.get(k) != recorded.get(k))
        raise CorruptFileError(f"{folder / 'config.json'} does not describe the weights beside it ({diff}); "
                               f"{REDO_LM}")
    lm = TinyLM(LMConfig(**settings))
    lm.load_state_dict(state)
    return lm.to(device).eval()


@torch.no_grad()
def generate(lm: TinyLM, prompt: torch.Tensor, n_new: int, temperature: float = 1.0,
             top_k: int | None = 40, seed: int = 0, mlp_hook: MlpHook | None = None) -> torch.Tensor:
    """Sample `n_new` tokens after `prompt` [T] (context window slides); returns the new tokens."""
    gen = torch.Generator(device=prompt.device).manual_seed(seed)
    seq = prompt.clone()
    for _ in range(n_new):
        logits = lm(seq[-lm.cfg.n_ctx:][None], mlp_hook=mlp_hook)[0, -1] / max(temperature, 1e-6)
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=gen)
        seq = torch.cat([seq, nxt])
    return seq[len(prompt):]
