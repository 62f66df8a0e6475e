"""One schema for repeated scores: validate long-format data once, then share one matrix.

Every method in the toolkit starts from :func:`long_scores`, which checks a long DataFrame
(one row per client and session) and returns a :class:`LongScores`: the rows in canonical
order with canonical column names (``client``, ``session``, ``score``, plus ``date`` when
sessions were dates, plus covariates under their own names), an account of anything excluded,
and :meth:`LongScores.to_matrix`, the (clients x sessions) float array with NaN for missing
sessions that all vectorised methods work on.

Missing scores are kept as missing sessions; nothing is dropped silently. The caller's
DataFrame is never modified.

Examples
--------
>>> import pandas as pd
>>> from toolkit.data import long_scores
>>> df = pd.DataFrame({"id": [2, 1, 1, 2], "week": [1, 2, 1, 2], "phq": [20, 12, 15, None]})
>>> scores = long_scores(df, client="id", session="week", score="phq", instrument="PHQ-9")
>>> scores.to_matrix()
array([[15., 12.],
       [20., nan]])
>>> scores.clients.tolist(), scores.sessions.tolist()
([1, 2], [1, 2])
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import instruments as _instruments
from .errors import (
    DuplicateSessionError,
    EmptyDataError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
)
from .instruments import Instrument

__all__ = ["LongScores", "long_scores", "as_scores", "from_wide", "EXCLUDED_COLUMNS"]

#: Columns of :attr:`LongScores.excluded`, whatever was excluded.
EXCLUDED_COLUMNS = ["row", "client", "session", "column", "value", "reason"]

# Reserved canonical names: a covariate may not take one of them.
_CANONICAL = ("client", "session", "score", "date")
_SHOW = 5  # how many offending rows an error message lists


@dataclass(frozen=True, eq=False, repr=False)
class LongScores:
    """Validated long-format repeated scores. Build it with :func:`long_scores`.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per (client, session), sorted by client then session, with columns
        ``client``, ``session`` (int64 order), ``score`` (float64, NaN = missing), ``date``
        (only when sessions were given as dates) and the covariates. Treat it as read-only.
    excluded : pandas.DataFrame
        Rows set aside (only with ``invalid="exclude"``): columns ``row`` (the input's index
        label), ``client``, ``session``, ``column``, ``value`` and ``reason``.
    instrument : Instrument or None
        The measure the scores come from.
    roles : dict
        The caller's column names for ``client``, ``session`` and ``score``.
    clients : pandas.Index
        Sorted client ids; row ``i`` of :meth:`to_matrix` is ``clients[i]``.
    sessions : numpy.ndarray
        Sorted session numbers present in the data; column ``j`` of the matrix.
    settings : dict
        The arguments of :func:`long_scores` and the toolkit version.
    """

    excluded: pd.DataFrame
    instrument: Instrument | None
    roles: dict[str, str]
    clients: pd.Index
    sessions: np.ndarray
    settings: dict[str, Any]
    # The valid rows as arrays, in the input's order: vectorised methods need only the codes
    # and the scores (a scatter into the matrix does not care about order), so sorting and
    # assembling the canonical frame wait until someone asks for it.
    _client_code: np.ndarray = field(repr=False)
    _session_code: np.ndarray = field(repr=False)
    _score: np.ndarray = field(repr=False)
    _columns: dict[str, np.ndarray] = field(repr=False)

    @functools.cached_property
    def data(self) -> pd.DataFrame:
        """The rows in canonical order (see the class docstring). Treat it as read-only."""
        order = _counting_sort(self._cell, self.n_clients * self.n_sessions)
        frame = {
            "client": self.clients.take(self._client_code[order]),
            "session": self.sessions[self._session_code[order]],
            "score": self._score[order],
            **{name: values[order] for name, values in self._columns.items()},
        }
        return pd.DataFrame(frame)

    @property
    def _cell(self) -> np.ndarray:
        return self._client_code * self.n_sessions + self._session_code

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_clients(self) -> int:
        """Number of clients (rows of the matrix)."""
        return len(self.clients)

    @property
    def n_sessions(self) -> int:
        """Number of distinct sessions (columns of the matrix)."""
        return len(self.sessions)

    @property
    def score_label(self) -> str:
        """Axis label for scores: the instrument's name, else the caller's score column."""
        return self.instrument.name if self.instrument is not None else self.roles["score"]

    # -- the shared matrix ---------------------------------------------------------------
    def to_matrix(self, value: str = "score") -> np.ndarray:
        """The (clients x sessions) float array with NaN where a session has no value.

        Parameters
        ----------
        value : str, default "score"
            Column to spread: ``"score"`` or a numeric covariate (e.g. a process measure).

        Returns
        -------
        numpy.ndarray
            Shape ``(n_clients, n_sessions)``, dtype float64; a fresh array on every call.
        """
        if value == "score":
            values = self._score
        elif value in self._columns:
            values = _as_float(self._columns[value], column=value)
        else:
            names = ["score", *self._columns]
            raise MissingColumnError(_missing_column_message(value, names))
        out = np.full(self.n_clients * self.n_sessions, np.nan)
        out[self._cell] = values
        return out.reshape(self.n_clients, self.n_sessions)

    def to_wide(self, value: str = "score") -> pd.DataFrame:
        """Wide table: one row per client, one column per session number.

        Examples
        --------
        >>> import toolkit
        >>> scores = toolkit.datasets.load_scores("sgdata")
        >>> scores.to_wide().shape
        (43, 13)
        """
        return pd.DataFrame(
            self.to_matrix(value),
            index=pd.Index(self.clients, name="client"),
            columns=pd.Index(self.sessions, name="session"),
        )

    def n_observed(self) -> pd.Series:
        """Number of observed (non-missing) scores per client, indexed by client."""
        counts = np.bincount(
            self._client_code[~np.isnan(self._score)], minlength=self.n_clients
        )
        return pd.Series(counts, index=pd.Index(self.clients, name="client"), name="n_observed")

    def too_few_sessions(self, minimum: int, *, method: str) -> pd.DataFrame:
        """Clients with fewer than ``minimum`` observed scores, with the reason (for ``skipped``).

        Methods call this to report, rather than fail on, clients they cannot analyse.

        Returns
        -------
        pandas.DataFrame
            Columns ``client``, ``n_observed``, ``reason``.
        """
        n = self.n_observed()
        few = n[n < minimum]
        return pd.DataFrame(
            {
                "client": few.index.to_numpy(),
                "n_observed": few.to_numpy(),
                "reason": [
                    f"{k} observed score(s); {method} needs at least {minimum}" for k in few
                ],
            }
        )

    def sequence_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Matrix column of each client's first and last session (rows with missing scores count).

        A client's sequence runs between its own first and last session; per-interval
        methods use it so that sessions outside it are never treated as that client's.
        """
        present = np.zeros(self.n_clients * self.n_sessions, dtype=bool)
        present[self._cell] = True
        return first_and_last(present.reshape(self.n_clients, self.n_sessions))

    # -- description ---------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One-row description of the validated data (counts, missingness, score range).

        Returns
        -------
        pandas.DataFrame
            Columns ``instrument``, ``n_clients``, ``n_sessions``, ``n_rows``,
            ``n_missing_scores``, ``share_missing``, ``observed_per_client_min``,
            ``observed_per_client_median``, ``observed_per_client_max``, ``score_mean``,
            ``score_sd``, ``score_min``, ``score_max``, ``n_excluded_rows``.
        """
        score = pd.Series(self._score)
        n_obs = self.n_observed()
        return pd.DataFrame(
            {
                "instrument": [self.instrument.name if self.instrument else None],
                "n_clients": [self.n_clients],
                "n_sessions": [self.n_sessions],
                "n_rows": [len(self._score)],
                "n_missing_scores": [int(score.isna().sum())],
                "share_missing": [float(score.isna().mean()) if len(score) else np.nan],
                "observed_per_client_min": [int(n_obs.min())],
                "observed_per_client_median": [float(n_obs.median())],
                "observed_per_client_max": [int(n_obs.max())],
                "score_mean": [score.mean()],
                "score_sd": [score.std()],
                "score_min": [score.min()],
                "score_max": [score.max()],
                "n_excluded_rows": [len(self.excluded)],
            }
        )

    def plot(self, ax=None, **kwargs):
        """Spaghetti plot of the trajectories; see :func:`toolkit.plots.spaghetti`."""
        from .plots import spaghetti

        return spaghetti(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        name = self.instrument.name if self.instrument else self.roles["score"]
        return (
            f"<LongScores {name}: {self.n_clients} clients x {self.n_sessions} sessions, "
            f"{len(self._score)} rows, {int(np.isnan(self._score).sum())} missing scores, "
            f"{len(self.excluded)} excluded rows>"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self.__repr__()[1:-1]}</p>" + self.summary().to_html(index=False)


# ---------------------------------------------------------------------------------------
def long_scores(
    df: pd.DataFrame,
    *,
    client: str,
    session: str,
    score: str,
    instrument: str | Instrument | None = None,
    covariates: Sequence[str] | None = None,
    invalid: Literal["raise", "exclude"] = "raise",
) -> LongScores:
    """Validate long-format repeated scores and return them in canonical form.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per client and session. Not modified.
    client, session, score : str
        Column names. ``session`` holds whole numbers >= 0 (the session's order, e.g. 0 for
        intake) or dates (datetime64); dates become the order 1, 2, ... within each client and
        are kept in a ``date`` column.
    instrument : str or Instrument, optional
        The measure; scores outside its range are invalid.
    covariates : list of str, optional
        Columns carried along under their own names. By default every other column is kept,
        so no data is lost; pass ``[]`` to keep none.
    invalid : {"raise", "exclude"}, default "raise"
        What to do with invalid rows (non-numeric or out-of-range score, missing, negative
        or fractional session, missing client, duplicate (client, session)). ``"raise"``
        raises on the first kind of problem found; ``"exclude"`` sets the rows aside and
        lists them, with the reason, in :attr:`LongScores.excluded`.

    Returns
    -------
    LongScores
        Validated data; see :class:`LongScores`.

    Raises
    ------
    EmptyDataError
        No rows.
    MissingColumnError
        A named column is absent.
    NonNumericError
        A score cannot be read as a number (the message shows the value).
    SessionError
        A session is missing, negative or not a whole number, or a client id is missing.
    DuplicateSessionError
        A (client, session) pair occurs twice.
    ScoreRangeError
        A score is outside the instrument's range.

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
    """
    if invalid not in ("raise", "exclude"):
        raise ValueError(
            "The 'invalid' parameter of long_scores must be one of {'raise', 'exclude'}. "
            f"Got {invalid!r} instead."
        )
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"long_scores() takes a pandas DataFrame; got {type(df).__name__}.")
    inst = _instruments.get(instrument) if instrument is not None else None
    roles = {"client": client, "session": session, "score": score}
    covariates = _resolve_covariates(df, roles, covariates)
    if len(df) == 0:
        raise EmptyDataError(
            f"The DataFrame has no rows, so there are no {score!r} scores to analyse."
        )

    check = _Checker(df, roles, invalid)
    check.flag(df[client].isna().to_numpy(), "client", "missing client id", SessionError)
    score_values = check.scores(inst)
    session_values, dates = check.sessions()
    keep = ~check.bad
    valid = keep.all()  # the common case: no copies for filtering
    client_ids = df[client].to_numpy() if valid else df[client].to_numpy()[keep]
    if not valid:
        score_values, session_values = score_values[keep], session_values[keep]
        dates = dates[keep] if dates is not None else None
    if len(client_ids) == 0:
        raise EmptyDataError("Every row was excluded as invalid; see the reasons above.")

    codes = _Codes(client_ids, session_values, dates)
    dup = _duplicated(codes.cell, codes.n_cells)
    if dup.any():
        # Every row of a repeated pair goes: which of them is right cannot be known.
        in_dup = np.isin(codes.cell, np.unique(codes.cell[dup]))
        check.duplicates(np.flatnonzero(keep)[in_dup], codes.session[in_dup], dates is not None)
        keep[np.flatnonzero(keep)[in_dup]] = False
        client_ids, score_values = client_ids[~in_dup], score_values[~in_dup]
        dates = dates[~in_dup] if dates is not None else None
        codes = _Codes(client_ids, session_values[~in_dup], dates)

    rows = None if keep.all() else np.flatnonzero(keep)
    columns = {"date": dates} if dates is not None else {}
    for c in covariates:  # a copy (dtype kept, categories too): the caller's later edits stay out
        columns[c] = df[c].array.copy() if rows is None else df[c].array.take(rows)
    settings = {
        **roles,
        "instrument": inst.name if inst else None,
        "covariates": list(covariates),
        "invalid": invalid,
        "sessions_from_dates": dates is not None,
        "toolkit_version": _version(),
    }
    return LongScores(
        excluded=check.excluded_frame(),
        instrument=inst,
        roles=roles,
        clients=codes.clients,
        sessions=codes.sessions.astype(np.int64),
        settings=settings,
        _client_code=codes.client_code,
        _session_code=codes.session_code,
        _score=score_values,
        _columns=columns,
    )


def as_scores(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
) -> LongScores:
    """Validated scores from either a :class:`LongScores` or a long DataFrame plus column names.

    Analysis functions call this first, so users can pass whichever they have. A
    ``LongScores`` is returned as it is (an ``instrument`` given here must match its own); a
    DataFrame goes through :func:`long_scores` and needs ``client``, ``session`` and ``score``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1], "s": [1, 2], "phq": [20, 11]})
    >>> as_scores(df, client="id", session="s", score="phq").n_clients
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
        missing = [k for k, v in {"client": client, "session": session, "score": score}.items()
                   if v is None]
        if missing:
            raise ValueError(
                f"A DataFrame needs its column roles: pass {', '.join(f'{m}=...' for m in missing)} "
                "(the column names), or validate first with toolkit.long_scores()."
            )
        return long_scores(data, client=client, session=session, score=score,
                           instrument=instrument)
    raise TypeError(
        f"Expected a long-format DataFrame or LongScores; got {type(data).__name__}."
    )


