"""Dask runs give exactly the in-memory answer, whatever the partitioning."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from toolkit import changepoint, instruments, long_scores, sudden_gains
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
    expected = sudden_gains.identify(cohort, **ROLES)
    run = by_client(dd.from_pandas(cohort, npartitions=5, sort=False), "sudden_gains", **ROLES)
    table, skipped = run.compute()
    keys = ["client", "gain_session", "kind"]
    pd.testing.assert_frame_equal(sort(table, keys), sort(expected.table, keys))
    pd.testing.assert_frame_equal(skipped, sort(expected.skipped, ["client"]), check_dtype=False)
    assert run.settings["reliable_change_points"] == expected.settings["reliable_change_points"]
    assert len(table) > 50


def test_changepoint_pooled_noise_and_seeded_tests_on_dask_equal_in_memory(cohort):
    # The pooled noise SD comes from a first pass over every partition, and the seeded
    # at-most-one-change p-values are keyed by client: both equal the in-memory run.
    expected = changepoint.detect(cohort, **ROLES, test=True, n_boot=99, seed=5, progress=False)
    run = by_client(
        dd.from_pandas(cohort, npartitions=4, sort=False),
        "changepoint",
        **ROLES,
        test=True,
        n_boot=99,
        seed=5,
    )
    table, _ = run.compute()
    assert run.settings["pooled_noise_sd"] == expected.settings["noise_sd_value"]
    pd.testing.assert_frame_equal(
        sort(table, ["client", "session"]), sort(expected.table, ["client", "session"])
    )


def test_per_client_noise_on_dask_equal_in_memory(cohort):
    # Integer scores give some clients a zero MAD of differences; both runs say so.
    with pytest.warns(ToolkitWarning, match="median absolute deviation of 0"):
        expected = changepoint.detect(cohort, **ROLES, noise_sd="client", progress=False)
    with pytest.warns(ToolkitWarning, match="median absolute deviation of 0"):
        table, _ = by_client(
            dd.from_pandas(cohort, npartitions=3, sort=False),
            "changepoint",
            **ROLES,
            noise_sd="client",
        ).compute()
    pd.testing.assert_frame_equal(
        sort(table, ["client", "session"]), sort(expected.table, ["client", "session"])
    )


def test_sample_criterion_is_resolved_once_for_all_partitions(cohort):
    # HAM-D17 has a reliability but no clinical SD: the criterion falls back on the SD of
    # every client's first score, which the first pass pools over all partitions.
    roles = {**ROLES, "instrument": "HAM-D17"}
    with pytest.warns(ToolkitWarning, match="sample: first observed score"):
        whole = long_scores(cohort, **roles)
    with pytest.warns(ToolkitWarning, match="sample: first observed score") as caught:
        run = by_client(
            dd.from_pandas(cohort, npartitions=6, sort=False), "reliable_change", **roles
        )
    assert len([w for w in caught if "sample" in str(w.message)]) == 1  # announced once
    assert run.settings["reliable_change_points"] == whole.reliable_change.points
    table, _ = run.compute()
    from toolkit.reliable_change import reliable_change

    expected = reliable_change(whole)
    pd.testing.assert_frame_equal(sort(table, ["client"]), sort(expected.table, ["client"]))
    assert instruments.get("HAM-D17").clinical_sd is None


def test_bad_arguments(cohort):
    ddf = dd.from_pandas(cohort, npartitions=2)
    with pytest.raises(ValueError, match="must be one of \\['amoc', 'changepoint', "):
        by_client(ddf, "growth", **ROLES)
    with pytest.raises(ValueError, match="no column 'bdi'"):
        by_client(ddf, "sudden_gains", **{**ROLES, "score": "bdi"})
    with pytest.raises(TypeError, match="takes a dask DataFrame"):
        by_client(cohort, "sudden_gains", **ROLES)
