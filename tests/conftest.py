"""Shared pytest fixtures. Fitted models are session-scoped: each is sampled once per run.

Names are prefixed by the module they serve (``bayes_`` for :mod:`toolkit.bayes`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

# Short chains keep the suite fast; they may warn about ESS, which the tests check directly.
# PyMC's sampler is named so that seeded results do not depend on whether nutpie is installed.
BAYES_SAMPLING = {"chains": 2, "tune": 200, "draws": 200, "progress": False, "sampler": "pymc"}


@pytest.fixture(scope="session")
def bayes_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """10 clients x 12 BDI-II sessions starting near 36 (so gains are not cut by the floor of
    0), most with a large sudden gain, a few missing scores, a treatment-arm column, and
    client 99 with only 3 observed scores (to be skipped)."""
    from toolkit import simulate

    scores, truth = simulate.trajectories(
        10,
        12,
        instrument="BDI-II",
        baseline=36.0,
        baseline_sd=4.0,
        gain_share=0.6,
        gain_size=(16.0, 2.0),
        gradual=4.0,
        gradual_sd=2.0,
        nonresponder_share=0.3,
        missing=0.05,
        seed=20240611,
    )
    short = pd.DataFrame(
        {
            "client": 99,
            "session": np.arange(1, 13),
            "score": [30.0, 29.0, 31.0] + [np.nan] * 9,
            "true_score": 30.0,
        }
    )
    scores = pd.concat([scores, short], ignore_index=True)
    scores["arm"] = np.where(scores["client"] % 2 == 0, "cbt", "usual")
    return scores, truth


def _fit_quietly(data, **kwargs):
    from toolkit import bayes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bayes.fit(
            data,
            client="client",
            session="session",
            score="score",
            instrument="BDI-II",
            seed=7,
            **BAYES_SAMPLING,
            **kwargs,
        )
    return result, caught


@pytest.fixture(scope="session")
def bayes_hierarchical(bayes_data):
    """The hierarchical mixture model on ``bayes_data``, with the warnings it raised."""
    return _fit_quietly(bayes_data[0])


@pytest.fixture(scope="session")
def bayes_no_change(bayes_data):
    """The model without change points on ``bayes_data``, each client alone (exact, nothing
    sampled; for LOO against the hierarchical fit, on the same score scale)."""
    return _fit_exact(bayes_data[0], model="linear", change="none")


@pytest.fixture(scope="session")
def bayes_mean_shift(bayes_data):
    """The mean-shift model of each client alone on ``bayes_data`` (exact, nothing sampled)."""
    return _fit_exact(bayes_data[0], model="mean")


def _fit_exact(data, **kwargs):
    from toolkit import bayes

    return bayes.fit(
        data,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
        pooling="none",
        seed=7,
        **kwargs,
    )
