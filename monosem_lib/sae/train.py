"""Train an SAE on MLP activations: Adam, batches read without replacement, resampling, checkpoints.

Resampling (`SAEConfig.resample`): `paper` (PAPER.md, 'Neuron resampling'), `none`, `reinit`
(dead features get a fresh random encoder/decoder row) or `2024` (the 2024 recipe, no resampling).
The paper resamples at steps 25k/50k/75k/100k of 1M with a 12.5k-step window; runs here are
~1,000x shorter, so the schedule is in fractions of the run: at `resample_at` (default 10/20/30/40%)
features that have not fired during the last `resample_window` of the run (default 5%, i.e. half
the interval, as in the paper) are resampled from a pool of `resample_pool` inputs.

Exact resume: batch k is fixed by the data stream, the resampling draws by (seed, step), and
weights, Adam moments and the fired-at table live in the checkpoint.

Data parallel under torchrun (`dist`, distributed.py): each rank gets its own slice of every global batch
(`store.iter_batches(part=...)`), gradients are averaged weighted by rows, firing counts summed, so every rank
sees the same dead features; resampling runs on rank 0 (its pool drawn as on one process) and the new
weights and Adam moments are broadcast; rank 0 writes checkpoints and the result. BatchTopK picks its top
k·B per rank slice (equal in expectation to one process, not bit for bit); the other recipes match one
process with the same global batch up to float rounding.
"""
from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from tqdm.auto import tqdm

from ..checkpoint import checkpoints, load_checkpoint, remove_leftovers, save_checkpoint
from ..config import SAEConfig, validate_stage
from ..distributed import (SINGLE, Dist, average_grads, barrier, broadcast_from_main, check_same, fingerprint,
                           mean_over_ranks, sum_over_ranks)
from ..io import CorruptFileError, load_json, save_json, save_tensors
from .model import REDO_SAE, SAE, TOPK_RECIPES, geometric_median, load_sae, sae_grads, sae_loss, save_sae
from .resampling import resample

SPARSE_BELOW = 0.08        # use the sparse path while the last step's density (L0 / n_features) is below this
NO_RESAMPLING = ("none", "2024", "topk", "batchtopk")   # recipes that never resample dead features
COUNT_LAST = 0.25          # feature firings are counted over this last fraction of the run (train_densities)

PoolFn = Callable[[int, int], torch.Tensor]          # (n, seed) -> n random training rows (store.sample)


def validate(cfg: SAEConfig) -> None:
    """One-line errors for settings that cannot train (the same rules as get_config's)."""
    validate_stage("sae", cfg)
    if cfg.n_acts < cfg.batch_size:
        raise ValueError(f"sae.n_acts={cfg.n_acts} must be at least one batch of sae.batch_size={cfg.batch_size}")


def schedule(cfg: SAEConfig) -> dict:
    """Steps of the run, resampling steps, dead window and log interval, all from cfg."""
    n_steps = cfg.n_acts // cfg.batch_size
    window = max(1, round(cfg.resample_window * n_steps))
    at = [] if cfg.resample in NO_RESAMPLING else sorted({round(a * n_steps) for a in cfg.resample_at})
    return {"n_steps": n_steps, "resample_steps": [s for s in at if window <= s < n_steps], "window": window,
            "log_every": max(1, n_steps // 250)}


def lr_l1_at(step: int, n_steps: int, cfg: SAEConfig) -> tuple[float, float]:
    """(lr, λ) at a step: constant (paper); 2024: λ warm-up over the first 5%, LR cool-down over the last 20%."""
    if cfg.resample in TOPK_RECIPES:          # sparsity is set by k: no penalty
        return cfg.lr, 0.0
    if cfg.resample != "2024":
        return cfg.lr, cfg.l1_coeff
    warm, cool = max(1, round(0.05 * n_steps)), max(1, round(0.2 * n_steps))
    lr = cfg.lr * min(1.0, (n_steps - step) / cool)
    return lr, cfg.l1_coeff * min(1.0, (step + 1) / warm)


def make_optimizer(sae: SAE, lr: float) -> torch.optim.Adam:
    """Adam(0.9, 0.999), no weight decay; the fused kernel where the device has one (same maths)."""
    fused = sae.W_enc.device.type in ("cpu", "cuda")
    return torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999), fused=fused)


