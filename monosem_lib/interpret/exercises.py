"""Checks for notebook 04's exercises: the student's explainer and Spearman score against the library.

Each `check_*` prints a one-line "✓ ..." or raises AssertionError("✗ what differs and what to fix"), so a
broken version fails under nbval too (the shared `monosem_lib.exercises.verdict`). `check_target` is the
shared one (re-exported: notebooks 04 and 05 call it as `exercises.check_target`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.stats import rankdata

from ..exercises import check_target, student_check, verdict  # noqa: F401  (check_target: re-exported)
from . import autointerp
from .feature_stats import UnitActs


def _units(ua: UnitActs, n_units: int, seed: int) -> np.ndarray:
    units = autointerp.pick_units(ua, n_units, seed=seed)
    if not len(units):
        raise ValueError("no unit fires on 20 or more held-out rows: nothing to check on (is the run's SAE dead?)")
    return units


def _names(ids, token_strings: list[str] | None) -> str:
    return ", ".join(repr(token_strings[t]) if token_strings else str(t) for t in sorted(ids))


def _explain_problem(got, want: dict[int, float], tok: np.ndarray, a: np.ndarray, vmax: float, k: int,
                     min_mean: float, strings: list[str] | None) -> str | None:
    """What is wrong with one explanation `got` (None if it matches `want`)."""
    if not isinstance(got, dict):
        return f"return a dict {{token id: mean activation}}, got {type(got).__name__}"
    if vmax <= 0:
        return None if not got else "no example is active here: return {} (there is nothing to explain)"
    got = {int(t): float(v) for t, v in got.items()}
    if len(got) > k:
        return f"yours names {len(got)} tokens; a one-line explanation names at most k = {k}"
    if set(got) != set(want):
        ids, inv = np.unique(tok, return_inverse=True)
        mean = np.bincount(inv, weights=a) / np.bincount(inv)
        by_mean = {int(ids[j]) for j in np.argsort(-mean, kind="stable")[:k] if mean[j] >= min_mean}
        why = ("you ranked tokens by mean activation; rank them by total activation (mass), so a token seen once "
               "does not beat one that fires often" if set(got) == by_mean else
               f"keep the k tokens with the largest total activation whose mean is >= min_mean ({min_mean})")
        return f"yours names {_names(got, strings)}, the library {_names(want, strings)}: {why}"
    diff = max(abs(got[t] - want[t]) for t in want) if want else 0.0
    if diff > 1e-6:
        raw = all(abs(got[t] - want[t] * vmax) <= 1e-5 * max(vmax, 1) for t in want)
        return ("values are raw activations: divide by the examples' max activation first" if raw else
                f"values differ by up to {diff:.3g}: each token's value is its mean activation / the max")
    return None


@student_check
def check_explain_tokens(fn: Callable, ua: UnitActs, text: autointerp.HeldoutText, k: int = 5,
                         min_mean: float = 0.02, n_units: int = 8, seed: int = 0,
                         token_strings: list[str] | None = None) -> None:
    """fn(token_ids, acts, k) against ConciseExplainer's 'these k tokens' hypothesis, on the run's explanation rows."""
    units, worst = _units(ua, n_units, seed), 0.0
    lib = autointerp.ConciseExplainer(k=k, categories=False, min_mean=min_mean)
    toy = np.array([0] + [1] * 200 + [2] * 3), np.array([1.0] + [min_mean / 2] * 200 + [0.5] * 3)
    cases = [("a toy unit (token 1 fires often but weakly)", autointerp.HeldoutText.from_tokens(toy[0]), toy[1],
              np.arange(len(toy[0])))]
    cases += [(f"unit {int(i)}", text, ua.dense(int(i)), autointerp.example_rows(ua, int(i), text)[0]) for i in units]
    for name, txt, dense, ex in cases:
        act, tok = dense[ex], txt.token_id[ex]
        want = lib.explain(txt, ex, act).tokens
        got = fn(tok, act, k)
        vmax = float(act.max()) if len(act) else 0.0
        problem = _explain_problem(got, want, tok, act / vmax if vmax > 0 else act, vmax, k, min_mean,
                                   token_strings if txt is text else None)
        if problem:
            verdict(False, "", f"{name}: {problem}")
        worst = max([worst] + [abs(float(got[t]) - want[t]) for t in want])
    verdict(True, f"matches the library's explanations of {len(units)} units (max diff {worst:.0e})", "")


def _spearman_problem(got, pred: np.ndarray, act: np.ndarray, want: float) -> str | None:
    """What is wrong with one Spearman value `got` (None if it matches the library's `want`)."""
    if got is None or not np.isfinite(got):
        return ("a constant side has nothing to rank: return 0, not NaN" if np.ptp(pred) == 0 or np.ptp(act) == 0
                else f"yours is {got}, the library's {want:.4f}")
    if abs(float(got) - want) <= 1e-6:
        return None
    if np.ptp(pred) == 0 or np.ptp(act) == 0:
        return f"yours is {float(got):.4f}: when either side is constant there is nothing to rank, return 0"
    pearson = float(np.corrcoef(pred, act)[0, 1])
    ordinal = float(np.corrcoef(rankdata(pred, "ordinal"), rankdata(act, "ordinal"))[0, 1])
    if abs(float(got) - pearson) <= 1e-6:
        return "that is Pearson's r of the values; Spearman's rho is Pearson's r of their ranks"
    if abs(float(got) - ordinal) <= 1e-6:
        return ("ties broken by position: tied values (most predictions and activations are 0) must share their "
                "average rank (scipy.stats.rankdata does this)")
    return f"yours is {float(got):.4f}, the library's {want:.4f}"


@student_check
def check_spearman(fn: Callable, ua: UnitActs, text: autointerp.HeldoutText,
                   explainer: autointerp.Explainer | None = None, n_units: int = 8, seed: int = 0) -> None:
    """fn(pred, acts) against the library's autointerp score (`score_unit`) of a few of the run's units."""
    explainer, worst = explainer or autointerp.ConciseExplainer(), 0.0
    constant = np.zeros(10), np.arange(10.0)
    problem = _spearman_problem(fn(*constant), *constant, 0.0)
    if problem:
        verdict(False, "", f"a constant prediction: {problem}")
    units = _units(ua, n_units, seed)
    for i in units:
        want, expl = autointerp.score_unit(ua, int(i), text, explainer)
        _, sc = autointerp.example_rows(ua, int(i), text)
        pred, act = explainer.simulate(expl, text, sc), ua.dense(int(i))[sc]
        got = fn(pred, act)
        problem = _spearman_problem(got, pred, act, want)
        if problem:
            verdict(False, "", f"unit {int(i)}: {problem}")
        worst = max(worst, abs(float(got) - want))
    verdict(True, f"matches the library's autointerp scores of {len(units)} units (max diff {worst:.0e})", "")


def rejected_tokens(ua: UnitActs, feature: int, mask: np.ndarray, token_id: np.ndarray, strings: list[str],
                    top: int = 50) -> list[str]:
    """The tokens among `feature`'s `top` largest held-out activations whose row the detector `mask` rejects."""
    rows = ua.of(int(feature))[0][:top]
    return [strings[t] for t in token_id[rows[~mask[rows]]]]


def check_rejected_tokens(mine: list[str] | None, ua: UnitActs, feature: int, mask: np.ndarray,
                          token_id: np.ndarray, strings: list[str], top: int = 50) -> None:
    """Exercise 3: the student's list of rejected top-`top` tokens against the library's (as a multiset)."""
    if mine is None:
        return print(f"… not attempted yet: list the tokens among feature {feature}'s top {top} that the detector "
                     "rejects")
    from collections import Counter
    want = rejected_tokens(ua, feature, mask, token_id, strings, top)
    got, ref = Counter(mine), Counter(want)
    accepted = Counter(strings[t] for t in token_id[ua.of(int(feature))[0][:top]]) - ref
    hint = ("those are the tokens the detector accepts: keep the rows where the mask is False" if got == accepted
            else f"missing {sorted((ref - got).elements())[:5]}, extra {sorted((got - ref).elements())[:5]}")
    verdict(got == ref, f"your {len(want)} tokens match: the detector rejects {len(want)} of the top {top}",
            f"yours has {len(mine)} tokens, the library's {len(want)}: {hint}")


def family_sizes(saes: dict, root: int, threshold: float) -> dict[int, int]:
    """{n_features: features of that SAE whose decoder column has cosine >= threshold with the smallest SAE's root}."""
    from .splitting import unit_dirs
    root_dir = unit_dirs(saes[min(saes)])[root]
    return {n: int(((unit_dirs(s) @ root_dir) >= threshold).sum()) for n, s in sorted(saes.items())}


def check_family_sizes(mine: dict | None, saes: dict, root: int, thresholds: tuple[float, ...] = (0.3, 0.6),
                       max_children: int = 8) -> None:
    """Exercise 5: {threshold: {n_features: family size}} against the library's counts (every feature, no cap)."""
    if mine is None:
        return print(f"… not attempted yet: count feature {root}'s family at each size for thresholds {thresholds}")
    wants = {t: family_sizes(saes, root, t) for t in thresholds}
    for t, want in wants.items():
        got = {int(n): int(v) for n, v in mine.get(t, {}).items()}
        if got != want:
            capped = got == {n: min(v, max_children) for n, v in want.items()}
            verdict(False, "", f"threshold {t}: yours {got}, the library's {want}"
                    + (f": `family` keeps at most max_children={max_children}; count every feature above the "
                       "threshold" if capped else ""))
    verdict(True, "your family sizes match: " + "; ".join(f"cosine >= {t}: {w}" for t, w in wants.items()), "")
