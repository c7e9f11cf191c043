"""Category proxies: what a feature *should* fire on, measured independently of the SAE.

Two kinds, as in the paper's "Detailed features":
- `token_llr`: the log-likelihood ratio log P(token | category) / P(token), counted on the training split
  (one [vocab] table per category; add-`alpha` smoothing so unseen tokens stay finite);
- `detect_tokens`: a binary detector per category that reads the *bytes* of a token sequence, so context
  decides ambiguous tokens and byte-fallback halves of an Arabic or Hebrew letter are recognised.

Unicode ranges come from `monosem_lib.text.scripts` (one table with the corpus builder and `paper_proxies`, the
paper's own proxies, which score the character-model categories; these detectors remain for the others and as
binary masks).

Detector rules (honest heuristics, char-level on the decoded text, then a token is accepted when any of
its bytes lies in an accepted character):
- arabic / hebrew / cyrillic / greek / devanagari / thai / georgian / armenian / korean (Hangul) / cjk:
  Unicode script ranges. chinese: Han characters on a line without kana or Hangul; japanese: kana, and
  Han characters on a line with kana. A character split over two byte tokens decodes whole, so
  both halves count; a lone lead byte cut off at the end of a window is judged by its value (0xD8–0xDB
  Arabic, 0xD6–0xD7 Hebrew, 0xE3–0xED CJK/Hangul) and a lone continuation byte (0x80–0xBF) at the start
  of a window takes the script of the next whole character.
- dna: a run of ≥ 4 of `ACGT` (or `acgt`), not glued to other letters or digits.
- base64: a run of ≥ 20 chars of [A-Za-z0-9+/=] (runs may continue over line breaks) that has letters and
  digits, or a share of capitals between 25% and 75% (random base64 mixes case; words and DNA do not).
- html: inside a `<tag ...>` (also one cut off at the window's end) or an entity such as `&amp;`. Text
  between tags is not html by this rule.
- python: a code-like line (keywords such as `def`, `import`, `return`, `if …:`, assignments, calls,
  `self.`, comments), plus indented lines next to one (block context). English in docstrings can pass.
- numbers: a token with a digit that is not inside a base64 run (nor a hex run).
- hex: a run of >= 16 hex digits, or of >= 4 space-separated groups of 2-8 hex digits, with a digit and
  a letter a-f (hash lists, hex dumps).
- Categories without a detector (c, javascript, css, sql, xml, or a user's own) have none: the paper-proxy
  figures call them "no proxy" (`paper_proxies.proxy_kind`), and only the token-LLR scores them.
- english: letters in a line with at least two common English function words, not python/html/base64.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..text.scripts import in_ranges, script_ranges
from ..text.splits import TokenSplit, load_split
from ..text.tokenizer import EOT, bytes_to_unicode

# categories with a per-token detector (the others are judged by their document's label)
CATEGORIES = ("english", "python", "html", "arabic", "hebrew", "base64", "dna", "numbers", "cjk", "chinese",
              "japanese", "korean", "cyrillic", "greek", "devanagari", "thai", "georgian", "armenian", "hex")
# Unicode ranges: the one table of monosem_lib/text/scripts.py. The detectors' Han includes the CJK punctuation
# and full-width forms (a line's Chinese/Japanese context), which the paper's proxies count as shared, non-script.
_HAN = script_ranges("chinese", "cjk_punct")
_KANA = script_ranges("japanese")
_HANGUL = script_ranges("korean")
_SCRIPTS = {s: script_ranges(s) for s in ("arabic", "hebrew", "cjk", "korean", "cyrillic", "greek", "devanagari",
                                          "thai", "georgian", "armenian")}
# lead bytes of a character cut off at a window's end (only where no other detected script shares them)
_LEAD_BYTES = {"arabic": (0xD8, 0xDB), "hebrew": (0xD6, 0xD7), "cjk": (0xE3, 0xED), "cyrillic": (0xD0, 0xD1),
               "greek": (0xCE, 0xCF)}
_ESC = 0xDC00        # surrogateescape maps an undecodable byte b to U+DC00 + b

_RE = {
    "dna": re.compile(r"(?<![A-Za-z0-9])(?:[ACGT]{4,}|[acgt]{4,})(?![A-Za-z0-9])"),
    "base64": re.compile(r"[A-Za-z0-9+/=]+(?:\r?\n[A-Za-z0-9+/=]+)*"),
    "html": re.compile(r"<[A-Za-z!/?][^<>\n]*(?:>|$)|&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});"),
    "digit": re.compile(r"[^\W\d_]*\d[\w.,]*"),
    "hex": re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{16,}|[0-9a-fA-F]{2,8}(?: [0-9a-fA-F]{2,8}){3,})(?![0-9A-Za-z])"),
}
_PY_LINE = re.compile(
    r"^\s*(?:def |class |import |from [\w.]+ import|return\b|if .*:\s*(?:#.*)?$|elif .*:|else\s*:|for .* in .*:"
    r"|while .*:|try\s*:|except\b.*:|finally\s*:|with .*:|raise\b|yield\b|assert |pass\s*$|break\s*$"
    r"|continue\s*$|@\w|#|print\(|[\w.\[\]'\", ]+\s*[-+*/%|&]?=(?!=)\s*\S|[\w.]+\(.*\)\s*$)|\bself\.")
_EN_WORDS = re.compile(r"\b(?:the|and|of|to|in|is|that|for|it|with|as|was|on|be|by|this|are|not|or|from|at|"
                       r"which|have|an|he|she|they|his|her|we|you|will|can|has|had|were|there|their)\b", re.I)


def check_category(category: str, available: tuple[str, ...] | list[str] = CATEGORIES) -> str:
    """The category (lower-cased) if `available` has it, else a one-line ValueError listing those it has."""
    cat = str(category).lower()
    if cat not in available:
        raise ValueError(f"unknown category {category!r}; the corpus has: {', '.join(available)}")
    return cat


# ---------------------------------------------------------------- log-likelihood-ratio proxy
def token_llr(source: str | Path | TokenSplit, vocab_size: int | None = None,
              alpha: float = 1.0) -> dict[str, np.ndarray]:
    """{category: [vocab] log P(token|category) - log P(token)}, from a run dir's training split (or a split)."""
    split = source if isinstance(source, TokenSplit) else load_split(Path(source) / "tokens" / "train")
    tokens = np.asarray(split.tokens)
    V = int(vocab_size or int(tokens.max()) + 1)
    lengths = np.diff(np.append(split.doc_starts, len(tokens)))
    cat_of_token = np.repeat(split.doc_category.astype(np.int64), lengths)
    counts = np.bincount(cat_of_token * V + tokens, minlength=V * len(split.category_names))
    counts = counts.reshape(len(split.category_names), V).astype(np.float64)
    total = counts.sum(0)
    p_all = (total + alpha) / (total.sum() + alpha * V)
    out = {}
    for c, name in enumerate(split.category_names):
        p_cat = (counts[c] + alpha) / (counts[c].sum() + alpha * V)
        out[name] = np.log(p_cat / p_all).astype(np.float32)
    return out


