"""How good is an SAE: reconstruction, sparsity, feature densities, and LM loss recovered.

Densities are measured on a held-out set of n tokens. The paper's thresholds (dead = never fired
on 100M examples; ultralow = density < 1e-6) cannot be resolved on ~1e5 tokens, so here:
dead = never fired on the set; ultralow = fired, but density ≤ max(1e-6, 1/n) (on small sets:
fired exactly once, the lowest non-zero density the set can show). dead + ultralow is then every
feature whose density is at or below the set's resolution.

loss_recovered = (L_zero − L_sae) / (L_zero − L_clean): a ratio of mean losses over the held-out
windows' targets, with the MLP activations zero-ablated (L_zero), left alone (L_clean) or replaced
by the SAE's reconstruction (L_sae); `_mean_ablation` uses the mean activation vector instead of 0.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..lm.evaluate import per_token_loss
from ..lm.model import TinyLM
from .codes import to_csr
from .model import SAE

Hook = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def sae_stats(sae: SAE, acts: torch.Tensor, batch_size: int = 8192) -> dict:
    """MSE, FVU, L0 and feature densities of `sae` on raw held-out activations [n, d_mlp]; the codes stay sparse."""
    n = len(acts)
    if n == 0:
        raise ValueError("sae_stats needs at least one held-out activation")
    acts = acts.to(sae.W_enc.device)
    mean = acts.float().mean(0)
    sq_err = sq_tot = 0.0
    fired = torch.zeros(sae.n_features, dtype=torch.long, device=acts.device)
    for i in range(0, n, batch_size):
        x = acts[i:i + batch_size].float()
        rows, cols, vals = sae.code_pairs(x)
        f = to_csr(rows, cols, vals, (len(x), sae.n_features))
        x_hat = torch.addmm(sae.b_dec, f, sae.W_dec) / sae.scale
        sq_err += (x_hat - x).pow(2).sum().item()
        sq_tot += (x - mean).pow(2).sum().item()
        fired += torch.bincount(cols, minlength=sae.n_features)
    return {"n_features": sae.n_features, "n_tokens": n, "l0": int(fired.sum()) / n, "mse": sq_err / acts.numel(),
            "fvu": sq_err / max(sq_tot, 1e-30), **density_stats(fired, n)}


def density_stats(counts: torch.Tensor, n_tokens: int) -> dict:
    """Dead / ultralow / above-1% fractions from per-feature firing counts over n_tokens (see module doc).

    Works on held-out counts (sae_stats) or on the trainer's counts (train_sae.train_densities).
    """
    density = counts.double().cpu() / max(n_tokens, 1)
    low = max(1e-6, 1.0 / max(n_tokens, 1))
    return {"dead_frac": (density == 0).float().mean().item(),
            "ultralow_frac": ((density > 0) & (density <= low)).float().mean().item(),
            "above_1pct_frac": (density > 0.01).float().mean().item(), "density": density}


def sae_hook(sae: SAE) -> Hook:
    """MLP hook that replaces the activations by the SAE's reconstruction."""
    return lambda acts: sae(acts)


def topk_hook(k: int) -> Hook:
    """MLP hook that keeps each token's k largest neurons and zeroes the rest (the neuron baseline)."""
    def hook(acts: torch.Tensor) -> torch.Tensor:
        vals, idx = acts.topk(min(k, acts.shape[-1]), dim=-1)
        return torch.zeros_like(acts).scatter_(-1, idx, vals)
    return hook


@torch.no_grad()
def ablation_losses(lm: TinyLM, windows: torch.Tensor, mean_act: torch.Tensor | None = None) -> dict:
    """Mean loss (nats/token) of the clean LM, with the MLP zero-ablated and, given mean_act, mean-ablated."""
    out = {"clean": per_token_loss(lm, windows).mean().item(),
           "zero": per_token_loss(lm, windows, mlp_hook=torch.zeros_like).mean().item()}
    if mean_act is not None:
        m = mean_act.to(next(lm.parameters()).device)
        out["mean"] = per_token_loss(lm, windows, mlp_hook=lambda a: m.expand_as(a)).mean().item()
    return out


@torch.no_grad()
def loss_recovered(lm: TinyLM, windows: torch.Tensor, hook: Hook, base: dict | None = None,
                   mean_act: torch.Tensor | None = None) -> dict:
    """LM loss with `hook` replacing the MLP activations, and the share of the ablated loss it recovers.

    `base` (from ablation_losses) saves recomputing the clean and ablated losses for each SAE.
    Returns {'loss', 'clean', 'zero', 'loss_recovered'} (+ 'mean', 'loss_recovered_mean_ablation').
    """
    base = base or ablation_losses(lm, windows, mean_act)
    loss = per_token_loss(lm, windows, mlp_hook=hook).mean().item()
    out = {**base, "loss": loss, "loss_recovered": _ratio(base["zero"], loss, base["clean"])}
    if "mean" in base:
        out["loss_recovered_mean_ablation"] = _ratio(base["mean"], loss, base["clean"])
    return out


