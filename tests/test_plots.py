"""Plots return the Axes they drew on, with the expected artists and labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

import toolkit
from toolkit.plots import PALETTE, spaghetti


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


def test_the_data_layer_draws_nothing(scores):
    from toolkit.plots import spaghetti

    assert not hasattr(scores, "plot")  # plots live in toolkit.plots
    ax = spaghetti(scores, n=3)
    assert ax.get_ylabel() == "BDI-II"
    plt.close(ax.figure)


def test_client_trajectory_marks_gains_and_segments(scores, ax):
    from toolkit import changepoint, sudden_gains
    from toolkit.plots import client_trajectory

    sg = sudden_gains.identify(scores, min_change=7, kind="both")
    cp = changepoint.detect(scores, noise_sd="client", progress=False)
    assert client_trajectory(scores, 1, gains=sg, changepoints=cp, ax=ax) is ax
    spans = [p for p in ax.patches if p.get_label() == "sudden gain"]
    assert len(spans) == 1  # one label; both gains shaded
    gains_1 = sg.table[(sg.table["client"] == 1) & (sg.table["kind"] == "gain")]
    shaded = [p for p in ax.patches if abs(p.get_alpha() - 0.15) < 1e-9]
    assert len(shaded) == len(gains_1) == 2
    x0 = sorted(p.get_x() for p in shaded)
    assert x0 == sorted(gains_1["pre_session"].tolist())
    observed = [line for line in ax.lines if line.get_label() == "observed"]
    assert len(observed) == 1  # drawn once, by the segments layer
    fitted = [line for line in ax.lines if line.get_color() == PALETTE["vermillion"]]
    assert len(fitted) == int((cp.segments["client"] == 1).sum())
    assert ax.get_title() == "client 1: 2 sudden gain(s), 0 sudden loss(s), 2 change point(s)"


def test_client_trajectory_alone_and_unknown_client(scores, ax):
    from toolkit.plots import client_trajectory

    client_trajectory(scores, 2, ax=ax)
    assert [line.get_label() for line in ax.lines] == ["observed"]
    np.testing.assert_array_equal(
        ax.lines[0].get_ydata(), scores.data.query("client == 2")["score"].dropna()
    )
    with pytest.raises(ValueError, match="Unknown client 999"):
        client_trajectory(scores, 999, ax=ax)
