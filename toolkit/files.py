"""Reading score files: CSV (delimiter detected), parquet, SPSS and Stata; wide exports; dates.

The command line and the batch command read files only through this module, so a file gives
the same validated data whichever way it reaches the toolkit. Every problem with a file ends
in a :class:`~toolkit.errors.FileFormatError` that names the file (and, where there is one,
the line or row) and says how to fix it; what the reader decided on its own (the delimiter,
the order of day and month) is returned in :attr:`ReadFile.notes`.

Files are read in blocks with pyarrow, and every block is stored compactly as it arrives:
whole numbers in the smallest integer type that holds them, other numbers as 32-bit floats
where that is exact (missing values stay NaN), and text with repeated values (ids,
therapists, arms, dates before parsing) as pandas categoricals with sorted categories. The
values are exactly those pandas' own pyarrow reader gives; only the storage is smaller
(``compact=False`` keeps pandas' dtypes). :func:`scan_table` hands out the same blocks one by
one, with their row numbers, for readers that never hold the whole file (the batch command).

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
>>> read.frame["phq9"].dtype
dtype('int8')
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import FileFormatError, warn

__all__ = [
    "ReadFile",
    "read_scores",
    "read_table",
    "scan_table",
    "TableChunk",
    "concat_compact",
    "compact_frame",
    "wide_to_long",
    "parse_dates",
    "DateEvidence",
    "date_evidence",
    "date_order",
    "to_dates",
    "tidy_ids",
    "ids_are_whole_numbers",
    "text_header",
    "SUFFIXES",
    "NA_VALUES",
]

#: File types :func:`read_table` reads, by suffix.
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".sav", ".dta")
#: Cells read as missing in text files: pandas' defaults, so that pandas and the toolkit agree.
NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50
#: Bytes of a text file parsed at a time (pyarrow's block size).
BLOCK_BYTES = 16 << 20
#: Rows of a parquet file decoded at a time.
BLOCK_ROWS = 250_000
#: Text columns become categoricals when they hold at most this share of distinct values.
CATEGORICAL_SHARE = 0.5


@dataclass(frozen=True)
class ReadFile:
    """A file read into a long DataFrame, with what the reader decided on its own."""

    frame: pd.DataFrame
    path: Path
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TableChunk:
    """A block of consecutive rows of a file (see :func:`scan_table`).

    Attributes
    ----------
    index : int
        The block's number, 0, 1, ... in file order (the same numbers on every scan).
    first_row : int
        Position of the block's first row in the whole file (0-based, header excluded).
    frame : pandas.DataFrame
        The rows, stored compactly; its index holds the row labels that the whole file
        would have (row positions, or a parquet file's saved index).
    """

    index: int
    first_row: int
    frame: pd.DataFrame


# --- compact storage ----------------------------------------------------------------------
def _small_int(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values.astype(np.int8)
    lo, hi = values.min(), values.max()
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype)
    return values.astype(np.int64, copy=False)


def _small_float(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    small = values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        exact = np.array_equal(small.astype(np.float64), values, equal_nan=True)
    return small if exact else values


def _categorical(codes: np.ndarray, categories: Any) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes), categories=pd.Index(categories))


def _compact_arrow(array: Any, *, compact: bool) -> Any:
    """One column of a pyarrow block as compact pandas/NumPy values (pandas' values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), np.nan, dtype=np.float32 if compact else np.float64)
    if pa.types.is_integer(kind):
        if array.null_count == 0:
            values = array.to_numpy()
            return _small_int(values) if compact else values.astype(np.int64, copy=False)
        values = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _small_float(values) if compact else values
    if pa.types.is_floating(kind):
        values = array.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _small_float(values) if compact else values
    if compact and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        encoded = pc.dictionary_encode(array)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return _categorical(codes, encoded.dictionary.to_pandas())
    if pa.types.is_dictionary(kind):
        codes = array.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return _categorical(codes, array.dictionary.to_pandas())
    if pa.types.is_boolean(kind) and array.null_count == 0:
        return array.to_numpy(zero_copy_only=False)
    return array.to_pandas()


def _compact_values(series: pd.Series) -> Any:
    """A pandas column stored compactly (for frames read whole, e.g. SPSS files)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return series.array
    if dtype.kind in "iu" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return _small_int(series.to_numpy())
    if dtype.kind == "f" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return _small_float(series.to_numpy())
    if pd.api.types.is_string_dtype(dtype) and _all_text(series):
        codes, uniques = pd.factorize(series, sort=True)
        return _categorical(codes, uniques)
    return series.array


def _all_text(series: pd.Series) -> bool:
    if series.dtype != object:
        return True
    values = series.dropna()
    return bool(values.map(lambda v: isinstance(v, str)).all()) if len(values) else False


def compact_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column stored compactly (values unchanged), as :func:`read_table`
    stores them; text with many distinct values stays text.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["b", "a", "b", "b"], "s": [1, 2, 3, 4], "x": [1.5, None, 3, 4]})
    >>> compact_frame(df).dtypes.astype(str).tolist()
    ['category', 'int8', 'float32']
    """
    return concat_compact([pd.DataFrame({c: _compact_values(frame[c]) for c in frame.columns})])


def _column_values(pieces: list[Any], *, keep_categories: bool) -> Any:
    """Concatenate the compact pieces of one column (int8 + int16 -> int16, and so on)."""
    from pandas.api.types import union_categoricals

    if all(isinstance(p, pd.Categorical) for p in pieces):
        if len(pieces) == 1:
            values = pieces[0]
            order = values.categories.argsort()
            if not (order == np.arange(len(order))).all():
                values = values.reorder_categories(values.categories[order])
        else:
            values = union_categoricals(pieces, sort_categories=True, ignore_order=True)
        n = len(values)
        if not keep_categories and n and len(values.categories) > CATEGORICAL_SHARE * n:
            return pd.Series(values).astype("str").array
        return values
    if all(isinstance(p, np.ndarray) and p.dtype.kind in "biuf" for p in pieces):
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return pd.concat([pd.Series(p) for p in pieces], ignore_index=True).array


def concat_compact(frames: Sequence[pd.DataFrame], *, text: Sequence[str] = ()) -> pd.DataFrame:
    """Blocks of one table stacked, each column kept compact (categories united and sorted).

    Columns in ``text`` stay categorical whatever their share of distinct values (ids).
    """
    frames = [f for f in frames]
    if not frames:
        return pd.DataFrame()
    columns = list(frames[0].columns)
    data = {
        c: _column_values([_piece(f[c]) for f in frames], keep_categories=c in text)
        for c in columns
    }
    index = (
        frames[0].index
        if len(frames) == 1
        else frames[0].index.append([f.index for f in frames[1:]])
    )
    if isinstance(index, pd.Index) and index.dtype.kind in "iu" and _is_range(index):
        index = pd.RangeIndex(int(index[0]), int(index[0]) + len(index), name=index.name)
    return pd.DataFrame(data, index=index, copy=False)


def _piece(series: pd.Series) -> Any:
    values = series.array
    if isinstance(values, pd.Categorical):
        return values
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return values.to_numpy()
    return values


def _is_range(index: pd.Index) -> bool:
    if isinstance(index, pd.RangeIndex):
        return index.step == 1
    values = index.to_numpy()
    return len(values) > 0 and bool(np.all(np.diff(values) == 1))


# --- tables ------------------------------------------------------------------------------
def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    text_columns: Sequence[str] = (),
    notes: list[str] | None = None,
    compact: bool = True,
) -> pd.DataFrame:
    """One file as a DataFrame, exactly as written: no column renamed, no row dropped.

    Parameters
    ----------
    path : str or Path
        A ``.csv``/``.tsv``/``.txt`` (delimiter detected unless ``sep`` is given),
        ``.parquet``, SPSS ``.sav`` or Stata ``.dta`` file (the last two need the ``io``
        extra: ``pip install "therapy-breakthroughs[io]"``).
    sep : str, optional
        The delimiter of a text file.
    text_columns : sequence of str
        Columns read as text, not numbers (ids: ``"007"`` stays ``"007"``).
    notes : list, optional
        Receives what the reader decided on its own (e.g. the delimiter it detected).
    compact : bool, default True
        Store columns compactly (see the module docstring): the values are the same, the
        memory a fraction. False gives pandas' own dtypes.

    Raises
    ------
    FileFormatError
        The file is missing, empty, of an unknown type, has a repeated column name in its
        header, or a row with fewer or more fields than the header (the line is named).
    """
    kept: dict[int, pd.DataFrame] = {}  # keyed by block: a scan may start again (see scan_table)
    for chunk in scan_table(path, sep=sep, text_columns=text_columns, notes=notes, compact=compact):
        kept[chunk.index] = chunk.frame
    chunks = [kept[i] for i in sorted(kept)]
    if not compact:
        frame = pd.concat(chunks) if len(chunks) > 1 else chunks[0]
        return frame
    return concat_compact(chunks, text=text_columns)


def _check_path(path: Path) -> str:
    if not path.exists():
        raise FileFormatError(f"{path}: no such file. Fix: check the path and its spelling.")
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder, not a file. Fix: name one file in it.")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes). Fix: export the data again.")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FileFormatError(
            f"{path}: unknown file type {suffix!r}. Fix: give one of {', '.join(SUFFIXES)}."
        )
    return suffix


