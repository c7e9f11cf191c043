"""A batch's report: per grid point and scorecard key, mean / std / min / max / n over seeds.

batch.json (every key), batch.md (headline keys beside the paper's figures, then every key) and batch.png
(the headline claims against the grid values, error bars = one standard deviation over seeds).
`aggregate_run_dirs` does the same for run dirs made any other way (e.g. a papermill loop over one notebook).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from ..io import atomic_write, atomic_write_text, load_json, save_json
from .scorecard import PAPER_FIGURES

CATEGORIES = ("arabic", "hebrew", "base64", "dna")
HEADLINE = ("interp.autointerp_ratio", "interp.autointerp_median.features", "interp.autointerp_median.neurons",
            *[f"interp.proxy.{c}.{w}" for c in CATEGORIES for w in ("feature_corr", "neuron_corr")],
            "univ.median_max_corr.features", "univ.median_max_corr.neurons", "univ.median_max_corr.sae_seed",
            "interp.specificity.arabic.feature", "univ.by_density.1e-5_1e-4.median", "steer.n_categories_steered",
            "steer.k10.n_categories_steered", "sae.A.l0", "sae.A.loss_recovered", "sae.A.fvu", "sae.A.dead_frac",
            "sae.A.ultralow_frac", "lm.A.val_loss",
            "toy.sae.mmcs", "toy.sae.mcc", "pipeline.wall_s.total")


def point_label(point: dict[str, str]) -> str:
    """'sae.l1_coeff=0.003' (or 'default' without a grid): the name of a grid point."""
    return ",".join(f"{k}={v}" for k, v in point.items()) or "default"


def with_derived(card: dict) -> dict:
    """The scorecard plus the ratios a claim is about (autointerp features / neurons)."""
    out = dict(card)
    f, n = card.get("interp.autointerp_median.features"), card.get("interp.autointerp_median.neurons")
    if isinstance(f, (int, float)) and isinstance(n, (int, float)) and n:
        out["interp.autointerp_ratio"] = f / n
    return out


def summarise(values: list[float]) -> dict:
    """mean, std (sample, 0 for one value), min, max and n of finite numbers."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not vals:
        return {"n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "min": min(vals), "max": max(vals), "n": len(vals)}


def aggregate(cards_by_point: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """{point: [scorecard, ...]} -> {point: {key: summary}} over every numeric key of any card."""
    out = {}
    for point, cards in cards_by_point.items():
        cards = [with_derived(c) for c in cards]
        keys = sorted({k for c in cards for k, v in c.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        out[point] = {k: summarise([c.get(k) for c in cards]) for k in keys}
    return out


def _cell(s: dict | None) -> str:
    if not s or not s.get("n"):
        return "—"
    fmt = (lambda x: f"{x:,.0f}") if abs(s["mean"]) >= 1000 else (lambda x: f"{x:.4g}")
    return f"{fmt(s['mean'])} ± {fmt(s['std'])} (n {s['n']})"


def markdown(stats: dict[str, dict[str, dict]], title: str) -> str:
    """Headline keys beside the paper, then every key: mean ± std (n) per grid point."""
    points = list(stats)
    head = "| key | paper | " + " | ".join(points) + " |\n|---|---|" + "---|" * len(points) + "\n"
    def rows(keys):
        return "".join(f"| `{k}` | {PAPER_FIGURES.get(k, ('', ''))[0]} | " +
                       " | ".join(_cell(stats[p].get(k)) for p in points) + " |\n" for k in keys)
    every = sorted({k for p in points for k in stats[p]})
    return (f"# {title}\n\nmean ± sample standard deviation over seeds (n = seeds with the key); min and max are "
            f"in batch.json.\n\n## Headline claims\n\n{head}{rows([k for k in HEADLINE if k in every])}\n"
            f"## Every key\n\n{head}{rows(every)}")


def plot(stats: dict[str, dict[str, dict]], x_values: list, x_label: str):
    """Four panels against the grid: autointerp ratio; proxies feature vs neuron; universality; L0 and loss recovered."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = list(stats)
    numeric = all(isinstance(x, (int, float)) for x in x_values)
    xs = x_values if numeric else list(range(len(points)))
    def series(key):
        got = [stats[p].get(key, {"n": 0}) for p in points]
        return [g.get("mean", math.nan) for g in got], [g.get("std", 0.0) for g in got]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    panels = [("autointerp median, features / neurons", [("interp.autointerp_ratio", "ratio", "-")]),
              ("proxy correlation (solid features, dashed neurons)",
               [(f"interp.proxy.{c}.{w}", c if w == "feature_corr" else None, "-" if w == "feature_corr" else "--")
                for c in CATEGORIES for w in ("feature_corr", "neuron_corr")]),
              ("universality: median max corr, A vs B", [("univ.median_max_corr.features", "features", "-"),
                                                          ("univ.median_max_corr.neurons", "neurons", "--"),
                                                          ("univ.median_max_corr.sae_seed", "SAE seed ceiling", ":")]),
              ("SAE A: L0 (left) and loss recovered (right)", [("sae.A.l0", "L0", "-")])]
    span = (max(xs) - min(xs)) if len(xs) > 1 else 1.0
    for ax, (title, keys) in zip(axes, panels):
        for i, (key, label, style) in enumerate(keys):
            m, s = series(key)
            dodge = (i - (len(keys) - 1) / 2) * 0.04 * span        # side by side, so error bars do not overlap
            ax.errorbar([x + dodge for x in xs], m, yerr=s, fmt="o" + style, capsize=3, label=label,
                        color=f"C{i // 2 if len(keys) == 8 else i}")
        ax.set_title(title, fontsize=9), ax.set_xlabel(x_label)
        if not numeric:
            ax.set_xticks(xs, points, rotation=20, fontsize=7)
        if any(lbl for _, lbl, _ in keys):
            ax.legend(fontsize=7)
    twin = axes[3].twinx()
    m, s = series("sae.A.loss_recovered")
    twin.errorbar(xs, m, yerr=s, fmt="s--", capsize=3, color="C3", label="loss recovered")
    twin.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def write_outputs(out: Path, stats: dict, meta: dict, x_values: list, x_label: str, title: str) -> dict:
    """batch.json, batch.md and batch.png in `out`; returns the JSON written."""
    report = {**meta, "points": stats}
    save_json(out / "batch.json", report)
    text = markdown(stats, title)
    atomic_write_text(out / "batch.md", text)
    fig = plot(stats, x_values, x_label)
    atomic_write(out / "batch.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    return report


def write_report(out: Path, runs, status: dict, grid) -> dict:
    """The batch's report from its finished runs' scorecards."""
    cards: dict[str, list[dict]] = {}
    for run in runs:
        card_path = out / "runs" / run.run_id / "scorecard.json"
        cards.setdefault(point_label(run.point), [])
        if status.get(run.run_id, {}).get("status") == "done" and card_path.exists():
            redo = f"delete it and {out / 'runs' / run.run_id / '.batch_done'}, and rerun the batch"
            cards[point_label(run.point)].append(load_json(card_path, advice=redo))
    x_key = grid[0][0] if len(grid) == 1 else "grid point"
    x_values = [_number(v) for v in grid[0][1]] if len(grid) == 1 else list(cards)
    redo = f"delete {out} to start the batch again, or pass another --out"
    meta = {"definition": load_json(out / "batch_def.json", advice=redo),
            "runs": {r.run_id: {"seed": r.seed, "point": point_label(r.point), **status.get(r.run_id, {})} for r in runs}}
    return write_outputs(out, aggregate(cards), meta, x_values, x_key, f"Batch {out.name}")


def aggregate_run_dirs(run_dirs: list[Path], out: Path, by: list[str] | None = None) -> dict:
    """Aggregate existing run dirs; runs whose pinned `by` settings agree form one point."""
    from .run import saved_config
    from .scorecard import SCORECARD_ADVICE
    cards: dict[str, list[dict]] = {}
    for d in run_dirs:
        if not (Path(d) / "scorecard.json").exists():
            raise FileNotFoundError(f"{d} has no scorecard.json: run its notebooks first")
        cfg = saved_config(d)
        label = ",".join(f"{k}={_get(cfg, k)}" for k in by or []) or "all runs"
        cards.setdefault(label, []).append(load_json(Path(d) / "scorecard.json", advice=SCORECARD_ADVICE))
    out.mkdir(parents=True, exist_ok=True)
    x = [_number(lbl.split("=")[-1]) for lbl in cards] if by and len(by) == 1 else list(cards)
    meta = {"run_dirs": [str(d) for d in run_dirs], "by": by or []}
    return write_outputs(out, aggregate(cards), meta, x, by[0] if by and len(by) == 1 else "group", f"Aggregate {out.name}")


def _get(cfg, key: str):
    stage, _, name = key.partition(".")
    return getattr(getattr(cfg, stage), name)


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


# the claims the main recipe is chosen on (notebook 03's table of the recipe batch)
RECIPE_CLAIMS = {"univ.median_max_corr.features": "universality A vs B, features",
                 "univ.median_max_corr.neurons": "  ... neurons (the control)",
                 "univ.median_max_corr.sae_seed": "  ... SAE-seed ceiling",
                 "interp.autointerp_ratio": "autointerp, features / neurons",
                 "control.random_lm.autointerp_median.features": "autointerp of the random-LM SAE",
                 **{f"interp.proxy.{c}.feature_corr": f"paper's proxy, {c}" for c in CATEGORIES},
                 **{f"interp.specificity.{c}.feature": f"specificity, {c}" for c in CATEGORIES},
                 "steer.n_categories_steered": "categories steered, k = 1",
                 "steer.k10.n_categories_steered": "categories steered, k = 10",
                 "sae.A.l0": "L0", "sae.A.loss_recovered": "loss recovered",
                 "sae.A.dead_frac": "dead", "sae.A.ultralow_frac": "ultralow"}


def points_table(batch_dir: str | Path, claims: dict[str, str] | None = None, markdown_table: bool = False) -> str:
    """A batch's grid points side by side (columns: the values of each point), one row per claim: mean ± std
    (plain text for a notebook, or a markdown table)."""
    claims = claims or RECIPE_CLAIMS
    stats = load_json(Path(batch_dir) / "batch.json", advice="delete it and rerun the batch command (finished runs "
                                                             "are skipped; it is rewritten)")["points"]
    names = [p.split("=", 1)[-1] for p in stats]
    rows = []
    for key, label in claims.items():
        cells = [f"{s['mean']:.3f} ± {s['std']:.3f}" if (s := stats[p].get(key)) and s.get("n") else "—" for p in stats]
        rows.append((label.strip(" ."), cells) if markdown_table else (label, cells))
    n = max((s.get("n", 0) for p in stats for s in stats[p].values()), default=0)
    note = f"mean ± std over up to {n} seeds per point"
    if markdown_table:
        head = "| claim | " + " | ".join(f"`{x}`" for x in names) + " |\n|---|" + "---|" * len(names) + "\n"
        return head + "".join(f"| {label} | " + " | ".join(cells) + " |\n" for label, cells in rows) + f"\n({note})\n"
    width = max(12, *(len(x) for x in names))
    lines = [f"{'':34s}" + "".join(f"{x:>{width + 2}s}" for x in names)]
    lines += [f"{label[:34]:34s}" + "".join(f"{c:>{width + 2}s}" for c in cells) for label, cells in rows]
    return "\n".join(lines + [f"({note}; {Path(batch_dir) / 'batch.md'} has every key)"])
