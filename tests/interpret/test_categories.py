"""Category scoring on evaluation tokens: three named yardsticks, a planted unit found, statuses, controls' scores."""
import matplotlib
import numpy as np
import pytest
import torch

from monosem_lib.config import LMConfig, TokenizerConfig
from monosem_lib.harvest.eval_tokens import plan_eval_tokens
from monosem_lib.harvest.streaming import first_rows
from monosem_lib.interpret import categories, compare, dial, verdicts
from monosem_lib.interpret.autointerp import HeldoutText
from monosem_lib.lm.model import TinyLM
from monosem_lib.sae.codes import csr
from monosem_lib.text.corpus import Document
from monosem_lib.text.splits import tokenize_documents
from monosem_lib.text.tokenizer import train_tokenizer
from tests.interpret.test_paper_proxies import ARABIC_TEXT, ENGLISH_TEXT

matplotlib.use("Agg")
NAMES = ["arabic", "english", "sql"]


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    docs = [Document(i, NAMES[i % 3], " ".join(rng.choice(ARABIC_TEXT if i % 3 == 0 else ENGLISH_TEXT, 3)))
            for i in range(240)]
    tok = train_tokenizer(docs, TokenizerConfig(vocab_size=320, train_chars=100_000))
    train, val = tokenize_documents(tok, docs[:180], NAMES), tokenize_documents(tok, docs[180:], NAMES)
    ev = plan_eval_tokens(val, train, 32, 4000)
    cp = categories.build_category_proxies(ev, train, tok, NAMES)
    return tok, train, val, ev, cp


def _codes(cp, seed=0):
    """Feature 0 fires exactly on the Arabic proxy's positive set, 1 on English (the detector), 2-5 at random."""
    rng = np.random.default_rng(seed)
    n = len(cp.in_cat["arabic"])
    dense = np.zeros((n, 6), np.float32)
    dense[:, 0] = cp.in_cat["arabic"] * 2.0
    dense[:, 1] = cp.in_cat["english"] * 1.5
    dense[:, 2:] = rng.random((n, 4)) * (rng.random((n, 4)) < 0.2)
    m = torch.from_numpy(dense)
    rows, cols = torch.nonzero(m, as_tuple=True)
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(torch.bincount(rows, minlength=n), 0)])
    return csr(crow, cols, m[rows, cols], (n, 6))


def test_three_named_yardsticks_and_the_planted_units(world):
    tok, train, val, ev, cp = world
    assert cp.kind == {"arabic": "paper", "english": "detector", "sql": None}
    assert set(cp.values["proxy"]) == {"arabic", "english"} and set(cp.values["proxy_detector"]) == {"arabic"}
    assert set(cp.values["proxy_token_llr"]) == set(NAMES)
    codes = _codes(cp)
    corr = categories.feature_correlations(codes, cp)
    n_tok = {c: int(m.sum()) for c, m in cp.in_cat.items()}
    paper = categories.best_units(corr, None, cp, "proxy", n_tok, min_tokens=10)
    assert paper["arabic"].feature == 0 and paper["english"].feature == 1 and len(paper["arabic"].runners_up) == 2
    assert paper["arabic"].feature_corr == pytest.approx(categories.perfect_detector_corr(cp, "arabic"), abs=1e-5)
    assert paper["english"].feature_corr == pytest.approx(1.0, abs=1e-5)      # the detector's 0/1 itself
    llr = categories.best_units(corr, None, cp, "proxy_token_llr", {c: 10 ** 6 for c in NAMES})
    assert llr["arabic"].feature_corr < paper["arabic"].feature_corr
    few = categories.best_units(corr, None, cp, "proxy", n_tok, min_tokens=10 ** 6)
    assert {s.status for s in few.values()} == {categories.TOO_FEW}
    card = categories.category_entries({"proxy": paper, "proxy_token_llr": llr}, cp, NAMES)
    assert card["interp.proxy.arabic.feature_corr"] == round(paper["arabic"].feature_corr, 3) > 0.9   # the paper's
    assert card["interp.proxy_token_llr.arabic.feature_corr"] < card["interp.proxy.arabic.feature_corr"] - 0.1
    assert card["interp.proxy.sql.status"] == "no proxy" and "interp.proxy.sql.feature_corr" not in card
    assert card["interp.proxy.arabic.kind"] == "paper" and "interp.proxy.arabic.perfect_detector" in card
    assert card["interp.proxy.english.kind"] == "detector" and "interp.proxy.english.perfect_detector" not in card
    assert "no proxy" in categories.format_table({"proxy": paper, "proxy_detector": {}, "proxy_token_llr": llr},
                                                 {"arabic": 0.3, "english": 0.3, "sql": 0.3}, cp)


