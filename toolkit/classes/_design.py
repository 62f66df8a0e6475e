"""Time codings and the per-client sufficient statistics a trajectory-class model is fitted on.

Time enters the model only through the session number, so the design is one small matrix per
*session* (``x``: sessions x p fixed effects, ``z``: sessions x q random effects), shared by
every client. Everything a fit needs from the data then reduces, once, to per-client sums over
the client's observed sessions, computed for all clients at once on the (clients x sessions)
matrix with missing scores carrying zero weight::

    n_i = sum_s o_is,        y_i'y_i = sum_s o_is y_is^2,
    X_i'X_i = sum_s o_is x_s x_s',   X_i'y_i = sum_s o_is y_is x_s,

and the same with ``z_s`` (Z_i'Z_i, Z_i'X_i, Z_i'y_i) for growth mixture models. A missing
score is never 0: its cell has weight 0 (``o_is = 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._checks import choice, number
from ..data import LongScores
from ..errors import DataError, OptionError

__all__ = [
    "TIME_CODINGS",
    "RANDOM",
    "Design",
    "Stats",
    "build",
    "session_design",
    "check_knots",
    "knot_term",
]

#: How time is coded from the session number.
TIME_CODINGS = ("linear", "log", "quadratic", "piecewise")
#: Within-class random effects: none (LCGA), a random intercept, or intercept and slope (GMM).
RANDOM = ("none", "intercept", "slope")


def knot_term(knot: float) -> str:
    """Name of the hinge term max(0, session - knot) (as in :mod:`toolkit.growth`)."""
    return "time_after_" + f"{knot:g}".replace(".", "_").replace("-", "m")


@dataclass(frozen=True)
class Stats:
    """Per-client sufficient statistics (N clients, p fixed effects, q random effects)."""

    n: np.ndarray  # (N,) observed scores per client
    yty: np.ndarray  # (N,)
    xty: np.ndarray  # (N, p)
    xtx: np.ndarray  # (N, p * p), row-major
    zty: np.ndarray  # (N, q)
    ztx: np.ndarray  # (q, N, p)
    ztz: np.ndarray  # (N, 3): n_i, sum of t, sum of t^2 over observed sessions (q >= 1)
    zx_outer: tuple[np.ndarray, ...]  # (N, p * p) products of the rows of Z_i'X_i (GMM only)

    @property
    def n_clients(self) -> int:
        return len(self.n)

    @property
    def p(self) -> int:
        return self.xty.shape[1]

    @property
    def q(self) -> int:
        return self.zty.shape[1]


def sufficient(y: np.ndarray, x: np.ndarray, z: np.ndarray) -> Stats:
    """Sufficient statistics from the (N, S) score matrix (NaN = missing) and the
    per-session designs ``x`` (S, p) and ``z`` (S, q)."""
    observed = ~np.isnan(y)
    o = observed.astype(np.float64)
    y0 = np.where(observed, y, 0.0)
    p, q = x.shape[1], z.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), p * p)
    t = z[:, 1] if q == 2 else np.zeros(len(x))
    n = len(y)
    ztx = np.stack([o @ (z[:, j : j + 1] * x) for j in range(q)]) if q else np.zeros((0, n, p))

    def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a[:, :, None] * b[:, None, :]).reshape(n, p * p)

    if q == 1:
        zx_outer: tuple[np.ndarray, ...] = (cross(ztx[0], ztx[0]),)
    elif q == 2:
        mixed = cross(ztx[0], ztx[1])
        mixed = mixed + cross(ztx[1], ztx[0])
        zx_outer = (cross(ztx[0], ztx[0]), mixed, cross(ztx[1], ztx[1]))
    else:
        zx_outer = ()
    return Stats(
        n=o.sum(axis=1),
        yty=np.einsum("ns,ns->n", y0, y0),
        xty=y0 @ x,
        xtx=o @ outer,
        zty=y0 @ z,
        ztx=ztx,
        ztz=np.stack([o.sum(axis=1), o @ t, o @ (t * t)], axis=1),
        zx_outer=zx_outer,
    )


@dataclass(frozen=True)
class Design:
    """The model's design on the session grid and the data of the clients analysed."""

    time: str
    time_zero: float
    knots: list[float]
    random: str
    terms: list[str]  # fixed-effect names: "intercept", "time", "time_sq", "time_after_5", ...
    random_terms: list[str]  # "intercept" and, for random="slope", "time"
    sessions: np.ndarray  # (S,) the session of each column of ``y``
    x: np.ndarray  # (S, p)
    z: np.ndarray  # (S, q)
    y: np.ndarray  # (N, S) scores of the clients analysed, NaN = missing
    clients: pd.Index  # the clients analysed (rows of ``y``)
    skipped: pd.DataFrame  # client, reason
    stats: Stats

    @property
    def n_observations(self) -> int:
        return int(self.stats.n.sum())


