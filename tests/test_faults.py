"""Fault injection: kill -9 a training or writing process at seeded points, resume, and get the same bytes.

Each stage (LM training, SAE training with resampling, harvesting) first runs once untouched, reporting how
many steps and atomic writes it makes; then, for points drawn with a fixed seed among those events, a fresh
run is killed there (SIGKILL: no cleanup runs), restarted, and must end with files bitwise equal to the
untouched run's and no temporary or orphan files. Kills before a rename land between a file's tensors and
its checksum, between a checkpoint and its meta, between the weights and history.json, and so on.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from monosem_lib.pipeline.run_dir import REPO_ROOT
from tests.fault_child import make_harvest_run

RESULTS = {"lm": ["model.safetensors"], "sae": ["sae.safetensors", "feature_counts.safetensors"],
           "harvest": None}            # harvest: every shard of acts/A
POINTS = {"lm": ("step", "step", "write", "write"), "sae": ("step", "step", "write", "write"),
          "harvest": ("write", "write", "write", "write")}


def _child(stage, folder, kill=None):
    out = subprocess.run([sys.executable, "-m", "tests.fault_child", stage, str(folder), *([kill] if kill else [])],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    return out


def _results(stage, folder):
    if RESULTS[stage] is None:
        return {p.name: p.read_bytes() for p in sorted((folder / "acts" / "A").glob("*.npy"))}
    return {name: (folder / name).read_bytes() for name in RESULTS[stage]}


def _leftovers(folder):
    tmp = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    orphans = [p for p in folder.rglob("step_*.json") if not p.with_suffix(".safetensors").exists()]
    return tmp + orphans


def _fresh(stage, base, folder):
    if stage == "harvest":
        shutil.copytree(base, folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(RESULTS))
def test_killed_anywhere_resumes_to_identical_files(tmp_path, stage):
    base = tmp_path / "base"
    if stage == "harvest":
        make_harvest_run(base)
    ref = _fresh(stage, base, tmp_path / "ref")
    out = _child(stage, ref)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = {k: int(v) for k, v in re.findall(r"(step|write)=(\d+)", out.stdout)}
    expected = _results(stage, ref)
    rng = np.random.default_rng(list(RESULTS).index(stage))
    for i, kind in enumerate(POINTS[stage]):
        at = int(rng.integers(1, counts[kind] + 1))
        folder = _fresh(stage, base, tmp_path / f"kill{i}")
        killed = _child(stage, folder, f"{kind}:{at}")
        assert killed.returncode == -signal.SIGKILL, (kind, at, killed.stderr[-2000:])
        resumed = _child(stage, folder)
        assert resumed.returncode == 0, (kind, at, resumed.stderr[-2000:])
        assert _results(stage, folder) == expected, f"{stage} killed at {kind} {at} of {counts[kind]}"
        assert _leftovers(folder) == [], (kind, at)
