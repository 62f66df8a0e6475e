"""The bad-input catalogue: one case (at least) per class of malformed input and per public
function, each asserting the error type and the words of its message or, for input that is
accepted, that every row and client is accounted for.

The classes (see the data layer's contract in README.md):

1. files the command line misreads;   2. ids;   3. frames;   4. extreme magnitudes;
5. option values;   6. the simulator's arguments;   7. raw warnings;
8. conventions that surprise (empty sessions at the ends);   9. dependencies and report CSVs.
"""

from __future__ import annotations

import csv
import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import (
    changepoint,
    classes,
    datasets,
    errors,
    growth,
    monitoring,
    reliable_change,
    simulate,
    sudden_gains,
)
from toolkit.cli import main
from toolkit.errors import (
    DataError,
    DuplicateSessionError,
    EmptyDataError,
    InputTypeError,
    MagnitudeError,
    NonNumericError,
    OptionError,
    ScoreRangeError,
    SessionError,
    ToolkitWarning,
    UnknownNameError,
)
from toolkit.files import read_scores
from toolkit.report import Report

ROOT = Path(__file__).resolve().parents[1]
ROLES = dict(client="client", session="session", score="score")
PHQ = dict(ROLES, instrument="PHQ-9")


@pytest.fixture(scope="module")
def phq() -> pd.DataFrame:
    """12 clients x 8 PHQ-9 sessions, half with a sudden gain, a few scores missing."""
    scores, _ = simulate.trajectories(
        12, 8, instrument="PHQ-9", gain_share=0.5, missing=0.05, seed=12
    )
    return scores[["client", "session", "score"]]


def quiet(call, *args, **kwargs):
    """Run ``call`` with the toolkit's own warnings silenced (raw warnings still raise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        warnings.simplefilter("error", RuntimeWarning)
        return call(*args, **kwargs)


# --- 1. Files the command line misreads ------------------------------------------------
def cli_error(tmp_path: Path, capsys, name: str, text: str, *flags: str) -> str:
    """The command's one-line error for a file holding ``text`` (exit status 2)."""
    path = tmp_path / name
    path.write_text(text)
    status = main([str(path), "--out", str(tmp_path / "report"), "--quiet", *flags])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("toolkit: error: ")
    return err


@pytest.mark.parametrize(
    ("name", "text", "flags", "words"),
    [
        ("empty.csv", "", (), r"empty\.csv is empty \(0 bytes\)"),
        (
            "header.csv",
            "client,session,score,score\n1,1,10,11\n1,2,9,8\n",
            (),
            r"header\.csv: the header name\(s\) \['score'\] more than once.*rename or drop",
        ),
        (
            "ragged.csv",
            "client,session,score\n1,1,10\n1,2\n1,3,8\n",
            (),
            r"ragged\.csv, line 3: 2 field\(s\) where the header has 3.*--sep",
        ),
        (
            "semicolon.csv",
            "client;session;score\n1;1;10\n1;2;9\n",
            ("--sep", ","),
            r"looks ';'-separated\. Fix: pass --sep ';'",
        ),
        (
            "text.csv",
            "client,session,score\n1,1,10\n1,2,abc\n",
            (),
            r"non-numeric score: row 1 \(client 1, value 'abc'\).*--exclude-invalid",
        ),
        (
            "dates.csv",
            "client,session,score\n1,2020-01-01,10\n1,notadate,9\n",
            ("--session-dates",),
            r"row 1 \('notadate'\).*--date-format",
        ),
        (
            "ids.csv",
            "client,session,score\na,1,10\n a,2,9\n",
            ("--better", "lower"),
            r"spelled in more than one way, e\.g\. 'a' \(row 0\), ' a' \(row 1\)",
        ),
        (
            "direction.csv",
            "client,session,score\n1,1,10\n1,2,9\n",
            (),
            r"--better lower.*--better higher",
        ),
    ],
)
def test_files_the_command_line_misreads_end_in_one_named_error(
    tmp_path, capsys, name, text, flags, words
):
    err = cli_error(tmp_path, capsys, name, text, *flags)
    assert re.search(words, err), err
    # Advice is in the command's flags, never in Python keywords.
    assert not re.search(r"invalid='exclude'|pandas\.to_datetime|dayfirst=True", err)


