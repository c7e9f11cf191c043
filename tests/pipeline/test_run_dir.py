"""Run dirs: pinned settings, load_run and its errors."""
import pytest

from monosem_lib.config import get_config
from monosem_lib.pipeline.run_dir import load_run, prepare_run_dir, saved_config


def test_run_dir_pins_settings_and_refuses_to_mix(tmp_path):
    prepare_run_dir(tmp_path, get_config("smoke"), ["lm", "lm_train"])
    prepare_run_dir(tmp_path, get_config("smoke"), ["lm", "lm_train"])  # same settings: fine
    with pytest.raises(ValueError, match=r"different settings \(lm.d_model: 32 here vs 64 now\).*start fresh"):
        prepare_run_dir(tmp_path, get_config("smoke", {"lm.d_model": 64}), ["lm"])
    assert saved_config(tmp_path).lm.d_model == 32


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
