"""Browsing features in a live notebook: find a feature from what a reader types, and a small widget panel.

The panel is ipywidgets; `has_widget_frontend` tells whether anything will render it (papermill and nbval
have no frontend, so notebook 04 shows a static dashboard instead).
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .feature_stats import UnitActs


def has_widget_frontend() -> bool:
    """Best guess that a live frontend will render widgets (JupyterLab/Notebook, VS Code, Colab);
    papermill and nbval start kernels without these markers, so they get the static rendering."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return any(k in os.environ for k in ("JPY_SESSION_NAME", "VSCODE_PID", "COLAB_RELEASE_TAG"))


def feature_for_token(ua: UnitActs, token_id: np.ndarray, token_ids: list[int], alive: np.ndarray) -> int:
    """The alive feature with the highest mean activation on the rows whose token is one of `token_ids`."""
    on = np.isin(token_id, token_ids)
    units = np.repeat(np.arange(ua.n_units), ua.counts)
    hit = on[ua.rows]
    mass = np.bincount(units[hit], weights=ua.vals[hit].astype(np.float64), minlength=ua.n_units)
    return int(alive[int(np.argmax(mass[alive]))])


def resolve_feature(query: str, best: dict[str, int], token_strings: list[str], ua: UnitActs,
                    token_id: np.ndarray, alive: np.ndarray) -> int:
    """A feature from a number, a category name (its best feature) or part of a token (the feature it drives most)."""
    s = query.strip()
    if s.isdigit():
        return int(s)
    if s.lower() in best:
        return best[s.lower()]
    hits = [t for t, x in enumerate(token_strings) if s and s in x]
    if not hits or not np.isin(token_id, hits).any():
        raise ValueError(f"{query!r} is not a feature number, a scored category ({', '.join(best) or 'none'}) "
                         f"or part of a held-out token")
    return feature_for_token(ua, token_id, hits, alive)


def neighbour(alive: np.ndarray, i: int, k: int) -> int:
    """The alive feature k steps after feature i (before, for k < 0), wrapping around; i need not be alive."""
    pos = int(np.searchsorted(alive, i))
    if k > 0 and (pos >= len(alive) or alive[pos] != i):
        pos -= 1                                    # i is dead: the next one is the first alive above it
    return int(alive[(pos + k) % len(alive)])


def feature_panel(render: Callable[[int], None], resolve: Callable[[str], int], alive: np.ndarray, query: str):
    """ipywidgets panel: a query box (feature, category or token) and previous/next through the alive features.
    `render(i)` displays feature i; a bad query shows its one-line error in the panel instead of raising."""
    import ipywidgets as w
    box, out = w.Text(description="feature", value=query, continuous_update=False), w.Output()
    prev, nxt = w.Button(description="previous"), w.Button(description="next")
    state = {"i": None}

    def show(i: int) -> None:
        out.clear_output()
        with out:
            try:
                render(i)
                state["i"] = i
            except (IndexError, ValueError) as err:
                print(f"error: {err}")

    def submit(_=None) -> None:
        try:
            show(resolve(box.value))
        except (IndexError, ValueError) as err:
            out.clear_output()
            with out:
                print(f"error: {err}")

    def step(k: int) -> None:
        i = neighbour(alive, state["i"] if state["i"] is not None else int(alive[0]), k)
        if box.value == str(i):
            show(i)
        else:
            box.value = str(i)                      # observed: shows it, and the box says which feature

    box.observe(lambda change: submit(), "value")
    prev.on_click(lambda _: step(-1))
    nxt.on_click(lambda _: step(1))
    submit()
    return w.VBox([w.HBox([box, prev, nxt]), out])