def from_wide(
    wide: pd.DataFrame,
    *,
    client: str,
    columns: Sequence[str] | Mapping[str, Sequence[str]],
    sessions: Sequence[int] | None = None,
    session: str = "session",
) -> pd.DataFrame:
    """Turn a wide table (one row per client, one column per session) into long format.

    Parameters
    ----------
    wide : pandas.DataFrame
        One row per client. Not modified.
    client : str
        Client id column.
    columns : list of str, or dict of {measure: list of str}
        Score columns in session order. A list gives one value column named ``"score"``;
        a dict gives one value column per measure (all lists must have the same length).
    sessions : list of int, optional
        Session number of each position; by default 1, 2, ..., k.
    session : str, default "session"
        Name of the session column to create.

    Returns
    -------
    pandas.DataFrame
        ``n_clients * k`` rows (missing scores kept as NaN), sorted by client and session:
        the client column, every column of ``wide`` not used as a score (repeated on each of
        the client's rows), ``session``, and the value column(s).

    Examples
    --------
    >>> import pandas as pd
    >>> wide = pd.DataFrame({"id": [1, 2], "s0": [30, 25], "s1": [28, None]})
    >>> from_wide(wide, client="id", columns=["s0", "s1"], sessions=[0, 1])
       id  session  score
    0   1        0   30.0
    1   1        1   28.0
    2   2        0   25.0
    3   2        1    NaN
    """
    measures = {"score": list(columns)} if not isinstance(columns, Mapping) else {
        k: list(v) for k, v in columns.items()
    }
    lengths = {len(v) for v in measures.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            "Each measure in 'columns' needs the same, non-zero number of session columns; "
            f"got lengths {[len(v) for v in measures.values()]}."
        )
    k = lengths.pop()
    used = [c for cols in measures.values() for c in cols]
    for c in [client, *used]:
        if c not in wide.columns:
            raise MissingColumnError(_missing_column_message(c, list(wide.columns)))
    if sessions is None:
        sessions = range(1, k + 1)
    sessions = np.asarray(list(sessions))
    if len(sessions) != k:
        raise ValueError(f"'sessions' has {len(sessions)} entries but there are {k} columns.")
    if session in wide.columns or session in measures:
        raise ValueError(f"The session column name {session!r} is already used; pick another.")
    n = len(wide)
    out = {client: np.repeat(wide[client].to_numpy(), k)}
    for c in wide.columns:
        if c != client and c not in used:
            out[c] = np.repeat(wide[c].to_numpy(), k)
    out[session] = np.tile(sessions, n)
    for name, cols in measures.items():
        out[name] = wide[cols].to_numpy().reshape(-1)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------
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
            f"row {_show(self.df.index[i])} (client {_show(client.iloc[i])}, "
            f"value {_show(self.df[column].iloc[i])})"
            for i in where[:_SHOW]
        ]
        more = f" and {len(where) - _SHOW} more" if len(where) > _SHOW else ""
        return "; ".join(parts) + more

    def flag(self, mask: np.ndarray, role: str, reason: str, error: type, fix: str = "") -> None:
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

    def scores(self, inst: Instrument | None) -> np.ndarray:
        column = self.roles["score"]
        raw = self.df[column]
        # A copy, never a view of the caller's column: the result must not change with it.
        values = np.array(pd.to_numeric(raw, errors="coerce"), dtype=np.float64, copy=True)
        self.flag(np.isnan(values) & raw.notna().to_numpy(), "score", "a non-numeric score",
                  NonNumericError,
                  "Fix: convert the column to numbers (missing scores should be empty/NaN), "
                  "or pass invalid='exclude'.")
        self.flag(np.isinf(values), "score", "an infinite score", NonNumericError)
        if inst is not None:
            with np.errstate(invalid="ignore"):
                outside = (values < inst.min_score) | (values > inst.max_score)
            self.flag(outside, "score",
                      f"a score outside the {inst.name} range "
                      f"[{inst.min_score:g}, {inst.max_score:g}]", ScoreRangeError,
                      "Fix: check the instrument and the scoring, or pass invalid='exclude'.")
        return values

    def sessions(self) -> tuple[np.ndarray, np.ndarray | None]:
        column = self.roles["session"]
        raw = self.df[column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            dates = raw.to_numpy(copy=True)
            self.flag(raw.isna().to_numpy(), "session", "a missing session date", SessionError)
            return np.zeros(len(raw), dtype=np.int64), dates
        if pd.api.types.is_bool_dtype(raw):
            raise SessionError(f"Column {column!r}: sessions must be numbers or dates, not "
                               "True/False.")
        if pd.api.types.is_integer_dtype(raw.dtype) and not isinstance(raw.dtype,
                                                                       pd.api.extensions.ExtensionDtype):
            values = raw.to_numpy(dtype=np.int64)  # the common case: nothing to convert
            self.flag(values < 0, "session", "a negative session number", SessionError)
            return np.where(self.bad, 0, values) if self.bad.any() else values, None
        values = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)
        missing = raw.isna().to_numpy()
        self.flag(missing, "session", "a missing session", SessionError)
        self.flag(np.isnan(values) & ~missing, "session", "a session that is not a number",
                  SessionError,
                  "Fix: give sessions as whole numbers (0 = intake is allowed) or as dates "
                  "(convert with pandas.to_datetime), or pass invalid='exclude'.")
        with np.errstate(invalid="ignore"):
            self.flag(values < 0, "session", "a negative session number", SessionError)
            self.flag((values != np.round(values)) & np.isfinite(values), "session",
                      "a session that is not a whole number", SessionError)
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
        shown = "; ".join(f"client {_show(c)}, session {_show(s)}" for c, s in pairs[:_SHOW])
        shown += f" and {len(pairs) - _SHOW} more" if len(pairs) > _SHOW else ""
        rows = ", ".join(_show(self.df.index[i]) for i in where[: 2 * _SHOW])
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


