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


def test_decoder_map_uses_umap_when_installed_and_mds_without(monkeypatch):
    import sys

    from monosem_lib.sae.model import SAE

    sae = SAE(16, 48, seed=2)
    mds, how = splitting.decoder_map_2d(sae, method="mds")
    assert how == "mds" and np.allclose(mds, splitting.mds_2d(sae))
    with pytest.raises(ValueError, match="must be 'auto', 'umap' or 'mds'"):
        splitting.decoder_map_2d(sae, method="tsne")
    monkeypatch.setitem(sys.modules, "umap", None)                    # umap-learn absent
    xy, how = splitting.decoder_map_2d(sae)
    assert how == "mds" and np.allclose(xy, mds)
    with pytest.raises(ImportError, match="umap-learn"):
        splitting.decoder_map_2d(sae, method="umap")
    monkeypatch.undo()
    pytest.importorskip("umap", reason="umap-learn is in the optional interop extra")
    xy, how = splitting.decoder_map_2d(sae, np.arange(40))
    assert how == "umap" and xy.shape == (40, 2) and np.isfinite(xy).all()
