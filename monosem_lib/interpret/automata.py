"""Finite-state automata (paper, "Phenomenology"): units that make each other, or themselves, fire through the
tokens they predict.

Unit i *excites* unit j when, on held-out text, j fires at t+1 far more often than usual right after i fired at t
and the token at t+1 is one of i's top-k logit tokens (i predicted it, and it came):

    rate(i -> j) = P(j fires at t+1 | i fires at t, token t+1 in top_k(i)),   ratio = rate / P(j fires).

All pairs at once are one sparse product: C marks the rows t where i fires and its prediction comes, G where units
fire, and C (moved one row down)ᵀ G counts every pair's events. The same product split by the document category of
row t says in which kind of text each edge lives, and split by whether token t ends inside a UTF-8 character says
which edges carry a character split over two tokens (a lead-byte piece, then a continuation piece). Neurons go
through the same counter, window batch by window batch, as the control. `automata_report` names the systems.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from ..harvest.eval_tokens import EvalTokens, mlp_act_batches, rows_limit
from ..harvest.streaming import row_slice
from ..lm.model import TinyLM
from .feature_stats import logit_weights
from .paper_proxies import _token_bytes

TOP_K = 10            # a unit's predicted tokens: its k largest logit weights
DENSE_UNITS = 1024    # up to this many units (neurons) the event counts are summed densely
SPARSE_ENTRY_BYTES = 12   # a float64 value and an int32 column index per stored pair of a sparse count matrix


def token_pieces(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(lead, cont) bool [V]: tokens that end inside a UTF-8 character (the lead part of a split character), and
    tokens that start inside one (a continuation); `tokenizer`: a Tokenizer or its tokens' bytes."""
    token_bytes = _token_bytes(tokenizer)
    lead, cont = np.zeros(len(token_bytes), bool), np.zeros(len(token_bytes), bool)
    for t, b in enumerate(token_bytes):
        cont[t] = len(b) > 0 and 0x80 <= b[0] <= 0xBF
        i = len(b) - 1
        while i >= 0 and 0x80 <= b[i] <= 0xBF:
            i -= 1
        if i >= 0 and b[i] >= 0xC0:
            lead[t] = len(b) - i < (2 if b[i] < 0xE0 else 3 if b[i] < 0xF0 else 4)
    return lead, cont


def top_token_mask(logits: torch.Tensor | np.ndarray, k: int = TOP_K) -> np.ndarray:
    """[n_units, V] bool: each unit's k largest logit weights (the tokens it predicts)."""
    logits = torch.as_tensor(logits).detach().float().cpu()
    mask = np.zeros(tuple(logits.shape), bool)
    mask[np.arange(len(logits))[:, None], logits.topk(min(k, logits.shape[1]), dim=1).indices.numpy()] = True
    return mask


def next_in_window(n_rows: int, n_ctx: int) -> np.ndarray:
    """[n_rows] bool: evaluation row r + 1 is the token after row r (not the start of the next window)."""
    return (np.arange(n_rows) % (n_ctx - 1)) != n_ctx - 2


