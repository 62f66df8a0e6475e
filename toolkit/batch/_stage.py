"""The first step of a batch run: the input's rows put into partitions of whole clients.

Every block of the input goes to the partition its client's hash picks, so a client's rows
all end up in one partition whichever file or block they come from. The rows are staged as
small parquet files, one per (input piece, flush, partition), each written under a temporary
name and then renamed; a piece done twice (a lost worker, a resumed run) writes the same
files with the same content.
"""

from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import files as _files
from ..errors import DataError, MissingColumnError

__all__ = [
    "Piece",
    "partition_of",
    "split_piece",
    "read_partition",
    "write_parquet",
    "ROW",
    "FILE",
    "peak_memory",
]

#: Staged columns holding each row's label in its file and the file's number.
ROW, FILE = "__row__", "__file__"
#: Rows gathered before a piece writes its staged files.
FLUSH_ROWS = 1_000_000
_WHOLE = re.compile(r"0|[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class Piece:
    """A unit of the first step: one file, or some row groups of a parquet file."""

    number: int
    file_number: int
    path: str
    row_groups: tuple[int, ...] | None


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * 1024  # kilobytes on Linux


def _key_hashes(values: Any) -> np.ndarray:
    """A hash of each distinct id that does not depend on how the id was stored.

    An id written as a whole number ("17") hashes as the number 17, as an integer column
    would, so a client gets one partition whether a file holds its id as text or number.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return pd.util.hash_array(arr.astype(np.int64))
    if arr.dtype.kind == "f":
        whole = np.isfinite(arr) & (arr == np.round(arr))
        out = pd.util.hash_array(arr.astype(np.float64))
        out[whole] = pd.util.hash_array(arr[whole].astype(np.int64))
        return out
    text = np.array([str(v) for v in arr], dtype=object)
    out = pd.util.hash_array(text, categorize=False)
    whole = np.array([_WHOLE.fullmatch(t) is not None for t in text], dtype=bool)
    if whole.any():
        out[whole] = pd.util.hash_array(text[whole].astype(np.int64))
    return out


def partition_of(ids: pd.Series, n_partitions: int) -> np.ndarray:
    """The partition (0 .. n - 1) of every row's client; missing ids go to partition 0.

    Examples
    --------
    >>> a = partition_of(pd.Series(["17", "3", "17"]), 8)
    >>> b = partition_of(pd.Series([17, 3, 17]), 8)
    >>> bool((a == b).all() and a[0] == a[2])
    True
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = np.asarray(ids.cat.codes)
        uniques = ids.cat.categories
    else:
        codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    if len(uniques) == 0:
        return np.zeros(len(ids), dtype=np.int32)
    parts = (_key_hashes(np.asarray(uniques)) % np.uint64(n_partitions)).astype(np.int32)
    return np.where(codes >= 0, parts[np.maximum(codes, 0)], 0).astype(np.int32)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` under a temporary name, then rename it: never a partial file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, temporary)
    os.replace(temporary, path)


def _row_labels(index: pd.Index) -> np.ndarray:
    if index.dtype.kind in "iu":
        return np.asarray(index, dtype=np.int64)
    return np.asarray(index.astype(str), dtype=object)


def split_piece(piece: Piece, spec: dict[str, Any]) -> dict[str, Any]:
    """Stage one piece of the input; return what the run needs to know about its rows.

    Returns a dict with ``rows`` (rows read), ``rows_by_partition``, ``whole_ids`` (every id
    is text written as a whole number), ``text_ids``, ``dates`` (the date evidence, for
    ``--session-dates``), ``notes`` and ``peak_memory``.
    """
    client, session, score = spec["client"], spec["session"], spec["score"]
    n_partitions = int(spec["n_partitions"])
    staging = Path(spec["staging"])
    date_column = spec.get("date_column")
    notes: list[str] = []
    state: dict[str, Any] = {}

    def reset() -> None:
        state.update(
            rows=0,
            by_part=np.zeros(n_partitions, dtype=np.int64),
            whole=True,
            text=True,
            dates=_files.DateEvidence(),
            pending=[],
            pending_rows=0,
            flush=0,
        )

    def flush() -> None:
        if not state["pending"]:
            return
        frames = [f for f, _ in state["pending"]]
        where = np.concatenate([p for _, p in state["pending"]])
        block = _files.concat_compact(frames, text=[client]) if len(frames) > 1 else frames[0]
        order = np.argsort(where, kind="stable")
        bounds = np.searchsorted(where[order], np.arange(n_partitions + 1))
        for p in range(n_partitions):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                target = staging / f"p{p:05d}" / f"{piece.number:06d}-{state['flush']:05d}.parquet"
                write_parquet(block.take(order[lo:hi]), target)
        state["pending"], state["pending_rows"] = [], 0
        state["flush"] += 1

    reset()
    chunks = _files.scan_table(
        piece.path,
        sep=spec.get("sep"),
        text_columns=[client],
        notes=notes,
        row_groups=piece.row_groups,
    )
    for chunk in chunks:
        if chunk.index == 0 and state["rows"]:
            reset()  # the reader started again with wider column types
        frame = chunk.frame
        if spec.get("wide"):
            n_wide = len(frame)
            frame = _files.wide_to_long(
                frame.reset_index(drop=True),
                spec["wide"],
                client=client,
                session=session,
                score=score,
                date_pattern=spec.get("wide_dates"),
                source=piece.path,
            )
            k = len(frame) // n_wide if n_wide else 0
            # Row k * i + j is session j of wide row i, as when the file is read whole.
            frame.index = pd.RangeIndex(k * chunk.first_row, k * chunk.first_row + len(frame))
        missing = [c for c in (client, session, score) if c not in frame.columns]
        if missing:
            raise MissingColumnError(
                f"{piece.path}: no column {missing[0]!r} in the data. Columns are: "
                f"{list(frame.columns)}. Fix: pass --client, --session and --score."
            )
        ids = frame[client]
        state["text"] = state["text"] and _files._is_text(ids)
        state["whole"] = state["whole"] and _files.ids_are_whole_numbers(ids)
        if date_column is not None and date_column in frame.columns:
            offset = piece.file_number * 10**12 + chunk.first_row
            state["dates"] = state["dates"].merge(
                _files.date_evidence(frame[date_column], offset=offset)
            )
        where = partition_of(ids, n_partitions)
        frame = frame.assign(**{ROW: _row_labels(frame.index), FILE: np.int32(piece.file_number)})
        state["pending"].append((frame.reset_index(drop=True), where))
        state["pending_rows"] += len(frame)
        state["rows"] += len(frame)
        state["by_part"] += np.bincount(where, minlength=n_partitions)
        if state["pending_rows"] >= int(spec.get("flush_rows", FLUSH_ROWS)):
            flush()
    flush()
    dates = state["dates"]
    return {
        "rows": int(state["rows"]),
        "rows_by_partition": state["by_part"].tolist(),
        "whole_ids": bool(state["whole"]),
        "text_ids": bool(state["text"]),
        "dates": [dates.day, dates.month, dates.numeric, dates.first],
        "notes": notes,
        "peak_memory": peak_memory(),
    }


def read_partition(partition: int, spec: dict[str, Any]) -> pd.DataFrame:
    """One partition's staged rows, in input order, with the ids and dates as in memory.

    The index holds each row's label in its file; column :data:`FILE` its file's number.
    """
    folder = Path(spec["staging"]) / f"p{partition:05d}"
    paths = sorted(folder.glob("*.parquet")) if folder.exists() else []
    client = spec["client"]
    frames = [c.frame for p in paths for c in _files.scan_table(p)]
    if not frames:
        return pd.DataFrame()
    frame = _files.concat_compact(frames, text=[client])
    frame.index = pd.Index(frame.pop(ROW).to_numpy(), name=None)
    frame[client] = _files.tidy_ids(frame[client], whole=bool(spec["whole_ids"]))
    date_column = spec.get("date_column")
    if date_column is not None and date_column in frame.columns:
        frame[date_column] = _files.to_dates(
            frame[date_column],
            column=date_column,
            date_format=spec.get("date_format"),
            dayfirst=bool(spec.get("dayfirst")),
        )
    return frame


def file_of_error(frame: pd.DataFrame, files: list[str], validate: Any) -> str:
    """The input file(s) a partition's bad rows come from: each file's rows are checked
    alone, and the first file that fails is named; else every file of the partition."""
    numbers = sorted(pd.unique(frame[FILE]))
    if len(numbers) == 1:
        return files[int(numbers[0])]
    for n in numbers:
        try:
            validate(frame[frame[FILE] == n])
        except DataError:
            return files[int(n)]
    return ", ".join(files[int(n)] for n in numbers)
