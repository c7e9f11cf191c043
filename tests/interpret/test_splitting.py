"""Feature splitting across dictionary sizes and the decoder map."""
import numpy as np
import pytest

from monosem_lib.interpret import splitting
from tests.interpret.common import planted


def test_splitting_family_and_map():
    small, _, _, _ = planted(n_features=6)
    large, _, _, _ = planted(n_features=12)
    fam = splitting.family({6: small, 12: large}, root=0)
    assert fam[6][0] == (0, pytest.approx(1.0)) and fam[12][0][0] == 0
    assert splitting.mds_2d(large).shape == (12, 2)
    idx, cos = splitting.best_match(small, large)
    assert idx[:6].tolist() == list(range(6)) and np.allclose(cos[:6], 1.0, atol=1e-5)
