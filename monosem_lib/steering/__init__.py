"""Steering and ablation through the one MLP hook: pinned sampling, dose sweeps, controls (notebook 06).

Its public names, each imported on first use (`monosem_lib.exports`); the modules stay importable as such.
"""
from ..exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "controls": ("STEERED_RULE", "at_k", "is_steered", "matched_controls", "scorecard_entries", "sweep_summary"),
    "exercises": ("check_ablate_feature", "check_pin_feature"),
    "report": ("dose_remark", "feature_notes", "first_passing_k", "scorecard_excerpt", "steering_verdict"),
    "steer": ("ablate_hook", "check_strength", "clamp_hook", "effect_html", "feature_activation",
              "has_widget_frontend", "loglik_change", "mean_ablate_hook", "resolve_feature", "steer_demo_html",
              "next_token_kl", "steering_panel"),
    "sweep": ("dose_response", "pinned_sweep"),
    "targets": ("column_max", "column_stats", "load_category_features"),
    "writers": ("writer_lines", "writer_report"),
})