def test_a_semicolon_file_is_read_with_its_delimiter_detected(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("client;session;score\n1;1;10\n1;2;9\n2;1;12\n")
    read = read_scores(path, **ROLES)
    assert read.notes == ["read as ';'-separated"]
    assert read.frame.shape == (3, 3) and read.frame["score"].tolist() == [10, 9, 12]


def test_dates_are_never_reordered_silently(tmp_path):
    day_first = tmp_path / "eu.csv"
    day_first.write_text("client,session,score\n1,03/04/2020,10\n1,13/04/2020,9\n")
    read = read_scores(day_first, **ROLES, date_columns=["session"])
    assert read.notes == ["dates in 'session' read day first (e.g. '13/04/2020')"]
    assert read.frame["session"].dt.month.tolist() == [4, 4]

    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text("client,session,score\n1,03/04/2020,10\n1,05/04/2020,9\n")
    with pytest.warns(ToolkitWarning, match=r"fit both day-first and month-first.*dayfirst"):
        read = read_scores(ambiguous, **ROLES, date_columns=["session"])
    assert read.frame["session"].dt.month.tolist() == [3, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_scores(ambiguous, **ROLES, date_columns=["session"], dayfirst=True)
    assert read.frame["session"].dt.month.tolist() == [4, 4]


def test_the_command_gives_date_advice_as_flags(tmp_path, capsys):
    path = tmp_path / "ambiguous.csv"
    path.write_text(
        "client,session,score\n1,03/04/2020,10\n1,05/04/2020,9\n1,06/04/2020,8\n"
        "2,03/04/2020,12\n2,05/04/2020,7\n2,06/04/2020,7\n"
    )
    skip = "trajectories,breakthroughs,reliable-change,sudden-gains,change-points,growth"
    status = main(
        [str(path), "--session-dates", "--better", "lower", "--out", str(tmp_path / "r")]
        + ["--skip", skip + ",monitoring,bayes"]
    )
    assert status == 0
    err = capsys.readouterr().err
    assert "fit both day-first and month-first" in err and "pass --dayfirst" in err
    assert "dayfirst=True" not in err


# --- 2. Ids -----------------------------------------------------------------------------
def test_the_command_gives_id_advice_without_python(tmp_path, capsys):
    text = "client,session,score\n7,1,20\n7,2,15\n7 ,3,14\n7 ,4,10\n"
    err = cli_error(tmp_path, capsys, "ids.csv", text, "--instrument", "PHQ-9")
    assert "spelled in more than one way" in err
    assert "spell each client's id the same way in the file" in err
    assert ".str.strip()" not in err and "df[" not in err


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        ([1, 1, "1", "1"], r"1 \(row 0\), '1' \(row 2\)"),
        (["a", "a", " a", " a"], r"'a' \(row 0\), ' a' \(row 2\)"),
        (["7", "7", "7 ", "7 "], r"'7' \(row 0\), '7 ' \(row 2\)"),
    ],
)
def test_ids_that_read_as_one_client_are_refused(ids, shown):
    df = pd.DataFrame({"client": pd.Series(ids, dtype=object), "session": [1, 2, 3, 4]})
    df["score"] = [20.0, 15.0, 14.0, 10.0]
    message = rf"Column 'client': 1 client id\(s\) are spelled in more than one way.*{shown}"
    for call in (
        lambda: toolkit.long_scores(df, **PHQ),
        lambda: sudden_gains.identify(df, **PHQ),
        lambda: changepoint.detect(df, **PHQ),
        lambda: reliable_change.reliable_change(df, **PHQ),
    ):
        with pytest.raises(DataError, match=message):
            quiet(call)
    prepost = pd.DataFrame({"client": pd.Series(ids[1:], dtype=object), "pre": 20, "post": 9})
    with pytest.raises(DataError, match="spelled in more than one way"):
        reliable_change.from_prepost(
            prepost, client="client", pre="pre", post="post", instrument="PHQ-9"
        )


def test_ids_of_one_type_are_all_kept(phq):
    text = phq.assign(client="c" + phq["client"].astype(str))
    scores = toolkit.long_scores(text, **PHQ)
    assert scores.n_clients == phq["client"].nunique() == 12
    assert len(scores.data) == len(phq)


# --- 3. Frames --------------------------------------------------------------------------
def test_repeated_column_names_are_refused_by_every_entry_point(phq):
    df = phq.copy()
    df["extra"] = 0
    df.columns = ["client", "session", "score", "score"]
    words = r"repeated column names \['score'\].*ambiguous"
    for call in (
        lambda: toolkit.long_scores(df, **PHQ),
        lambda: sudden_gains.identify(df, **PHQ),
        lambda: changepoint.detect(df, **PHQ),
        lambda: toolkit.breakthroughs(df, **PHQ),
    ):
        with pytest.raises(DataError, match=words):
            quiet(call)
    prepost = pd.DataFrame([[1, 20, 9, 0]], columns=["client", "pre", "post", "post"])
    with pytest.raises(DataError, match=r"repeated column names \['post'\]"):
        reliable_change.from_prepost(
            prepost, client="client", pre="pre", post="post", instrument="PHQ-9"
        )


@pytest.mark.parametrize("data", [[[1, 1, 20.0]], {"client": [1]}, None, "scores.csv"])
def test_data_that_is_not_a_table_is_a_type_error_and_a_data_error(data):
    for call, words in (
        (lambda: toolkit.long_scores(data, **PHQ), "long_scores\\(\\) takes a pandas DataFrame"),
        (lambda: sudden_gains.identify(data, **PHQ), "Expected a long-format DataFrame"),
        (
            lambda: toolkit.from_wide(data, client="client", columns=["s1"]),
            "from_wide\\(\\) takes a pandas DataFrame",
        ),
        (
            lambda: reliable_change.from_prepost(data, client="c", pre="a", post="b"),
            "from_prepost\\(\\) takes a pandas DataFrame",
        ),
    ):
        with pytest.raises(InputTypeError, match=words) as caught:
            call()
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
        assert "Fix:" in str(caught.value)


