"""Per-client change points: exact optimal segmentation and at-most-one-change tests.

Sudden-gain criteria look at one session-to-session step; a change-point model asks the wider
question "did this client's trajectory shift, when, and by how much?". :func:`detect` finds,
for every client at once, the segmentation of the client's scores that minimises a penalised
cost, exactly (dynamic programming over all segmentations), and :func:`amoc` tests each client
for at most one change with a Monte Carlo p-value that is valid for short series, plus a
confidence set for the change session.

Three segment models:

``"mean"``
    Piecewise constant mean with Gaussian noise (mean shift).
``"linear"``
    Piecewise linear with a jump and a slope change at each change point ("discontinuous
    growth").
``"broken_stick"``
    Continuous piecewise linear: the slope changes at each change point, with no jump.

Every client's series is its observed sessions only: missing sessions are not imputed, the
session numbers are the time axis of the linear models, and change points fall between
observed sessions. A change's ``session`` is the first session of the new segment.

Examples
--------
>>> import toolkit
>>> from toolkit.changepoint import detect
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> cp = detect(scores, progress=False)
>>> cp.table[["client", "session", "pre_mean", "post_mean", "breakthrough"]].head(3)
   client  session  pre_mean  post_mean  breakthrough
0       1        4     34.75      22.80          True
1       1        9     22.80       9.75          True
2       2        6     26.25      18.00         False
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ._results import Result, empty_skipped, warn
from .data import LongScores, as_scores
from .errors import ToolkitWarning
from .instruments import Instrument
from .reliable_change import rci_cutoff

__all__ = [
    "detect",
    "amoc",
    "ChangePoints",
    "AmocTest",
    "CHANGE_COLUMNS",
    "SEGMENT_COLUMNS",
    "CLIENT_COLUMNS",
    "AMOC_COLUMNS",
    "CONFIDENCE_SET_COLUMNS",
    "MODELS",
    "report_section",
]

#: Columns of :attr:`ChangePoints.table` (one row per detected change).
CHANGE_COLUMNS = [
    "client", "change", "session", "last_pre_session", "n_pre", "n_post", "pre_mean",
    "post_mean", "pre_slope", "post_slope", "jump", "slope_change", "jump_sd", "jump_rci",
    "p_value", "breakthrough",
]
#: Columns of :attr:`ChangePoints.segments` (one row per fitted segment).
SEGMENT_COLUMNS = [
    "client", "segment", "first_session", "last_session", "n", "mean", "slope", "fit_start",
    "fit_end",
]
#: Columns of :attr:`ChangePoints.clients` (one row per analysed client).
CLIENT_COLUMNS = [
    "client", "n_observed", "n_changes", "sigma", "residual_sd", "objective", "p_value",
]
#: Columns of :attr:`AmocTest.table` (one row per tested client).
AMOC_COLUMNS = [
    "client", "session", "statistic", "p_value", "pre_mean", "post_mean", "jump", "ci_lower",
    "ci_upper", "n_in_set",
]
#: Columns of :attr:`AmocTest.confidence_sets` (one row per client and candidate session).
CONFIDENCE_SET_COLUMNS = ["client", "session", "lr", "in_set"]

#: Segment models and the number of parameters one change adds besides its location.
MODELS = {"mean": 1, "linear": 2, "broken_stick": 1}
_DEFAULT_MIN_SIZE = {"mean": 2, "linear": 3, "broken_stick": 2}
_DEFAULT_MAX_CHANGES_BROKEN_STICK = 2
_PENALTIES = ("MBIC", "BIC", "AIC")
_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): MAD -> SD for Gaussian data
_MEANDEV_TO_SD = math.sqrt(math.pi / 2)  # mean absolute deviation -> SD for Gaussian data
_CELLS_PER_CHUNK = 4_000_000  # clients x cells per block: bounds memory on large cohorts


# =======================================================================================
# Prepared data: each client's observed scores packed to the left of a (clients x L) array
# =======================================================================================
@dataclass
class _Packed:
    """Observed scores packed left (position j = the client's j-th observed session)."""

    y: np.ndarray  # (N, L) scores minus the client's mean; 0 beyond n
    t: np.ndarray  # (N, L) session numbers minus the client's mean session; 0 beyond n
    sessions: np.ndarray  # (N, L) session numbers (int); -1 beyond n
    n: np.ndarray  # (N,) observed count
    y_mean: np.ndarray  # (N,) client's mean score
    t_mean: np.ndarray  # (N,) client's mean session
    rows: np.ndarray  # (N,) row of the client in scores.clients

    @property
    def length(self) -> int:
        return self.y.shape[1]

    def take(self, idx: np.ndarray) -> _Packed:
        return _Packed(*(getattr(self, f)[idx] for f in
                         ("y", "t", "sessions", "n", "y_mean", "t_mean", "rows")))


def _pack(matrix: np.ndarray, sessions: np.ndarray, rows: np.ndarray) -> _Packed:
    """Pack observed scores of the given rows to the left; centre scores and times."""
    m = matrix[rows]
    obs = ~np.isnan(m)
    n = obs.sum(axis=1)
    if obs.all():
        vals = m
        sess = np.broadcast_to(sessions, m.shape)
    else:
        order = np.argsort(~obs, axis=1, kind="stable")  # observed first, in session order
        vals = np.take_along_axis(m, order, axis=1)
        sess = sessions[order]
    length = int(n.max(initial=0))
    vals, sess = vals[:, :length], np.array(sess[:, :length], dtype=np.int64)
    valid = np.arange(length)[None, :] < n[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        y_mean = np.where(valid, vals, 0.0).sum(axis=1) / n
        t_mean = np.where(valid, sess, 0).sum(axis=1) / n
    y = np.where(valid, vals - y_mean[:, None], 0.0)
    t = np.where(valid, sess - t_mean[:, None], 0.0)
    sess = np.where(valid, sess, -1)
    return _Packed(y, t, sess, n, y_mean, t_mean, rows)


def _row_median(a: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[i]`` values of each row (NaN padding sorts last)."""
    s = np.sort(a, axis=1)
    r = np.arange(len(a))
    lo = np.clip((counts - 1) // 2, 0, None)
    hi = np.clip(counts // 2, 0, None)
    return np.where(counts > 0, (s[r, np.minimum(lo, s.shape[1] - 1)]
                                 + s[r, np.minimum(hi, s.shape[1] - 1)]) / 2, np.nan)


def _robust_sigma(p: _Packed, pooled: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Noise SD from the MAD of successive differences (each client, or pooled).

    Returns the SD and a flag for clients where the MAD was 0 and the mean absolute
    deviation was used instead.
    """
    k = p.n - 1
    d = np.diff(p.y, axis=1)
    d[np.arange(d.shape[1])[None, :] >= k[:, None]] = np.nan
    if pooled:
        centred = d - _row_median(d, k)[:, None]
        flat = np.abs(centred[~np.isnan(centred)])
        mad = np.median(flat) if flat.size else np.nan
        sd = _MAD_TO_SD * mad / math.sqrt(2)
        fell_back = False
        if not sd > 0 and flat.size:
            sd = _MEANDEV_TO_SD * flat.mean() / math.sqrt(2)
            fell_back = True
        return np.full(len(p.n), sd), np.full(len(p.n), fell_back)
    med = _row_median(d, k)
    dev = np.abs(d - med[:, None])
    mad = _row_median(dev, k)
    sd = _MAD_TO_SD * mad / math.sqrt(2)
    zero = ~(sd > 0)
    if zero.any():
        with np.errstate(invalid="ignore"):
            mean_dev = np.nanmean(dev[zero], axis=1)
        sd[zero] = _MEANDEV_TO_SD * mean_dev / math.sqrt(2)
    return sd, zero


# =======================================================================================
# Segment costs from cumulative sums
# =======================================================================================
class _Stats:
    """Cumulative sums over packed positions: the residual sum of squares of any segment.

    Segment ``[s, e)`` holds positions s..e-1 (observed sessions). ``rss(s, e)`` takes
    integer arrays broadcastable to (N, k) (or 1-D arrays shared by all clients).
    """

    def __init__(self, p: _Packed, model: str) -> None:
        self.model = model
        valid = (np.arange(p.length)[None, :] < p.n[:, None]).astype(float)
        cs = lambda a: np.concatenate(  # noqa: E731 - local shorthand
            [np.zeros((len(a), 1)), np.cumsum(a, axis=1)], axis=1)
        self.m = cs(valid)
        self.sy = cs(p.y)
        self.syy = cs(p.y * p.y)
        if model != "mean":
            self.st = cs(p.t)
            self.stt = cs(p.t * p.t)
            self.sty = cs(p.t * p.y)

    @staticmethod
    def _at(a: np.ndarray, idx: np.ndarray, per_client: bool) -> np.ndarray:
        if per_client:  # idx has shape (N, k): one row of positions per client
            return np.take_along_axis(a, idx, axis=1)
        return a[:, idx]  # idx shared by all clients: result (N, *idx.shape)

    def diff(self, name: str, s, e, per_client: bool = False) -> np.ndarray:
        a = getattr(self, name)
        return self._at(a, e, per_client) - self._at(a, s, per_client)

    def rss(self, s, e, per_client: bool = False) -> np.ndarray:
        d = lambda name: self.diff(name, s, e, per_client)  # noqa: E731
        m, sy, syy = d("m"), d("sy"), d("syy")
        with np.errstate(invalid="ignore", divide="ignore"):
            out = syy - np.where(m > 0, sy * sy / m, 0.0)
            if self.model != "mean":
                st, stt, sty = d("st"), d("stt"), d("sty")
                sttc = stt - np.where(m > 0, st * st / m, 0.0)
                styc = sty - np.where(m > 0, st * sy / m, 0.0)
                out = out - np.where(sttc > 1e-9, styc * styc / sttc, 0.0)
        return np.maximum(out, 0.0)


def _penalty(penalty, model: str, n: np.ndarray) -> tuple[np.ndarray, bool]:
    """Penalty per change for each client, and whether segments add log(length) (MBIC)."""
    d = MODELS[model]
    logn = np.log(np.maximum(n, 1).astype(float))
    if isinstance(penalty, str):
        if penalty == "MBIC":
            return (d + 2) * logn, True
        if penalty == "BIC":
            return (d + 1) * logn, False
        return np.full(len(n), 2.0 * (d + 1)), False  # AIC
    return np.full(len(n), float(penalty)), False


# =======================================================================================
# Exact optimal segmentation (dynamic programming, vectorised across clients)
# =======================================================================================
def _segment_cost(stats: _Stats, s: np.ndarray, e: np.ndarray, inv_var: np.ndarray,
                  mbic: bool) -> np.ndarray:
    """Cost of segments [s, e) (positions shared by all clients): RSS / sigma^2, plus
    log(length) under MBIC."""
    rss = stats.rss(s, e)
    cost = rss * inv_var.reshape((-1,) + (1,) * (rss.ndim - 1))
    if mbic:
        cost = cost + np.log(np.maximum(stats.diff("m", s, e), 1.0))
    return cost


def _optimal_partition(stats: _Stats, n: np.ndarray, inv_var: np.ndarray, beta: np.ndarray,
                       mbic: bool, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Optimal partitioning (Jackson et al. 2005): F(e) = min_s F(s) + C(s, e) + beta.

    Returns the change indicator (N, L+1) and the minimised objective. Ties go to the
    earliest last change, as in ``ruptures``.
    """
    n_rows, length = len(n), int(n.max())
    big = np.inf
    f = np.full((n_rows, length + 1), big)
    f[:, 0] = -beta
    last = np.zeros((n_rows, length + 1), dtype=np.int32)
    for e in range(min_size, length + 1):
        cand = np.r_[0, np.arange(min_size, e - min_size + 1)]
        total = f[:, cand] + _segment_cost(stats, cand, np.array([e]), inv_var, mbic)
        j = np.argmin(total, axis=1)
        f[:, e] = total[np.arange(n_rows), j] + beta
        last[:, e] = cand[j]
    changes = np.zeros((n_rows, length + 1), dtype=bool)
    pos = n.copy()
    rows = np.arange(n_rows)
    while (pos > 0).any():
        prev = last[rows, pos]
        prev[pos == 0] = 0
        changes[rows[prev > 0], prev[prev > 0]] = True
        pos = prev
    return changes, f[rows, n]


def _segment_neighbourhood(stats: _Stats, n: np.ndarray, inv_var: np.ndarray,
                           beta: np.ndarray, mbic: bool, min_size: int,
                           max_changes: int) -> tuple[np.ndarray, np.ndarray]:
    """Best segmentation with exactly k changes for k = 0..K (Auger & Lawrence 1989), then
    the k minimising cost + k * beta (ties to fewer changes)."""
    n_rows, length = len(n), int(n.max())
    k_max = min(max_changes, max(length // min_size - 1, 0))
    grid = np.arange(length + 1)
    cost = _segment_cost(stats, grid[:, None], grid[None, :], inv_var, mbic)
    ok = (grid[None, :] - grid[:, None]) >= min_size
    cost = np.where(ok[None], cost, np.inf)  # (N, s, e)
    g = np.full((k_max + 1, n_rows, length + 1), np.inf)
    g[0] = cost[:, 0, :]
    arg = np.zeros((k_max + 1, n_rows, length + 1), dtype=np.int32)
    for k in range(1, k_max + 1):
        total = g[k - 1][:, :, None] + cost  # (N, s, e)
        arg[k] = np.argmin(total, axis=1)
        g[k] = np.take_along_axis(total, arg[k][:, None, :], axis=1)[:, 0, :]
    rows = np.arange(n_rows)
    end = g[:, rows, n].T + np.arange(k_max + 1)[None, :] * beta[:, None]  # (N, K+1)
    best_k = np.argmin(end, axis=1)
    changes = np.zeros((n_rows, length + 1), dtype=bool)
    pos, k = n.copy(), best_k.copy()
    while (k > 0).any():
        act = k > 0
        prev = arg[k[act], rows[act], pos[act]]
        changes[rows[act], prev] = True
        pos[act], k[act] = prev, k[act] - 1
    return changes, end[rows, best_k]


def _broken_stick(p: _Packed, inv_var: np.ndarray, beta: np.ndarray, mbic: bool,
                  min_size: int, max_changes: int, progress: bool):
    """Exhaustive search over knot sets (at most ``max_changes`` knots) for the continuous
    piecewise-linear model. A knot at position k makes k the first position of the new
    piece; the line is continuous at the knot's session."""
    n_rows, length = len(p.n), p.length
    valid = (np.arange(length)[None, :] < p.n[:, None]).astype(float)
    scale = np.maximum(np.abs(p.t).max(axis=1, keepdims=True), 1.0)
    tt = p.t / scale
    best = np.full(n_rows, np.inf)
    best_idx = np.zeros(n_rows, dtype=np.int64)
    sets = [()]
    for k in range(1, max_changes + 1):
        for combo in itertools.combinations(range(min_size, length - min_size + 1), k):
            if all(b - a >= min_size for a, b in zip(combo, combo[1:])):
                sets.append(combo)
    yy = (p.y * p.y * valid).sum(axis=1)
    for idx, knots in enumerate(tqdm(sets, desc="broken stick", disable=not progress)):
        last_ok = (knots[-1] if knots else 0) <= p.n - min_size
        if not last_ok.any():
            continue
        cols = [valid, tt * valid]
        for kn in knots:
            cols.append(np.maximum(tt - tt[:, [kn]], 0.0) * valid)
        x = np.stack(cols, axis=2)  # (N, L, q)
        gram = np.einsum("nlp,nlq->npq", x, x)
        xty = np.einsum("nlp,nl->np", x, p.y)
        q = x.shape[2]
        gram = gram + 1e-10 * np.eye(q)[None]
        coef = np.linalg.solve(gram, xty[..., None])[..., 0]
        rss = np.maximum(yy - (coef * xty).sum(axis=1), 0.0)
        obj = rss * inv_var + len(knots) * beta
        if mbic:
            bounds = np.column_stack([np.zeros(n_rows), *(np.full(n_rows, kn) for kn in knots),
                                      p.n]) if knots else np.column_stack(
                [np.zeros(n_rows), p.n])
            obj = obj + np.log(np.maximum(np.diff(bounds, axis=1), 1)).sum(axis=1)
        better = last_ok & (obj < best)  # strict: ties keep fewer, earlier knots
        best = np.where(better, obj, best)
        best_idx[better] = idx
    changes = np.zeros((n_rows, length + 1), dtype=bool)
    for idx in np.unique(best_idx):
        rows = np.flatnonzero(best_idx == idx)
        for kn in sets[idx]:
            changes[rows, kn] = True
    return changes, best


def _broken_stick_fit(p: _Packed, pos: np.ndarray) -> np.ndarray:
    """Fitted values (N, L) of the continuous piecewise-linear model for given knots.

    ``pos`` is a (N, K) array of knot positions padded with -1."""
    length = p.length
    valid = (np.arange(length)[None, :] < p.n[:, None]).astype(float)
    scale = np.maximum(np.abs(p.t).max(axis=1, keepdims=True), 1.0)
    tt = p.t / scale
    cols = [valid, tt * valid]
    for j in range(pos.shape[1]):
        kn = np.maximum(pos[:, j], 0)
        h = np.maximum(tt - np.take_along_axis(tt, kn[:, None], axis=1), 0.0)
        cols.append(np.where((pos[:, j] >= 0)[:, None], h, 0.0) * valid)
    x = np.stack(cols, axis=2)
    gram = np.einsum("nlp,nlq->npq", x, x) + 1e-10 * np.eye(x.shape[2])[None]
    # unused knot columns are all zero: keep the system solvable
    unused = np.concatenate([np.zeros((len(pos), 2), bool), pos < 0], axis=1)
    gram[:, np.arange(x.shape[2]), np.arange(x.shape[2])] += unused * 1.0
    coef = np.linalg.solve(gram, np.einsum("nlp,nl->np", x, p.y)[..., None])[..., 0]
    return np.einsum("nlp,np->nl", x, coef)


# =======================================================================================
# Results
# =======================================================================================
@dataclass(frozen=True, repr=False)
class ChangePoints(Result):
    """Change points of every client; returned by :func:`detect`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per detected change; columns :data:`CHANGE_COLUMNS` (see :func:`detect`).
    segments : pandas.DataFrame
        One row per fitted segment; columns :data:`SEGMENT_COLUMNS`.
    clients : pandas.DataFrame
        One row per analysed client; columns :data:`CLIENT_COLUMNS`.
    skipped : pandas.DataFrame
        Clients not analysed (``client``, ``reason``).
    settings : dict
        Every argument, the column roles and the toolkit version.
    warnings : tuple of str
        Problems met during the fit.
    scores : LongScores
        The validated data (for plots).
    """

    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    clients: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: LongScores | None = field(default=None, repr=False)

    def summary(self) -> pd.DataFrame:
        """One row: model, penalty, clients analysed/skipped, clients with changes, changes,
        breakthroughs.

        Returns
        -------
        pandas.DataFrame
            Columns ``model``, ``penalty``, ``n_clients``, ``n_skipped``,
            ``n_with_change``, ``n_changes``, ``mean_changes``, ``n_breakthroughs``.
        """
        c = self.clients
        return pd.DataFrame({
            "model": [self.settings["model"]],
            "penalty": [str(self.settings["penalty"])],
            "n_clients": [len(c)],
            "n_skipped": [len(self.skipped)],
            "n_with_change": [int((c["n_changes"] > 0).sum())],
            "n_changes": [int(c["n_changes"].sum())],
            "mean_changes": [float(c["n_changes"].mean()) if len(c) else np.nan],
            "n_breakthroughs": [int(self.table["breakthrough"].fillna(False).sum())],
        })

    def plot(self, client=None, ax=None, **kwargs):
        """The fitted segments over one client's scores; see
        :func:`toolkit.plots.changepoint.segments`."""
        from .plots.changepoint import segments

        return segments(self, client=client, ax=ax, **kwargs)


@dataclass(frozen=True, repr=False)
class AmocTest(Result):
    """At-most-one-change test of every client; returned by :func:`amoc`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tested client; columns :data:`AMOC_COLUMNS` (see :func:`amoc`).
    confidence_sets : pandas.DataFrame
        One row per client and candidate change session; columns
        :data:`CONFIDENCE_SET_COLUMNS`.
    """

    confidence_sets: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: LongScores | None = field(default=None, repr=False)

    def summary(self) -> pd.DataFrame:
        """One row: clients tested and skipped, clients with p < 0.05, median set size.

        Returns
        -------
        pandas.DataFrame
            Columns ``model``, ``n_clients``, ``n_skipped``, ``n_significant_05``,
            ``median_set_size``.
        """
        t = self.table
        return pd.DataFrame({
            "model": [self.settings["model"]],
            "n_clients": [len(t)],
            "n_skipped": [len(self.skipped)],
            "n_significant_05": [int((t["p_value"] < 0.05).sum())],
            "median_set_size": [float(t["n_in_set"].median()) if len(t) else np.nan],
        })


# =======================================================================================
# Checking arguments and clients
# =======================================================================================
def _check_common(model, min_size, sigma=None, penalty=None, max_changes=None) -> int:
    if model not in MODELS:
        raise ValueError(f"The 'model' parameter must be one of {set(MODELS)}. "
                         f"Got {model!r} instead.")
    if min_size is None:
        min_size = _DEFAULT_MIN_SIZE[model]
    if isinstance(min_size, bool) or int(min_size) != min_size or min_size < 1:
        raise ValueError(f"min_size must be a whole number >= 1; got {min_size!r}.")
    if model == "linear" and min_size < 2:
        raise ValueError("model='linear' needs min_size >= 2 (a line needs two sessions); "
                         f"got {min_size}. Fix: pass min_size=3 (the default).")
    if penalty is not None:
        if isinstance(penalty, str):
            if penalty not in _PENALTIES:
                raise ValueError(f"The 'penalty' parameter must be one of {set(_PENALTIES)} "
                                 f"or a number >= 0. Got {penalty!r} instead.")
        elif isinstance(penalty, bool) or not isinstance(penalty, (int, float, np.number)) \
                or not penalty >= 0 or not np.isfinite(penalty):
            raise ValueError(f"The 'penalty' parameter must be one of {set(_PENALTIES)} or a "
                             f"finite number >= 0. Got {penalty!r} instead.")
    if sigma is not None and not (isinstance(sigma, str) and sigma in ("mad", "pooled", "unit")):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)) \
                or not (np.isfinite(sigma) and sigma > 0):
            raise ValueError("The 'sigma' parameter must be one of {'mad', 'pooled', 'unit'} "
                             f"or a positive number. Got {sigma!r} instead.")
    if max_changes is not None and (isinstance(max_changes, bool)
                                    or int(max_changes) != max_changes or max_changes < 0):
        raise ValueError(f"max_changes must be a whole number >= 0 or None; got "
                         f"{max_changes!r}.")
    return int(min_size)


def _screen(scores: LongScores, min_size: int, method: str):
    """Rows of clients that can be analysed, and the skipped table with reasons."""
    matrix = scores.to_matrix()
    n = (~np.isnan(matrix)).sum(axis=1)
    filled = np.where(np.isnan(matrix), np.inf, matrix)
    lo = filled.min(axis=1, initial=np.inf)
    hi = np.where(np.isnan(matrix), -np.inf, matrix).max(axis=1, initial=-np.inf)
    need = 2 * min_size
    reasons = np.full(len(n), None, dtype=object)
    few = n < need
    reasons[n == 0] = "every score is missing"
    part = few & (n > 0)
    reasons[part] = [f"{k} observed score(s); {method} with min_size={min_size} needs at "
                     f"least {need}" for k in n[part]]
    const = ~few & (lo == hi)
    reasons[const] = [f"constant series (every observed score is {v:g}): no change can be "
                      "estimated" for v in lo[const]]
    skip = reasons != None  # noqa: E711 - element-wise
    skipped = pd.DataFrame({"client": scores.clients.to_numpy()[skip],
                            "reason": reasons[skip]}) if skip.any() else empty_skipped()
    return matrix, np.flatnonzero(~skip), skipped


def _rci_cutoff(inst: Instrument | None) -> tuple[float, str | None]:
    """The instrument's reliable-change cut-off, or NaN with the reason it is missing."""
    if inst is None:
        return np.nan, None
    try:
        return float(rci_cutoff(inst)), None
    except ValueError as exc:
        return np.nan, (f"No reliable-change cut-off for {inst.name} ({exc}); jump_rci and "
                        "breakthrough are missing.")


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _chunks(n_rows: int, cells: int) -> list[np.ndarray]:
    size = max(1, _CELLS_PER_CHUNK // max(cells, 1))
    return [np.arange(i, min(i + size, n_rows)) for i in range(0, n_rows, size)]


# =======================================================================================
# detect
# =======================================================================================
def detect(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["mean", "linear", "broken_stick"] = "mean",
    penalty: Literal["MBIC", "BIC", "AIC"] | float = "MBIC",
    sigma: Literal["mad", "pooled", "unit"] | float = "mad",
    min_size: int | None = None,
    max_changes: int | None = None,
    test: bool = False,
    n_boot: int = 999,
    seed: int | np.random.Generator | None = None,
    progress: bool = True,
) -> ChangePoints:
    """Exact optimal segmentation of every client's scores.

    For each client, finds the segmentation of the observed sessions that minimises

    .. math:: \\sum_{j=1}^{m+1} C(\\text{segment}_j) + m \\beta

    over all segmentations (every segment at least ``min_size`` observed sessions, at most
    ``max_changes`` changes), by dynamic programming over all clients at once.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column names.
    client, session, score : str, optional
        Column names (needed with a DataFrame).
    instrument : str or Instrument, optional
        The measure; gives the improving direction and the reliable-change cut-off used for
        ``jump_rci`` and ``breakthrough``.
    model : {"mean", "linear", "broken_stick"}, default "mean"
        Segment model: mean shift; piecewise linear with a jump and a slope change at each
        change ("discontinuous growth"); continuous piecewise linear (slope change only).
        Session numbers are the time axis.
    penalty : {"MBIC", "BIC", "AIC"} or float, default "MBIC"
        Penalty per change on the -2 log-likelihood scale (see Notes). A number is used as
        it is (with ``sigma="unit"`` it is on the residual-sum-of-squares scale).
    sigma : {"mad", "pooled", "unit"} or float, default "mad"
        Noise SD that scales the cost. ``"mad"``: estimated for each client from the median
        absolute deviation of successive differences, which a few level shifts barely move,
        so results do not depend on the score scale. ``"pooled"``: one such estimate from
        every client's differences. ``"unit"``: SD 1, as R's ``changepoint::cpt.mean`` (Normal
        mean cost); on raw questionnaire scores this finds many spurious changes and is
        meant for comparison. A number: that SD for every client (e.g. the instrument's
        standard error of measurement). On short series a per-client estimate is itself
        noisy: in notebook 03's simulation (12 sessions, no true change, MBIC) 16% of
        clients got a spurious change with ``"mad"``, 3% with ``"pooled"`` and 1% with the
        known SD, so prefer ``"pooled"`` or a number when clients share one noise level.
    min_size : int, optional
        Fewest observed sessions in a segment (default 2 for ``mean`` and ``broken_stick``,
        3 for ``linear``). Clients with fewer than ``2 * min_size`` observed sessions are
        skipped.
    max_changes : int, optional
        Most changes per client (default: no limit, except 2 for ``broken_stick``, whose
        search is exhaustive over knot sets).
    test : bool, default False
        Also run the at-most-one-change test (:func:`amoc`) and fill ``p_value``.
    n_boot : int, default 999
        Monte Carlo replicates of the test.
    seed : int or numpy.random.Generator, optional
        For the test.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    ChangePoints
        ``table`` has one row per detected change, columns:

        - ``client``: client id.
        - ``change``: 1, 2, ... within the client.
        - ``session``: first session of the new segment.
        - ``last_pre_session``: last observed session of the previous segment.
        - ``n_pre``, ``n_post``: observed sessions in the segments before and after.
        - ``pre_mean``, ``post_mean``: mean observed score of those segments.
        - ``pre_slope``, ``post_slope``: fitted slopes per session (0 for ``mean``).
        - ``jump``: post-change fit minus pre-change fit (extrapolated) at ``session``, in
          score units (0 for ``broken_stick``).
        - ``slope_change``: ``post_slope - pre_slope``.
        - ``jump_sd``: ``jump`` / the client's residual SD (NaN when that SD is 0).
        - ``jump_rci``: ``jump`` / the instrument's reliable-change cut-off (NaN without one).
        - ``p_value``: the client's at-most-one-change p-value (with ``test=True``; else NaN).
        - ``breakthrough``: the jump is in the improving direction and at least the
          reliable-change cut-off (nullable boolean; missing without a cut-off).

        ``segments`` (one row per segment): ``client``, ``segment``, ``first_session``,
        ``last_session``, ``n``, ``mean``, ``slope``, ``fit_start`` and ``fit_end`` (fitted
        score at the first and last session). ``clients`` (one row per analysed client):
        ``client``, ``n_observed``, ``n_changes``, ``sigma`` (noise SD in the cost),
        ``residual_sd`` (sqrt(RSS / (n - parameters))), ``objective`` (the minimised
        penalised cost) and ``p_value``. ``skipped``: clients not analysed, with the reason
        (every score missing, too few observed sessions, constant series, no noise).

    Raises
    ------
    ValueError
        For an unknown model, penalty or sigma, or a bad ``min_size``/``max_changes``.

    Notes
    -----
    Segment cost on the -2 log-likelihood scale with noise SD sigma_i: ``RSS / sigma_i^2``,
    where RSS is the residual sum of squares of the segment's mean (``mean``) or OLS line
    (``linear``); ``broken_stick`` fits all pieces jointly under continuity. With ``d``
    parameters per change (1 for ``mean`` and ``broken_stick``, 2 for ``linear``) and ``n``
    the client's observed sessions, the penalties are those of R's ``changepoint`` package
    (``penalty_decision.R``): BIC ``(d + 1) log n``, AIC ``2 (d + 1)``, and MBIC
    ``(d + 2) log n`` per change plus ``log(n_j)`` for every segment of length ``n_j``
    (``mbic_mean`` in ``cost_general_functions.c``). R's MBIC equals Zhang & Siegmund's
    (2007) ``3 m log n + sum_j log(n_j / n)`` plus ``(m + 1) log n``, i.e. one extra
    ``log n`` per change. The default noise SD is
    ``1.4826 * median|d - median(d)| / sqrt(2)`` over successive differences ``d`` of the
    observed scores (the mean absolute deviation times sqrt(pi/2) when that MAD is 0).

    Search: optimal partitioning (Jackson et al., 2005) when ``max_changes`` is None,
    segment neighbourhood (Auger & Lawrence, 1989) otherwise, both over every client at once
    from cumulative sums; both are exact, so no PELT pruning is needed (with T <= 60
    sessions the T^2/2 segment costs per client are cheap). R's PELT with MBIC prunes with
    a rule that the log-length term does not satisfy, so it can rarely miss the optimum.

    References
    ----------
    Auger, I. E., & Lawrence, C. E. (1989). Algorithms for the optimal identification of
    segment neighborhoods. Bulletin of Mathematical Biology, 51(1), 39-54.

    Jackson, B., et al. (2005). An algorithm for optimal partitioning of data on an interval.
    IEEE Signal Processing Letters, 12(2), 105-108.

    Killick, R., Fearnhead, P., & Eckley, I. A. (2012). Optimal detection of changepoints
    with a linear computational cost. JASA, 107(500), 1590-1598.

    Zhang, N. R., & Siegmund, D. O. (2007). A modified Bayes information criterion with
    applications to the analysis of comparative genomic hybridization data. Biometrics,
    63(1), 22-32.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.changepoint import detect
    >>> df = pd.DataFrame({"id": 1, "week": range(1, 11),
    ...                    "bdi": [30, 31, 29, 30, 32, 15, 14, 16, 15, 14]})
    >>> cp = detect(df, client="id", session="week", score="bdi", instrument="BDI-II",
    ...             progress=False)
    >>> cp.table[["client", "session", "pre_mean", "post_mean", "breakthrough"]]
       client  session  pre_mean  post_mean  breakthrough
    0       1        6      30.4       14.8          True
    """
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    min_size = _check_common(model, min_size, sigma, penalty, max_changes)
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number >= 1; got {n_boot!r}.")
    if max_changes is None and model == "broken_stick":
        max_changes = _DEFAULT_MAX_CHANGES_BROKEN_STICK
    settings = {
        **scores.roles, "instrument": scores.instrument.name if scores.instrument else None,
        "model": model, "penalty": penalty, "sigma": sigma, "min_size": min_size,
        "max_changes": max_changes, "test": test, "n_boot": n_boot,
        "seed": seed if not isinstance(seed, np.random.Generator) else "Generator",
        "toolkit_version": scores.settings.get("toolkit_version"),
    }
    notes: list[str] = []
    matrix, rows, skipped = _screen(scores, min_size, "change-point detection")
    p = _pack(matrix, scores.sessions, rows)
    sd, fell_back = _sigma(p, sigma)
    if isinstance(sigma, str) and sigma in ("mad", "pooled"):
        no_noise = ~(sd > 0)
        if no_noise.any():
            extra = pd.DataFrame({
                "client": scores.clients.to_numpy()[p.rows[no_noise]],
                "reason": "successive differences are all equal, so the noise SD cannot be "
                          "estimated; pass sigma=<a number> to analyse it",
            })
            skipped = pd.concat([skipped, extra], ignore_index=True)
            keep = np.flatnonzero(~no_noise)
            p, sd, fell_back = p.take(keep), sd[keep], fell_back[keep]
        if fell_back.any():
            notes.append(warn(
                f"{int(fell_back.sum())} client(s) had a median absolute deviation of 0 in "
                "their successive differences (repeated identical steps); their noise SD "
                "comes from the mean absolute deviation instead."))
    cutoff, msg = _rci_cutoff(scores.instrument)
    if msg:
        notes.append(warn(msg))
    if len(p.n) == 0:
        empty = _empty_tables()
        return ChangePoints(table=empty[0], settings=settings, skipped=_sorted(skipped),
                            warnings=tuple(notes), segments=empty[1], clients=empty[2],
                            scores=scores)

    beta, mbic = _penalty(penalty, model, p.n)
    changes, objective = _run_segmentation(p, model, sd, beta, mbic, min_size, max_changes,
                                           progress)
    p_client = np.full(len(p.n), np.nan)
    if test:
        at = _amoc_core(p, model, min_size, "bootstrap", n_boot, 0.95, _rng(seed),
                        progress, confidence=False)
        p_client = at["p_value"]
    table, segments, clients = _tables(scores, p, model, changes, sd, objective, p_client,
                                       cutoff)
    return ChangePoints(table=table, settings=settings, skipped=_sorted(skipped),
                        warnings=tuple(notes), segments=segments, clients=clients,
                        scores=scores)


def _sorted(skipped: pd.DataFrame) -> pd.DataFrame:
    if len(skipped) < 2:
        return skipped.reset_index(drop=True)
    try:
        return skipped.sort_values("client", kind="stable", ignore_index=True)
    except TypeError:
        return skipped.reset_index(drop=True)


def _sigma(p: _Packed, sigma) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(sigma, str):
        if sigma == "unit":
            return np.ones(len(p.n)), np.zeros(len(p.n), bool)
        return _robust_sigma(p, pooled=(sigma == "pooled"))
    return np.full(len(p.n), float(sigma)), np.zeros(len(p.n), bool)


def _run_segmentation(p, model, sd, beta, mbic, min_size, max_changes, progress):
    """Change indicator (N, L+1) and minimised objective (N,) of every packed client."""
    inv_var = 1.0 / (sd * sd)
    if model == "broken_stick":
        return _broken_stick(p, inv_var, beta, mbic, min_size, int(max_changes), progress)
    changes = np.zeros((len(p.n), p.length + 1), dtype=bool)
    objective = np.empty(len(p.n))
    cells = (p.length + 1) ** 2 if max_changes is not None else 8 * (p.length + 1)
    for idx in tqdm(_chunks(len(p.n), cells), desc="change points", disable=not progress):
        sub = p.take(idx)
        stats = _Stats(sub, model)
        if max_changes is None:
            ch, obj = _optimal_partition(stats, sub.n, inv_var[idx], beta[idx], mbic,
                                         min_size)
        else:
            ch, obj = _segment_neighbourhood(stats, sub.n, inv_var[idx], beta[idx], mbic,
                                             min_size, int(max_changes))
        changes[idx, : ch.shape[1]] = ch
        objective[idx] = obj
    return changes, objective


def _empty_tables():
    def frame(columns):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    t = frame(CHANGE_COLUMNS)
    t["breakthrough"] = pd.Series(dtype="boolean")
    return t, frame(SEGMENT_COLUMNS), frame(CLIENT_COLUMNS)


def _tables(scores, p: _Packed, model, changes, sd, objective, p_client, cutoff):
    """Build the change, segment and client tables from the change indicators."""
    n_rows, length = len(p.n), p.length
    bounds = changes[:, : length + 1].copy()
    bounds[:, 0] = True
    bounds[np.arange(n_rows), p.n] = True
    r, pos = np.nonzero(bounds)  # row-major: sorted by client row, then position
    is_end = np.r_[r[1:] != r[:-1], True]
    seg_r, seg_s = r[~is_end], pos[~is_end]
    seg_e = pos[np.flatnonzero(~is_end) + 1]
    ids = scores.clients.to_numpy()

    # Segment fits: OLS per segment, or the joint continuous fit for the broken stick.
    if model == "broken_stick":
        k_max = int(changes.sum(axis=1).max(initial=0))
        kpos = np.full((n_rows, max(k_max, 1)), -1)
        cr, cp_ = np.nonzero(changes)
        rank = np.arange(len(cr)) - np.searchsorted(cr, cr)
        kpos[cr, rank] = cp_
        fitted = _broken_stick_fit(p, kpos)
        f_start = fitted[seg_r, seg_s]
        f_end = fitted[seg_r, seg_e - 1]
        t_s, t_e = p.t[seg_r, seg_s], p.t[seg_r, seg_e - 1]
        nseg = seg_e - seg_s
        # The piece's slope: from the knot at its start to the next knot (or last session).
        nxt = np.minimum(seg_e, p.n[seg_r] - 1)
        f_next = fitted[seg_r, nxt]
        t_next = p.t[seg_r, nxt]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(t_next > t_s, (f_next - f_start) / (t_next - t_s), 0.0)
        ybar = _seg_mean(p, seg_r, seg_s, seg_e)
        resid = np.where(np.arange(length)[None, :] < p.n[:, None], p.y - fitted, 0.0)
        rss = (resid * resid).sum(axis=1)
        n_par = 2 + changes.sum(axis=1)
    else:
        stats = _Stats(p, model)
        ybar, tbar, slope = _line_rows(stats, seg_r, seg_s, seg_e)
        t_s, t_e = p.t[seg_r, seg_s], p.t[seg_r, seg_e - 1]
        f_start = ybar + slope * (t_s - tbar)
        f_end = ybar + slope * (t_e - tbar)
        nseg = seg_e - seg_s
        rss_seg = _rss_rows(stats, seg_r, seg_s, seg_e)
        rss = np.bincount(seg_r, weights=rss_seg, minlength=n_rows)
        n_par = (1 if model == "mean" else 2) * (changes.sum(axis=1) + 1)
    seg_no = np.arange(len(seg_r)) - np.searchsorted(seg_r, seg_r) + 1
    ymean = p.y_mean[seg_r]
    segments = pd.DataFrame({
        "client": ids[p.rows[seg_r]],
        "segment": seg_no.astype(np.int64),
        "first_session": p.sessions[seg_r, seg_s],
        "last_session": p.sessions[seg_r, seg_e - 1],
        "n": nseg.astype(np.int64),
        "mean": ybar + ymean,
        "slope": slope,
        "fit_start": f_start + ymean,
        "fit_end": f_end + ymean,
    })

    dof = p.n - n_par
    with np.errstate(invalid="ignore", divide="ignore"):
        resid_sd = np.where(dof > 0, np.sqrt(rss / np.maximum(dof, 1)), np.nan)
    n_changes = changes.sum(axis=1)
    clients = pd.DataFrame({
        "client": ids[p.rows],
        "n_observed": p.n.astype(np.int64),
        "n_changes": n_changes.astype(np.int64),
        "sigma": sd,
        "residual_sd": resid_sd,
        "objective": objective,
        "p_value": p_client,
    })

    # Changes: each segment after the first, paired with the one before.
    after = np.flatnonzero(seg_no > 1)
    before = after - 1
    cr = seg_r[after]
    if model == "broken_stick":
        jump = np.zeros(len(after))
    else:
        # post fit minus the pre segment's line extrapolated to the change session
        t_c = p.t[cr, seg_s[after]]
        pre_at = (segments["mean"].to_numpy()[before] - ymean[before]) + slope[before] * (
            t_c - tbar[before])
        post_at = f_start[after]
        jump = post_at - pre_at
    sd_res = resid_sd[cr]
    with np.errstate(invalid="ignore", divide="ignore"):
        jump_sd = np.where(sd_res > 0, jump / sd_res, np.nan)
        jump_rci = jump / cutoff if np.isfinite(cutoff) else np.full(len(jump), np.nan)
    inst = scores.instrument
    if inst is not None and np.isfinite(cutoff):
        improving = (-inst.sign * jump) > 0
        brk = pd.array(improving & (np.abs(jump) >= cutoff), dtype="boolean")
    else:
        brk = pd.array([pd.NA] * len(jump), dtype="boolean")
    table = pd.DataFrame({
        "client": ids[p.rows[cr]],
        "change": (seg_no[after] - 1).astype(np.int64),
        "session": p.sessions[cr, seg_s[after]],
        "last_pre_session": p.sessions[cr, seg_s[after] - 1],
        "n_pre": nseg[before].astype(np.int64),
        "n_post": nseg[after].astype(np.int64),
        "pre_mean": segments["mean"].to_numpy()[before],
        "post_mean": segments["mean"].to_numpy()[after],
        "pre_slope": slope[before],
        "post_slope": slope[after],
        "jump": jump,
        "slope_change": slope[after] - slope[before],
        "jump_sd": jump_sd,
        "jump_rci": jump_rci,
        "p_value": p_client[cr],
        "breakthrough": brk,
    })
    return table[CHANGE_COLUMNS], segments[SEGMENT_COLUMNS], clients[CLIENT_COLUMNS]


def _seg_mean(p: _Packed, r, s, e) -> np.ndarray:
    stats = _Stats(p, "mean")
    return (stats.sy[r, e] - stats.sy[r, s]) / (stats.m[r, e] - stats.m[r, s])


def _line_rows(stats: _Stats, r, s, e):
    """Segment mean of y, mean of t and slope for segments given by (row, start, end)."""
    m = stats.m[r, e] - stats.m[r, s]
    ybar = (stats.sy[r, e] - stats.sy[r, s]) / m
    if stats.model == "mean":
        return ybar, np.zeros_like(ybar), np.zeros_like(ybar)
    tbar = (stats.st[r, e] - stats.st[r, s]) / m
    sttc = (stats.stt[r, e] - stats.stt[r, s]) - m * tbar * tbar
    styc = (stats.sty[r, e] - stats.sty[r, s]) - m * tbar * ybar
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sttc > 1e-9, styc / sttc, 0.0)
    return ybar, tbar, slope


def _rss_rows(stats: _Stats, r, s, e) -> np.ndarray:
    m = stats.m[r, e] - stats.m[r, s]
    sy = stats.sy[r, e] - stats.sy[r, s]
    out = (stats.syy[r, e] - stats.syy[r, s]) - sy * sy / m
    if stats.model != "mean":
        st = stats.st[r, e] - stats.st[r, s]
        sttc = (stats.stt[r, e] - stats.stt[r, s]) - st * st / m
        styc = (stats.sty[r, e] - stats.sty[r, s]) - st * sy / m
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out - np.where(sttc > 1e-9, styc * styc / sttc, 0.0)
    return np.maximum(out, 0.0)


# =======================================================================================
# At most one change: Monte Carlo test and confidence set
# =======================================================================================
def _single_change_profile(p: _Packed, model: str, min_size: int):
    """RSS without a change (N,), RSS with one change at each position (N, L+1; inf where
    not allowed), and the number of parameters of the one-change model."""
    n_rows, length = len(p.n), p.length
    k = np.arange(length + 1)
    allowed = (k[None, :] >= min_size) & (k[None, :] <= (p.n - min_size)[:, None])
    if model == "broken_stick":
        valid = (np.arange(length)[None, :] < p.n[:, None]).astype(float)
        scale = np.maximum(np.abs(p.t).max(axis=1, keepdims=True), 1.0)
        tt = p.t / scale
        base = np.stack([valid, tt * valid], axis=2)  # (N, L, 2)
        g0 = np.einsum("nlp,nlq->npq", base, base) + 1e-10 * np.eye(2)
        b0 = np.einsum("nlp,nl->np", base, p.y)
        yy = (p.y * p.y * valid).sum(axis=1)
        rss0 = yy - (np.linalg.solve(g0, b0[..., None])[..., 0] * b0).sum(axis=1)
        kk = np.minimum(k, length - 1)
        h = np.maximum(tt[:, None, :] - tt[:, kk][:, :, None], 0.0) * valid[:, None, :]
        # Gram of [1, t, h] for each knot: (N, K, 3, 3)
        g = np.zeros((n_rows, length + 1, 3, 3))
        g[:, :, :2, :2] = g0[:, None]
        g[:, :, 0, 2] = g[:, :, 2, 0] = h.sum(axis=2)
        g[:, :, 1, 2] = g[:, :, 2, 1] = (h * tt[:, None, :]).sum(axis=2)
        g[:, :, 2, 2] = (h * h).sum(axis=2) + 1e-10
        g[:, :, :2, :2] += 1e-10 * np.eye(2)
        rhs = np.concatenate([np.broadcast_to(b0[:, None], (n_rows, length + 1, 2)),
                              (h * p.y[:, None, :]).sum(axis=2)[..., None]], axis=2)
        g[~allowed] = np.eye(3)
        coef = np.linalg.solve(g, rhs[..., None])[..., 0]
        rss1 = yy[:, None] - (coef * rhs).sum(axis=2)
        n_par = 4  # intercept, slope, slope change, location
    else:
        stats = _Stats(p, model)
        zero = np.zeros((n_rows, 1), dtype=np.int64)
        end = p.n[:, None].astype(np.int64)
        rss0 = stats.rss(zero, end, per_client=True)[:, 0]
        kk = np.broadcast_to(k, (n_rows, length + 1))
        rss1 = (stats.rss(np.broadcast_to(zero, kk.shape), kk, per_client=True)
                + stats.rss(kk, np.broadcast_to(end, kk.shape), per_client=True))
        n_par = 3 if model == "mean" else 5
    rss1 = np.where(allowed, np.maximum(rss1, 0.0), np.inf)
    return np.maximum(rss0, 0.0), rss1, n_par


def _amoc_statistic(rss0, rss1):
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - rss1.min(axis=1) / rss0


def _amoc_core(p: _Packed, model, min_size, method, n_boot, level, rng, progress,
               confidence=True):
    """p-values (and confidence sets) for every packed client."""
    rss0, rss1, n_par = _single_change_profile(p, model, min_size)
    stat = _amoc_statistic(rss0, rss1)
    k_hat = np.argmin(rss1, axis=1)
    exceed = np.zeros(len(p.n))
    if method == "bootstrap":
        # The statistic is invariant to location, scale (and, for the linear models, trend),
        # so under Gaussian noise its null law depends only on the observation pattern.
        if model == "mean":
            key = p.n[:, None]
        else:
            rel = np.where(p.sessions >= 0, p.sessions - p.sessions[:, :1], -1)
            key = np.column_stack([p.n, rel])
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for g in tqdm(range(len(uniq)), desc="null distributions", disable=not progress):
            members = np.flatnonzero(inverse == g)
            first = p.take(members[:1])
            null = _null_stats(first, model, min_size, n_boot, rng)
            null.sort()
            exceed[members] = n_boot - np.searchsorted(null, stat[members] - 1e-12,
                                                       side="left")
    else:  # permutation of each client's own scores (mean model)
        for idx in tqdm(_chunks(len(p.n), n_boot * (p.length + 1)), desc="permutations",
                        disable=not progress):
            sub = p.take(idx)
            rep = _repeat(sub, n_boot)
            keys = rng.random(rep.y.shape)
            keys[np.arange(rep.length)[None, :] >= rep.n[:, None]] = 2.0
            rep.y = np.take_along_axis(rep.y, np.argsort(keys, axis=1), axis=1)
            s0, s1, _ = _single_change_profile(rep, model, min_size)
            null = _amoc_statistic(s0, s1).reshape(len(idx), n_boot)
            exceed[idx] = (null >= stat[idx, None] - 1e-12).sum(axis=1)
    p_value = (1.0 + exceed) / (n_boot + 1.0)
    out = {"statistic": stat, "p_value": p_value, "k_hat": k_hat, "rss1": rss1}
    if confidence:
        out["in_set"], out["lr"] = _confidence_sets(p, model, min_size, rss1, k_hat, n_par,
                                                     n_boot, level, rng, progress)
    return out


def _repeat(p: _Packed, b: int) -> _Packed:
    return _Packed(*(np.repeat(getattr(p, f), b, axis=0) for f in
                     ("y", "t", "sessions", "n", "y_mean", "t_mean", "rows")))


def _null_stats(p1: _Packed, model, min_size, n_boot, rng) -> np.ndarray:
    """Statistic of ``n_boot`` Gaussian white-noise series observed like client ``p1``."""
    rep = _repeat(p1, n_boot)
    noise = rng.standard_normal(rep.y.shape)
    rep.y = np.where(np.arange(rep.length)[None, :] < rep.n[:, None], noise, 0.0)
    s0, s1, _ = _single_change_profile(rep, model, min_size)
    return _amoc_statistic(s0, s1)


def _one_change_fit(p: _Packed, model, k_hat) -> np.ndarray:
    """Fitted values (N, L) of the best one-change model."""
    n_rows, length = len(p.n), p.length
    if model == "broken_stick":
        return _broken_stick_fit(p, k_hat[:, None])
    stats = _Stats(p, model)
    r = np.arange(n_rows)
    pos = np.arange(length)[None, :]
    fitted = np.zeros((n_rows, length))
    for s, e, in_seg in ((np.zeros(n_rows, np.int64), k_hat, pos < k_hat[:, None]),
                         (k_hat, p.n, pos >= k_hat[:, None])):
        ybar, tbar, slope = _line_rows(stats, r, s, e)
        line = ybar[:, None] + slope[:, None] * (p.t - tbar[:, None])
        fitted = np.where(in_seg, line, fitted)
    return np.where(pos < p.n[:, None], fitted, 0.0)


def _confidence_sets(p: _Packed, model, min_size, rss1, k_hat, n_par, n_boot, level, rng,
                     progress):
    """Likelihood-ratio confidence set for the change position, calibrated by a parametric
    bootstrap from each client's fitted one-change model."""
    n_rows = len(p.n)
    dof = np.maximum(p.n - n_par + 1, 1)  # the location is not a linear parameter
    rss_min = rss1[np.arange(n_rows), k_hat]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = (rss1 - rss_min[:, None]) / (rss_min / dof)[:, None]
    crit = np.full(n_rows, np.inf)
    fitted = _one_change_fit(p, model, k_hat)
    sigma = np.sqrt(rss_min / dof)
    width = (p.length + 1) * (3 * p.length if model == "broken_stick" else 6)
    for idx in tqdm(_chunks(n_rows, n_boot * width), desc="confidence sets",
                    disable=not progress):
        sub = _repeat(p.take(idx), n_boot)
        noise = rng.standard_normal(sub.y.shape)
        valid = np.arange(sub.length)[None, :] < sub.n[:, None]
        y = np.repeat(fitted[idx], n_boot, axis=0) + np.repeat(sigma[idx], n_boot)[:, None] * noise
        sub.y = np.where(valid, y - (np.where(valid, y, 0).sum(axis=1) / sub.n)[:, None], 0.0)
        _, s1, _ = _single_change_profile(sub, model, min_size)
        kh = np.repeat(k_hat[idx], n_boot)
        best = s1.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (s1[np.arange(len(kh)), kh] - best) / (best / np.repeat(dof[idx], n_boot))
        d = np.nan_to_num(d.reshape(len(idx), n_boot), nan=0.0, posinf=np.inf)
        crit[idx] = np.quantile(d, level, axis=1, method="higher")
    in_set = np.isfinite(rss1) & (lr <= crit[:, None] + 1e-9)
    in_set[np.arange(n_rows), k_hat] = True
    return in_set, lr


def amoc(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["mean", "linear", "broken_stick"] = "mean",
    min_size: int | None = None,
    method: Literal["bootstrap", "permutation"] = "bootstrap",
    n_boot: int = 999,
    level: float = 0.95,
    seed: int | np.random.Generator | None = None,
    progress: bool = True,
) -> AmocTest:
    """Test every client for at most one change, with a confidence set for its session.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column names.
    client, session, score, instrument : str, optional
        Column names and measure (as for :func:`detect`).
    model : {"mean", "linear", "broken_stick"}, default "mean"
        Model under the alternative; the null is the same model without a change.
    min_size : int, optional
        Fewest observed sessions on each side of the change (defaults as in :func:`detect`).
    method : {"bootstrap", "permutation"}, default "bootstrap"
        Null distribution: Monte Carlo from Gaussian white noise observed at the client's
        sessions (exact for Gaussian noise, because the statistic does not depend on the
        client's level, trend or SD), or permutations of the client's own scores (``mean``
        model only; exact for exchangeable noise of any distribution).
    n_boot : int, default 999
        Monte Carlo replicates (for the p-value and, separately, for the confidence set).
    level : float, default 0.95
        Confidence level of the set of change sessions.
    seed : int or numpy.random.Generator, optional
        Same seed, same p-values and sets.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    AmocTest
        ``table``, one row per tested client:

        - ``client``.
        - ``session``: best single change session (first session of the new segment).
        - ``statistic``: ``1 - min_k RSS_1(k) / RSS_0``, the share of the no-change residual
          sum of squares that the best single change explains.
        - ``p_value``: ``(1 + #{null >= statistic}) / (n_boot + 1)``.
        - ``pre_mean``, ``post_mean``: mean observed score before and after ``session``.
        - ``jump``: post-change fit minus pre-change fit at ``session`` (0 for
          ``broken_stick``).
        - ``ci_lower``, ``ci_upper``: first and last session of the confidence set.
        - ``n_in_set``: number of sessions in the set (it need not be contiguous).

        ``confidence_sets``: ``client``, ``session`` (each allowed change session), ``lr``
        (likelihood-ratio distance from the best session) and ``in_set``. ``skipped``:
        clients not tested, with the reason.

    Raises
    ------
    ValueError
        For an unknown model or method, ``method="permutation"`` with a linear model, or
        ``level``/``n_boot`` out of range.

    Notes
    -----
    ``RSS_0`` is the residual sum of squares without a change and ``RSS_1(k)`` with one
    change at position k. The Monte Carlo p-value is valid in finite samples (Barnard,
    1963): the null draws share the client's observed sessions. The confidence set is
    ``{k : (RSS_1(k) - RSS_1(k_hat)) / s^2 <= c}`` with ``s^2 = RSS_1(k_hat) / (n - p)``
    and ``c`` the ``level`` quantile of the same quantity at the true change in parametric
    bootstrap samples from the client's fitted one-change model (Siegmund, 1988; Hinkley,
    1970).

    References
    ----------
    Barnard, G. A. (1963). Discussion of Professor Bartlett's paper. JRSS B, 25, 294.

    Hinkley, D. V. (1970). Inference about the change-point in a sequence of random
    variables. Biometrika, 57(1), 1-17.

    Siegmund, D. (1988). Confidence sets in change-point problems. International
    Statistical Review, 56(1), 31-48.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit.changepoint import amoc
    >>> res = amoc(toolkit.datasets.load_scores("sgdata"), n_boot=199, seed=1,
    ...            progress=False)
    >>> list(res.table.columns) == toolkit.changepoint.AMOC_COLUMNS
    True
    """
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    min_size = _check_common(model, min_size)
    if method not in ("bootstrap", "permutation"):
        raise ValueError("The 'method' parameter must be one of {'bootstrap', 'permutation'}. "
                         f"Got {method!r} instead.")
    if method == "permutation" and model != "mean":
        raise ValueError(f"method='permutation' needs exchangeable scores, which model="
                         f"{model!r} does not assume. Fix: use method='bootstrap'.")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number >= 1; got {n_boot!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level!r}.")
    settings = {
        **scores.roles, "instrument": scores.instrument.name if scores.instrument else None,
        "model": model, "min_size": min_size, "method": method, "n_boot": int(n_boot),
        "level": level, "seed": seed if not isinstance(seed, np.random.Generator)
        else "Generator", "toolkit_version": scores.settings.get("toolkit_version"),
    }
    matrix, rows, skipped = _screen(scores, min_size, "the at-most-one-change test")
    p = _pack(matrix, scores.sessions, rows)
    if len(p.n) == 0:
        table = pd.DataFrame({c: pd.Series(dtype=float) for c in AMOC_COLUMNS})
        sets = pd.DataFrame({c: pd.Series(dtype=float) for c in CONFIDENCE_SET_COLUMNS})
        return AmocTest(table=table, settings=settings, skipped=_sorted(skipped),
                        confidence_sets=sets, scores=scores)
    out = _amoc_core(p, model, min_size, method, int(n_boot), level, _rng(seed), progress)
    n_rows = len(p.n)
    r = np.arange(n_rows)
    k_hat = out["k_hat"]
    fitted = _one_change_fit(p, model, k_hat)
    pre_mean = _seg_mean(p, r, np.zeros(n_rows, np.int64), k_hat) + p.y_mean
    post_mean = _seg_mean(p, r, k_hat, p.n) + p.y_mean
    if model == "broken_stick":
        jump = np.zeros(n_rows)
    else:
        s2 = _Stats(p, model)
        ybar, tbar, slope = _line_rows(s2, r, np.zeros(n_rows, np.int64), k_hat)
        pre_at = ybar + slope * (p.t[r, k_hat] - tbar)
        jump = fitted[r, k_hat] - pre_at
    in_set = out["in_set"]
    sess = np.concatenate([p.sessions, np.full((n_rows, 1), -1)], axis=1)
    ids = scores.clients.to_numpy()[p.rows]
    set_sessions = np.where(in_set, sess, np.nan)
    table = pd.DataFrame({
        "client": ids,
        "session": p.sessions[r, k_hat],
        "statistic": out["statistic"],
        "p_value": out["p_value"],
        "pre_mean": pre_mean,
        "post_mean": post_mean,
        "jump": jump,
        "ci_lower": np.nanmin(set_sessions, axis=1).astype(np.int64),
        "ci_upper": np.nanmax(set_sessions, axis=1).astype(np.int64),
        "n_in_set": in_set.sum(axis=1).astype(np.int64),
    })
    allowed = np.isfinite(out["rss1"])
    cr, ck = np.nonzero(allowed)
    sets = pd.DataFrame({
        "client": ids[cr],
        "session": sess[cr, ck].astype(np.int64),
        "lr": out["lr"][cr, ck],
        "in_set": in_set[cr, ck],
    })
    return AmocTest(table=table[AMOC_COLUMNS], settings=settings, skipped=_sorted(skipped),
                    confidence_sets=sets, scores=scores)


# =======================================================================================
# Report
# =======================================================================================
def report_section(report, scores: LongScores) -> None:
    """Add the change-point section: settings, detected changes and a few clients' fits.

    Runs :func:`detect` (mean shift, MBIC, robust per-client noise SD) with the
    at-most-one-change p-values, then adds a summary table, the table of changes and a
    figure of four clients' fitted segments.
    """
    import matplotlib.pyplot as plt

    from .plots.changepoint import segments as plot_segments

    with warnings.catch_warnings():
        # kept in cp.warnings and shown as text below, not printed during the report
        warnings.simplefilter("ignore", ToolkitWarning)
        cp = detect(scores, test=True, n_boot=499, seed=0, progress=False)
    report.heading("Change points")
    report.text(
        "Exact optimal segmentation of each client's scores into periods of constant mean "
        "(MBIC penalty as in R's changepoint package; noise SD estimated robustly for each "
        "client from successive differences, so results do not depend on the score scale). "
        "p-values are from a Monte Carlo at-most-one-change test. A change is flagged as a "
        "breakthrough when the jump improves by at least the reliable-change cut-off. "
        "Gradual improvement has no place in this model and shows up as a staircase of "
        "small steps; see the linear models in toolkit.changepoint for that."
    )
    for message in cp.warnings:
        report.text(f"Note: {message}")
    report.table("changepoint_summary", cp.summary(), "Change points: overview")
    report.table("changepoints", cp.table, "Detected changes, one row per change")
    report.table("changepoint_skipped", cp.skipped, "Clients not analysed, with the reason")
    if len(cp.clients) == 0:
        return
    # Four clients spread over the range of change counts (fewest to most).
    ordered = cp.clients.sort_values(["n_changes", "client"], kind="stable")["client"]
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, min(4, len(ordered)))))
    shown = list(ordered.iloc[picks.astype(int)])
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=True)
    for ax, c in zip(axes.flat, shown):
        plot_segments(cp, client=c, ax=ax)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.tight_layout()
    report.figure("changepoint_segments", fig,
                  "Fitted segments of four clients, from the fewest changes to the most.")
