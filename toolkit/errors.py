"""Exceptions and warnings shared by every module.

Every error about the user's input is a ``ValueError`` subclass, so ``except ValueError``
keeps working, and every warning is a :class:`ToolkitWarning`, so one filter silences or
escalates them all.
"""

from __future__ import annotations

import warnings as _warnings

__all__ = [
    "DataError",
    "InputTypeError",
    "MissingColumnError",
    "NonNumericError",
    "DuplicateSessionError",
    "SessionError",
    "ScoreRangeError",
    "MagnitudeError",
    "EmptyDataError",
    "FileFormatError",
    "UnknownNameError",
    "DirectionError",
    "OptionError",
    "ToolkitWarning",
    "ExcludedDataWarning",
    "ToolkitDeprecationWarning",
    "warn",
]


class DataError(ValueError):
    """Input data that cannot be analysed as given. The message names column, client and row."""


class InputTypeError(DataError, TypeError):
    """The data argument is not a table (a list, a dict, a file name ...): a ``TypeError`` as
    Python expects, and a :class:`DataError` (so a ``ValueError``) as every bad input here."""


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


class MagnitudeError(DataError):
    """Scores too large or too small in magnitude to compute with exactly in double precision.

    Squares and sums of squares of scores beyond about 1e30 (or all below about 1e-30) leave
    the range where every method's answer is the same as on rescaled scores; the message says
    how to rescale.
    """


class EmptyDataError(DataError):
    """There are no rows (or no clients) to analyse."""


class FileFormatError(DataError):
    """A file that cannot be read as a table of scores. The message names the file (and line)."""


class UnknownNameError(DataError, KeyError):
    """A name (instrument, dataset, method) that the toolkit does not know.

    Also a ``KeyError`` because it is raised by look-ups.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DirectionError(ValueError):
    """Which direction of scores is improvement is unknown or contradictory."""


class OptionError(ValueError):
    """An option (keyword argument or command-line flag) has a value outside its valid range.

    The message names the option, the valid values, and what was given.
    """


class ToolkitWarning(UserWarning):
    """Base class of every warning the toolkit raises."""


class ExcludedDataWarning(ToolkitWarning):
    """Rows or clients were set aside; the result lists them with the reason."""


class ToolkitDeprecationWarning(ToolkitWarning, FutureWarning):
    """A name or option that still works but will be removed; the message names its successor.

    A ``FutureWarning`` so that it is shown by default, as end users need to see it.
    """


def warn(message: str, category: type[Warning] = ToolkitWarning, stacklevel: int = 3) -> str:
    """Raise a toolkit warning and return its message (results keep it in ``warnings``).

    ``stacklevel`` counts from the caller of ``warn``: 3 points at the line that called the
    public function which called the helper that warns.
    """
    _warnings.warn(message, category, stacklevel=stacklevel)
    return message
