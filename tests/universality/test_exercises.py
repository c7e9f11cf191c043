"""Notebook 05's checks: the reference max-correlation and control pass, typical mistakes fail with the reason."""
import numpy as np
import pytest
import torch

from monosem_lib.sae.model import SAE
from monosem_lib.universality import exercises
from monosem_lib.universality.matching import encode_sparse, max_correlation
from monosem_lib.universality.twins import category_twins, format_twin_table


def max_corr(a, b):
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    corr = (a / a.norm(dim=0)).T @ (b / b.norm(dim=0))
    best = corr.nan_to_num(nan=-torch.inf).max(1).values
    return torch.where(torch.isinf(best), torch.nan, best)


def shuffled_control(a, b, perm):
    return max_corr(a, b[perm])


def _nanmax(c):
    best = c.nan_to_num(nan=-torch.inf).max(1).values
    return torch.where(torch.isinf(best), torch.nan, best)


def no_nan(a, b):
    return max_corr(a, b).nan_to_num(0.0)


def poisoned(a, b):
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    return ((a / a.norm(dim=0)).T @ (b / b.norm(dim=0))).max(1).values      # NaN of a constant b column wins


def cosine(a, b):
    return _nanmax((a.double() / a.double().norm(dim=0)).T @ (b.double() / b.double().norm(dim=0)))


def absolute(a, b):
    a, b = a.double() - a.double().mean(0), b.double() - b.double().mean(0)
    return _nanmax(((a / a.norm(dim=0)).T @ (b / b.norm(dim=0))).abs())


@pytest.fixture(scope="module")
def feats():
    """Sparse SAE features of two related inputs (CSR, as in the notebook) and dense 'neurons' with anti-twins."""
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(2000, 24, generator=g))
    sae_a, sae_b = SAE(24, 40, seed=0), SAE(24, 40, seed=1)
    with torch.no_grad():
        sae_a.b_enc.fill_(-0.5), sae_b.b_enc.fill_(-0.5)
    na = torch.relu(torch.randn(2000, 16, generator=g))
    anti = -na[:, :6] + 0.1 * torch.randn(2000, 6, generator=g)             # B's first neurons: A's, negated
    nb = torch.cat([anti, torch.relu(torch.randn(2000, 10, generator=g))], 1)
    x_b = x + 0.3 * torch.relu(torch.randn(2000, 24, generator=g))
    return encode_sparse(sae_a, x), encode_sparse(sae_b, x_b), na, nb


def _fails(check, *args) -> str:
    with pytest.raises(AssertionError) as err:
        check(*args)
    return str(err.value)


def test_reference_answers_pass_on_sparse_and_dense(feats, capsys):
    fa, fb, na, nb = feats
    exercises.check_max_corr(max_corr, fa, fb)
    exercises.check_max_corr(max_corr, na, nb)
    exercises.check_shuffled_control(shuffled_control, max_corr, fa, fb)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("✓ matches the library") for line in out), out
    assert "aligned and" in out[2]


@pytest.mark.parametrize("wrong, sparse, says", [
    (no_nan, True, "return NaN there"),
    (poisoned, True, "must not poison the max"),
    (cosine, True, "that is cosine similarity"),
    (absolute, False, "largest |rho|"),
    (lambda a, b: max_corr(a, b)[:3], True, "return shape"),
    (lambda a, b: "none", True, "return a tensor"),
])
def test_wrong_max_corr_fails_with_the_reason(feats, wrong, sparse, says):
    fa, fb, na, nb = feats
    msg = _fails(exercises.check_max_corr, wrong, *((fa, fb) if sparse else (na, nb)))
    assert says in msg, msg


@pytest.mark.parametrize("wrong, says", [
    (lambda a, b, perm: max_corr(a, b), "equals the aligned maximum"),
    (lambda a, b, perm: max_corr(a[perm], b), "you shuffled a's rows"),
    (lambda a, b, perm: max_corr(a, b[perm]).nan_to_num(0.0), "return NaN there"),
])
def test_wrong_controls_fail_with_the_reason(feats, wrong, says):
    fa, fb, _, _ = feats
    msg = _fails(exercises.check_shuffled_control, wrong, max_corr, fa, fb)
    assert says in msg, msg


def test_dense_block_is_the_top_left_block_plus_a_zero_column(feats):
    fa, _, na, _ = feats
    block = exercises.dense_block(fa, 100, 7)
    assert block.shape == (100, 8) and not block[:, -1].any()
    assert torch.equal(block[:, :7], fa.to_dense()[:100, :7])
    assert torch.equal(exercises.dense_block(na, 50, 99)[:, :16], na[:50])     # clipped to the matrix


def test_category_twins_table_matches_a_direct_computation(feats):
    fa, fb, _, _ = feats
    categories = np.arange(2000) % 3                               # three categories with tokens, a fourth without
    feat = max_correlation(fa, fb)
    table = category_twins(categories, ["a", "b", "c", "empty"], fa, fb, feat)
    assert [r["category"] for r in table] == ["a", "b", "c"]
    dense_a, dense_b = fa.to_dense().double(), fb.to_dense().double()
    for c, r in enumerate(table):
        ind = torch.from_numpy(categories == c).double()[:, None]
        corr_a = torch.corrcoef(torch.cat([ind, dense_a], 1).T)[0, 1:].nan_to_num(-2)
        assert r["feature_A"] == int(corr_a.argmax())
        assert r["corr_cat_A"] == pytest.approx(float(corr_a.max()), abs=1e-6)
        assert r["twin_B"] == int(feat.argmax[r["feature_A"]]) and r["share"] == pytest.approx(1 / 3, abs=1e-3)
        corr_b = torch.corrcoef(torch.cat([ind, dense_b[:, r["twin_B"]:r["twin_B"] + 1]], 1).T)[0, 1]
        assert r["corr_cat_B"] == pytest.approx(float(corr_b), abs=1e-6)
    text = format_twin_table(table)
    assert len(text.splitlines()) == 4 and "33.35%" in text.splitlines()[1]


def test_check_target_is_shared_with_notebook_04(capsys):
    exercises.check_target(0.2291, 0.229, what="median", tol=1e-3)
    assert capsys.readouterr().out.startswith("✓")
    with pytest.raises(AssertionError, match="0.5"):
        exercises.check_target(0.5, 0.229, what="median", tol=1e-3)
