"""Score any SAE the way notebook 04 scores the main one: autointerp median and the proxy table.

Used for the controls (an SAE on the random-weight LM, a second SAE seed) and for the recipe that is not
the main one, so that every headline figure has its yardstick computed by the very same code.
"""
from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from ..harvest.store import ActivationStore
from ..sae.model import SAE
from ..text.splits import TokenSplit
from . import autointerp, dial
from .feature_stats import encode_sparse, encode_sparse_batches


def score_sae(sae: SAE, store: ActivationStore, val: TokenSplit, tok: Tokenizer, llr: dict[str, np.ndarray],
              masks: dict[str, np.ndarray], n_score: int, explainer: autointerp.Explainer | None = None,
              x=None) -> dict:
    """{'features': UnitActs, 'autointerp': scores of n_score random live features, 'proxies': ProxyScores}.

    Features only: the neurons' side of the proxy table is notebook 04's main table (same rows). Pass `x`
    (the store's held-out activations, if already in memory) to skip reading the store; without it the rows
    are streamed shard by shard, never all in RAM.
    """
    ua = encode_sparse(sae, x) if x is not None else encode_sparse_batches(sae, store.heldout_batches(8192))
    info = store.row_info("heldout")
    text = autointerp.HeldoutText.from_row_info(info, val.category_names)
    units, explainer = autointerp.pick_units(ua, n_score), explainer or autointerp.ConciseExplainer()
    scores = np.array([autointerp.score_unit(ua, int(i), text, explainer)[0] for i in units])
    table = dial.score_proxies(ua, None, val, tok, info["token_index"], info["token_id"], llr, list(masks), masks=masks)
    return {"features": ua, "autointerp": scores, "proxies": table}


def scorecard_entries(result: dict, prefix: str) -> dict:
    """`<prefix>autointerp_median.features` and `<prefix>proxy.<c>.*` for one scored SAE."""
    med = float(np.median(result["autointerp"])) if len(result["autointerp"]) else float("nan")
    return {f"{prefix}autointerp_median.features": round(med, 3),
            **dial.scorecard_entries(result["proxies"], prefix=f"{prefix}proxy")}
