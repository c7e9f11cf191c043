"""docs/RESULTS.md from runs: every number from a scorecard or batch.json, the hand-written preamble kept."""
import pytest

from monosem_lib.io import save_json
from monosem_lib.pipeline.cli import main
from monosem_lib.pipeline.results import MARK, write_results

CARD = {"pipeline.profile": "classroom", "pipeline.wall_s.total": 557.8, "pipeline.gflops": 366.7, "sae.A.l0": 28.09253,
        "sae.A.fvu": 0.12195, "interp.autointerp_median.features": 0.457, "interp.autointerp_median.neurons": 0.361,
        "univ.median_max_corr.features": 0.0758, "univ.median_max_corr.neurons": 0.5436,
        "univ.by_density.1e-5_1e-4.n": 60, "univ.by_density.1e-5_1e-4.median": 0.0608,
        "univ.by_density.1e-2_1e-1.n": 40, "univ.by_density.1e-2_1e-1.median": 0.5188, "steer.n_categories_steered": 0,
        "fsa.n_self_loops": 663, "fsa.base64.n_self_loops": 58, "fsa.neurons.n_self_loops": 170,
        "fsa.neurons.base64.n_self_loops": 5, "fsa.n_split_systems": 1, "fsa.neurons.n_split_systems": 0,
        "fsa.continuation_drop_without_mlp": 0.217, "univ.median_attribution_corr.features": 0.723,
        "univ.median_attribution_corr.neurons": 0.2162, "completeness.n_found": 2, "completeness.n_categories": 17, "completeness.n_reachable": 5,
        "completeness.max_size": 8192}


def make_run(folder, card, sae=None):
    (folder / "config").mkdir(parents=True)
    save_json(folder / "scorecard.json", card)
    save_json(folder / "config" / "sae.json", sae or {"resample": "paper", "l1_coeff": 0.006,
                                                      "alt_recipe": "2024", "alt_l1_coeff": 0.018})
    return folder


def test_a_run_and_a_batch_become_tables_whose_numbers_come_from_them(tmp_path):
    run = make_run(tmp_path / "c23b", CARD)
    batch = tmp_path / "seeds3"
    points = {"default": {"sae.A.l0": {"mean": 27.5, "std": 0.4, "n": 3}, "univ.median_max_corr.features":
                          {"mean": 0.08, "std": 0.01, "n": 3}}}
    make_run(batch / "runs" / "s0__default", CARD, {"recipe": "2024", "l1_coeff": 0.018})
    save_json(batch / "batch.json", {"points": points, "runs": {"s0__default": {"point": "default"}}})
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\nhand-written: 3,398th of 4,096 (notebook 06, runs/classroom)\n")
    write_results(out, [run, batch])
    text = out.read_text()
    assert text.startswith("# Results\n\nhand-written: 3,398th") and text.count(MARK) == 1
    assert "main SAE A (paper recipe, λ 0.006)" in text and "| 28.1 / 0.122 /" in text       # the old sae.resample key
    assert "0.457 / 0.361 = 1.27× (target 1.8×: **not met**)" in text and "60% of the features" in text
    assert "| 663 / 58 · 170 / 5 (target a base64 feature: met) |" in text
    assert "1 · 0 (target 2 scripts: **not met**); 0.217 |" in text and "0.723 / 0.216;" in text
    assert "| 2 of 17 (within reach of the bar: 5; largest 8,192); — |" in text    # no slope in the scorecard: a dash
    assert "main SAE A (2024 recipe, λ 0.018)" in text and "27.5 ± 0.4" in text and "over 3 seeds" in text
    write_results(out, [run])                                              # rerun: preamble kept, tables replaced
    again = out.read_text()
    assert again.startswith("# Results\n\nhand-written") and "27.5 ± 0.4" not in again and again.count(MARK) == 1


def test_the_command_names_a_dir_without_results(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "R.md"), str(tmp_path)]) == 1
    assert "neither a batch.json nor a scorecard.json" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        write_results(tmp_path / "R.md", [tmp_path / "nope"])


def test_a_grid_batch_gets_its_points_side_by_side(tmp_path):
    batch = tmp_path / "recipes"
    points = {f"sae.recipe={r}": {"univ.median_max_corr.features": {"mean": m, "std": 0.01, "n": 3},
                                  "sae.A.l0": {"mean": 30.0, "std": 1.0, "n": 3}} for r, m in (("paper", 0.08), ("2024", 0.61))}
    runs = {f"s0__sae.recipe={r}": {"point": f"sae.recipe={r}"} for r in ("paper", "2024")}
    for r in ("paper", "2024"):
        make_run(batch / "runs" / f"s0__sae.recipe={r}", CARD, {"recipe": r, "l1_coeff": 0.01})
    save_json(batch / "batch.json", {"points": points, "runs": runs})
    from monosem_lib.pipeline.batch_report import points_table
    text = points_table(batch)
    assert sorted(text.splitlines()[0].split()) == ["2024", "paper"] and "0.080 ± 0.010" in text and "0.610 ± 0.010" in text
    out = write_results(tmp_path / "R.md", [batch]).read_text()
    assert "the grid points side by side" in out and "| universality A vs B, features | 0.610 ± 0.010 | 0.080 ± 0.010 |" in out
