"""MLP activations: the sharded stores, the evaluation tokens, neuron statistics (notebook 02).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "activations": ("harvest_mlp_activations", "plan_contexts"),
    "store": ("open_store",),
    "eval_tokens": ("EvalTokens", "mlp_act_batches", "plan_eval_tokens", "rows_limit"),
    "neurons": ("active_per_token", "category_counts", "category_entropy", "context_strings", "distinct_counts",
                "format_top_contexts", "most_polysemantic", "neuron_density", "random_entropy", "spans_categories",
                "top_activations", "topk_fvu"),
    "plots": ("plot_neuron_density", "plot_top_categories"),
    "streaming": ("first_rows",),
})
