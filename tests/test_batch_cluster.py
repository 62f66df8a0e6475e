"""The batch command on a real Dask cluster: 2 worker processes, one of them killed mid-run."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from test_batch import ROLES, in_memory, same, simulated

import toolkit
from toolkit.batch import run_batch
from toolkit.batch._run import FAULT_ENV

distributed = pytest.importorskip("distributed")

RUN = dict(n_boot=49, seed=3, progress=False)


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def cluster(faults):
    # The workers inherit the environment: the fault hook fires only once it is armed.
    before = os.environ.get(FAULT_ENV)
    os.environ[FAULT_ENV] = str(faults)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as running:
        yield running
    if before is None:
        os.environ.pop(FAULT_ENV, None)
    else:
        os.environ[FAULT_ENV] = before


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    path = tmp_path_factory.mktemp("cluster") / "registry.parquet"
    simulated(300, seed=12).to_parquet(path, row_group_size=900)
    return path


@pytest.fixture(scope="module")
def expected(cohort):
    return in_memory(cohort)[1]


def test_two_worker_processes_give_the_in_memory_answer(cluster, cohort, expected, tmp_path):
    run = run_batch(cohort, tmp_path / "out", **ROLES, scheduler=cluster.scheduler_address,
                    partitions=6, **RUN)  # fmt: skip
    assert run.facts["ran_on"] == "2 Dask worker(s)"
    same(run.read("breakthroughs"), expected.table, ["client"])
    same(run.read("changepoint"), expected.results["changepoint"].table, ["client", "session"])
    pd.testing.assert_frame_equal(run.summary(), expected.summary())
    # Both worker processes did some of the partitions.
    pids = {
        pd.read_json(p, typ="series")["pid"] for p in (tmp_path / "out" / "_done").glob("*.json")
    }
    assert len(pids) == 2


def test_a_worker_killed_mid_partition_loses_and_duplicates_no_client(
    cluster, cohort, expected, faults, tmp_path
):
    # The first worker to analyse a partition after this dies half-way through writing
    # its outputs; the scheduler gives the partition to a worker that is alive.
    (faults / "arm-analyse").write_text("")
    run = run_batch(cohort, tmp_path / "out", **ROLES, scheduler=cluster.scheduler_address,
                    partitions=8, **RUN)  # fmt: skip
    assert (faults / "fired-analyse").exists() and not (faults / "arm-analyse").exists()
    table = run.read("breakthroughs")
    assert table["client"].is_unique
    assert len(table) == toolkit.long_scores(pd.read_parquet(cohort), **ROLES).n_clients
    same(table, expected.table, ["client"])
    same(run.read("sudden_gains"), expected.results["sudden_gains"].table,
         ["client", "gain_session", "kind"])  # fmt: skip
    assert run.facts["complete"] and run.facts["partitions_complete"] == 8
