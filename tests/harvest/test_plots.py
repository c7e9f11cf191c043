"""Notebook 02's figures draw."""
import matplotlib
import numpy as np

from monosem_lib.harvest.plots import plot_neuron_density, plot_top_categories

matplotlib.use("Agg")


def test_plots_draw():
    density = np.array([0.0, 0.01, 0.2, 0.05])
    ax = plot_neuron_density(density)
    assert "1 never fire" in ax.get_title() and sum(p.get_height() for p in ax.patches) == 3
    fig = plot_top_categories(np.array([[3, 1], [0, 4]]), ["n1", "n2"], ["english", "python"], np.array([0.5, 0.5]))
    assert len(fig.axes) == 2 and [p.get_width() for p in fig.axes[0].patches] == [3, 1]
