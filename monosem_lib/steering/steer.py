"""Causal checks of SAE features (Bricken et al. 2023, "Causal checks"): ablation and pinned sampling.

Both act through the LM's one MLP hook and keep the SAE's reconstruction error, so that only
feature i changes:  x ← x + (v − f_i(x))·d_i,  with d_i = W_dec[i] in raw activation units.
v = 0 is the paper's ablation (x ← x − f_i(x)·d_i); v = k × max_i is pinned sampling.
Steering many categories at once: `pinned` (one pin per batch row), `sweep` (the dose sweep), `shares`
(how much of a sample is of a category), `controls` (the rule and the matched random control).
"""
from __future__ import annotations

import html
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from ..lm.model import MlpHook, TinyLM
from ..sae.model import SAE
from ..text.tokenizer import encode, token_strings
from ..interpret.browse import has_widget_frontend  # noqa: F401  (re-exported: notebook 06 calls st.has_widget_frontend)

# ---------------------------------------------------------------- validation (one-line errors)

def check_feature(sae: SAE, feature: int) -> int:
    """The feature index, or a one-line error when it is not one of the SAE's features."""
    if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)) or not 0 <= feature < sae.n_features:
        raise ValueError(f"unknown feature {feature!r}: the SAE has features 0..{sae.n_features - 1}")
    return int(feature)


def check_strength(strength: float) -> float:
    """A finite float, or a one-line error (NaN/inf would poison every logit)."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be a number, got {strength!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"strength must be finite, got {strength!r}")
    return value


def check_prompt(tok: Tokenizer, prompt: str, n_ctx: int) -> torch.Tensor:
    """Prompt text -> token ids [T], refusing an empty prompt or one longer than the LM's context."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt is empty; give at least one character of text, e.g. 'The '")
    ids = encode(tok, prompt)
    if len(ids) > n_ctx:
        raise ValueError(f"prompt is {len(ids)} tokens, longer than the LM's context of {n_ctx}; shorten it")
    return ids


def check_category(category: str, known: Sequence[str]) -> str:
    """The category name, or a one-line error listing the known ones."""
    if category not in known:
        raise ValueError(f"unknown category {category!r}; known categories: {', '.join(known)}")
    return category


# ---------------------------------------------------------------- hooks

def decoder_direction(sae: SAE, feature: int) -> torch.Tensor:
    """d_i in raw MLP-activation units: decode(f + e_i) − decode(f) = W_dec[i] / scale."""
    return sae.W_dec[check_feature(sae, feature)] / sae.scale


def feature_activation(sae: SAE, x: torch.Tensor, feature: int) -> torch.Tensor:
    """f_i(x) [..., 1] alone: one row of W_enc instead of the whole encoder (= sae.encode(x)[..., i:i+1])."""
    return sae.encode_features(x, check_feature(sae, feature))[..., None]


def clamp_hook(sae: SAE, feature: int, value: float | None) -> MlpHook:
    """MLP hook that sets feature i to `value` at every token, keeping the reconstruction error:
    x ← x − x̂ + decode(f with f_i := value) = x + (value − f_i(x))·d_i. `value=None` keeps f_i (a no-op)."""
    i = check_feature(sae, feature)
    v = None if value is None else check_strength(value)
    d_i = decoder_direction(sae, i)

    def hook(x: torch.Tensor) -> torch.Tensor:
        f_i = feature_activation(sae, x, i)
        return x + ((f_i if v is None else v) - f_i) * d_i
    return hook


def ablate_hook(sae: SAE, feature: int) -> MlpHook:
    """The paper's ablation: x ← x − f_i(x)·d_i (clamping to 0)."""
    return clamp_hook(sae, feature, 0.0)


def mean_ablate_hook(sae: SAE, feature: int, mean: float) -> MlpHook:
    """Mean ablation: x ← x + (f̄_i − f_i(x))·d_i, feature i held at its mean activation f̄_i over
    some data (it removes what the feature says about this token, not its average contribution)."""
    return clamp_hook(sae, feature, mean)


# ---------------------------------------------------------------- ablation effect per token

@torch.no_grad()
def loglik_change(lm: TinyLM, tokens: torch.Tensor, hook: MlpHook) -> torch.Tensor:
    """Δ log p(token t | tokens < t) [T−1] under `hook` minus the clean model (for tokens 1..T−1)."""
    if tokens.dim() != 1 or len(tokens) < 2:
        raise ValueError("loglik_change needs a 1-d sequence of at least 2 tokens")
    lp = lambda h: F.log_softmax(lm(tokens[None], mlp_hook=h)[0, :-1], -1).gather(1, tokens[1:, None])[:, 0]  # noqa: E731
    return lp(hook) - lp(None)


def effect_html(tok: Tokenizer, tokens: torch.Tensor, delta: torch.Tensor, acts: torch.Tensor | None = None,
                scale: float | None = None) -> str:
    """Tokens as HTML (escaped) on a colour scale: blue where ablating the feature lowered the
    log-likelihood of that token (the feature helped predict it), red where it raised it (it hurt).
    `acts` (the feature's activation at each token) goes into underline weight and hover text."""
    strings = token_strings(tok)
    delta = delta.detach().cpu().float().numpy()
    scale = scale or float(np.abs(delta).max()) or 1.0
    spans = [f'<span title="first token (no prediction)">{html.escape(_visible(strings[int(tokens[0])]))}</span>']
    for t in range(1, len(tokens)):
        d = float(delta[t - 1])
        a = min(abs(d) / scale, 1.0)
        rgb = "33,102,172" if d < 0 else "178,24,43"
        title = f"Δ log p = {d:+.3f}" + (f"; feature act at previous token {float(acts[t - 1]):.2f}" if acts is not None else "")
        under = ("border-bottom:2px solid #444;" if acts is not None and float(acts[t - 1]) > 0 else "")
        spans.append(f'<span style="background:rgba({rgb},{a:.2f});{under}" title="{html.escape(title)}">'
                     f"{html.escape(_visible(strings[int(tokens[t])]))}</span>")
    return ('<div style="font-family:monospace;line-height:1.9;white-space:pre-wrap">' + "".join(spans) + "</div>"
            '<div style="font-size:smaller">blue: ablation lowers log p (feature helped) · red: raises it (hurt) · '
            "underlined: token predicted from a position where the feature was active</div>")


