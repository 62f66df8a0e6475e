"""Closed-form evidence of each client's scores under each candidate change, and its gradient.

Given the change session, a client's scores are a linear regression ``y = X theta + e`` on
their own effects ``theta`` (baseline, slopes, jump) with a normal prior
``theta ~ N(m, diag(v))`` and noise ``e ~ N(0, s2 I)``. The effects integrate out in closed
form. With the posterior precision ``P = diag(1/v) + X'X / s2``, ``g = X'(y - X m) / s2`` and
``delta = P^-1 g`` (posterior mean minus prior mean)::

    log p(y) = -n/2 log(2 pi s2) - 1/2 sum log v - 1/2 log|P| - |y - X m|^2 / (2 s2)
               + g' P^-1 g / 2
    d/dm   = delta / v
    d/dv_j = (delta_j^2 / v_j^2 - 1 / v_j + (P^-1)_jj / v_j^2) / 2
    d/ds2  = (|y - X theta_hat|^2 / s2^2 - n / s2 + (J - sum_j (P^-1)_jj / v_j) / s2) / 2

(matrix determinant lemma and Woodbury identity; Bishop 2006, section 3.5). Everything comes
from per-client sums ``X'X`` (``G``), ``X'y`` (``h``), ``y'y`` and ``n``, so no
(clients x sessions x candidates) array is formed. Two implementations: NumPy on
(draws x clients x candidates) arrays for the post-processing, and one compiled loop for
the sampler, which needs the value and gradient thousands of times.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import numpy as np

__all__ = ["evidence", "cholesky", "forward", "backward", "kernel"]


def cholesky(P: Sequence[Sequence[Any]], J: int) -> list:
    """Cholesky factor of small SPD matrices stored as ``P[..., j, l]`` (lower nested list)."""
    L: list[list[Any]] = [[None] * (j + 1) for j in range(J)]
    for j in range(J):
        L[j][j] = np.sqrt(P[j][j] - sum(L[j][r] ** 2 for r in range(j)))
        for i in range(j + 1, J):
            L[i][j] = (P[i][j] - sum(L[i][r] * L[j][r] for r in range(j))) / L[j][j]
    return L


def forward(L: list, b: list) -> list:
    """Solve ``L x = b`` elementwise (L lower triangular, a nested list of arrays)."""
    x: list = []
    for j in range(len(b)):
        x.append((b[j] - sum(L[j][r] * x[r] for r in range(j))) / L[j][j])
    return x


def backward(L: list, b: list) -> list:
    """Solve ``L' x = b`` elementwise."""
    J = len(b)
    x: list = [None] * J
    for j in reversed(range(J)):
        x[j] = (b[j] - sum(L[r][j] * x[r] for r in range(j + 1, J))) / L[j][j]
    return x


@overload
def evidence(
    G: np.ndarray,
    h: np.ndarray,
    yy: np.ndarray,
    n: np.ndarray,
    mean: list,
    var: list,
    sigma2: np.ndarray,
    *,
    moments: Literal[False] = False,
) -> np.ndarray: ...
@overload
def evidence(
    G: np.ndarray,
    h: np.ndarray,
    yy: np.ndarray,
    n: np.ndarray,
    mean: list,
    var: list,
    sigma2: np.ndarray,
    *,
    moments: Literal[True],
) -> tuple[np.ndarray, list, list]: ...
def evidence(
    G: np.ndarray,
    h: np.ndarray,
    yy: np.ndarray,
    n: np.ndarray,
    mean: list,
    var: list,
    sigma2: np.ndarray,
    *,
    moments: bool = False,
) -> np.ndarray | tuple[np.ndarray, list, list]:
    """Log evidence (see the module docstring) on broadcast arrays.

    ``G`` (N, K, J, J), ``h`` (N, K, J), ``yy`` and ``n`` (N,); ``mean`` and ``var`` are
    lists of J arrays and ``sigma2`` an array, all broadcasting against (..., N, K).
    Returns (..., N, K); with ``moments`` also the Cholesky factor of ``P`` and the posterior
    mean of the effects.
    """
    J = h.shape[-1]
    yy, n = yy[:, None], n[:, None]
    inv = 1.0 / sigma2
    P = [
        [G[..., j, l] * inv + (1.0 / var[j] if j == l else 0.0) for l in range(j + 1)]
        for j in range(J)
    ]
    Gm = [sum(G[..., j, l] * mean[l] for l in range(J)) for j in range(J)]
    g = [(h[..., j] - Gm[j]) * inv for j in range(J)]
    rr = yy - sum(mean[j] * (2 * h[..., j] - Gm[j]) for j in range(J))
    L = cholesky(P, J)
    v = forward(L, g)
    ev = (
        -0.5 * n * np.log(2 * np.pi * sigma2)
        - 0.5 * sum(np.log(var[j]) for j in range(J))
        - sum(np.log(L[j][j]) for j in range(J))
        - 0.5 * rr * inv
        + 0.5 * sum(x * x for x in v)
    )
    if not moments:
        return ev
    delta = backward(L, v)
    return ev, L, [mean[j] + delta[j] for j in range(J)]


