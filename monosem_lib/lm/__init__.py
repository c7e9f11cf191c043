"""The tiny LM: model, training, evaluation, plots, the TransformerLens bridge (notebook 01).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "model": ("TinyLM", "generate", "load_lm", "random_lm", "save_lm"),
    "train": ("train_lm", "train_lms"),
    "evaluate": ("bigram_loss", "lm_loss", "unigram_loss", "val_windows"),
    "plots": ("plot_category_shares", "plot_training_curves"),
    "exercises": ("tokens_per_char",),
    "hooked": ("to_hooked_transformer",),
})