def _visible(s: str) -> str:
    return s.replace("\n", "⏎\n").replace("\t", "⇥")


# ---------------------------------------------------------------- sampling

@torch.no_grad()
def sample_batch(lm: TinyLM, prompt: torch.Tensor, n_samples: int, n_new: int, temperature: float = 1.0,
                 top_k: int | None = 40, seed: int = 0, mlp_hook: MlpHook | None = None) -> torch.Tensor:
    """`n_samples` continuations [n_samples, n_new] of one prompt [T], sampled side by side (one
    forward pass per new token for the whole batch; the window slides past n_ctx)."""
    gen = torch.Generator(device=prompt.device).manual_seed(seed)
    seq = prompt[None].repeat(n_samples, 1)
    for _ in range(n_new):
        logits = lm(seq[:, -lm.cfg.n_ctx:], mlp_hook=mlp_hook)[:, -1] / max(temperature, 1e-6)
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        seq = torch.cat([seq, torch.multinomial(F.softmax(logits, -1), 1, generator=gen)], 1)
    return seq[:, len(prompt):]


def sample_prompts(lm: TinyLM, tok: Tokenizer, prompts: Sequence[str], n_samples: int, n_new: int,
                   mlp_hook: MlpHook | None = None, seed: int = 0, **kw) -> list[torch.Tensor]:
    """One [n_samples, n_new] block of continuations per prompt (validated), same seeds for any hook."""
    return [sample_batch(lm, check_prompt(tok, p, lm.cfg.n_ctx), n_samples, n_new, seed=seed + j, mlp_hook=mlp_hook, **kw)
            for j, p in enumerate(prompts)]


def distinct_ratio(samples: list[torch.Tensor]) -> float:
    """Mean over samples of (distinct tokens / tokens): ~1 for varied text, 1/n_new for one repeated token."""
    rows = [r for s in samples for r in s]
    return float(np.mean([len(set(r.tolist())) / len(r) for r in rows]))


@torch.no_grad()
def next_token_kl(lm: TinyLM, windows: torch.Tensor, hook: MlpHook) -> float:
    """Mean KL(clean ‖ steered) of the next-token distributions over every position of `windows` [B, T]."""
    p = F.log_softmax(lm(windows), -1)
    q = F.log_softmax(lm(windows, mlp_hook=hook), -1)
    return float((p.exp() * (p - q)).sum(-1).mean())


# ---------------------------------------------------------------- one steering demo (widget and static)

def steer_demo_html(lm: TinyLM, tok: Tokenizer, sae: SAE, feature: int, value: float, prompt: str,
                    n_samples: int = 3, n_new: int = 24, seed: int = 0) -> str:
    """HTML table: continuations of `prompt` without and with feature i pinned to `value` (escaped)."""
    from ..text.tokenizer import decode
    ids = check_prompt(tok, prompt, lm.cfg.n_ctx)
    hook = clamp_hook(sae, feature, value)
    runs = [(label, sample_batch(lm, ids, n_samples, n_new, seed=seed, mlp_hook=h))
            for label, h in (("unsteered", None), (f"feature {feature} = {value:.3g}", hook))]
    cell = lambda s: f'<td style="font-family:monospace;white-space:pre-wrap">{html.escape(s)}</td>'  # noqa: E731
    body = "".join(f"<tr><th>{html.escape(label)}</th>{cell(prompt + '│' + decode(tok, row))}</tr>"
                   for label, rows in runs for row in rows)
    return f'<table style="text-align:left">{body}</table>'


def resolve_feature(choice: str | int, features: dict[str, int], sae: SAE) -> int:
    """A category name (-> its feature) or a feature number (also as text) -> feature index."""
    if isinstance(choice, str) and choice.strip().lstrip("-").isdigit():
        choice = int(choice.strip())
    if isinstance(choice, str):
        return features[check_category(choice.strip().lower(), list(features))]
    return check_feature(sae, choice)


def steering_panel(render: Callable[[str, float, str], str], choices: Sequence[str], k: float, prompt: str):
    """ipywidgets panel: feature (category or number), strength k, prompt -> `render(choice, k, prompt)` HTML.
    Bad input shows its one-line error in the panel instead of raising."""
    import ipywidgets as w
    from IPython.display import HTML, display
    pick = w.Combobox(value=choices[0], options=list(choices), description="feature", ensure_option=False)
    strength = w.FloatSlider(value=k, min=0.0, max=30.0, step=0.5, description="k × max")
    text = w.Text(value=prompt, description="prompt")
    go, out = w.Button(description="sample"), w.Output()

    def run(_=None):
        out.clear_output()
        with out:
            try:
                display(HTML(render(pick.value, strength.value, text.value)))
            except ValueError as err:
                print(f"error: {err}")
    go.on_click(run)
    run()
    return w.VBox([w.HBox([pick, strength]), w.HBox([text, go]), out])
