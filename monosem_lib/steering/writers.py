"""Does a feature that *reads* a category also *write* it? Its logit weights on the tokens that continue the category.

A feature chosen by correlation fires on the category's tokens; pinning it makes the model write the category only
if its decoder direction raises the logits of the tokens that continue such text. `writer_scores` weighs every
feature's logit weights by how often each token continues the category in real text, so one number per feature
says how much it pushes towards the category, and the rank of the category's own feature among all features says
whether a failure to steer is the feature (a reader, not a writer) or the sampling.
"""
from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer

from ..interpret.feature_stats import logit_weights
from ..interpret.proxies import detect_split
from ..lm.model import TinyLM
from ..sae.model import SAE
from ..text.splits import TokenSplit
from ..text.tokenizer import token_strings


def continuation_freq(category: str, split: TokenSplit, tok: Tokenizer) -> np.ndarray:
    """[vocab] how often each token is a token of the category that follows another one of it (a continuation)."""
    mask = detect_split(category, split, tok)
    follow = np.flatnonzero(mask[1:] & mask[:-1]) + 1
    freq = np.bincount(np.asarray(split.tokens)[follow].astype(np.int64), minlength=tok.get_vocab_size())
    return freq / max(freq.sum(), 1)


@torch.no_grad()
def writer_scores(lm: TinyLM, sae: SAE, freq: np.ndarray) -> np.ndarray:
    """[n_features] each feature's logit weights (median-shifted), averaged over the continuation distribution."""
    logits = logit_weights(lm, sae.W_dec / sae.scale)                       # [n_features, vocab]
    return (logits.double() @ torch.as_tensor(freq, dtype=torch.float64)).numpy()


def writer_report(lm: TinyLM, sae: SAE, tok: Tokenizer, feature: int, category: str, split: TokenSplit,
                  alive: np.ndarray, top: int = 8) -> dict:
    """The feature's writer score and rank among the live features, the best writer, and its top / bottom tokens."""
    scores = writer_scores(lm, sae, continuation_freq(category, split, tok))
    live = np.flatnonzero(alive)
    order = live[np.argsort(-scores[live])]
    with torch.no_grad():
        w = logit_weights(lm, sae.W_dec[feature:feature + 1] / sae.scale)[0]
    strings = token_strings(tok)
    return {"category": category, "feature": int(feature), "score": float(scores[feature]),
            "rank": int(np.flatnonzero(order == feature)[0]) + 1 if feature in order else None, "n_live": len(live),
            "median": float(np.median(scores[live])), "best": int(order[0]), "best_score": float(scores[order[0]]),
            "promotes": [strings[t] for t in w.topk(top).indices.tolist()],
            "suppresses": [strings[t] for t in (-w).topk(top).indices.tolist()]}


def writer_lines(r: dict) -> list[str]:
    """The report as sentences, for either outcome."""
    lines = [f"{r['category']} feature {r['feature']} promotes {r['promotes']}",
             f"  and suppresses {r['suppresses']}",
             f"its logit weights averaged over the tokens that continue {r['category']} text: {r['score']:+.3f} "
             f"(rank {r['rank']:,} of {r['n_live']:,} live features; median {r['median']:+.3f}; best feature "
             f"{r['best']} at {r['best_score']:+.3f})"]
    if r["rank"] is not None and r["rank"] <= max(1, r["n_live"] // 10):
        lines.append(f"-> it is among the top tenth of writers of {r['category']}: a failure to steer with it is not for "
                     "want of a push towards the category")
    else:
        lines.append(f"-> a reader, not a writer: it fires on {r['category']} but does not raise the logits of the tokens "
                     f"that continue it, so pinning it cannot make the model start {r['category']} text")
    return lines