def scan_table(
    path: str | Path,
    *,
    sep: str | None = None,
    text_columns: Sequence[str] = (),
    notes: list[str] | None = None,
    compact: bool = True,
    block_bytes: int = BLOCK_BYTES,
    block_rows: int = BLOCK_ROWS,
    row_groups: Sequence[int] | None = None,
) -> Iterator[TableChunk]:
    """The blocks of one file, in order, as :func:`read_table` would read them.

    Stacking every block (:func:`concat_compact`) gives exactly :func:`read_table`'s frame.
    A text file's column types are those of the whole file, as pandas' pyarrow reader infers
    them: when a later block holds a value the type of the first blocks cannot (a ``12.5``
    below whole numbers, a word below numbers), the scan starts again from block 0 with the
    wider type, so a consumer must key what it keeps by :attr:`TableChunk.index`.

    Parameters
    ----------
    path, sep, text_columns, notes, compact
        As for :func:`read_table`.
    block_bytes : int
        Bytes of a text file parsed at a time.
    block_rows : int
        Rows of a parquet file decoded at a time.
    row_groups : sequence of int, optional
        A parquet file's row groups to read (default: all); ``first_row`` still counts from
        the start of the file.

    Raises
    ------
    FileFormatError
        As for :func:`read_table`.
    """
    path = Path(path)
    notes = notes if notes is not None else []
    suffix = _check_path(path)
    if suffix == ".parquet":
        yield from _scan_parquet(path, compact, block_rows, row_groups)
        return
    if suffix in (".sav", ".dta"):
        frame = _check_header(_read_statistics_file(path, suffix), path)
        if compact:
            frame = compact_frame(frame)
        yield TableChunk(0, 0, frame)
        return
    yield from _scan_text(path, sep, text_columns, notes, compact, block_bytes)


