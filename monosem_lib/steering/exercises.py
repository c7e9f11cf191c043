"""Checks for notebook 06's implement-and-check exercises: the student's steering and ablation hooks.

Each check runs the student's hook and the library's (`steer.clamp_hook`, `steer.ablate_hook`,
`steer.mean_ablate_hook`) on the same real MLP activations and through the LM, prints one line
("✓ ..." or "✗ what differs and what to fix") and raises AssertionError on a mismatch
(`monosem_lib.exercises.verdict`), so a broken shipped version fails under nbval.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..exercises import student_check, verdict
from ..lm.model import MlpHook, TinyLM
from ..sae.model import SAE
from . import steer as st


def _hook(maker: Callable[..., MlpHook], name: str, *args) -> MlpHook:
    """maker(*args), refusing anything that is not a hook (e.g. the stub's None)."""
    hook = maker(*args)
    if not callable(hook):
        verdict(False, "", f"{name}{args} returned {type(hook).__name__}, not a hook: return the inner function `hook`")
    return hook


def _apply(hook: MlpHook, x: torch.Tensor, name: str) -> torch.Tensor:
    """The hook's output on a copy of x, refusing a wrong type or shape."""
    out = hook(x.clone())
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        verdict(False, "", f"{name}'s hook returned {got}; it must return the new activations, shape {tuple(x.shape)}")
    return out


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def _close(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    return _diff(a, b) <= atol * max(1.0, b.abs().max().item())


@torch.no_grad()
def diagnose(out: torch.Tensor, x: torch.Tensor, sae: SAE, feature: int, value: float, atol: float = 1e-4) -> str:
    """The usual mistake behind a hook output `out` that should be x + (value − f_i(x))·d_i."""
    f = sae.encode(x)
    f_new = f.clone()
    f_new[..., feature] = value
    f_i, d_i = f[..., feature:feature + 1], st.decoder_direction(sae, feature)
    mistakes = [
        (x, "the hook returns x unchanged: set feature i to the new value"),
        (sae.decode(f_new), "you returned the reconstruction decode(f′) and lost the SAE's error term: return x − x̂ + decode(f′)"),
        (x + (value - f_i) * sae.W_dec[feature], "the direction is off by the SAE's input scale: d_i = W_dec[i] / sae.scale"),
        (x + value * d_i, "you added value·d_i without taking away f_i·d_i: the change is (value − f_i)·d_i"),
        (x - value * d_i, "you subtracted value·d_i: feature i must be *set* to value, x + (value − f_i)·d_i"),
    ]
    for wrong, why in mistakes:
        if _close(out, wrong, atol):
            return why
    return "compare with x + (value − f_i(x))·d_i, d_i = W_dec[i] / sae.scale"


def _compare(out: torch.Tensor, ref: torch.Tensor, x: torch.Tensor, sae: SAE, feature: int, value: float,
             call: str, lib: str, atol: float) -> float:
    """Max |out − ref|, or a failed verdict naming the call, the library hook and the likely mistake."""
    if not _close(out, ref, atol):
        verdict(False, "", f"{call} differs from {lib} by up to {_diff(out, ref):.2e}: {diagnose(out, x, sae, feature, value)}")
    return _diff(out, ref)


@student_check
@torch.no_grad()
def check_pin_feature(pin_feature: Callable[[int, float], MlpHook], lm: TinyLM, sae: SAE, tokens: torch.Tensor,
                      feature: int, values: tuple[float, ...] = (5.0, 0.0), atol: float = 1e-4) -> None:
    """pin_feature(i, value) -> hook must equal `steer.clamp_hook(sae, i, value)` on real activations and logits."""
    x = lm.mlp_acts(tokens)
    worst = 0.0
    for v in values:
        out = _apply(_hook(pin_feature, "pin_feature", feature, v), x, "pin_feature")
        worst = max(worst, _compare(out, st.clamp_hook(sae, feature, v)(x), x, sae, feature, v,
                                    f"pin_feature({feature}, {v:g})", "the library's clamp_hook", atol))
    mine = lm(tokens, mlp_hook=_hook(pin_feature, "pin_feature", feature, values[0]))
    lib = lm(tokens, mlp_hook=st.clamp_hook(sae, feature, values[0]))
    dl = _diff(mine, lib)
    verdict(_close(mine, lib, atol), f"pin_feature matches the library's clamp_hook (max diff {worst:.1e} on "
                   f"activations, {dl:.1e} on logits)", f"the logits differ from clamp_hook's by up to {dl:.2e}")


@student_check
@torch.no_grad()
def check_ablate_feature(ablate_feature: Callable[..., MlpHook], lm: TinyLM, sae: SAE, tokens: torch.Tensor,
                         feature: int, mean: float, atol: float = 1e-4) -> None:
    """ablate_feature(i) must equal `steer.ablate_hook` (f_i → 0) and ablate_feature(i, mean) must equal
    `steer.mean_ablate_hook` (f_i → mean), on real activations where feature i fires, and on the logits."""
    x = lm.mlp_acts(tokens)
    if not (st.feature_activation(sae, x, feature) > 0).any():
        raise ValueError(f"feature {feature} never fires on these tokens: check on tokens where it does")
    zero = _apply(_hook(ablate_feature, "ablate_feature", feature), x, "ablate_feature")
    worst = _compare(zero, st.ablate_hook(sae, feature)(x), x, sae, feature, 0.0,
                     f"ablate_feature({feature})", "the library's ablate_hook", atol)
    out = _apply(_hook(ablate_feature, "ablate_feature", feature, mean), x, "ablate_feature")
    ref = st.mean_ablate_hook(sae, feature, mean)(x)
    if mean != 0 and _close(out, zero, atol) and not _close(out, ref, atol):
        verdict(False, "", f"ablate_feature({feature}, mean={mean:.3g}) ignores `mean`: set f_i to the mean, not to 0")
    worst = max(worst, _compare(out, ref, x, sae, feature, mean, f"ablate_feature({feature}, mean={mean:.3g})",
                                "the library's mean_ablate_hook", atol))
    mine = lm(tokens, mlp_hook=_hook(ablate_feature, "ablate_feature", feature))
    lib = lm(tokens, mlp_hook=st.ablate_hook(sae, feature))
    dl = _diff(mine, lib)
    verdict(_close(mine, lib, atol), f"zero and mean ablation match the library (max diff {worst:.1e} on "
                   f"activations, {dl:.1e} on logits)", f"the logits differ from ablate_hook's by up to {dl:.2e}")
