"""The paper's proxies: hand-computed values on a hand-made vocabulary, a brute-force check of the max over
prefixes, the dispatch, and a planted script unit that the paper's proxy scores ~1 (and the token-LLR less)."""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from monosem_lib.config import TokenizerConfig
from monosem_lib.interpret import paper_proxies as pp
from monosem_lib.interpret.proxies import token_llr
from monosem_lib.text.corpus import Document
from monosem_lib.text.scripts import SCRIPTS, in_script, script_index
from monosem_lib.text.splits import load_split, tokenize_documents
from monosem_lib.text.tokenizer import load_tokenizer, train_tokenizer

LOG2, OTHER = np.log(2), np.log(1e-10)
# a hand-made vocabulary: token id -> its bytes (the functions take this list in place of a Tokenizer)
TB = [b"\x00",            # 0  <|endoftext|>
      "ا".encode(),       # 1  alef, a whole Arabic character (D8 A7)
      "ل".encode(),       # 2  lam (D9 84)
      b"\xd8",            # 3  an Arabic lead byte (byte fallback)
      b"\xb3",            # 4  a continuation byte: D8 B3 = seen (Arabic), D7 B3 = geresh (Hebrew block)
      " ا".encode(),      # 5  a space and alef in one token
      b"abc",             # 6  Latin
      b"A", b"b", b"3", b"+", b"=",   # 7-11 single base64 characters
      b"\n",              # 12
      b"ACG", b"T", b"acg",           # 13-15
      b"ff", b"FF", b"fg",            # 16-18
      b"\xd7",            # 19 a Hebrew lead byte
      b"12", b" ",        # 20-21
      b"Ab",              # 22
      b"."]               # 23 filler
V = len(TB)               # 24
# the training split: 19 hand-placed tokens, then filler up to N = 65512, so that N + V = 2**16 and the add-one
# smoothed unigram is p(t) = (count + 1) / 2**16
HAND = [0, 1, 2, 3, 4, 6, 3, 4, 5, 3, 6, 19, 4, 4, 0, 6, 22, 12, 1]
#        . a  a  a  a  .  a  a  .  .  .  h   h  .  .  .  .   .   a     (a: lies wholly in Arabic, h: in Hebrew)
# position 9: D8 before "abc" is a dangling lead; position 13: B3 after a completed character is an orphan
N = 2**16 - V
TRAIN = np.array(HAND + [23] * (N - len(HAND)))
P_ARABIC, P_HEBREW = 7 / N, 2 / N                # 7 Arabic tokens, 2 Hebrew tokens
ARABIC, HEBREW = SCRIPTS.index("arabic"), SCRIPTS.index("hebrew")


@pytest.fixture(scope="module")
def model():
    return pp.build_proxy_model(TRAIN, TB)


def values(cat, ids, model, starts=None, max_prefix=None):
    return pp.proxy_values(cat, np.array(ids), starts, TB, model, max_prefix=max_prefix)


def test_model_counts_shares_priors_and_unigram(model):
    assert np.exp(model.log_prior["arabic"]) == pytest.approx(P_ARABIC)
    assert np.exp(model.log_prior["hebrew"]) == pytest.approx(P_HEBREW)
    assert np.exp(model.log_prior["thai"]) == pytest.approx(1 / N)          # absent: floored at one token's worth
    # D8: 3 occurrences, 2 complete an Arabic character (positions 3, 6), one dangles (9) -> 2/3
    assert model.script_prob[3, ARABIC] == pytest.approx(2 / 3)
    # B3: 4 occurrences: 2 inside seen (4, 7), 1 inside geresh (12), 1 orphan (13)
    assert model.script_prob[4, ARABIC] == pytest.approx(1 / 2) and model.script_prob[4, HEBREW] == pytest.approx(1 / 4)
    assert model.script_prob[19, HEBREW] == 1.0 and model.script_prob[19, ARABIC] == 1e-10
    # whole tokens: 1 or 1e-10, whatever the training split says
    assert model.script_prob[1, ARABIC] == 1.0 and model.script_prob[5, ARABIC] == 1e-10
    assert model.script_prob[6].max() == 1e-10
    # "abc" was seen 3 times: log p = log(4 / 2**16)
    assert model.log_unigram[6] == pytest.approx(np.log(4) - 16 * LOG2)


