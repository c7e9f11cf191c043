"""Category proxies: each detector accepts hand-written examples of its category and rejects the others."""
import numpy as np
import pytest

from monosem_lib.config import TokenizerConfig
from monosem_lib.interpret.proxies import (
    CATEGORIES,
    check_category,
    detect_split,
    detect_text,
    detect_tokens,
    token_llr,
)
from monosem_lib.text.corpus import Document
from monosem_lib.text.splits import tokenize_documents
from monosem_lib.text.tokenizer import train_tokenizer
from tests.helpers import tiny_split

EXAMPLES = {
    "arabic": "حدد الصّفحة الرّئيسيّة واختر علامة",
    "hebrew": "וַיְהִי כִּי־יָשַׁב הַמֶּלֶךְ בְּבֵיתוֹ",
    "cjk": "統計値を返します。행렬",
    "dna": "AGTCTCTGAGCGGCTGCTAAGTAACACCTATCAGG",
    "base64": "tuFXBo3hbz5f5JDz6Wk99u157w9AjLif1mPfX+c77xi/6wJ/92RF7ABi",
    "html": '<a class="reference internal" href="#intro">&amp;',
    "python": "def area(r):\n    import math\n    return math.pi * r ** 2\n",
    "numbers": "1\t2\t3\t4\n57.636,61.986,50.136",
    "english": "Now the king loved many foreign women, besides the daughter of Pharaoh.",
    "chinese": "學而時習之，不亦說乎",
    "japanese": "統計値を返します",
    "korean": "행렬을 반환합니다",
    "cyrillic": "Открыть новую вкладку",
    "greek": "Άνοιγμα νέας καρτέλας",
    "devanagari": "नया टैब खोलें",
    "thai": "เปิดแท็บใหม่",
    "georgian": "ახალი ჩანართის გახსნა",
    "armenian": "Բացել նոր ներդիր",
    "hex": "00000000: 8950 4e47 0d0a 1a0a 0000 000d 4948 4452  .PNG........IHDR",
}
# cjk (any CJK script) is the union of three of them
OVERLAPS = {("cjk", "chinese"), ("cjk", "japanese"), ("cjk", "korean"), ("chinese", "cjk"), ("japanese", "cjk"),
            ("korean", "cjk")}


@pytest.fixture(scope="module")
def tok():
    """A small byte-level BPE: few merges, so Arabic and Hebrew letters fall back to byte tokens."""
    docs = [Document(i, c, t * 3) for i, (c, t) in enumerate(EXAMPLES.items()) if c not in ("arabic", "hebrew")]
    return train_tokenizer(docs, TokenizerConfig(vocab_size=400, train_chars=100_000))


@pytest.mark.parametrize("cat", CATEGORIES)
def test_detector_accepts_its_category_and_rejects_others(tok, cat):
    assert detect_text(cat, EXAMPLES[cat], tok).mean() >= 0.6, cat
    for other, text in EXAMPLES.items():
        if other != cat and (cat, other) not in OVERLAPS:
            assert detect_text(cat, text, tok).mean() <= 0.1, (cat, other)


def test_context_decides_ambiguous_tokens(tok):
    assert not detect_text("dna", "The CAT sat on GATE", tok).any()          # short runs, glued letters: not DNA
    assert not detect_text("base64", "averyveryverylongenglishwordwithoutdigits", tok).any()
    assert not detect_text("html", "if a < b and c > d: pass", tok).any()     # comparison, not a tag
    code = "def f(x):\n    y = x\n    return y\n"
    assert detect_text("python", code, tok).mean() > 0.8
    assert detect_text("python", "The cat sat on the mat.", tok).sum() == 0


def test_byte_fallback_halves_of_a_letter(tok):
    ids = tok.encode("سلام").ids
    assert len(ids) > 4                                                       # byte tokens, two per letter
    assert detect_tokens("arabic", ids, tok).all()
    assert detect_tokens("arabic", ids[1:], tok).all()                        # window starts mid-letter
    assert detect_tokens("arabic", ids[:-1], tok).all()                       # window ends mid-letter
    assert not detect_tokens("hebrew", ids[1:-1], tok).any()
    heb = tok.encode("שלום").ids
    assert detect_tokens("hebrew", heb[1:-1], tok).all() and not detect_tokens("arabic", heb, tok).any()


def test_batches_share_and_errors(tok):
    ids = np.array([tok.encode(EXAMPLES["dna"]).ids[:6], tok.encode(EXAMPLES["english"]).ids[:6]])
    mask = detect_tokens("dna", ids, tok)
    assert mask.shape == ids.shape and mask[0].all() and not mask[1].any()
    assert mask.mean() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="the corpus has: english, python"):
        detect_tokens("klingon", ids, tok)
    with pytest.raises(ValueError, match="vocabulary"):
        detect_tokens("dna", [10**6], tok)
    assert check_category("DNA") == "dna"


def test_token_llr_counts_categories():
    split = tiny_split()
    split.tokens[split.categories_at(np.arange(len(split.tokens))) == 1] = 7    # category 1 is all token 7
    split.tokens[split.doc_starts] = 0
    llr = token_llr(split, vocab_size=300)
    assert set(llr) == {"english", "python"} and llr["python"].shape == (300,)
    assert llr["python"][7] > 0.3 and llr["english"][7] < -3
    assert llr["python"][5] < 0 < llr["english"][5]


def test_detect_split_matches_documents(tok):
    docs = [Document(i, c, t) for i, (c, t) in enumerate(EXAMPLES.items())]
    split = tokenize_documents(tok, docs, list(EXAMPLES))
    mask = detect_split("dna", split, tok)
    cats = split.categories_at(np.arange(len(split)))
    assert mask[cats == list(EXAMPLES).index("dna")].mean() > 0.8 and mask[cats != list(EXAMPLES).index("dna")].sum() == 0