# ---------------------------------------------------------------- binary detectors
def token_bytes(tokenizer: Tokenizer) -> list[bytes]:
    """The raw bytes of every token id (<|endoftext|> becomes b'\\x00', which no detector accepts)."""
    dec = {c: b for b, c in bytes_to_unicode().items()}
    out = []
    for i in range(tokenizer.get_vocab_size()):
        piece = tokenizer.id_to_token(i)
        out.append(b"\x00" if piece == EOT or piece is None else bytes(dec[c] for c in piece))
    return out


_BYTES_CACHE: dict[int, tuple[Tokenizer, list[bytes]]] = {}


def _token_bytes_cached(tokenizer: Tokenizer) -> list[bytes]:
    hit = _BYTES_CACHE.get(id(tokenizer))
    if hit is None or hit[0] is not tokenizer:
        hit = _BYTES_CACHE[id(tokenizer)] = (tokenizer, token_bytes(tokenizer))
    return hit[1]


def _spans_mask(n: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """Boolean [n] mask, True inside any [start, end) span (difference array, no per-char loop)."""
    diff = np.zeros(n + 1, np.int32)
    if spans:
        s = np.array(spans, dtype=np.int64)
        np.add.at(diff, s[:, 0], 1)
        np.add.at(diff, s[:, 1], -1)
    return np.cumsum(diff[:-1]) > 0


def _script_mask(cat: str, cps: np.ndarray) -> np.ndarray:
    """Characters of a script, with lone (undecodable) bytes judged by their value and neighbours."""
    m = in_ranges(cps, _SCRIPTS[cat])
    esc = (cps >= _ESC + 0x80) & (cps <= _ESC + 0xFF)
    if cat in _LEAD_BYTES:
        lo, hi = _LEAD_BYTES[cat]
        m |= esc & (cps >= _ESC + lo) & (cps <= _ESC + hi)
    cont = esc & (cps < _ESC + 0xC0)
    if cont.any():                               # a cut-off continuation byte takes the next whole char's script
        idx = np.where(cont, len(cps), np.arange(len(cps)))
        nxt = np.minimum.accumulate(idx[::-1])[::-1]
        ok = cont & (nxt < len(cps))
        m[ok] = m[nxt[ok]]
    return m


def _line_spans(text: str, keep) -> list[tuple[int, int]]:
    """[start, end) of every line for which keep(lines, i) is true (line ends excluded)."""
    spans, pos = [], 0
    lines = text.split("\n")
    flags = keep(lines)
    for line, f in zip(lines, flags):
        if f:
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _python_lines(lines: list[str]) -> list[bool]:
    """Code-like lines, then indented lines next to a code line (one pass down, one pass up)."""
    flags = [bool(_PY_LINE.search(line)) for line in lines]
    indented = [line.startswith((" ", "\t")) and line.strip() != "" for line in lines]
    for order in (range(1, len(lines)), range(len(lines) - 2, -1, -1)):
        for i in order:
            j = i - 1 if order.step == 1 else i + 1
            if not flags[i] and indented[i] and flags[j]:
                flags[i] = True
    return flags


def _english_lines(lines: list[str]) -> list[bool]:
    return [len(_EN_WORDS.findall(line)) >= 2 for line in lines]


def _base64_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _RE["base64"].finditer(text):
        run = m.group().replace("\n", "").replace("\r", "")
        if len(run) < 20:
            continue
        n_up, n_low = sum(c.isupper() for c in run), sum(c.islower() for c in run)
        has_digit = any(c.isdigit() for c in run)
        if (n_up + n_low) and (has_digit or 0.25 <= n_up / (n_up + n_low) <= 0.75):
            spans.append(m.span())
    return spans


def _han_by_line(text: str, cps: np.ndarray, japanese: bool) -> np.ndarray:
    """Chinese: Han on lines without kana/Hangul. Japanese: kana, and Han on lines with kana."""
    han, kana, hangul = in_ranges(cps, _HAN), in_ranges(cps, _KANA), in_ranges(cps, _HANGUL)
    line = np.cumsum(cps == ord("\n"))
    kana_line = np.bincount(line, weights=kana, minlength=line[-1] + 1)[line] > 0 if len(cps) else kana
    hangul_line = np.bincount(line, weights=hangul, minlength=line[-1] + 1)[line] > 0 if len(cps) else hangul
    if japanese:
        return kana | (han & kana_line)
    return han & ~kana_line & ~hangul_line


def _hex_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _RE["hex"].finditer(text)
            if any(c.isdigit() for c in m.group()) and any(c in "abcdefABCDEF" for c in m.group())]