WIDE = pd.DataFrame({"id": [1, 2], "s1": [20, 19], "s2": [12, 18], "arm": ["a", "b"]})


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(columns=["s1", "s1"]), DataError, r"\['s1'\] are listed more than once"),
        (dict(columns=["id", "s1"]), DataError, "client column 'id' is also listed as a score"),
        (dict(columns=["s1", "s2"], sessions=[1, 1]), SessionError, "repeats a session number"),
        (dict(columns=["s1", "s2"], sessions=[1, -2]), SessionError, "whole numbers >= 0"),
        (dict(columns=["s1", "s2"], sessions=[1]), OptionError, "one session number per score"),
        (dict(columns="s1"), OptionError, "'columns' parameter of from_wide must be a list"),
        (dict(columns=[]), OptionError, "same, non-zero number of session columns"),
        (dict(columns=["s1", "s9"]), errors.MissingColumnError, "s9"),
        (dict(columns=["s1", "s2"], session="arm"), OptionError, "'arm' is already a column"),
    ],
)
def test_from_wide_checks_its_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        toolkit.from_wide(WIDE, client="id", **kwargs)


def test_from_wide_refuses_repeated_columns_and_clients():
    twice = WIDE.rename(columns={"s2": "s1"})
    with pytest.raises(DataError, match=r"repeated column names \['s1'\]"):
        toolkit.from_wide(twice, client="id", columns=["s1"])
    with pytest.raises(DataError, match=r"client\(s\) \[1\] have more than one row"):
        toolkit.from_wide(pd.concat([WIDE, WIDE.iloc[:1]]), client="id", columns=["s1", "s2"])


def test_from_wide_accounts_for_every_cell():
    long = toolkit.from_wide(WIDE, client="id", columns=["s1", "s2"], sessions=[0, 3])
    assert len(long) == WIDE.shape[0] * 2
    assert long["score"].tolist() == [20, 12, 19, 18]
    assert long["session"].tolist() == [0, 3, 0, 3] and long["arm"].tolist() == list("aabb")


def test_every_row_excluded_shows_the_reasons():
    df = pd.DataFrame({"client": [1, 1, 2, 3], "session": [1, 2, 1, 1], "score": list("abxy")})
    with pytest.raises(EmptyDataError) as caught:
        toolkit.long_scores(df, **PHQ, invalid="exclude")
    message = str(caught.value)
    assert "Every row was excluded as invalid: 4 row(s) in column 'score'" in message
    assert "row 0 (client 1, value 'a')" in message and "and 1 more" in message


def test_excluded_rows_are_accounted_for(phq):
    df = phq.astype({"score": object}).copy()
    df.loc[df.index[:3], "score"] = "n/a"
    df.loc[df.index[3], "score"] = 99  # outside PHQ-9's 0-27
    scores = quiet(toolkit.long_scores, df, **PHQ, invalid="exclude")
    assert len(scores.data) + len(scores.excluded) == len(phq)
    assert sorted(scores.excluded["row"]) == list(df.index[:4])
    assert set(scores.data["client"]) | set(scores.excluded["client"]) == set(phq["client"])


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (dict(session=[1, 1]), DuplicateSessionError, r"pair\(s\) occur more than once"),
        (dict(session=[1, -1]), SessionError, "negative"),
        (dict(session=[1, 1.5]), SessionError, "whole"),
        (dict(score=[10.0, 28.0]), ScoreRangeError, "outside"),
        (dict(score=[10.0, np.inf]), NonNumericError, "infinite"),
        (dict(client=[1, None]), SessionError, "missing client id"),
    ],
)
def test_malformed_rows_name_the_column_and_row(change, error, words):
    df = pd.DataFrame({"client": [1, 1], "session": [1, 2], "score": [10.0, 12.0]})
    for column, values in change.items():
        df[column] = values
    with pytest.raises(error, match=rf"(?i){words}") as caught:
        toolkit.long_scores(df, **PHQ)
    assert "Fix" in str(caught.value) or "fix" in str(caught.value)


# --- 4. Extreme magnitudes --------------------------------------------------------------
@pytest.mark.parametrize("factor", [1e-200, 1e200])
def test_extreme_magnitudes_are_refused_with_the_rescaling(phq, factor):
    df = phq.assign(score=phq["score"] * factor)
    kw = dict(ROLES, better="lower")
    words = r"rescale the column" if factor > 1 else r"every score is smaller than 1e-30"
    for call in (
        lambda: toolkit.long_scores(df, **kw),
        lambda: sudden_gains.identify(df, **kw),
        lambda: changepoint.detect(df, **kw),
        lambda: reliable_change.reliable_change(df, **kw),
        lambda: classes.fit(df, 2, **kw),
    ):
        with pytest.raises(MagnitudeError, match=words):
            quiet(call)
    prepost = pd.DataFrame({"client": [1, 2], "pre": [20 * factor] * 2, "post": [9 * factor] * 2})
    with pytest.raises(MagnitudeError, match="rescale"):
        reliable_change.from_prepost(
            prepost, client="client", pre="pre", post="post", better="lower", sd=1
        )


