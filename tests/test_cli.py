"""The report command: runs on a small file, writes the report, fails cleanly on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.cli import main
from toolkit.simulate import trajectories


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    scores, _ = trajectories(25, 10, seed=3, missing=0.1)
    path = tmp_path / "scores.csv"
    scores.drop(columns="true_score").rename(columns={"client": "id", "score": "bdi"}).to_csv(
        path, index=False
    )
    return path


def run(*args: str) -> int:
    # The Bayesian section samples for seconds; one test below runs the full report.
    return main(
        [*args, "--skip-bayes"] if "--full" not in args else [a for a in args if a != "--full"]
    )


def test_report_from_a_csv_file(small_csv, tmp_path, capsys):
    out = tmp_path / "report"
    status = run(
        str(small_csv),
        "--client",
        "id",
        "--score",
        "bdi",
        "--instrument",
        "BDI-II",
        "--out",
        str(out),
        "--quiet",
    )
    assert status == 0
    assert capsys.readouterr().out == ""  # --quiet: nothing printed
    page = (out / "index.html").read_text()
    assert "Validated data" in page and "data:image/png;base64," in page
    summary = pd.read_csv(out / "tables" / "data_summary.csv")
    assert summary.loc[0, "n_clients"] == 25 and summary.loc[0, "n_rows"] == 250
    assert (out / "tables" / "excluded_rows.csv").exists()
    assert (out / "figures" / "spaghetti.png").stat().st_size > 10_000


def test_report_from_parquet(small_csv, tmp_path):
    parquet = tmp_path / "scores.parquet"
    pd.read_csv(small_csv).to_parquet(parquet)
    assert (
        run(
            str(parquet),
            "--client",
            "id",
            "--score",
            "bdi",
            "--better",
            "lower",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        )
        == 0
    )


def test_default_runs_on_the_shipped_dataset_with_every_section(tmp_path, capsys):
    assert run("--out", str(tmp_path / "r"), "--full") == 0
    out = capsys.readouterr().out
    assert "shipped dataset 'sgdata': 43 clients, 0 rows excluded" in out
    page = (tmp_path / "r" / "index.html").read_text()
    for heading in (
        "Validated data",
        "Reliable change",
        "Sudden gains",
        "Change points",
        "Growth model",
        "Bayesian",
    ):
        assert heading.lower() in page.lower(), heading
    tables = {p.name for p in (tmp_path / "r" / "tables").iterdir()}
    assert {"data_summary.csv", "sudden_gains_by_gain.csv", "changepoints.csv"} <= tables
    assert any("bayes" in name for name in tables)


def test_excluded_rows_are_listed_in_the_report(small_csv, tmp_path):
    df = pd.read_csv(small_csv)
    df.loc[3, "bdi"] = 99  # outside the BDI-II range
    df.to_csv(small_csv, index=False)
    out = tmp_path / "r"
    assert (
        run(
            str(small_csv),
            "--client",
            "id",
            "--score",
            "bdi",
            "--instrument",
            "BDI-II",
            "--exclude-invalid",
            "--out",
            str(out),
            "--quiet",
        )
        == 0
    )
    excluded = pd.read_csv(out / "tables" / "excluded_rows.csv")
    assert excluded["row"].tolist() == [3]
    assert "outside the BDI-II range" in excluded["reason"].iloc[0]


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        (None, ["--score", "phq"], "no column 'phq'"),
        ("text", ["--score", "bdi"], "non-numeric score"),
        ("range", ["--score", "bdi", "--instrument", "BDI-II"], "outside the BDI-II range"),
        (None, ["--score", "bdi", "--instrument", "XYZ"], "Unknown instrument 'XYZ'"),
    ],
)
def test_bad_files_end_with_one_line_and_nonzero_exit(
    small_csv, tmp_path, capsys, change, args, message
):
    df = pd.read_csv(small_csv)
    if change == "text":
        df["bdi"] = df["bdi"].astype(object)
        df.loc[5, "bdi"] = "n/a?"
    elif change == "range":
        df.loc[5, "bdi"] = 70
    df.to_csv(small_csv, index=False)
    status = run(str(small_csv), "--client", "id", *args, "--out", str(tmp_path / "r"), "--quiet")
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("toolkit: error: ") and message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_missing_and_unknown_files(tmp_path, capsys):
    assert run(str(tmp_path / "nope.csv"), "--quiet") == 2
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "scores.xlsx"
    other.write_text("x")
    assert run(str(other), "--quiet") == 2
    assert "unknown file type '.xlsx'" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "--list-datasets"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sgdata" in done.stdout and "btheb" in done.stdout


def test_session_dates(tmp_path):
    path = tmp_path / "dated.csv"
    pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2, 2],
            "when": [
                "2024-01-08",
                "2024-01-01",
                "2024-01-15",
                "2024-02-01",
                "2024-02-08",
                "2024-02-15",
            ],
            "phq": [12, 15, 9, 20, 18, 11],
        }
    ).to_csv(path, index=False)
    out = tmp_path / "r"
    assert (
        run(
            str(path),
            "--client",
            "id",
            "--session",
            "when",
            "--score",
            "phq",
            "--instrument",
            "PHQ-9",
            "--session-dates",
            "--out",
            str(out),
            "--quiet",
        )
        == 0
    )
    summary = pd.read_csv(out / "tables" / "data_summary.csv")
    assert summary.loc[0, "n_sessions"] == 3
    assert (
        run(
            str(path),
            "--client",
            "id",
            "--session",
            "when",
            "--score",
            "phq",
            "--out",
            str(out),
            "--quiet",
        )
        == 2
    )  # without the flag: not a number


# --- the same data in every file shape -------------------------------------------------------


@pytest.fixture
def routine_export():
    """A service export: text ids, a therapist and an arm per client, UK dates, missed
    sessions (empty cells). As a long table and as the wide table a service would send."""
    import numpy as np

    rng = np.random.default_rng(5)
    rows = []
    for i in range(12):
        cid = f"NHS-{i:03d}"
        therapist = f"T{i % 3}"
        arm = "cbt" if i % 2 else "guided self-help"
        for s in range(1, 9):
            missed = (i + s) % 5 == 0
            score = None if missed else float(np.clip(20 - s + rng.integers(-2, 3), 0, 27))
            day = 7 * s + i  # dates up to the end of March: day-first shows above 12
            date = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day)
            rows.append((cid, therapist, arm, s, date.strftime("%d/%m/%Y"), score))
    long = pd.DataFrame(rows, columns=["id", "therapist", "arm", "session", "date", "phq9"])
    wide = long.pivot(index=["id", "therapist", "arm"], columns="session", values=["phq9", "date"])
    wide.columns = [f"{measure}_{n}" for measure, n in wide.columns]
    return long, wide.reset_index()


def _validated_from(tmp_path, path, *extra, covariates=("therapist", "arm")):
    from toolkit.cli import _load, _parser

    args = _parser().parse_args([str(path), "--client", "id", *extra])
    frame, roles, facts = _load(args, [])
    from toolkit.data import long_scores

    roles = {**roles, "instrument": "PHQ-9"}
    return long_scores(frame, **roles, covariates=list(covariates)), facts


def test_wide_semicolon_and_spss_files_give_the_same_data_as_the_long_csv(tmp_path, routine_export):
    long, wide = routine_export
    long_path = tmp_path / "long.csv"
    long.drop(columns="date").to_csv(long_path, index=False)
    reference, _ = _validated_from(tmp_path, long_path, "--score", "phq9")

    wide_path = tmp_path / "wide.csv"
    wide.to_csv(wide_path, index=False)
    from_wide, facts = _validated_from(
        tmp_path,
        wide_path,
        *("--wide", "phq9_{n}", "--wide-dates", "date_{n}", "--dayfirst"),
        covariates=("therapist", "arm", "session_date"),
    )
    semi_path = tmp_path / "semicolon.csv"
    long.drop(columns="date").to_csv(semi_path, index=False, sep=";")
    from_semi, semi_facts = _validated_from(tmp_path, semi_path, "--score", "phq9")
    assert "';'-separated" in semi_facts["reading"]

    import pyreadstat

    sav_path = tmp_path / "export.sav"
    pyreadstat.write_sav(long.drop(columns="date"), str(sav_path))
    from_sav, _ = _validated_from(tmp_path, sav_path, "--score", "phq9")

    for other in (from_wide, from_semi, from_sav):
        assert list(other.clients) == list(reference.clients)
        np.testing.assert_array_equal(other.to_matrix(), reference.to_matrix())
        for column in ("therapist", "arm"):
            assert other.client_values(column).tolist() == reference.client_values(column).tolist()
    # The UK dates were read day first (25/01 cannot be month first).
    dates = from_wide.data["session_date"]
    assert dates.min() >= pd.Timestamp("2024-01-08") and dates.max() <= pd.Timestamp("2024-03-31")
    assert facts["input SHA-256"] and len(facts["input SHA-256"]) == 64


def test_report_from_a_wide_export_with_a_group(tmp_path, routine_export, capsys):
    _, wide = routine_export
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    out = tmp_path / "r"
    status = run(
        str(path), "--client", "id", "--wide", "phq9_{n}", "--instrument", "PHQ-9",
        "--group", "arm", "--seed", "3", "--skip", "growth,change-points", "--out", str(out),
        "--quiet",
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    import html

    page = html.unescape((out / "index.html").read_text())
    assert "per arm" in page and "guided self-help" in page
    assert "Change points</h2>" not in page and "Growth model</h2>" not in page
    assert "--wide phq9_{n}" in page or "--wide 'phq9_{n}'" in page  # the exact command
    by_group = pd.read_csv(out / "tables" / "summary_by_group.csv")
    assert set(by_group["group"]) == {"cbt", "guided self-help"}


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("", [], "is empty (0 bytes)"),
        ("client,session,score,score\n1,1,3,4\n", [], "more than once"),
        ("client,session,score\n1,1,3\n1,2\n1,3,5\n", [], "line 3: 2 field(s)"),
        ("client;session;score\n1;1;3\n", ["--sep", ","], "pass --sep ';'"),
        (
            "client,session,score\n1,03/02/2024,3\n1,25/02/2024,4\n1,02/13/2024,4\n",
            ["--session-dates"],
            "mixes day-first",
        ),
        ("client,session,score\n1,1,3\n1,1,4\n", ["--better", "lower"], "more than once"),
        ("client,session,score\n1,1,30\n", ["--instrument", "PHQ-9"], "--exclude-invalid"),
    ],
)
def test_bad_files_name_the_file_line_and_flags(tmp_path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert run(str(path), *args, "--out", str(tmp_path / "r"), "--quiet") == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1
    # Advice is given in flags, never as Python keywords.
    assert "invalid='exclude'" not in err and "sep=" not in err


def test_ambiguous_dates_are_read_month_first_with_a_note(tmp_path, capsys):
    path = tmp_path / "dates.csv"
    path.write_text(
        "client,session,score\n1,03/02/2024,20\n1,04/02/2024,12\n1,05/02/2024,10\n1,06/02/2024,9\n"
    )
    status = run(
        str(path), "--session-dates", "--instrument", "PHQ-9", "--skip", "growth",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert status == 0
    err = capsys.readouterr().err
    assert "fit both day-first and month-first" in err and "--dayfirst" in err
