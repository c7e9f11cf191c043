"""Toy models of superposition and the kit's SAE on one (notebook 00).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "model": ("sample_features", "shared_directions", "superposition_stats"),
    "plots": ("plot_recovery", "plot_superposition"),
    "recovery": ("random_directions", "recovery_table"),
    "train": ("ground_truth_config", "load_or_train_toy", "sparsity_sweep_config", "toy_sae_config", "train_toy_sae",
              "true_directions"),
    "exercises": ("check_mean_max_cosine", "check_toy_forward"),
})
