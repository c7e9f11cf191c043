"""Pinned stage configs (run_dir/config/<stage>.json): what each stage builds, and how to read a pin back."""
from __future__ import annotations

from pathlib import Path

from ..io import load_json

# what a stage's settings shape, in the run dir: to rebuild from a stage on, these go (with their configs)
STAGE_OUTPUTS = {"data": None, "tokenizer": None,            # None: everything depends on the tokens
                 "lm": ("lm", "acts", "sae", "eval"), "lm_train": ("lm", "acts", "sae", "eval"),
                 "harvest": ("acts", "sae", "eval"), "sae": ("sae", "eval"), "eval": ("eval",),
                 "toy": ("toy",)}
LATER_STAGES = {"lm": ("lm", "lm_train", "harvest", "sae", "eval"), "lm_train": ("lm", "lm_train", "harvest", "sae", "eval"),
                "harvest": ("harvest", "sae", "eval"), "sae": ("sae", "eval"), "eval": ("eval",), "toy": ("toy",)}


# the notebook that builds each stage's outputs first
STAGE_NOTEBOOK = {"data": "01_train_tiny_lm", "tokenizer": "01_train_tiny_lm", "lm": "01_train_tiny_lm",
                  "lm_train": "01_train_tiny_lm", "harvest": "02_harvest_activations", "sae": "03_train_sae",
                  "eval": "04_interpret_features", "toy": "00_toy_superposition"}
PROFILE_ADVICE = "delete it and rerun any notebook of this run with its profile (each notebook records it)"


def pin_advice(run_dir: Path, stage: str) -> str:
    """What to do about a pinned config that cannot be trusted: settings change with -p, never by editing a pin;
    deleting what the stage and the later ones built (and their pins) rebuilds them with the settings passed."""
    paths = [str(run_dir)] if STAGE_OUTPUTS[stage] is None else \
        [str(run_dir / p) for p in STAGE_OUTPUTS[stage]] + [str(run_dir / "config" / f"{s}.json")
                                                             for s in LATER_STAGES[stage]]
    return (f"settings change with -p (or overrides) and their own run dir, not by editing a pinned config; to "
            f"rebuild from the {stage} stage on, delete {' '.join(paths)} and rerun the notebooks from "
            f"{STAGE_NOTEBOOK[stage]} on")


def load_pin(run_dir: Path, stage: str) -> dict:
    """The settings run_dir/config/<stage>.json pinned (checked against the checksum recorded in it)."""
    return load_json(Path(run_dir) / "config" / f"{stage}.json", advice=pin_advice(Path(run_dir), stage))
