"""SAE codes on the evaluation tokens: equal to encoding directly, cached, recomputed for other weights, checked."""
import numpy as np
import pytest
import torch

from monosem_lib.config import LMConfig
from monosem_lib.harvest.eval_tokens import plan_eval_tokens
from monosem_lib.io import CorruptFileError
from monosem_lib.lm.model import TinyLM, save_lm
from monosem_lib.sae.codes import cached_codes, encode_rows
from monosem_lib.sae.model import SAE, save_sae
from monosem_lib.text.splits import TokenSplit


def _run(tmp_path, seed=0):
    torch.manual_seed(seed)
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=24, n_ctx=8, vocab_size=60)).eval()
    sae = SAE(24, 40, seed=seed)
    with torch.no_grad():
        sae.b_enc.fill_(-0.02)
    save_lm(lm, tmp_path / "lm" / "A")
    save_sae(sae, tmp_path / "sae" / "A")
    split = TokenSplit(np.arange(300, dtype=np.int32) % 57 + 1, np.array([0]), np.array([0]), np.array([0], np.int16), ["x"])
    return lm, sae, plan_eval_tokens(split, split, 8, 100)


def test_codes_equal_direct_encoding_and_are_reused(tmp_path):
    lm, sae, ev = _run(tmp_path)
    codes = encode_rows(lm, sae, ev, batch_windows=3)
    direct = sae.encode(lm.mlp_acts(torch.from_numpy(ev.windows))[:, 1:].reshape(-1, 24))
    torch.testing.assert_close(codes.to_dense(), direct.half().float())
    assert 0 < codes.values().numel() < direct.numel()             # sparse, and not empty
    first = cached_codes(tmp_path, "A", "A", lm, sae, ev)
    path = tmp_path / "eval" / "codes_A.safetensors"
    mtime = path.stat().st_mtime_ns
    again = cached_codes(tmp_path, "A", "A", lm, sae, ev)
    assert path.stat().st_mtime_ns == mtime                       # loaded, not recomputed
    torch.testing.assert_close(again.to_dense(), first.to_dense())
    part = cached_codes(tmp_path, "A", "A", lm, sae, ev, limit=20)
    assert part.shape[0] == 21 and (tmp_path / "eval" / "codes_A_21.safetensors").exists()
    torch.testing.assert_close(part.to_dense(), first.to_dense()[:21])


def test_other_weights_are_recomputed_and_damage_is_named(tmp_path):
    lm, sae, ev = _run(tmp_path)
    cached_codes(tmp_path, "A", "A", lm, sae, ev)
    with torch.no_grad():
        sae.b_enc.fill_(-0.2)                                      # "retrained": a sparser SAE
    save_sae(sae, tmp_path / "sae" / "A")
    new = cached_codes(tmp_path, "A", "A", lm, sae, ev)
    torch.testing.assert_close(new.to_dense(), encode_rows(lm, sae, ev).to_dense())
    path = tmp_path / "eval" / "codes_A.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="codes_A.safetensors is corrupted.*rerun the notebook"):
        cached_codes(tmp_path, "A", "A", lm, sae, ev)


def test_codes_too_dense_for_the_memory_are_a_one_line_error_before_they_are_built(tmp_path, monkeypatch):
    """An SAE trained on too few activations is nearly dense; its codes on many rows once filled the machine (the
    kernel killed by the OOM killer, no message). Now the first batch's L0 is extrapolated and refused, with advice."""
    from monosem_lib.sae import codes as codes_mod
    lm, sae, ev = _run(tmp_path)
    with torch.no_grad():
        sae.b_enc.fill_(5.0)                                        # every feature fires on every token: dense
    monkeypatch.setattr(codes_mod, "available_memory_gb", lambda: 1e-6)
    with pytest.raises(MemoryError, match=r"40 of its 40 features fire per token.*raise sae\.n_acts") as err:
        encode_rows(lm, sae, ev, batch_windows=3)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "eval").exists()
    monkeypatch.setattr(codes_mod, "available_memory_gb", lambda: 16.0)   # the same SAE where memory allows: fine
    assert encode_rows(lm, sae, ev, batch_windows=3).values().numel() == ev.n_tokens * 40
    codes_mod.check_codes_memory(31, 1_048_576, 4096, available_gb=16.0)      # the classroom's main SAE fits
    with pytest.raises(MemoryError):
        codes_mod.check_codes_memory(1735, 262_144, 4096, available_gb=22.0)  # the scale batch's 20k-activation SAE
