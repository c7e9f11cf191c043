"""Notebook 05's figures and the twin table (HTML escaped)."""
import matplotlib
import numpy as np

from monosem_lib.universality.plots import plot_act_vs_logit, plot_max_corr_hist, plot_twin_scatter, twin_table_html

matplotlib.use("Agg")


def test_plots_and_html_escaping():
    v = np.random.rand(100)
    plot_max_corr_hist({"features": v, "neurons": v / 2})
    plot_act_vs_logit(v, v - 0.5, v[:10], v[:10])
    plot_twin_scatter([{"title": "t", "f_a": v, "f_b": v, "in_cat": v > 0.5}])
    page = twin_table_html("arabic <x>", "A", ["<script>alert(1)</script>«<b>»&"], np.array([1.0]), "B", [],
                           np.zeros(0))
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;</b>" in page
    assert "never fires" in page
