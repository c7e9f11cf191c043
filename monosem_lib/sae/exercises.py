"""Checks for notebook 03's implement-and-check exercises: the student's function against the library.

Each `check_*` runs the student's version and the library's from identical starting state, prints
"✓ ..." or raises AssertionError("✗ <what differs and what to fix>"), so that nbval catches a broken
shipped solution. `check_target` (shared, re-exported) compares an end-of-notebook result with a figure
of the run's scorecard.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch

from ..config import SAEConfig
from ..exercises import check_target, student_check, verdict
from .metrics import mean_feature_acts
from .grads import sae_grads, sae_loss
from .model import SAE
from .resampling import resample
from .step import init_sae, make_optimizer, train_step
from .train import schedule

MOMENTS = ("exp_avg", "exp_avg_sq")
RESET = ("W_enc", "W_dec", "b_enc")          # the parameters whose dead rows resampling re-initialises
__all__ = ["check_resample", "check_target", "check_top_feature", "check_train_step", "exercise_run"]


def _verdict(problems: list[str], ok: str) -> bool:
    """✓ ok, or AssertionError('✗ ' + the problems joined): one line either way."""
    return verdict(not problems, ok, "; ".join(problems))


def clone_state(sae: SAE, opt: torch.optim.Optimizer) -> tuple[SAE, torch.optim.Optimizer]:
    """An independent copy of an SAE, its last gradients and its Adam state, as mid-training.

    (deepcopy drops .grad, and load_state_dict alone would share the moment tensors with `opt`.)
    """
    twin = copy.deepcopy(sae)
    for p, q in zip(sae.parameters(), twin.parameters()):
        q.grad = None if p.grad is None else p.grad.detach().clone()
    twin_opt = make_optimizer(twin, opt.param_groups[0]["lr"])
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    return twin, twin_opt


def warmed_up(sae: SAE, x: torch.Tensor, l1_coeff: float, lr: float, steps: int = 3
              ) -> tuple[SAE, torch.optim.Optimizer, dict]:
    """A copy of `sae` after `steps` library steps on chunks of x (Adam moments non-zero, as mid-training)."""
    sae = copy.deepcopy(sae).train()
    opt = make_optimizer(sae, lr)
    out = {"density": 1.0}
    fired = torch.zeros(sae.n_features, dtype=torch.long, device=x.device)
    for chunk in x.chunk(steps):
        out = train_step(sae, opt, chunk, l1_coeff, density=out["density"])
        fired += out["counts"]
    return sae, opt, {"density": out["density"], "fired": fired}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach() - b.detach()).abs().max().item() if a.numel() else 0.0


def _step_without_projection(sae: SAE, opt: torch.optim.Optimizer, x: torch.Tensor, l1_coeff: float) -> None:
    """The library's step with the decoder-gradient projection left out (to recognise that mistake)."""
    sae_grads(sae, x, l1_coeff, sparse=False)
    opt.step()
    sae.recipe.constrain_weights(sae)


@student_check
def check_train_step(fn: Callable, sae: SAE, x: torch.Tensor, l1_coeff: float, lr: float, warmup: int = 3) -> bool:
    """fn(sae, opt, x, l1_coeff) must do one training step exactly as the library's `train_step`.

    x: scaled inputs [B, d_mlp]; the first part warms up Adam (library steps), the last chunk is the
    batch of the step compared. Weights after the step must agree within float tolerance.
    """
    chunks = x.chunk(warmup + 1)
    start, opt0, info = warmed_up(sae, torch.cat(chunks[:-1]), l1_coeff, lr, warmup)
    batch = chunks[-1]
    lib, lib_opt = clone_state(start, opt0)
    train_step(lib, lib_opt, batch, l1_coeff, density=info["density"])
    mine, mine_opt = clone_state(start, opt0)
    fn(mine, mine_opt, batch, l1_coeff)
    tol = max(1e-6, 1e-3 * lr)                # a step moves weights by ~lr; float error is ~1e-8
    diffs = {n: _max_diff(p, q) for (n, p), q in zip(mine.named_parameters(), lib.parameters())}
    problems = []
    if max(_max_diff(p, q) for p, q in zip(mine.parameters(), start.parameters())) <= tol:
        return _verdict(["your step left the weights unchanged: call opt.step() after computing the gradients"], "")
    if diffs["W_dec"] > tol:
        norms = mine.W_dec.detach().norm(dim=1, keepdim=True)
        off = _max_diff(norms, torch.ones_like(norms))
        no_proj, no_proj_opt = clone_state(start, opt0)
        _step_without_projection(no_proj, no_proj_opt, batch, l1_coeff)
        if _max_diff(mine.W_dec / norms, no_proj.W_dec) <= tol:
            problems.append(f"W_dec differs by {diffs['W_dec']:.1e}: the component of each decoder row's gradient "
                            "parallel to the row was not removed before opt.step() (the projection)")
        elif _max_diff(mine.W_dec / norms, lib.W_dec) > tol:
            problems.append(f"W_dec differs by {diffs['W_dec']:.1e}: project the gradient, step, then renormalise")
        if off > tol:
            problems.append(f"decoder rows are off unit norm after your step (max |‖W_dec,i‖ − 1| = {off:.1e}): "
                            "renormalise them after opt.step()")
    for name in ("W_enc", "b_enc", "b_dec"):
        if diffs[name] > tol:
            problems.append(f"{name} differs by {diffs[name]:.1e}: zero the old gradients, then backpropagate "
                            "the SAE loss of this batch (reference_sae_loss or sae_loss)")
    return _verdict(problems, f"matches the library's train_step (max diff {max(diffs.values()):.1e}, "
                              f"tolerance {tol:.0e})")


