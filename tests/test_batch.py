"""The batch command gives exactly the in-memory answer, resumes, and stops on bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import long_scores
from toolkit.batch import partition_of, run_batch
from toolkit.cli import main as cli_main
from toolkit.errors import DataError, NonNumericError, OptionError
from toolkit.files import read_scores, read_table
from toolkit.simulate import trajectories

ROLES = dict(client="client", session="session", score="score", instrument="BDI-II")
RUN = dict(n_boot=49, seed=3, workers=0, progress=False)


def simulated(n: int = 240, seed: int = 5) -> pd.DataFrame:
    scores, _ = trajectories(n, 12, seed=seed, gain_share=0.4, missing=0.15, dropout=0.05)
    data = scores.drop(columns="true_score")
    # Missed sessions: drop some rows outright, so clients have gaps in their numbering.
    gone = np.random.default_rng(seed).random(len(data)) < 0.08
    data = data[~gone].reset_index(drop=True)
    data["arm"] = np.where(data["client"] % 2 == 0, "cbt", "tau")
    return data


def in_memory(path, **options):
    frame = read_table(path, text_columns=["client"])
    frame["client"] = toolkit.files.tidy_ids(frame["client"])
    scores = long_scores(frame, **ROLES, **options)
    return scores, toolkit.breakthroughs(scores, n_boot=RUN["n_boot"], seed=RUN["seed"])


def same(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    expected = expected.sort_values(keys, kind="stable", ignore_index=True)
    got = got.sort_values(keys, kind="stable", ignore_index=True)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    for column in expected.columns:
        a, b = got[column], expected[column]
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            np.testing.assert_array_equal(
                a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            )
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), column


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    data = simulated()
    path = folder / "registry.parquet"
    data.to_parquet(path, row_group_size=700)  # several row groups, clients spread over them
    return path


@pytest.fixture(scope="module")
def expected(cohort):
    return in_memory(cohort)


def test_batch_equals_in_memory_whatever_the_partitioning(cohort, expected, tmp_path):
    scores, answer = expected
    for partitions in (1, 7):
        run = run_batch(cohort, tmp_path / f"p{partitions}", **ROLES, partitions=partitions, **RUN)
        same(run.read("breakthroughs"), answer.table, ["client"])
        same(run.read("sudden_gains"), answer.results["sudden_gains"].table,
             ["client", "gain_session", "kind"])  # fmt: skip
        same(run.read("changepoint"), answer.results["changepoint"].table, ["client", "session"])
        same(run.read("reliable_change"), answer.results["reliable_change"].table, ["client"])
        pd.testing.assert_frame_equal(run.summary(), answer.summary())
        assert run.facts["clients"] == scores.n_clients
        assert run.facts["rows_read"] == len(pd.read_parquet(cohort))
        assert run.facts["pooled_noise_sd"] == scores.pooled.noise_sd
    # Every partition holds whole clients: no client in two partition files.
    parts = sorted((tmp_path / "p7" / "breakthroughs").glob("part-*.parquet"))
    clients = [pd.read_parquet(p)["client"] for p in parts]
    assert len(parts) == 7
    assert sum(len(c) for c in clients) == len(pd.concat(clients).unique()) == scores.n_clients
    summary = json.loads((tmp_path / "p7" / "summary.json").read_text())
    assert summary["facts"]["complete"] is True
    assert "Clients flagged per method" in (tmp_path / "p7" / "summary.html").read_text()
    assert not (tmp_path / "p7" / "_staging").exists()


def test_interrupted_run_resumes_and_recomputes_only_what_is_missing(cohort, expected, tmp_path):
    out = tmp_path / "run"
    seen: list[int] = []

    def stop_after_two(record):
        seen.append(record["partition"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(cohort, out, **ROLES, partitions=6, on_partition=stop_after_two, **RUN)
    assert len(list((out / "_done").glob("*.json"))) == 2
    # A partial file left by a killed writer never counts: it has a temporary name.
    (out / "breakthroughs" / ".part-00005.parquet.123.tmp").write_bytes(b"PAR1 partial")
    run = run_batch(cohort, out, **ROLES, partitions=6, **RUN)
    assert (run.facts["partitions_reused"], run.facts["partitions_computed"]) == (2, 4)
    same(run.read("breakthroughs"), expected[1].table, ["client"])
    pd.testing.assert_frame_equal(run.summary(), expected[1].summary())
    # Other options in the same folder are refused rather than mixed in.
    with pytest.raises(OptionError, match="--restart"):
        run_batch(cohort, out, **ROLES, partitions=6, **{**RUN, "seed": 4})


def test_restart_forgets_the_earlier_runs_pooled_statistics(cohort, tmp_path):
    # --restart with other input in the same folder: nothing of the earlier run is reused
    other = tmp_path / "other.parquet"
    data = simulated(120, seed=11)
    data["score"] = (data["score"] * 0.6).round()  # other spread: other pooled statistics
    data.to_parquet(other)
    out = tmp_path / "run"
    run_batch(cohort, out, **ROLES, partitions=3, **RUN)
    again = run_batch(other, out, **ROLES, partitions=3, restart=True, **RUN)
    fresh = run_batch(other, tmp_path / "fresh", **ROLES, partitions=3, **RUN)
    assert again.facts["pooled_noise_sd"] == fresh.facts["pooled_noise_sd"]
    assert again.facts["rows_read"] == fresh.facts["rows_read"] == len(data)
    same(again.read("breakthroughs"), fresh.read("breakthroughs"), ["client"])


def test_folder_of_csv_files_with_text_ids_and_excluded_rows(tmp_path):
    data = simulated(160, seed=8)
    data["client"] = "c" + data["client"].astype(str).str.zfill(4)
    bad = [5, 400, 1200]  # out of the BDI-II range, in both files
    data.loc[bad, "score"] = 70
    folder = tmp_path / "in"
    folder.mkdir()
    half = len(data) // 2
    data.iloc[:half].to_csv(folder / "a.csv", index=False)
    data.iloc[half:].to_csv(folder / "b.csv", index=False)
    run = run_batch(folder, tmp_path / "out", **ROLES, invalid="exclude", partitions=4, **RUN)
    frames = [read_table(folder / f, text_columns=["client"]) for f in ("a.csv", "b.csv")]
    whole = pd.concat(frames)  # row labels are each file's own
    scores = long_scores(whole, **ROLES, invalid="exclude")
    answer = toolkit.breakthroughs(scores, n_boot=RUN["n_boot"], seed=RUN["seed"])
    same(run.read("breakthroughs"), answer.table, ["client"])
    excluded = run.read("excluded")
    assert run.facts["rows_excluded"] == len(scores.excluded) == 3
    assert excluded["file"].map(lambda f: f.rsplit("/", 1)[-1]).tolist() == [
        "a.csv",
        "a.csv",
        "b.csv",
    ]
    assert sorted(excluded["row"]) == sorted([5, 400, 1200 - half])
    assert run.facts["rows_read"] == len(data)


def test_bad_row_stops_the_run_with_the_in_memory_message_and_the_file(tmp_path):
    data = simulated(120, seed=9)
    data["score"] = data["score"].astype(object)
    data.loc[333, "score"] = "n.a."
    path = tmp_path / "bad.csv"
    data.to_csv(path, index=False)
    frame = read_scores(path, client="client", session="session", score="score").frame
    with pytest.raises(NonNumericError) as memory:
        long_scores(frame, **ROLES)
    out = tmp_path / "out"
    with pytest.raises(NonNumericError) as batch:
        run_batch(path, out, **ROLES, partitions=5, **RUN)
    assert str(batch.value) == f"{path}: {memory.value}"
    assert "row 333" in str(batch.value)
    assert not list(out.glob("_done/*.json"))
    assert not list(out.glob("breakthroughs/*.parquet"))
    # The command line says the same in one line, exit status 2.
    assert cli_main(["batch", str(path), "--out", str(out), "--workers", "0", "--quiet",
                     "--partitions", "5", "--instrument", "BDI-II"]) == 2  # fmt: skip


def test_command_line_writes_the_datasets_and_the_summary(cohort, expected, tmp_path, capsys):
    out = tmp_path / "cli"
    status = cli_main(["batch", str(cohort), "--out", str(out), "--workers", "0",
                       "--instrument", "BDI-II", "--partitions", "3", "--seed", "3",
                       "--n-boot", "49", "--methods", "sudden_gains", "changepoint",
                       "--quiet"])  # fmt: skip
    assert status == 0
    # monitoring was not asked for, so it has no folder
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("_")) == [
        "breakthroughs", "changepoint", "excluded", "skipped", "sudden_gains",
        "summary.html", "summary.json",
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert [m["method"] for m in summary["methods"]] == ["sudden gains", "change points"]
    flagged = {m["method"]: m["n_flagged"] for m in summary["methods"]}
    memory = expected[1].summary().set_index("method")["n_flagged"]
    assert flagged == {k: int(memory[k]) for k in flagged}


def test_monitoring_flags_equal_in_memory_whatever_the_partitioning(cohort, expected, tmp_path):
    from toolkit.batch._monitoring import reference_clients
    from toolkit.monitoring import expected_response

    scores = expected[0]
    # A reference sample smaller than the registry: the clients with the 100 smallest keys
    sample = scores.subset(clients=reference_clients(scores.clients, 100, RUN["seed"]))
    assert sample.n_clients == 100
    flags = expected_response(sample, folds=5, seed=RUN["seed"]).flag(scores)
    for partitions in (1, 7):
        run = run_batch(cohort, tmp_path / f"p{partitions}", **ROLES, partitions=partitions,
                        monitoring_reference=100, **RUN)  # fmt: skip
        same(run.read("monitoring"), flags.table, ["client", "session"])
        same(run.read("monitoring_clients"), flags.clients, ["client"])
        assert run.facts["monitoring_clients"] == flags.clients["flagged"].notna().sum()
        assert run.facts["monitoring_flagged"] == flags.clients["flagged"].sum() > 0
    # the reference clients' own curves are cross-fitted, the others' come from the whole sample
    table = run.read("monitoring")
    assert table.loc[table["client"].isin(sample.clients), "fold"].notna().all()
    assert table.loc[~table["client"].isin(sample.clients), "fold"].isna().all()


def test_monitoring_needs_a_breakthrough_method_and_a_sample(cohort, tmp_path, capsys):
    with pytest.raises(OptionError, match="beside monitoring"):
        run_batch(cohort, tmp_path, **ROLES, methods=["monitoring"], **RUN)
    assert cli_main(["batch", str(cohort), "--out", str(tmp_path / "o"), "--workers", "0",
                     "--quiet", "--monitoring-reference", "3"]) == 2  # fmt: skip
    assert "--monitoring-reference must be" in capsys.readouterr().err


def test_partition_of_keys_ids_not_their_storage():
    text = partition_of(pd.Series(["17", "3", "017", "x"]), 16)
    numbers = partition_of(pd.Series([17, 3]), 16)
    codes = partition_of(pd.Series(["17", "3", "017", "x"], dtype="category"), 16)
    assert list(text[:2]) == list(numbers)
    assert list(codes) == list(text)
    counts = np.bincount(partition_of(pd.Series(np.arange(20_000)), 8), minlength=8)
    assert counts.min() > 2_200  # an even spread (2,500 expected per partition)


def test_unknown_method_is_refused(cohort, tmp_path):
    with pytest.raises(OptionError, match="'methods' parameter"):
        run_batch(cohort, tmp_path, **ROLES, methods=["bayes"], **RUN)
    with pytest.raises(DataError, match="no such file"):
        run_batch(tmp_path / "missing.csv", tmp_path, **ROLES, **RUN)


def test_wide_export_with_dates_as_the_report_reads_it(tmp_path):
    data = simulated(90, seed=13)
    wide = data.pivot(index="client", columns="session", values="score")
    wide.columns = [f"bdi_{n}" for n in wide.columns]
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(wide.shape[1]) * 7 + 13, unit="D")
    for n, day in zip(range(1, wide.shape[1] + 1), days):
        wide[f"date_{n}"] = day.strftime("%d/%m/%Y")
    path = tmp_path / "wide.csv"
    wide.reset_index().to_csv(path, index=False)
    read = read_scores(path, client="client", wide="bdi_{n}", wide_dates="date_{n}")
    scores = long_scores(read.frame, **ROLES)
    answer = toolkit.breakthroughs(scores, n_boot=RUN["n_boot"], seed=RUN["seed"])
    run = run_batch(path, tmp_path / "out", **ROLES, wide="bdi_{n}", wide_dates="date_{n}",
                    partitions=3, **RUN)  # fmt: skip
    same(run.read("breakthroughs"), answer.table, ["client"])
    assert any("day first" in n for n in run.notes) and any("day first" in n for n in read.notes)
