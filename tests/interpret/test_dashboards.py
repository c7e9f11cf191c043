"""Feature dashboards and the offline browser: escaping, dead features, errors."""
import numpy as np
import pytest
import torch

from monosem_lib.interpret import dashboards
from monosem_lib.interpret import feature_stats as fs
from tests.interpret.common import planted


def test_browser_escapes_tokens_and_works_offline(tmp_path):
    sae, x, tokens, _ = planted(n_rows=500)
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(500), "ctx_pos": np.full(500, 5), "category": np.zeros(500, np.int16),
            "token_id": tokens}
    strings = [f"tok{i}" for i in range(50)]
    strings[1] = "<script>alert(1)</script>"
    logits = torch.randn(12, 50)
    path = dashboards.export_browser(tmp_path / "b" / "index.html", [0, 1, 2], ua, info, tokens, logits, strings,
                                     ["html"], {1: "<b>x</b>"})
    page = path.read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and "http" not in page.lower().replace("http-equiv", "")   # no CDN, no server
    d = dashboards.build_dashboard(1, ua, info, tokens, logits, ["html"])
    assert "&lt;script&gt;" in dashboards.dashboard_html(d, strings)


def test_dead_feature_dashboard_and_index_errors():
    sae, x, tokens, _ = planted(n_rows=300)
    sae.b_enc.data[7] = -100.0                             # feature 7 never fires
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(300), "ctx_pos": np.zeros(300), "category": np.zeros(300, np.int16)}
    d = dashboards.build_dashboard(7, ua, info, tokens, torch.zeros(12, 50), ["english"])
    assert d["count"] == 0 and "never fired" in dashboards.dashboard_html(d, [str(i) for i in range(50)])
    with pytest.raises(IndexError, match="valid features are 0..11"):
        ua.of(12)


def test_missing_sae_names_notebook_03(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook 03"):
        fs.sae_exists(tmp_path)
