"""Sparse autoencoders: the recipes, training, resampling, evaluation, plots, SAELens interop (notebook 03).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "model": ("SAE", "load_sae", "save_sae"),
    "recipes": ("RECIPES", "get_recipe"),
    "grads": ("sae_grads", "sae_loss"),
    "step": ("init_sae", "make_optimizer", "train_step"),
    "train": ("TrainOptions", "train_sae"),
    "resampling": ("per_input_loss", "resample"),
    "jobs": ("notebook_plan", "train_densities", "train_sae_on_store", "train_saes"),
    "metrics": ("PAPER_DEAD_TOKENS", "PAPER_L0_RANGE", "PAPER_RESAMPLING_ORDER", "ablation_losses",
                "density_resolution", "density_stats", "evaluate_sae", "feature_acts", "history_at", "l0_verdict",
                "loss_recovered", "mean_feature_acts", "resampling_verdict", "sae_hook", "sae_stats",
                "scorecard_entries", "side_entries", "size_verdict", "topk_neuron_baseline"),
    "plots": ("plot_feature_density", "plot_resampling_ablation", "plot_sae_comparison", "plot_sae_training"),
    "codes": ("cached_codes",),
    "saelens": ("export_saelens", "import_saelens"),
    "exercises": ("check_resample", "check_top_feature", "check_train_step", "exercise_run"),
})
