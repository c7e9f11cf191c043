"""A user's corpus folder (issue #26 rows 5 and 7): bad JSONL values are one line naming file and line, symlinked
sub-folders are read, broken links are named, and empty files are counted in one warning."""
from __future__ import annotations

import json
import os
import warnings

import pytest

from monosem_lib.text.corpus import read_folder


@pytest.mark.parametrize("row,says", [
    ({"text": None}, '"text" must be a non-empty string, not null'),
    ({"text": 12345}, '"text" must be a non-empty string, not 12345'),
    ({"text": ["a", "b"]}, '"text" must be a non-empty string, not ["a", "b"]'),
    ({"text": ""}, '"text" must be a non-empty string, not ""'),
    ({"text": "   \n"}, '"text" must be a non-empty string'),
    ({"text": "ok", "category": None}, '"category" must be a non-empty string or left out (then "other"), not null'),
    ({"text": "ok", "category": 7}, '"category" must be a non-empty string or left out'),
    ({"text": "ok", "category": ""}, '"category" must be a non-empty string or left out'),
    (["text", "ok"], 'is not a JSON object with a "text" field'),
])
def test_a_bad_jsonl_value_is_one_line_naming_file_and_line(tmp_path, row, says):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"text": "fine", "category": "prose"}) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError) as err:
        read_folder(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"corpus file {path} line 3") and says in msg, msg


def test_a_missing_category_is_other_and_categories_are_lower_case(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "x = 1"}\n{"text": "y", "category": " Python "}\n')
    assert sorted((d.category, d.text) for d in read_folder(tmp_path)) == [("other", "x = 1"), ("python", "y")]


def test_a_symlinked_category_folder_is_read_once_even_in_a_loop(tmp_path):
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "shared" / "poems"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.txt").write_text("roses are red")
    (elsewhere / "loop").symlink_to(elsewhere, target_is_directory=True)      # a link back up: read once
    (corpus / "code").mkdir(parents=True)
    (corpus / "code" / "b.txt").write_text("x = 1")
    (corpus / "poems").symlink_to(elsewhere, target_is_directory=True)
    docs = read_folder(corpus)
    assert sorted((d.category, d.text) for d in docs) == [("code", "x = 1"), ("poems", "roses are red")]


def test_a_broken_link_is_named(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match=r"gone.txt is a broken symbolic link .*nowhere.txt\); fix or remove it"):
        read_folder(tmp_path)


def test_empty_files_are_counted_in_one_warning(tmp_path):
    (tmp_path / "prose").mkdir()
    (tmp_path / "prose" / "a.txt").write_text("words")
    for name in ("b.txt", "c.txt", "d.jsonl", "e.txt"):
        (tmp_path / "prose" / name).write_text("" if name != "c.txt" else " \n\t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = read_folder(tmp_path)
    assert [d.text for d in docs] == ["words"]
    lines = [str(w.message) for w in caught]
    assert lines == [f"corpus folder {tmp_path}: 4 empty file(s) skipped (prose{os.sep}b.txt, prose{os.sep}c.txt, "
                     f"prose{os.sep}d.jsonl, ...)"], lines