@torch.no_grad()
def init_sae(d_mlp: int, cfg: SAEConfig, sample: torch.Tensor) -> SAE:
    """A fresh SAE: input scale so that E‖x‖² = d_mlp (2024 recipe, or cfg.normalize), b_dec = geometric median."""
    recipe = cfg.resample if cfg.resample in ("2024",) + TOPK_RECIPES else "paper"
    sae = SAE(d_mlp, cfg.n_features, recipe, seed=cfg.seed, k=cfg.k).to(sample.device)
    if sae.recipe == "2024" or cfg.normalize:
        sae.scale.fill_((d_mlp / sample.pow(2).sum(1).mean().clamp_min(1e-12)).sqrt())
    sae.b_dec.copy_(geometric_median(sample * sae.scale))
    return sae


def train_step(sae: SAE, opt: torch.optim.Optimizer, x: torch.Tensor, l1_coeff: float, mode: str = "auto",
               density: float = 1.0, dead: torch.Tensor | None = None, aux: tuple[float, int] = (0.0, 0),
               dist: Dist = SINGLE) -> dict:
    """One Adam step on batch x (scaled space): gradients, decoder-gradient projection, step, renorm.

    mode 'auto' takes the sparse path when the previous step's density was below SPARSE_BELOW;
    'reference' is plain autograd. A non-finite loss skips the update and returns ok=False.
    TopK recipes: `aux` = (coefficient, k_aux) of the AuxK loss on the `dead` features (bool [n]);
    batchtopk: out['kept_min'] is the batch's smallest kept activation (θ is set from it by train_sae).
    `dist`: x is this rank's slice; gradients are averaged over ranks before the projection and the step.
    """
    if mode == "reference":
        opt.zero_grad(set_to_none=True)
        loss, mse, f = sae_loss(sae, x, l1_coeff)
        loss.backward()
        active = f.detach() > 0
        out = {"loss": loss.detach(), "mse": mse.detach(), "l0": active.sum(1).float().mean(),
               "counts": active.sum(0), "density": 1.0}
    else:
        out = sae_grads(sae, x, l1_coeff, sparse=mode == "auto" and density < SPARSE_BELOW)
    if sae.arch.k and aux[0] > 0 and dead is not None and bool(dead.any()):
        residual = (x - sae.decode_scaled(sae.activate(sae.pre_acts(x), train_batch=True))).detach() \
            if mode == "reference" else out["residual"].mul(-0.5 * out["residual"].numel())
        out["aux"] = auxk_loss_backward(sae, x, residual, dead, *aux)
        out["loss"] = out["loss"] + out["aux"]
    if dist.enabled:
        average_grads(list(sae.parameters()), len(x), dist)
        out["loss"], out["mse"], out["l0"] = mean_over_ranks(torch.stack([out["loss"].detach(), out["mse"].detach(),
                                                                          out["l0"].float()]), len(x), dist)
        out["counts"] = sum_over_ranks(out["counts"].clone(), dist)
        if out.get("kept_min") is not None:
            out["kept_min"] = mean_over_ranks(out["kept_min"].detach().reshape(1), 1, dist)[0]
    out["ok"] = math.isfinite(out["loss"].item())
    if out["ok"]:
        sae.project_decoder_grad()
        if sae.recipe == "2024":
            torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        opt.step()
        sae.normalize_decoder()
    return out


