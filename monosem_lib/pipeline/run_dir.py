"""A run directory: where every notebook reads earlier artifacts and writes its own.

runs/<name>/config/<stage>.json pins the settings each stage was built with, so a run dir is
never silently mixed with artifacts made under other settings.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from ..config import RunConfig, get_config
from ..io import load_json, save_json
from ..lm.model import TinyLM, load_lm
from ..sae.model import SAE, load_sae
from ..text.splits import TokenSplit, load_split
from ..text.tokenizer import load_tokenizer
from .lock import hold_in_notebook
from .scorecard import SCORECARD_ADVICE

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_NAMES = ("A", "B")
CONTROL_LM = "random"         # an LM of the same shape with random weights (notebook 01), the control of 02-05


def default_run_dir(profile: str) -> Path:
    """$MONOSEM_RUN_DIR if set, else runs/<profile> at the repository root."""
    env = os.environ.get("MONOSEM_RUN_DIR")
    return Path(env) if env else REPO_ROOT / "runs" / profile


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


def config_conflicts(run_dir: str | Path, cfg: RunConfig, stages: list[str]) -> list[tuple[str, str]]:
    """(stage, 'key: pinned vs now') for every pinned setting of `stages` that `cfg` changes; writes nothing."""
    out = []
    for stage in stages:
        path = Path(run_dir) / "config" / f"{stage}.json"
        if path.exists():
            saved, wanted = load_pin(Path(run_dir), stage), _jsonable(cfg.stage(stage))
            out += [(stage, f"{stage}.{k}: {saved.get(k)!r} there vs {wanted.get(k)!r} now")
                    for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    return out


def rebuild_advice(run_dir: Path, stage: str) -> str:
    """How to rebuild from `stage` on while keeping the earlier stages' artifacts."""
    if STAGE_OUTPUTS[stage] is None:
        return f"delete {run_dir} to start fresh"
    paths = [str(run_dir / p) for p in STAGE_OUTPUTS[stage]] + \
            [str(run_dir / "config" / f"{s}.json") for s in LATER_STAGES[stage]]
    return f"rebuild from the {stage} stage on (earlier stages kept) by deleting {' '.join(paths)}"


def conflict_message(run_dir: Path, conflicts: list[tuple[str, str]]) -> str:
    """One line: what differs, and how to keep the run dir or rebuild only from the first changed stage on."""
    first = min((s for s, _ in conflicts), key=list(STAGE_OUTPUTS).index)
    diffs = "; ".join(d for _, d in conflicts)
    return (f"run dir {run_dir} was built with other settings ({diffs}); pass another run_dir to keep it, "
            f"or {rebuild_advice(run_dir, first)}")


