"""Suggested names for trajectory classes, read off the shape of each class's curve.

The names are a suggestion for the reader, not part of the model: rename them with
:meth:`ClassesResult.relabel`. Each class's fitted curve is read over the sessions at which at
least :data:`WINDOW_SHARE` of the class's (expected) clients have a score, so that a curve is
not named after an extrapolation. With ``g(s)`` the improvement from the window's first
session to session s (in the direction of improvement of the instrument) and ``G`` the
improvement over the whole window:

- ``"deterioration"``: the class worsens by at least the threshold (``G <= -min_change``);
- ``"no response"``: it changes by less than the threshold (``|G| < min_change``);
- otherwise it improves, and the session by which half of ``G`` is reached (the first session,
  on a fine grid, with ``g(s) >= G / 2``) places the change in the window: in its first third
  ``"early response"``, in its last third ``"late response"``, otherwise
  ``"gradual response"``.

The threshold is the reliable-change criterion of the scores (``min_change="reliable_change"``),
else half the standard deviation of the clients' first observed scores (Norman, Sloan &
Wyrwich, 2003), or a number of points given as ``min_change``. Two classes with the same name
are told apart by their improvement in points (responders) or their fitted starting score.
Without a known direction of improvement the classes are named ``"class 1"``, ``"class 2"``,
...

References
----------
Norman, G. R., Sloan, J. A., & Wyrwich, K. W. (2003). Interpretation of changes in
health-related quality of life: The remarkable universality of half a standard deviation.
Medical Care, 41(5), 582-592.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["LABELS", "WINDOW_SHARE", "EARLY", "LATE", "Shape", "shapes"]

#: The suggested names, in the order of the rule.
LABELS = ("early response", "gradual response", "late response", "no response", "deterioration")
#: A session is inside a class's window when at least this share of its clients have a score.
WINDOW_SHARE = 0.2
#: Half of the improvement reached within this share of the window: early response.
EARLY = 1.0 / 3.0
#: Half of the improvement reached after this share of the window: late response.
LATE = 2.0 / 3.0
_FINE = 401


@dataclass(frozen=True)
class Shape:
    """What the name of one class rests on."""

    label: str
    first_session: float
    last_session: float
    score_first: float
    score_last: float
    improvement: float  # NaN without a direction
    half_change_session: float  # NaN unless the class improves


def shapes(
    curve: Callable[[np.ndarray], np.ndarray],
    sessions: np.ndarray,
    observed: np.ndarray,
    sign: int | None,
    threshold: float,
) -> list[Shape]:
    """Name every class.

    Parameters
    ----------
    curve : callable
        ``curve(s)`` gives the fitted scores (K, len(s)) at (possibly fractional) sessions.
    sessions : (S,) array
        Session of each column of ``observed``.
    observed : (K, S) array
        Expected number of each class's clients with a score at each session.
    sign : +1, -1 or None
        +1 when lower scores are better, -1 when higher ones are, None when unknown.
    threshold : float
        The change in points that counts (see the module docstring).
    """
    k = observed.shape[0]
    out = []
    for c in range(k):
        share = observed[c] / max(observed[c].max(), 1e-12)
        inside = np.nonzero(share >= WINDOW_SHARE)[0]
        lo, hi = float(sessions[inside[0]]), float(sessions[inside[-1]])
        fine = np.linspace(lo, hi, _FINE)
        y = curve(fine)[c]
        if sign is None:
            out.append(Shape(f"class {c + 1}", lo, hi, y[0], y[-1], np.nan, np.nan))
            continue
        gain = sign * (y[0] - y)
        total = float(gain[-1])
        half = np.nan
        if total <= -threshold:
            label = "deterioration"
        elif total < threshold:
            label = "no response"
        else:
            half = float(fine[np.argmax(gain >= 0.5 * total)])
            where = (half - lo) / (hi - lo) if hi > lo else 0.5
            label = (
                "early response"
                if where <= EARLY
                else "late response"
                if where >= LATE
                else "gradual response"
            )
        out.append(Shape(label, lo, hi, float(y[0]), float(y[-1]), total, half))
    return _distinct(out)


def _distinct(found: list[Shape]) -> list[Shape]:
    """Tell repeated names apart: responders by their improvement, the others by their fitted
    starting score (then by class number)."""
    names = [s.label for s in found]

    def detail(s: Shape) -> str:
        if np.isfinite(s.half_change_session):
            return f"{s.label} ({s.improvement:.0f} points)"
        return f"{s.label} (from {s.score_first:.0f})"

    out = [replace(s, label=detail(s)) if names.count(s.label) > 1 else s for s in found]
    names = [s.label for s in out]
    return [
        replace(s, label=f"{s.label} ({i + 1})") if names.count(s.label) > 1 else s
        for i, s in enumerate(out)
    ]
