"""Run dirs: pinned settings, load_run and its errors."""
import pytest

from monosem_lib.config import get_config
from monosem_lib.pipeline.run import load_run, saved_config
from monosem_lib.pipeline.run_dir import prepare_run_dir


def test_run_dir_pins_settings_and_refuses_to_mix(tmp_path):
    prepare_run_dir(tmp_path, get_config("smoke"), ["lm", "lm_train"])
    prepare_run_dir(tmp_path, get_config("smoke"), ["lm", "lm_train"])  # same settings: fine
    with pytest.raises(ValueError, match=r"other settings \(lm.d_model: 32 there vs 64 now\).*rebuild from the lm"):
        prepare_run_dir(tmp_path, get_config("smoke", {"lm.d_model": 64}), ["lm"])
    assert saved_config(tmp_path).lm.d_model == 32


def test_a_refused_run_dir_is_left_as_it_was_and_the_advice_rebuilds_only_later_stages(tmp_path):
    import re
    stages = ["data", "tokenizer", "lm", "lm_train", "harvest"]
    prepare_run_dir(tmp_path, get_config("smoke"), stages)
    for keep in ("tokens/train/tokens.npy", "lm/A/model.safetensors", "acts/A/manifest.json"):
        (tmp_path / keep).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / keep).write_text("artifact")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    cfg = get_config("smoke", {"harvest.n_rows": 30_000})
    with pytest.raises(ValueError) as err:
        prepare_run_dir(tmp_path, cfg, stages + ["sae"])          # sae would be new: it must not be pinned either
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    msg = str(err.value)
    assert "\n" not in msg and "harvest.n_rows: 20000 there vs 30000 now" in msg
    for path in re.search(r"by deleting (.*)$", msg).group(1).split():
        p = tmp_path / path[len(str(tmp_path)) + 1:]
        (__import__("shutil").rmtree(p) if p.is_dir() else p.unlink()) if p.exists() else None
    prepare_run_dir(tmp_path, cfg, stages + ["sae"])                # the advice, followed, works
    assert (tmp_path / "lm/A/model.safetensors").exists() and not (tmp_path / "acts").exists()
    assert saved_config(tmp_path).harvest.n_rows == 30_000


def test_load_run_needs_a_run_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="01_train_tiny_lm"):
        load_run(tmp_path)
    prepare_run_dir(tmp_path, get_config("smoke"), ["lm"])
    run = load_run(tmp_path)
    assert run.config.profile == "smoke" and run.metrics == {}
    with pytest.raises(ValueError, match="models are A, B"):
        run.lm("C")
    with pytest.raises(FileNotFoundError, match="01_train_tiny_lm"):
        run.lm("A")


def test_run_sae_loads_lazily_and_names_notebook_03(tmp_path):
    from monosem_lib.sae.model import SAE, save_sae

    prepare_run_dir(tmp_path, get_config("smoke"), ["sae"])
    run = load_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="no SAE 'A'.*have: none.*03_train_sae"):
        run.sae("A")
    save_sae(SAE(8, 16, seed=3), tmp_path / "sae" / "A_16")
    with pytest.raises(FileNotFoundError, match="have: A_16"):
        run.sae("A")
    sae = run.sae("A_16")
    assert sae.n_features == 16 and run.sae("A_16") is sae          # cached
