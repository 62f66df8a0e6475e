"""Reading score files: CSV (delimiter detected), parquet, SPSS and Stata; wide exports; dates.

The command line and the batch command read files only through :func:`read_scores`, so a
file gives the same validated data whichever way it reaches the toolkit. Every problem with a
file ends in a :class:`~toolkit.errors.FileFormatError` that names the file (and, where there
is one, the line) and says how to fix it; what the reader decided on its own (the delimiter,
the order of day and month) is returned in :attr:`ReadFile.notes`.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "scores.csv").write_text("id;week;phq9\\nA07;1;18\\nA07;2;11\\n")
>>> read = read_scores(folder / "scores.csv", text_columns=["id"])
>>> read.notes
["read as ';'-separated"]
>>> read.frame["id"].tolist()
['A07', 'A07']
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FileFormatError, warn

__all__ = ["ReadFile", "read_scores", "read_table", "wide_to_long", "parse_dates", "SUFFIXES"]

#: File types :func:`read_table` reads, by suffix.
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".sav", ".dta")
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50


@dataclass(frozen=True)
class ReadFile:
    """A file read into a long DataFrame, with what the reader decided on its own."""

    frame: pd.DataFrame
    path: Path
    notes: list[str] = field(default_factory=list)


# --- tables ------------------------------------------------------------------------------
def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    text_columns: Sequence[str] = (),
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """One file as a DataFrame, exactly as written: no column renamed, no row dropped.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.tsv``/``.txt`` (delimiter detected unless ``sep`` is given),
        ``.parquet``, SPSS ``.sav`` or Stata ``.dta`` file (the last two need the ``io``
        extra: ``pip install "toolkit[io]"``).
    sep : str, optional
        The delimiter of a text file.
    text_columns : sequence of str
        Columns read as text, not numbers (ids: ``"007"`` stays ``"007"``).
    notes : list, optional
        Receives what the reader decided on its own (e.g. the delimiter it detected).

    Raises
    ------
    FileFormatError
        The file is missing, empty, of an unknown type, has a repeated column name in its
        header, or a row with fewer or more fields than the header (the line is named).
    """
    path = Path(path)
    notes = notes if notes is not None else []
    if not path.exists():
        raise FileFormatError(f"{path}: no such file. Fix: check the path and its spelling.")
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder, not a file. Fix: name one file in it.")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes). Fix: export the data again.")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _check_header(pd.read_parquet(path), path)
    if suffix in (".sav", ".dta"):
        return _check_header(_read_statistics_file(path, suffix), path)
    if suffix not in (".csv", ".tsv", ".txt"):
        raise FileFormatError(
            f"{path}: unknown file type {suffix!r}. Fix: give one of {', '.join(SUFFIXES)}."
        )
    return _read_text(path, sep, text_columns, notes)


def _read_statistics_file(path: Path, suffix: str) -> pd.DataFrame:
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise FileFormatError(
            f"{path}: reading SPSS and Stata files needs pyreadstat. Fix: "
            'pip install "toolkit[io]", or export the data as CSV.'
        ) from None
    reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
    try:
        frame, _ = reader(str(path))
    except Exception as error:  # pyreadstat raises its own error types
        raise FileFormatError(
            f"{path} could not be read as a {suffix} file: {error}. Fix: check that it "
            "is not damaged, or export the data as CSV."
        ) from None
    return frame


def _read_text(
    path: Path, sep: str | None, text_columns: Sequence[str], notes: list[str]
) -> pd.DataFrame:
    head = _first_lines(path)
    if not any(line.strip() for line in head):
        raise FileFormatError(f"{path} holds no data, only blank lines. Fix: export it again.")
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" else _detect_delimiter(head)
        if sep != ",":
            notes.append(f"read as {sep!r}-separated")
    header = next(csv.reader([head[0]], delimiter=sep))
    _check_names([h.strip() for h in header], path, "header")
    dtype = {c: "string" for c in text_columns if c in header}
    try:
        frame = pd.read_csv(path, sep=sep, engine="pyarrow", dtype=dtype or None)
    except (pd.errors.ParserError, ValueError) as error:
        raise _parse_error(path, sep, header, error) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame.columns) == 1 and len(header) == 1:
        guess = _detect_delimiter(head)
        if guess != sep:
            raise FileFormatError(
                f"{path} was read as one column {header[0]!r}; it looks {guess!r}-separated. "
                f"Fix: pass sep={guess!r}."
            )
    return frame


def _first_lines(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = []
        for line in handle:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= _SNIFF_LINES:
                break
    return lines


def _detect_delimiter(lines: list[str]) -> str:
    """The delimiter that splits every sampled line into the same number (> 1) of fields:
    the comma when it does, else the one giving the most fields, else the comma."""
    lines = [line for line in lines if line.strip()]
    consistent: dict[str, int] = {}
    for d in _DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=d)}
        if len(counts) == 1 and max(counts) > 1:
            consistent[d] = max(counts)
    if "," in consistent or not consistent:
        return ","
    return max(consistent, key=lambda d: consistent[d])


def _parse_error(path: Path, sep: str, header: list[str], error: Exception) -> FileFormatError:
    text = str(error)
    match = re.search(r"Expected (\d+) columns, got (\d+): (.*)", text)
    if match:
        expected, got, row = int(match.group(1)), int(match.group(2)), match.group(3)
        line = _find_line(path, row)
        where = f"line {line}" if line else "a row"
        kind = "fewer" if got < expected else "more"
        return FileFormatError(
            f"{path}, {where}: {got} field(s) where the header has {expected} "
            f"({', '.join(header)}): {row!r}. A row with {kind} fields than the header "
            "would shift or lose values. Fix: correct that row (an empty field is written "
            f"as two delimiters, e.g. '1{sep}2{sep}'), or check the delimiter (sep=...)."
        )
    return FileFormatError(f"{path} could not be read: {text}. Fix: check the file's format.")


def _find_line(path: Path, row: str) -> int | None:
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.rstrip("\r\n") == row:
                return number
    return None


def _check_header(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    _check_names([str(c) for c in frame.columns], path, "columns")
    return frame


def _check_names(names: list[str], path: Path, what: str) -> None:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    repeated = [n for n, k in seen.items() if k > 1]
    if repeated:
        raise FileFormatError(
            f"{path}: the {what} name(s) {repeated} more than once, so it is ambiguous "
            "which column holds the data. Fix: rename or drop the repeats in the file."
        )
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank and len(names) > 1:
        raise FileFormatError(
            f"{path}: column(s) {blank} of the {what} have no name. Fix: name every column."
        )


# --- wide exports ------------------------------------------------------------------------
def wide_to_long(
    frame: pd.DataFrame,
    pattern: str,
    *,
    client: str,
    session: str = "session",
    score: str = "score",
    date_pattern: str | None = None,
    date_column: str = "session_date",
    source: str = "the table",
) -> pd.DataFrame:
    """A wide export (one row per client, one column per session) as long rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per client. Not modified.
    pattern : str
        Names of the score columns with ``{n}`` for the session number, e.g. ``"phq9_{n}"``
        (matches ``phq9_1``, ``phq9_2``, ...).
    client : str
        The id column.
    session, score : str
        Names of the long table's session and score columns.
    date_pattern : str, optional
        Names of the matching date columns, e.g. ``"date_{n}"``; their values become the
        ``date_column`` of each long row (parse them with :func:`parse_dates`).
    source : str
        The table's name in messages (e.g. the file).

    Returns
    -------
    pandas.DataFrame
        One row per client and session number: ``client``, the columns matching neither
        pattern (carried on every row), ``session``, ``score`` and the date column.

    Examples
    --------
    >>> wide = pd.DataFrame({"id": ["a", "b"], "arm": ["cbt", "tau"],
    ...                      "phq9_1": [20, 18], "phq9_2": [15, None]})
    >>> wide_to_long(wide, "phq9_{n}", client="id")
      id  arm  session  score
    0  a  cbt        1   20.0
    1  a  cbt        2   15.0
    2  b  tau        1   18.0
    3  b  tau        2    NaN
    """
    from .data import from_wide

    found = _pattern_columns(frame, pattern, source, "--wide")
    sessions = sorted(found)
    columns: dict[str, list[str]] = {score: [found[n] for n in sessions]}
    if date_pattern is not None:
        dates = _pattern_columns(frame, date_pattern, source, "--wide-dates")
        missing = [n for n in sessions if n not in dates]
        if missing:
            raise FileFormatError(
                f"{source}: no date column for session(s) {missing[:10]} of {pattern!r} "
                f"(date pattern {date_pattern!r}). Fix: name a date column for every session."
            )
        columns[date_column] = [dates[n] for n in sessions]
        used = set(found.values()) | set(dates.values())
    else:
        used = set(found.values())
    if client in used:
        raise FileFormatError(
            f"{source}: the client column {client!r} matches the score pattern {pattern!r}."
        )
    rest = frame[[c for c in frame.columns if c not in used or c == client]]
    wide = pd.concat([rest, frame[[c for cols in columns.values() for c in cols]]], axis=1)
    long = from_wide(wide, client=client, columns=columns, sessions=sessions, session=session)
    return long


def _pattern_columns(frame: pd.DataFrame, pattern: str, source: str, flag: str) -> dict[int, str]:
    if pattern.count("{n}") != 1:
        raise FileFormatError(
            f"The wide pattern {pattern!r} must contain {{n}} once, where the session number "
            "goes (e.g. 'phq9_{n}')."
        )
    before, after = (re.escape(part) for part in pattern.split("{n}"))
    regex = re.compile(f"^{before}(\\d+){after}$")
    found: dict[int, str] = {}
    for column in frame.columns:
        m = regex.match(str(column))
        if m:
            n = int(m.group(1))
            if n in found:
                raise FileFormatError(
                    f"{source}: columns {found[n]!r} and {column!r} both give session {n} of "
                    f"{pattern!r}. Fix: rename one of them."
                )
            found[n] = str(column)
    if not found:
        shown = [str(c) for c in frame.columns[:12]]
        raise FileFormatError(
            f"{source}: no column matches the pattern {pattern!r} ({flag}); the columns are "
            f"{shown}{' ...' if len(frame.columns) > 12 else ''}."
        )
    return found


# --- dates --------------------------------------------------------------------------------
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})(?:[ T].*)?$")


def parse_dates(
    values: pd.Series,
    *,
    column: str,
    date_format: str | None = None,
    dayfirst: bool | None = None,
    notes: list[str] | None = None,
) -> pd.Series:
    """Text dates as datetimes, one order of day and month for the whole column.

    ``date_format`` (e.g. ``"%d/%m/%Y"``) is used when given. Otherwise the order is read
    from the data: a first number above 12 (``25/03/2024``) means day first, a second one
    above 12 means month first; when every date fits both (``03/04/2024``), month first is
    assumed and a :class:`~toolkit.errors.ToolkitWarning` says so, unless ``dayfirst`` is
    given. ISO dates (``2024-03-25``) are never ambiguous.

    Raises
    ------
    FileFormatError
        Dates that cannot be read, or a column that mixes day-first and month-first dates.
    """
    notes = notes if notes is not None else []
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    text = values.astype("string")
    if date_format is None:
        parts = text.str.extract(_NUMERIC_DATE.pattern)
        first = pd.to_numeric(parts[0], errors="coerce")
        second = pd.to_numeric(parts[1], errors="coerce")
        says_day = bool((first > 12).any())
        says_month = bool((second > 12).any())
        if says_day and says_month:
            raise FileFormatError(
                f"Column {column!r} mixes day-first (e.g. {_example(text, first > 12)}) and "
                f"month-first dates (e.g. {_example(text, second > 12)}). Fix: write one "
                "order, or give the format (date_format='%d/%m/%Y')."
            )
        numeric = bool(first.notna().any())
        if dayfirst is None and numeric:
            if says_day:
                dayfirst = True
                notes.append(
                    f"dates in {column!r} read day first (e.g. {_example(text, first > 12)})"
                )
            elif says_month:
                dayfirst = False
            else:
                dayfirst = False
                warn(
                    f"The dates in column {column!r} fit both day-first and month-first "
                    f"(e.g. {_example(text, first.notna())}); they were read month first. "
                    "Fix: pass dayfirst=True if they are day first, or date_format."
                )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format"
            parsed = pd.to_datetime(
                text, format=date_format, dayfirst=bool(dayfirst), errors="raise"
            )
    except (ValueError, TypeError) as error:
        raise FileFormatError(
            f"Column {column!r} could not be read as dates: {error}. Fix: give the format "
            "(date_format='%d/%m/%Y' or similar) or correct the value."
        ) from None
    return pd.Series(parsed, index=values.index, name=values.name)


def _example(text: pd.Series, mask: Any) -> str:
    hit = np.flatnonzero(np.asarray(mask, dtype=bool))
    return repr(str(text.iloc[hit[0]])) if len(hit) else "?"


# --- the whole path ---------------------------------------------------------------------
def _tidy_ids(ids: pd.Series) -> pd.Series:
    """Ids read as text become whole numbers when every one is written as such ("17", not
    "017"), so that they sort as numbers; anything else stays text, as written."""
    if not pd.api.types.is_string_dtype(ids):
        return ids
    text = ids.astype("string")
    plain = text.str.fullmatch(r"0|[1-9][0-9]{0,17}")
    if bool(plain.fillna(False).all()):
        return text.astype("int64")
    return text


def read_scores(
    path: str | Path,
    *,
    sep: str | None = None,
    text_columns: Sequence[str] = (),
    wide: str | None = None,
    wide_dates: str | None = None,
    client: str = "client",
    session: str = "session",
    score: str = "score",
    date_columns: Sequence[str] = (),
    date_format: str | None = None,
    dayfirst: bool | None = None,
) -> ReadFile:
    """Read a score file into a long DataFrame ready for :func:`toolkit.long_scores`.

    Parameters
    ----------
    path : str or Path
        A file of a type in :data:`SUFFIXES`.
    sep : str, optional
        Delimiter of a text file (detected when not given).
    text_columns : sequence of str
        Columns kept as text (ids).
    wide, wide_dates : str, optional
        Patterns of a wide export's score and date columns (see :func:`wide_to_long`).
    client, session, score : str
        Column names; for a wide export, ``session`` and ``score`` name the columns created.
    date_columns : sequence of str
        Columns holding dates, parsed with :func:`parse_dates` (with a wide export the date
        pattern's values are parsed too).
    date_format, dayfirst
        How to read the dates (see :func:`parse_dates`).

    Returns
    -------
    ReadFile
        ``frame`` (long rows), ``path`` and ``notes``.
    """
    path = Path(path)
    notes: list[str] = []
    frame = read_table(path, sep=sep, text_columns=[client, *text_columns], notes=notes)
    if client in frame.columns:
        frame[client] = _tidy_ids(frame[client])
    dates = list(date_columns)
    if wide is not None:
        frame = wide_to_long(
            frame, wide, client=client, session=session, score=score,
            date_pattern=wide_dates, source=str(path),
        )  # fmt: skip
        if wide_dates is not None:
            dates.append("session_date")
    elif wide_dates is not None:
        raise FileFormatError("A date pattern (--wide-dates) needs a wide pattern (--wide).")
    for column in dict.fromkeys(dates):
        if column in frame.columns:
            frame[column] = parse_dates(
                frame[column], column=column, date_format=date_format, dayfirst=dayfirst,
                notes=notes,
            )  # fmt: skip
    return ReadFile(frame=frame, path=path, notes=notes)
