"""Corruption: every artifact a later notebook loads is checked, and the advice of its error recovers it.

A small run dir is built the way notebooks 01-03 build one (tokens, LM A, its store, SAE A). For each
artifact and each kind of damage (truncation, flipped bytes in the data, flipped bytes in the header,
garbage JSON), the reader a later notebook uses must refuse it with one line that names the file; the test
then does exactly what the line says ("delete <it|path> and rerun notebook NN") — rerunning a notebook is
calling what that notebook calls — and the artifact must come back byte for byte.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from monosem_lib.config import get_config
from monosem_lib.harvest.activations import harvest_mlp_activations
from monosem_lib.harvest.store import open_store
from monosem_lib.lm.model import load_lm
from monosem_lib.lm.train import train_lms
from monosem_lib.pipeline.run_dir import prepare_run_dir
from monosem_lib.sae.model import load_sae
from monosem_lib.sae.jobs import train_densities, train_saes
from monosem_lib.text.splits import load_split, prepare_tokens
from monosem_lib.text.tokenizer import load_tokenizer
from tests.helpers import follow_advice

pytestmark = pytest.mark.filterwarnings("ignore:category .* has no validation document")
CFG = get_config("smoke", {"data.max_chars": 150_000, "tokenizer.train_chars": 150_000, "lm_train.max_steps": 20,
                           "harvest.n_rows": 6000, "harvest.heldout_rows": 1000, "sae.n_acts": 4096})


def notebook_01(run):
    prepare_tokens(run, CFG)
    train_lms({"A": (run / "lm" / "A", CFG.lm_train.seeds[0])}, CFG.lm, CFG.lm_train, run / "tokens" / "train",
              parallel=False)


def notebook_02(run):
    harvest_mlp_activations(run, "A", CFG.harvest)


def notebook_03(run):
    train_saes(run, {"A": ("A", CFG.sae)}, parallel=False)


REDO = {"01": notebook_01, "02": notebook_02, "03": notebook_03}
READERS = {   # artifact -> what a later notebook does with it
    "lm/A/model.safetensors": lambda run: load_lm(run / "lm" / "A"),
    "lm/A/config.json": lambda run: load_lm(run / "lm" / "A"),
    "tokenizer.json": load_tokenizer,
    "tokens/train/tokens.npy": lambda run: load_split(run / "tokens" / "train"),
    "tokens/val/meta.json": lambda run: load_split(run / "tokens" / "val"),
    "acts/A/heldout_00000.npy": lambda run: open_store(run, "A").heldout(),
    "acts/A/manifest.json": lambda run: open_store(run, "A"),
    "sae/A/sae.safetensors": lambda run: load_sae(run / "sae" / "A"),
    "sae/A/feature_counts.safetensors": lambda run: train_densities(run / "sae" / "A"),
    "sae/A/config.json": lambda run: load_sae(run / "sae" / "A"),
}


def truncate(b: bytes) -> bytes:
    return b[: len(b) // 2]


def flip_data(b: bytes) -> bytes:
    out = bytearray(b)
    for i in range(max(0, len(b) - 300), max(0, len(b) - 44)):
        out[i] ^= 0xFF
    return bytes(out)


def flip_header(b: bytes) -> bytes:
    out = bytearray(b)
    for i in range(8, 40):
        out[i] ^= 0x5A
    return bytes(out)


def garbage_json(b: bytes) -> bytes:
    return b[:10] + b"\xff not json {"


DAMAGE = {"truncate": truncate, "flip_data": flip_data, "flip_header": flip_header, "garbage": garbage_json}
CASES = [(a, d) for a in READERS for d in DAMAGE if (d == "garbage") == a.endswith(".json") or
         (a.endswith(".json") and d == "truncate")]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("run")
    prepare_run_dir(run, CFG, ["data", "tokenizer", "lm", "lm_train", "harvest", "sae"])
    for nb in ("01", "02", "03"):
        REDO[nb](run)
    return run


def _follow(advice_line: str, run: Path, named: Path) -> None:
    follow_advice(advice_line, run, named, REDO)


@pytest.mark.parametrize("artifact,damage", CASES, ids=[f"{a}-{d}" for a, d in CASES])
def test_damaged_artifact_is_refused_by_name_and_the_advice_recovers_it(base, tmp_path, artifact, damage):
    run = tmp_path / "run"
    shutil.copytree(base, run)
    path = run / artifact
    good = path.read_bytes()
    path.write_bytes(DAMAGE[damage](good))
    with pytest.raises(Exception) as err:          # 0 artifacts trusted: it must not load
        READERS[artifact](run)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    _follow(msg, run, path)
    READERS[artifact](run)
    if not artifact.endswith(".json") or artifact.endswith("config.json"):
        assert path.read_bytes() == good, "recovered, but not the same bytes"


def test_there_are_enough_cases():
    assert len(CASES) >= 20