def _read_statistics_file(path: Path, suffix: str) -> pd.DataFrame:
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise FileFormatError(
            f"{path}: reading SPSS and Stata files needs pyreadstat. Fix: "
            'pip install "therapy-breakthroughs[io]", or export the data as CSV.'
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


# --- parquet -------------------------------------------------------------------------------
def _pandas_index(metadata: dict[str, Any] | None) -> tuple[list[str], dict[str, Any] | None]:
    """The index a parquet file written by pandas saved: stored columns, or a range."""
    if not metadata:
        return [], None
    stored = [i for i in metadata.get("index_columns", []) if isinstance(i, str)]
    ranges = [i for i in metadata.get("index_columns", []) if isinstance(i, dict)]
    return stored, (ranges[0] if ranges and ranges[0].get("kind") == "range" else None)


def _scan_parquet(
    path: Path, compact: bool, block_rows: int, row_groups: Sequence[int] | None
) -> Iterator[TableChunk]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several kinds for a damaged file
        raise FileFormatError(
            f"{path} could not be read as a parquet file: {error}. Fix: check that it is "
            "not damaged, or export the data again."
        ) from None
    schema = handle.schema_arrow
    raw = (schema.metadata or {}).get(b"pandas")
    stored, ranged = _pandas_index(json.loads(raw) if raw else None)
    names = [n for n in schema.names if n not in stored]
    _check_names([str(c) for c in names], path, "columns")
    groups = list(range(handle.num_row_groups)) if row_groups is None else list(row_groups)
    starts = np.r_[0, np.cumsum([handle.metadata.row_group(i).num_rows for i in
                                 range(handle.num_row_groups)])]  # fmt: skip
    number = 0
    for group in groups:
        first = int(starts[group])
        for batch in handle.iter_batches(batch_size=block_rows, row_groups=[group],
                                         use_pandas_metadata=False):  # fmt: skip
            frame = pd.DataFrame(
                {name: _compact_arrow(batch.column(name), compact=compact) for name in names},
                copy=False,
            )
            n = len(frame)
            if stored:
                index = pd.DataFrame(
                    {s: _compact_arrow(batch.column(s), compact=False) for s in stored}
                )
                frame.index = (
                    pd.Index(index.iloc[:, 0], name=_index_name(stored[0]))
                    if len(stored) == 1
                    else pd.MultiIndex.from_frame(index)
                )
            elif ranged is not None:
                step = int(ranged.get("step", 1))
                labels = int(ranged.get("start", 0)) + step * np.arange(first, first + n)
                frame.index = pd.Index(labels, name=ranged.get("name"))
            else:
                frame.index = pd.RangeIndex(first, first + n)
            yield TableChunk(number, first, frame)
            number += 1
            first += n
    if number == 0 and row_groups is None:  # no rows: the columns alone
        frame = pd.DataFrame(
            {n: _compact_arrow(schema.empty_table().column(n), compact=compact) for n in names}
        )
        yield TableChunk(0, 0, frame)


def _index_name(stored: str) -> str | None:
    return None if re.fullmatch(r"__index_level_\d+__", stored) else stored


# --- text files ----------------------------------------------------------------------------
def text_header(
    path: str | Path, sep: str | None = None, notes: list[str] | None = None
) -> tuple[str, list[str]]:
    """The delimiter (detected unless given) and the column names of a text file.

    Raises
    ------
    FileFormatError
        The file holds only blank lines, or its header repeats a name or leaves one blank.
    """
    path = Path(path)
    notes = notes if notes is not None else []
    head = _first_lines(path)
    if not any(line.strip() for line in head):
        raise FileFormatError(f"{path} holds no data, only blank lines. Fix: export it again.")
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" else _detect_delimiter(head)
        if sep != ",":
            notes.append(f"read as {sep!r}-separated")
    header = next(csv.reader([head[0]], delimiter=sep))
    _check_names([h.strip() for h in header], path, "header")
    return sep, header


# pyarrow's order of type inference: a column takes the first of these its values all fit.
_INFERENCE = ("null", "int64", "bool", "date32[day]", "time32[s]", "timestamp[s]",
              "timestamp[ns]", "double", "string")  # fmt: skip
_CONVERSION = re.compile(
    r"In CSV column #(\d+): .*?CSV conversion error to ([^:]+): invalid value '(.*)'", re.S
)


def _inferred(value: str, sep: str) -> str:
    """The type pyarrow infers for a column holding just this value."""
    import pyarrow.csv as pacsv

    quoted = '"' + value.replace('"', '""') + '"'
    try:
        table = pacsv.read_csv(
            io.BytesIO(f"x\n{quoted}\n".encode()),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(null_values=list(NA_VALUES)),
        )
    except Exception:  # pragma: no cover - a single quoted cell always parses
        return "string"
    return str(table.schema.types[0])


def _scan_text(
    path: Path,
    sep: str | None,
    text_columns: Sequence[str],
    notes: list[str],
    compact: bool,
    block_bytes: int,
) -> Iterator[TableChunk]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sep, header = text_header(path, sep, notes)
    names = [str(c).strip() for c in header]
    if len(header) == 1:
        guess = _detect_delimiter(_first_lines(path))
        if guess != sep:
            raise FileFormatError(
                f"{path} was read as one column {header[0]!r}; it looks {guess!r}-separated. "
                f"Fix: pass sep={guess!r}."
            )
    types: dict[str, Any] = {c: pa.large_string() for c in text_columns if c in header}
    while True:
        reader = None
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=block_bytes, encoding="utf-8"),
                parse_options=pacsv.ParseOptions(delimiter=sep),
                convert_options=pacsv.ConvertOptions(
                    null_values=list(NA_VALUES),
                    strings_can_be_null=True,
                    column_types=types,
                ),
            )
            first, number = 0, 0
            for batch in reader:
                frame = pd.DataFrame(
                    {
                        names[i]: _compact_arrow(batch.column(i), compact=compact)
                        for i in range(batch.num_columns)
                    },
                    copy=False,
                )
                frame.index = pd.RangeIndex(first, first + len(frame))
                yield TableChunk(number, first, frame)
                first += len(frame)
                number += 1
            if number == 0:
                schema = reader.schema
                frame = pd.DataFrame(
                    {
                        names[i]: _compact_arrow(
                            pa.array([], type=schema.types[i]), compact=compact
                        )
                        for i in range(len(schema.names))
                    }
                )
                yield TableChunk(0, 0, frame)
            break
        except pa.ArrowInvalid as error:
            match = _CONVERSION.search(str(error))
            if match is None:
                raise _parse_error(path, sep, header, error) from None
            column = header[int(match.group(1))]
            now = str(types.get(column) or match.group(2))
            now = "string" if now in ("large_string", "utf8") else now
            have = _INFERENCE.index(now) if now in _INFERENCE else len(_INFERENCE) - 1
            need = _inferred(match.group(3), sep)
            want = max(have + 1, _INFERENCE.index(need) if need in _INFERENCE else have + 1)
            if want >= len(_INFERENCE) - 1:
                types[column] = pa.string()
            else:
                types[column] = pa.type_for_alias(_INFERENCE[want])
        except (OSError, ValueError) as error:
            raise _parse_error(path, sep, header, error) from None
        finally:
            if reader is not None:
                reader.close()


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
        pattern (carried on every row), ``session``, ``score`` and the date column. Row
        ``k * i + j`` is session ``j`` of wide row ``i`` (k sessions).

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


