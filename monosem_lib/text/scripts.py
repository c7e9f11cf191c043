"""Unicode script ranges: the one table behind the corpus builder, the category detectors and the paper's proxies.

Membership is by Unicode block. The paper's scripts (`SCRIPTS`) hold only characters of their own block(s):
ASCII, spaces, digits, general punctuation, the combining diacritics that many scripts share and the CJK
punctuation / full-width forms that Chinese and Japanese share (`cjk_punct`) count as *other* (the paper:
"punctuation shared between scripts counts as non-Arabic"). Punctuation inside a script's own block (the
Arabic comma, the Hebrew maqaf, the Devanagari danda) counts as that script.

Chinese vs Japanese: a character model cannot tell a Japanese kanji from a Chinese hanzi, so `chinese` is the
Han ideographs (with the radicals) and `japanese` is kana only; Japanese text scores on both.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

Ranges = tuple[tuple[int, int], ...]           # inclusive (first, last) code points

_HANGUL: Ranges = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF))      # jamo, compatibility jamo, syllables
_HAN: Ranges = ((0x2E80, 0x2FDF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))
_KANA: Ranges = ((0x3040, 0x30FF),)                                          # hiragana, katakana
_CJK_PUNCT: Ranges = ((0x3000, 0x303F), (0xFF00, 0xFFEF))                    # CJK punctuation, full/half-width forms
_CJK_OTHER: Ranges = ((0x3100, 0x312F), (0x3200, 0x33FF), (0x4DC0, 0x4DFF))   # bopomofo, enclosed/compat., Yijing

RANGES: dict[str, Ranges] = {
    # the paper's scripts: one character-model category each
    "arabic": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "hebrew": ((0x0590, 0x05FF), (0xFB1D, 0xFB4F)),
    "cyrillic": ((0x0400, 0x052F),),
    "greek": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "devanagari": ((0x0900, 0x097F),),
    "thai": ((0x0E00, 0x0E7F),),
    "georgian": ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)),
    "armenian": ((0x0530, 0x058F), (0xFB13, 0xFB17)),
    "korean": _HANGUL,
    "chinese": _HAN,
    "japanese": _KANA + ((0x31F0, 0x31FF),),                                   # + small katakana (Ainu)
    # not scripts of their own: building blocks of the detectors' and the corpus builder's CJK sets
    "kana": _KANA,
    "cjk_punct": _CJK_PUNCT,
    "cjk": _HANGUL + _HAN + _KANA + ((0x31F0, 0x31FF),) + _CJK_PUNCT + _CJK_OTHER,   # anything CJK
}
SCRIPTS: tuple[str, ...] = ("arabic", "hebrew", "cyrillic", "greek", "devanagari", "thai", "georgian", "armenian",
                            "korean", "chinese", "japanese")


def script_ranges(*names: str) -> Ranges:
    """The union of the named entries of `RANGES` (a one-line KeyError naming the known ones otherwise)."""
    unknown = [n for n in names if n not in RANGES]
    if unknown:
        raise KeyError(f"no Unicode ranges for {unknown}; known: {', '.join(RANGES)}")
    return tuple(r for n in names for r in RANGES[n])


def in_ranges(codepoints: np.ndarray, ranges: Ranges) -> np.ndarray:
    """Bool mask: which code points lie in any of the inclusive `ranges`."""
    cps = np.asarray(codepoints)
    m = np.zeros(cps.shape, bool)
    for lo, hi in ranges:
        m |= (cps >= lo) & (cps <= hi)
    return m


def in_script(codepoints: np.ndarray, name: str) -> np.ndarray:
    """Bool mask: which code points belong to the table entry `name` (a script, or `cjk`, `cjk_punct`, `kana`)."""
    return in_ranges(codepoints, script_ranges(name))


@lru_cache(maxsize=1)
def _bounds() -> tuple[np.ndarray, np.ndarray]:
    """Sorted range starts and ends of all `SCRIPTS` with each range's script index (scripts are disjoint)."""
    rows = sorted((lo, hi, k) for k, s in enumerate(SCRIPTS) for lo, hi in RANGES[s])
    starts = np.array([r[0] for r in rows], np.int64)
    ends_and_index = np.array([(r[1], r[2]) for r in rows], np.int64)
    if (starts[1:] <= ends_and_index[:-1, 0]).any():
        raise AssertionError("the script ranges overlap")
    return starts, ends_and_index


def script_index(codepoints: np.ndarray) -> np.ndarray:
    """int8 per code point: its script's index in `SCRIPTS`, or -1 for any other character (one searchsorted)."""
    starts, ends_and_index = _bounds()
    cps = np.asarray(codepoints, np.int64)
    row = np.searchsorted(starts, cps, side="right") - 1
    hit = (row >= 0) & (cps <= ends_and_index[np.maximum(row, 0), 0])
    return np.where(hit, ends_and_index[np.maximum(row, 0), 1], -1).astype(np.int8)
