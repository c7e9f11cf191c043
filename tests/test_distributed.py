"""Data parallelism under torchrun on CPU (gloo, 2 processes of 1 thread, smoke sizes; tests/ddp_worker.py).

Tolerances (measured): 2 processes vs 1 with the same global batch, after 20 LM steps / 40 SAE steps, weights
differ by < 1e-5 (LM, float sums in another order, amplified by Adam) and < 1e-6 (SAEs, with a resampling).
torchrun with one process and plain python are the same code path: bit for bit equal.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from monosem_lib.distributed import SINGLE, from_env, rank_slice

REPO = Path(__file__).resolve().parent.parent
WORKER = str(REPO / "tests" / "ddp_worker.py")
FILES = ("lm/model.safetensors", "sae_paper/sae.safetensors", "sae_topk/sae.safetensors")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _launch(out: Path, n: int | None, *extra: str) -> subprocess.CompletedProcess:
    """Plain python (n None) or torchrun with n processes."""
    cmd = [sys.executable, WORKER] if n is None else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), WORKER]
    return subprocess.run(cmd + [str(out), *extra], capture_output=True, text=True, env=ENV, timeout=180)


def _max_diff(a: Path, b: Path, f: str) -> float:
    x, y = load_file(a / f), load_file(b / f)
    assert x.keys() == y.keys()
    return max((x[k] - y[k]).abs().max().item() for k in x)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "plain"
    r = _launch(out, None)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_rank_slices_cover_the_batch_once():
    from monosem_lib.distributed import Dist
    for n in (7, 8, 64):
        parts = [range(n)[rank_slice(n, Dist(r, 3))] for r in range(3)]
        assert sorted(i for p in parts for i in p) == list(range(n))
    assert from_env() == SINGLE                       # no torchrun variables: world 1, nothing started


@pytest.mark.slow
def test_torchrun_with_one_process_is_plain_python(reference, tmp_path):
    r = _launch(tmp_path / "one", 1)
    assert r.returncode == 0, r.stderr[-3000:]
    for f in FILES:
        assert _max_diff(reference, tmp_path / "one", f) == 0.0, f


@pytest.mark.slow
def test_two_processes_match_one_and_resume_after_a_rank_is_killed(reference, tmp_path):
    two = tmp_path / "two"
    r = _launch(two, 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(reference, two, FILES[0]) < 1e-5
    for f in FILES[1:]:
        assert _max_diff(reference, two, f) < 1e-6, f
    hist = (two / "sae_paper" / "history.json").read_text()
    assert '"n_resampled": 2' in hist                 # a resampling happened (decided on rank 0, broadcast)
    killed = tmp_path / "killed"
    r = _launch(killed, 2, "--kill-rank1-at", "25")
    assert r.returncode != 0 and not (killed / "sae_paper" / "sae.safetensors").exists()
    assert list((killed / "sae_paper" / "checkpoints").iterdir())   # rank 0 checkpointed before the kill
    r = _launch(killed, 2)                                      # restart both ranks: resume
    assert r.returncode == 0, r.stderr[-3000:]
    for f in FILES:
        assert _max_diff(two, killed, f) < 1e-6, f


@pytest.mark.slow
def test_a_rank_with_another_config_refuses_with_one_line(tmp_path):
    r = _launch(tmp_path / "odd", 2, "--odd-rank1")
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if "has another SAE config or activation store than rank 0" in ln]
    assert lines and "launch every rank with the same profile, settings and run dir" in lines[0]
    assert not (tmp_path / "odd" / "sae_paper" / "sae.safetensors").exists()


@pytest.mark.slow
def test_a_slow_rank_still_finds_the_rank_manifests_it_merges(tmp_path):
    """Rank 0 drops the ranks' `.manifest.rank<r>.json` only after every rank has merged them: a rank that
    reads them late (a loaded CI machine) must not find them gone (it failed CI once with FileNotFoundError)."""
    import numpy as np
    from monosem_lib.harvest.store import open_store
    from monosem_lib.text.splits import save_split
    from tests.harvest.test_activations import _save_model, _split
    rng = np.random.default_rng(0)
    save_split(_split(rng, 60, 1, 150), tmp_path / "tokens" / "train")
    save_split(_split(rng, 30, 150, 300), tmp_path / "tokens" / "val")
    _save_model(tmp_path, "A", 0)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(REPO / "tests" / "ddp_harvest_worker.py"), str(tmp_path), "--slow-rank1"],
                       capture_output=True, text=True, env=ENV, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("complete True") == 2
    open_store(tmp_path, "A").verify()
    assert not list((tmp_path / "acts" / "A").glob(".manifest.rank*"))


@pytest.mark.slow
def test_the_train_command_under_torchrun_writes_what_the_notebooks_read(tmp_path):
    """`torchrun -m monosem_lib train` on 2 processes: LMs as one process's, one complete activation manifest
    (no rank fragments left), the main SAEs; the notebooks then find these finished."""
    args = ["-m", "monosem_lib", "train", "--profile", "smoke", "-p", "lm_train.max_steps=12", "-p", "sae.n_acts=4096"]
    one = subprocess.run([sys.executable, *args, "--run-dir", str(tmp_path / "one")], capture_output=True,
                         text=True, env=ENV, timeout=180, cwd=REPO)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          *args, "--run-dir", str(tmp_path / "two")], capture_output=True, text=True, env=ENV,
                         timeout=180, cwd=REPO)
    # a failing rank's traceback comes before torchrun's summary: show every line naming an error, then the tail
    errors = "\n".join(ln for ln in two.stderr.splitlines() if "Error" in ln or "rank" in ln)
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + errors[-3000:] + two.stderr[-2000:]
    assert "on 2 process(es)" in two.stdout
    assert _max_diff(tmp_path / "one", tmp_path / "two", "lm/A/model.safetensors") < 1e-5
    import json
    for model in ("A", "B", "random"):
        m1, m2 = (json.loads((tmp_path / d / "acts" / model / "manifest.json").read_text()) for d in ("one", "two"))
        assert m2["complete"] and [s["rows"] for s in m2["parts"]["train"]["shards"]] == \
            [s["rows"] for s in m1["parts"]["train"]["shards"]]
        assert not list((tmp_path / "two" / "acts" / model).glob(".manifest.rank*"))
    assert (tmp_path / "two" / "sae" / "B" / "history.json").exists()
