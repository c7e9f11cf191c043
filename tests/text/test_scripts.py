"""The one Unicode table: scripts are disjoint blocks, shared punctuation belongs to none, helpers agree."""
import numpy as np
import pytest

from monosem_lib.text.scripts import SCRIPTS, in_script, script_index, script_ranges


def cps(text: str) -> np.ndarray:
    return np.array([ord(c) for c in text])


def test_each_script_holds_its_letters_and_not_shared_punctuation():
    samples = {"arabic": "حدد،", "hebrew": "שָׁלוֹם", "cyrillic": "Открыть", "greek": "Άνοιγμα", "devanagari": "नया।",
               "thai": "เปิด", "georgian": "ახალი", "armenian": "Բացել", "korean": "행렬", "chinese": "統計",
               "japanese": "をしますカタカナ"}
    for name, text in samples.items():
        assert in_script(cps(text), name).all(), name
        assert (script_index(cps(text)) == SCRIPTS.index(name)).all(), name
    # spaces, ASCII and Latin-1 punctuation, CJK punctuation and full-width forms: no script's
    assert (script_index(cps(" .,;:!?-()0123456789«»、。「」（）！")) == -1).all()
    assert not in_script(cps("。、"), "chinese").any() and in_script(cps("。、"), "cjk").all()


def test_every_code_point_has_at_most_one_script():
    every = np.arange(0x110000)
    hits = np.stack([in_script(every, s) for s in SCRIPTS])
    assert hits.sum(0).max() == 1
    np.testing.assert_array_equal(np.where(hits.any(0), hits.argmax(0), -1), script_index(every))


def test_unions_and_unknown_names():
    assert script_ranges("korean", "chinese") == script_ranges("korean") + script_ranges("chinese")
    with pytest.raises(KeyError, match="tamil"):
        script_ranges("tamil")