def _ratio(ablated: float, replaced: float, clean: float) -> float:
    gap = ablated - clean
    return (ablated - replaced) / gap if abs(gap) > 1e-12 else float("nan")


@torch.no_grad()
def topk_neuron_baseline(lm: TinyLM, windows: torch.Tensor, acts: torch.Tensor, k: int,
                         base: dict | None = None) -> dict:
    """The neuron-basis control at equal sparsity: keep each token's k largest MLP neurons.

    Returns {'k', 'l0' (neurons actually kept: ≤ k where fewer fire), 'fvu' on `acts', 'loss_recovered'}.
    """
    if k < 1:
        raise ValueError(f"top-k neuron baseline needs k >= 1, got {k}")
    mean, err, tot, l0 = acts.float().mean(0), 0.0, 0.0, 0.0
    for i in range(0, len(acts), 16384):
        x = acts[i:i + 16384].float()
        kept = topk_hook(k)(x)
        err += (kept - x).pow(2).sum().item()
        tot += (x - mean).pow(2).sum().item()
        l0 += (kept > 0).sum().item()
    rec = loss_recovered(lm, windows, topk_hook(k), base)
    return {"k": k, "l0": l0 / len(acts), "fvu": err / max(tot, 1e-30), "loss_recovered": rec["loss_recovered"]}


def evaluate_sae(lm: TinyLM, sae: SAE, x: torch.Tensor, windows: torch.Tensor, base: dict) -> dict:
    """Held-out statistics (`stats`) and loss recovered (`rec`) of one SAE: the figures of `sae.<model>.*`."""
    return {"stats": sae_stats(sae, x), "rec": loss_recovered(lm, windows, sae_hook(sae), base)}


def scorecard_entries(model_name: str, stats: dict, recovered: dict, acts_per_s: float | None = None,
                      densities: dict | None = None) -> dict:
    """The flat `sae.<model>.*` scorecard keys of DESIGN.md from sae_stats + loss_recovered results.

    `densities` (density_stats of train_sae.train_densities) replaces the held-out dead/ultralow/
    above-1% fractions, which are then kept as `heldout_*`: a held-out set of ~1e5 tokens from a few
    hundred documents cannot tell a rare feature from a dead one.
    """
    p = f"sae.{model_name}."
    keys = ("dead_frac", "ultralow_frac", "above_1pct_frac")
    out = {p + k: stats[k] for k in ("n_features", "l0", "mse", "fvu") + keys}
    if densities is not None:
        out.update({p + "heldout_" + k: stats[k] for k in keys})
        out.update({p + k: densities[k] for k in keys})
    out[p + "loss_recovered"] = recovered["loss_recovered"]
    if "loss_recovered_mean_ablation" in recovered:
        out[p + "loss_recovered_mean_ablation"] = recovered["loss_recovered_mean_ablation"]
    if acts_per_s is not None:
        out[p + "acts_per_s"] = acts_per_s
    return out


PAPER_DEAD_TOKENS = 100_000_000   # A/1: dead = never fired on 100M examples (a resolution of 1e-8)
PAPER_ULTRALOW = 1e-6             # A/1: ultralow = density below 1e-6


def density_resolution(n_tokens: int) -> dict:
    """What firing counts over n_tokens can resolve, beside the paper's A/1 thresholds (see density_stats).

    resolution = the smallest non-zero density (1/n_tokens); `*_coarser` = how many times coarser our dead
    and ultralow thresholds are than the paper's; `*_note` = the same in words, for printing.
    """
    res = 1.0 / max(n_tokens, 1)
    low = max(PAPER_ULTRALOW, res)
    dead_x, low_x = res * PAPER_DEAD_TOKENS, low / PAPER_ULTRALOW
    return {"resolution": res, "ultralow_below": low, "dead_coarser": dead_x, "ultralow_coarser": low_x,
            "dead_note": f"never fired on {n_tokens:,} activations: resolution {res:.1e}, {dead_x:,.0f}x the paper's "
                         f"1/{PAPER_DEAD_TOKENS:,}",
            "ultralow_note": f"density <= {low:.1e}: {low_x:,.0f}x the paper's bound {PAPER_ULTRALOW:.0e}"}


