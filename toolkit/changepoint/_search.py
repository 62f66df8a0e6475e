"""Exact optimal segmentation, by dynamic programming vectorised across clients.

Optimal partitioning (Jackson et al., 2005) without a limit on the number of changes,
segment neighbourhood (Auger & Lawrence, 1989) with one, and an exhaustive search over knot
sets for the continuous broken stick. Also R changepoint's PELT (Killick et al., 2012) with
its own pruning and candidate rules, for reproducing ``cpt.mean`` and ``cpt.meanvar``.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._options import progress_bar
from ._costs import Stats
from ._packed import Packed

__all__ = ["run_segmentation", "broken_stick_fit", "chunks", "CELLS_PER_CHUNK", "SEARCHES"]

CELLS_PER_CHUNK = 4_000_000  # clients x cells per block: bounds memory on large cohorts
#: The named choices of ``search``: the exact optimum, or R changepoint's PELT.
SEARCHES = ("exact", "pelt")


def _segment_cost(
    stats: Stats, s: np.ndarray, e: np.ndarray, scale: np.ndarray, mbic: bool
) -> np.ndarray:
    """Cost of segments [s, e) (positions shared by all clients), plus log(length) under
    MBIC: RSS / sigma^2 with ``scale`` = 1 / sigma^2 per client, or for ``meanvar`` the
    Gaussian -2 log-likelihood with the segment's own variance (``scale`` = the clients'
    variance floors)."""
    if stats.model == "meanvar":
        cost = stats.meanvar_cost(s, e, scale)
    else:
        rss = stats.rss(s, e)
        cost = rss * scale.reshape((-1,) + (1,) * (rss.ndim - 1))
    if mbic:
        cost = cost + np.log(np.maximum(stats.diff("m", s, e), 1.0))
    return cost


def _optimal_partition(
    stats: Stats, n: np.ndarray, inv_var: np.ndarray, beta: np.ndarray, mbic: bool, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
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


def _pelt(
    stats: Stats, n: np.ndarray, scale: np.ndarray, beta: np.ndarray, mbic: bool, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """R changepoint's PELT (``src/PELT_one_func_minseglen.c``), for all clients at once.

    F(t) = min over the candidate set of F(tau) + C(tau, t) + beta, with F(0) = -beta and
    F(j) = C(0, j) for min_size <= j < 2 min_size; the candidate set starts as {0, min_size}
    and, after each t, keeps the tau with F(tau) + C(tau, t) <= F(t) and gains
    t - min_size + 1. Ties go to the earliest candidate (R's ``min_which``). With MBIC's
    log(length) term (and the zero-variance floor) this pruning can discard the optimum.
    """
    n_rows, length = len(n), int(n.max())
    m = min_size
    rows = np.arange(n_rows)
    f = np.zeros((n_rows, length + 1))
    f[:, 0] = -beta
    last = np.zeros((n_rows, length + 1), dtype=np.int32)
    for j in range(m, min(2 * m, length + 1)):
        f[:, j] = _segment_cost(stats, np.array([0]), np.array([j]), scale, mbic)[:, 0]
    alive = np.zeros((n_rows, length + 1), dtype=bool)
    alive[:, 0] = True
    if m <= length:
        alive[:, m] = True
    for t in range(2 * m, length + 1):
        cand = np.arange(t - m + 1)
        cost = _segment_cost(stats, cand, np.array([t]), scale, mbic)
        tmp = np.where(alive[:, : t - m + 1], f[:, : t - m + 1] + cost + beta[:, None], np.inf)
        j = np.argmin(tmp, axis=1)
        best = tmp[rows, j]
        f[:, t] = best
        last[:, t] = j
        alive[:, : t - m + 1] &= tmp <= (best + beta)[:, None]
        alive[:, t - m + 1] = True
    changes = np.zeros((n_rows, length + 1), dtype=bool)
    pos = n.copy()
    while (pos > 0).any():
        prev = last[rows, pos]
        prev[pos == 0] = 0
        changes[rows[prev > 0], prev[prev > 0]] = True
        pos = prev
    return changes, f[rows, n]


def _segment_neighbourhood(
    stats: Stats,
    n: np.ndarray,
    inv_var: np.ndarray,
    beta: np.ndarray,
    mbic: bool,
    min_size: int,
    max_changes: int,
) -> tuple[np.ndarray, np.ndarray]:
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


def _broken_stick(
    p: Packed,
    inv_var: np.ndarray,
    beta: np.ndarray,
    mbic: bool,
    min_size: int,
    max_changes: int,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive search over knot sets (at most ``max_changes`` knots) for the continuous
    piecewise-linear model. A knot at position k makes k the first position of the new
    piece; the line is continuous at the knot's session."""
    n_rows, length = len(p.n), p.length
    valid = (np.arange(length)[None, :] < p.n[:, None]).astype(float)
    scale = np.maximum(np.abs(p.t).max(axis=1, keepdims=True), 1.0)
    tt = p.t / scale
    best = np.full(n_rows, np.inf)
    best_idx = np.zeros(n_rows, dtype=np.int64)
    sets: list[tuple[int, ...]] = [()]
    for k in range(1, max_changes + 1):
        for combo in itertools.combinations(range(min_size, length - min_size + 1), k):
            if all(b - a >= min_size for a, b in zip(combo, combo[1:])):
                sets.append(combo)
    yy = (p.y * p.y * valid).sum(axis=1)
    for idx, knots in enumerate(progress_bar(sets, progress=progress, desc="broken stick")):
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
            bounds = (
                np.column_stack([np.zeros(n_rows), *(np.full(n_rows, kn) for kn in knots), p.n])
                if knots
                else np.column_stack([np.zeros(n_rows), p.n])
            )
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


def broken_stick_fit(p: Packed, pos: np.ndarray) -> np.ndarray:
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


def run_segmentation(
    p: Packed,
    model: str,
    sd: np.ndarray,
    beta: np.ndarray,
    mbic: bool,
    min_size: int,
    max_changes: int | None,
    progress: bool | None,
    search: str = "exact",
    var_floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Change indicator (N, L+1) and minimised objective (N,) of every packed client.

    ``sd`` scales the cost of the mean and linear models; ``meanvar`` uses ``var_floor``
    (one variance floor per client) instead."""
    if model == "meanvar":
        inv_var = np.zeros(len(p.n)) if var_floor is None else np.asarray(var_floor, float)
    else:
        with np.errstate(divide="ignore"):
            inv_var = 1.0 / (sd * sd)
    if model == "broken_stick":
        if max_changes is None:  # int(None) below; detect() always sets it for this model
            raise TypeError(
                "int() argument must be a string, a bytes-like object or a real number, "
                "not 'NoneType'"
            )
        return _broken_stick(p, inv_var, beta, mbic, min_size, int(max_changes), progress)
    changes = np.zeros((len(p.n), p.length + 1), dtype=bool)
    objective = np.empty(len(p.n))
    cells = (p.length + 1) ** 2 if max_changes is not None else 8 * (p.length + 1)
    for idx in progress_bar(chunks(len(p.n), cells), progress=progress, desc="change points"):
        sub = p.take(idx)
        stats = Stats(sub, model)
        if search == "pelt":
            ch, obj = _pelt(stats, sub.n, inv_var[idx], beta[idx], mbic, min_size)
        elif max_changes is None:
            ch, obj = _optimal_partition(stats, sub.n, inv_var[idx], beta[idx], mbic, min_size)
        else:
            ch, obj = _segment_neighbourhood(
                stats, sub.n, inv_var[idx], beta[idx], mbic, min_size, int(max_changes)
            )
        changes[idx, : ch.shape[1]] = ch
        objective[idx] = obj
    return changes, objective


def chunks(n_rows: int, cells: int) -> list[np.ndarray]:
    """Row blocks whose arrays of ``cells`` per row stay within :data:`CELLS_PER_CHUNK`."""
    size = max(1, CELLS_PER_CHUNK // max(cells, 1))
    return [np.arange(i, min(i + size, n_rows)) for i in range(0, n_rows, size)]