@dataclass(frozen=True)
class DateEvidence:
    """What some text dates say about the order of day and month (mergeable over blocks).

    Each field is ``(position, text)`` of the earliest such date, or None: ``day`` a date
    whose first number is above 12 (so day first), ``month`` one whose second number is,
    ``numeric`` any date written with numbers only, ``first`` the first non-missing value
    (whose layout fixes the format, as in :func:`pandas.to_datetime`).
    """

    day: tuple[int, str] | None = None
    month: tuple[int, str] | None = None
    numeric: tuple[int, str] | None = None
    first: tuple[int, str] | None = None

    def merge(self, other: DateEvidence) -> DateEvidence:
        """The evidence of both blocks (earliest examples kept)."""

        def early(a: tuple[int, str] | None, b: tuple[int, str] | None) -> Any:
            return a if b is None or (a is not None and a[0] <= b[0]) else b

        return DateEvidence(
            early(self.day, other.day),
            early(self.month, other.month),
            early(self.numeric, other.numeric),
            early(self.first, other.first),
        )


def _text_values(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 missing) into distinct texts: a categorical's own, else factorised."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        return np.asarray(values.cat.codes), pd.Index(cats.astype(str), dtype=object)
    codes, uniques = pd.factorize(values.astype("string"))
    return np.asarray(codes), pd.Index(np.asarray(uniques.astype(str), dtype=object))