def _char_mask(cat: str, text: str, cps: np.ndarray) -> np.ndarray:
    """Per character of `text`: does it belong to `cat`?"""
    n = len(cps)
    if cat in ("chinese", "japanese"):
        return _han_by_line(text, cps, cat == "japanese")
    if cat == "hex":
        return _spans_mask(n, _hex_spans(text))
    if cat in _SCRIPTS:
        return _script_mask(cat, cps)
    if cat == "dna":
        return _spans_mask(n, [m.span() for m in _RE["dna"].finditer(text)])
    if cat == "base64":
        return _spans_mask(n, _base64_spans(text))
    if cat == "html":
        return _spans_mask(n, [m.span() for m in _RE["html"].finditer(text)])
    if cat == "python":
        return _spans_mask(n, _line_spans(text, _python_lines))
    if cat == "numbers":
        digits = _spans_mask(n, [m.span() for m in _RE["digit"].finditer(text)])
        return digits & ~_spans_mask(n, _base64_spans(text) + _hex_spans(text))
    # english: letters in English-looking lines that are not code, markup or base64
    letters = np.array([c.isascii() and c.isalpha() for c in text], bool) if n else np.zeros(0, bool)
    other = _char_mask("python", text, cps) | _char_mask("html", text, cps) | _char_mask("base64", text, cps)
    return letters & _spans_mask(n, _line_spans(text, _english_lines)) & ~other


