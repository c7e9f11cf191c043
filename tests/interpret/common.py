"""Planted features shared by the interpretation tests."""
import torch

from monosem_lib.sae.model import SAE


def planted(n_rows=4000, d=32, n_planted=4, n_features=12, vocab=50, seed=0):
    """Activations where feature j (< n_planted) fires exactly on token j; the other features are random."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, vocab, (n_rows,), generator=g)
    dirs = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:n_features]
    coef = torch.zeros(n_rows, n_features)
    for j in range(n_planted):
        coef[tokens == j, j] = 1 + torch.rand(int((tokens == j).sum()), generator=g)
    coef[:, n_planted:] = torch.relu(torch.randn(n_rows, n_features - n_planted, generator=g) - 1.0)
    x = coef @ dirs
    sae = SAE(d, n_features)
    sae.W_enc.data, sae.W_dec.data = dirs.clone(), dirs.clone()
    sae.b_enc.data.zero_(), sae.b_dec.data.zero_()
    return sae, x, tokens.numpy(), coef
