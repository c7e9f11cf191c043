"""How well a dictionary recovers known feature directions: mean max cosine and its one-to-one version.

MMCS (mean max cosine similarity, Sharkey et al. 2022): for each true direction, the best cosine with any
learned direction, averaged; several true features may claim the same learned one. MCC here is the
Hungarian-matched version: each true direction is paired with a distinct learned one so that the summed
cosine is maximal (scipy's linear_sum_assignment), then averaged. Cosines are signed: an SAE feature
fires with one sign only, so a decoder row pointing the opposite way is not a recovery.
"""
from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment


def cosine_matrix(true_dirs: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
    """[n_true, n_learned] cosines between the rows of true_dirs [n_true, d] and learned [n_learned, d]."""
    a = true_dirs / true_dirs.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = learned / learned.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return a @ b.T


def mean_max_cosine(true_dirs: torch.Tensor, learned: torch.Tensor) -> float:
    """MMCS: each true direction's best cosine with any learned direction, averaged."""
    return cosine_matrix(true_dirs, learned).max(1).values.mean().item()


def matched_cosine(true_dirs: torch.Tensor, learned: torch.Tensor) -> tuple[float, torch.Tensor]:
    """MCC: mean cosine of the best one-to-one pairing (needs n_learned >= n_true); and the pairing."""
    if learned.shape[0] < true_dirs.shape[0]:
        raise ValueError(f"a one-to-one match needs at least as many learned directions ({learned.shape[0]}) "
                         f"as true ones ({true_dirs.shape[0]})")
    cos = cosine_matrix(true_dirs, learned).double().numpy()
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return float(cos[rows, cols].mean()), torch.as_tensor(cols)


def random_directions(true_dirs: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """n random directions in the same space: the control (what chance gives for MMCS / MCC)."""
    return torch.randn(n, true_dirs.shape[1], generator=torch.Generator().manual_seed(seed))


def recovery_table(true_dirs: torch.Tensor, learned: dict[str, torch.Tensor]) -> dict[str, dict[str, float | None]]:
    """{name: {"mmcs", "mcc"}} for several dictionaries (mcc None where there are fewer directions than true)."""
    out = {}
    for name, dirs in learned.items():
        mcc = matched_cosine(true_dirs, dirs)[0] if len(dirs) >= len(true_dirs) else None
        out[name] = {"mmcs": mean_max_cosine(true_dirs, dirs), "mcc": mcc}
    return out
