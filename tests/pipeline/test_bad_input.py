"""Bad settings: each is one line naming the setting and its valid values, and leaves the run dir as it was."""
import subprocess
import sys

import pytest

from monosem_lib.config import get_config
from monosem_lib.pipeline.run_dir import REPO_ROOT, prepare_run_dir, setup_notebook

STAGES = ["data", "tokenizer", "lm", "lm_train", "harvest", "sae"]

# (override, value, what the one line must say)
BAD = [
    ("sae.n_features", 0, "integer >= 1"),
    ("sae.batch_size", -1, "integer >= 1"),
    ("harvest.n_rows", 0, "integer >= 1"),
    ("lm_train.max_steps", 2.5, "integer >= 1"),
    ("lm_train.max_steps", 0, "integer >= 1"),
    ("lm_train.batch_size", "0", "integer >= 1"),
    ("sae.l1_coeff", "NaN", "finite number >= 0"),
    ("sae.l1_coeff", "inf", "finite number >= 0"),
    ("sae.l1_coeff", -0.1, "the profiles use 0.006-0.03"),
    ("lm_train.lr", "fast", "finite number > 0"),
    ("sae.lr", -1, "finite number > 0 and <= 0.1"),
    ("sae.recipe", "paper2", "one of paper, 2024, topk, batchtopk"),
    ("sae.resampling", "2024", "one of auto, none, paper, reinit"),
    ("sae.resample", "paper", "sae.resample was split in two: set sae.recipe"),
    ("harvest.dtype", "int8", "one of float16, float32"),
    ("data.val_frac", 1.5, "> 0 and <= 0.9"),
    ("tokenizer.vocab_size", 100, "integer >= 260"),
    ("sae.normalize", "yes", "true or false"),
    ("sae.sweep_sizes", "[]", "non-empty list of integers"),
    ("sae.sweep_sizes", "[64, 0]", "integer >= 1"),
    ("sae.resample_at", "[0.5, 1.5]", "> 0"),
    ("lm_train.warmup_steps", -5, "integer >= 0"),
    ("data.max_chars", 5, "integer >= 1,000 (or null)"),
    ("lm_train.seeds", "[1]", "two seeds"),
    ("lm.n_heads", 3, "divisible by lm.n_heads"),
    ("harvest.positions_per_context", 500, "below lm.n_ctx"),
    ("sae.n_acts", 10, "at least one batch"),
    ("lm.width", 3, "unknown setting 'lm.width'; valid settings: data.corpus_dir"),
]


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture()
def run_dir(tmp_path):
    prepare_run_dir(tmp_path, get_config("smoke"), STAGES[:4])       # a run dir after notebook 01 ...
    (tmp_path / "lm" / "A").mkdir(parents=True)
    (tmp_path / "lm" / "A" / "model.safetensors").write_bytes(b"trained weights")   # ... with its work in it
    return tmp_path


@pytest.mark.parametrize("key,value,says", BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_bad_setting_is_one_line_and_changes_nothing(run_dir, key, value, says):
    before = _snapshot(run_dir)
    for _ in range(2):                               # the same mistake twice: the same answer, nothing pinned
        with pytest.raises(ValueError) as err:
            setup_notebook("smoke", run_dir, {key: value}, STAGES)
        msg = str(err.value)
        assert "\n" not in msg and says in msg, msg
        assert key in msg or key == "lm.n_heads", msg
        assert "delete" not in msg, msg              # never advice that throws work away
        assert _snapshot(run_dir) == before
    setup_notebook("smoke", run_dir, {}, STAGES)     # the corrected rerun is accepted


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "monosem_lib", "run", "--no-progress", *args],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


@pytest.mark.parametrize("args,says", [
    (["--profile", "huge"], "unknown profile 'huge'; valid profiles: smoke, classroom, full, paper"),
    (["--only", "99"], "unknown notebook number(s) 99; available: 00, 01"),
    (["-p", "sae.n_features"], "must look like key=value"),
    (["-p", "sae.n_features=0"], "sae.n_features=0 is not valid"),
    (["-p", "lm.d_model=64"], "lm.d_model: 32 there vs 64 now"),           # conflicts with the pinned run dir
])
def test_cli_refuses_before_running_anything(run_dir, args, says):
    (run_dir / "notebooks").mkdir()
    (run_dir / "notebooks" / "01_train_tiny_lm.ipynb").write_text("the class's executed notebook")
    before = _snapshot(run_dir)
    out = _cli("--profile", "smoke", "--run-dir", str(run_dir), *args)
    assert out.returncode == 1 and says in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert _snapshot(run_dir) == before


def test_a_garbled_pinned_config_is_named(run_dir):
    (run_dir / "config" / "lm.json").write_bytes(b"{\"d_model\": 32,\xff")
    with pytest.raises(RuntimeError, match=r"config/lm.json is not valid JSON .*; settings change with -p .*to "
                                           r"rebuild from the lm stage on, delete .* and rerun the notebooks from "
                                           r"01_train_tiny_lm on"):
        setup_notebook("smoke", run_dir, {}, STAGES)
