"""Checks of option values at the public boundary: one message shape for every function.

"The 'alpha' parameter of identify must be a number in (0, 1). Got 1.5 instead." Booleans
are never numbers here (``True`` is not a count of sessions), and NaN or infinity never pass
a range check.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real
from typing import Any

import numpy as np

from .errors import OptionError

__all__ = ["number", "whole", "choice", "share", "level"]


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def _fail(name: str, function: str, wanted: str, value: Any) -> OptionError:
    return OptionError(
        f"The '{name}' parameter of {function} must be {wanted}. Got {value!r} instead."
    )


def number(
    value: Any,
    name: str,
    function: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the interval; returned as float."""
    wanted = f"a number in {_interval(low, high, low_open, high_open)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise _fail(name, function, wanted, value)
    v = float(value)
    if not math.isfinite(v):
        raise _fail(name, function, wanted, value)
    if low is not None and (v < low or (low_open and v == low)):
        raise _fail(name, function, wanted, value)
    if high is not None and (v > high or (high_open and v == high)):
        raise _fail(name, function, wanted, value)
    return v


def whole(
    value: Any, name: str, function: str, *, low: int | None = None, high: int | None = None
) -> int:
    """A whole number (an int, or a float with no fraction) within [low, high]."""
    wanted = f"a whole number in {_interval(low, high, False, False)}"
    if isinstance(value, (bool, np.bool_)):
        raise _fail(name, function, wanted, value)
    if isinstance(value, Integral):
        v = int(value)
    elif isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        v = int(value)  # type: ignore[call-overload]  # stub: Real.__trunc__ is not -> int
    else:
        raise _fail(name, function, wanted, value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise _fail(name, function, wanted, value)
    return v


def share(value: Any, name: str, function: str) -> float:
    """A proportion in [0, 1]."""
    return number(value, name, function, low=0.0, high=1.0)


def level(value: Any, name: str, function: str) -> float:
    """An interval level (or significance level) strictly between 0 and 1."""
    return number(value, name, function, low=0.0, high=1.0, low_open=True, high_open=True)


def choice(value: Any, name: str, function: str, choices: Collection[Any]) -> Any:
    """One of ``choices`` (compared as given); the message lists them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        shown = "{" + ", ".join(repr(c) for c in choices) + "}"
        raise OptionError(
            f"The '{name}' parameter of {function} must be one of {shown}. Got {value!r} instead."
        )
    return value
