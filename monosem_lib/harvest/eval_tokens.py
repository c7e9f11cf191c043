"""The evaluation tokens of notebooks 04-06: every position of LM windows, at the resolution the paper's medians need.

The held-out activation store (notebook 02) is a sample of 262k rows; a feature of density 1e-5 fires about 3
times there, so its correlations are noise. The evaluation set instead takes every position (but the first) of
n_ctx windows tiling the validation split, then windows tiling the training split until `eval.n_tokens`
(the paper: "universality and proxies for such features need millions of evaluation tokens"). Nothing is stored
but the plan: the MLP activations are recomputed window batch by window batch (a forward pass up to the MLP
costs far less than reading them from disk) and reduced on the fly (`sae/codes.py` keeps SAE codes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..lm.model import TinyLM
from ..text.splits import TokenSplit

SPLIT_NAMES = ("val", "train")      # EvalTokens.split indexes this


@dataclass
class EvalTokens:
    """n_windows windows of n_ctx tokens; rows are positions 1..n_ctx-1 of each window, window by window."""
    windows: np.ndarray        # [n_windows, n_ctx] int64 token ids
    split: np.ndarray          # [n_windows] index into SPLIT_NAMES
    start: np.ndarray          # [n_windows] int64 first token of the window in its split

    @property
    def n_ctx(self) -> int:
        return self.windows.shape[1]

    @property
    def n_tokens(self) -> int:
        """Rows: every position but the first of each window (a token with no context is atypical of the MLP)."""
        return len(self.windows) * (self.n_ctx - 1)

    @property
    def token_ids(self) -> np.ndarray:
        """[n_tokens] the token of every row."""
        return self.windows[:, 1:].reshape(-1)

    @property
    def ctx_pos(self) -> np.ndarray:
        """[n_tokens] each row's position in its window (1..n_ctx-1)."""
        return np.tile(np.arange(1, self.n_ctx), len(self.windows))

    def token_index(self) -> tuple[np.ndarray, np.ndarray]:
        """([n_tokens] split index, [n_tokens] token index in that split) of every row."""
        pos = self.start[:, None] + np.arange(1, self.n_ctx)[None]
        return np.repeat(self.split, self.n_ctx - 1), pos.reshape(-1)

    def categories(self, splits: dict[str, TokenSplit]) -> np.ndarray:
        """[n_tokens] category index (into the splits' shared category_names) of every row's document."""
        which, index = self.token_index()
        out = np.empty(self.n_tokens, np.int16)
        for s, name in enumerate(SPLIT_NAMES):
            sel = which == s
            if sel.any():
                out[sel] = splits[name].categories_at(index[sel])
        return out

    def flat_index(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into windows.reshape(-1), position in the window) of each row: its context is the window's start."""
        w, p = np.divmod(np.asarray(rows, np.int64), self.n_ctx - 1)
        return w * self.n_ctx + p + 1, p + 1

    def row_info(self, splits: dict[str, TokenSplit], limit: int | None = None) -> dict[str, np.ndarray]:
        """The first `limit` rows described like an activation store's `row_info`: token_index into `flat_tokens`,
        token_id, ctx_pos, category (what dashboards, autointerp and the browser read)."""
        n = rows_limit(self, limit)
        index, ctx_pos = self.flat_index(np.arange(n))
        return {"token_index": index, "token_id": self.token_ids[:n], "ctx_pos": ctx_pos,
                "category": self.categories(splits)[:n]}

    @property
    def flat_tokens(self) -> np.ndarray:
        """All windows as one token array (consecutive windows are consecutive text, but at the val/train seam)."""
        return self.windows.reshape(-1)

    def window_rows(self, w0: int, w1: int) -> slice:
        """The rows of windows [w0, w1)."""
        return slice(w0 * (self.n_ctx - 1), w1 * (self.n_ctx - 1))


def plan_eval_tokens(val: TokenSplit, train: TokenSplit, n_ctx: int, n_tokens: int) -> EvalTokens:
    """Windows tiling the validation split from its start, then the training split's, until >= n_tokens rows."""
    if n_ctx < 2:
        raise ValueError(f"lm.n_ctx={n_ctx} leaves no evaluation position per window")
    need = -(-n_tokens // (n_ctx - 1))
    parts = []
    for s, split in enumerate((val, train)):
        starts = np.arange(0, len(split) - n_ctx + 1, n_ctx, dtype=np.int64)[:need - sum(len(p[1]) for p in parts)]
        parts.append((s, starts, split))
    have = sum(len(st) for _, st, _ in parts)
    if have * (n_ctx - 1) < n_tokens:
        raise ValueError(f"eval.n_tokens={n_tokens:,} is more than the corpus holds in windows of {n_ctx} "
                         f"({have * (n_ctx - 1):,} positions); lower eval.n_tokens")
    windows = np.concatenate([np.asarray(sp.tokens)[st[:, None] + np.arange(n_ctx)].astype(np.int64)
                              for _, st, sp in parts if len(st)])
    split = np.concatenate([np.full(len(st), s, np.int8) for s, st, _ in parts])
    start = np.concatenate([st for _, st, _ in parts])
    return EvalTokens(windows, split, start)


def window_text(ev: EvalTokens, eot_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows as one running text for the proxies: ([n_windows * n_ctx] ids, bool where a prefix may not
    reach back further: each window's first token, a document's EOT and the token after it). Position 0 is
    context, not a row: `rows_of_windows` drops it from anything computed on this text."""
    ids = ev.windows.reshape(-1)
    starts = np.zeros(ev.windows.shape, bool)
    starts[:, 0] = True
    starts = starts.reshape(-1) | (ids == eot_id)
    starts[1:] |= ids[:-1] == eot_id
    return ids, starts


def rows_of_windows(ev: EvalTokens, values: np.ndarray) -> np.ndarray:
    """[n_windows * n_ctx] per-token values -> [n_tokens] per-row values (position 0 of each window dropped)."""
    return np.asarray(values).reshape(len(ev.windows), ev.n_ctx)[:, 1:].reshape(-1)


@torch.no_grad()
def mlp_act_batches(lm: TinyLM, ev: EvalTokens, batch_windows: int = 64, limit: int | None = None,
                    desc: str | None = None) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, post-ReLU MLP activations [rows, d_mlp]) for the evaluation rows, window batch by window batch.

    `limit`: only the windows holding the first `limit` rows (whole windows; side computations use a prefix).
    """
    device = next(lm.parameters()).device
    n_win = len(ev.windows) if limit is None else min(len(ev.windows), -(-limit // (ev.n_ctx - 1)))
    quiet = {"disable": True} if desc is None else {}         # passing disable=False would override TQDM_DISABLE
    bar = tqdm(total=n_win * (ev.n_ctx - 1), desc=desc, leave=False, unit="tok", **quiet)
    for w0 in range(0, n_win, batch_windows):
        w1 = min(w0 + batch_windows, n_win)
        win = torch.from_numpy(ev.windows[w0:w1]).to(device)
        acts = lm.mlp_acts(win)[:, 1:].reshape(-1, lm.cfg.d_mlp)
        bar.update(len(acts))
        yield ev.window_rows(w0, w1), acts
    bar.close()


def rows_limit(ev: EvalTokens, limit: int | None) -> int:
    """How many rows `mlp_act_batches(..., limit=limit)` yields (whole windows)."""
    if limit is None:
        return ev.n_tokens
    return min(len(ev.windows), -(-limit // (ev.n_ctx - 1))) * (ev.n_ctx - 1)
