"""Attribution similarity (paper, "Universality"): do twins push the *actual* next token alike?

A unit's attribution at token t is its activation times its logit weight for the token that actually comes next,
a_i(t) = f_i(t) · L_i[x_{t+1}] (its direct effect on the loss there). For each unit of A and its twin in B (best
activation match), the attribution similarity is the Pearson correlation of their attributions over the evaluation
rows that have a next token in their window. The paper: it tracks activation similarity closely, while the
similarity of the raw logit-weight vectors does not (Arabic twins: activation 0.91, logit weight 0.23).
Features: the CSR codes with each value multiplied in place (same sparsity); neurons: streamed through both LMs.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ..harvest.eval_tokens import EvalTokens, mlp_act_batches
from ..harvest.streaming import to_scipy
from ..lm.model import TinyLM
from .matching import MaxCorr, logit_weights, rowwise_corr

NEURON_ROWS = 65_536      # neurons fire on a large share of tokens: this many rows pin their correlations down
HIGH_ACT = 0.7            # twin pairs at least this similar in activation: the paper's detailed twins (0.85-0.92)


def twin_partners(mc: MaxCorr) -> np.ndarray:
    """[m_a] each unit's twin in B (its best activation match), -1 for a unit that never fires."""
    return np.where(mc.alive_a.cpu().numpy(), mc.argmax.cpu().numpy(), -1)


def logit_similarity(logits_a: torch.Tensor, logits_b: torch.Tensor, partner: np.ndarray) -> np.ndarray:
    """[m_a] correlation of each unit's logit weights with its twin's (NaN where there is no twin)."""
    sel = torch.as_tensor(np.where(partner >= 0, partner, 0))
    r = rowwise_corr(logits_a.float().cpu(), logits_b.float().cpu()[sel]).numpy().astype(np.float64)
    return np.where(partner >= 0, r, np.nan)


def next_tokens(ev: EvalTokens) -> tuple[np.ndarray, np.ndarray]:
    """([n_rows] the token after each row, [n_rows] bool: that token is in the row's window)."""
    nxt = ev.windows[:, 2:].reshape(len(ev.windows), -1)
    nxt = np.concatenate([nxt, np.zeros((len(ev.windows), 1), nxt.dtype)], 1).reshape(-1)
    ok = np.ones((len(ev.windows), ev.n_ctx - 1), bool)
    ok[:, -1] = False
    return nxt, ok.reshape(-1)


def attribution_matrix(codes: torch.Tensor | sp.csr_matrix, logits: torch.Tensor | np.ndarray, nxt: np.ndarray,
                       ok: np.ndarray) -> sp.csr_matrix:
    """[rows, units] f_i(t) · L_i[next token of t] for CSR codes (rows without a next token: 0)."""
    a = to_scipy(codes) if isinstance(codes, torch.Tensor) else codes
    L = torch.as_tensor(logits).detach().float().cpu().numpy()
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    vals = a.data.astype(np.float64) * L[a.indices, nxt[rows]] * ok[rows]
    out = sp.csr_matrix((vals, a.indices.copy(), a.indptr.copy()), shape=a.shape)   # the codes' arrays stay as they are
    out.eliminate_zeros()
    return out


def paired_corr(a: sp.csr_matrix, b: sp.csr_matrix, partner: np.ndarray, n_rows: int) -> np.ndarray:
    """[m_a] Pearson correlation of a's column i with b's column partner[i] over n_rows rows (absent entries are 0;
    partner -1 or a constant column: NaN)."""
    sel = np.where(partner >= 0, partner, 0)
    bp = b[:, sel].tocsr()
    s_a, s_b = np.asarray(a.sum(0)).ravel(), np.asarray(bp.sum(0)).ravel()
    ss_a, ss_b = np.asarray(a.multiply(a).sum(0)).ravel(), np.asarray(bp.multiply(bp).sum(0)).ravel()
    cross = np.asarray(a.multiply(bp).sum(0)).ravel()
    return _corr(s_a, s_b, ss_a, ss_b, cross, n_rows, partner)