def test_neurons_are_streamed_and_kept_rows_match(world):
    tok, train, val, ev, cp = world
    torch.manual_seed(0)
    lm = TinyLM(LMConfig(d_model=16, n_heads=2, d_mlp=24, n_ctx=32, vocab_size=tok.get_vocab_size())).eval()
    corr, counts, kept = categories.neuron_pass(lm, ev, cp, keep_rows=100, batch_windows=7)
    acts = lm.mlp_acts(torch.from_numpy(ev.windows))[:, 1:].reshape(-1, 24)
    want = np.corrcoef(acts[:, 3].numpy(), cp.matrix()[:, 0].numpy())[0, 1]
    assert corr.shape == (24, len(cp.columns)) and float(corr[3, 0]) == pytest.approx(want, abs=1e-4)
    np.testing.assert_array_equal(counts, (acts > 0).sum(0).numpy())
    assert kept.dtype == torch.float16 and len(kept) == 100 and torch.allclose(kept.float(), acts[:100], atol=2e-3, rtol=2e-3)
    cols = categories.neuron_columns(lm, ev, [3, 5])
    np.testing.assert_allclose(cols, acts[:, [3, 5]].numpy(), atol=1e-6)


def test_specificity_spectra_and_the_features_notebook_06_pins(world):
    tok, train, val, ev, cp = world
    in_cat = np.array([True, True, False, False])
    assert categories.specificity(np.arange(4), np.array([4.0, 3.0, 1.0, 0.5]), in_cat) == (0.5, 1.0)
    assert np.isnan(categories.specificity(np.zeros(0, int), np.zeros(0), in_cat)[0])
    fig = categories.plot_spectra({"arabic feature 0": (np.arange(4), np.array([4.0, 3.0, 1.0, 0.5]))},
                                  {"arabic": in_cat})
    assert fig.axes[0].get_yscale() == "log"
    lines = verdicts.specificity_lines({"arabic feature 0": (0.5, 1.0)}, {"arabic feature 0": 4})
    assert "1 of 1 best features are specific" in lines[-2] and "arabic fall below 80%" in lines[-1]
    paper = {"arabic": categories.CategoryScore("arabic", 9, "ok", 2, 0.6, 5, 0.3)}
    picked = categories.category_features({"proxy": paper, "proxy_detector": {}}, np.arange(6.0))
    assert picked == {"arabic": {"feature": 2, "corr": 0.6, "yardstick": "proxy", "max_act": 2.0, "runners_up": []}}
    assert dial.plot_dial(paper, {"arabic": 0.01}).get_xscale() == "log"


def test_controls_are_scored_by_the_same_code(world):
    tok, train, val, ev, cp = world
    codes = _codes(cp, seed=1)
    text = HeldoutText.from_row_info(ev.row_info({"val": val, "train": train}), NAMES)
    result = compare.score_codes(codes, cp, text, n_score=4)
    assert len(result["autointerp"]) == 4 and result["proxies"]["arabic"].feature == 0
    card = compare.comparison_entries(result, "control.random_lm.")
    assert "control.random_lm.proxy.arabic.feature_corr" in card
    assert -1 <= card["control.random_lm.autointerp_median.features"] <= 1
    half = first_rows(codes, codes.shape[0] // 2)
    half_text = HeldoutText.from_row_info(ev.row_info({"val": val, "train": train}, half.shape[0]), NAMES)
    assert compare.score_codes(half, cp, half_text, n_score=2)["proxies"]["arabic"].n_tokens < result["proxies"]["arabic"].n_tokens
