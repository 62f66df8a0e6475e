"""Validation of long-format scores: canonical form, the shared matrix, and every bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.data import EXCLUDED_COLUMNS, LongScores, from_wide, long_scores
from toolkit.errors import (
    DataError,
    DuplicateSessionError,
    EmptyDataError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
    UnknownNameError,
)

ROLES = {"client": "id", "session": "week", "score": "phq"}


def small() -> pd.DataFrame:
    # Rows deliberately out of order; client "b" misses week 2 (NaN score kept as a row).
    return pd.DataFrame(
        {
            "id": ["b", "a", "a", "b", "a", "b"],
            "week": [3, 2, 1, 1, 3, 2],
            "phq": [7.0, 14, 20, 12, 9, np.nan],
            "arm": ["cbt", "tau", "tau", "cbt", "tau", "cbt"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


# --- canonical form --------------------------------------------------------------------------
def test_canonical_frame_is_sorted_typed_and_keeps_missing_scores():
    scores = long_scores(small(), **ROLES, instrument="PHQ-9")
    assert list(scores.data.columns) == ["client", "session", "score", "arm"]
    assert scores.data["client"].tolist() == ["a", "a", "a", "b", "b", "b"]
    assert scores.data["session"].tolist() == [1, 2, 3, 1, 2, 3]
    assert scores.data["session"].dtype == np.int64
    assert scores.data["score"].dtype == np.float64
    assert scores.data["score"].tolist()[:3] == [20.0, 14.0, 9.0]
    assert np.isnan(scores.data["score"].iloc[4])
    assert scores.data["arm"].tolist() == ["tau"] * 3 + ["cbt"] * 3
    assert scores.excluded.empty and list(scores.excluded.columns) == EXCLUDED_COLUMNS
    assert scores.instrument.name == "PHQ-9"
    assert scores.roles == ROLES


def test_matrix_rows_are_clients_columns_are_sessions_nan_for_missing():
    # Every session from the first to the last is a column, attended by anyone or not: a
    # client's gap in session numbers is a missed session whoever else is in the data.
    df = pd.DataFrame({"id": [1, 1, 2, 3], "week": [0, 4, 4, 2], "phq": [20, 10, 15, 18]})
    scores = long_scores(df, **ROLES)
    assert scores.clients.tolist() == [1, 2, 3]
    assert scores.sessions.tolist() == [0, 1, 2, 3, 4]
    nan = np.nan
    expected = np.array(
        [[20, nan, nan, nan, 10], [nan, nan, nan, nan, 15], [nan, nan, 18, nan, nan]]
    )
    np.testing.assert_array_equal(scores.to_matrix(), expected)
    assert scores.n_observed().tolist() == [2, 1, 1]


def test_input_is_never_mutated():
    df = small()
    before = df.copy(deep=True)
    scores = long_scores(df, **ROLES)
    scores.to_matrix()[0, 0] = -1  # a fresh array each call
    pd.testing.assert_frame_equal(df, before)
    assert scores.to_matrix()[0, 0] == 20


def test_covariates_default_keeps_all_columns_and_can_be_limited():
    df = small().assign(site=1)
    assert list(long_scores(df, **ROLES).data.columns)[3:] == ["arm", "site"]
    assert list(long_scores(df, **ROLES, covariates=[]).data.columns) == [
        "client",
        "session",
        "score",
    ]
    assert list(long_scores(df, **ROLES, covariates=["site"]).data.columns)[3:] == ["site"]


def test_covariate_matrix_for_a_process_measure():
    df = small().assign(rq=[1, 2, 3, 4, 5, 6])
    scores = long_scores(df, **ROLES)
    np.testing.assert_array_equal(scores.to_matrix("rq"), [[3, 2, 5], [4, 6, 1]])


def test_dates_become_session_order_within_client_and_are_kept():
    df = pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2],
            "when": pd.to_datetime(
                ["2024-03-10", "2024-02-01", "2024-02-20", "2024-05-01", "2024-04-01"]
            ),
            "phq": [5, 15, 10, 8, 12],
        }
    )
    scores = long_scores(df, client="id", session="when", score="phq")
    assert scores.data["session"].tolist() == [1, 2, 3, 1, 2]
    assert scores.data["score"].tolist() == [15, 10, 5, 12, 8]
    assert scores.data["date"].iloc[0] == pd.Timestamp("2024-02-01")
    assert scores.settings["sessions_from_dates"] is True


def test_string_numbers_are_read_as_numbers():
    df = pd.DataFrame({"id": [1, 1], "week": ["1", "2"], "phq": ["10", " 7 "]})
    scores = long_scores(df, **ROLES)
    assert scores.to_matrix().tolist() == [[10.0, 7.0]]


def test_summary_counts():
    summary = long_scores(small(), **ROLES, instrument="PHQ-9").summary()
    row = summary.iloc[0]
    assert (row["n_clients"], row["n_sessions"], row["n_rows"]) == (2, 3, 6)
    assert row["n_missing_scores"] == 1
    assert row["share_missing"] == pytest.approx(1 / 6)
    assert (row["observed_per_client_min"], row["observed_per_client_max"]) == (2, 3)
    assert row["score_mean"] == pytest.approx(np.mean([7, 14, 20, 12, 9]))
    assert row["score_sd"] == pytest.approx(np.std([7, 14, 20, 12, 9], ddof=1))


def test_too_few_sessions_reports_clients_with_reason():
    few = long_scores(small(), **ROLES).too_few_sessions(3, method="criterion 3")
    assert few["client"].tolist() == ["b"]
    assert few["n_observed"].tolist() == [2]
    assert "criterion 3 needs at least 3" in few["reason"].iloc[0]


def test_to_wide_and_from_wide_round_trip():
    scores = long_scores(small(), **ROLES)
    wide = scores.to_wide().reset_index()
    assert wide.columns.tolist() == ["client", 1, 2, 3]
    long = from_wide(wide, client="client", columns=[1, 2, 3], sessions=[1, 2, 3])
    again = long_scores(long, client="client", session="session", score="score")
    np.testing.assert_array_equal(again.to_matrix(), scores.to_matrix())


def test_from_wide_several_measures_and_client_columns():
    wide = pd.DataFrame(
        {
            "id": [1, 2],
            "arm": ["a", "b"],
            "bdi_s0": [30, 20],
            "bdi_s1": [25, 18],
            "rq_s0": [5, 6],
            "rq_s1": [4, np.nan],
        }
    )
    long = from_wide(
        wide,
        client="id",
        columns={"bdi": ["bdi_s0", "bdi_s1"], "rq": ["rq_s0", "rq_s1"]},
        sessions=[0, 1],
    )
    assert long.columns.tolist() == ["id", "arm", "session", "bdi", "rq"]
    assert long["bdi"].tolist() == [30, 25, 20, 18]
    assert long["arm"].tolist() == ["a", "a", "b", "b"]
    assert np.isnan(long["rq"].iloc[3])
    assert len(wide.columns) == 6  # not mutated


def test_from_wide_rejects_unequal_measures_and_missing_columns():
    wide = pd.DataFrame({"id": [1], "a": [1], "b": [2], "c": [3]})
    with pytest.raises(ValueError, match="same, non-zero number"):
        from_wide(wide, client="id", columns={"x": ["a", "b"], "y": ["c"]})
    with pytest.raises(MissingColumnError, match="'d'"):
        from_wide(wide, client="id", columns=["a", "d"])


# --- the bad-input catalogue: one test per malformed input, asserting the message ----------
def test_empty_input():
    with pytest.raises(EmptyDataError, match="no rows"):
        long_scores(small().iloc[:0], **ROLES)


def test_missing_column_names_it_and_suggests():
    with pytest.raises(
        MissingColumnError, match=r"score column: no column 'phq9'.*Did you mean \['phq'\]"
    ):
        long_scores(small(), client="id", session="week", score="phq9")


def test_missing_covariate_column():
    with pytest.raises(MissingColumnError, match="Covariate: no column 'age'"):
        long_scores(small(), **ROLES, covariates=["age"])


def test_non_numeric_score_shows_value_client_and_row():
    df = small().astype({"phq": object})
    df.loc[13, "phq"] = "twelve"
    with pytest.raises(
        NonNumericError,
        match=r"Column 'phq': 1 row\(s\) with a non-numeric score: row 13 "
        r"\(client 'b', value 'twelve'\)",
    ):
        long_scores(df, **ROLES)


def test_infinite_score():
    df = small()
    df.loc[11, "phq"] = np.inf
    with pytest.raises(NonNumericError, match="infinite score: row 11 \\(client 'a'"):
        long_scores(df, **ROLES)


def test_duplicate_client_session_names_pair_and_rows():
    df = pd.concat([small(), small().loc[[12]].rename(index={12: 99})])
    with pytest.raises(
        DuplicateSessionError,
        match=r"Column 'week': 1 \(client, session\) pair\(s\) occur more than "
        r"once: client 'a', session 1 \(rows 12, 99\)",
    ):
        long_scores(df, **ROLES)


def test_duplicate_dates():
    df = pd.DataFrame({"id": [1, 1], "when": pd.to_datetime(["2024-01-01"] * 2), "phq": [3, 4]})
    with pytest.raises(DuplicateSessionError, match="\\(client, date\\)"):
        long_scores(df, client="id", session="when", score="phq")


def test_fractional_session():
    df = small()
    df["week"] = df["week"].astype(float)
    df.loc[14, "week"] = 2.5
    with pytest.raises(SessionError, match=r"not a whole number: row 14 \(client 'a', value 2.5\)"):
        long_scores(df, **ROLES)


def test_negative_session():
    df = small()
    df.loc[10, "week"] = -1
    with pytest.raises(SessionError, match=r"negative session number: row 10 \(client 'b'"):
        long_scores(df, **ROLES)


def test_missing_session():
    df = small()
    df["week"] = df["week"].astype(float)
    df.loc[15, "week"] = np.nan
    with pytest.raises(
        SessionError, match=r"Column 'week': 1 row\(s\) with a missing session: row 15"
    ):
        long_scores(df, **ROLES)


def test_text_session():
    df = small().astype({"week": object})
    df.loc[15, "week"] = "second"
    with pytest.raises(
        SessionError, match=r"not a number: row 15 \(client 'b', value 'second'\).*to_datetime"
    ):
        long_scores(df, **ROLES)


def test_boolean_session():
    df = small().assign(week=[True, False, True, False, True, False])
    with pytest.raises(SessionError, match="not True/False"):
        long_scores(df, **ROLES)


def test_missing_client_id():
    df = small()
    df.loc[12, "id"] = None
    with pytest.raises(
        SessionError, match=r"Column 'id': 1 row\(s\) with missing client id: row 12"
    ):
        long_scores(df, **ROLES)


def test_score_outside_instrument_range():
    df = small()
    df.loc[11, "phq"] = 28  # PHQ-9 totals are 0-27
    with pytest.raises(
        ScoreRangeError,
        match=r"outside the PHQ-9 range \[0, 27\]: row 11 \(client 'a', value 28.0\)",
    ):
        long_scores(df, **ROLES, instrument="PHQ-9")


def test_unknown_instrument_lists_names():
    with pytest.raises(UnknownNameError, match="Registered instruments: .*'PHQ-9'"):
        long_scores(small(), **ROLES, instrument="PHQ-99")


def test_bad_invalid_argument():
    with pytest.raises(ValueError, match="must be one of \\{'raise', 'exclude'\\}. Got 'drop'"):
        long_scores(small(), **ROLES, invalid="drop")


def test_roles_must_differ():
    with pytest.raises(ValueError, match="three different columns"):
        long_scores(small(), client="id", session="week", score="week")


def test_covariate_name_clash():
    with pytest.raises(ValueError, match="clashes with a canonical column name"):
        long_scores(small().assign(score=1), **ROLES)


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="takes a pandas DataFrame"):
        long_scores({"id": [1]}, **ROLES)


def test_every_data_error_is_a_value_error():
    for error in (
        DuplicateSessionError,
        EmptyDataError,
        MissingColumnError,
        NonNumericError,
        ScoreRangeError,
        SessionError,
        UnknownNameError,
    ):
        assert issubclass(error, DataError) and issubclass(error, ValueError)


def test_error_message_lists_at_most_five_rows_and_counts_the_rest():
    df = pd.DataFrame({"id": range(8), "week": [1] * 8, "phq": [99] * 8})
    with pytest.raises(ScoreRangeError, match=r"8 row\(s\).*and 3 more"):
        long_scores(df, **ROLES, instrument="PHQ-9")


# --- invalid="exclude": nothing lost, everything accounted for ------------------------------
def test_exclude_mode_reports_every_invalid_row_with_reason():
    df = small().astype({"phq": object})
    df.loc[11, "phq"] = 40  # out of range
    df.loc[13, "phq"] = "n/a text"  # non-numeric
    df = pd.concat([df, df.loc[[14]].rename(index={14: 20})])  # duplicate of (a, 3)
    scores = long_scores(df, **ROLES, instrument="PHQ-9", invalid="exclude")
    ex = scores.excluded.sort_values("row", ignore_index=True)
    assert ex["row"].tolist() == [11, 13, 14, 20]
    assert ex["reason"].tolist() == [
        "a score outside the PHQ-9 range [0, 27]",
        "a non-numeric score",
        "duplicate (client, session)",
        "duplicate (client, session)",
    ]
    assert ex["value"].tolist()[:2] == [40, "n/a text"]
    # 7 input rows = 3 kept + 4 excluded: nothing disappears.
    assert len(scores.data) + len(scores.excluded) == len(df)
    assert scores.data["client"].tolist() == ["a", "b", "b"]
    assert scores.data["session"].tolist() == [1, 2, 3]
    assert scores.summary()["n_excluded_rows"].iloc[0] == 4


def test_exclude_mode_with_every_row_invalid_raises():
    df = pd.DataFrame({"id": [1, 2], "week": [1, 1], "phq": [50, 60]})
    with pytest.raises(EmptyDataError, match="Every row was excluded"):
        long_scores(df, **ROLES, instrument="PHQ-9", invalid="exclude")


# --- properties: invariance to row order and client order ----------------------------------
@st.composite
def long_frames(draw):
    n_clients = draw(st.integers(1, 6))
    n_sessions = draw(st.integers(1, 6))
    ids = draw(st.lists(st.integers(0, 1000), min_size=n_clients, max_size=n_clients, unique=True))
    cells = [(c, s) for c in ids for s in range(n_sessions)]
    keep = draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    cells = [cell for cell, k in zip(cells, keep) if k] or cells[:1]
    values = draw(
        st.lists(st.one_of(st.none(), st.integers(0, 27)), min_size=len(cells), max_size=len(cells))
    )
    return pd.DataFrame(
        {
            "id": [c for c, _ in cells],
            "week": [s for _, s in cells],
            "phq": [np.nan if v is None else float(v) for v in values],
        }
    )


@settings(max_examples=60, deadline=None)
@given(df=long_frames(), seed=st.integers(0, 2**32 - 1))
def test_matrix_and_frame_invariant_to_row_order(df, seed):
    a = long_scores(df, **ROLES)
    b = long_scores(df.sample(frac=1, random_state=seed % 2**31), **ROLES)
    np.testing.assert_array_equal(a.to_matrix(), b.to_matrix())
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.clients.equals(b.clients)


@settings(max_examples=60, deadline=None)
@given(df=long_frames(), seed=st.integers(0, 2**32 - 1))
def test_relabelled_clients_keep_their_rows(df, seed):
    # Renaming clients with an order-preserving map changes nothing but the labels; a shuffle
    # of rows grouped by client (client order) leaves each client's row of the matrix intact.
    a = long_scores(df, **ROLES)
    shuffled = pd.concat([g for _, g in df.groupby("id")][::-1])
    b = long_scores(shuffled, **ROLES)
    np.testing.assert_array_equal(a.to_matrix(), b.to_matrix())
    rows = dict(zip(a.clients, a.to_matrix()))
    for client, row in zip(b.clients, b.to_matrix()):
        np.testing.assert_array_equal(rows[client], row)


def test_large_integer_ids_and_mixed_id_types():
    df = pd.DataFrame({"id": [10**12, 5, 10**12], "week": [1, 1, 2], "phq": [1, 2, 3]})
    scores = long_scores(df, **ROLES)
    assert scores.clients.tolist() == [5, 10**12]
    mixed = pd.DataFrame({"id": [1, "x", 1], "week": [1, 1, 2], "phq": [1, 2, 3]})
    assert long_scores(mixed, **ROLES).n_clients == 2


def test_repr_and_html():
    scores = long_scores(small(), **ROLES, instrument="PHQ-9")
    assert repr(scores) == (
        "<LongScores PHQ-9: 2 clients x 3 sessions, 6 rows, 1 missing "
        "scores, 0 excluded rows; reliable change: 6 points (published)>"
    )
    assert "<table" in scores._repr_html_()
    assert isinstance(scores, LongScores)


def test_as_scores_accepts_frames_and_validated_scores():
    from toolkit.data import as_scores

    scores = as_scores(small(), **ROLES, instrument="PHQ-9")
    assert as_scores(scores) is scores
    assert as_scores(scores, instrument="phq9") is scores
    with pytest.raises(ValueError, match="validated for instrument 'PHQ-9'"):
        as_scores(scores, instrument="GAD-7")
    with pytest.raises(ValueError, match="pass session=..., score=..."):
        as_scores(small(), client="id")
    with pytest.raises(TypeError, match="Expected a long-format DataFrame"):
        as_scores([1, 2])


def test_later_changes_to_the_input_do_not_reach_the_result():
    df = small()
    scores = long_scores(df, **ROLES)
    before = scores.to_matrix().copy()
    df.loc[12, "phq"] = 0.0
    df.loc[12, "arm"] = "changed"
    np.testing.assert_array_equal(scores.to_matrix(), before)
    assert "changed" not in scores.data["arm"].tolist()


def test_covariates_keep_their_dtype_including_category_order():
    df = small().assign(arm=pd.Categorical(small()["arm"], categories=["tau", "cbt"]))
    arm = long_scores(df, **ROLES).data["arm"]
    assert isinstance(arm.dtype, pd.CategoricalDtype)
    assert list(arm.cat.categories) == ["tau", "cbt"]
