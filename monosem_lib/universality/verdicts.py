"""Notebook 05's verdicts: this run's universality figures read against the paper's, worded for either outcome.

The markdown says what the paper found and what to look for; these functions turn the run's medians into the
sentences a reader should take away, so no prose asserts a replication the run did not get.
"""
from __future__ import annotations

import math

PAPER = {"features": 0.72, "neurons": 0.46}          # A/1 vs B/1, median best activation correlation


def _has(med: dict, key: str) -> bool:
    return key in med and med[key] is not None and math.isfinite(float(med[key]))


def universality_verdict(med: dict[str, float], alt_recipe: str = "alt", bins: dict | None = None) -> list[str]:
    """Features vs neurons (and the paper), the misaligned-token control, the SAE-seed ceiling, the other recipe
    and the frequent features, from `med` (keys features, neurons, control; optional sae_seed and alt with the
    main SAEs' features_side on the same side tokens, fired100), and per density decade from `bins`
    ({'features': by_density(...), 'neurons': ...})."""
    f, n, ctrl = med["features"], med["neurons"], med["control"]
    lines = [f"median best correlation, A vs B: features {f:.3f}, neurons {n:.3f} (the paper: features "
             f"{PAPER['features']}, neurons {PAPER['neurons']})"]
    if f > n:
        lines.append("-> features are more universal than neurons, as in the paper")
    else:
        lines.append(f"-> neurons are MORE universal than features here ({n / max(f, 1e-9):.1f}x): this run does not "
                     "reproduce the paper's claim")
    chance = (f"{f - ctrl:.3f} above it: their matches are more than the luck of a maximum" if f > 2 * ctrl else
              f"only {f - ctrl:.3f} above it: their matches are little more than the luck of a maximum" if f > ctrl
              else "no better than it: their best matches are what a maximum over B finds by chance")
    lines.append(f"chance: the misaligned-token control gives {ctrl:.3f}; features are " + chance)
    if _has(med, "sae_seed"):
        s, fs = med["sae_seed"], med.get("features_side", f)
        lines.append(f"ceiling: two SAEs on the same LM A (two SAE seeds) agree at {s:.3f}; on the same tokens A vs B "
                     f"gives {fs:.3f}, {fs / s:.0%} of it" if s > 0 else f"ceiling: two SAE seeds on LM A agree at {s:.3f}")
        if s <= n:
            lines.append("-> the ceiling itself is below the neurons: this SAE is not reproducible run to run even "
                         "on the same activations, so A vs B cannot be expected to come out above the neurons; the "
                         "shortfall starts with the SAE's instability, before any difference between the two LMs")
        elif f <= n:
            lines.append("-> the ceiling is above the neurons, so the SAE's instability alone does not explain the "
                         "shortfall: the two LMs' dictionaries differ too")
    else:
        lines.append("ceiling: no second SAE seed in this run (sae.controls is off), so the ceiling is unknown")
    if _has(med, "alt"):
        a, fs = med["alt"], med.get("features_side", f)
        lines.append(f"the {alt_recipe} recipe's SAEs, A vs B: {a:.3f} (main recipe on the same tokens {fs:.3f}), "
                     + ("above the neurons: with that recipe features are the more universal" if a > n
                        else "also below the neurons"))
    if _has(med, "fired100"):
        h = med["fired100"]
        lines.append(f"features that fire on >= 100 evaluation tokens: {h:.3f}, "
                     + ("above the neurons: the frequent features have twins; the many rare ones pull the median down"
                        if h > n else "still below the neurons"))
    lines += density_lines(bins or {})
    return lines


def density_lines(bins: dict) -> list[str]:
    """Features vs neurons in the paper's high-density cluster (1e-5..1e-4) and in the densest decade they share."""
    feats, neurs = bins.get("features", {}), bins.get("neurons", {})
    out = []
    for name, what in (("1e-5_1e-4", "the paper's high-density cluster"),):
        b = feats.get(name)
        if b is None or not b["n"]:
            out.append(f"no feature fires at density {name.replace('_', '..')} ({what}) on these tokens")
            continue
        nb = neurs.get(name, {"n": 0})
        vs = f", neurons there {nb['median']:.3f} ({nb['n']:,})" if nb["n"] else ", no neuron fires that rarely"
        out.append(f"in {what} (density {name.replace('_', '..')}): {b['n']:,} features, median {b['median']:.3f}{vs}")
    dense = [k for k in feats if feats[k]["n"] >= 5 and neurs.get(k, {"n": 0})["n"] >= 5]
    for k in dense[-1:]:
        f, n = feats[k]["median"], neurs[k]["median"]
        out.append(f"where both are densest ({k.replace('_', '..')}): features {f:.3f} vs neurons {n:.3f}"
                   + (" -> features ahead" if f > n else " -> neurons ahead"))
    return out


def matched_verdict(n_pairs: int, matched: float, best: float, n_shared: int, n_alive: int) -> list[str]:
    """What a one-to-one matching keeps of the best-match median, and how many of A's best matches share a twin."""
    lines = [f"{n_pairs:,} one-to-one pairs: median correlation {matched:.3f} against {best:.3f} for best matches; "
             f"{n_shared:,} of {n_alive:,} "
             f"features of A ({n_shared / max(n_alive, 1):.0%}) picked a feature of B that another feature of A "
             "had already picked"]
    if n_shared > n_alive / 2:
        lines.append("-> most best matches are shared: many of A's features lean on the same few features of B, so "
                     "the best-match median overstates how many distinct twins there are")
    else:
        lines.append("-> most best matches are distinct: the best-match median is close to a one-to-one correspondence")
    return lines


def logit_verdict(logit_f: float, logit_n: float, act_f: float, act_n: float) -> str:
    """Whether best-match twins also act alike (logit weights), for features vs neurons, beside their activations."""
    head = f"twins' logit-weight correlation: features {logit_f:.3f}, neurons {logit_n:.3f} -> "
    if logit_f > logit_n:
        return head + "feature twins act alike more than neuron twins do"
    if act_f <= act_n:
        return head + ("feature twins act alike less than neuron twins, as they also fire alike less (above): many "
                       "feature 'twins' of this run may not be the same feature in both models")
    return head + "feature twins fire alike more than neurons, yet act alike less: they detect alike, write differently"
