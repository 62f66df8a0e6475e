"""Validation of long-format data: every check once, at the boundary, with a clear message."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import criterion as _criterion
from .. import instruments as _instruments
from .. import pooled as _pooled
from .._checks import choice
from ..errors import (
    DataError,
    DuplicateSessionError,
    EmptyDataError,
    InputTypeError,
    MagnitudeError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
)
from ..instruments import Instrument, direction_sign
from ._helpers import (
    MAGNITUDE,
    SHOW,
    check_magnitude,
    duplicated,
    factorize_sorted,
    missing_column_message,
    order_by_date,
    show,
)
from ._scores import SEQUENCES, LongScores

__all__ = ["long_scores", "as_scores", "EXCLUDED_COLUMNS", "check_id_collisions", "check_columns"]

#: Columns of :attr:`LongScores.excluded`, whatever was excluded.
EXCLUDED_COLUMNS = ["row", "client", "session", "column", "value", "reason"]

# Reserved canonical names: a covariate may not take one of them.
_CANONICAL = ("client", "session", "score", "date")
# A session grid larger than this many cells, and this many times the rows, is refused:
# session numbers that are not consecutive sessions (days, months) belong in positions.
_GRID_CELLS = 50_000_000
_GRID_PER_ROW = 50


def long_scores(
    df: pd.DataFrame,
    *,
    client: str,
    session: str,
    score: str,
    instrument: str | Instrument | None = None,
    covariates: Sequence[str] | None = None,
    invalid: Literal["raise", "exclude"] = "raise",
    better: Literal["lower", "higher"] | None = None,
    reliable_change: float | str | _criterion.ReliableChangeCriterion | None = None,
    sequence: Literal["sessions", "positions"] = "sessions",
    pooled: _pooled.PooledStatistics | None = None,
) -> LongScores:
    """Validate long-format repeated scores and return them in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per client and session. Not modified.
    client, session, score : str
        Column names. ``session`` holds whole numbers >= 0 (the session's number, e.g. 0
        for intake) or dates (datetime64); dates become the order 1, 2, ... within each
        client and are kept in a ``date`` column.
    instrument : str or Instrument, optional
        The measure; scores outside its range are invalid, and it gives the direction of
        improvement and the facts behind the reliable-change criterion.
    covariates : list of str, optional
        Columns carried along under their own names. By default every other column is kept,
        so no data is lost; pass ``[]`` to keep none.
    invalid : {"raise", "exclude"}, default "raise"
        What to do with invalid rows (non-numeric or out-of-range score, missing, negative
        or fractional session, missing client, duplicate (client, session)). ``"raise"``
        raises on the first kind of problem found; ``"exclude"`` sets the rows aside and
        lists them, with the reason, in :attr:`LongScores.excluded`.
    better : {"lower", "higher"}, optional
        Which direction is improvement, when there is no instrument (it must agree with the
        instrument otherwise).
    reliable_change : float, {"instrument", "sample"} or None, default None
        The reliable-change criterion every method will use: a number of points,
        ``"instrument"`` (the instrument's published criterion, else its clinical SD and
        reliability), ``"sample"`` (the SD of the clients' first observed scores with the
        instrument's reliability), or None for the documented order of
        :mod:`toolkit.criterion` (published, norms, sample, none).
    sequence : {"sessions", "positions"}, default "sessions"
        How consecutive-session methods (sudden gains) read a client's sequence. With
        ``"sessions"`` a gap in a client's session numbers is a missed session, whether or
        not another client attended it; with ``"positions"`` a client's rows in session
        order are consecutive (for assessment schedules such as months 2, 3, 5, 8).
    pooled : PooledStatistics, optional
        Statistics pooled across clients to use instead of computing them from ``df``
        (e.g. from a first pass over every partition of a registry, see
        :mod:`toolkit.pooled`).

    Returns
    -------
    LongScores
        Validated data; see :class:`LongScores`.

    Raises
    ------
    InputTypeError
        ``df`` is not a DataFrame (a ``TypeError`` and a ``DataError``).
    EmptyDataError
        No rows, or every row excluded (the message shows the reasons with example rows).
    MissingColumnError
        A named column is absent.
    NonNumericError
        A score cannot be read as a number (the message shows the value), or the score
        column holds True/False.
    SessionError
        A session is missing, negative or not a whole number, or a client id is missing.
    DuplicateSessionError
        A (client, session) pair occurs twice.
    ScoreRangeError
        A score is outside the instrument's range.
    MagnitudeError
        A score beyond 1e30 in magnitude (a row, like an infinite score), or every score
        below 1e-30 in magnitude (the column: nothing to exclude). Within these bounds every
        method is scale-invariant: scores times ``c`` give the same answers, sizes times
        ``c`` (see :data:`toolkit.data.MAGNITUDE`).
    DataError
        Repeated column names, client ids that differ only in type or surrounding spaces
        (``1`` and ``"1"``, ``"7"`` and ``" 7"``), or a session grid too large to hold.
    OptionError
        A bad ``reliable_change``, ``sequence`` or ``invalid`` value.

    Notes
    -----
    Row labels in messages are the DataFrame's index labels (the row positions when the
    index is the default ``RangeIndex``). Missing scores (NaN) are valid: they stay in
    ``data`` and are NaN in :meth:`LongScores.to_matrix`.

    Examples
    --------
    >>> import toolkit
    >>> raw = toolkit.datasets.load("sgdata")
    >>> scores = toolkit.long_scores(raw, client="id", session="session", score="bdi",
    ...                              instrument="BDI-II")
    >>> scores.n_clients, scores.n_sessions
    (43, 13)
    >>> round(scores.reliable_change.points, 2), scores.reliable_change.source
    (10.0, 'norms')
    """
    choice(invalid, "invalid", "long_scores", ("raise", "exclude"))
    choice(sequence, "sequence", "long_scores", SEQUENCES)
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(
            f"long_scores() takes a pandas DataFrame (one row per client and session); got "
            f"{type(df).__name__}. Fix: pd.DataFrame(...) first, or "
            "toolkit.files.read_scores(path) for a file."
        )
    if pooled is not None and not isinstance(pooled, _pooled.PooledStatistics):
        raise InputTypeError(
            f"pooled must be a toolkit.pooled.PooledStatistics; got {type(pooled).__name__}. "
            "Fix: pass toolkit.pooled.compute(...)'s result or None."
        )
    inst = _instruments.get(instrument) if instrument is not None else None
    direction_sign(inst, better)  # a bad or contradictory better= fails here, before the data
    roles = {"client": client, "session": session, "score": score}
    check_columns(df)
    covariates = _resolve_covariates(df, roles, covariates)
    if len(df) == 0:
        raise EmptyDataError(
            f"The DataFrame has no rows, so there are no {score!r} scores to analyse."
        )

    check = _Checker(df, roles, invalid)
    ids = check.client_ids()
    score_values = check.scores(inst)
    session_values, dates = check.sessions()
    keep = ~check.bad
    valid = keep.all()  # the common case: no copies for filtering
    client_ids = ids if valid else ids[keep]
    if not valid:
        score_values, session_values = score_values[keep], session_values[keep]
        dates = dates[keep] if dates is not None else None
    if len(client_ids) == 0:
        raise EmptyDataError(
            "Every row was excluded as invalid: "
            + check.reasons_text()
            + ". Fix: correct these rows (the column and value are named in each reason), or "
            "check the column roles (client=, session=, score=)."
        )

    check_magnitude(score_values, roles["score"])
    codes = _Codes(client_ids, session_values, dates)
    dup = duplicated(codes.cell, codes.n_cells)
    if dup.any():
        # Every row of a repeated pair goes: which of them is right cannot be known.
        in_dup = np.isin(codes.cell, np.unique(codes.cell[dup]))
        check.duplicates(np.flatnonzero(keep)[in_dup], codes.session[in_dup], dates is not None)
        keep[np.flatnonzero(keep)[in_dup]] = False
        client_ids, score_values = client_ids[~in_dup], score_values[~in_dup]
        dates = dates[~in_dup] if dates is not None else None
        if len(client_ids) == 0:
            raise EmptyDataError("Every row was excluded as invalid: " + check.reasons_text() + ".")
        codes = _Codes(client_ids, session_values[~in_dup], dates)
    _check_grid(codes, roles["session"], len(client_ids))

    rows = None if keep.all() else np.flatnonzero(keep)
    columns: dict[str, Any] = {"date": dates} if dates is not None else {}
    for c in covariates:  # a copy (dtype kept, categories too): the caller's later edits stay out
        columns[c] = df[c].array.copy() if rows is None else df[c].array.take(rows)
    chosen_better = better if better is not None else (inst.better if inst else None)
    scores = LongScores(
        excluded=check.excluded_frame(),
        instrument=inst,
        better=chosen_better,
        reliable_change=_criterion.ReliableChangeCriterion(None, "none", "not resolved yet"),
        sequence=sequence,
        roles=roles,
        clients=codes.clients,
        sessions=codes.sessions,
        settings={},
        _client_code=codes.client_code,
        _session_code=codes.session_code,
        _score=score_values,
        _columns=columns,
        _pooled=pooled,
    )

    def sample() -> tuple[float, int]:
        stats = scores.pooled
        return stats.first_score_sd, stats.n_first

    found = _criterion.resolve(reliable_change, inst, sample=sample)
    settings = {
        **roles,
        "instrument": inst.name if inst else None,
        "covariates": list(covariates),
        "invalid": invalid,
        "sessions_from_dates": dates is not None,
        "better": chosen_better,
        "sequence": sequence,
        **found.settings(),
        "toolkit_version": _version(),
    }
    # The pooled statistics (if computed for the criterion) travel with the result.
    computed = scores.__dict__.get("pooled")
    return LongScores(
        excluded=scores.excluded,
        instrument=inst,
        better=chosen_better,
        reliable_change=found,
        sequence=sequence,
        roles=roles,
        clients=codes.clients,
        sessions=codes.sessions,
        settings=settings,
        _client_code=codes.client_code,
        _session_code=codes.session_code,
        _score=score_values,
        _columns=columns,
        _pooled=pooled if pooled is not None else computed,
    )


def as_scores(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
) -> LongScores:
    """Validated scores from either a :class:`LongScores` or a long DataFrame plus column names.

    Analysis functions call this first, so users can pass whichever they have. A
    ``LongScores`` is returned as it is (an ``instrument`` given here must match its own; a
    ``better`` is checked by the method through :meth:`LongScores.direction`); a DataFrame
    goes through :func:`long_scores` and needs ``client``, ``session`` and ``score``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1], "s": [1, 2], "phq": [20, 11]})
    >>> as_scores(df, client="id", session="s", score="phq", instrument="PHQ-9").n_clients
    1
    """
    if isinstance(data, LongScores):
        if instrument is not None and data.instrument != _instruments.get(instrument):
            raise ValueError(
                f"The scores were validated for instrument {data.score_label!r} but "
                f"instrument={instrument!r} was passed. Fix: drop the instrument argument, "
                "or validate again with long_scores(..., instrument=...)."
            )
        return data
    if isinstance(data, pd.DataFrame):
        missing = [
            k
            for k, v in {"client": client, "session": session, "score": score}.items()
            if v is None
        ]
        if missing:
            needed = ", ".join(f"{m}=..." for m in missing)
            raise ValueError(
                f"A DataFrame needs its column roles: pass {needed} "
                "(the column names), or validate first with toolkit.long_scores()."
            )
        assert client is not None and session is not None and score is not None
        return long_scores(
            data, client=client, session=session, score=score, instrument=instrument, better=better
        )
    raise InputTypeError(
        f"Expected a long-format DataFrame or LongScores; got {type(data).__name__}. Fix: "
        "pd.DataFrame(...) first, or toolkit.files.read_scores(path) for a file."
    )


# ---------------------------------------------------------------------------------------
def check_columns(df: pd.DataFrame) -> None:
    """Refuse repeated column names (which column holds the data would be ambiguous)."""
    repeated = df.columns[df.columns.duplicated()].unique().tolist()
    if repeated:
        raise DataError(
            f"The DataFrame has repeated column names {repeated}, so which column holds the "
            "data is ambiguous. Fix: rename or drop the repeats, e.g. "
            "df = df.loc[:, ~df.columns.duplicated()] after checking they are the same."
        )


def _resolve_covariates(
    df: pd.DataFrame, roles: dict[str, str], covariates: Sequence[str] | None
) -> list[str]:
    for role, column in roles.items():
        if not isinstance(column, Hashable) or column not in df.columns:
            raise MissingColumnError(
                f"The {role} column: " + missing_column_message(column, list(df.columns))
            )
    if len(set(roles.values())) < 3:
        raise ValueError(f"client, session and score must be three different columns; got {roles}.")
    if covariates is None:
        covariates = [c for c in df.columns if c not in roles.values()]
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    for c in covariates:
        if c not in df.columns:
            raise MissingColumnError("Covariate: " + missing_column_message(c, list(df.columns)))
        if c in _CANONICAL or c in roles.values():
            raise ValueError(
                f"Covariate column {c!r} clashes with a canonical column name {_CANONICAL} "
                "or a role column. Fix: rename it first, e.g. df.rename(columns={...})."
            )
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates lists a column more than once: {covariates}.")
    return covariates


def _check_grid(codes: _Codes, column: str, n_rows: int) -> None:
    cells = len(codes.clients) * len(codes.sessions)
    if cells > _GRID_CELLS and cells > _GRID_PER_ROW * n_rows:
        lo, hi = int(codes.sessions[0]), int(codes.sessions[-1])
        raise DataError(
            f"Column {column!r}: session numbers run from {lo} to {hi}, so the session grid "
            f"would hold {cells:,} cells for {n_rows:,} rows ({cells * 8 / 2**30:.1f} GiB). "
            "Session numbers are read as consecutive sessions (a gap is a missed session). "
            "Fix: if they are days or months rather than session numbers, give the session "
            "order instead (e.g. df.groupby(client)[session].rank()), or pass the dates as "
            "datetime values."
        )


class _Checker:
    """Collects invalid rows: raises on the first kind of problem, or records them all."""

    def __init__(self, df: pd.DataFrame, roles: dict[str, str], invalid: str) -> None:
        self.df = df
        self.roles = roles
        self.invalid = invalid
        self.bad = np.zeros(len(df), dtype=bool)
        self._records: list[pd.DataFrame] = []

    def _rows_text(self, where: np.ndarray, column: str) -> str:
        client = self.df[self.roles["client"]]
        parts = [
            f"row {show(self.df.index[i])} (client {show(client.iloc[i])}, "
            f"value {show(self.df[column].iloc[i])})"
            for i in where[:SHOW]
        ]
        more = f" and {len(where) - SHOW} more" if len(where) > SHOW else ""
        return "; ".join(parts) + more

    def flag(
        self, mask: np.ndarray, role: str, reason: str, error: type[DataError], fix: str = ""
    ) -> None:
        """Handle rows where ``mask`` is True: an error, or a record of exclusion."""
        mask = mask & ~self.bad
        if not mask.any():
            return
        where = np.flatnonzero(mask)
        column = self.roles.get(role, role)
        if self.invalid == "raise":
            raise error(
                f"Column {column!r}: {len(where)} row(s) with {reason}: "
                f"{self._rows_text(where, column)}. "
                + (fix or "Fix: correct these rows, or pass invalid='exclude' to set them aside.")
            )
        self.record(where, reason, column)

    def record(self, where: np.ndarray, reason: str, column: str | None = None) -> None:
        column = column or self.roles["session"]
        self.bad[where] = True
        df = self.df
        self._records.append(
            pd.DataFrame(
                {
                    "row": df.index[where],
                    "client": df[self.roles["client"]].iloc[where].to_numpy(),
                    "session": df[self.roles["session"]].iloc[where].astype(object).to_numpy(),
                    "column": column,
                    "value": df[column].iloc[where].astype(object).to_numpy(),
                    "reason": reason,
                }
            )
        )

    def reasons_text(self) -> str:
        """The reasons of every exclusion so far, with counts (for 'every row excluded')."""
        if not self._records:
            return "no reason recorded"
        table = pd.concat(self._records, ignore_index=True)
        parts = []
        for (c, r), rows in table.groupby(["column", "reason"], sort=False):
            shown = ", ".join(
                f"row {show(i)} (client {show(k)}, value {show(v)})"
                for i, k, v in rows[["row", "client", "value"]].head(3).itertuples(index=False)
            )
            more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
            parts.append(f"{len(rows)} row(s) in column {c!r} with {r}, e.g. {shown}{more}")
        return "; ".join(parts)

    def client_ids(self) -> np.ndarray:
        column = self.roles["client"]
        raw = self.df[column]
        self.flag(raw.isna().to_numpy(), "client", "missing client id", SessionError)
        values = raw.to_numpy()
        if values.dtype == object:
            check_id_collisions(values, column, self.df.index, ~self.bad)
        return values

    def scores(self, inst: Instrument | None) -> np.ndarray:
        column = self.roles["score"]
        raw = self.df[column]
        if pd.api.types.is_bool_dtype(raw):
            raise NonNumericError(
                f"Column {column!r} holds True/False, not scores. Fix: convert it to the "
                "questionnaire totals (numbers), or name the score column with score=..."
            )
        # A copy, never a view of the caller's column: the result must not change with it.
        values = np.array(pd.to_numeric(raw, errors="coerce"), dtype=np.float64, copy=True)
        bool_cells = (
            raw.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy()
            if raw.dtype == object
            else np.zeros(len(raw), dtype=bool)
        )
        values[bool_cells] = np.nan
        self.flag(
            (np.isnan(values) & raw.notna().to_numpy()) | bool_cells,
            "score",
            "a non-numeric score",
            NonNumericError,
            "Fix: convert the column to numbers (missing scores should be empty/NaN), "
            "or pass invalid='exclude'.",
        )
        self.flag(np.isinf(values), "score", "an infinite score", NonNumericError)
        with np.errstate(invalid="ignore"):
            huge = (np.abs(values) > MAGNITUDE[1]) & np.isfinite(values)
        if huge.any():
            factor = 10 ** np.floor(np.log10(np.max(np.abs(values[huge]))))
            self.flag(
                huge,
                "score",
                f"a score too large in magnitude to analyse (beyond {MAGNITUDE[1]:g})",
                MagnitudeError,
                "Squares and sums of squares of such scores overflow, so no method could "
                "give the answer it gives on rescaled scores. Fix: check the units and "
                f"rescale the column (e.g. df[{column!r}] = df[{column!r}] / {factor:.0e}, "
                "with every option in points rescaled alike), or pass invalid='exclude' to "
                "set these rows aside.",
            )
        if inst is not None:
            with np.errstate(invalid="ignore"):
                outside = (values < inst.min_score) | (values > inst.max_score)
            self.flag(
                outside,
                "score",
                f"a score outside the {inst.name} range [{inst.min_score:g}, {inst.max_score:g}]",
                ScoreRangeError,
                "Fix: check the instrument and the scoring, or pass invalid='exclude'.",
            )
        return values

    def sessions(self) -> tuple[np.ndarray, np.ndarray | None]:
        column = self.roles["session"]
        raw = self.df[column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            dates = raw.to_numpy(copy=True)
            self.flag(raw.isna().to_numpy(), "session", "a missing session date", SessionError)
            return np.zeros(len(raw), dtype=np.int64), dates
        if pd.api.types.is_bool_dtype(raw):
            raise SessionError(
                f"Column {column!r}: sessions must be numbers or dates, not True/False."
            )
        if pd.api.types.is_integer_dtype(raw.dtype) and not isinstance(
            raw.dtype, pd.api.extensions.ExtensionDtype
        ):
            values = raw.to_numpy(dtype=np.int64)  # the common case: nothing to convert
            self.flag(values < 0, "session", "a negative session number", SessionError)
            return np.where(self.bad, 0, values) if self.bad.any() else values, None
        values = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)
        missing = raw.isna().to_numpy()
        self.flag(missing, "session", "a missing session", SessionError)
        self.flag(
            np.isnan(values) & ~missing,
            "session",
            "a session that is not a number",
            SessionError,
            "Fix: give sessions as whole numbers (0 = intake is allowed) or as dates "
            "(convert with pandas.to_datetime), or pass invalid='exclude'.",
        )
        with np.errstate(invalid="ignore"):
            self.flag(values < 0, "session", "a negative session number", SessionError)
            self.flag(
                (values != np.round(values)) & np.isfinite(values),
                "session",
                "a session that is not a whole number",
                SessionError,
            )
            self.flag(np.isinf(values), "session", "an infinite session number", SessionError)
        values = np.where(self.bad | ~np.isfinite(values), 0, values)
        return values.astype(np.int64), None

    def duplicates(self, where: np.ndarray, sessions: np.ndarray, from_dates: bool) -> None:
        reason = "duplicate (client, session)"
        if self.invalid == "exclude":
            self.record(where, reason)
            return
        column = self.roles["session"]
        client = self.df[self.roles["client"]].to_numpy()[where]
        pairs = list(dict.fromkeys(zip(client.tolist(), sessions.tolist())))
        shown = "; ".join(f"client {show(c)}, session {show(s)}" for c, s in pairs[:SHOW])
        shown += f" and {len(pairs) - SHOW} more" if len(pairs) > SHOW else ""
        rows = ", ".join(show(self.df.index[i]) for i in where[: 2 * SHOW])
        what = "date" if from_dates else "session"
        raise DuplicateSessionError(
            f"Column {column!r}: {len(pairs)} (client, {what}) pair(s) occur more than once: "
            f"{shown} (rows {rows}). Fix: keep one row per client and {what} "
            "(e.g. aggregate repeated measurements first), or pass invalid='exclude'."
        )

    def excluded_frame(self) -> pd.DataFrame:
        if not self._records:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in EXCLUDED_COLUMNS})
        return pd.concat(self._records, ignore_index=True)[EXCLUDED_COLUMNS]


def check_id_collisions(
    values: np.ndarray, column: str, index: pd.Index, valid: np.ndarray
) -> None:
    """Ids that a person reads as the same client but that would become two clients.

    ``1`` and ``"1"``, or ``"7"`` and ``" 7"``: raised, never merged silently, because
    which spelling is right cannot be known. Only the distinct ids are examined.
    """
    uniq = pd.unique(values[valid])
    if not any(isinstance(v, str) for v in uniq):
        return
    normal: dict[str, list[Any]] = {}
    for v in uniq:
        key = v.strip() if isinstance(v, str) else str(v.item() if isinstance(v, np.generic) else v)
        normal.setdefault(key, []).append(v)
    clashes = [spellings for spellings in normal.values() if len(spellings) > 1]
    if not clashes:
        return
    first = clashes[0]
    where = []
    for spelling in first:
        hit = np.flatnonzero(
            valid
            & (
                pd.Series(values)
                .map(lambda v, s=spelling: type(v) is type(s) and v == s)
                .to_numpy()
            )
        )
        where.append(f"{show(spelling)} (row {show(index[hit[0]])})")
    raise DataError(
        f"Column {column!r}: {len(clashes)} client id(s) are spelled in more than one way, "
        f"e.g. {', '.join(where)}; they would count as different clients. Fix: make the ids "
        f"one type without surrounding spaces, e.g. "
        f"df[{column!r}] = df[{column!r}].astype(str).str.strip()."
    )


class _Codes:
    """Integer codes of clients, sessions and (client, session) cells for valid rows.

    Sessions are coded on the grid of every whole number from the first to the last session,
    so a client's missed session is a gap whether or not anyone else attended it.
    """

    def __init__(
        self, client_ids: np.ndarray, session: np.ndarray, dates: np.ndarray | None
    ) -> None:
        self.client_code, self.clients = factorize_sorted(client_ids)
        if dates is not None:
            session = order_by_date(self.client_code, dates)
        self.session = session
        lo = int(session.min())
        hi = int(session.max())
        self.sessions = np.arange(lo, hi + 1, dtype=np.int64)
        self.session_code = (session - lo).astype(np.int64)
        self.n_cells = len(self.clients) * len(self.sessions)
        self.cell = self.client_code * len(self.sessions) + self.session_code


def _version() -> str:
    from .._version import __version__

    return __version__