def _moments(opt: torch.optim.Optimizer, sae: SAE) -> dict[tuple[str, str], torch.Tensor]:
    return {(n, m): opt.state[p][m].clone() for n, p in sae.named_parameters() for m in MOMENTS
            if m in opt.state.get(p, {})}


@student_check
def check_resample(fn: Callable, sae: SAE, pool: torch.Tensor, l1_coeff: float, lr: float, seed: int = 0,
                   n_dead: int = 3) -> bool:
    """fn(sae, opt, dead, pool, l1_coeff, seed) must apply the paper's resampling rule like `resample`.

    The SAE first takes a few library steps on part of the pool, and the features marked dead are ones
    that fired then, so their Adam moments are non-zero and a missing reset shows. Every step of the rule
    is compared: decoder rows, encoder rows, encoder bias, Adam moments, and that alive features are untouched.
    """
    start, opt0, info = warmed_up(sae, pool[: len(pool) // 2], l1_coeff, lr)
    dead = torch.zeros(start.n_features, dtype=torch.bool, device=pool.device)
    dead[info["fired"].argsort(descending=True)[:n_dead]] = True
    lib, lib_opt = clone_state(start, opt0)
    resample(lib, lib_opt, dead, pool, l1_coeff, "paper", seed=seed)
    mine, mine_opt = clone_state(start, opt0)
    fn(mine, mine_opt, dead, pool, l1_coeff, seed)
    P, L, S = dict(start.named_parameters()), dict(lib.named_parameters()), dict(mine.named_parameters())
    tol, problems = 1e-5, []
    for n in P:
        rows = ~dead if n in RESET else slice(None)
        if _max_diff(S[n][rows], P[n][rows]) > 0:
            problems.append(f"{n} of alive features changed: only the dead rows are re-initialised")
    d = S["W_dec"][dead].detach()
    if _max_diff(d, L["W_dec"][dead]) > tol:
        dirs = pool / pool.norm(dim=1, keepdim=True).clamp_min(1e-8)
        if _max_diff(d.norm(dim=1), torch.ones(n_dead, device=d.device)) > tol:
            problems.append("decoder rows of the dead features are not at unit norm: W_dec[dead] ← input / ‖input‖")
        elif bool(((dirs @ d.T).max(0).values > 1 - tol).all()):
            problems.append("you picked other pool inputs than the library: torch.multinomial(loss.double() ** 2, "
                            "n_dead, generator=torch.Generator().manual_seed(seed)), without replacement")
        else:
            problems.append("decoder rows of the dead features are not pool inputs (step 3-4)")
    want = 0.2 * P["W_enc"][~dead].norm(dim=1).mean() * d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if _max_diff(S["W_enc"][dead], want) > tol:       # step 4 on its own terms: along *your* new decoder rows
        problems.append(f"encoder rows of the dead features: expected norm {want.norm(dim=1).mean():.3g} (0.2 × mean "
                        f"‖W_enc‖ of the alive features, before resampling) along the new decoder row, got norm "
                        f"{S['W_enc'][dead].norm(dim=1).mean():.3g}" + ("" if _max_diff(S["W_enc"][dead].norm(dim=1),
                        want.norm(dim=1)) > tol else " but another direction"))
    if _max_diff(S["b_enc"][dead], torch.zeros(n_dead, device=pool.device)) > 0:
        what = "left as they were" if _max_diff(S["b_enc"][dead], P["b_enc"][dead]) == 0 else "not 0"
        problems.append(f"the encoder biases of the resampled features are {what}: reset b_enc[dead] = 0 (step 4)")
    before, lib_m, mine_m = _moments(opt0, start), _moments(lib_opt, lib), _moments(mine_opt, mine)
    gone = [f"{n}.{m}" for (n, m) in before if (n, m) not in mine_m]
    if gone:
        problems.append(f"Adam state deleted ({', '.join(gone)}): zero the dead rows of the moments instead")
    kept = [f"{n}.{m}" for (n, m) in before if n in RESET and (n, m) in mine_m and bool((mine_m[n, m][dead] != 0).any())]
    if kept:
        problems.append(f"Adam moments not reset at the dead rows ({', '.join(kept)}): zero exp_avg and exp_avg_sq "
                        "of W_enc, W_dec and b_enc there (step 5)")
    if any(_max_diff(mine_m[k][~dead if k[0] in RESET else slice(None)],
                     lib_m[k][~dead if k[0] in RESET else slice(None)]) > 0 for k in before if k in mine_m):
        problems.append("Adam moments of alive features changed: reset only the dead rows")
    diff = max(_max_diff(S[n], L[n]) for n in P)
    return _verdict(problems, f"matches the library's resample on {n_dead} dead features (max diff {diff:.1e})")


def check_top_feature(i: int | None, sae: SAE, acts: torch.Tensor) -> bool | None:
    """Is feature i the one with the largest mean activation on raw acts? (computed only once i is given)"""
    if i is None:
        print("… not attempted yet: the feature with the largest mean activation on the held-out slice")
        return None
    mean_acts = mean_feature_acts(sae, acts)
    best = int(mean_acts.argmax())
    return _verdict([] if int(i) == best else [f"feature {i} has mean {mean_acts[int(i)]:.4g}; feature {best} "
                                               f"has the largest, {mean_acts[best]:.4g}"],
                    f"feature {best} has the largest mean activation ({mean_acts[best]:.4g})")


@torch.no_grad()
def _measure(sae: SAE, x: torch.Tensor, l1_coeff: float) -> tuple[float, float, torch.Tensor]:
    """The loss and L0 of batch x (scaled) before a step, and which features fire on it (as the trainer logs them)."""
    loss, _, f = sae_loss(sae, x, l1_coeff)
    active = f > 0
    return loss.item(), active.sum(1).float().mean().item(), active.any(0)


def exercise_run(step: Callable, resample_fn: Callable, store, cfg: SAEConfig, device: str = "cpu",
                 steps: int | None = None) -> dict:
    """A small real run made of the student's pieces: an SAE of `cfg` trained by `step(sae, opt, x, l1_coeff)`,
    its dead features revived by `resample_fn(sae, opt, dead, pool, l1_coeff, seed)` at the trainer's resampling
    steps, on the batches, initialisation and pools `train_sae_on_store` uses for `cfg`: with correct pieces the
    history (step, loss, l0, dead, resample) follows the library's run of the same settings. `steps`: stop early."""
    sched = schedule(cfg)
    sae = init_sae(store.d_mlp, cfg, store.sample(min(16_384, store.n_rows), seed=cfg.seed, device=device))
    opt, last = make_optimizer(sae, cfg.lr), torch.full((cfg.n_features,), -1, dtype=torch.long, device=device)
    hist = {"step": [], "loss": [], "l0": [], "dead": [], "resample": []}
    batches = store.iter_batches(cfg.batch_size, seed=cfg.seed, epochs=-(-cfg.n_acts // store.n_rows), device=device)
    for k, x in zip(range(min(steps or sched["n_steps"], sched["n_steps"])), batches):
        x = x * sae.scale
        loss, l0, fired = _measure(sae, x, cfg.l1_coeff)
        step(sae, opt, x, cfg.l1_coeff)
        last[fired] = k
        if k in sched["resample_steps"]:
            dead, seed = (k - last) >= sched["window"], cfg.seed * 1_000_003 + k
            pool = store.sample(sched["pool_rows"], seed=seed, device=device) * sae.scale
            n = int(resample_fn(sae, opt, dead, pool, cfg.l1_coeff, seed)) if dead.any() else 0
            hist["resample"].append({"step": k, "n_resampled": n})
            last[dead] = k
        n_dead = int(((k - last) >= min(sched["window"], k + 1)).sum())
        for key, val in zip(("step", "loss", "l0", "dead"), (k, loss, l0, n_dead)):
            hist[key].append(val)
    return hist
