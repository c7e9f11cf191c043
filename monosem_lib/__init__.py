"""monosem_lib: the library behind the monosem notebooks (a replication of "Towards Monosemanticity").

    import monosem_lib as ms
    cfg, run = ms.setup_notebook(profile, run_dir, overrides, stages=[...])   # the first call of a notebook
    run = ms.load_run("runs/classroom")                   # or: open a finished run
    run.lm("A"), run.sae("A"), run.store("A"), run.tokens("val"), run.metrics
    ms.sae.train_saes(...), ms.interpret.export_browser(...), ...   # each stage's public names

Public API (notebooks, users and tests rely on these names): `Run`, `load_run`, `load_lm`, `load_sae`,
`load_tokenizer`, `encode`, `decode`, `get_config`, `record`, and one sub-package per stage (text, lm, harvest,
sae, toy, interpret, universality, steering, pipeline) whose names are imported on first use. Importing does
nothing but import.
"""
from . import harvest, interpret, lm, pipeline, sae, steering, text, toy, universality  # noqa: F401 (ms.<stage>)
from .config import get_config
from .exercises import check_target
from .lm.model import TinyLM, generate, load_lm
from .pipeline.run import CONTROL_LM, MODEL_NAMES, Run, load_run
from .pipeline.run_dir import setup_notebook
from .pipeline.scorecard import PAPER_FIGURES, record
from .sae.model import load_sae
from .text.tokenizer import decode, encode, load_tokenizer

__all__ = ["CONTROL_LM", "MODEL_NAMES", "PAPER_FIGURES", "Run", "TinyLM", "check_target", "decode", "encode",
           "generate", "get_config", "load_lm", "load_run", "load_sae", "load_tokenizer", "record", "setup_notebook",
           "harvest", "interpret", "lm", "pipeline", "sae", "steering", "text", "toy", "universality"]