def test_whole_script_tokens_take_two_values(model):
    v = values("arabic", [1, 6, 5, 2], model)
    # alef, lam: log 1 - log P(arabic); "abc" and " ا" (a space is not Arabic): log 1e-10 - log P(arabic)
    np.testing.assert_allclose(v, [np.log(N / 7), OTHER + np.log(N / 7), OTHER + np.log(N / 7), np.log(N / 7)])
    np.testing.assert_array_equal(pp.in_category("arabic", v, model), [True, False, False, True])


def test_split_character_lead_alone_then_completed(model):
    # "abc", D8, B3: the lead alone -> its training share 2/3; B3 after its lead decodes to seen -> 1
    v = values("arabic", [6, 3, 4], model)
    np.testing.assert_allclose(v[1:], [np.log(2 / 3) - np.log(P_ARABIC), -np.log(P_ARABIC)])
    # an orphan B3 (after "abc") can only be judged alone: share 1/2, on the 0.5 threshold
    v = values("arabic", [6, 4], model)
    assert v[1] == pytest.approx(np.log(1 / 2) - np.log(P_ARABIC)) and pp.in_category("arabic", v, model)[1]
    # D7 B3 is a Hebrew character: B3 scores 1 for Hebrew, only its share 1/2 for Arabic
    assert values("hebrew", [19, 4], model)[1] == pytest.approx(-np.log(P_HEBREW))
    assert values("arabic", [19, 4], model)[1] == pytest.approx(np.log(1 / 2) - np.log(P_ARABIC))
    # the shortest whole prefix [D8 B3] decides: a longer one holding the space of " ا" (1e-10) cannot beat it
    assert values("arabic", [5, 3, 4], model)[2] == pytest.approx(-np.log(P_ARABIC))
    assert values("arabic", [1, 3, 4], model)[2] == pytest.approx(-np.log(P_ARABIC))


def test_segment_start_and_cap_stop_a_prefix(model):
    ids = [6, 3, 4]
    share = np.log(1 / 2) - np.log(P_ARABIC)         # B3 judged alone
    assert values("arabic", ids, model, starts=np.array([1, 0, 1], bool))[2] == pytest.approx(share)
    assert values("arabic", ids, model, max_prefix=1)[2] == pytest.approx(share)
    assert values("arabic", ids, model, max_prefix=2)[2] == pytest.approx(-np.log(P_ARABIC))


def test_base64_run_is_a_max_suffix_sum(model):
    # unseen single base64 characters: g = log(1/64) - log(1/2**16) = 10 log 2
    # "Ab" seen once: g = 2 log(1/64) - log(2/2**16) = (-12 + 15) log 2 = 3 log 2
    # "\n" seen once: g = log 1e-10 - log(2/2**16) = log 1e-10 + 15 log 2 = -12.6287
    ids = [7, 8, 9, 10, 12, 7, 11, 22]   # A b 3 + \n A = Ab
    nl = OTHER + 15 * LOG2
    expected = [10 * LOG2, 20 * LOG2, 30 * LOG2, 40 * LOG2,
                40 * LOG2 + nl,                     # 15.0972: the run is worth more than the newline costs
                50 * LOG2 + nl, 60 * LOG2 + nl,     # '=' counts as a base64 character
                63 * LOG2 + nl]
    np.testing.assert_allclose(values("base64", ids, model), expected)
    assert np.all(pp.in_category("base64", values("base64", ids, model)))
    # the same run cut by a segment start at "+" and by a 2-token cap
    cut = values("base64", ids, model, starts=np.arange(8) == 3)
    np.testing.assert_allclose(cut[:4], np.array([10, 20, 30, 10]) * LOG2)
    np.testing.assert_allclose(values("base64", ids, model, max_prefix=2)[:4], np.array([10, 20, 20, 20]) * LOG2)
    # a space (unseen): log 1e-10 + 16 log 2 = -11.94; "abc" (seen 3 times): 3 log(1/64) - log(4/2**16) = -4 log 2
    alone = values("base64", [21, 6], model, starts=np.ones(2, bool))
    np.testing.assert_allclose(alone, [OTHER + 16 * LOG2, -4 * LOG2])