Decoded = tuple[str, np.ndarray, np.ndarray, np.ndarray]    # text, code points, UTF-8 length per char, bytes per token


def decode_ids(ids: np.ndarray, tb: list[bytes]) -> Decoded:
    """One running text: (text, code points [n_chars], UTF-8 length of each char [n_chars], bytes per token [T]).

    Undecodable bytes (a lone lead or continuation byte) become U+DC80..U+DCFF (surrogateescape), one per byte.
    """
    pieces = [tb[i] for i in ids.tolist()]
    tok_len = np.fromiter((len(p) for p in pieces), np.int64, len(pieces))
    text = b"".join(pieces).decode("utf-8", errors="surrogateescape")
    cps = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), np.uint32).astype(np.int64)
    blen = np.select([cps < 0x80, (cps >= _ESC) & (cps <= _ESC + 0xFF), cps < 0x800, cps < 0x10000],
                     [1, 1, 2, 3], 4)
    return text, cps, blen, tok_len


def _tokens_from_chars(cmask: np.ndarray, blen: np.ndarray, tok_len: np.ndarray) -> np.ndarray:
    """A token is accepted when any of its bytes lies in an accepted character."""
    byte_mask = np.repeat(cmask, blen)
    tok_of_byte = np.repeat(np.arange(len(tok_len)), tok_len)
    return np.bincount(tok_of_byte, weights=byte_mask, minlength=len(tok_len)) > 0


def detect_decoded(categories: list[str], decoded: Decoded) -> dict[str, np.ndarray]:
    """{category: bool per token} for one running text decoded once by `decode_ids` (categories already checked)."""
    text, cps, blen, tok_len = decoded
    return {c: _tokens_from_chars(_char_mask(c, text, cps), blen, tok_len) for c in categories}


def _detect_1d(cat: str, ids: np.ndarray, tb: list[bytes]) -> np.ndarray:
    return detect_decoded([cat], decode_ids(ids, tb))[cat]


def detect_tokens(category: str, token_ids, tokenizer: Tokenizer) -> np.ndarray:
    """Bool per token: does it belong to `category`, judged from its bytes and its neighbours?

    `token_ids`: [T] (one running text) or [B, T] (independent rows, e.g. context windows or samples).
    """
    cat = check_category(category)
    ids = np.asarray(token_ids.cpu() if hasattr(token_ids, "cpu") else token_ids, dtype=np.int64)
    if ids.ndim not in (1, 2):
        raise ValueError(f"token_ids must be [T] or [B, T], got shape {ids.shape}")
    V = tokenizer.get_vocab_size()
    if ids.size and not 0 <= ids.min() <= ids.max() < V:
        raise ValueError(f"token ids must lie in [0, {V - 1}] (the tokenizer's vocabulary)")
    tb = _token_bytes_cached(tokenizer)
    if ids.ndim == 1:
        return _detect_1d(cat, ids, tb)
    return np.stack([_detect_1d(cat, row, tb) for row in ids]) if len(ids) else np.zeros(ids.shape, bool)


def detect_text(category: str, text: str, tokenizer: Tokenizer) -> np.ndarray:
    """Bool per token of `text` (encoded with `tokenizer`): convenience for hand-written examples."""
    return detect_tokens(category, tokenizer.encode(text).ids, tokenizer)


def detect_split(category: str, split: TokenSplit, tokenizer: Tokenizer, chunk: int = 1 << 16) -> np.ndarray:
    """Bool per token of a whole split, processed document by document in chunks of whole documents."""
    cat = check_category(category, split.category_names)
    tokens = np.asarray(split.tokens)
    out = np.zeros(len(tokens), bool)
    starts = np.append(split.doc_starts, len(tokens))
    i = 0
    while i < len(starts) - 1:                   # cut only at document starts: context never crosses documents
        j = int(np.searchsorted(starts, starts[i] + chunk, side="right")) - 1
        j = max(j, i + 1)
        a, b = int(starts[i]), int(starts[j])
        out[a:b] = _detect_1d(cat, tokens[a:b].astype(np.int64), _token_bytes_cached(tokenizer))
        i = j
    return out