def prepare_run_dir(run_dir: str | Path, cfg: RunConfig, stages: list[str]) -> Path:
    """Create the run dir and pin `stages`' settings; refuse (writing nothing) a run dir built with other settings."""
    run_dir = Path(run_dir)
    conflicts = config_conflicts(run_dir, cfg, stages)
    if conflicts:
        raise ValueError(conflict_message(run_dir, conflicts))
    (run_dir / "config").mkdir(parents=True, exist_ok=True)
    for stage in stages:
        path = run_dir / "config" / f"{stage}.json"
        if not path.exists():
            save_json(path, _jsonable(cfg.stage(stage)))
    save_json(run_dir / "config" / "profile.json", {"profile": cfg.profile})
    return run_dir


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def saved_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig a run dir was built with (its pinned stages over its profile's defaults)."""
    run_dir = Path(run_dir)
    profile = load_json(run_dir / "config" / "profile.json", advice=PROFILE_ADVICE)["profile"]
    overrides = {}
    for path in (run_dir / "config").glob("*.json"):
        if path.stem in STAGE_OUTPUTS:
            overrides.update({f"{path.stem}.{k}": v for k, v in load_pin(run_dir, path.stem).items()})
    return get_config(profile, overrides)


@dataclass
class Run:
    """Lazy access to a run's tokenizer, LMs, SAEs, token splits and scorecard."""
    run_dir: Path
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def config(self) -> RunConfig:
        return saved_config(self.run_dir)

    @property
    def tokenizer(self) -> Tokenizer:
        if "tok" not in self._cache:
            self._cache["tok"] = load_tokenizer(self.run_dir)
        return self._cache["tok"]

    def lm(self, name: str = "A", device: str = "cpu") -> TinyLM:
        """LM A or B, or the random-weight control."""
        if name not in MODEL_NAMES + (CONTROL_LM,):
            raise ValueError(f"unknown model {name!r}; models are {', '.join(MODEL_NAMES + (CONTROL_LM,))}")
        key = f"lm{name}{device}"
        if key not in self._cache:
            self._cache[key] = load_lm(self.run_dir / "lm" / name, device)
        return self._cache[key]

    def sae(self, name: str = "A", device: str = "cpu") -> SAE:
        """An SAE of run_dir/sae/<name>: 'A', 'B' (the main ones), 'A_<n_features>' (size sweep),
        'ablation_<strategy>', the controls 'A_seed1' and 'random', the other recipe 'alt_A' / 'alt_B', 'topk_A';
        a missing one is an error naming notebook 03."""
        key = f"sae{name}{device}"
        if key not in self._cache:
            folder = self.run_dir / "sae" / name
            if not (folder / "config.json").exists():
                have = sorted(p.name for p in (self.run_dir / "sae").glob("*") if (p / "config.json").exists())
                raise FileNotFoundError(f"no SAE {name!r} in {self.run_dir / 'sae'} (have: {', '.join(have) or 'none'}); "
                                        f"run notebook 03_train_sae first")
            self._cache[key] = load_sae(folder, device)
        return self._cache[key]

    def split(self, name: str) -> TokenSplit:
        """The tokenised 'train' or 'val' split."""
        return load_split(self.run_dir / "tokens" / name)

    @property
    def metrics(self) -> dict:
        path = self.run_dir / "scorecard.json"
        return load_json(path, advice=SCORECARD_ADVICE) if path.exists() else {}


def load_run(run_dir: str | Path) -> Run:
    """Open an existing run dir (made by notebook 01 or `python -m monosem_lib run`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config" / "profile.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a run dir; run notebook 01_train_tiny_lm (or `make replicate`) first")
    return Run(run_dir)


def _fixed_mmap_threshold(nbytes: int = 4 << 20) -> None:
    """glibc raises its mmap threshold each time a large block is freed, after which the passes of notebooks 04-06
    (tens of MB per batch, freed and allocated again) come from a heap that fragments and only grows: 2 GB of RSS
    for a loop that needs 50 MB. A fixed threshold keeps every block >= 4 MB in its own mapping, returned on free.
    No-op where the C library is not glibc."""
    import ctypes
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, nbytes)          # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _quiet_notebook_bars() -> None:
    """tqdm's notebook bars ignore TQDM_DISABLE (they force disable=False) and leave "0%" widgets in executed
    copies: under the runner (which sets it) every bar of this kernel is disabled instead."""
    from tqdm import notebook
    init = notebook.tqdm_notebook.__init__
    if getattr(init, "_monosem_quiet", False):
        return

    def quiet_init(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "disable": True})
    quiet_init._monosem_quiet = True
    notebook.tqdm_notebook.__init__ = quiet_init


def setup_notebook(profile: str, run_dir: str | Path | None, overrides: dict | None,
                   stages: list[str]) -> tuple[RunConfig, Path]:
    """The first call of every notebook: config, pinned and locked run dir, all cores, no network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if os.environ.get("TQDM_DISABLE"):
        _quiet_notebook_bars()
    _fixed_mmap_threshold()
    cfg = get_config(profile, overrides)
    # smoke-sized ops are too small to split across threads: a second thread only adds contention
    threads = os.environ.get("MONOSEM_THREADS") or (1 if cfg.profile == "smoke" else os.cpu_count() or 1)
    torch.set_num_threads(int(threads))
    run_dir = Path(run_dir or default_run_dir(profile))
    conflicts = config_conflicts(run_dir, cfg, stages)
    if conflicts:                               # refused before the lock file (or anything else) is written
        raise ValueError(conflict_message(run_dir, conflicts))
    hold_in_notebook(run_dir)                   # one writer: under the runner it holds the lock already
    return cfg, prepare_run_dir(run_dir, cfg, stages)