def date_evidence(values: pd.Series, *, offset: int = 0) -> DateEvidence:
    """The :class:`DateEvidence` of a column of text dates; positions count from ``offset``.

    Examples
    --------
    >>> date_evidence(pd.Series(["03/04/2024", "25/04/2024"])).day
    (1, '25/04/2024')
    """
    codes, texts = _text_values(values)
    parts = pd.Series(texts).str.extract(_NUMERIC_DATE.pattern)
    first_n = pd.to_numeric(parts[0], errors="coerce").to_numpy()
    second_n = pd.to_numeric(parts[1], errors="coerce").to_numpy()

    def earliest(mask: np.ndarray) -> tuple[int, str] | None:
        hit = np.flatnonzero(np.isin(codes, np.flatnonzero(mask)))
        return (offset + int(hit[0]), str(texts[codes[hit[0]]])) if len(hit) else None

    with np.errstate(invalid="ignore"):
        return DateEvidence(
            day=earliest(first_n > 12),
            month=earliest(second_n > 12),
            numeric=earliest(~np.isnan(first_n)),
            first=earliest(np.ones(len(texts), dtype=bool)),
        )


def date_order(
    evidence: DateEvidence,
    *,
    column: str,
    date_format: str | None = None,
    dayfirst: bool | None = None,
    notes: list[str] | None = None,
) -> tuple[str | None, bool]:
    """The format and day order for a whole column of dates, from its evidence.

    ``date_format`` is used when given. Otherwise the order is read from the data: a first
    number above 12 (``25/03/2024``) means day first, a second one above 12 means month
    first; when every date fits both (``03/04/2024``), month first is assumed and a
    :class:`~toolkit.errors.ToolkitWarning` says so, unless ``dayfirst`` is given. The format
    is then the layout of the first date (as :func:`pandas.to_datetime` guesses it).

    Raises
    ------
    FileFormatError
        A column that mixes day-first and month-first dates.
    """
    notes = notes if notes is not None else []
    if date_format is None:
        if evidence.day is not None and evidence.month is not None:
            raise FileFormatError(
                f"Column {column!r} mixes day-first (e.g. {evidence.day[1]!r}) and "
                f"month-first dates (e.g. {evidence.month[1]!r}). Fix: write one "
                "order, or give the format (date_format='%d/%m/%Y')."
            )
        if dayfirst is None and evidence.numeric is not None:
            if evidence.day is not None:
                dayfirst = True
                notes.append(f"dates in {column!r} read day first (e.g. {evidence.day[1]!r})")
            elif evidence.month is not None:
                dayfirst = False
            else:
                dayfirst = False
                warn(
                    f"The dates in column {column!r} fit both day-first and month-first "
                    f"(e.g. {evidence.numeric[1]!r}); they were read month first. "
                    "Fix: pass dayfirst=True if they are day first, or date_format."
                )
    dayfirst = bool(dayfirst)
    if date_format is None and evidence.first is not None:
        from pandas.tseries.api import guess_datetime_format

        date_format = guess_datetime_format(evidence.first[1], dayfirst=dayfirst)
    return date_format, dayfirst