class _Codes:
    """Integer codes of clients, sessions and (client, session) cells for valid rows."""

    def __init__(self, client_ids: pd.Series, session: np.ndarray, dates) -> None:
        self.client_code, self.clients = _factorize_sorted(client_ids)
        if dates is not None:
            session = _order_by_date(self.client_code, dates)
        self.session = session
        self.session_code, sessions = _factorize_sorted(session)
        self.sessions = sessions.to_numpy()
        self.n_cells = len(self.clients) * len(self.sessions)
        self.cell = self.client_code * len(self.sessions) + self.session_code


def _resolve_covariates(
    df: pd.DataFrame, roles: dict[str, str], covariates: Sequence[str] | None
) -> list[str]:
    for role, column in roles.items():
        if not isinstance(column, Hashable) or column not in df.columns:
            raise MissingColumnError(
                f"The {role} column: " + _missing_column_message(column, list(df.columns))
            )
    if len(set(roles.values())) < 3:
        raise ValueError(f"client, session and score must be three different columns; got {roles}.")
    if covariates is None:
        covariates = [c for c in df.columns if c not in roles.values()]
    covariates = list(covariates)
    for c in covariates:
        if c not in df.columns:
            raise MissingColumnError("Covariate: " + _missing_column_message(c, list(df.columns)))
        if c in _CANONICAL or c in roles.values():
            raise ValueError(
                f"Covariate column {c!r} clashes with a canonical column name {_CANONICAL} "
                "or a role column. Fix: rename it first, e.g. df.rename(columns={...})."
            )
    return covariates