def test_a_single_huge_score_is_a_row_to_exclude(phq):
    df = phq.copy()
    df.loc[df.index[5], "score"] = 1e40
    with pytest.raises(MagnitudeError, match=rf"beyond 1e\+30\): row {df.index[5]} \(client"):
        toolkit.long_scores(df, **ROLES, better="lower")
    scores = quiet(toolkit.long_scores, df, **ROLES, better="lower", invalid="exclude")
    assert scores.excluded["row"].tolist() == [df.index[5]]
    assert len(scores.data) == len(phq) - 1


@pytest.mark.parametrize("factor", [1e-25, 1e-8, 0.1, 7.3, 1e12, 1e25])
def test_magnitudes_within_the_bounds_give_the_same_answers(phq, factor):
    """Sudden gains, reliable change and change points on ``factor * scores`` (with every
    option in points times ``factor``) equal those on the scores: scale invariance, integer
    ties included (PHQ-9 totals reach the 6-point criterion exactly)."""

    def answers(c):
        scores = toolkit.long_scores(
            phq.assign(score=phq["score"] * c), **ROLES, better="lower", reliable_change=6 * c
        )
        sg = quiet(sudden_gains.identify, scores, kind="both").table
        rc = quiet(reliable_change.reliable_change, scores, sd=5 * c, reliability=0.8)
        cp = quiet(changepoint.detect, scores).table
        amoc = quiet(changepoint.amoc, scores, n_boot=19, seed=1).table
        answer = quiet(toolkit.breakthroughs, scores, n_boot=19).table
        return (
            sg[["client", "kind", "pre_session", "reversal"]],
            sg["magnitude"] / c,
            rc.table["category"],
            cp[["client", "session", "last_pre_session"]],
            # not the session: like the exact search (and R changepoint), amoc takes the
            # lowest cost as computed, so an exact tie between two candidate sessions of
            # whole-point scores is broken by rounding, which depends on the scale
            amoc[["client", "p_value", "n_in_set"]],
            answer[["client", "n_methods"]],
        )

    base, scaled = answers(1.0), answers(factor)
    assert len(base[0]) >= 2 and len(base[3]) >= 2  # something to compare
    pd.testing.assert_frame_equal(base[0], scaled[0])
    np.testing.assert_allclose(base[1], scaled[1], rtol=1e-9)
    pd.testing.assert_series_equal(base[2], scaled[2])
    for left, right in zip(base[3:], scaled[3:]):
        pd.testing.assert_frame_equal(left, right)