def to_dates(
    values: pd.Series, *, column: str, date_format: str | None, dayfirst: bool
) -> pd.Series:
    """Text dates as datetimes with a decided format and order (see :func:`date_order`).

    Each distinct text is parsed once. A value that cannot be read raises a
    :class:`~toolkit.errors.FileFormatError` naming its row label.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    codes, texts = _text_values(values)

    def parse(text: pd.Series, errors: str) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format"
            return pd.to_datetime(text, format=date_format, dayfirst=dayfirst, errors=errors)

    text = pd.Series(texts, dtype=object)
    try:
        parsed = pd.DatetimeIndex(parse(text, "raise"))
    except (ValueError, TypeError) as error:
        coerced = pd.DatetimeIndex(parse(text, "coerce"))
        bad = np.flatnonzero(np.isin(codes, np.flatnonzero(coerced.isna())))
        if len(bad):
            what = f"does not match the format {date_format!r}" if date_format else "is no date"
            where = f"row {values.index[bad[0]]!r} ({texts[codes[bad[0]]]!r}) {what}"
        else:
            where = str(error)
        raise FileFormatError(
            f"Column {column!r} could not be read as dates: {where}. Fix: give the format "
            "(date_format='%d/%m/%Y' or similar) or correct the value."
        ) from None
    if len(parsed) == 0:
        out = pd.DatetimeIndex(np.full(len(codes), np.datetime64("NaT"), dtype="datetime64[s]"))
    else:
        out = parsed.take(np.where(codes < 0, 0, codes))
        out = out.where(codes >= 0, pd.NaT)
    return pd.Series(out, index=values.index, name=values.name)


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
    given. ISO dates (``2024-03-25``) are never ambiguous. (:func:`date_evidence`,
    :func:`date_order` and :func:`to_dates` are the three steps, for columns read in blocks.)

    Raises
    ------
    FileFormatError
        Dates that cannot be read (the row is named), or a column that mixes day-first and
        month-first dates.

    Examples
    --------
    >>> parse_dates(pd.Series(["25/03/2024", "01/04/2024"]), column="when").dt.month.tolist()
    [3, 4]
    """
    notes = notes if notes is not None else []
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    fmt, first = date_order(
        date_evidence(values), column=column, date_format=date_format, dayfirst=dayfirst,
        notes=notes,
    )  # fmt: skip
    return to_dates(values, column=column, date_format=fmt, dayfirst=first)