def _corr(s_a, s_b, ss_a, ss_b, cross, n, partner) -> np.ndarray:
    """Pearson correlations from streaming sums (NaN for a constant column or no partner)."""
    cov = cross / n - (s_a / n) * (s_b / n)
    var = np.clip(ss_a / n - (s_a / n) ** 2, 0, None) * np.clip(ss_b / n - (s_b / n) ** 2, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where((var > 0) & (partner >= 0), cov / np.sqrt(var), np.nan)
    return np.clip(r, -1, 1)


def feature_similarities(codes_a: torch.Tensor, codes_b: torch.Tensor, logits_a: torch.Tensor,
                         logits_b: torch.Tensor, partner: np.ndarray, ev: EvalTokens) -> dict[str, np.ndarray]:
    """{'activation', 'attribution', 'logit'}: [n_features of A] similarity of each feature with its twin `partner[i]`
    in B, on the rows of the codes (CSR over the first rows of `ev`) that have a next token; logits: each SAE's
    decoder directions through its own LM [n_features, vocab]."""
    n, partner = codes_a.shape[0], np.asarray(partner)
    if codes_b.shape[0] != n or n > ev.n_tokens or len(partner) != codes_a.shape[1]:
        raise ValueError(f"codes A {tuple(codes_a.shape)} and B {tuple(codes_b.shape)} must cover the same first rows "
                         f"of the evaluation tokens, with one partner per feature of A ({len(partner)} given)")
    codes_a, codes_b = codes_a.cpu(), codes_b.cpu()
    nxt, ok = (x[:n] for x in next_tokens(ev))
    n_ok = int(ok.sum())
    act = [sp.diags(ok.astype(np.float64)) @ to_scipy(c).astype(np.float64) for c in (codes_a, codes_b)]
    att = [attribution_matrix(c, L, nxt, ok) for c, L in ((codes_a, logits_a), (codes_b, logits_b))]
    return {"activation": paired_corr(act[0].tocsr(), act[1].tocsr(), partner, n_ok),
            "attribution": paired_corr(att[0], att[1], partner, n_ok),
            "logit": logit_similarity(torch.as_tensor(logits_a), torch.as_tensor(logits_b), partner)}


@torch.no_grad()
def neuron_similarities(lm_a: TinyLM, lm_b: TinyLM, partner: np.ndarray, ev: EvalTokens, batch_windows: int = 64,
                        limit: int | None = NEURON_ROWS, desc: str | None = None) -> dict[str, np.ndarray]:
    """{'activation', 'attribution', 'logit'}: [d_mlp of A] similarity of each neuron of A with its twin `partner[k]`
    in B, both LMs streamed over the evaluation rows (the first `limit`) that have a next token; each neuron's logit
    weights come from its own LM."""
    partner = np.asarray(partner)
    logits_a, logits_b = (logit_weights(lm, torch.eye(lm.cfg.d_mlp, device=next(lm.parameters()).device)).cpu()
                          for lm in (lm_a, lm_b))
    sel = torch.as_tensor(np.where(partner >= 0, partner, 0))
    nxt, ok = next_tokens(ev)
    La_T = torch.as_tensor(logits_a).float().cpu().T.contiguous()             # [vocab, d_mlp]: a row per next token
    Lb_T = torch.as_tensor(logits_b).float().cpu()[sel].T.contiguous()
    sums = torch.zeros(2, 5, len(partner), dtype=torch.float64)
    n = 0
    for (rows, xa), (_, xb) in zip(mlp_act_batches(lm_a, ev, batch_windows, limit, desc),
                                   mlp_act_batches(lm_b, ev, batch_windows, limit)):
        keep = torch.from_numpy(ok[rows])
        t = torch.from_numpy(nxt[rows][ok[rows]])
        xa, xb = xa.cpu()[keep], xb.cpu()[keep][:, sel]
        for k, (a, b) in enumerate(((xa, xb), (xa * La_T[t], xb * Lb_T[t]))):
            sums[k] += torch.stack([a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0)]).double()
        n += len(t)
    s = sums.numpy()
    out = {name: _corr(*s[k], max(n, 1), partner) for k, name in enumerate(("activation", "attribution"))}
    return {**out, "logit": logit_similarity(logits_a, logits_b, partner)}