def first_and_last(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of the first and of the last True in each row of a 2-D mask.

    A row without any True gets 0 and the last column; callers check such rows themselves.
    """
    first = np.argmax(mask, axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return first, last


def _show(value: Any) -> str:
    """A value as users typed it: 12 rather than np.int64(12)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _missing_column_message(column: Any, available: list) -> str:
    close = difflib.get_close_matches(str(column), [str(a) for a in available], n=3)
    hint = f" Did you mean {close}?" if close else ""
    return f"no column {column!r} in the data. Columns are: {available}.{hint}"


def _factorize_sorted(ids: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes 0..k-1 of the ids in sorted order (independent of row order)."""
    values = np.asarray(ids)
    if values.dtype.kind in "iu" and len(values):
        # Small-range integer ids (the common case) take a counting pass, not a hash + sort.
        lo, hi = values.min(), values.max()
        if hi - lo < 4 * len(values) + 1024:
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[values - lo] = True
            rank = np.cumsum(present) - 1
            return rank[values - lo], pd.Index(np.flatnonzero(present) + lo, name="client")
    ids = pd.Series(values)
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:  # mixed types that cannot be ordered: order their text instead
        text = ids.astype(str)
        codes, uniques_text = pd.factorize(text, sort=True)
        first = pd.Series(ids.to_numpy()).groupby(codes).first()
        uniques = pd.Index(first.to_numpy(), dtype=object)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques, name="client")


def _order_by_date(client_code: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Session order 1, 2, ... of each client's dates."""
    order = np.lexsort((dates, client_code))
    sorted_codes = client_code[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    counts = np.diff(np.r_[starts, len(order)])
    position = np.arange(len(order)) - np.repeat(starts, counts) + 1
    # Equal dates within a client get equal order, so they surface as duplicates.
    sorted_dates = dates[order]
    same = np.r_[False, (sorted_dates[1:] == sorted_dates[:-1]) & (np.diff(sorted_codes) == 0)]
    idx = np.arange(len(order))
    idx[same] = 0
    np.maximum.accumulate(idx, out=idx)
    position = position[idx]
    out = np.empty_like(position)
    out[order] = position
    return out


def _duplicated(cell: np.ndarray, n_cells: int) -> np.ndarray:
    """True for every row after the first that falls into an already used cell."""
    if n_cells <= 8 * len(cell) + 1024:
        counts = np.bincount(cell, minlength=n_cells)
        if counts.max(initial=0) <= 1:
            return np.zeros(len(cell), dtype=bool)
    order = np.argsort(cell, kind="stable")
    sorted_cell = cell[order]
    repeat = np.r_[False, sorted_cell[1:] == sorted_cell[:-1]]
    out = np.zeros(len(cell), dtype=bool)
    out[order[repeat]] = True
    return out


def _counting_sort(cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Row order by cell (unique cells): O(rows + cells) rather than a comparison sort."""
    if len(cell) > 1 and np.all(cell[1:] > cell[:-1]):
        return np.arange(len(cell))
    if n_cells <= 8 * len(cell) + 1024:
        position = np.full(n_cells, -1, dtype=np.int64)
        position[cell] = np.arange(len(cell))
        return position[position >= 0]
    return np.argsort(cell, kind="stable")


def _as_float(values: pd.Series, *, column: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise NonNumericError(
            f"Column {column!r} is not numeric, so it cannot be spread into a matrix."
        ) from None


def _version() -> str:
    from . import __version__

    return __version__