# --- ids ----------------------------------------------------------------------------------
_WHOLE = r"0|[1-9][0-9]{0,17}"


def _is_text(ids: pd.Series) -> bool:
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(ids.cat.categories.dtype) or (
            ids.cat.categories.dtype == object
            and all(isinstance(c, str) for c in ids.cat.categories)
        )
    return pd.api.types.is_string_dtype(ids) and _all_text(ids)


def ids_are_whole_numbers(ids: pd.Series) -> bool:
    """Whether every id is text written as a whole number ("17", not "017" or " 17").

    Examples
    --------
    >>> ids_are_whole_numbers(pd.Series(["17", "3"])), ids_are_whole_numbers(pd.Series(["017"]))
    (True, False)
    """
    if not _is_text(ids) or bool(ids.isna().any()):
        return False
    values = ids.cat.categories if isinstance(ids.dtype, pd.CategoricalDtype) else ids
    text = pd.Series(np.asarray(values, dtype=object), dtype="string")
    return bool(text.str.fullmatch(_WHOLE).fillna(False).all())


def tidy_ids(ids: pd.Series, *, whole: bool | None = None) -> pd.Series:
    """Ids read as text become whole numbers when every one is written as such ("17", not
    "017"), so that they sort as numbers; anything else stays text, as written.

    ``whole`` gives the answer of :func:`ids_are_whole_numbers` when it was found over more
    rows than these (a file read in blocks).
    """
    if not _is_text(ids):
        return ids
    if whole is None:
        whole = ids_are_whole_numbers(ids)
    if not whole:
        return ids
    if isinstance(ids.dtype, pd.CategoricalDtype):
        cats = np.asarray(ids.cat.categories, dtype=object).astype(np.int64)
        return pd.Series(cats[np.asarray(ids.cat.codes)], index=ids.index, name=ids.name)
    return ids.astype("string").astype("int64")


# --- the whole path ---------------------------------------------------------------------
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
    compact: bool = True,
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
    compact : bool, default True
        Store the columns compactly (see :func:`read_table`).

    Returns
    -------
    ReadFile
        ``frame`` (long rows), ``path`` and ``notes``.
    """
    path = Path(path)
    notes: list[str] = []
    frame = read_table(
        path, sep=sep, text_columns=[client, *text_columns], notes=notes, compact=compact
    )
    if client in frame.columns:
        frame[client] = tidy_ids(frame[client])
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