# --- 5. Option values -------------------------------------------------------------------
def _options_cases():
    sg, rc, cp = sudden_gains.identify, reliable_change.reliable_change, changepoint.detect
    return [
        # data layer
        (
            toolkit.long_scores,
            dict(reliable_change=np.inf),
            "'reliable_change' parameter of long_scores",
        ),
        (toolkit.long_scores, dict(reliable_change=True), r"in \(0, 27\]"),
        (toolkit.long_scores, dict(reliable_change=-2), r"in \(0, 27\]"),
        (toolkit.long_scores, dict(reliable_change=30), "larger than the whole range"),
        (toolkit.long_scores, dict(invalid="drop"), r"'invalid' parameter of long_scores"),
        (toolkit.long_scores, dict(sequence="rows"), r"'sequence' parameter of long_scores"),
        # sudden gains
        (
            sg,
            dict(min_change=np.inf),
            r"'min_change' parameter of identify must be a number in \(0, 27\]",
        ),
        (sg, dict(min_change=0), r"'min_change' parameter of identify"),
        (sg, dict(min_change=True), r"'min_change' parameter of identify"),
        (
            sg,
            dict(proportion=1.5),
            r"'proportion' parameter of identify must be a number in \(0, 1\]",
        ),
        (sg, dict(crit3=1), "'crit3' parameter of identify must be True or False"),
        (sg, dict(adjust_critical_value="no"), "'adjust_critical_value' parameter"),
        (sg, dict(first_interval=None), "'first_interval' parameter"),
        (sg, dict(alpha=0), r"'alpha' parameter of identify"),
        (sg, dict(reversal_start=1), r"'reversal_start' parameter of identify must be a whole"),
        (sg, dict(kind="gainz"), r"'kind' parameter of identify must be one of"),
        (
            sg,
            dict(min_change=None, proportion=None, crit3=False),
            "Every criterion is switched off",
        ),
        (sg, dict(sd=-1), r"'sd' parameter of identify must be a number in \(0, 27\]"),
        (
            sg,
            dict(reliability=1.0),
            r"'reliability' parameter of identify must be a number in \(0, 1\)",
        ),
        (sudden_gains.chance_baseline, dict(seed=None), "'seed' parameter of chance_baseline"),
        (sudden_gains.chance_baseline, dict(seed="abc"), "'seed' parameter of chance_baseline"),
        (sudden_gains.chance_baseline, dict(seed=1, n_replicates=0), "'n_replicates' parameter"),
        (sudden_gains.chance_baseline, dict(seed=1, method="all"), "'method' parameter of chance"),
        # reliable change
        (rc, dict(cutoff=-5), r"'cutoff' parameter of reliable_change .* number in \[0, 27\]"),
        (rc, dict(cutoff=np.inf), r"'cutoff' parameter of reliable_change"),
        (rc, dict(cutoff="d"), r"'cutoff' parameter of reliable_change must be one of"),
        (rc, dict(reliability=1.2), r"'reliability' parameter of reliable_change .* \(0, 1\)"),
        (rc, dict(reliability=True), r"'reliability' parameter of reliable_change"),
        (rc, dict(sd=0), r"'sd' parameter of reliable_change"),
        (rc, dict(sd=1e6), r"'sd' parameter of reliable_change .*\(0, 27\]"),
        (
            rc,
            dict(clinical=(-5, 3)),
            r"'clinical' parameter of reliable_change .*mean in \[0, 27\]",
        ),
        (rc, dict(functional=(5, -1)), r"'functional' parameter .*sd in \(0, 27\]"),
        (rc, dict(functional="5,3"), r"'functional' parameter of reliable_change"),
        (rc, dict(alpha=1.0), r"'alpha' parameter of reliable_change"),
        (rc, dict(b_uses_clinical_sd=1), "'b_uses_clinical_sd' parameter"),
        (rc, dict(pre_session=-1), "'pre_session' parameter of reliable_change"),
        (rc, dict(method="XYZ"), r"Unknown reliable change method 'XYZ'. Valid methods"),
        # change points (own checks)
        (cp, dict(penalty="HQ"), "'penalty'"),
        (cp, dict(model="cubic"), "'model'"),
        (cp, dict(min_size=0), "'min_size'"),
        (changepoint.amoc, dict(n_boot=0), "'n_boot'"),
        (changepoint.amoc, dict(level=1.5), "'level'"),
        # per-client answer
        (toolkit.breakthroughs, dict(n_boot=0), "'n_boot' parameter of breakthroughs"),
        (toolkit.breakthroughs, dict(seed=-1), "'seed' parameter of breakthroughs"),
        (toolkit.breakthroughs, dict(test="yes"), "'test' parameter of breakthroughs"),
        (toolkit.breakthroughs, dict(options=[1]), "'options' parameter of breakthroughs"),
        (toolkit.breakthroughs, dict(options={"nope": {}}), r"unknown method\(s\) \['nope'\]"),
        (toolkit.breakthroughs, dict(bayes_threshold=2), "'bayes_threshold' parameter"),
        # trajectory classes
        (classes.fit, dict(n_classes=True), "'n_classes' parameter of classes.fit"),
        (classes.fit, dict(n_classes=2, seed=-1), "'seed' parameter of classes.fit"),
        (classes.fit, dict(n_classes=2, tol=1.0), "'tol' parameter of classes.fit"),
        (
            classes.fit,
            dict(n_classes=2, min_change=np.inf),
            r"'min_change' parameter of classes.fit",
        ),
        (classes.fit, dict(n_classes=2, time_zero=1e9), "'time_zero' parameter of classes.fit"),
        (classes.fit, dict(n_classes=2, time="piecewise", knots=[99]), "'knots' parameter"),
        (
            classes.enumeration,
            dict(max_classes=0),
            "'max_classes' parameter of classes.enumeration",
        ),
        # growth models (own checks)
        (growth.fit, dict(time="cubic"), "'time'"),
        (growth.fit, dict(method="bayes"), "'method'"),
        # monitoring
        (monitoring.online, dict(hazard=0), "'hazard'"),
        (monitoring.online, dict(level=2), "'level'"),
        (monitoring.online, dict(prior_mean=1e9), r"'prior_mean' parameter .* in \[0, 27\]"),
        (monitoring.online, dict(keep_posterior=1), "'keep_posterior' parameter"),
        (monitoring.expected_response, dict(method="magic"), "'method'"),
    ]


@pytest.mark.parametrize(
    ("call", "options", "words"),
    _options_cases(),
    ids=lambda v: getattr(v, "__qualname__", None) if callable(v) else None,
)
def test_bad_option_values_name_the_option_and_its_range(phq, call, options, words):
    with pytest.raises((OptionError, UnknownNameError), match=words) as caught:
        quiet(call, phq, **PHQ, **options)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("call", "kwargs", "words"),
    [
        (reliable_change.rci_cutoff, dict(sd=-1, reliability=0.8), "'sd' parameter of rci_cutoff"),
        (reliable_change.rci_cutoff, dict(sd=5, reliability=0.8, z=0), "'z' parameter"),
        (reliable_change.rci_cutoff, dict(sd=5, reliability=True), "'reliability' parameter"),
        (
            reliable_change.cutoffs,
            dict(instrument="PHQ-9", clinical=(-3, 2), functional=(3, 2)),
            r"'clinical' parameter of cutoffs .*mean in \[0, 27\]",
        ),
        (
            reliable_change.cutoffs,
            dict(instrument="PHQ-9", b_uses_clinical_sd="yes"),
            "'b_uses_clinical_sd' parameter of cutoffs",
        ),
    ],
)
def test_bad_options_of_the_helpers(call, kwargs, words):
    with pytest.raises(OptionError, match=words):
        call(**kwargs)


