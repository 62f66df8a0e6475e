"""Dask runs give exactly the in-memory answer, whatever the partitioning."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from toolkit import changepoint, sudden_gains
from toolkit.errors import ToolkitWarning
from toolkit.scale import by_client
from toolkit.simulate import trajectories

ROLES = dict(client="client", session="session", score="score", instrument="BDI-II")


@pytest.fixture(scope="module")
def cohort():
    scores, _ = trajectories(600, 14, seed=11, gain_share=0.4, missing=0.15, dropout=0.03)
    # Rows shuffled, so each client's rows start out spread over every partition.
    return scores.drop(columns="true_score").sample(frac=1, random_state=3, ignore_index=True)


def sort(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return table.sort_values(by, kind="stable", ignore_index=True)


@pytest.fixture(autouse=True)
def single_threaded():
    with dask.config.set(scheduler="synchronous"):
        yield


def test_sudden_gains_on_dask_equal_in_memory(cohort):
    expected = sudden_gains.identify(cohort, **ROLES, cutoff=7)
    run = by_client(dd.from_pandas(cohort, npartitions=5, sort=False), "sudden_gains",
                    **ROLES, cutoff=7)
    table, skipped = run.compute()
    keys = ["client", "gain_session", "kind"]
    pd.testing.assert_frame_equal(sort(table, keys), sort(expected.table, keys))
    pd.testing.assert_frame_equal(skipped, sort(expected.skipped, ["client"]),
                                  check_dtype=False)
    assert len(table) > 100


def test_changepoint_on_dask_equal_in_memory(cohort):
    # Integer scores give some clients a zero MAD of differences; both runs say so.
    with pytest.warns(ToolkitWarning, match="median absolute deviation of 0"):
        expected = changepoint.detect(cohort, **ROLES, progress=False)
    with pytest.warns(ToolkitWarning, match="median absolute deviation of 0"):
        table, _ = by_client(dd.from_pandas(cohort, npartitions=4, sort=False), "changepoint",
                             **ROLES).compute()
    pd.testing.assert_frame_equal(sort(table, ["client", "session"]),
                                  sort(expected.table, ["client", "session"]))


def test_methods_that_pool_across_clients_are_refused(cohort):
    with pytest.raises(ValueError, match="sigma='pooled'.*cannot be split"):
        by_client(dd.from_pandas(cohort, npartitions=2), "changepoint", **ROLES, sigma="pooled")


def test_bad_arguments(cohort):
    ddf = dd.from_pandas(cohort, npartitions=2)
    with pytest.raises(ValueError, match="must be one of \\['changepoint', 'sudden_gains'\\]"):
        by_client(ddf, "growth", **ROLES)
    with pytest.raises(ValueError, match="no column 'bdi'"):
        by_client(ddf, "sudden_gains", **{**ROLES, "score": "bdi"})
    with pytest.raises(TypeError, match="takes a dask DataFrame"):
        by_client(cohort, "sudden_gains", **ROLES)
