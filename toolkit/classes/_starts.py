"""Random starts for EM, seeded and reproducible.

Two ways to start (``init=``):

- ``"kmeans++"`` (default): each client's own growth curve is estimated by least squares
  (shrunk slightly towards the pooled curve, so that clients with few scores still get one),
  evaluated on every session; k-means++ seeding (Arthur & Vassilvitskii, 2007) on these curves
  picks K clients as centres, the first at random and each further one with probability
  proportional to the squared distance to the nearest centre chosen so far; every client then
  starts in the class of its nearest centre.
- ``"partition"``: every client starts in a class drawn uniformly at random (as flexmix does).

The starting posterior gives each client 0.9 for its start class and shares 0.1 among all
classes, so that no class starts empty; one M-step turns it into starting parameters. All draws
come from one :class:`numpy.random.Generator` seeded with ``seed``, so the same seed gives the
same starts.

References
----------
Arthur, D., & Vassilvitskii, S. (2007). k-means++: The advantages of careful seeding. In
*Proceedings of the 18th Annual ACM-SIAM Symposium on Discrete Algorithms* (pp. 1027-1035).
"""

from __future__ import annotations

import numpy as np

from ._design import Stats
from ._em import EStep, Model, Params, mstep

__all__ = ["INITS", "client_curves", "starting_partitions", "starting_params"]

INITS = ("kmeans++", "partition")
_HARD = 0.9


def client_curves(stats: Stats, x: np.ndarray) -> np.ndarray:
    """Each client's least-squares curve on the session grid (N, S), shrunk towards the pooled
    curve by the weight of half an average observation."""
    p = stats.p
    xtx = stats.xtx.reshape(-1, p, p)
    pooled_xtx = xtx.sum(axis=0)
    pooled = np.linalg.solve(pooled_xtx, stats.xty.sum(axis=0))
    prior = 0.5 * pooled_xtx / stats.n.sum()
    with np.errstate(all="ignore"):
        coef = np.linalg.solve(xtx + prior, (stats.xty + prior @ pooled)[:, :, None])[:, :, 0]
    return coef @ x.T


def starting_partitions(
    curves: np.ndarray, n_classes: int, n_starts: int, init: str, rng: np.random.Generator
) -> np.ndarray:
    """Start classes (n_starts, N) of every client."""
    n = len(curves)
    out = np.empty((n_starts, n), dtype=np.int64)
    for r in range(n_starts):
        if init == "partition" or n_classes == 1:
            out[r] = rng.integers(n_classes, size=n)
            continue
        centres = [int(rng.integers(n))]
        d2 = np.sum((curves - curves[centres[0]]) ** 2, axis=1)
        for _ in range(1, n_classes):
            total = d2.sum()
            if total > 0:
                c = int(rng.choice(n, p=d2 / total))
            else:
                c = int(rng.integers(n))
            centres.append(c)
            d2 = np.minimum(d2, np.sum((curves - curves[c]) ** 2, axis=1))
        dist = np.stack([np.sum((curves - curves[c]) ** 2, axis=1) for c in centres], axis=1)
        out[r] = np.argmin(dist, axis=1)
    return out


def starting_params(
    stats: Stats, partitions: np.ndarray, model: Model, time_variance: float
) -> Params:
    """Parameters after one M-step from the (softened) start partitions."""
    r, n = partitions.shape
    k, q, p = model.n_classes, model.q, stats.p
    cube = np.full((n, k, r), (1.0 - _HARD) / k)  # class-major, as in _em
    cube[np.arange(n)[:, None], partitions.T, np.arange(r)[None, :]] += _HARD
    post = cube.reshape(n, k * r)
    m = r * k
    e = EStep(
        loglik=np.zeros(r),
        post=post,
        logdens=np.zeros((n, m)),
        rr=np.zeros((n, m)),
        bhat=(),
        h=(),
    )
    blank = Params(
        beta=np.zeros((r, k, p)),
        sigma2=np.ones((r, k)),
        cov=np.zeros((r, k, q, q)),
        logpi=np.full((r, k), -np.log(k)),
        alive=np.ones((r, k), dtype=bool),
    )
    lcga = Model(k, 0, model.common_residual, model.common_random)
    first, _ = mstep(stats, e, blank, lcga, 0.0, False)
    if q == 0:
        return first
    # Split the LCGA residual variance: half within clients, half a random intercept; a small
    # random slope variance (a tenth of the residual variance over the variance of time).
    s2 = first.sigma2
    cov = np.zeros((r, k, q, q))
    cov[:, :, 0, 0] = 0.5 * s2
    if q == 2:
        cov[:, :, 1, 1] = 0.1 * s2 / max(time_variance, 1e-12)
    return Params(first.beta, 0.5 * s2, cov, first.logpi, first.alive)
