"""Max-activation correlation between two SAEs: permuted SAE gives 1, unrelated gives low, chunked equals direct."""
import matplotlib
import numpy as np
import pytest
import torch

from monosem_lib.config import LMConfig
from monosem_lib.lm.model import TinyLM, save_lm
from monosem_lib.sae.model import SAE, save_sae
from monosem_lib.universality.matching import (
    category_indicators,
    column,
    encode_sparse,
    hungarian_match,
    load_twins,
    logit_weights,
    max_correlation,
    permute_rows,
    row_slice,
    rowwise_corr,
    top_rows,
)


def _sae(d: int = 24, n: int = 64, seed: int = 0) -> SAE:
    sae = SAE(d, n, seed=seed)
    with torch.no_grad():
        sae.b_enc.fill_(-0.5)          # sparse but alive on relu(randn) inputs
    return sae


def _acts(n: int = 3000, d: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.relu(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)))


def test_permuted_sae_gives_correlation_one_for_every_feature():
    x, sae_a = _acts(), _sae()
    perm = torch.randperm(sae_a.n_features, generator=torch.Generator().manual_seed(1))
    sae_b = _sae()
    with torch.no_grad():
        for name in ("W_enc", "W_dec", "b_enc"):
            getattr(sae_b, name).copy_(getattr(sae_a, name)[perm])
    fa, fb = encode_sparse(sae_a, x, chunk=700), encode_sparse(sae_b, x, chunk=700)
    res = max_correlation(fa, fb, col_chunk=10, row_chunk=500, keep_matrix=True)
    alive = res.alive_a
    assert alive.sum() > 50 and torch.equal(res.alive_b, alive[perm])     # dead features are dead in both
    np.testing.assert_allclose(res.alive_max, 1.0, atol=1e-6)
    assert torch.equal(perm[res.argmax[alive]], torch.nonzero(alive).squeeze(1))   # A's i is B's perm^-1(i)
    rows, cols, vals = hungarian_match(res.matrix, res.alive_a, res.alive_b)
    assert len(rows) == int(alive.sum()) and torch.equal(perm[torch.from_numpy(cols)], torch.from_numpy(rows))
    np.testing.assert_allclose(vals, 1.0, atol=1e-5)


def test_unrelated_random_sae_gives_low_correlations():
    x = _acts(4000)
    fa, fb = encode_sparse(_sae(seed=0), x), encode_sparse(_sae(seed=7), x)
    same = max_correlation(fa, fa)
    other = max_correlation(fa, fb)
    ctrl = max_correlation(fa, permute_rows(fa, torch.randperm(4000, generator=torch.Generator().manual_seed(0))))
    assert np.median(same.alive_max) > 0.999
    assert np.median(other.alive_max) < 0.6            # random directions on the same input share a little
    assert np.median(ctrl.alive_max) < 0.1             # misaligned tokens: chance only


@pytest.mark.parametrize("sparse_a,sparse_b", [(False, False), (True, False), (False, True), (True, True)])
def test_chunked_equals_direct(sparse_a, sparse_b):
    g = torch.Generator().manual_seed(3)
    a = torch.relu(torch.randn(401, 13, generator=g) - 1)
    b = torch.relu(torch.randn(401, 17, generator=g) - 1)
    a[:, 4] = 0                                        # a dead unit on each side
    b[:, 0] = 0
    with np.errstate(invalid="ignore", divide="ignore"):            # dead columns: NaN rows in corrcoef
        direct = np.corrcoef(np.concatenate([a.numpy(), b.numpy()], 1).T.astype(np.float64))[:13, 13:]
    res = max_correlation(a.to_sparse_csr() if sparse_a else a, b.to_sparse_csr() if sparse_b else b,
                          col_chunk=5, row_chunk=64, keep_matrix=True)
    assert res.alive_a.tolist() == [i != 4 for i in range(13)] and int(res.alive_b.sum()) == 16
    live = np.ix_(res.alive_a.numpy(), res.alive_b.numpy())
    np.testing.assert_allclose(res.matrix.numpy()[live], direct[live], atol=1e-5)
    assert np.isnan(res.max[4]) and res.argmax[4] == -1
    want = np.nanmax(np.where(res.alive_b.numpy(), direct, np.nan)[res.alive_a.numpy()], 1)
    np.testing.assert_allclose(res.alive_max, want, atol=1e-5)


def test_sparse_helpers():
    x = torch.relu(torch.randn(50, 6) - 0.5)
    s = x.to_sparse_csr()
    perm = torch.randperm(50)
    assert torch.equal(permute_rows(s, perm).to_dense(), x[perm])
    assert torch.equal(row_slice(s, 10, 33).to_dense(), x[10:33])
    np.testing.assert_array_equal(column(s, 2), x[:, 2].numpy())
    rows, vals = top_rows(s, 3, 4)
    assert np.array_equal(vals, np.sort(x[:, 3].numpy())[::-1][:len(vals)]) and (x[rows, 3].numpy() == vals).all()
    onehot = category_indicators(np.array([0, 2, 2, 1]), 3)
    assert onehot.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0]]


def test_logit_weights_and_rowwise_corr():
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=32, n_ctx=8, vocab_size=50))
    d = torch.randn(5, 32)
    L = logit_weights(lm, d)
    assert L.shape == (5, 50)
    # linear in the direction; a constant residual scale changes no correlation
    torch.testing.assert_close(logit_weights(lm, 2 * d), 2 * L)
    np.testing.assert_allclose(rowwise_corr(L, logit_weights(lm, d, resid_scale=7.0)).numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(rowwise_corr(L, -L).numpy(), -1.0, atol=1e-6)


def _twin_dir(tmp_path, d_mlp_b: int = 32):
    for name, d in (("A", 32), ("B", d_mlp_b)):
        save_lm(TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=d, n_ctx=8, vocab_size=50)), tmp_path / "lm" / name)
        save_sae(SAE(d, 40), tmp_path / "sae" / name)
    return tmp_path


def test_load_twins_errors(tmp_path):
    run = _twin_dir(tmp_path / "r1")
    (run / "lm" / "B" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"LM B \(seed 1\).*01_train_tiny_lm"):
        load_twins(run)
    run = _twin_dir(tmp_path / "r2")
    (run / "sae" / "B" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"SAE of model B \(LM seed 1\).*03_train_sae"):
        load_twins(run)
    run = _twin_dir(tmp_path / "r3")
    save_sae(SAE(48, 40), run / "sae" / "B")
    with pytest.raises(ValueError, match="SAE B reads inputs of width 48 but LM B's MLP has 32"):
        load_twins(run)
    with pytest.raises(ValueError, match="same rows"):
        max_correlation(torch.rand(5, 2), torch.rand(6, 2))


matplotlib.use("Agg")
