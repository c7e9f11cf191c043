"""LM training: resume after a kill, seeds, corrupt checkpoints, NaN, schedule, parallel training."""
import dataclasses

import pytest
import torch

from monosem_lib.config import LMTrainConfig
from monosem_lib.io import CorruptFileError, load_tensors
from monosem_lib.lm.evaluate import lm_loss, per_token_loss, val_windows
from monosem_lib.lm.model import load_lm
from monosem_lib.lm.train import get_batch, lr_at, train_lm
from tests.helpers import TINY_LM, tiny_split

CFG = LMTrainConfig(batch_size=4, max_steps=12, warmup_steps=2, ckpt_every=4, eval_tokens=200)


def _weights(folder):
    return load_tensors(folder / "model.safetensors")


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    split = tiny_split()
    train_lm(tmp_path / "full", TINY_LM, CFG, 0, split.tokens)
    # "killed" after step 6 (between checkpoints), then restarted
    train_lm(tmp_path / "resumed", TINY_LM, CFG, 0, split.tokens, stop_after=6)
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    history = train_lm(tmp_path / "resumed", TINY_LM, CFG, 0, split.tokens)
    full, resumed = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert history["step"] == list(range(CFG.max_steps))
    assert history["tokens_per_s"] > 0


def test_seeds_give_different_models(tmp_path):
    split = tiny_split()
    train_lm(tmp_path / "a", TINY_LM, CFG, 0, split.tokens)
    train_lm(tmp_path / "b", TINY_LM, CFG, 1, split.tokens)
    assert not torch.equal(_weights(tmp_path / "a")["W_E.weight"], _weights(tmp_path / "b")["W_E.weight"])


def test_a_corrupted_checkpoint_is_dropped_and_training_resumes_from_the_one_before(tmp_path):
    split = tiny_split()
    train_lm(tmp_path / "full", TINY_LM, CFG, 0, split.tokens)
    train_lm(tmp_path / "m", TINY_LM, CFG, 0, split.tokens, stop_after=8)
    ckpts = sorted((tmp_path / "m" / "checkpoints").glob("*.safetensors"))
    assert len(ckpts) == 2
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"{ckpts[-1].name} .* damaged or incomplete.*removed"):
        train_lm(tmp_path / "m", TINY_LM, CFG, 0, split.tokens)
    full, resumed = _weights(tmp_path / "full"), _weights(tmp_path / "m")
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_a_deleted_corrupt_model_is_rebuilt_as_the_error_says(tmp_path):
    split = tiny_split()
    train_lm(tmp_path / "m", TINY_LM, CFG, 0, split.tokens)
    path = tmp_path / "m" / "model.safetensors"
    good = path.read_bytes()
    flipped = bytearray(good)
    for i in range(len(good) - 300, len(good) - 44):           # 256 bytes inside the tensor data
        flipped[i] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(CorruptFileError, match=r"model.safetensors is corrupted.*delete it and rerun notebook 01"):
        load_lm(tmp_path / "m")
    path.unlink()                                              # the advice
    train_lm(tmp_path / "m", TINY_LM, CFG, 0, split.tokens)
    assert path.read_bytes() == good


def test_nan_loss_stops_with_the_step(tmp_path):
    bad = dataclasses.replace(CFG, lr=1e30, grad_clip=1e30)
    with pytest.raises(FloatingPointError, match="at step"):
        train_lm(tmp_path / "m", TINY_LM, bad, 0, tiny_split().tokens)


def test_batches_and_schedule_are_pure_functions():
    tokens = tiny_split().tokens
    x1, y1 = get_batch(tokens, 4, 16, seed=3, step=5)
    x2, _ = get_batch(tokens, 4, 16, seed=3, step=5)
    assert torch.equal(x1, x2) and torch.equal(x1[:, 1:], y1[:, :-1])
    assert lr_at(0, CFG) < lr_at(1, CFG) == pytest.approx(CFG.lr)
    assert lr_at(CFG.max_steps - 1, CFG) == pytest.approx(CFG.lr * CFG.min_lr_frac, rel=0.05)


def test_trained_model_beats_unigram(tmp_path):
    split = tiny_split(n_docs=40)
    cfg = dataclasses.replace(CFG, max_steps=40, lr=1e-2)
    train_lm(tmp_path / "m", TINY_LM, cfg, 0, split.tokens)
    lm = load_lm(tmp_path / "m")
    windows = val_windows(split.tokens, 500, 16)
    assert per_token_loss(lm, windows).shape == (len(windows), 16)
    assert lm_loss(lm, windows) < 6.0  # ln(300) = 5.7 is chance; random tokens cannot go far below


def test_parallel_training_matches_one_at_a_time(tmp_path):
    from monosem_lib.lm.train import train_lms
    from monosem_lib.text.splits import save_split

    split = tiny_split()
    save_split(split, tmp_path / "split")
    jobs = {"A": (tmp_path / "par" / "A", 0), "B": (tmp_path / "par" / "B", 1)}
    histories = train_lms(jobs, TINY_LM, CFG, tmp_path / "split", parallel=True)
    assert set(histories) == {"A", "B"} and all(h["tokens_per_s"] > 0 for h in histories.values())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers run on one thread each
    try:
        train_lm(tmp_path / "seq" / "B", TINY_LM, CFG, 1, split.tokens)
    finally:
        torch.set_num_threads(threads)
    par, seq = _weights(tmp_path / "par" / "B"), _weights(tmp_path / "seq" / "B")
    assert all(torch.allclose(par[k], seq[k], atol=1e-6) for k in par)


def test_parallel_training_reports_a_worker_error(tmp_path):
    from monosem_lib.lm.train import train_lms
    from monosem_lib.text.splits import save_split

    save_split(tiny_split(), tmp_path / "split")
    bad = dataclasses.replace(CFG, lr=1e30, grad_clip=1e30)
    with pytest.raises(RuntimeError, match="FloatingPointError.*at step"):
        train_lms({"A": (tmp_path / "A", 0), "B": (tmp_path / "B", 1)}, TINY_LM, bad, tmp_path / "split", parallel=True)