def tracking(act: np.ndarray, other: np.ndarray) -> float:
    """Pearson correlation, across twin pairs, of activation similarity with another similarity (NaNs dropped)."""
    ok = np.isfinite(act) & np.isfinite(other)
    return float(np.corrcoef(act[ok], other[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def plot_similarities(sims: dict[str, dict[str, np.ndarray]]):
    """Two panels per the paper: activation vs attribution similarity, and activation vs logit-weight similarity;
    `sims[kind]` holds 'activation', 'attribution' and 'logit' arrays (one entry per twin pair)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True)
    style = {"features": ("tab:blue", "o", 4, 0.35), "neurons": ("tab:orange", "x", 8, 0.6)}
    for ax, key, name in ((axes[0], "attribution", "attribution"), (axes[1], "logit", "logit-weight")):
        for kind, s in sims.items():
            color, marker, size, alpha = style.get(kind, ("tab:grey", ".", 4, 0.4))
            r = tracking(s["activation"], s[key])
            ax.scatter(s["activation"], s[key], s=size, alpha=alpha, color=color, marker=marker,
                       label=f"{kind}: median {np.nanmedian(s[key]):.2f}, r with activation {r:.2f}")
        ax.plot([-1, 1], [-1, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(xlim=(-0.05, 1.0), ylim=(-1.0, 1.0), xlabel="activation similarity (twin in B)",
               ylabel=f"{name} similarity")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def attribution_verdict(sims: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """Whether attribution similarity tracks activation similarity more closely than logit-weight similarity does
    (the paper's finding), per unit kind, worded for either outcome."""
    lines = []
    for kind, s in sims.items():
        r_attr, r_logit = tracking(s["activation"], s["attribution"]), tracking(s["activation"], s["logit"])
        head = (f"{kind}: median attribution similarity {np.nanmedian(s['attribution']):.3f} (activation "
                f"{np.nanmedian(s['activation']):.3f}, logit weight {np.nanmedian(s['logit']):.3f}); across twin pairs "
                f"activation similarity correlates {r_attr:.2f} with attribution, {r_logit:.2f} with logit weight -> ")
        if not (np.isfinite(r_attr) and np.isfinite(r_logit)):
            lines.append(head + "too few pairs to say")
        elif r_attr > r_logit:
            lines.append(head + "attribution tracks activation more closely than logit weight does, as in the paper")
        else:
            lines.append(head + "attribution does not track activation more closely than logit weight: not the "
                                "paper's finding")
        high = _high(s)
        if high.any():
            lines.append(f"  {int(high.sum())} {kind[:-1]} pairs with activation similarity >= {HIGH_ACT}: median "
                         f"attribution similarity {np.median(s['attribution'][high]):.2f}, logit weight "
                         f"{np.median(s['logit'][high]):.2f} (the paper's Arabic twins: activation 0.91, logit weight 0.23)")
    return lines


def attribution_entries(sims: dict[str, dict[str, np.ndarray]], prefix: str = "univ") -> dict:
    """`univ.median_attribution_corr.<kind>`; how closely attribution and logit-weight similarity track activation
    similarity across twin pairs, `univ.attribution_tracking.<kind>`, `univ.logit_tracking.<kind>` (None: too few);
    and over the pairs with activation similarity >= HIGH_ACT, `univ.twins_act70.<kind>.{n,median_attribution,
    median_logit}`."""
    out = {}
    for kind, s in sims.items():
        med = np.nanmedian(s["attribution"]) if np.isfinite(s["attribution"]).any() else np.nan
        out[f"{prefix}.median_attribution_corr.{kind}"] = _rounded(med)
        out[f"{prefix}.attribution_tracking.{kind}"] = _rounded(tracking(s["activation"], s["attribution"]))
        out[f"{prefix}.logit_tracking.{kind}"] = _rounded(tracking(s["activation"], s["logit"]))
        high = _high(s)
        out[f"{prefix}.twins_act70.{kind}.n"] = int(high.sum())
        for key in ("attribution", "logit"):
            out[f"{prefix}.twins_act70.{kind}.median_{key}"] = _rounded(np.median(s[key][high]) if high.any() else np.nan)
    return out


def _high(s: dict[str, np.ndarray]) -> np.ndarray:
    """The twin pairs with activation similarity >= HIGH_ACT and finite other similarities."""
    return (np.nan_to_num(s["activation"], nan=-1.0) >= HIGH_ACT) & np.isfinite(s["attribution"]) & np.isfinite(s["logit"])


def _rounded(x: float) -> float | None:
    """A scorecard number: 4 decimals, None for NaN."""
    return round(float(x), 4) if np.isfinite(x) else None
