"""How every file is written and read back: JSON records carry their own checksum, files get the user's umask,
and a write the OS refuses is one line that names the file and says what to do (issue #26 rows 1, 8 and 10)."""
from __future__ import annotations

import errno
import json
import os
import stat
import tempfile

import numpy as np
import pytest
import torch

from monosem_lib import io
from monosem_lib.io import (CorruptFileError, StorageError, atomic_write, atomic_write_text, load_json, save_json,
                            save_tensors)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_json_record_round_trips_and_an_edit_of_any_value_is_refused_by_name(tmp_path):
    path = tmp_path / "config.json"
    record = {"sae": {"recipe": "paper", "n_features": 256}, "train": {"l1_coeff": 0.03, "resample_at": (0.1, 0.2)},
              "nan": float("nan"), "big": 2 ** 60, "text": "é <script>"}
    save_json(path, record)
    back = load_json(path)
    assert "_sha256" not in back and back["train"]["resample_at"] == [0.1, 0.2] and back["big"] == 2 ** 60
    text = json.loads(path.read_text())
    text["train"]["l1_coeff"] = 0.3                        # what a person does in an editor: the value, nothing else
    path.write_text(json.dumps(text, indent=4))
    with pytest.raises(CorruptFileError) as err:
        load_json(path, advice="delete it and rerun notebook 03_train_sae")
    msg = str(err.value)
    assert "\n" not in msg and f"{path} was changed after it was written" in msg
    assert msg.endswith("delete it and rerun notebook 03_train_sae")


def test_reformatting_a_record_is_not_an_edit(tmp_path):
    path = tmp_path / "r.json"
    save_json(path, {"b": [1, 2.5], "a": {"x": None}})
    path.write_text(json.dumps(json.loads(path.read_text()), indent=None, sort_keys=False))
    assert load_json(path) == {"b": [1, 2.5], "a": {"x": None}}


def test_a_record_without_its_checksum_is_refused_unless_the_user_accepts_old_files(tmp_path, monkeypatch):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"step": [1, 2]}))          # as a kit before checksums wrote it
    with pytest.raises(CorruptFileError, match=r"history.json has no recorded checksum .*; delete it and rerun .*"
                                               r"or set MONOSEM_ACCEPT_UNSEALED=1"):
        load_json(path)
    monkeypatch.setenv("MONOSEM_ACCEPT_UNSEALED", "1")   # the advice's other branch, followed
    assert load_json(path) == {"step": [1, 2]}
    assert load_json(path, checksum=False) == {"step": [1, 2]}


def _save_npy(tmp: str) -> None:
    with open(tmp, "wb") as fh:
        np.save(fh, np.arange(3))


@pytest.mark.parametrize("umask,want", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_asks_for(tmp_path, umask, want):
    old = os.umask(umask)
    try:
        save_json(tmp_path / "a.json", {"x": 1})
        save_tensors(tmp_path / "w.safetensors", {"w": torch.ones(3)})
        atomic_write_text(tmp_path / "page.html", "<html></html>")
        atomic_write(tmp_path / "t.npy", _save_npy)
    finally:
        os.umask(old)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["a.json", "page.html", "t.npy", "w.safetensors", "w.safetensors.sha256"]
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {f: want for f in files}


def _full_disk(monkeypatch, under, free: int):
    """os.write fails with ENOSPC once `free` bytes have gone to files under `under` (a disk with `free` left)."""
    real, used = os.write, {"n": 0}

    def write(fd, data):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(under)):
            if used["n"] + len(data) > free:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            used["n"] += len(data)
        return real(fd, data)
    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_is_one_line_and_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "acts" / "manifest.json"
    save_json(path, {"shards": [1]})
    before = path.read_bytes()
    _full_disk(monkeypatch, tmp_path, free=20)
    with pytest.raises(StorageError) as err:
        save_json(path, {"shards": [1, 2, 3]})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"cannot write {path}: no space left on the device; free some space")
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["manifest.json"]
    monkeypatch.undo()                                     # space freed: the same write now works
    save_json(path, {"shards": [1, 2, 3]})
    assert load_json(path) == {"shards": [1, 2, 3]}


@pytest.mark.parametrize("code,says", [(errno.EROFS, "its file system is read-only; use a run dir on a writable disk"),
                                       (errno.EACCES, "permission denied; make"),
                                       (errno.EDQUOT, "your disk quota is used up")])
def test_refused_writes_name_the_file_and_what_to_do(tmp_path, monkeypatch, code, says):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(StorageError) as err:
        save_json(tmp_path / "scorecard.json", {"a": 1})
    assert str(err.value) == f"cannot write {tmp_path / 'scorecard.json'}: " + str(err.value).split(": ", 1)[1]
    assert says in str(err.value) and "\n" not in str(err.value)
    assert io.os_error_line(err.value) == str(err.value)
