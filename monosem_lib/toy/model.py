"""The toy model of superposition (Elhage et al. 2022, "Toy Models of Superposition"), several at once.

n sparse features x ∈ [0,1]^n (each non-zero with probability 1 − S, uniform when on) are squeezed into
m < n hidden dimensions and read back through a ReLU:  h = W x,  x' = ReLU(Wᵀ h + b).  The loss weighs
feature i by its importance I_i = decay^i. With dense features the model keeps the m most important ones
in orthogonal directions and drops the rest; as S rises it packs more features than dimensions
(superposition), accepting interference that a ReLU can filter out when features rarely co-occur. One
instance per sparsity is trained in a single batched loop ([instances, m, n] weights), as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class ToyModelConfig:
    """One batch of toy models: sizes, importance decay and one sparsity S per instance."""
    n_features: int = 20
    d_hidden: int = 5
    importance_decay: float = 0.9
    sparsities: tuple[float, ...] = (0.0, 0.7, 0.9, 0.97, 0.99)


class ToyModel(nn.Module):
    """h = W x; x' = ReLU(Wᵀ h + b), one (W [m, n], b [n]) per instance."""

    def __init__(self, cfg: ToyModelConfig, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        n_inst = len(cfg.sparsities)
        self.cfg = cfg
        self.W = nn.Parameter(torch.randn(n_inst, cfg.d_hidden, cfg.n_features, generator=gen)
                              * (2 / (cfg.d_hidden + cfg.n_features)) ** 0.5)   # Xavier normal
        self.b = nn.Parameter(torch.zeros(n_inst, cfg.n_features))
        self.register_buffer("importance", cfg.importance_decay ** torch.arange(cfg.n_features).float())
        self.register_buffer("feature_prob", 1 - torch.tensor(cfg.sparsities, dtype=torch.float32))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """x [batch, instances, n] -> h [batch, instances, m]."""
        return torch.einsum("bin,imn->bim", x, self.W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [batch, instances, n] -> x' [batch, instances, n]."""
        return torch.relu(torch.einsum("bim,imn->bin", self.hidden(x), self.W) + self.b)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Importance-weighted squared error, mean over the batch, summed over features and instances."""
        return (self.importance * (x - self(x)) ** 2).sum((1, 2)).mean()


def sample_features(feature_prob: torch.Tensor, n_features: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """[batch, instances, n] sparse features: each on with its instance's probability, uniform in [0, 1]."""
    shape = (batch, len(feature_prob), n_features)
    on = torch.rand(shape, generator=gen) < feature_prob[None, :, None]
    return torch.rand(shape, generator=gen) * on


def train_toy_model(cfg: ToyModelConfig, steps: int = 5000, batch: int = 1024, lr: float = 1e-3,
                    seed: int = 0) -> tuple[ToyModel, list[float]]:
    """Train every instance at once with Adam; returns the model and the loss every 100 steps."""
    model, gen = ToyModel(cfg, seed), torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        loss = model.loss(sample_features(model.feature_prob, cfg.n_features, batch, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            losses.append(loss.item())
    return model.eval(), losses


@torch.no_grad()
def superposition_stats(W: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per instance: ‖W_i‖ per feature, how many are represented (‖W_i‖ > 0.5), and dimensions per feature.

    W [instances, m, n]. "Dimensions per feature" is m / ‖W‖_F² (Elhage et al.): 1 when each represented
    feature has its own dimension, below 1 when features share dimensions (e.g. 1/2 for antipodal pairs).
    """
    norms = W.norm(dim=1)                                       # [instances, n]
    return {"norms": norms, "n_represented": (norms > 0.5).sum(1),
            "dims_per_feature": W.shape[1] / W.pow(2).sum((1, 2))}


@torch.no_grad()
def shared_directions(W: torch.Tensor, min_norm: float = 0.5, min_cos: float = 0.9) -> list[tuple[int, int, float]]:
    """Pairs (i, j, cos) of represented features (‖W_i‖ > min_norm) of one instance W [m, n] that point the same
    way (cosine > min_cos): one dimension split between two features, which the count of represented features
    counts twice (two norms of ~0.7 make one dimension's worth of weight, 0.7² + 0.7² ≈ 1)."""
    norms = W.norm(dim=0)
    rep = torch.nonzero(norms > min_norm).squeeze(1)
    unit = W[:, rep] / norms[rep]
    cos = unit.T @ unit
    return [(int(rep[a]), int(rep[b]), float(cos[a, b])) for a in range(len(rep)) for b in range(a + 1, len(rep))
            if cos[a, b] > min_cos]


@torch.no_grad()
def hidden_batches(model: ToyModel, instance: int, batch: int, seed: int):
    """A callable start_batch -> endless [batch, m] hidden activations of one instance (SAE training data).

    Batch k depends only on (seed, k), so a resumed SAE run reads the same data it would have read.
    """
    def stream(start: int = 0):
        k = start
        while True:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + k)
            x = sample_features(model.feature_prob[instance:instance + 1], model.cfg.n_features, batch, gen)
            yield model.hidden(x)[:, 0]
            k += 1
    return stream
