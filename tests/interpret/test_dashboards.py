"""Feature dashboards and the offline browser: escaping, dead features, errors."""
import numpy as np
import pytest
import torch

from monosem_lib.interpret import dashboards
from monosem_lib.interpret import feature_stats as fs
from monosem_lib.interpret.feature_browser import BrowserOptions, TokenView, export_browser
from tests.interpret.common import planted


def test_browser_escapes_tokens_and_works_offline(tmp_path):
    sae, x, tokens, _ = planted(n_rows=500)
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(500), "ctx_pos": np.full(500, 5), "category": np.zeros(500, np.int16),
            "token_id": tokens}
    strings = [f"tok{i}" for i in range(50)]
    strings[1] = "<script>alert(1)</script>"
    logits = torch.randn(12, 50)
    path = export_browser(tmp_path / "b" / "index.html", [0, 1, 2], ua, TokenView(info, tokens, strings, ["html"]),
                          logits, options=BrowserOptions(explanations={1: "<b>x</b>"}))
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


def _browser(tmp_path, with_lm=True):
    from monosem_lib.lm.model import TinyLM
    from tests.helpers import TINY_LM

    sae, x, tokens, _ = planted(n_rows=500)
    ua = fs.encode_sparse(sae, x)
    info = {"token_index": np.arange(500) + 20, "ctx_pos": np.full(500, 10), "category": np.zeros(500, np.int16),
            "token_id": tokens}
    long_tokens = np.concatenate([np.zeros(20, tokens.dtype), tokens, np.zeros(20, tokens.dtype)])
    strings = [f"tok{i}" for i in range(300)]
    strings[1] = "<script>alert(1)</script>"
    torch.manual_seed(0)
    lm = TinyLM(TINY_LM).eval() if with_lm else None
    path = export_browser(tmp_path / "b" / "index.html", list(range(12)), ua, TokenView(info, long_tokens, strings,
                          ["html"]), torch.randn(12, 300), lm=lm, sae=sae if with_lm else None,
                          options=BrowserOptions(explanations={3: "tokens 'x'"}, scores={3: 0.9, 5: 0.4}))
    return path, sae


def test_browser_has_per_token_activations_neighbours_and_scores(tmp_path):
    import json as _json
    path, sae = _browser(tmp_path)
    page = path.read_text()
    blob = page.split("<script type='application/json' id='data'>")[1].split("</script>")[0]
    data = _json.loads(blob.replace("<\\/", "</"))
    assert data["per_token"] is True and "<script>alert(1)" not in page
    f3 = next(f for f in data["features"] if f["index"] == 3)                 # named objects, read by name
    assert f3["score"] == 0.9 and len(f3["nearest"]["features"]) == 5 and all(-1 <= c <= 1 for c in f3["nearest"]["cos"])
    top = f3["groups"][0]                                                     # its examples, as named columns
    assert len(top["tokens"][0]) == len(top["acts"][0]) and sum(a > 0 for a in top["acts"][0]) >= 1
    assert len(top["category"]) == len(top["center"]) == len(top["tokens"])
    assert len(f3["logit_hist"]["counts"]) == 30 and f3["logit_hist"]["lo"] < f3["logit_hist"]["hi"]
    assert len(f3["act_hist"]["counts"]) == len(f3["act_hist"]["top_category"]) == 30
    assert set(f3["logits_up"]) == {"tokens", "weights"} and f3["explanation"] == "tokens &#x27;x&#x27;"


@pytest.mark.slow
def test_browser_works_in_a_real_browser(tmp_path):
    """Headless Chromium (Debian's package, driven by playwright): list, sorting, search by button and Enter, links."""
    playwright = pytest.importorskip("playwright.sync_api")
    import shutil
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not __import__("os").path.exists(exe):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    path, _ = _browser(tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        assert page.inner_text("#view h2") == "feature 3"                     # opens on the best-explained one
        assert page.locator("#list tr[data-n]").count() == 12
        page.click("th[data-k='max_act']")                                     # sort by max activation
        first = int(page.inner_text("#list tr[data-n='0'] td"))
        page.fill("#q", "7")
        page.press("#q", "Enter")                                              # Enter searches
        assert page.inner_text("#view h2") == "feature 7"
        page.fill("#q", "5")
        page.click("#go")                                                      # so does the button
        assert page.inner_text("#view h2") == "feature 5"
        page.click("#view a[data-i]")                                          # a nearest-feature link
        assert page.inner_text("#view h2") != "feature 5"
        assert page.locator("#view span[title^='activation']").count() > 0
        assert errors == [] and 0 <= first < 12
        browser.close()


@pytest.mark.slow
def test_browser_renders_in_headless_chromium_without_playwright(tmp_path):
    """Debian's chromium runs the page's script (--dump-dom): it opens on the best-explained feature, lists all 12,
    and draws their examples and histograms from the named JSON."""
    import shutil
    import subprocess

    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    path, _ = _browser(tmp_path)
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout.split("<script")[0]
    assert "<h2>feature 3</h2>" in dom and dom.count("<tr data-n=") == 12
    assert "activation 0." in dom or "activation 1." in dom                      # per-token spans from `acts`
    assert "<rect" in dom and "nearest by decoder cosine" in dom and "tok" in dom
