"""The same features in LM A and LM B: matching, twins, density bins, controls (notebook 05).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "attribution": ("attribution_entries", "attribution_verdict", "feature_similarities", "neuron_similarities",
                    "next_tokens", "plot_similarities", "twin_partners"),
    "density": ("by_density", "firing_counts", "plot_by_density", "scorecard_entries"),
    "evaluate": ("first_rows", "neuron_max_correlation", "save_unit_results"),
    "exercises": ("check_max_corr", "check_shuffled_control"),
    "matching": ("Twins", "column", "hungarian_match", "load_twins", "logit_weights", "max_correlation", "permute_rows",
                 "rowwise_corr", "top_rows"),
    "plots": ("plot_act_vs_logit", "plot_max_corr_hist", "plot_twin_scatter", "twin_table_html"),
    "twins": ("category_twins", "format_twin_table", "shared_unit_notes"),
    "verdicts": ("logit_verdict", "matched_verdict", "universality_verdict"),
})
