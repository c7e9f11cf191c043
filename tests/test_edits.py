"""Hand edits of JSON records (issue #26 rows 1-3): refused by name, and the error's advice, followed to the
letter, brings the run dir back (or rebuilds exactly what the new settings change).

A small run dir is built the way notebooks 01-03 build one (tokens, LM A, its store, SAE A); "rerunning notebook
NN" is calling what that notebook calls, as in test_corruption.py.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from monosem_lib.config import get_config
from monosem_lib.harvest.activations import harvest_mlp_activations
from monosem_lib.harvest.store import open_store
from monosem_lib.io import CorruptFileError, load_json, save_json
from monosem_lib.lm.model import load_lm
from monosem_lib.lm.train import train_lms
from monosem_lib.pipeline.run_dir import prepare_run_dir, setup_notebook
from monosem_lib.sae.jobs import train_saes
from monosem_lib.sae.model import load_sae
from monosem_lib.text.splits import prepare_tokens
from tests.helpers import follow_advice

pytestmark = pytest.mark.filterwarnings("ignore:category .* has no validation document")
SMALL = {"data.max_chars": 150_000, "tokenizer.train_chars": 150_000, "lm_train.max_steps": 20,
         "harvest.n_rows": 6000, "harvest.heldout_rows": 1000, "sae.n_acts": 4096}
CFG = get_config("smoke", SMALL)
STAGES = ["data", "tokenizer", "lm", "lm_train", "harvest", "sae"]


def notebook_01(run, cfg=CFG):
    prepare_tokens(run, cfg)
    train_lms({"A": (run / "lm" / "A", cfg.lm_train.seeds[0])}, cfg.lm, cfg.lm_train, run / "tokens" / "train",
              parallel=False)


def notebook_02(run, cfg=CFG):
    harvest_mlp_activations(run, "A", cfg.harvest)


def notebook_03(run, cfg=CFG):
    train_saes(run, {"A": ("A", cfg.sae)}, parallel=False)


REDO = {"01": notebook_01, "02": notebook_02, "03": notebook_03}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("run")
    prepare_run_dir(run, CFG, STAGES)
    for nb in ("01", "02", "03"):
        REDO[nb](run)
    return run


@pytest.fixture()
def run(base, tmp_path):
    shutil.copytree(base, tmp_path / "run")
    return tmp_path / "run"


def _edit(path: Path, change) -> None:
    """What a person does in an editor: change values, keep everything else (the checksum line included)."""
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj, indent=2))


def _follow(advice_line: str, run: Path, named: Path) -> None:
    follow_advice(advice_line, run, named, REDO)


def _refused(call, path: Path) -> str:
    with pytest.raises(Exception) as err:
        call()
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def test_row1_an_edited_sae_config_is_refused_and_rerunning_03_restores_it(run):
    path = run / "sae" / "A" / "config.json"
    good = path.read_bytes()

    recipe = load_sae(run / "sae" / "A").recipe.name

    def other_recipe(cfg):
        cfg["sae"]["recipe"], cfg["train"]["l1_coeff"] = ("paper" if recipe == "2024" else "2024"), 0.3
    _edit(path, other_recipe)
    msg = _refused(lambda: notebook_03(run), path)           # `--only 03`: it must not reuse the edited SAE
    assert "was changed after it was written" in msg and "; delete it and rerun notebook 03_train_sae" in msg
    _refused(lambda: load_sae(run / "sae" / "A"), path)      # nor may any later notebook load it
    _follow(msg, run, path)
    assert path.read_bytes() == good and load_sae(run / "sae" / "A").recipe.name == recipe


def test_row2_an_edited_lm_config_is_blamed_not_the_store_and_rerunning_01_restores_it(run):
    path = run / "lm" / "A" / "config.json"
    good = path.read_bytes()
    shards = {p: p.stat().st_mtime_ns for p in (run / "acts" / "A").glob("*.npy")}
    _edit(path, lambda cfg: cfg["lm"].update(n_heads=1))
    msg = _refused(lambda: notebook_02(run), path)
    assert "acts" not in msg and "delete it and rerun notebook 01_train_tiny_lm" in msg
    _follow(msg, run, path)
    assert path.read_bytes() == good
    notebook_02(run)                                        # the store is the LM's again: nothing re-harvested
    assert {p: p.stat().st_mtime_ns for p in (run / "acts" / "A").glob("*.npy")} == shards
    open_store(run, "A").verify()


def test_row2_a_config_that_does_not_describe_its_weights_is_refused_even_with_a_valid_checksum(run):
    """A config.json made by the kit for another LM (say, copied in): its checksum holds, but the weights record
    the settings they were trained with, and the LM is checked against them before the store is."""
    path = run / "lm" / "A" / "config.json"
    good = path.read_bytes()
    other = load_json(path)
    other["lm"]["n_heads"] = 1
    save_json(path, other)
    msg = _refused(lambda: load_lm(run / "lm" / "A"), path)
    assert "does not describe the weights beside it (n_heads: 1 there vs 2 in the weights)" in msg
    _refused(lambda: notebook_02(run), path)
    _follow(msg, run, path)
    assert path.read_bytes() == good


def test_row3_an_edited_pin_with_a_matching_override_is_refused_and_the_advice_retrains_at_the_new_value(run):
    path = run / "config" / "sae.json"
    _edit(path, lambda pin: pin.update(l1_coeff=0.05))
    wanted = {**SMALL, "sae.l1_coeff": 0.05}
    with pytest.raises(CorruptFileError) as err:
        setup_notebook("smoke", run, wanted, STAGES)       # notebook 03 run with -p sae.l1_coeff=0.05
    msg = str(err.value)
    assert "\n" not in msg and f"{path} was changed after it was written" in msg
    m = re.search(r"delete (.*) and rerun the notebooks from (\d\d)_\w+ on$", msg)
    assert m and m.group(2) == "03", msg
    for p in map(Path, m.group(1).split()):
        (shutil.rmtree(p) if p.is_dir() else p.unlink()) if p.exists() else None
    cfg, _ = setup_notebook("smoke", run, wanted, STAGES)
    REDO["03"](run, cfg)
    assert load_json(run / "sae" / "A" / "config.json")["train"]["l1_coeff"] == 0.05
    assert (run / "acts" / "A" / "manifest.json").exists()  # earlier stages kept


def test_row3_a_finished_sae_is_not_reused_under_other_settings(run):
    """The pin deleted (not edited) and pinned again at 0.05: SAE A, trained at 0.03, is not taken for a 0.05 one."""
    (run / "config" / "sae.json").unlink()
    cfg, _ = setup_notebook("smoke", run, {**SMALL, "sae.l1_coeff": 0.05}, STAGES)
    with pytest.raises(ValueError) as err:
        REDO["03"](run, cfg)
    msg = str(err.value)
    assert "\n" not in msg and "train.l1_coeff: 0.03 there vs 0.05 now" in msg, msg
    m = re.search(r"delete (\S+) and rerun notebook (\d\d)", msg)
    assert m and Path(m.group(1)) == run / "sae" / "A" and m.group(2) == "03"
    shutil.rmtree(m.group(1))
    REDO["03"](run, cfg)
    assert load_json(run / "sae" / "A" / "config.json")["train"]["l1_coeff"] == 0.05
