"""The report command: runs on a small file, writes the report, fails cleanly on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
