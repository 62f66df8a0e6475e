"""Exceptions and warnings shared by every module.

Every error about the user's input is a ``ValueError`` subclass, so ``except ValueError``
keeps working, and every warning is a :class:`ToolkitWarning`, so one filter silences or
escalates them all.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "MissingColumnError",
    "NonNumericError",
    "DuplicateSessionError",
    "SessionError",
    "ScoreRangeError",
    "EmptyDataError",
    "UnknownNameError",
    "ToolkitWarning",
    "ExcludedDataWarning",
]


class DataError(ValueError):
    """Input data that cannot be analysed as given. The message names column, client and row."""


class MissingColumnError(DataError):
    """A column named by the caller is not in the DataFrame."""


class NonNumericError(DataError):
    """A score (or session) value cannot be read as a number."""


class DuplicateSessionError(DataError):
    """The same (client, session) pair occurs more than once."""


class SessionError(DataError):
    """A session value is missing, negative or not a whole number."""


class ScoreRangeError(DataError):
    """A score lies outside the instrument's possible range."""


class EmptyDataError(DataError):
    """There are no rows (or no clients) to analyse."""


class UnknownNameError(DataError, KeyError):
    """A name (instrument, dataset, method) that the toolkit does not know.

    Also a ``KeyError`` because it is raised by look-ups.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ToolkitWarning(UserWarning):
    """Base class of every warning the toolkit raises."""


class ExcludedDataWarning(ToolkitWarning):
    """Rows or clients were set aside; the result lists them with the reason."""
