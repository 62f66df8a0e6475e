"""Plots return the Axes they drew on, with the expected artists and labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import toolkit  # noqa: E402
from toolkit.plots import PALETTE, spaghetti  # noqa: E402


@pytest.fixture
def scores():
    return toolkit.datasets.load_scores("sgdata")


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_spaghetti_draws_one_line_per_client_and_the_mean(scores, ax):
    assert spaghetti(scores, n=10, ax=ax) is ax
    grey = [line for line in ax.lines if line.get_color() == PALETTE["grey"]]
    assert len(grey) == 10
    mean = [line for line in ax.lines if line.get_label() == "mean"][0]
    np.testing.assert_allclose(mean.get_ydata(), np.nanmean(scores.to_matrix(), axis=0))
    assert ax.get_xlabel() == "Session" and ax.get_ylabel() == "BDI-II"
    assert ax.get_ylim() == (0, 63)
    assert ax.get_title() == "10 of 43 clients"
    assert len(ax.collections) == 1  # the CI band


def test_spaghetti_highlight_and_chosen_clients(scores, ax):
    spaghetti(scores, clients=[1, 2, 3], highlight=[2], mean=False, ax=ax)
    labels = [line.get_label() for line in ax.lines]
    assert "client 2" in labels and "mean" not in labels
    assert sum(line.get_color() == PALETTE["grey"] for line in ax.lines) == 3
    with pytest.raises(ValueError, match="Unknown client"):
        spaghetti(scores, clients=[999], ax=ax)


def test_spaghetti_sample_is_seeded(scores):
    def drawn(seed):
        fig, ax = plt.subplots()
        spaghetti(scores, n=5, seed=seed, mean=False, ax=ax)
        ys = [tuple(line.get_ydata()) for line in ax.lines]
        plt.close(fig)
        return ys

    assert drawn(1) == drawn(1)
    assert drawn(1) != drawn(2)


def test_longscores_plot_delegates(scores):
    ax = scores.plot(n=3)
    assert ax.get_ylabel() == "BDI-II"
    plt.close(ax.figure)
