"""The shape every analysis result shares.

An analysis function takes validated scores (:class:`toolkit.data.LongScores`) plus
keyword-only options and returns a small frozen result: ``table`` (tidy, snake_case,
numeric, unrounded), ``settings`` (every argument, the column roles and the toolkit
version), ``skipped`` (clients not analysed, with a ``reason``), ``warnings`` (plain-language
messages, also raised as :class:`toolkit.errors.ToolkitWarning`), ``summary()`` returning a
DataFrame, ``plot(ax=None)`` returning Axes, and an HTML view for notebooks.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .errors import ToolkitWarning

__all__ = ["Result", "SKIPPED_COLUMNS", "empty_skipped", "warn"]

#: Columns of every result's ``skipped`` table.
SKIPPED_COLUMNS = ["client", "reason"]


def empty_skipped() -> pd.DataFrame:
    """A ``skipped`` table with no rows."""
    return pd.DataFrame({"client": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def warn(message: str, category: type[Warning] = ToolkitWarning, stacklevel: int = 3) -> str:
    """Raise a toolkit warning and return its message (results keep it in ``warnings``)."""
    _warnings.warn(message, category, stacklevel=stacklevel)
    return message


@dataclass(frozen=True, repr=False)
class Result:
    """Base class of analysis results; see the module docstring for the contract."""

    table: pd.DataFrame
    settings: dict[str, Any]
    skipped: pd.DataFrame = field(default_factory=empty_skipped)
    warnings: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """Key figures as a DataFrame (subclasses say which)."""
        return self.table.describe(include="all")

    def plot(self, ax=None, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no plot.")

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: {len(self.table)} rows, {len(self.skipped)} clients "
            f"skipped, {len(self.warnings)} warnings>"
        )

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{type(self).__name__}</b></p>", self.summary().to_html()]
        if len(self.skipped):
            parts.append(f"<p>{len(self.skipped)} client(s) skipped; see <code>.skipped</code>.</p>")
        parts += [f"<p>Warning: {w}</p>" for w in self.warnings]
        return "".join(parts)
