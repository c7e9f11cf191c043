"""The paper's feature proxies (appendix "Feature Proxies"): what a feature should fire on, from a character model.

proxy(t) = max over the prefixes s that end at token t of log P(s | category) - log P(s); a prefix never crosses a
segment start (an LM window's first token, a document start) and holds at most `max_prefix` tokens.
- Scripts (`text.scripts.SCRIPTS`), by Bayes: log P(script | s) - log P(script). P(script | s) is 1 when s decodes
  to characters all in the script's Unicode blocks, 1e-10 when it holds any other character (shared punctuation,
  spaces, digits, an undecodable byte); a single token that is not whole characters (a byte-fallback piece) gets
  the share of its training-split occurrences that lie inside characters of the script, decoded in context.
  The maximising prefix is the token alone, or the shortest prefix that starts on a character boundary (it
  completes a character begun by earlier tokens): any longer prefix only adds characters. P(script) is the share
  of training tokens (separators included) lying wholly in the script, at least 1/N: a constant shift per script.
- base64, hex, dna: P(s | c) = product over the characters of s of P(ch) (1/64, 1/16, 1/4 inside the alphabet,
  1e-10 outside; an undecodable byte is one outside character); P(s) = product of the add-one smoothed training
  unigram p(t). So proxy(t) is the largest sum of g = log P(chars of t | c) - log p(t) over a run ending at t.
  Choices where the paper is silent: base64's padding '=' counts as a base64 character (else every padded block
  would drop by ~23 nats where a base64 feature still fires; line breaks do break a run); hex takes 0-9, a-f and
  A-F alike; dna takes upper-case ACGT only (lower-case a/c/g/t would credit English words such as "cat").
  As in the paper, dna's proxy is binarised (1.0 where it is > 0).
Categories with no character model but a binary detector (english, python, html, numbers, cjk) use the detector's
0/1 (`proxies.detect_decoded`, run per segment); any other category has no proxy (None: not a number, not zero).
"""
from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ..text.scripts import SCRIPTS, script_index
from ..text.splits import TokenSplit
from . import proxies

P_OTHER = 1e-10
ALPHABETS = {"base64": ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 64),
             "hex": ("0123456789abcdefABCDEF", 16), "dna": ("ACGT", 4)}
BINARISED = ("dna",)
PAPER_CATEGORIES = SCRIPTS + tuple(ALPHABETS)
_WARNED: set[str] = set()


@dataclass
class ProxyModel:
    """What the proxies need from a run's training split, built once by `build_proxy_model`."""
    log_unigram: np.ndarray          # [V] log p(t), add-one smoothed training counts
    script_prob: np.ndarray          # [V, len(SCRIPTS)] P(script | token alone): 1 or 1e-10, or a training share
    log_prior: dict[str, float]      # log P(script): share of training tokens lying wholly in the script
    log_chars: dict[str, np.ndarray]  # [V] sum over a token's characters of log P(char | c), for ALPHABETS
    n_train_tokens: int

    def priors(self) -> dict[str, float]:
        """P(script) per script: the constant each script's proxy is shifted by (worth reporting beside it)."""
        return {s: float(np.exp(v)) for s, v in self.log_prior.items()}


def _token_bytes(tokenizer: Tokenizer | list[bytes]) -> list[bytes]:
    return proxies._token_bytes_cached(tokenizer) if isinstance(tokenizer, Tokenizer) else list(tokenizer)


def _as_ids(ids, V: int) -> np.ndarray:
    ids = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids).astype(np.int64).reshape(-1)
    if ids.size and not 0 <= ids.min() <= ids.max() < V:
        raise ValueError(f"token ids must lie in [0, {V - 1}] (the tokenizer's vocabulary)")
    return ids


