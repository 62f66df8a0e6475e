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

__all__ = [
    "number",
    "whole",
    "choice",
    "share",
    "level",
    "flag",
    "seed",
    "pair",
    "MAX_COUNT",
    "MAX_SEED",
]

#: The largest count of replicates, starts or iterations an option may ask for: more would
#: not fit in memory or finish, and is far beyond what any estimate needs.
MAX_COUNT = 10_000_000
#: Seeds are whole numbers in [0, MAX_SEED] (NumPy's 64-bit seed range).
MAX_SEED = 2**64 - 1


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


def flag(value: Any, name: str, function: str) -> bool:
    """True or False (NumPy's booleans too); never 0/1, a string or None."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(name, function, "True or False", value)
    return bool(value)


def seed(value: Any, name: str, function: str, *, generator: bool = False) -> Any:
    """None, a whole number in [0, MAX_SEED] or, when ``generator``, a numpy Generator."""
    if value is None or (generator and isinstance(value, np.random.Generator)):
        return value
    wanted = f"None, a whole number in [0, {MAX_SEED}]" + (
        " or a numpy.random.Generator" if generator else ""
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise _fail(name, function, wanted, value)
    if not 0 <= int(value) <= MAX_SEED:
        raise _fail(name, function, wanted, value)
    return int(value)


def pair(
    value: Any,
    name: str,
    function: str,
    *,
    names: tuple[str, str] = ("mean", "sd"),
    unit: str = "",
    first: tuple[float | None, float | None, bool, bool] = (None, None, False, False),
    second: tuple[float | None, float | None, bool, bool] = (None, None, False, False),
) -> tuple[float, float]:
    """Two finite numbers such as ``(mean, sd)``, each in its interval given as (low, high,
    low_open, high_open); ``unit`` (e.g. "points of PHQ-9") goes into the message."""
    unit = f" in {unit}" if unit else ""
    wanted = (
        f"a ({names[0]}, {names[1]}) pair{unit} with {names[0]} in {_interval(*first)} and "
        f"{names[1]} in {_interval(*second)}"
    )
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list, np.ndarray)):
        raise _fail(name, function, wanted, value)
    if len(value) != 2:
        raise _fail(name, function, wanted, value)
    out = []
    for v, (low, high, low_open, high_open) in zip(value, (first, second)):
        try:
            out.append(
                number(
                    v, name, function, low=low, high=high, low_open=low_open, high_open=high_open
                )
            )
        except OptionError:
            raise _fail(name, function, wanted, value) from None
    return out[0], out[1]


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
