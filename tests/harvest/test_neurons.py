"""Neuron statistics of notebook 02."""
import matplotlib
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from monosem_lib.harvest.neurons import (
    active_per_token,
    category_counts,
    category_entropy,
    context_strings,
    distinct_counts,
    format_top_contexts,
    most_polysemantic,
    neuron_density,
    spans_categories,
    top_activations,
)

matplotlib.use("Agg")


def test_density_and_active_per_token():
    acts = torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.5, 0.1], [0.0, 0.0, 4.0]])
    torch.testing.assert_close(neuron_density(acts), torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(neuron_density(acts, chunk=3), neuron_density(acts))   # chunking changes nothing
    torch.testing.assert_close(neuron_density(acts, threshold=1.0), torch.tensor([0.0, 0.0, 0.75]))
    assert active_per_token(acts).tolist() == [2, 1, 2, 1]
    with pytest.raises(ValueError, match="non-empty"):
        neuron_density(torch.zeros(0, 3))


def test_top_activations_per_neuron():
    acts = torch.rand(100, 5)
    values, rows = top_activations(acts, 4)
    assert values.shape == rows.shape == (5, 4)
    for n in range(5):
        want = torch.sort(acts[:, n], descending=True).values[:4]
        torch.testing.assert_close(values[n], want)
        torch.testing.assert_close(acts[rows[n], n], want)
    assert top_activations(acts[:3], 10)[0].shape == (5, 3)          # k capped at the number of rows


def test_category_counts_and_entropy():
    cats = np.array([[0, 0, 0, 0], [0, 1, 2, 3], [1, 1, 2, 2]])
    counts = category_counts(cats, 4)
    assert counts.tolist() == [[4, 0, 0, 0], [1, 1, 1, 1], [0, 2, 2, 0]]
    np.testing.assert_allclose(category_entropy(counts), [0.0, 2.0, 1.0])
    valid = np.array([[True] * 4, [True, True, False, False], [False] * 4])
    masked = category_counts(cats, 4, valid)
    assert masked.tolist() == [[4, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    h = category_entropy(masked)
    assert h[1] == pytest.approx(1.0) and np.isnan(h[2])             # no valid entries: undefined, not 0


@pytest.fixture
def tok():
    vocab = {c: i for i, c in enumerate(["<|endoftext|>", "a", "b", "c", "Ċ", "Ġ", "d"])}   # Ċ = newline, Ġ = space
    t = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens(["<|endoftext|>"])
    return t


def test_context_strings_mark_the_token_and_respect_the_window(tok):
    tokens = np.array([0, 1, 2, 4, 3, 5, 6, 1], dtype=np.uint16)   # EOT a b \n c ' ' d a
    out = context_strings(tok, tokens, np.array([4, 1, 7]), before=3, after=2)
    assert out == ["ab⏎«c» d", "⟨EOT⟩«a»b⏎", "c d«a»"]
    capped = context_strings(tok, tokens, np.array([4]), ctx_pos=np.array([1]), before=3, after=0)
    assert capped == ["⏎«c»"]                                         # the LM saw only one token before


def test_format_groups_by_category():
    text = format_top_contexts(7, np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 0, 1, 0]),
                               ["x«1»", "y«2»", "z«3»", "w«4»"], ["english", "python"], per_category=1)
    lines = text.splitlines()
    assert lines[0] == "neuron 7: top 3 activations — python 2, english 1"
    assert lines[1:] == ["  python:", "      3.00  x«1»", "  english:", "      2.00  y«2»"]   # zero activations left out


def test_distinct_counts_and_most_polysemantic():
    assert distinct_counts(np.array([[1, 1, 1], [3, 1, 2], [2, 5, 2]])).tolist() == [1, 3, 2]
    entropy = np.array([3.0, 2.0, np.nan, 1.0, 2.5])
    n_tokens = np.array([1, 9, 9, 9, 9])          # unit 0 is a one-token detector
    assert most_polysemantic(entropy, n_tokens, min_tokens=5, n=3).tolist() == [4, 1, 3]
    assert most_polysemantic(entropy, n_tokens, min_tokens=5, n=5).tolist() == [4, 1, 3, 0, 2]   # then the rest


def test_spans_categories_needs_two_categories_above_the_threshold():
    counts = np.array([[40, 0, 0], [30, 10, 0], [37, 3, 0], [0, 0, 0]])
    assert spans_categories(counts, min_frac=0.1).tolist() == [False, True, False, False]
