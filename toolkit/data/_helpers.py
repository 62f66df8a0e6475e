"""Small array helpers of the data layer (no knowledge of any method)."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "first_and_last",
    "counting_sort",
    "missing_column_message",
    "show",
    "factorize_sorted",
    "duplicated",
    "order_by_date",
    "SHOW",
    "MAGNITUDE",
    "check_magnitude",
]

SHOW = 5  # how many offending rows an error message lists

#: Scores are analysed when the largest of them in magnitude lies in this range (or all are
#: 0). Within it every method gives on ``c * scores`` the answer it gives on ``scores``
#: (sizes times ``c``); beyond it squares and products of variances leave double precision.
MAGNITUDE = (1e-30, 1e30)


def first_and_last(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of the first and of the last True in each row of a 2-D mask.

    A row without any True gets 0 and the last column; callers check such rows themselves.
    """
    first = np.argmax(mask, axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return first, last


def check_magnitude(values: np.ndarray, column: str) -> None:
    """Raise :class:`~toolkit.errors.MagnitudeError` when the scores are so small in
    magnitude (all nonzero ones below ``MAGNITUDE[0]``) that their squares underflow.

    Single scores too large are the caller's rows to flag; this is about the column as a
    whole, whose scale no row on its own sets.
    """
    from ..errors import MagnitudeError

    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return
    largest = float(np.max(np.abs(finite)))
    if 0 < largest < MAGNITUDE[0]:
        raise MagnitudeError(
            f"Column {column!r}: every score is smaller than {MAGNITUDE[0]:g} in magnitude "
            f"(the largest is {largest:.3g}), so squares and variances of the scores underflow "
            "and no method could give the answer it gives on rescaled scores. Fix: check the "
            f"units and rescale the column (e.g. df[{column!r}] = df[{column!r}] * "
            f"{10 ** -np.floor(np.log10(largest)):.0e}, with every option in points rescaled "
            "alike)."
        )


def show(value: Any) -> str:
    """A value as users typed it: 12 rather than np.int64(12)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def missing_column_message(column: Any, available: list[Any]) -> str:
    close = difflib.get_close_matches(str(column), [str(a) for a in available], n=3)
    hint = f" Did you mean {close}?" if close else ""
    return f"no column {column!r} in the data. Columns are: {available}.{hint}"


def factorize_sorted(ids: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
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
    series = pd.Series(values)
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # mixed types that cannot be ordered: order their text instead
        text = series.astype(str)
        codes, _ = pd.factorize(text, sort=True)
        first = pd.Series(series.to_numpy()).groupby(codes).first()
        uniques = pd.Index(first.to_numpy(), dtype=object)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques, name="client")


def order_by_date(client_code: np.ndarray, dates: np.ndarray) -> np.ndarray:
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


def duplicated(cell: np.ndarray, n_cells: int) -> np.ndarray:
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


def counting_sort(cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Row order by cell (unique cells): O(rows + cells) rather than a comparison sort."""
    if len(cell) > 1 and np.all(cell[1:] > cell[:-1]):
        return np.arange(len(cell))
    if n_cells <= 8 * len(cell) + 1024:
        position = np.full(n_cells, -1, dtype=np.int64)
        position[cell] = np.arange(len(cell))
        return position[position >= 0]
    return np.argsort(cell, kind="stable")
