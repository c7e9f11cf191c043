"""The unigram and bigram baselines the LM is held against."""
import torch

from monosem_lib.lm.evaluate import bigram_loss, unigram_loss, val_windows


def test_baselines_on_a_deterministic_sequence():
    # a repeating pattern: the bigram predicts it almost perfectly, the unigram cannot
    tokens = torch.arange(10).repeat(500).numpy()
    windows = val_windows(tokens, 1000, 16)
    assert windows.shape[1] == 17
    assert bigram_loss(tokens, windows, 10) < 0.05 < unigram_loss(tokens, windows, 10)
