"""A client's answer depends only on its own rows (and the shared, recorded numbers).

Property tests: any subset of clients gives exactly the rows of the full run for those
clients (sudden gains, change points with seeded tests, reliable change with a fixed
criterion, the at-most-one-change test); other clients' sessions never change a client's
sequence; and Dask on a real two-process cluster equals the in-memory run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit
from toolkit import changepoint, reliable_change, sudden_gains
from toolkit.simulate import trajectories


@pytest.fixture(scope="module")
def cohort():
    df, _ = trajectories(
        120,
        12,
        instrument="BDI-II",
        gain_share=0.5,
        loss_share=0.1,
        missing=0.15,
        dropout=0.02,
        seed=31,
    )
    return toolkit.long_scores(
        df.drop(columns="true_score"),
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
    )


@pytest.fixture(scope="module")
def full(cohort):
    return {
        "sudden_gains": sudden_gains.identify(cohort, kind="both"),
        "changepoint": changepoint.detect(cohort, test=True, n_boot=49, seed=3),
        "amoc": changepoint.amoc(cohort, n_boot=49, seed=3),
        "reliable_change": reliable_change.reliable_change(cohort),
    }


def _run(name, scores):
    if name == "sudden_gains":
        return sudden_gains.identify(scores, kind="both")
    if name == "changepoint":
        return changepoint.detect(scores, test=True, n_boot=49, seed=3)
    if name == "amoc":
        return changepoint.amoc(scores, n_boot=49, seed=3)
    return reliable_change.reliable_change(scores)


def _rows(table, clients):
    return table[table["client"].isin(clients)].reset_index(drop=True)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@pytest.mark.parametrize("name", ["sudden_gains", "changepoint", "amoc", "reliable_change"])
def test_any_subset_of_clients_gives_the_full_runs_rows(cohort, full, name, data):
    ids = data.draw(
        st.lists(st.sampled_from(list(cohort.clients)), min_size=1, max_size=40, unique=True)
    )
    part = _run(name, cohort.subset(ids))
    whole = full[name]
    pd.testing.assert_frame_equal(part.table, _rows(whole.table, ids), check_dtype=False)
    assert part.settings["reliable_change_points"] == whole.settings["reliable_change_points"]
    if name == "amoc":
        pd.testing.assert_frame_equal(
            part.confidence_sets, _rows(whole.confidence_sets, ids), check_dtype=False
        )


def test_a_subset_keeps_the_pooled_statistics_and_the_criterion(cohort):
    part = cohort.subset(list(cohort.clients[:5]))
    assert part.pooled == cohort.pooled
    assert part.reliable_change == cohort.reliable_change
    assert changepoint.detect(part).settings["noise_sd_value"] == cohort.pooled.noise_sd


def test_other_clients_sessions_do_not_change_a_clients_sequence():
    # Client 1 skipped session 3. Whether or not client 2 attended session 3, the step
    # from session 2 to 4 is not an interval of consecutive sessions.
    one = pd.DataFrame({"id": 1, "s": [1, 2, 4, 5, 6, 7, 8], "x": [30.0, 31, 18, 17, 18, 17, 16]})
    other = pd.DataFrame(
        {"id": 2, "s": [1, 2, 3, 4, 5, 6, 7, 8], "x": [25.0, 24, 25, 24, 25, 24, 25, 24]}
    )
    kw = dict(client="id", session="s", score="x", instrument="BDI-II", min_change=7)
    alone = sudden_gains.identify(one, **kw)
    together = sudden_gains.identify(pd.concat([one, other]), **kw)
    pd.testing.assert_frame_equal(alone.table, _rows(together.table, [1]))
    assert alone.table.empty  # 31 -> 18 spans a missed session
    # Read as positions (an assessment schedule), consecutive rows are consecutive.
    as_positions = sudden_gains.identify(
        toolkit.long_scores(
            one, client="id", session="s", score="x", instrument="BDI-II", sequence="positions"
        ),
        min_change=7,
    )
    assert as_positions.table[["pre_session", "gain_session"]].values.tolist() == [[2, 4]]


def test_padding_a_client_with_empty_sessions(cohort):
    # Documented convention: a client's sequence runs from its first to its last row, rows
    # with a missing score included. With criterion 3 on, empty rows before the first score
    # change nothing (the first observed interval still lacks a pre-gain window).
    values = [30.0, 31, 29, 18, 17, 18, 17, 16]
    base = pd.DataFrame({"id": 1, "s": np.arange(3, 11), "x": values})
    padded = pd.concat([pd.DataFrame({"id": 1, "s": [1, 2], "x": np.nan}), base])
    kw = dict(client="id", session="s", score="x", instrument="BDI-II", min_change=7)
    a = sudden_gains.identify(base, **kw)
    b = sudden_gains.identify(padded, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    # With criterion 3 off, the padded client's first observed interval (3 -> 4) becomes
    # eligible, as it would in the reference implementation's fixed session columns.
    steep = pd.DataFrame({"id": 1, "s": np.arange(3, 11), "x": [30.0, 20, 20, 19, 19, 18, 18, 18]})
    off = dict(kw, crit3=False)
    plain = sudden_gains.identify(steep, **off)
    padded_steep = sudden_gains.identify(
        pd.concat([pd.DataFrame({"id": 1, "s": [1, 2], "x": np.nan}), steep]), **off
    )
    assert plain.table.empty and padded_steep.table["pre_session"].tolist() == [3]


@pytest.mark.slow
def test_dask_on_a_two_process_local_cluster_equals_in_memory(cohort):
    distributed = pytest.importorskip("distributed")
    import dask.dataframe as dd

    from toolkit.scale import by_client

    raw = cohort.data.sample(frac=1, random_state=4, ignore_index=True)
    roles = dict(client="client", session="session", score="score", instrument="BDI-II")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        ddf = dd.from_pandas(raw, npartitions=5, sort=False)
        gains, _ = by_client(ddf, "sudden_gains", **roles, kind="both").compute()
        changes, _ = by_client(ddf, "changepoint", **roles, test=True, n_boot=49, seed=3).compute()
    keys = ["client", "gain_session", "kind"]
    expected = sudden_gains.identify(cohort, kind="both").table
    pd.testing.assert_frame_equal(
        gains.sort_values(keys, ignore_index=True), expected.sort_values(keys, ignore_index=True)
    )
    expected_cp = changepoint.detect(cohort, test=True, n_boot=49, seed=3).table
    pd.testing.assert_frame_equal(
        changes.sort_values(["client", "session"], ignore_index=True),
        expected_cp.sort_values(["client", "session"], ignore_index=True),
    )


def test_chance_baselines_add_up_over_any_split_of_the_clients(cohort):
    # Each client's replicates come from its own keyed stream, so the gains found in each
    # replicate of the whole cohort are the sum of those found in two halves of it.
    ids = list(cohort.clients)
    halves = [ids[::2], ids[1::2]]
    kw = dict(n_replicates=6, seed=9, progress=False)
    whole = sudden_gains.chance_baseline(cohort, **kw).replicates
    parts = [sudden_gains.chance_baseline(cohort.subset(h), **kw).replicates for h in halves]
    summed = parts[0]["n_gains"].to_numpy() + parts[1]["n_gains"].to_numpy()
    np.testing.assert_array_equal(whole["n_gains"].to_numpy(), summed)