def session_design(
    sessions: np.ndarray, *, time: str, time_zero: float, knots: Sequence[float], random: str
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Fixed-effects design ``x`` (S, p) and random-effects design ``z`` (S, q) per session.

    ``time`` is ``session - time_zero`` (linear, quadratic, piecewise) or
    ``log(session - time_zero)`` (log); the quadratic adds ``time_sq = time**2``; every knot
    adds ``time_after_<k> = max(0, session - k)``, the change in slope after session k. The
    random slope is on ``time``.
    """
    s = np.asarray(sessions, dtype=np.float64)
    elapsed = s - time_zero
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(elapsed) if time == "log" else elapsed
    columns = [np.ones_like(s), t]
    terms = ["intercept", "time"]
    if time == "quadratic":
        columns.append(t * t)
        terms.append("time_sq")
    for k in knots:
        columns.append(np.maximum(s - k, 0.0))
        terms.append(knot_term(k))
    x = np.column_stack(columns)
    random_terms = {"none": [], "intercept": ["intercept"], "slope": ["intercept", "time"]}[random]
    z = x[:, : len(random_terms)].copy()
    return x, z, terms, random_terms


def check_knots(knots: Any, time: str, sessions: np.ndarray, function: str) -> list[float]:
    """Validated knots (sorted session numbers strictly inside the observed sessions)."""
    if knots is None:
        knots = []
    elif np.isscalar(knots):
        knots = [knots]
    try:
        values = [float(k) for k in knots]
    except (TypeError, ValueError):
        raise OptionError(
            f"The 'knots' parameter of {function} must be session numbers. Got {knots!r} instead."
        ) from None
    if time == "piecewise" and not values:
        raise OptionError(
            f"time='piecewise' in {function} needs knots, e.g. knots=[5] for a change of slope "
            "after session 5 (a flat start and a later drop, as in late responders)."
        )
    lo, hi = float(np.min(sessions)), float(np.max(sessions))
    for k, given in zip(values, knots):
        if isinstance(given, (bool, np.bool_)) or not (np.isfinite(k) and lo < k < hi):
            raise OptionError(
                f"The 'knots' parameter of {function} must be session numbers strictly between "
                f"the first and last session, in ({lo:g}, {hi:g}), so that the slope after each "
                f"knot can be estimated. Got {given!r} instead."
            )
    if len(set(values)) != len(values):
        raise OptionError(f"The knots of {function} must be distinct. Got {values} instead.")
    return sorted(values)


def build(
    scores: LongScores,
    *,
    time: str,
    time_zero: float,
    knots: Any,
    random: str,
    min_sessions: int,
    function: str,
) -> Design:
    """Validate the design options, set aside clients with too few scores, and reduce the
    data to sufficient statistics."""
    choice(time, "time", function, TIME_CODINGS)
    choice(random, "random", function, RANDOM)
    sessions = scores.sessions
    # Time zero within a course's width of the sessions: further out, the intercept (the
    # level at time zero) is an extrapolation so far that it is collinear with time.
    first, last = float(np.min(sessions)), float(np.max(sessions))
    width = max(last - first, 1.0)
    time_zero = number(time_zero, "time_zero", function, low=first - width, high=last + width)
    knots = check_knots(knots, time, sessions, function)
    if time == "log" and np.any(sessions.astype(float) - time_zero <= 0):
        first = float(np.min(sessions))
        raise DataError(
            f"time='log' codes time as log(session - time_zero), so every session must be after "
            f"time_zero={time_zero:g}; the first session is {first:g}. Fix: time_zero="
            f"{first - 1:g} (time = log(session - {first - 1:g}))."
        )
    x, z, terms, random_terms = session_design(
        sessions, time=time, time_zero=time_zero, knots=knots, random=random
    )
    y_all = scores.to_matrix()
    few = scores.too_few_sessions(min_sessions, method=function)
    keep = ~scores.clients.isin(few["client"])
    y = y_all[keep]
    clients = scores.clients[keep]
    if len(clients) == 0:
        raise DataError(
            f"No client has at least {min_sessions} observed scores, so {function} has nothing "
            "to fit. Fix: check the score column, or lower min_sessions."
        )
    used = ~np.all(np.isnan(y), axis=0)
    n_used = int(used.sum())
    if n_used < len(terms):
        raise DataError(
            f"The {len(terms)} growth terms {terms} need at least {len(terms)} distinct sessions "
            f"with scores; the data have {n_used}. Fix: a simpler time coding (time='linear') "
            "or fewer knots."
        )
    stats = sufficient(y, x, z)
    pooled = stats.xtx.sum(axis=0).reshape(len(terms), len(terms))
    if np.linalg.matrix_rank(pooled) < len(terms):
        raise DataError(
            f"The growth terms {terms} are collinear on these sessions. Fix: other knots or a "
            "simpler time coding."
        )
    return Design(
        time=time,
        time_zero=time_zero,
        knots=knots,
        random=random,
        terms=terms,
        random_terms=random_terms,
        sessions=sessions,
        x=x,
        z=z,
        y=y,
        clients=clients,
        skipped=few[["client", "reason"]].reset_index(drop=True),
        stats=stats,
    )