def auxk_loss_backward(sae: SAE, x: torch.Tensor, residual: torch.Tensor, dead: torch.Tensor, coeff: float,
                       k_aux: int) -> torch.Tensor:
    """AuxK (Gao et al. 2024): the top-k_aux *dead* features reconstruct the main reconstruction's residual.

    Adds coeff · MSE(residual, their reconstruction) to the parameters' gradients (autograd over the dead
    rows only: few of them, so this costs little) and returns that loss term.
    """
    idx = dead.nonzero().squeeze(1)
    with torch.enable_grad():
        x_bar = x - sae.b_dec if sae.unit_decoder else x
        pre = torch.addmm(sae.b_enc[idx], x_bar, sae.W_enc[idx].T)
        vals, top = pre.topk(min(k_aux, len(idx)), dim=1)
        f = torch.zeros_like(pre).scatter(1, top, vals.relu())
        loss = coeff * (f @ sae.W_dec[idx] - residual).pow(2).mean()
        loss.backward()
    return loss.detach()


def _save_ckpt(folder: Path, step: int, sae: SAE, opt: torch.optim.Optimizer, last_fired: torch.Tensor,
               fire_count: torch.Tensor, meta: dict) -> None:
    """Weights, Adam state keyed by parameter name, and the fired-at table (see checkpoint.py)."""
    save_checkpoint(folder, step, sae, opt, {**meta, "arch": vars(sae.arch)},
                    extra={"last_fired": last_fired, "fire_count": fire_count})


def _load_ckpt(folder: Path, sae: SAE, opt: torch.optim.Optimizer, last_fired: torch.Tensor,
               fire_count: torch.Tensor) -> dict | None:
    """Restore the newest checkpoint (refusing one of a differently shaped SAE); None if there is none."""
    ckpts = checkpoints(folder)
    if ckpts:
        try:
            arch = load_json(ckpts[-1].with_suffix(".json")).get("arch")
        except (FileNotFoundError, ValueError, CorruptFileError):
            arch = None  # damaged: load_checkpoint below says which file and what to do
        if arch is not None and arch != vars(sae.arch):
            raise ValueError(f"{folder} holds a checkpoint of another SAE ({arch}); delete it or use another")
    restored = load_checkpoint(folder, sae, opt, device=str(last_fired.device))
    if restored is None:
        return None
    meta, extra = restored
    last_fired.copy_(extra["last_fired"])
    fire_count.copy_(extra["fire_count"])
    return meta


def _stream(batches: Iterable[torch.Tensor] | Callable[[int], Iterable[torch.Tensor]], start: int
            ) -> Iterator[torch.Tensor]:
    """The data from batch `start` on: a callable is given `start` (store.iter_batches(start_batch=...)),
    an iterable is skipped ahead."""
    if callable(batches):
        return iter(batches(start))
    return itertools.islice(iter(batches), start, None)


