"""Features: statistics, dashboards, the browser, autointerp, category proxies, splitting, automata, completeness
(notebook 04).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "automata": ("continuation_paths", "count_codes", "count_neurons", "token_pieces"),
    "automata_report": ("continuation_verdict", "find_systems", "fsa_entries", "fsa_labels", "fsa_panels", "fsa_verdict", "plot_fsa"),
    "autointerp": ("ConciseExplainer", "HeldoutText", "example_rows", "pick_units", "score_unit", "score_units"),
    "browse": ("feature_panel", "has_widget_frontend", "resolve_feature"),
    "categories": ("FAMILIES", "best_correlations", "best_units", "build_category_proxies", "category_entries",
                   "category_features", "feature_correlations", "format_table", "neuron_columns", "neuron_pass",
                   "plot_spectra", "specificity"),
    "completeness": ("completeness_entries", "completeness_reach", "completeness_table", "completeness_verdict", "larger_size_line",
                     "min_sizes", "plot_completeness", "proxy_categories", "score_dictionary"),
    "compare": ("comparison_entries", "format_card", "score_codes"),
    "dashboards": ("build_dashboard", "dashboard_html", "plot_dashboard"),
    "feature_browser": ("BrowserOptions", "TokenView", "export_browser"),
    "dial": ("PAPER_FOUR", "plot_dial"),
    "exercises": ("check_explain_tokens", "check_family_sizes", "check_rejected_tokens", "check_spearman"),
    "feature_stats": ("UnitActs", "density", "logit_weights", "max_act", "quantiles"),
    "splitting": ("best_match", "decoder_map_2d", "family", "load_sweep", "map_figure", "plot_family", "unit_dirs"),
    "verdicts": ("autointerp_verdict", "dial_verdict", "paper_proxy_lines", "specificity_lines", "sweep_budgets",
                 "sweep_verdict"),
})
