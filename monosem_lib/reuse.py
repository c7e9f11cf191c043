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


def check_reuse(wanted: dict[Path, dict[str, Any]], what: str, notebook: str, load_advice: str) -> None:
    """Refuse (ValueError, one line) when a finished folder's config.json records other settings than `wanted`
    ({folder: {config.json key: settings}}); folders without a config.json are not finished and pass.
    The advice: delete those folders and rerun `notebook`; `load_advice` ends the error of an unreadable config."""
    stale, first = [], []
    for folder, want in wanted.items():
        path = Path(folder) / "config.json"
        if not path.exists():
            continue
        have = load_json(path, advice=load_advice)
        diffs = [d for key, val in want.items()
                 for d in (settings_diff(have.get(key) or {}, plain(val), f"{key}.") if isinstance(val, dict)
                           else [f"{key}: {have.get(key)!r} there vs {plain(val)!r} now"] * (have.get(key) != plain(val)))]
        if diffs:
            stale.append(str(folder))
            first = first or diffs
    if stale:
        raise ValueError(f"{what} {', '.join(stale)} {'was' if len(stale) == 1 else 'were'} trained with other settings "
                         f"than these ({'; '.join(first[:4])}); delete {' '.join(stale)} and rerun notebook {notebook} (it trains "
                         f"{'it' if len(stale) == 1 else 'them'} with these settings)")
