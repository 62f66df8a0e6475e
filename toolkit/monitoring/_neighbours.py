"""Expected response from the nearest neighbours ("people like me", Lutz et al., 2005).

For a new client with matching variables ``f`` (intake score, chosen covariates, course
length), the *k* reference clients closest to ``f`` are its neighbours; their observed scores
at each session after intake give the expected score (their mean), the band (their
percentiles) and the spread (their SD). Distances are computed on variables standardised by
the reference cohort's SDs (``"euclidean"``), or with the reference covariance
(``"mahalanobis"``). Ties at the *k*-th distance are broken by reference order (sorted client
ids), so the neighbours, and every number from them, are reproducible and the same for every
client with the same matching values.

Clients with identical matching values share their neighbours, so the search runs once per
distinct pattern (with the intake score alone, one per possible score), in chunks, exactly.

References
----------
Lutz, W., Leach, C., Barkham, M., Lucock, M., Stiles, W. B., Evans, C., Noble, R., &
Iveson, S. (2005). Predicting change for individual psychotherapy clients on the basis of
their nearest neighbors. Journal of Consulting and Clinical Psychology, 73(5), 904-913.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NeighbourModel", "nearest", "neighbour_moments", "column_quantiles"]

#: Distances computed per chunk of patterns (patterns x reference clients).
_CHUNK_CELLS = 20_000_000


@dataclass(frozen=True)
class NeighbourModel:
    """The reference cohort as the neighbours method uses it."""

    features: np.ndarray  # (R, d) raw matching variables of the reference clients
    post: np.ndarray  # (R, E) post-intake scores, NaN = missing
    whitening: np.ndarray  # (d, d): distances are || (f - g) @ whitening ||
    k: int
    min_observed: int

    @property
    def n_clients(self) -> int:
        return len(self.features)


def nearest(model: NeighbourModel, queries: np.ndarray) -> np.ndarray:
    """Indices (into the reference) of each query's k nearest neighbours, shape (Q, k).

    Exactly the k smallest distances; among equal distances at the k-th place the lowest
    reference indices are taken. Each row is in increasing reference order.
    """
    ref = model.features @ model.whitening
    qry = queries @ model.whitening
    k = min(model.k, len(ref))
    out = np.empty((len(qry), k), dtype=np.int64)
    step = max(1, _CHUNK_CELLS // max(1, len(ref)))
    ref_sq = np.sum(ref * ref, axis=1)
    for lo in range(0, len(qry), step):
        q = qry[lo : lo + step]
        if ref.shape[1] == 1:
            d = np.abs(q[:, :1] - ref[None, :, 0])  # exact in one dimension
        else:
            d = np.sum(q * q, axis=1)[:, None] + ref_sq[None, :] - 2.0 * (q @ ref.T)
            np.maximum(d, 0.0, out=d)
            # Round away the last bits of floating-point noise so that equal distances tie.
            d = np.round(d, 10)
        kth = np.partition(d, k - 1, axis=1)[:, k - 1]
        below = d < kth[:, None]
        need = k - below.sum(axis=1)
        at = d == kth[:, None]
        take = below | (at & (np.cumsum(at, axis=1) <= need[:, None]))
        rows, cols = np.nonzero(take)
        out[lo : lo + len(q)] = cols.reshape(len(q), k)
    return out


def column_quantiles(values: np.ndarray, probs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles along axis 1 of a (P, k, E) array ignoring NaN, by linear interpolation
    (numpy's default, Hyndman & Fan's type 7); NaN where a column has no value."""
    v = np.sort(values, axis=1)  # NaN sort last
    count = np.sum(~np.isnan(values), axis=1)  # (P, E)
    out = []
    for p in probs:
        h = (np.maximum(count, 1) - 1) * p
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        frac = h - lo
        a = np.take_along_axis(v, lo[:, None, :], axis=1)[:, 0, :]
        b = np.take_along_axis(v, hi[:, None, :], axis=1)[:, 0, :]
        with np.errstate(invalid="ignore"):
            q = a + frac * (b - a)
        q[count == 0] = np.nan
        out.append(q)
    return out


def neighbour_moments(
    model: NeighbourModel, queries: np.ndarray, level: float
) -> tuple[np.ndarray, ...]:
    """Expected score, SD, band and neighbour counts for each query, each shape (Q, E).

    Returns ``(mean, sd, lower, upper, count)``: the mean, SD (n - 1) and the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the neighbours' observed scores
    at each session; NaN (count kept) where fewer than ``min_observed`` neighbours were
    observed there.
    """
    patterns, inverse = np.unique(queries, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    e = model.post.shape[1]
    mean = np.full((len(patterns), e), np.nan)
    sd, lower, upper = mean.copy(), mean.copy(), mean.copy()
    count = np.zeros((len(patterns), e), dtype=np.int64)
    k = min(model.k, model.n_clients)
    step = max(1, _CHUNK_CELLS // max(1, k * e))
    probs = ((1.0 - level) / 2.0, (1.0 + level) / 2.0)
    for lo in range(0, len(patterns), step):
        idx = nearest(model, patterns[lo : lo + step])
        vals = model.post[idx]  # (p, k, E)
        n = np.sum(~np.isnan(vals), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.nansum(vals, axis=1) / n
            dev = np.where(np.isnan(vals), 0.0, vals - m[:, None, :])
            s = np.sqrt(np.sum(dev * dev, axis=1) / (n - 1))
        ql, qu = column_quantiles(vals, probs)
        enough = n >= model.min_observed
        sl = slice(lo, lo + len(idx))
        mean[sl] = np.where(enough, m, np.nan)
        sd[sl] = np.where(enough & (n > 1), s, np.nan)
        lower[sl] = np.where(enough, ql, np.nan)
        upper[sl] = np.where(enough, qu, np.nan)
        count[sl] = n
    return mean[inverse], sd[inverse], lower[inverse], upper[inverse], count[inverse]