def test_dna_is_binarised_and_hex_counts_both_cases(model):
    # "ACG" unseen: 3 log(1/4) + 16 log 2 = 10 log 2 > 0; "T": 14 log 2; "acg" (lower case) and "abc" fall to 0
    np.testing.assert_array_equal(values("dna", [13, 14, 15], model, starts=np.array([1, 0, 1], bool)), [1, 1, 0])
    np.testing.assert_array_equal(values("dna", [6], model), [0.0])
    # after ACG T (24 log 2 = 16.6), "abc" costs 3 log 1e-10 + 16 log 2 - log 4 = -59.4: the sum drops below 0
    assert values("dna", [13, 14, 6], model)[2] == 0.0
    # hex: "ff", "FF" unseen: 2 log(1/16) + 16 log 2 = 8 log 2; "fg": log(1/16) + log 1e-10 + 16 log 2 = -14.71
    v = values("hex", [16, 17, 18], model, starts=np.ones(3, bool))
    np.testing.assert_allclose(v, [8 * LOG2, 8 * LOG2, 12 * LOG2 + OTHER])
    np.testing.assert_array_equal(pp.in_category("hex", v), [True, True, False])


def test_max_suffix_sums_keep_precision_after_huge_segments():
    g = np.concatenate([np.full(1000, -1e12), [0.1, 0.2, -0.05, 0.3]])
    seg = np.concatenate([np.zeros(1000, np.int64), np.full(4, 1000)])
    np.testing.assert_allclose(pp.max_suffix_sums(g, seg)[1000:], [0.1, 0.3, 0.25, 0.55], rtol=0, atol=1e-12)


def brute_force(cat, ids, starts, max_prefix, model):
    """max over prefixes, one prefix at a time (strict UTF-8: a prefix with a broken character holds 'other')."""
    seg = pp._segments(starts, len(ids))
    out = []
    for i in range(len(ids)):
        lo = seg[i] if max_prefix is None else max(seg[i], i - max_prefix + 1)
        best = -np.inf
        for j in range(lo, i + 1):
            if cat in pp.ALPHABETS:
                val = sum(model.log_chars[cat][t] - model.log_unigram[t] for t in ids[j:i + 1])
            else:
                k = SCRIPTS.index(cat)
                try:
                    cps = np.array([ord(c) for c in b"".join(TB[t] for t in ids[j:i + 1]).decode("utf-8")])
                    p = 1.0 if (j < i and (script_index(cps) == k).all()) else 1e-10
                except UnicodeDecodeError:
                    p = 1e-10
                val = np.log(model.script_prob[ids[i], k] if j == i else p) - model.log_prior[cat]
            best = max(best, val)
        out.append(best)
    return np.array(out)


@pytest.mark.parametrize("max_prefix", [None, 1, 2, 3])
def test_vectorised_values_equal_brute_force(model, max_prefix):
    rng = np.random.default_rng(max_prefix or 0)
    pool = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 19, 22, 23]
    for _ in range(30):
        ids = rng.choice(pool, size=12)
        starts = rng.random(12) < 0.2
        for cat in ("arabic", "hebrew", "base64"):
            got = pp.proxy_values(cat, ids, starts, TB, model, max_prefix=max_prefix)
            np.testing.assert_allclose(got, brute_force(cat, ids, starts, max_prefix, model), atol=1e-9)


def test_kinds_detectors_none_and_the_script_warning(model):
    assert [pp.proxy_kind(c) for c in ("arabic", "japanese", "base64", "dna", "english", "numbers", "sql", "c")] == [
        "paper", "paper", "paper", "paper", "detector", "detector", None, None]
    table = pp.proxy_table(["numbers", "sql", "arabic"], np.array([20, 21, 6]), None, TB, model)
    np.testing.assert_array_equal(table["numbers"], [1.0, 0.0, 0.0])       # the detector's 0/1
    assert table["sql"] is None and pp.in_category("sql", table["sql"]) is None
    assert table["arabic"].shape == (3,)
    pp._WARNED.discard("tamil")
    with pytest.warns(UserWarning, match="'tamil'"):
        assert pp.proxy_kind("tamil") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pp.proxy_values("tamil", np.array([1]), None, TB, model) is None     # warned once only
        assert pp.proxy_kind("xml") is None                                          # not a script: silent
    with pytest.raises(ValueError, match="needs the ProxyModel"):
        pp.in_category("arabic", np.zeros(2))
    with pytest.raises(ValueError, match="vocabulary"):
        pp.proxy_values("dna", np.array([V]), None, TB, model)
    with pytest.raises(ValueError, match="one bool per token"):
        pp.proxy_values("dna", np.array([1, 2]), np.array([True]), TB, model)