@torch.no_grad()
def mean_feature_acts(sae: SAE, acts: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Mean activation [n_features] of every feature on raw acts [n, d_mlp], chunk by chunk (never all of f)."""
    total = torch.zeros(sae.n_features, dtype=torch.float64, device=sae.W_enc.device)
    for i in range(0, len(acts), chunk):
        total += sae.encode(acts[i:i + chunk].to(sae.W_enc.device).float()).sum(0, dtype=torch.float64)
    return (total / max(len(acts), 1)).float()


@torch.no_grad()
def feature_acts(sae: SAE, acts: torch.Tensor, i: int, chunk: int = 8192) -> torch.Tensor:
    """Activations [n] of feature i on raw acts [n, d_mlp], chunk by chunk (the [n, n_features] matrix of a
    large held-out slice would take gigabytes)."""
    return torch.cat([sae.encode(acts[j:j + chunk].to(sae.W_enc.device).float())[:, i]
                      for j in range(0, len(acts), chunk)])


def history_at(hist: dict, step: int) -> dict:
    """The training history's logged figures (step, loss, mse, l0, dead) at the last log step <= step."""
    k = max((j for j, s in enumerate(hist["step"]) if s <= step), default=0)
    return {key: hist[key][k] for key in ("step", "loss", "mse", "l0", "dead")}


def side_entries(sweep: list[tuple[int, int, dict]], ablation: dict[str, dict]) -> dict:
    """Scorecard keys of the size sweep [(n_features, n_acts, stats)] and the resampling ablation {strategy: eval}."""
    out = {}
    for n, n_acts, e in sweep:
        out.update({f"sae.sweep.{n}.n_acts": n_acts, f"sae.sweep.{n}.l0": e["l0"], f"sae.sweep.{n}.fvu": e["fvu"],
                    f"sae.sweep.{n}.loss_recovered": e["loss_recovered"]})
    for s, e in ablation.items():
        out.update({f"sae.ablation.{s}.dead_frac": e["train_dead_frac"], f"sae.ablation.{s}.l0": e["l0"],
                    f"sae.ablation.{s}.loss_recovered": e["loss_recovered"]})
    return out


# Verdicts: one printed line that says, from a run's numbers, whether the paper's expectation holds here.
PAPER_L0_RANGE = (10, 20)                            # the paper's target: roughly 10–20 active features per token
PAPER_RESAMPLING_ORDER = ("paper", "reinit", "none")  # fewest to most dead features, in the paper


def l0_verdict(l0: float, target: tuple[float, float] = PAPER_L0_RANGE) -> str:
    """Where an L0 sits against the paper's target range, with the paper's reading of λ."""
    lo, hi = target
    if l0 > hi:
        return f"L0 {l0:.1f} is ABOVE the paper's {lo:g}–{hi:g} target (by the paper's reading, λ is too low)"
    if l0 < lo:
        return f"L0 {l0:.1f} is BELOW the paper's {lo:g}–{hi:g} target (λ may be too high)"
    return f"L0 {l0:.1f} is inside the paper's {lo:g}–{hi:g} target"


def size_verdict(by_size: dict[int, dict]) -> str:
    """Does MSE fall as the dictionary grows ({n_features: {"mse", "l0"}}, equal budget), and at what L0?"""
    ns = sorted(by_size)
    mse, l0 = [by_size[n]["mse"] for n in ns], [by_size[n]["l0"] for n in ns]
    line = (" -> ".join(f"{n:,}" for n in ns) + " features: MSE " + " -> ".join(f"{v:.4g}" for v in mse)
            + ", L0 " + " -> ".join(f"{v:.1f}" for v in l0))
    if len(ns) < 2:
        return line + ": one size only, nothing to compare"
    if not all(a > b for a, b in zip(mse, mse[1:])):
        return (line + ": MSE does NOT fall steadily with size here, unlike the paper's larger dictionaries; at "
                "this budget (a tiny fraction of the paper's 8B activations) this run does not reproduce that trend")
    if all(a < b for a, b in zip(l0, l0[1:])):
        return line + ": MSE falls with size, but L0 rises with it, so part of the gain is more active features"
    return line + ": bigger dictionaries reconstruct better without a steadily higher L0, as in the paper"


def resampling_verdict(dead: dict[str, float]) -> str:
    """The resampling ablation's dead fractions ({strategy: dead_frac}) against the paper's ordering."""
    p, r, n = (dead[s] for s in PAPER_RESAMPLING_ORDER)
    line = "fewest to most dead: " + " < ".join(f"{s} {dead[s]:.1%}" for s in sorted(PAPER_RESAMPLING_ORDER,
                                                                                        key=dead.__getitem__))
    if max(p, r, n) == 0:
        return line + ": no feature died under any strategy, so this ablation cannot show the paper's ordering"
    if p < r < n:
        return line + ": the paper's ordering (its resampling < random re-initialisation < none)"
    if p < min(r, n):
        return line + ": the paper's resampling leaves the fewest dead, as in the paper (re-init and none swap places)"
    return (line + ": NOT the paper's ordering (its resampling < random re-initialisation < none); "
            "this run does not reproduce it")