def _kernel_source(G, h, yy, n, mean, var, sigma2, ev, jm, jv, js):  # pragma: no cover
    """Evidence and its derivatives for every (client, candidate); compiled by :func:`kernel`.

    Inputs ``G`` (N, K, J, J), ``h`` (N, K, J), ``yy``, ``n``, ``sigma2`` (N,), ``mean``
    (N, J), ``var`` (J,); fills ``ev`` (N, K) and the derivatives of each ``ev[i, k]`` with
    respect to ``mean[i]`` (``jm``, (N, K, J)), ``var`` (``jv``) and ``sigma2[i]`` (``js``).
    """
    N, K, J = h.shape
    L = np.empty((J, J))
    Linv = np.empty((J, J))
    g = np.empty(J)
    v = np.empty(J)
    d = np.empty(J)
    Gm = np.empty(J)
    th = np.empty(J)
    log2pi = np.log(2 * np.pi)
    logvar = 0.0
    for j in range(J):
        logvar += np.log(var[j])
    for i in range(N):
        s2 = sigma2[i]
        inv = 1.0 / s2
        for k in range(K):
            rr = yy[i]
            for j in range(J):
                acc = 0.0
                for col in range(J):
                    acc += G[i, k, j, col] * mean[i, col]
                Gm[j] = acc
                g[j] = (h[i, k, j] - acc) * inv
            for j in range(J):
                rr -= mean[i, j] * (2.0 * h[i, k, j] - Gm[j])
            half_logdet = 0.0
            for j in range(J):
                s = G[i, k, j, j] * inv + 1.0 / var[j]
                for r in range(j):
                    s -= L[j, r] * L[j, r]
                L[j, j] = np.sqrt(s)
                half_logdet += np.log(L[j, j])
                for a in range(j + 1, J):
                    s = G[i, k, a, j] * inv
                    for r in range(j):
                        s -= L[a, r] * L[j, r]
                    L[a, j] = s / L[j, j]
            quad = 0.0
            for j in range(J):
                s = g[j]
                for r in range(j):
                    s -= L[j, r] * v[r]
                v[j] = s / L[j, j]
                quad += v[j] * v[j]
            ev[i, k] = (
                -0.5 * n[i] * (log2pi + np.log(s2))
                - 0.5 * logvar
                - half_logdet
                - 0.5 * rr * inv
                + 0.5 * quad
            )
            for j in range(J - 1, -1, -1):
                s = v[j]
                for r in range(j + 1, J):
                    s -= L[r, j] * d[r]
                d[j] = s / L[j, j]
            for j in range(J):
                Linv[j, j] = 1.0 / L[j, j]
                for a in range(j + 1, J):
                    s = 0.0
                    for r in range(j, a):
                        s -= L[a, r] * Linv[r, j]
                    Linv[a, j] = s / L[a, a]
            trace = 0.0
            for j in range(J):
                pjj = 0.0  # (P^-1)_jj = sum_r (L^-1)_rj^2
                for r in range(j, J):
                    pjj += Linv[r, j] * Linv[r, j]
                vj = var[j]
                jm[i, k, j] = d[j] / vj
                jv[i, k, j] = 0.5 * (d[j] * d[j] / (vj * vj) - 1.0 / vj + pjj / (vj * vj))
                trace += pjj / vj
                th[j] = mean[i, j] + d[j]
            rss = yy[i]
            for j in range(J):
                rss -= 2.0 * th[j] * h[i, k, j]
                for col in range(J):
                    rss += th[j] * G[i, k, j, col] * th[col]
            js[i, k] = 0.5 * (rss * inv * inv - n[i] * inv + (J - trace) * inv)


@functools.cache
def kernel() -> Callable[..., None]:
    """The compiled evidence kernel (compiled on first use, then cached on disk)."""
    import numba

    # NumPy semantics: an extreme proposal (a variance of 0 or inf) yields inf or NaN, which
    # the sampler rejects, instead of raising ZeroDivisionError mid-chain.
    return numba.njit(cache=True, error_model="numpy")(_kernel_source)