# ---------------------------------------------------------------- a planted Arabic unit
ARABIC_TEXT = ["حدد الصّفحة الرّئيسيّة واختر علامة التبويب", "مرحبا بك في الموقع، اقرأ الشروط قبل المتابعة",
               "يمكنك تغيير الإعدادات من القائمة الرئيسية"]
ENGLISH_TEXT = ["Now the king loved many foreign women, besides the daughter of Pharaoh.",
                "def area(r):\n    return 3.14 * r ** 2\n", "The cat sat on the mat; 12 dogs barked at it."]


def wholly_arabic(ids: np.ndarray, tb: list[bytes]) -> np.ndarray:
    """Independent of the module: a token whose bytes all lie inside Arabic characters, decoded in context."""
    text = b"".join(tb[i] for i in ids).decode("utf-8", errors="surrogateescape")
    arabic = in_script(np.array([ord(c) for c in text]), "arabic")
    per_byte = np.repeat(arabic, [len(c.encode("utf-8", errors="surrogateescape")) for c in text])
    owner = np.repeat(np.arange(len(ids)), [len(tb[i]) for i in ids])
    return np.bincount(owner, weights=~per_byte, minlength=len(ids)) == 0


def planted(split_train, split_val, tok, window=64):
    """A unit that fires on Arabic characters, the paper's Arabic proxy and the token-LLR on the val tokens."""
    model = pp.build_proxy_model(split_train, tok)
    ids = np.asarray(split_val.tokens).astype(np.int64)
    proxy = pp.proxy_values("arabic", ids, np.arange(len(ids)) % window == 0, tok, model)
    unit = wholly_arabic(ids, pp._token_bytes(tok)).astype(float)
    llr = token_llr(split_train, tok.get_vocab_size())["arabic"][ids]
    return unit, proxy, llr, model


def test_planted_script_unit_correlates_with_the_paper_proxy_not_the_llr():
    rng = np.random.default_rng(0)
    docs = [Document(i, c, " ".join(rng.choice(src, 3))) for i in range(120)
            for c, src in (("arabic", ARABIC_TEXT), ("english", ENGLISH_TEXT)) if (i % 2 == 0) == (c == "arabic")]
    tok = train_tokenizer(docs, TokenizerConfig(vocab_size=320, train_chars=100_000))   # Arabic: mostly bytes
    train = tokenize_documents(tok, docs[:90], ["arabic", "english"])
    val = tokenize_documents(tok, docs[90:], ["arabic", "english"])
    unit, proxy, llr, _ = planted(train, val, tok)
    r_paper, r_llr = np.corrcoef(unit, proxy)[0, 1], np.corrcoef(unit, llr)[0, 1]
    assert r_paper > 0.97 and r_llr < r_paper - 0.1, (r_paper, r_llr)


CLASSROOM = Path(os.environ.get("MONOSEM_CLASSROOM_RUN", Path(__file__).resolve().parents[2] / "runs" / "classroom"))


@pytest.mark.skipif(not (CLASSROOM / "tokens" / "val" / "meta.json").exists(),
                    reason=f"no finished classroom run at {CLASSROOM} (set MONOSEM_CLASSROOM_RUN to use another)")
def test_planted_unit_on_the_classroom_split():
    """Many scripts share continuation bytes: a byte token judged alone takes its training share (e.g. 0.3 for
    Arabic on a Chinese character's middle byte), so overall the perfect unit scores well below 1 (0.65 on the
    classroom run); on every other token the proxy takes two values and the unit scores 1."""
    train, val = load_split(CLASSROOM / "tokens" / "train"), load_split(CLASSROOM / "tokens" / "val")
    unit, proxy, llr, model = planted(train, val, load_tokenizer(CLASSROOM), window=128)
    two_valued = np.isclose(proxy, -model.log_prior["arabic"]) | np.isclose(proxy, OTHER - model.log_prior["arabic"])
    assert 0.9 < two_valued.mean() < 1 and np.corrcoef(unit[two_valued], proxy[two_valued])[0, 1] > 0.999
    r_paper, r_llr = np.corrcoef(unit, proxy)[0, 1], np.corrcoef(unit, llr)[0, 1]
    assert r_paper > r_llr + 0.1, (r_paper, r_llr)
