"""Wide tables (one row per client, one column per session) to the long format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, InputTypeError, MissingColumnError, OptionError, SessionError
from ._helpers import missing_column_message

__all__ = ["from_wide"]


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

    Raises
    ------
    InputTypeError
        ``wide`` is not a DataFrame (a ``TypeError`` and a ``DataError``).
    OptionError
        ``columns`` or ``sessions`` of the wrong shape, or ``session`` already a column.
    DataError, MissingColumnError, SessionError
        Repeated column names in ``wide`` or in ``columns``, the client column used as a
        score, a client listed twice, a named column that is missing, or session numbers
        that repeat or are not whole numbers >= 0.

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
    if not isinstance(wide, pd.DataFrame):
        raise InputTypeError(
            f"from_wide() takes a pandas DataFrame (one row per client); got "
            f"{type(wide).__name__}. Fix: pd.DataFrame(...) first."
        )
    repeated = wide.columns[wide.columns.duplicated()].unique().tolist()
    if repeated:
        raise DataError(
            f"The wide table has repeated column names {repeated}. Fix: rename or "
            "drop the repeats first."
        )
    if isinstance(columns, str) or not isinstance(columns, (Sequence, Mapping)):
        raise OptionError(
            "The 'columns' parameter of from_wide must be a list of score columns in session "
            f"order, or a dict {{measure: [columns]}}. Got {columns!r} instead."
        )
    measures = (
        {"score": list(columns)}
        if not isinstance(columns, Mapping)
        else {k: list(v) for k, v in columns.items()}
    )
    lengths = {len(v) for v in measures.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise OptionError(
            "The 'columns' parameter of from_wide needs the same, non-zero number of session "
            f"columns for each measure. Got lengths {[len(v) for v in measures.values()]} "
            "instead."
        )
    k = lengths.pop()
    used = [c for cols in measures.values() for c in cols]
    twice = sorted({c for c in used if used.count(c) > 1}, key=str)
    if twice:
        raise DataError(
            f"Column(s) {twice} are listed more than once in 'columns'; each "
            "session's score comes from one column."
        )
    if client in used:
        raise DataError(
            f"The client column {client!r} is also listed as a score column. Fix: "
            "list only the score columns in 'columns'."
        )
    for c in [client, *used]:
        if c not in wide.columns:
            raise MissingColumnError(missing_column_message(c, list(wide.columns)))
    ids = wide[client]
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].unique().tolist()
        raise DataError(
            f"Column {client!r}: client(s) {dup[:5]} have more than one row in the "
            "wide table. Fix: one row per client (or go to long format directly)."
        )
    positions = np.asarray(list(range(1, k + 1)) if sessions is None else list(sessions))
    if len(positions) != k:
        raise OptionError(
            f"The 'sessions' parameter of from_wide must give one session number per score "
            f"column ({k}). Got {len(positions)} entries instead."
        )
    numeric = pd.to_numeric(pd.Series(positions), errors="coerce").to_numpy(dtype=float)
    if np.isnan(numeric).any() or (numeric < 0).any() or (numeric != np.round(numeric)).any():
        raise SessionError(f"'sessions' must be whole numbers >= 0; got {list(positions)}.")
    if len(set(numeric.tolist())) != k:
        raise SessionError(
            f"'sessions' repeats a session number: {list(positions)}. Each column is one session."
        )
    if session in wide.columns or session in measures:
        raise OptionError(
            f"The 'session' parameter of from_wide names the session column to create, but "
            f"{session!r} is already a column. Fix: pick another name, e.g. session='visit'."
        )
    n = len(wide)
    out = {client: np.repeat(ids.to_numpy(), k)}
    for c in wide.columns:
        if c != client and c not in used:
            out[c] = np.repeat(wide[c].to_numpy(), k)
    out[session] = np.tile(numeric.astype(np.int64), n)
    for name, cols in measures.items():
        out[name] = wide[cols].to_numpy().reshape(-1)
    return pd.DataFrame(out)
