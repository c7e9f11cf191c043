"""How the claims grow with scale: the headline figures of a batch gridded over LM tokens and SAE activations.

    python -m monosem_lib batch --profile classroom --seeds 0 --grid lm_train.max_steps=1100,4400 \
        --grid sae.n_acts=450000,1800000 --out runs/scale
    python -m monosem_lib scale runs/scale            # scale.png and scale.md beside batch.json

One panel per claim (universality features vs neurons, autointerp ratio, the paper's proxies for the four detailed
categories, categories steered), each figure against the SAE's training activations, one line per LM length;
every point is the mean over the batch's seeds, with one standard deviation.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..io import atomic_write, load_json

LM_KEY, SAE_KEY = "lm_train.max_steps", "sae.n_acts"
PANELS = (("universality, median best corr. A vs B", (("univ.median_max_corr.features", "features", "-"),
                                                      ("univ.median_max_corr.neurons", "neurons", "--"))),
          ("autointerp, features / neurons", (("interp.autointerp_ratio", "ratio", "-"),)),
          ("the paper's proxy, best feature", tuple((f"interp.proxy.{c}.feature_corr", c, "-")
                                                   for c in ("arabic", "hebrew", "base64", "dna"))),
          ("categories steered (interval rule)", (("steer.n_categories_steered", "k = 1", "-"),
                                                  ("steer.k10.n_categories_steered", "k = 10", "--"))))


def parse_point(label: str) -> dict[str, float]:
    """'lm_train.max_steps=1100,sae.n_acts=450000' -> {key: value} (numbers where they are numbers)."""
    out = {}
    for part in label.split(","):
        key, _, value = part.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def scale_points(batch: dict) -> list[tuple[float, float, dict]]:
    """[(LM steps, SAE activations, {key: summary})] of a batch gridded over both (a one-line error otherwise)."""
    pts = []
    for label, stats in batch["points"].items():
        p = parse_point(label)
        if LM_KEY not in p or SAE_KEY not in p:
            raise ValueError(f"batch point {label!r} is not on a {LM_KEY} x {SAE_KEY} grid; run the batch in this "
                             f"module's docstring")
        pts.append((p[LM_KEY], p[SAE_KEY], stats))
    return sorted(pts, key=lambda t: (t[0], t[1]))


def _mean(stats: dict, key: str) -> tuple[float, float]:
    s = stats.get(key, {})
    return s.get("mean", math.nan), s.get("std", 0.0)


def plot_scale(batch: dict, lm_tokens_per_step: int):
    """The figure: one panel per claim against SAE activations (log x), one line per LM length."""
    import matplotlib.pyplot as plt
    pts = scale_points(batch)
    lms = sorted({lm for lm, _, _ in pts})
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6))
    for ax, (title, keys) in zip(axes, PANELS):
        for j, lm in enumerate(lms):
            row = [(acts, stats) for l_, acts, stats in pts if l_ == lm]
            xs = [a for a, _ in row]
            for key, label, style in keys:
                m, s = zip(*[_mean(stats, key) for _, stats in row])
                ax.errorbar(xs, m, yerr=s, fmt="o" + style, capsize=3, color=f"C{j}" if len(keys) < 3 else None,
                            label=f"{label}, LM {lm * lm_tokens_per_step / 1e6:.1f}M tokens")
        ax.set_xscale("log")
        ax.set(title=title, xlabel="SAE training activations")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def scale_markdown(batch: dict, lm_tokens_per_step: int) -> str:
    """The same figures as a table: one row per (LM, SAE) point, mean ± std over seeds."""
    keys = [k for _, ks in PANELS for k, _, _ in ks]
    lines = ["| LM tokens | SAE activations | " + " | ".join(f"`{k}`" for k in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for lm, acts, stats in scale_points(batch):
        cells = []
        for k in keys:
            m, s = _mean(stats, k)
            cells.append("—" if math.isnan(m) else f"{m:.3g} ± {s:.2g}")
        lines.append(f"| {lm * lm_tokens_per_step / 1e6:.1f}M | {acts:,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def load_batch(batch_dir: Path, module: str):
    """(batch.json of batch_dir, the settings of its definition); a one-line error naming `module`'s batch without."""
    from ..config import get_config
    path = batch_dir / "batch.json"
    if not path.exists():
        raise FileNotFoundError(f"no batch.json in {batch_dir}; run the batch in monosem_lib/pipeline/{module}.py first")
    batch = load_json(path)
    d = batch.get("definition", {})
    return batch, get_config(d.get("profile", "classroom"), dict(d.get("overrides", {})))


def write_view(batch_dir: Path, stem: str, fig, text: str) -> tuple[Path, Path]:
    """<stem>.png and <stem>.md beside batch.json, each written atomically; returns their paths."""
    png, md = batch_dir / f"{stem}.png", batch_dir / f"{stem}.md"
    atomic_write(png, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    atomic_write(md, lambda tmp: Path(tmp).write_text(text))
    return png, md


def write_scale(batch_dir: str | Path) -> tuple[Path, Path]:
    """scale.png and scale.md from batch_dir/batch.json; returns their paths."""
    batch, cfg = load_batch(Path(batch_dir), "scale")
    per_step = cfg.lm_train.batch_size * cfg.lm.n_ctx
    return write_view(Path(batch_dir), "scale", plot_scale(batch, per_step), scale_markdown(batch, per_step))
