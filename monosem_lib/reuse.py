"""Finished artifacts are reused only when they were made with the settings asked for now.

A notebook that finds an LM or SAE already trained loads it instead of training again. Its config.json records
the settings it was trained with; when they differ from today's (a pinned config deleted and pinned again with
other values, say), reusing it would put the old model under the new settings' name. This refuses that, in one
line naming the folders and the advice that rebuilds them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .io import load_json


def plain(obj: Any) -> Any:
    """`obj` as it reads back from JSON (tuples become lists), so recorded and wanted settings compare equal."""
    return json.loads(json.dumps(obj, default=list))


def settings_diff(recorded: dict, wanted: dict, prefix: str = "") -> list[str]:
    """'key: old there vs new now' for every key whose recorded value differs from the wanted one."""
    return [f"{prefix}{k}: {recorded.get(k)!r} there vs {wanted.get(k)!r} now"
            for k in sorted(set(recorded) | set(wanted)) if recorded.get(k) != wanted.get(k)]


def _diffs(have: dict, want: dict[str, Any]) -> list[str]:
    """The differences between a config.json and the wanted {key: settings dict or value}, nested keys dotted."""
    out = []
    for key, val in want.items():
        val = plain(val)
        if isinstance(val, dict):
            out += settings_diff(have.get(key) or {}, val, f"{key}.")
        elif have.get(key) != val:
            out.append(f"{key}: {have.get(key)!r} there vs {val!r} now")
    return out


def check_reuse(wanted: dict[Path, dict[str, Any]], what: str, notebook: str, load_advice: str) -> None:
    """Refuse (ValueError, one line) when a finished folder's config.json records other settings than `wanted`
    ({folder: {config.json key: settings}}); folders without a config.json are not finished and pass.
    The advice: delete those folders and rerun `notebook`; `load_advice` ends the error of an unreadable config."""
    stale, first = [], []
    for folder, want in wanted.items():
        path = Path(folder) / "config.json"
        if not path.exists():
            continue
        diffs = _diffs(load_json(path, advice=load_advice), want)
        if diffs:
            stale.append(str(folder))
            first = first or diffs
    if stale:
        one = len(stale) == 1
        raise ValueError(f"{what} {', '.join(stale)} {'was' if one else 'were'} trained with other settings than these "
                         f"({'; '.join(first[:4])}); delete {' '.join(stale)} and rerun notebook {notebook} (it trains "
                         f"{'it' if one else 'them'} with these settings)")
