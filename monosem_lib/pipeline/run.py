"""`Run(run_dir)`: the one way to reach a run's artifacts, for every notebook, the runner and a user.

    run = load_run("runs/classroom")
    run.lm("A"), run.sae("A"), run.store("A"), run.tokens("val"), run.tokenizer, run.metrics
    run.eval_tokens(), run.codes("A"), run.record({...}), run.path("browser", "index.html")

Everything is loaded on first use and kept (per device); a missing artifact is an error naming the notebook that
writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from ..config import RunConfig, get_config
from ..io import load_json
from ..lm.model import TinyLM, load_lm
from ..sae.model import SAE, load_sae
from ..text.splits import TokenSplit, load_split
from ..text.tokenizer import load_tokenizer
from .pins import PROFILE_ADVICE, STAGE_OUTPUTS, load_pin
from .scorecard import SCORECARD_ADVICE, record

MODEL_NAMES = ("A", "B")
CONTROL_LM = "random"         # an LM of the same shape with random weights (notebook 01), the control of 02-05


@dataclass
class Run:
    """A run dir and lazy, cached access to its tokenizer, LMs, SAEs, activation stores, token splits, evaluation
    tokens and SAE codes, and its scorecard. `cfg`: the settings in force (default: those the run dir pinned)."""
    dir: Path
    cfg: RunConfig | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.dir = Path(self.dir)

    def path(self, *parts: str) -> Path:
        """A path inside the run dir."""
        return self.dir.joinpath(*parts)

    @property
    def config(self) -> RunConfig:
        return self.cfg or saved_config(self.dir)

    @property
    def tokenizer(self) -> Tokenizer:
        return self._cached("tok", lambda: load_tokenizer(self.dir))

    @property
    def metrics(self) -> dict:
        """The scorecard as it is now (read afresh)."""
        path = self.path("scorecard.json")
        return load_json(path, advice=SCORECARD_ADVICE) if path.exists() else {}

    def record(self, metrics: dict) -> dict:
        """Merge flat scorecard keys into scorecard.json; returns the whole card."""
        return record(self.dir, metrics)

    def lm(self, name: str = "A", device: str = "cpu") -> TinyLM:
        """LM A or B, or the random-weight control."""
        if name not in MODEL_NAMES + (CONTROL_LM,):
            raise ValueError(f"unknown model {name!r}; models are {', '.join(MODEL_NAMES + (CONTROL_LM,))}")
        return self._cached(("lm", name, device), lambda: load_lm(self.path("lm", name), device))

    def sae(self, name: str = "A", device: str = "cpu") -> SAE:
        """An SAE of run_dir/sae/<name>: 'A', 'B' (the main ones), 'A_<n_features>' (size sweep),
        'ablation_<strategy>', the controls 'A_seed1' and 'random', the other recipe 'alt_A' / 'alt_B', 'topk_A'."""
        folder = self.path("sae", name)
        if not (folder / "config.json").exists():
            have = sorted(p.name for p in self.path("sae").glob("*") if (p / "config.json").exists())
            raise FileNotFoundError(f"no SAE {name!r} in {self.path('sae')} (have: {', '.join(have) or 'none'}); "
                                    f"run notebook 03_train_sae first")
        return self._cached(("sae", name, device), lambda: load_sae(folder, device))

    def store(self, name: str = "A"):
        """The activation store of LM `name` (notebook 02): its training and held-out rows."""
        from ..harvest.store import open_store
        return self._cached(("store", name), lambda: open_store(self.dir, name))

    def tokens(self, split: str = "val") -> TokenSplit:
        """A tokenised split: 'train', 'val', or the name a store's manifest gives its held-out rows' split."""
        return self._cached(("tokens", split), lambda: load_split(self.path("tokens", split)))

    def eval_tokens(self):
        """The evaluation tokens of notebooks 04-06: windows tiling val, then train, to eval.n_tokens."""
        from ..harvest.eval_tokens import plan_eval_tokens
        cfg = self.config
        return self._cached("eval", lambda: plan_eval_tokens(self.tokens("val"), self.tokens("train"), cfg.lm.n_ctx,
                                                             cfg.eval.n_tokens))

    def codes(self, sae: str = "A", lm: str | None = None, device: str = "cpu", limit: int | None = None,
              desc: str | None = None) -> torch.Tensor:
        """SAE `sae`'s codes (CSR [rows, n_features]) on the evaluation tokens through LM `lm` (default: the LM the
        name ends in, else A), the first `limit` rows; computed once per run and kept in run_dir/eval/."""
        from ..sae.codes import cached_codes
        lm = lm or (sae.split("_")[-1] if sae.split("_")[-1] in MODEL_NAMES else CONTROL_LM if sae == CONTROL_LM
                    else "A")
        return cached_codes(self.dir, sae, lm, self.lm(lm, device), self.sae(sae, device), self.eval_tokens(),
                            limit=limit, batch_windows=self.config.eval.batch_windows, desc=desc or f"encode {sae}")

    def _cached(self, key, load):
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]


def saved_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig a run dir was built with (its pinned stages over its profile's defaults)."""
    run_dir = Path(run_dir)
    profile = load_json(run_dir / "config" / "profile.json", advice=PROFILE_ADVICE)["profile"]
    overrides = {}
    for path in (run_dir / "config").glob("*.json"):
        if path.stem in STAGE_OUTPUTS:
            overrides.update({f"{path.stem}.{k}": v for k, v in load_pin(run_dir, path.stem).items()})
    return get_config(profile, overrides)


def load_run(run_dir: str | Path) -> Run:
    """Open an existing run dir (made by notebook 01 or `python -m monosem_lib run`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config" / "profile.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a run dir; run notebook 01_train_tiny_lm (or `make replicate`) first")
    return Run(run_dir)