def _decode(ids: np.ndarray, tb: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All tokens as one text, gathered without a per-token loop: (byte offset of each token [T+1],
    char-start flag per byte offset [n_bytes+1], script index per byte [n_bytes] (-1: other or undecodable))."""
    lens = np.array([len(b) for b in tb], np.int64)
    voff = np.concatenate([[0], np.cumsum(lens)[:-1]])
    vocab = np.frombuffer(b"".join(tb), np.uint8)
    tok_start = np.concatenate([[0], np.cumsum(lens[ids])])
    n = int(tok_start[-1])
    src = np.repeat(voff[ids] - tok_start[:-1], lens[ids]) + np.arange(n)
    text = vocab[src].tobytes().decode("utf-8", errors="surrogateescape")
    cps = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), np.uint32).astype(np.int64)
    esc = (cps >= 0xDC80) & (cps <= 0xDCFF)       # surrogateescape: one per undecodable byte
    blen = np.select([(cps < 0x80) | esc, cps < 0x800, cps < 0x10000], [1, 2, 3], 4)
    is_start = np.zeros(n + 1, bool)
    is_start[np.concatenate([[0], np.cumsum(blen)])] = True
    return tok_start, is_start, np.repeat(script_index(cps), blen)


def _token_scripts(ids: np.ndarray, tb: list[bytes], left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per token: the script its bytes lie wholly in (-1: none), and the script of the whole-character prefix
    that starts at the last token before it beginning on a character boundary (-1: none, or before `left`)."""
    tok_start, is_start, sc = _decode(ids, tb)
    if len(sc) == 0:
        return np.full(len(ids), -1, np.int8), np.full(len(ids), -1, np.int8)
    b0, b1 = tok_start[:-1], tok_start[1:]
    nonempty = b1 > b0
    last = np.maximum(b1 - 1, 0)
    change = np.concatenate([[0], np.cumsum(sc[1:] != sc[:-1])])     # script changes up to each byte
    sc_last = sc[last]

    def uniform(first_byte: np.ndarray) -> np.ndarray:   # one script from first_byte to each token's last byte
        return nonempty & (change[np.minimum(first_byte, last)] == change[last]) & (sc_last >= 0)

    own = np.where(uniform(b0), sc_last, -1)
    on_boundary = np.where(is_start[b0] & nonempty, np.arange(len(ids)), -1)
    j = np.concatenate([[-1], np.maximum.accumulate(on_boundary)[:-1]])
    ok = (j >= left) & is_start[b1] & uniform(tok_start[np.maximum(j, 0)])
    return own.astype(np.int8), np.where(ok, sc_last, -1).astype(np.int8)


def build_proxy_model(train: TokenSplit | np.ndarray, tokenizer: Tokenizer | list[bytes]) -> ProxyModel:
    """Unigram, per-script partial-token shares and script priors from the training split (a TokenSplit or its
    token ids; about a second per million tokens)."""
    tb = _token_bytes(tokenizer)
    V, S = len(tb), len(SCRIPTS)
    ids = _as_ids(train.tokens if isinstance(train, TokenSplit) else train, V)
    N = max(len(ids), 1)
    counts = np.bincount(ids, minlength=V).astype(np.float64)
    own, _ = _token_scripts(ids, tb, np.zeros(len(ids), np.int64))
    by_script = np.bincount(ids * (S + 1) + own + 1, minlength=V * (S + 1)).reshape(V, S + 1)[:, 1:]
    prob = np.maximum(by_script / np.maximum(counts, 1)[:, None], P_OTHER)
    whole = np.array([_is_whole(b) for b in tb], bool)
    whole_ids = np.flatnonzero(whole)              # whole tokens decode alone, so concatenated too
    own_whole, _ = _token_scripts(whole_ids, tb, np.zeros(len(whole_ids), np.int64))
    prob[whole_ids] = np.where(own_whole[:, None] == np.arange(S), 1.0, P_OTHER)
    shares = np.bincount(own + 1, minlength=S + 1)[1:]
    return ProxyModel(
        log_unigram=np.log((counts + 1) / (counts.sum() + V)), script_prob=prob,
        log_prior={s: float(np.log(max(int(shares[k]), 1) / N)) for k, s in enumerate(SCRIPTS)},
        log_chars={c: np.array([_log_chars(b, c) for b in tb]) for c in ALPHABETS}, n_train_tokens=len(ids))


def _is_whole(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(piece) > 0


def _log_chars(piece: bytes, category: str) -> float:
    """log P(characters of one token | category): each character (or undecodable byte) in or out of the alphabet."""
    alphabet, size = ALPHABETS[category]
    chars = piece.decode("utf-8", errors="surrogateescape")
    inside = sum(ch in alphabet for ch in chars)
    return inside * -np.log(size) + (len(chars) - inside) * np.log(P_OTHER)


def _segments(starts: np.ndarray | None, T: int) -> np.ndarray:
    """Index of each token's segment start (position 0 always starts one)."""
    first = np.zeros(T, bool) if starts is None else np.asarray(starts, bool).reshape(-1).copy()
    if len(first) != T:
        raise ValueError(f"starts has {len(first)} entries for {T} token ids; pass one bool per token")
    first[:1] = True
    return np.maximum.accumulate(np.where(first, np.arange(T), 0))


def _left(seg: np.ndarray, max_prefix: int | None) -> np.ndarray:
    """First token a prefix ending at each position may start at: its segment start, and at most max_prefix back."""
    if max_prefix is not None and (int(max_prefix) != max_prefix or max_prefix < 1):
        raise ValueError(f"max_prefix must be a positive number of tokens or None, got {max_prefix!r}")
    return seg if max_prefix is None else np.maximum(seg, np.arange(len(seg)) - int(max_prefix) + 1)


def _piece_cummin(rank: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """Running minimum of integer ranks restarting at every piece (non-decreasing ids): shifting each later piece
    below all earlier ones keeps it exact in int64, with no float offsets."""
    shift = piece.astype(np.int64) * len(rank)
    return np.minimum.accumulate(rank - shift) + shift


def max_suffix_sums(g: np.ndarray, seg: np.ndarray, max_prefix: int | None = None) -> np.ndarray:
    """For each i: max over j in [max(seg[i], i - max_prefix + 1), i] of g[j] + ... + g[i].

    Sums are segment-local (each segment's total is subtracted at the next start, so no sum carries the magnitude
    of the segments before); the window minimum is van Herk/Gil-Werman: pieces = segments cut every max_prefix
    tokens, a running minimum forwards and backwards in each piece, exact on the ranks of the prefix sums.
    """
    T = len(g)
    if T == 0:
        return np.zeros(0)
    idx = np.arange(T)
    first = seg == idx
    starts = np.flatnonzero(first)
    g2 = np.array(g, np.float64)
    g2[starts[1:]] -= np.add.reduceat(g2, starts)[:-1]
    incl = np.cumsum(g2)                           # sum of the segment up to and including i
    excl = incl - g                                # ... before j
    left = _left(seg, max_prefix)
    piece = np.cumsum(first | (idx % (max_prefix or T) == 0)) - 1
    order = np.argsort(excl, kind="stable")
    rank = np.empty(T, np.int64)
    rank[order] = idx
    pre = _piece_cummin(rank, piece)
    suf = _piece_cummin(rank[::-1], (piece[-1] - piece)[::-1])[::-1]
    best = np.where(piece[left] == piece, pre, np.minimum(suf[left], pre))
    return incl - excl[order[best]]


# ---------------------------------------------------------------- dispatch
@lru_cache(maxsize=1)
def _unicode_script_names() -> frozenset[str]:
    """Words that open Unicode letter names ("TAMIL LETTER A" -> tamil, "OLD ITALIC LETTER A" -> old_italic)."""
    out = set()
    for cp in range(0x20000):
        name = unicodedata.name(chr(cp), "")
        for key in (" LETTER ", " SYLLABLE "):
            if key in name:
                head = name.split(key)[0].replace(" CAPITAL", "").replace(" SMALL", "")
                out.update({head.lower().replace(" ", "_"), head.split(" ")[0].lower()})
    return frozenset(out)


def proxy_kind(category: str) -> str | None:
    """The category's proxy: "paper" (a character model), "detector" (a detector's 0/1) or None (no proxy).

    A category named like a Unicode script that the table lacks (e.g. "tamil") warns once per process."""
    cat = str(category).lower()
    if cat in PAPER_CATEGORIES:
        return "paper"
    if cat in proxies.CATEGORIES:
        return "detector"
    if cat not in _WARNED and cat in _unicode_script_names():
        _WARNED.add(cat)
        warnings.warn(f"category {cat!r} looks like a script that monosem_lib/text/scripts.py has no Unicode ranges "
                      f"for: it gets no paper proxy (add its ranges to the table to score it)", stacklevel=2)
    return None


# ---------------------------------------------------------------- the values
def proxy_table(categories: list[str], ids, starts: np.ndarray | None, tokenizer: Tokenizer | list[bytes],
                model: ProxyModel, max_prefix: int | None = None) -> dict[str, np.ndarray | None]:
    """{category: float64 per token} for all categories at once (text decoded once for the scripts and once per
    segment for the detectors): the paper's value (dna binarised), a detector's 0/1, or None for no proxy.

    ids: [T] token ids; starts: bool [T], True where a segment begins (None: one segment; for 2-D ids [B, T], one
    segment per row, values flattened to [B*T]). max_prefix: the longest prefix in tokens (None: the segment).
    """
    if np.ndim(ids) == 2 and starts is None:
        starts = np.arange(np.size(ids)) % np.shape(ids)[1] == 0
    tb = _token_bytes(tokenizer)
    ids = _as_ids(ids, len(tb))
    seg = _segments(starts, len(ids))
    kinds = {c: proxy_kind(c) for c in categories}
    out: dict[str, np.ndarray | None] = {c: None for c in categories}
    wanted = [c for c in categories if kinds[c] == "paper" and c.lower() in SCRIPTS]
    if wanted:
        _, multi = _token_scripts(ids, tb, _left(seg, max_prefix))
        for c in wanted:
            k = SCRIPTS.index(c.lower())
            log_p = np.where(multi == k, 0.0, np.log(model.script_prob[ids, k]))
            out[c] = log_p - model.log_prior[c.lower()]
    for c in [c for c in categories if kinds[c] == "paper" and c.lower() in ALPHABETS]:
        g = model.log_chars[c.lower()][ids] - model.log_unigram[ids]
        v = max_suffix_sums(g, seg, max_prefix)
        out[c] = (v > 0).astype(np.float64) if c.lower() in BINARISED else v
    detected = [c for c in categories if kinds[c] == "detector"]
    if detected:
        out.update(_detector_values(detected, ids, seg, tb))
    return out


def detector_table(categories: list[str], ids, starts: np.ndarray | None,
                   tokenizer: Tokenizer | list[bytes]) -> dict[str, np.ndarray]:
    """{category: 0/1 per token} from the binary detectors of `proxies` (our variant beside the paper's proxy), each
    segment read as one running text; categories without a detector are left out."""
    tb = _token_bytes(tokenizer)
    ids = _as_ids(ids, len(tb))
    have = [c for c in categories if c.lower() in proxies.CATEGORIES]
    return _detector_values(have, ids, _segments(starts, len(ids)), tb) if have else {}


def _detector_values(categories: list[str], ids: np.ndarray, seg: np.ndarray, tb: list[bytes]) -> dict[str, np.ndarray]:
    """The binary detectors' 0/1, each segment one running text (decoded once for all the categories)."""
    cats = [c.lower() for c in categories]
    out = {c: np.zeros(len(ids)) for c in categories}
    bounds = np.append(np.flatnonzero(seg == np.arange(len(ids))), len(ids))
    quiet = {"disable": True} if len(bounds) < 5000 else {}      # disable=False would override TQDM_DISABLE
    for a, b in tqdm(zip(bounds[:-1], bounds[1:]), total=len(bounds) - 1, desc="detectors", leave=False, **quiet):
        masks = proxies.detect_decoded(cats, proxies.decode_ids(ids[a:b], tb))
        for c, lc in zip(categories, cats):
            out[c][a:b] = masks[lc]
    return out


def proxy_values(category: str, ids, starts: np.ndarray | None, tokenizer: Tokenizer | list[bytes],
                 model: ProxyModel, max_prefix: int | None = None) -> np.ndarray | None:
    """float64 per token: the category's proxy (see `proxy_table`), or None where it has none."""
    return proxy_table([category], ids, starts, tokenizer, model, max_prefix)[category]


def in_category(category: str, values: np.ndarray | None, model: ProxyModel | None = None) -> np.ndarray | None:
    """The proxy's positive set: scripts P(script | s) >= 0.5 (needs `model` for P(script)); base64, hex > 0;
    dna and detectors 1. None for a category with no proxy."""
    if values is None:
        return None
    cat, values = str(category).lower(), np.asarray(values)
    if cat in SCRIPTS:
        if model is None:
            raise ValueError(f"in_category({cat!r}) needs the ProxyModel: its threshold is log 0.5 - log P(script)")
        return values + model.log_prior[cat] >= np.log(0.5) - 1e-9
    return values > (0.5 if cat in BINARISED or proxy_kind(cat) == "detector" else 0.0)