def train_sae(folder: str | Path, batches, d_mlp: int, cfg: SAEConfig, init_sample: torch.Tensor,
              pool_fn: PoolFn | None = None, mode: str = "auto", ckpt_every: int | None = None,
              stop_after: int | None = None, desc: str = "SAE",
              on_step: Callable[[int], None] | None = None, dist: Dist = SINGLE,
              data_id: str = "") -> tuple[SAE, dict]:
    """Train (or resume, or load if finished) one SAE into `folder`; returns (sae, history).

    batches: float32 [B, d_mlp] raw activations, an iterable or a callable start_batch -> iterable.
    init_sample: rows for b_dec's geometric median (and the 2024 scale). pool_fn(n, seed): random rows
    for resampling; without it the pool is the batches just before each resampling step.
    mode: 'auto' (sparse path once L0 is small), 'dense' (same manual gradients, dense matmuls) or
    'reference' (plain autograd; the benchmark's baseline). `stop_after` stops as if killed (tests).
    `on_step(k)` is called after each step (progress from a worker process; the bar is then off).
    `dist`: this rank under torchrun; `batches` then yield this rank's slice of each global batch, and
    `data_id` names the data (ranks with another config or data refuse to start).
    """
    validate(cfg)
    if mode not in ("auto", "dense", "reference"):
        raise ValueError(f"mode={mode!r} must be 'auto', 'dense' or 'reference'")
    if dist.enabled and pool_fn is None:
        raise ValueError("data-parallel SAE training needs pool_fn (rank 0 draws the resampling pool from the store)")
    check_same("SAE config or activation store", fingerprint(vars(cfg), d_mlp, mode, data_id), dist)
    folder = Path(folder)
    if dist.is_main:
        remove_leftovers(folder)
    barrier(dist)
    # finished = history *and* both weight files: a deleted one is rebuilt from the last checkpoint
    if all((folder / f).exists() for f in ("history.json", "sae.safetensors", "feature_counts.safetensors", "config.json")):
        return load_sae(folder, str(init_sample.device)), load_json(folder / "history.json", advice=REDO_SAE)
    sched = schedule(cfg)
    n_steps, window = sched["n_steps"], sched["window"]
    aux_window = max(1, -(-cfg.aux_dead_acts // cfg.batch_size))        # steps without firing = dead, for AuxK
    ckpt_every = ckpt_every or max(100, n_steps // 4)
    sae = init_sae(d_mlp, cfg, init_sample)
    opt = make_optimizer(sae, cfg.lr)
    last_fired = torch.full((cfg.n_features,), -1, dtype=torch.long, device=init_sample.device)
    fire_count = torch.zeros(cfg.n_features, dtype=torch.long, device=init_sample.device)
    count_from = n_steps - max(1, round(COUNT_LAST * n_steps))    # firings counted over the last quarter
    hist = {"step": [], "loss": [], "mse": [], "l0": [], "dead": [], "lr": [], "l1_coeff": [], "resample": [],
            "train_s": 0.0, "n_steps": n_steps, "window": window, "resample_steps": sched["resample_steps"]}
    meta = _load_ckpt(folder, sae, opt, last_fired, fire_count) or {"step": -1, "history": hist, "density": 1.0}
    start, hist, density = meta["step"] + 1, meta["history"], meta["density"]
    pool_rows = min(cfg.resample_pool, n_steps * cfg.batch_size)
    pool_steps = -(-pool_rows // cfg.batch_size)   # without pool_fn: the batches of the steps s-pool_steps+1 .. s
    pending = [s for s in sched["resample_steps"] if s >= start]
    in_pool = lambda k: pool_fn is None and any(0 <= s - k < pool_steps for s in pending)  # noqa: E731
    replay = next((k for k in range(max(0, start - pool_steps), start) if in_pool(k)), start)
    data = _stream(batches, replay)                 # on resume, re-read the pool batches seen before the stop
    pool_batches = [next(data).to(init_sample.device, torch.float32) * sae.scale for _ in range(replay, start)]
    acc = torch.zeros(3, dtype=torch.float64)     # loss, mse, l0 summed since the last log line
    n_acc, t0, last_ok = 0, time.perf_counter(), (checkpoints(folder)[-1].name if checkpoints(folder) else None)
    bar = tqdm(range(start, n_steps), desc=desc, initial=start, total=n_steps, mininterval=1.0,
               disable=on_step is not None)
    for step in bar:
        x = next(data, None)
        if x is None:
            raise ValueError(f"the activation stream ended at batch {step} but sae.n_acts={cfg.n_acts:,} needs "
                             f"{n_steps} batches of {cfg.batch_size}; harvest more rows or lower sae.n_acts")
        x = x.to(init_sample.device, torch.float32) * sae.scale
        if in_pool(step):
            pool_batches.append(x.clone())
        lr, l1 = lr_l1_at(step, n_steps, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        dead_now = (step - last_fired) >= aux_window if sae.arch.k else None    # AuxK's dead features
        out = train_step(sae, opt, x, l1, mode, density, dead_now, (cfg.aux_coeff, cfg.aux_k), dist)
        density = out["density"]
        if sae.recipe == "batchtopk" and out["ok"] and out.get("kept_min") is not None:
            n_mean = step - count_from + 1        # θ = mean of the batches' smallest kept value over the last
            with torch.no_grad():                 # quarter (Bussmann et al.); before that, the latest batch's
                t = sae.threshold
                t.copy_(out["kept_min"] if n_mean <= 1 else t + (out["kept_min"] - t) / n_mean)
        if not out["ok"]:
            bar.close()
            kept = f"the last good checkpoint {last_ok} is kept" if last_ok else "no checkpoint was written yet"
            raise FloatingPointError(f"SAE loss became {out['loss'].item()} at step {step}; {kept}; "
                                     f"lower sae.lr (now {cfg.lr}) or sae.l1_coeff (now {cfg.l1_coeff})")
        last_fired[out["counts"] > 0] = step
        if step >= count_from:
            fire_count += out["counts"]
        acc += torch.stack([out["loss"], out["mse"], out["l0"]]).double()
        n_acc += 1
        if step in sched["resample_steps"]:
            dead = (step - last_fired) >= window
            pool = (None if not dist.is_main else
                    pool_fn(pool_rows, cfg.seed * 1_000_003 + step).to(x.device) * sae.scale if pool_fn is not None
                    else torch.cat(pool_batches)[-pool_rows:])
            n = resample(sae, opt, dead, pool, l1, cfg.resample, seed=cfg.seed * 1_000_003 + step) \
                if dist.is_main else 0
            if dist.enabled:          # rank 0 decided: every rank takes its weights and Adam moments
                broadcast_from_main(resampled_state(sae, opt), dist)
            last_fired[dead] = step
            pool_batches = []
            hist["resample"].append({"step": step, "n_resampled": n})
        if (step + 1) % sched["log_every"] == 0 or step == n_steps - 1:
            loss_m, mse_m, l0_m = (acc / n_acc).tolist()
            n_dead = int(((step - last_fired) >= min(window, step + 1)).sum())
            for key, val in zip(("step", "loss", "mse", "l0", "dead", "lr", "l1_coeff"),
                                (step, loss_m, mse_m, l0_m, n_dead, lr, l1)):
                hist[key].append(round(val, 6) if isinstance(val, float) else val)
            acc.zero_()
            n_acc = 0
            bar.set_postfix(loss=f"{loss_m:.4g}", L0=f"{l0_m:.1f}", dead=n_dead, refresh=False)
        if (step + 1) % ckpt_every == 0 or step == n_steps - 1 or step == stop_after:
            hist["train_s"] += time.perf_counter() - t0
            if not all(torch.isfinite(p).all() for p in sae.parameters()):
                bar.close()
                raise FloatingPointError(f"SAE weights became non-finite at step {step}; the last good checkpoint "
                                         f"{last_ok} is kept; lower sae.lr (now {cfg.lr})")
            if dist.is_main:
                _save_ckpt(folder, step, sae, opt, last_fired, fire_count, {"history": hist, "density": density})
            barrier(dist)
            last_ok, t0 = checkpoints(folder)[-1].name, time.perf_counter()
        if on_step is not None:
            on_step(step)
        if step == stop_after:
            bar.close()
            return sae, hist
    bar.close()
    hist["acts_per_s"] = n_steps * cfg.batch_size / max(hist["train_s"], 1e-9)
    hist["count_acts"] = (n_steps - count_from) * cfg.batch_size
    if dist.is_main:
        save_tensors(folder / "feature_counts.safetensors", {"counts": fire_count})
        save_sae(sae.eval(), folder, extra={"train": vars(cfg)})
        save_json(folder / "history.json", hist)
    barrier(dist)
    return sae.eval(), hist


def resampled_state(sae: SAE, opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    """What resampling may change: the parameters and their Adam moments (broadcast from rank 0)."""
    out = [p.data for p in sae.parameters()]
    for p in sae.parameters():
        out += [opt.state[p][k] for k in ("exp_avg", "exp_avg_sq") if k in opt.state.get(p, {})]
    return out