@dataclass
class Transitions:
    """Event counts of every edge i -> j over the rows counted, in total and split by the category of row t
    (`by_cat`) and at rows whose token ends inside a character (`lead`); plus what each unit fires on."""
    co: sp.csr_matrix               # [m, m] events: i at t with its prediction at t+1, and j at t+1
    n_cond: np.ndarray              # [m] rows where i fires and the next token is one of its predictions
    n_fire: np.ndarray              # [m] rows where the unit fires
    n_rows: int
    by_cat: list[sp.csr_matrix]     # per category: the events at rows t of that category
    lead: sp.csr_matrix             # the events at rows t whose token ends inside a character
    piece_hits: np.ndarray          # [2, n_cat, m] firings on lead (0) / continuation (1) pieces of each category
    cat_rows: np.ndarray            # [n_cat] rows per category
    cat_pieces: np.ndarray          # [2, n_cat] lead / continuation pieces per category

    @property
    def base(self) -> np.ndarray:
        """[m] each unit's firing rate on all rows."""
        return self.n_fire / max(self.n_rows, 1)

    def edges(self, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """events, rate, base (of j) and ratio of the edges i[k] -> j[k]."""
        i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
        ev = np.asarray(self.co[i, j]).ravel().astype(np.float64)
        rate = ev / np.maximum(self.n_cond[i], 1)
        return {"i": i, "j": j, "events": ev, "rate": rate, "base": self.base[j],
                "ratio": rate / np.maximum(self.base[j], 1e-12)}

    def edge_table(self, min_events: int) -> dict[str, np.ndarray]:
        """Every edge with at least `min_events` events."""
        co = self.co.tocoo()
        keep = co.data >= min_events
        return self.edges(co.row[keep], co.col[keep])

    def share(self, part: sp.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Share of each edge's events that `part` (a category's, or the lead pieces') holds."""
        return np.asarray(part[i, j]).ravel() / np.maximum(np.asarray(self.co[i, j]).ravel(), 1)


class TransitionCounter:
    """Accumulates `Transitions` over blocks of whole windows of evaluation rows (CSR codes or dense activations)."""

    def __init__(self, member: np.ndarray, n_categories: int, pieces: tuple[np.ndarray, np.ndarray]):
        self.member, self.n_cat, (self.lead_tok, self.cont_tok) = member, n_categories, pieces
        m = member.shape[0]
        shape = ((n_categories + 1) * m, m)
        self.stack = np.zeros(shape) if m <= DENSE_UNITS else sp.csr_matrix(shape, dtype=np.float64)
        self.n_cond, self.n_fire, self.n_rows = np.zeros(m), np.zeros(m), 0
        self.hits = np.zeros((2 * n_categories, m))
        self.cat_rows, self.cat_pieces = np.zeros(n_categories), np.zeros((2, n_categories))

    def add(self, fire, tokens: np.ndarray, next_ok: np.ndarray, cats: np.ndarray) -> None:
        """One block of rows: `fire` [R, m] (scipy or torch CSR codes, or dense activations; > 0 fires), their token
        ids, whether row r + 1 is the token after row r, and each row's category index."""
        m, dense = self.member.shape[0], isinstance(self.stack, np.ndarray)
        G = _pattern(fire, dense)
        R, cats = G.shape[0], np.asarray(cats, np.int64)
        if dense:                       # a few hundred units: mask where each fires and its prediction comes next
            pred = np.zeros_like(G)
            pred[:-1] = self.member[:, tokens[1:]].T & next_ok[:-1, None]
            rows, cols = np.nonzero(G & pred)
        else:
            rows = np.repeat(np.arange(R), np.diff(G.indptr))
            cols = G.indices.astype(np.int64)
            ok = next_ok[rows]
            rows, cols = rows[ok], cols[ok]
            hit = self.member[cols, tokens[rows + 1]]
            rows, cols = rows[hit], cols[hit]
        lead, cont = self.lead_tok[tokens], self.cont_tok[tokens]
        self.n_fire += np.asarray(G.sum(0)).ravel()
        self.n_cond += np.bincount(cols, minlength=m)
        self.n_rows += R
        self.cat_rows += np.bincount(cats, minlength=self.n_cat)
        self.cat_pieces += [np.bincount(cats[lead], minlength=self.n_cat), np.bincount(cats[cont], minlength=self.n_cat)]
        pr = np.concatenate([np.flatnonzero(lead), np.flatnonzero(cont)])
        P = sp.csr_matrix((np.ones(len(pr)), (np.concatenate([cats[lead], self.n_cat + cats[cont]]), pr)),
                          shape=(2 * self.n_cat, R))
        PG = P @ G
        self.hits += PG.toarray() if sp.issparse(PG) else PG
        # one product for every split: column block c holds the events at rows of category c, the last the lead pieces
        at_lead = lead[rows]
        blk = np.concatenate([cats[rows] * m + cols, self.n_cat * m + cols[at_lead]])
        C = sp.csr_matrix((np.ones(len(blk)), (np.concatenate([rows, rows[at_lead]]) + 1, blk)),
                          shape=(R, (self.n_cat + 1) * m))
        if dense:
            self.stack += C.T @ G.astype(np.float32)
        else:
            self._add_sparse((C.T @ G).tocsr())

    def _add_sparse(self, inc: sp.csr_matrix) -> None:
        """Add one block's pair counts. Sparse while that is smaller than a dense float32 table; past that (a code in
        which many pairs co-fire: 19 x 4,096^2 counts would pass 10 GB as sparse sums) the table turns dense, so the
        memory stays bounded by 4 bytes per pair (1.3 GB at 18 categories x 4,096 features)."""
        if sp.issparse(self.stack) and (self.stack.nnz + inc.nnz) * SPARSE_ENTRY_BYTES > 4 * np.prod(self.stack.shape):
            self.stack = self.stack.astype(np.float32).toarray()
        if sp.issparse(self.stack):
            self.stack = self.stack + inc
        else:
            inc.sum_duplicates()
            coo = inc.tocoo()
            self.stack[coo.row, coo.col] += coo.data           # unique coordinates: a plain indexed add

    def result(self) -> Transitions:
        m = self.member.shape[0]
        blocks = [sp.csr_matrix(self.stack[c * m:(c + 1) * m]) for c in range(self.n_cat + 1)]
        co = sum(blocks[:-1], sp.csr_matrix((m, m)))
        return Transitions(sp.csr_matrix(co), self.n_cond, self.n_fire, self.n_rows, blocks[:-1], blocks[-1],
                           self.hits.reshape(2, self.n_cat, m), self.cat_rows, self.cat_pieces)


def _pattern(fire, dense: bool) -> sp.csr_matrix | np.ndarray:
    """Where units fire: a bool array (`dense`) or a scipy CSR of ones."""
    if isinstance(fire, torch.Tensor):
        if fire.layout == torch.sparse_csr:
            fire = sp.csr_matrix((fire.values().numpy(), fire.col_indices().numpy(), fire.crow_indices().numpy()),
                                 shape=tuple(fire.shape))
        else:
            fire = fire.detach().cpu().numpy()
    if dense:
        return (fire.toarray() if sp.issparse(fire) else np.asarray(fire)) > 0
    G = sp.csr_matrix(fire > 0 if not sp.issparse(fire) else fire, dtype=np.float64, copy=True)   # codes untouched
    G.data = (G.data > 0).astype(np.float64)
    G.eliminate_zeros()
    return G


def neuron_logits(lm: TinyLM) -> torch.Tensor:
    """[d_mlp, vocab] each neuron's logit weights (its unit direction through W_out, ln_f and W_U)."""
    with torch.no_grad():
        return logit_weights(lm, torch.eye(lm.cfg.d_mlp, device=next(lm.parameters()).device)).cpu()


def count_codes(codes: torch.Tensor, ev: EvalTokens, cats: np.ndarray, n_categories: int, logits: torch.Tensor,
                pieces: tuple[np.ndarray, np.ndarray], k: int = TOP_K, block_windows: int = 1024,
                desc: str | None = None) -> Transitions:
    """`Transitions` of SAE codes (CSR [rows, n_features] over the first rows of `ev`; `logits` [n_features, vocab]),
    block of windows by block."""
    _check_rows(codes.shape[0], ev, cats)
    counter, n = TransitionCounter(top_token_mask(logits, k), n_categories, pieces), codes.shape[0]
    ok, step = next_in_window(n, ev.n_ctx), block_windows * (ev.n_ctx - 1)
    quiet = {"disable": True} if desc is None else {}
    for r0 in tqdm(range(0, n, step), desc=desc, leave=False, **quiet):
        r1 = min(n, r0 + step)
        counter.add(row_slice(codes.cpu(), r0, r1), ev.token_ids[r0:r1], ok[r0:r1], cats[r0:r1])
    return counter.result()


def count_neurons(lm: TinyLM, ev: EvalTokens, cats: np.ndarray, n_categories: int,
                  pieces: tuple[np.ndarray, np.ndarray], k: int = TOP_K, batch_windows: int = 64,
                  limit: int | None = None, desc: str | None = None) -> Transitions:
    """`Transitions` of LM neurons (fire = post-ReLU activation > 0; their own logit weights), streamed through the
    LM window batch by batch over the first `limit` rows."""
    _check_rows(ev.n_tokens, ev, cats)
    counter = TransitionCounter(top_token_mask(neuron_logits(lm), k), n_categories, pieces)
    ok = next_in_window(ev.n_tokens, ev.n_ctx)
    for rows, acts in mlp_act_batches(lm, ev, batch_windows, limit, desc):
        counter.add(acts.cpu(), ev.token_ids[rows], ok[rows], cats[rows])
    return counter.result()


@torch.no_grad()
def continuation_paths(lm: TinyLM, ev: EvalTokens, cats: np.ndarray, categories: list[str],
                       pieces: tuple[np.ndarray, np.ndarray], limit: int | None = None,
                       batch_windows: int = 64) -> dict[str, tuple[float, float, int]]:
    """Per category: (P(next token is a continuation piece), the same with the MLP's output removed, n) averaged
    over its rows at a lead piece: the control for the lead/continuation systems. When removing the MLP leaves the
    probability where it was, the direct path (embedding, attention -> unembedding) predicts the continuation and
    no MLP unit, feature or neuron, has to."""
    lead_tok, cont_tok = pieces
    cont = torch.from_numpy(np.flatnonzero(cont_tok))
    n_win = rows_limit(ev, limit) // (ev.n_ctx - 1)
    sums = np.zeros((len(categories), 3))
    device = next(lm.parameters()).device
    for w0 in range(0, n_win, batch_windows):
        w1 = min(n_win, w0 + batch_windows)
        at_lead = lead_tok[ev.windows[w0:w1, 1:-1]]                 # [B, n_ctx - 2]: position p + 1 is a lead piece
        keep = np.flatnonzero(at_lead.any(1))                       # only windows holding one go through the LM
        if not len(keep):
            continue
        b, p = np.nonzero(at_lead[keep])
        c = np.asarray(cats[ev.window_rows(w0, w1)], np.int64).reshape(w1 - w0, ev.n_ctx - 1)[keep]  # row p = position p+1
        k = c[b, p]
        win = torch.from_numpy(ev.windows[w0:w1][keep]).to(device)
        for col, hook in ((0, None), (1, torch.zeros_like)):
            probs = torch.softmax(lm(win, hook)[b, p + 1].float(), -1)[:, cont.to(device)].sum(1).cpu().numpy()
            sums[:, col] += np.bincount(k, weights=probs, minlength=len(categories))
        sums[:, 2] += np.bincount(k, minlength=len(categories))
    return {name: (sums[i, 0] / sums[i, 2], sums[i, 1] / sums[i, 2], int(sums[i, 2]))
            for i, name in enumerate(categories) if sums[i, 2]}


def _check_rows(n_rows: int, ev: EvalTokens, cats: np.ndarray) -> None:
    """Codes must cover whole windows of the evaluation tokens and `cats` every row (a one-line error otherwise)."""
    if n_rows % (ev.n_ctx - 1) or n_rows > ev.n_tokens:
        raise ValueError(f"{n_rows:,} rows are not whole windows of the evaluation tokens (n_ctx {ev.n_ctx}); pass "
                         f"codes over their first rows (run.codes(..., limit=...))")
    if len(cats) < n_rows:
        raise ValueError(f"cats has {len(cats):,} rows for {n_rows:,}; pass ev.categories(splits)")