def test_from_prepost_checks_options_against_the_instrument():
    df = pd.DataFrame({"client": [1, 2], "pre": [20, 18], "post": [9, 17]})
    kw = dict(client="client", pre="pre", post="post", instrument="PHQ-9")
    with pytest.raises(OptionError, match=r"'cutoff' parameter of from_prepost .*\[0, 27\]"):
        reliable_change.from_prepost(df, **kw, cutoff=-1)
    with pytest.raises(OptionError, match=r"'alpha' parameter of from_prepost"):
        reliable_change.from_prepost(df, **kw, alpha=2)
    with pytest.raises(NonNumericError, match="holds True/False, not scores"):
        reliable_change.from_prepost(df.assign(post=[True, False]), **kw)


@pytest.mark.parametrize("scores", [[True, False], np.array([True, False], dtype=object)])
def test_boolean_scores_are_not_numbers(scores):
    df = pd.DataFrame({"client": [1, 1], "session": [1, 2], "score": scores})
    with pytest.raises(NonNumericError, match=r"(True/False, not scores|value False)"):
        toolkit.long_scores(df, **PHQ)


@pytest.mark.parametrize("cut", [-1, 99, True, "10"])
def test_service_outcomes_caseness_lies_within_the_range(cut):
    phq, _ = simulate.trajectories(6, 6, instrument="PHQ-9", seed=1)
    gad, _ = simulate.trajectories(6, 6, instrument="GAD-7", seed=2)
    with pytest.raises(OptionError, match=r"'caseness\['PHQ-9'\]' parameter .*\[0, 27\]"):
        monitoring.service_outcomes({"PHQ-9": phq, "GAD-7": gad}, **ROLES, caseness={"PHQ-9": cut})


# --- 6. The simulator's arguments -------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(seed="abc"), r"'seed' parameter of trajectories must be None, a whole number"),
        (dict(seed=-1), "'seed' parameter of trajectories"),
        (dict(seed=1.5), "'seed' parameter of trajectories"),
        (dict(n_clients=True), r"'n_clients' parameter of trajectories .*Got True"),
        (dict(n_clients=2.5), "'n_clients' parameter of trajectories"),
        (dict(n_sessions=np.inf), "'n_sessions' parameter of trajectories"),
        (dict(noise_sd=-1), r"'noise_sd' parameter of trajectories must be a number in \[0, 27\]"),
        (dict(noise_sd="big"), "'noise_sd' parameter of trajectories"),
        (dict(first_session=-2), r"'first_session' parameter of trajectories .*\[0, "),
        (dict(baseline=40), r"'baseline' parameter of trajectories must be a number in \[0, 27\]"),
        (dict(gain_size=(5,)), r"'gain_size' parameter .*\(mean, sd\) pair in points of PHQ-9"),
        (dict(gain_size=(np.nan, 1)), "'gain_size' parameter of trajectories"),
        (dict(missing=True), r"'missing' parameter of trajectories must be a number in \[0, 1\]"),
        (dict(round_scores="yes"), "'round_scores' parameter of trajectories"),
        (dict(late_onset=(0, 0.5)), "'late_onset' parameter of trajectories"),
        (dict(change_sessions=(2.5, 4)), "'change_sessions' parameter of trajectories"),
        (dict(paired_instrument="NOPE"), "NOPE"),
    ],
)
def test_simulator_arguments_are_checked_like_the_data_layer(kwargs, words):
    args = dict(n_clients=5, n_sessions=6, instrument="PHQ-9") | kwargs
    error = UnknownNameError if "paired_instrument" in kwargs else OptionError
    with pytest.raises(error, match=words):
        simulate.trajectories(**args)


def test_simulated_sessions_start_where_asked_and_pass_validation():
    scores, _ = simulate.trajectories(6, 8, first_session=0, seed=1)
    assert scores["session"].min() == 0
    assert toolkit.long_scores(scores, **ROLES, better="lower").n_clients == 6


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (dict(model="cubic"), "'model' parameter of bayes.fit must be one of"),
        (dict(draws=0), r"'draws' parameter of bayes.fit must be a whole number in \[1, "),
        (dict(chains=True), "'chains' parameter of bayes.fit"),
        (dict(tune=-1), "'tune' parameter of bayes.fit"),
        (dict(breakthrough=np.inf), "'breakthrough' parameter of bayes.fit"),
        (dict(change="maybe"), "'change' parameter of bayes.fit must be one of"),
    ],
)
def test_bayes_options_fail_before_any_sampling(phq, options, words):
    from toolkit import bayes

    with pytest.raises(OptionError, match=words):
        quiet(bayes.fit, phq, **PHQ, **{**dict(draws=10, tune=10, chains=1), **options})


