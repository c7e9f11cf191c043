"""Batch replication: bad input refused up front, aggregation on known numbers, and a real smoke batch that
shares the LMs and activations across an SAE sweep, resumes after a kill and reruns as a no-op."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monosem_lib.io import save_json
from monosem_lib.pipeline.batch import (SEED_KEYS, check_out_folder, definition, group_key, parse_grid, parse_seeds,
                                        plan_runs, seed_overrides)
from monosem_lib.pipeline.batch_report import aggregate, markdown, summarise

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_summary_on_known_numbers():
    s = summarise([1.0, 2.0, 6.0, None, float("nan")])
    assert s == {"mean": 3.0, "std": pytest.approx(2.6457513, abs=1e-6), "min": 1.0, "max": 6.0, "n": 3}
    assert summarise([5]) == {"mean": 5.0, "std": 0.0, "min": 5.0, "max": 5.0, "n": 1}
    stats = aggregate({"p": [{"interp.autointerp_median.features": 0.6, "interp.autointerp_median.neurons": 0.3},
                             {"interp.autointerp_median.features": 0.4, "interp.autointerp_median.neurons": 0.4}]})
    assert stats["p"]["interp.autointerp_ratio"]["mean"] == pytest.approx(1.5)     # ratio per run, then mean
    assert "1.5 ± 0.7071 (n 2)" in markdown(stats, "t")


def test_seed_zero_is_the_profiles_own_run_and_seeds_move_every_seed():
    from monosem_lib.config import get_config
    base = get_config("smoke")
    assert get_config("smoke", seed_overrides("smoke", 0)) == base
    moved = get_config("smoke", seed_overrides("smoke", 2))
    assert moved.lm_train.seeds == (4, 5) and moved.sae.seed == 2 and moved.toy.seed == 2
    assert moved.data == base.data and moved.tokenizer == base.tokenizer     # same split, same tokenizer
    assert set(seed_overrides("smoke", 1)) == set(SEED_KEYS)


def test_stage_keys_share_what_an_sae_sweep_does_not_change():
    runs = plan_runs("smoke", [0, 1], parse_grid(["sae.l1_coeff=0.02,0.03"]), {})
    by = {(r.seed, r.point["sae.l1_coeff"]): r.cfg for r in runs}
    same_seed = by[0, "0.02"], by[0, "0.03"]
    assert group_key(same_seed[0], ("data", "tokenizer", "lm", "lm_train", "harvest")) == \
        group_key(same_seed[1], ("data", "tokenizer", "lm", "lm_train", "harvest"))
    assert group_key(same_seed[0], ("sae",)) != group_key(same_seed[1], ("sae",))
    assert group_key(by[0, "0.02"], ("lm", "lm_train")) != group_key(by[1, "0.02"], ("lm", "lm_train"))
    assert group_key(by[0, "0.02"], ("data", "tokenizer")) == group_key(by[1, "0.02"], ("data", "tokenizer"))


@pytest.mark.parametrize("call,says", [
    (lambda: parse_seeds("0,1,1"), "repeats 1"),
    (lambda: parse_seeds(""), "--seeds is empty"),
    (lambda: parse_seeds("0,x"), "comma-separated integers"),
    (lambda: parse_grid(["sae.nope=1,2"]), "unknown setting 'sae.nope'"),
    (lambda: parse_grid(["sae.l1_coeff="]), "has no values"),
    (lambda: parse_grid(["sae.seed=1,2"]), "set by --seeds"),
    (lambda: parse_grid(["sae.l1_coeff"]), "must look like key=v1,v2"),
    (lambda: plan_runs("smoke", [0], parse_grid(["sae.l1_coeff=-1"]), {}), "grid point sae.l1_coeff=-1"),
])
def test_bad_batch_definitions_are_one_line(call, says):
    with pytest.raises(ValueError, match=None) as err:
        call()
    assert says in str(err.value) and "\n" not in str(err.value)


def test_an_out_folder_of_another_batch_is_refused(tmp_path):
    d = definition("smoke", [0, 1], parse_grid(["sae.l1_coeff=0.02"]), {})
    (tmp_path / "b").mkdir()
    save_json(tmp_path / "b" / "batch_def.json", d)
    check_out_folder(tmp_path / "b", d)                                       # the same batch: resumes
    other = definition("smoke", [0, 1, 2], parse_grid(["sae.l1_coeff=0.02"]), {})
    with pytest.raises(ValueError, match=r"holds another batch \(seeds: \[0, 1\] there vs \[0, 1, 2\] now\)"):
        check_out_folder(tmp_path / "b", other)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a batch folder"):
        check_out_folder(tmp_path / "c", d)


@pytest.mark.parametrize("inside,kind", [("b/runs/s0__sae.l1_coeff=0.02/sweep", "batch"), ("b/runs", "batch"),
                                         ("b/notes/b2", "batch"), ("classroom/batches/b3", "run dir")])
def test_an_out_folder_inside_another_batch_or_a_run_dir_is_refused(tmp_path, inside, kind):
    d = definition("smoke", [0], parse_grid(["sae.l1_coeff=0.02"]), {})
    save_json(tmp_path / "b" / "batch_def.json", d)
    for run_dir in (tmp_path / "b" / "runs" / "s0__sae.l1_coeff=0.02", tmp_path / "classroom"):
        save_json(run_dir / "config" / "profile.json", {"profile": "smoke"})
    before = sorted(tmp_path.rglob("*"))
    out = tmp_path / inside
    with pytest.raises(ValueError) as err:
        check_out_folder(out, d)
    msg, owner = str(err.value), tmp_path / inside.split("/")[0]
    assert msg.startswith(f"--out {out} is inside the {kind} {owner}; pass a folder outside it, e.g. --out "), msg
    suggested = Path(msg.rsplit("--out ", 1)[1])
    assert suggested.parent == tmp_path
    check_out_folder(suggested, d)                                  # the folder it suggests is accepted
    assert sorted(tmp_path.rglob("*")) == before                   # and nothing was written


def _batch(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monosem_lib", "batch", "--profile", "smoke", "--seeds", "0,1",
            "--grid", "sae.l1_coeff=0.02,0.03", "--only", "01,02", "-p", "lm_train.max_steps=20",
            "-p", "harvest.n_rows=8192", "--out", str(out), *extra]


def test_cli_refuses_bad_input_before_running_anything(tmp_path):
    out = tmp_path / "b"
    (out).mkdir()
    save_json(out / "batch_def.json", {"profile": "smoke", "seeds": [7]})
    before = sorted(p.name for p in out.iterdir())
    for args in (["--grid", "sae.bogus=1"], []):
        r = subprocess.run(_batch(out, *args), capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in out.iterdir()) == before and not (out / "runs").exists()


@pytest.mark.slow
def test_smoke_batch_shares_lms_resumes_after_a_kill_and_reruns_as_a_no_op(tmp_path):
    out = tmp_path / "b"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(_batch(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO_ROOT, env=env, start_new_session=True)
    for line in proc.stdout:                     # kill the whole batch (and its kernel) as run 3 starts
        if line.startswith("[batch 3/4]"):
            time.sleep(3)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    runs = out / "runs"
    first, second = runs / "s0__sae.l1_coeff=0.02", runs / "s0__sae.l1_coeff=0.03"
    assert (first / ".batch_done").exists() and not (second / ".batch_done").exists()
    weights = first / "lm" / "A" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    r = subprocess.run(_batch(out), capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "s0__sae.l1_coeff=0.02: finished before, skipped" in r.stdout
    # the SAE sweep shares the LMs and the activations of its seed: links, not copies, and not retrained
    for shared in ("lm", "acts", "tokens"):
        assert (second / shared).is_symlink() and (second / shared).resolve() == (first / shared).resolve()
    assert not (runs / "s1__sae.l1_coeff=0.02" / "lm").is_symlink()            # another seed: its own LMs
    assert (runs / "s1__sae.l1_coeff=0.02" / "tokens").is_symlink()            # ... on the same tokens
    assert weights.stat().st_mtime_ns == stamp
    report = json.loads((out / "batch.json").read_text())
    stats = report["points"]["sae.l1_coeff=0.02"]["lm.A.val_loss"]
    cards = [json.loads((runs / f"s{s}__sae.l1_coeff=0.02" / "scorecard.json").read_text()) for s in (0, 1)]
    assert stats["n"] == 2 and stats["mean"] == pytest.approx(sum(c["lm.A.val_loss"] for c in cards) / 2)
    assert all(s["status"] == "done" for s in report["runs"].values())
    assert (out / "batch.md").exists() and (out / "batch.png").stat().st_size > 10_000
    t0 = time.perf_counter()
    again = subprocess.run(_batch(out), capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)
    assert again.returncode == 0 and again.stdout.count("finished before, skipped") == 4
    assert time.perf_counter() - t0 < 60 and weights.stat().st_mtime_ns == stamp


def test_a_failed_run_is_reported_and_the_others_go_on(tmp_path, monkeypatch):
    from monosem_lib.pipeline import batch, runner

    def fake_pipeline(profile, run_dir, only, overrides, progress=False):
        if overrides["lm_train.data_seed"] == 1235:                          # seed 1 fails
            raise RuntimeError("notebook 01_train_tiny_lm failed in cell 3 (ValueError: boom)")
        save_json(Path(run_dir) / "scorecard.json", {"sae.A.l0": float(overrides["sae.l1_coeff"]) * 100})

    monkeypatch.setattr(runner, "run_pipeline", fake_pipeline)
    report = batch.run_batch("smoke", [0, 1, 2], parse_grid(["sae.l1_coeff=0.02"]), tmp_path / "b", only=["01"])
    status = {r: s["status"] for r, s in report["runs"].items()}
    assert status == {"s0__sae.l1_coeff=0.02": "done", "s1__sae.l1_coeff=0.02": "failed", "s2__sae.l1_coeff=0.02": "done"}
    assert "boom" in report["runs"]["s1__sae.l1_coeff=0.02"]["error"]
    assert report["points"]["sae.l1_coeff=0.02"]["sae.A.l0"] == {"mean": 2.0, "std": 0.0, "min": 2.0, "max": 2.0, "n": 2}


def test_linked_grid_keys_move_together():
    grid = parse_grid(["sae.recipe+sae.l1_coeff=paper+0.006,2024+0.018", "sae.n_acts=20000,30000"])
    runs = plan_runs("smoke", [0], grid, {})
    assert len(runs) == 4
    got = {(r.cfg.sae.recipe, r.cfg.sae.l1_coeff, r.cfg.sae.n_acts) for r in runs}
    assert got == {("paper", 0.006, 20000), ("paper", 0.006, 30000), ("2024", 0.018, 20000), ("2024", 0.018, 30000)}
    assert runs[0].run_id.startswith("s0__sae.recipe+sae.l1_coeff=paper+0.006")
    with pytest.raises(ValueError, match="value '2024' must give 2 values joined by"):
        parse_grid(["sae.recipe+sae.l1_coeff=paper+0.006,2024"])
    with pytest.raises(ValueError, match="unknown setting 'sae.nope'"):
        parse_grid(["sae.recipe+sae.nope=a+b"])
