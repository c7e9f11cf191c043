"""Notebook 00's two trainings, cached in the run dir: the toy models, and the kit's SAE on one of them.

Toy models are saved as safetensors (loaded back, checksum checked, when the notebook reruns); the SAE goes
through the kit's own trainer (`sae.train.train_sae`, the paper's recipe with resampling), so notebook 00
checks that trainer against features whose directions are known.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import SAEConfig, ToyConfig
from ..io import load_tensors, save_tensors
from ..sae.model import SAE
from ..sae.train import TrainOptions, train_sae
from .model import ToyModel, ToyModelConfig, hidden_batches, superposition_stats, train_toy_model

REDO_TOY = "delete it and rerun notebook 00_toy_superposition (the toy models retrain in seconds)"


def sparsity_sweep_config(cfg: ToyConfig) -> ToyModelConfig:
    """Part 1: Elhage et al.'s 20 features in 5 dimensions, one model per sparsity."""
    return ToyModelConfig(cfg.n_features, cfg.d_hidden, cfg.importance_decay, tuple(cfg.sparsities))


def ground_truth_config(cfg: ToyConfig) -> ToyModelConfig:
    """Part 2: the SAE's ground truth, equally important features at one sparsity."""
    return ToyModelConfig(cfg.sae_toy_features, cfg.sae_toy_hidden, 1.0, (cfg.sae_toy_sparsity,))


def toy_sae_config(cfg: ToyConfig) -> SAEConfig:
    """The kit's SAE settings for the toy: the paper recipe with resampling, toy-sized."""
    return SAEConfig(n_features=cfg.sae_n_features, l1_coeff=cfg.sae_l1_coeff, batch_size=cfg.sae_batch_size,
                     n_acts=cfg.sae_n_acts, recipe="paper", resampling="paper", seed=cfg.seed, resample_pool=4096)


def load_or_train_toy(path: str | Path, mcfg: ToyModelConfig, steps: int, lr: float, seed: int) -> ToyModel:
    """The trained toy models at `path` (safetensors), training and saving them first if absent."""
    path = Path(path)
    model = ToyModel(mcfg, seed)
    if path.exists():
        model.load_state_dict(load_tensors(path, advice=REDO_TOY))
        return model.eval()
    model, losses = train_toy_model(mcfg, steps=steps, lr=lr, seed=seed)
    save_tensors(path, model.state_dict(), meta={"final_loss": f"{losses[-1]:.6g}"})
    return model


def true_directions(model: ToyModel, instance: int = 0) -> torch.Tensor:
    """The features the toy represents (‖W_i‖ > 0.5), as directions in its hidden space [n_true, m]."""
    W = model.W[instance].detach()
    return W.T[superposition_stats(model.W)["norms"][instance] > 0.5]


def train_toy_sae(folder: str | Path, model: ToyModel, cfg: ToyConfig, sae_cfg: SAEConfig | None = None,
                  instance: int = 0) -> tuple[SAE, dict]:
    """The kit's SAE trained on the toy's hidden activations (resumes, or loads when finished)."""
    sae_cfg = sae_cfg or toy_sae_config(cfg)
    batches = hidden_batches(model, instance, sae_cfg.batch_size, seed=cfg.seed + 7)
    init = torch.cat([next(iter(batches(10**9 + i))) for i in range(8)])    # rows no training batch uses
    return train_sae(folder, batches, model.cfg.d_hidden, sae_cfg, init, opts=TrainOptions(desc="toy SAE"))