@pytest.mark.slow
def test_bayes_accounts_for_every_client_with_tiny_draws(phq):
    from toolkit import bayes

    short = pd.DataFrame({"client": 99, "session": [1, 2], "score": [20.0, 12.0]})
    data = pd.concat([phq[phq["client"] <= 5], short], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 draws: diagnostics warn, as they should
        result = bayes.fit(
            data, **PHQ, draws=20, tune=20, chains=1, seed=1, progress=False, sampler="pymc"
        )
    assert set(result.table["client"]) == set(range(1, 6))
    assert result.skipped["client"].tolist() == [99]
    assert "2 observed score(s)" in result.skipped["reason"].iloc[0]


# --- Other public functions: datasets, scale --------------------------------------------
def test_datasets_name_the_choices():
    with pytest.raises(UnknownNameError, match="sgdata"):
        datasets.load("sgdatta")
    with pytest.raises(UnknownNameError, match="sgdata"):
        datasets.roles("nope")
    for name in (5, None):
        with pytest.raises(UnknownNameError, match=rf"Unknown dataset {name}\. Available"):
            datasets.load(name)


def test_scale_refuses_an_unknown_method(phq):
    dd = pytest.importorskip("dask.dataframe")
    from toolkit import scale

    ddf = dd.from_pandas(phq, npartitions=2)
    # (a plain ValueError today; an OptionError is the house standard)
    with pytest.raises(ValueError, match=r"'method' parameter of by_client must be one of"):
        scale.by_client(ddf, "nope", **PHQ)
    with pytest.raises(OptionError, match=r"'min_change' parameter of identify .*\(0, 27\]"):
        quiet(scale.by_client, ddf, "sudden_gains", **PHQ, min_change=np.inf)


# --- 7. Raw warnings --------------------------------------------------------------------
def _awkward() -> pd.DataFrame:
    """Clients that make arithmetic awkward: constant, all missing, one and two scores."""
    base, _ = simulate.trajectories(10, 8, instrument="PHQ-9", gain_share=0.5, seed=5)
    extra = [
        pd.DataFrame({"client": 101, "session": range(1, 9), "score": 12.0}),
        pd.DataFrame({"client": 102, "session": range(1, 9), "score": np.nan}),
        pd.DataFrame({"client": 103, "session": [1], "score": [10.0]}),
        pd.DataFrame({"client": 104, "session": [1, 2], "score": [20.0, 5.0]}),
    ]
    return pd.concat([base[["client", "session", "score"]], *extra], ignore_index=True)


RAW_WARNING_CALLS = {
    "long_scores": lambda d: toolkit.long_scores(d, **PHQ).summary(),
    "reliable_change": lambda d: reliable_change.reliable_change(d, **PHQ).summary(),
    "identify": lambda d: sudden_gains.identify(d, **PHQ, kind="both").describe(),
    "chance_baseline": lambda d: sudden_gains.chance_baseline(d, **PHQ, n_replicates=5, seed=1),
    "detect": lambda d: changepoint.detect(d, **PHQ).summary(),
    "amoc": lambda d: changepoint.amoc(d, **PHQ, n_boot=19, seed=1).summary(),
    "breakthroughs": lambda d: toolkit.breakthroughs(d, **PHQ, n_boot=19).summary(),
    "classes.fit": lambda d: classes.fit(d, 2, **PHQ, n_starts=2, seed=1).summary(),
    "online": lambda d: monitoring.online(d, **PHQ).run_length_posterior(),
    "growth.fit": lambda d: growth.fit(d, **PHQ).summary(),
}


@pytest.mark.parametrize("name", list(RAW_WARNING_CALLS))
@pytest.mark.parametrize("variant", ["awkward clients", "tiny scale", "all constant"])
def test_no_raw_runtime_warning_reaches_the_user(name, variant):
    """Any raw NumPy/pandas RuntimeWarning is an error here: whatever is worth saying is a
    ToolkitWarning (or, when nothing can be computed, a DataError)."""
    data = _awkward()
    if variant == "tiny scale":
        data = data.assign(score=data["score"] * 1e-20)
    if variant == "all constant":
        data = data.assign(score=7.0)
    call = RAW_WARNING_CALLS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        try:
            call(data)
        except (ValueError, np.linalg.LinAlgError) as error:
            assert isinstance(error, ValueError), error
    raw = [w for w in caught if not issubclass(w.category, (ToolkitWarning, DeprecationWarning))]
    assert raw == [], [f"{w.category.__name__}: {w.message}" for w in raw]


def test_every_client_is_accounted_for_by_every_per_client_method():
    """Accepted but awkward clients (constant, all missing, one or two scores) are analysed
    or listed in ``skipped`` with a reason, never dropped."""
    data = _awkward()
    everyone = set(data["client"])
    rc = quiet(reliable_change.reliable_change, data, **PHQ)
    cp = quiet(changepoint.detect, data, **PHQ)
    sg = quiet(sudden_gains.identify, data, **PHQ)
    for analysed, skipped in (
        (rc.table["client"], rc.skipped),
        (cp.clients["client"], cp.skipped),
    ):
        assert set(analysed) | set(skipped["client"]) == everyone
        assert not set(analysed) & set(skipped["client"])
        assert skipped["reason"].str.len().gt(10).all()
    assert set(sg.by_client()["client"]) == everyone
    assert {102, 103, 104} <= set(sg.skipped["client"])
    assert set(quiet(toolkit.breakthroughs, data, **PHQ, n_boot=19).table["client"]) == everyone


def test_the_suite_turns_raw_runtime_warnings_from_toolkit_code_into_errors():
    """pyproject makes any RuntimeWarning raised from a toolkit module an error in every
    test (never a filter that hides warnings)."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    filters = options["ini_options"].get("filterwarnings", [])
    assert "error::RuntimeWarning:toolkit" in filters
    assert not any(f.startswith("ignore") for f in filters)
    with pytest.raises(RuntimeWarning):
        exec(  # a warning attributed to a toolkit module
            compile("import numpy as np\nnp.log(np.zeros(1))", "toolkit_probe", "exec"),
            {"__name__": "toolkit.probe"},
        )


# --- 8. Conventions that surprise: empty sessions at the ends -----------------------------
def _one(scores, first=1):
    return pd.DataFrame(
        {"client": 1, "session": np.arange(first, first + len(scores)), "score": scores}
    )


def _gains(df, **options):
    return (
        quiet(sudden_gains.identify, df, **PHQ, **options)
        .table[["pre_session", "gain_session"]]
        .values.tolist()
    )


def test_empty_sessions_at_the_ends_change_nothing_with_criterion_3():
    middle = [20.0, 19, 20, 8, 7, 8, 7, 6]
    at_first = [20.0, 8, 7, 8, 7, 6, 7, 6]
    at_last = [20.0, 19, 20, 19, 20, 19, 20, 8]
    for scores in (middle, at_first, at_last):
        plain = _gains(_one(scores))
        start = _gains(_one([np.nan, np.nan, *scores]))
        end = _gains(_one([*scores, np.nan, np.nan]))
        assert start == [[a + 2, b + 2] for a, b in plain]  # same gains, sessions shifted
        assert end == plain
    assert _gains(_one(middle)) == [[3, 4]]


def test_without_criterion_3_empty_sessions_make_the_end_intervals_eligible():
    """The decided convention (see identify's Notes): empty rows are missed sessions, so
    the first and last observed intervals are no longer the ends of the course."""
    at_first = [20.0, 8, 7, 8, 7, 6, 7, 6]
    assert _gains(_one(at_first), crit3=False) == []
    assert _gains(_one([np.nan, *at_first]), crit3=False) == [[2, 3]]
    # ... which is what first_interval=True gives without the empty row
    assert _gains(_one(at_first), crit3=False, first_interval=True) == [[1, 2]]
    at_last = [20.0, 19, 20, 19, 20, 19, 20, 8]
    assert _gains(_one(at_last), crit3=False) == []
    assert _gains(_one([*at_last, np.nan]), crit3=False) == [[7, 8]]
    # dropping the empty rows restores the course that starts and ends at the scores
    padded = _one([np.nan, *at_first, np.nan])
    assert _gains(padded.dropna(subset=["score"]), crit3=False) == []
    # an empty row and a gap in the session numbers are the same missed session
    gap = _one([np.nan, *at_first]).iloc[1:]
    assert _gains(_one([20.0, np.nan, 8, 7, 8, 7, 6, 7, 6]), crit3=False) == _gains(
        pd.concat([_one([20.0]), _one([8.0, 7, 8, 7, 6, 7, 6], first=3)]), crit3=False
    )
    assert len(gap) == len(at_first)


# --- 9. Dependencies and the report's CSVs ------------------------------------------------
def test_pyarrow_requirement_excludes_the_unsafe_release():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if d.replace(" ", "").startswith("pyarrow"))
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(spec.split("pyarrow", 1)[1].split(";")[0].strip())
    assert "14.0.0" not in allowed and "13.0.0" not in allowed
    assert "14.0.1" in allowed and "17.0.0" in allowed


def test_report_csvs_escape_cells_a_spreadsheet_would_run(tmp_path):
    table = pd.DataFrame(
        {
            "client": ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "ok", "a=b"],
            "arm": pd.Categorical(["=HYPERLINK()", "b", "b", "b", "b", "b", "b"]),
            "change": [-3.5, 1.0, -2.0, 0.0, 4.0, 5.0, 6.0],
        }
    )
    page = Report("Escaping")
    page.table("clients", table, "Clients")
    page.write(tmp_path)
    with open(tmp_path / "tables" / "clients.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["client"] for r in rows] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tx",
        "ok",
        "a=b",
    ]
    assert rows[0]["arm"] == "'=HYPERLINK()" and rows[1]["arm"] == "b"
    assert [float(r["change"]) for r in rows] == table["change"].tolist()  # numbers untouched
    assert table["client"].iloc[0] == "=1+1"  # the caller's table is not modified
