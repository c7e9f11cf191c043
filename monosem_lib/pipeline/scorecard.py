"""The run's scorecard: flat keys in runs/<name>/scorecard.json, and scorecard.md beside the paper."""
from __future__ import annotations

import math
from pathlib import Path

from ..io import atomic_write_text, load_json, save_json

SCORECARD_ADVICE = "delete it and rerun the run's notebooks (each records its numbers again; finished work is reused)"

# The paper's figures for the keys that have one (Bricken et al. 2023; A/1 = 4,096 features on model A).
PAPER_FIGURES: dict[str, tuple[str, str]] = {
    "sae.A.n_features": ("4096", "A/1"),
    "sae.A.l0": ("10–20", "target range"),
    "sae.A.loss_recovered": ("0.79", "A/1 vs zero ablation"),
    "sae.A.dead_frac": ("0.041", "168 / 4,096 dead"),
    "sae.A.ultralow_frac": ("0.071", "292 / 4,096 < 1e-6"),
    "interp.autointerp_median.features": ("well above neurons", "Claude explainer"),
    "interp.proxy.arabic.feature_corr": ("0.74", "the paper's proxy (appendix)"),
    "interp.proxy.hebrew.feature_corr": ("0.55", "the paper's proxy"),
    "interp.proxy.base64.feature_corr": ("0.38", "the paper's proxy"),
    "interp.proxy.base64.neuron_corr": ("0.18", "best neuron"),
    "interp.proxy.hebrew.neuron_corr": ("0.1", "best neuron"),
    "interp.proxy.dna.feature_corr": ("0.8", "the paper's proxy, binarised"),
    "interp.specificity.arabic.feature": ("0.81", "share of the feature's active tokens that are Arabic"),
    "interp.specificity.arabic.feature_high": ("0.98", "paper: above activation 5; here: >= half the max"),
    "univ.median_max_corr.features": ("0.72", "A/1 vs B/1"),
    "univ.median_max_corr.neurons": ("0.46", ""),
    "univ.twin.arabic.corr": ("0.91", "A's Arabic feature vs its twin in B"),
    "univ.twin.hebrew.corr": ("0.92", ""),
    "univ.twin.base64.corr": ("0.85", ""),
    "univ.twin.dna.corr": ("0.92", ""),
}


def record(run_dir: str | Path, metrics: dict[str, float | int | str]) -> dict:
    """Merge flat `metrics` ({"lm.A.val_loss": 4.1, ...}) into scorecard.json; returns the whole card."""
    path = Path(run_dir) / "scorecard.json"
    card = load_json(path, advice=SCORECARD_ADVICE) if path.exists() else {}
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        card[key] = value
    save_json(path, card)
    return card


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def write_markdown(run_dir: str | Path) -> Path:
    """scorecard.md: every key of this run beside the paper's figure where there is one."""
    run_dir = Path(run_dir)
    path = run_dir / "scorecard.json"
    card = load_json(path, advice=SCORECARD_ADVICE) if path.exists() else {}
    lines = [f"# Scorecard: {run_dir.name}", "", "| key | this run | paper | note |", "|---|---|---|---|"]
    for key in sorted(set(card) | set(PAPER_FIGURES)):
        paper, note = PAPER_FIGURES.get(key, ("", ""))
        lines.append(f"| `{key}` | {_fmt(card.get(key)) if key in card else 'not run'} | {paper} | {note} |")
    text = "\n".join(lines) + "\n"
    return atomic_write_text(run_dir / "scorecard.md", text)
