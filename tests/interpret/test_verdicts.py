"""Notebook 04's verdicts and its exercise 3 and 5 checks: each outcome gets its own wording, a wrong answer fails."""
import numpy as np
import pytest

from monosem_lib.interpret import exercises, verdicts
from monosem_lib.io import save_json
from monosem_lib.interpret import feature_stats as fs
from monosem_lib.interpret.dial import ProxyScore
from monosem_lib.sae.model import SAE
from tests.interpret.common import planted


def test_autointerp_verdict_covers_replication_partial_and_failure():
    assert "as in the paper" in verdicts.autointerp_verdict(0.8, 0.3, 0.2)[1]
    partial = verdicts.autointerp_verdict(0.457, 0.395, 0.347)
    assert "1.16x" in partial[0] and "partial replication" in partial[1]
    assert "below A's neurons" in partial[2] and "adds 0.110" in partial[2]
    assert "does not reproduce" in verdicts.autointerp_verdict(0.3, 0.4, 0.35)[1]
    assert "not what the LM learned" in verdicts.autointerp_verdict(0.4, 0.3, 0.45)[2]
    assert "above A's neurons" in verdicts.autointerp_verdict(0.5, 0.3, 0.4)[2]
    assert "no SAE on a random-weight LM" in verdicts.autointerp_verdict(0.5, 0.3, None)[2]


def _scores(pairs):
    return {c: ProxyScore(c, 1000, "ok", 1, f, 2, n) for c, (f, n) in pairs.items()}


def test_dial_verdict_names_the_losers_and_each_outcome():
    shares = {"arabic": 0.008, "base64": 0.009, "thai": 0.001, "english": 0.6}
    mixed = verdicts.dial_verdict(_scores({"arabic": (0.3, 0.2), "base64": (0.34, 0.49), "thai": (0.4, 0.1),
                                           "english": (0.1, 0.3)}), shares)
    assert mixed[0].startswith("features beat the best neuron on 2 of 3") and "0 of 1 more common" in mixed[0]
    assert "partial crossover" in mixed[1] and "base64" in mixed[1]
    assert "base64 (feature 0.34 vs neuron 0.49)" in mixed[2]
    full = verdicts.dial_verdict(_scores({"arabic": (0.5, 0.2), "thai": (0.4, 0.1), "english": (0.1, 0.3)}), shares)
    assert "the crossover the dial predicts" in full[1] and "as in the paper" in full[2]
    none = verdicts.dial_verdict(_scores({"arabic": (0.1, 0.2), "thai": (0.1, 0.3), "english": (0.5, 0.3)}), shares)
    assert "no crossover" in none[1]


def test_sweep_verdict_reads_each_trend_and_flags_unequal_budgets(tmp_path):
    by_size = {512: {"dna": 0.74, "base64": 0.40, "arabic": 0.31}, 1024: {"dna": 0.84, "base64": 0.38, "arabic": 0.36},
               2048: {"dna": 0.87, "base64": 0.43, "arabic": 0.31}, 4096: {"dna": 0.92, "base64": 0.34, "arabic": 0.32}}
    for name, n in (("A_512", 200), ("A_1024", 200), ("A_2048", 200), ("A", 450)):
        (tmp_path / "sae" / name).mkdir(parents=True)
        save_json(tmp_path / "sae" / name / "config.json", {"train": {"n_acts": n}})
    budgets = verdicts.sweep_budgets(tmp_path, [512, 1024, 2048, 4096], 4096)
    assert budgets == {512: 200, 1024: 200, 2048: 200, 4096: 450}
    lines = verdicts.sweep_verdict(by_size, budgets)
    assert "unequal" in lines[1]
    text = "\n".join(lines)
    assert "dna      rises" in text and "base64   falls" in text and "arabic   stays flat" in text
    assert "peak 0.43 at 2,048" in text and "base64: the drop comes only at the last step" in text
    assert "for base64 only" in lines[-1]
    flat = verdicts.sweep_verdict({64: {"dna": 0.5}, 128: {"dna": 0.6}}, {64: 10, 128: 10})
    assert len(flat) == 3 and "does not score lower" in flat[-1]


@pytest.fixture(scope="module")
def units():
    _, _, tokens, coef = planted(n_rows=3000)
    return fs.UnitActs.from_dense(coef), tokens


def test_check_rejected_tokens(units, capsys):
    ua, tokens = units
    strings = [f"t{i}" for i in range(50)]
    mask = np.random.default_rng(0).random(ua.n_rows) < 0.7
    want = exercises.rejected_tokens(ua, 0, mask, tokens, strings)
    assert 0 < len(want) < 50
    exercises.check_rejected_tokens(None, ua, 0, mask, tokens, strings)
    exercises.check_rejected_tokens(list(reversed(want)), ua, 0, mask, tokens, strings)
    out = capsys.readouterr().out
    assert "not attempted yet" in out and f"✓ your {len(want)} tokens match" in out
    rows = ua.of(0)[0][:50]
    accepted = [strings[t] for t in tokens[rows[mask[rows]]]]
    with pytest.raises(AssertionError, match="those are the tokens the detector accepts"):
        exercises.check_rejected_tokens(accepted, ua, 0, mask, tokens, strings)
    with pytest.raises(AssertionError, match="missing"):
        exercises.check_rejected_tokens(want[1:], ua, 0, mask, tokens, strings)


def test_check_family_sizes(capsys):
    small, large = SAE(16, 6, seed=0), SAE(16, 40, seed=1)
    saes = {6: small, 40: large}
    want = {t: exercises.family_sizes(saes, 0, t) for t in (0.0, 0.6)}
    assert want[0.0][6] >= 1 and want[0.0][40] > 8                     # enough to hit family's cap of 8
    exercises.check_family_sizes(None, saes, 0, thresholds=(0.0, 0.6))
    exercises.check_family_sizes(want, saes, 0, thresholds=(0.0, 0.6))
    out = capsys.readouterr().out
    assert "not attempted yet" in out and "✓ your family sizes match" in out
    capped = {t: {n: min(v, 8) for n, v in w.items()} for t, w in want.items()}
    with pytest.raises(AssertionError, match="keeps at most max_children=8"):
        exercises.check_family_sizes(capped, saes, 0, thresholds=(0.0, 0.6))
    with pytest.raises(AssertionError, match="threshold 0.6"):
        exercises.check_family_sizes({0.0: want[0.0], 0.6: {6: 99, 40: 99}}, saes, 0, thresholds=(0.0, 0.6))
