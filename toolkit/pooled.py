"""Statistics pooled across clients, computed once and exactly the same in any partitioning.

Two quantities describe the whole cohort rather than one client, and methods that use them
say so in their ``settings``:

- the **sample SD of pre-treatment scores** (each client's first observed score), which the
  reliable-change criterion falls back on when the instrument has no published SD
  (:mod:`toolkit.criterion`);
- the **pooled noise SD**, a robust estimate of measurement noise from every client's
  successive differences, which scales the change-point cost (:func:`toolkit.changepoint.detect`).

Both are computed from mergeable parts (:func:`parts`), value-count tables that combine
exactly (:func:`combine`), so that a registry split into partitions, on Dask or by hand, gets
bit-for-bit the numbers of the in-memory run. A client's own answer then depends only on its
own rows and these recorded numbers.

Examples
--------
>>> import numpy as np
>>> from toolkit import pooled
>>> x = np.array([[10.0, 12, 11, 13, 12], [20, 19, np.nan, 21, 20]])
>>> whole = pooled.combine([pooled.parts(x)])
>>> halves = pooled.combine([pooled.parts(x[:1]), pooled.parts(x[1:])])
>>> whole == halves
True
>>> round(whole.first_score_sd, 3)
7.071
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PooledStatistics", "PooledParts", "parts", "combine", "MIN_NOISE_OBSERVED"]

#: Clients contribute to the pooled noise SD from this many observed scores on (the fewest
#: any change-point model analyses).
MIN_NOISE_OBSERVED = 4
_MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4), as R's mad() rounds it: MAD -> SD for Gaussian data
_MEANDEV_TO_SD = math.sqrt(math.pi / 2)  # mean absolute deviation -> SD for Gaussian data


@dataclass(frozen=True)
class PooledStatistics:
    """Cohort-level numbers that per-client methods may use; see the module docstring.

    Attributes
    ----------
    n_first : int
        Clients with at least one observed score (contributing ``first_score_*``).
    first_score_mean, first_score_sd : float
        Mean and SD (n - 1 denominator) of each client's first observed score; NaN with
        fewer than 2 clients.
    n_noise : int
        Clients with at least :data:`MIN_NOISE_OBSERVED` observed scores (contributing the
        noise SD).
    noise_sd : float
        ``1.4826 * median|d - median_i(d)| / sqrt(2)`` over every contributing client's
        successive differences ``d`` of observed scores, each centred by that client's own
        median difference; when that median is 0 (repeated identical steps), the mean
        absolute deviation times ``sqrt(pi / 2) / sqrt(2)``. NaN without contributing clients.
    noise_sd_method : str
        ``"MAD"``, ``"mean absolute deviation"`` or ``"not available"``.
    """

    n_first: int
    first_score_mean: float
    first_score_sd: float
    n_noise: int
    noise_sd: float
    noise_sd_method: str

    def settings(self) -> dict[str, float | int | str]:
        """The numbers as plain values, for a result's ``settings``."""
        return {
            "pooled_first_score_sd": self.first_score_sd,
            "pooled_noise_sd": self.noise_sd,
            "pooled_n_clients": self.n_first,
        }


@dataclass(frozen=True, eq=False)
class PooledParts:
    """Mergeable parts of :class:`PooledStatistics`: value counts, sorted by value."""

    first_values: np.ndarray
    first_counts: np.ndarray
    dev_values: np.ndarray
    dev_counts: np.ndarray
    n_noise: int


def _counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, c = np.unique(values, return_counts=True)
    return v.astype(np.float64), c.astype(np.int64)


def _merge(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([v for v, _ in pairs]) if pairs else np.empty(0)
    counts = np.concatenate([c for _, c in pairs]) if pairs else np.empty(0, np.int64)
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, np.bincount(inverse.reshape(-1), weights=counts, minlength=len(uniq)).astype(
        np.int64
    )


def parts(matrix: np.ndarray) -> PooledParts:
    """The mergeable parts of one block of clients.

    Parameters
    ----------
    matrix : (clients, sessions) float array
        Scores with NaN where a session has no observed score (e.g.
        :meth:`toolkit.LongScores.to_matrix`); each row one client.
    """
    x = np.asarray(matrix, dtype=np.float64)
    seen = ~np.isnan(x)
    n = seen.sum(axis=1)
    has = n > 0
    first = x[np.flatnonzero(has), np.argmax(seen[has], axis=1)]
    # Successive differences of observed scores (a missed session is skipped over): the
    # previous observed value of each cell by a forward fill of column indices.
    rows = np.flatnonzero(n >= MIN_NOISE_OBSERVED)
    xs, ss = x[rows], seen[rows]
    idx = np.where(ss, np.arange(x.shape[1])[None, :], -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    prev = np.concatenate([np.full((len(rows), 1), -1), idx[:, :-1]], axis=1)
    has_prev = ss & (prev >= 0)
    r = np.arange(len(rows))[:, None]
    d = np.where(has_prev, xs - xs[r, np.maximum(prev, 0)], np.nan)
    # Each client's differences centred by its own median difference.
    med = np.nanmedian(d, axis=1) if len(rows) else np.empty(0)
    dev = np.abs(d - med[:, None])
    fv, fc = _counts(first)
    dv, dc = _counts(dev[~np.isnan(dev)])
    return PooledParts(fv, fc, dv, dc, int(len(rows)))


def combine(pieces: Sequence[PooledParts]) -> PooledStatistics:
    """Merge the parts of every block into the cohort's :class:`PooledStatistics`.

    The merged value-count tables are the same whatever the blocks, so the result is too.
    """
    fv, fc = _merge([(p.first_values, p.first_counts) for p in pieces])
    dv, dc = _merge([(p.dev_values, p.dev_counts) for p in pieces])
    n_first = int(fc.sum())
    mean = float(np.sum(fv * fc) / n_first) if n_first else math.nan
    sd = float(np.sqrt(np.sum(fc * (fv - mean) ** 2) / (n_first - 1))) if n_first > 1 else math.nan
    n_dev = int(dc.sum())
    method = "not available"
    noise = math.nan
    if n_dev:
        cum = np.cumsum(dc)
        lo = dv[np.searchsorted(cum, (n_dev + 1) // 2)]  # the lower and upper middle values
        hi = dv[np.searchsorted(cum, n_dev // 2 + 1)]
        mad = 0.5 * (lo + hi)
        noise, method = _MAD_TO_SD * mad / math.sqrt(2), "MAD"
        if not noise > 0:
            noise = _MEANDEV_TO_SD * float(np.sum(dv * dc) / n_dev) / math.sqrt(2)
            method = "mean absolute deviation"
    return PooledStatistics(
        n_first=n_first,
        first_score_mean=mean,
        first_score_sd=sd,
        n_noise=int(sum(p.n_noise for p in pieces)),
        noise_sd=float(noise),
        noise_sd_method=method,
    )
