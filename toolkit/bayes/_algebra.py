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
the sampler, which needs the value and gradient thousands of times: it also sums over change
status, session and jump component, so the sampler's graph holds one operation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import numpy as np

__all__ = ["evidence", "cholesky", "forward", "backward", "marginal_kernel", "kernel_layout"]


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


def _evidence_source(  # pragma: no cover - compiled by marginal_kernel()
    G, h, yy, n, m, vr, inv, const, logvar, Jx, ev, js, jm, jv
):
    """Log evidence and its derivatives for every client at one (candidate, component).

    ``G`` (J, J, N) and ``h`` (J, N) are the clients' sums with clients last, ``m`` (J, N)
    the prior means, ``vr`` (J,) the prior variances, ``inv`` the noise precisions,
    ``const`` (N,) ``-n/2 log(2 pi s2)`` and ``logvar`` the log prior determinant; only the
    first ``Jx`` effects are used. Fills ``ev``, ``js`` (N,) and ``jm``, ``jv`` (J, N): the
    derivatives with respect to noise variance, prior means and prior variances. Every loop
    over clients is innermost and without branches, so that it vectorises.
    """
    N = inv.shape[0]
    L = np.empty((Jx, Jx, N))
    Li = np.empty((Jx, Jx, N))
    g = np.empty((Jx, N))
    v = np.empty((Jx, N))
    d = np.empty((Jx, N))
    Gm = np.empty((Jx, N))
    t = np.empty(N)
    prod = np.ones(N)
    quad = np.zeros(N)
    rr = yy.copy()
    rss = yy.copy()
    trace = np.zeros(N)
    for j in range(Jx):
        for i in range(N):
            Gm[j, i] = 0.0
        for col in range(Jx):
            for i in range(N):
                Gm[j, i] += G[j, col, i] * m[col, i]
        for i in range(N):
            g[j, i] = (h[j, i] - Gm[j, i]) * inv[i]
            rr[i] -= m[j, i] * (2.0 * h[j, i] - Gm[j, i])
    for j in range(Jx):  # Cholesky factor of P = diag(1 / vr) + G / s2
        w = 1.0 / vr[j]
        for i in range(N):
            t[i] = G[j, j, i] * inv[i] + w
        for r in range(j):
            for i in range(N):
                t[i] -= L[j, r, i] * L[j, r, i]
        for i in range(N):
            L[j, j, i] = np.sqrt(t[i])
            prod[i] *= L[j, j, i]
        for a in range(j + 1, Jx):
            for i in range(N):
                t[i] = G[a, j, i] * inv[i]
            for r in range(j):
                for i in range(N):
                    t[i] -= L[a, r, i] * L[j, r, i]
            for i in range(N):
                L[a, j, i] = t[i] / L[j, j, i]
    for j in range(Jx):  # v = L^-1 g
        for i in range(N):
            t[i] = g[j, i]
        for r in range(j):
            for i in range(N):
                t[i] -= L[j, r, i] * v[r, i]
        for i in range(N):
            v[j, i] = t[i] / L[j, j, i]
            quad[i] += v[j, i] * v[j, i]
    for i in range(N):
        ev[i] = const[i] - 0.5 * logvar - np.log(prod[i]) - 0.5 * rr[i] * inv[i] + 0.5 * quad[i]
    for j in range(Jx - 1, -1, -1):  # d = L^-T v = P^-1 g
        for i in range(N):
            t[i] = v[j, i]
        for r in range(j + 1, Jx):
            for i in range(N):
                t[i] -= L[r, j, i] * d[r, i]
        for i in range(N):
            d[j, i] = t[i] / L[j, j, i]
    for j in range(Jx):  # L^-1, for the diagonal of P^-1
        for i in range(N):
            Li[j, j, i] = 1.0 / L[j, j, i]
        for a in range(j + 1, Jx):
            for i in range(N):
                t[i] = 0.0
            for r in range(j, a):
                for i in range(N):
                    t[i] -= L[a, r, i] * Li[r, j, i]
            for i in range(N):
                Li[a, j, i] = t[i] / L[a, a, i]
    for j in range(Jx):
        vj = vr[j]
        for i in range(N):
            t[i] = 0.0
        for r in range(j, Jx):
            for i in range(N):
                t[i] += Li[r, j, i] * Li[r, j, i]
        for i in range(N):
            jm[j, i] = d[j, i] / vj
            jv[j, i] = 0.5 * (d[j, i] * d[j, i] / (vj * vj) - 1.0 / vj + t[i] / (vj * vj))
            trace[i] += t[i] / vj
            d[j, i] += m[j, i]  # now the posterior mean theta
    for j in range(Jx):
        for i in range(N):
            t[i] = 0.0
        for col in range(Jx):
            for i in range(N):
                t[i] += G[j, col, i] * d[col, i]
        for i in range(N):
            rss[i] += d[j, i] * (t[i] - 2.0 * h[j, i])
    for i in range(N):
        js[i] = 0.5 * (rss[i] * inv[i] * inv[i] - n[i] * inv[i] + (Jx - trace[i]) * inv[i])


def _marginal_source(  # pragma: no cover - compiled by marginal_kernel()
    G,
    h,
    G0,
    h0,
    yy,
    n,
    logprior0,
    sessions,
    valid,
    mean,
    jmean,
    var,
    jvar,
    sigma2,
    logw,
    sign,
    pi,
    loc,
    mode,
    pooled,
    ji,
    J0,
    ll,
    d_mean,
    d_jmean,
    d_var,
    d_jvar,
    d_sigma2,
    d_logw,
    d_pi,
    d_loc,
):
    """Each client's marginal log-likelihood and its derivatives, in one compiled loop.

    The change session ``k`` (prior ``logprior0``, or with ``pooled`` a discretised normal of
    mean ``loc[0]`` and SD ``loc[1]`` over the ``valid`` candidates at ``sessions``) and the
    jump component ``c`` (weight ``sign[c] * exp(logw[i, c])``, prior mean ``jmean[i, c]``
    and variance ``jvar[c]`` of effect ``ji``) are summed out, and so is change status
    (``mode`` 0: a change with probability ``pi[0]``; 1: always; 2: never). ``G``, ``h``, ``G0`` and
    ``h0`` are in the layout of :func:`kernel_layout`. Fills ``ll`` (N,) and the
    derivatives of each ``ll[i]`` with respect to every input, per client.

    A component of negative ``sign`` is subtracted: a jump density that is a normal minus a
    narrower normal (the non-local slab, whose density vanishes at no jump) is a signed
    sum of normals, and so is its evidence. The derivatives with respect to ``logw`` are
    those of the log absolute weights.
    """
    K, J, N = h.shape
    C = logw.shape[1]
    lp = np.empty(K)
    zk = np.empty(K)
    ew = np.empty((K, C))
    log2pi = np.log(2 * np.pi)
    inv = 1.0 / sigma2
    const = -0.5 * n * (log2pi + np.log(sigma2))
    # -- evidence of every (k, c) and of no change, for all clients at once -----------------
    # (clients innermost, so that the compiler runs several clients per instruction)
    logvar_none = 0.0
    for j in range(J0):
        logvar_none += np.log(var[j])
    m = np.empty((J, N))
    vr = np.empty(J)
    for j in range(J0):
        vr[j] = var[j]
        for i in range(N):
            m[j, i] = mean[i, j]
    ev0 = np.empty(N)
    js0 = np.empty(N)
    jm0 = np.empty((J, N))
    jv0 = np.empty((J, N))
    _evidence(G0, h0, yy, n, m, vr, inv, const, logvar_none, J0, ev0, js0, jm0, jv0)
    e_kc = np.full((K, C, N), -np.inf)
    js_kc = np.zeros((K, C, N))
    jm_kc = np.zeros((K, C, J, N))
    jv_kc = np.zeros((K, C, J, N))
    if mode != 2:
        for c in range(C):
            logvar = 0.0
            for j in range(J):
                if j == ji:
                    vr[j] = jvar[c]
                    for i in range(N):
                        m[j, i] = jmean[i, c]
                else:
                    vr[j] = var[j]
                    for i in range(N):
                        m[j, i] = mean[i, j]
                logvar += np.log(vr[j])
            for k in range(K):
                _evidence(G[k], h[k], yy, n, m, vr, inv, const, logvar, J,
                          e_kc[k, c], js_kc[k, c], jm_kc[k, c], jv_kc[k, c])  # fmt: skip
    for i in range(N):
        for j in range(J):
            d_mean[i, j] = jm0[j, i] if j < J0 else 0.0
            d_var[i, j] = jv0[j, i] if j < J0 else 0.0
        for c in range(C):
            d_jmean[i, c] = 0.0
            d_jvar[i, c] = 0.0
            d_logw[i, c] = 0.0
        d_loc[i, 0] = 0.0
        d_loc[i, 1] = 0.0
        d_pi[i] = 0.0
        if mode == 2:
            ll[i] = ev0[i]
            d_sigma2[i] = js0[i]
            continue
        # -- log prior of the change session --------------------------------------------------
        if pooled:
            mu_k, sd_k = loc[0], loc[1]
            top = -np.inf
            for k in range(K):
                if valid[i, k]:
                    zk[k] = (sessions[k] - mu_k) / sd_k
                    lp[k] = -0.5 * zk[k] * zk[k]
                    if lp[k] > top:
                        top = lp[k]
            tot = 0.0
            for k in range(K):
                if valid[i, k]:
                    tot += np.exp(lp[k] - top)
            norm = top + np.log(tot)
            for k in range(K):
                if valid[i, k]:
                    lp[k] -= norm
        else:
            for k in range(K):
                lp[k] = logprior0[i, k]
        # -- sum over (k, c), then over change status -----------------------------------------
        top = -np.inf
        for k in range(K):
            if valid[i, k]:
                for c in range(C):
                    a = logw[i, c] + lp[k] + e_kc[k, c, i]
                    if a > top:
                        top = a
        tot = 0.0
        for k in range(K):
            if valid[i, k]:
                for c in range(C):
                    ew[k, c] = sign[c] * np.exp(logw[i, c] + lp[k] + e_kc[k, c, i] - top)
                    tot += ew[k, c]
        # a signed sum is positive in exact arithmetic; rounding can leave it at zero when
        # the data pin the jump at zero, where the slab has no density
        tot = max(tot, 1e-300)
        lse = top + np.log(tot)
        if mode == 0:
            lc = np.log(pi[0]) + lse
            l0 = np.log1p(-pi[0]) + ev0[i]
            hi = lc if lc > l0 else l0
            total = hi + np.log(np.exp(lc - hi) + np.exp(l0 - hi))
            r0 = np.exp(l0 - total)
            rc = np.exp(lc - total)
            d_pi[i] = rc / pi[0] - r0 / (1.0 - pi[0])
        else:
            total = lse
            r0 = 0.0
            rc = 1.0
        ll[i] = total
        for j in range(J):
            d_mean[i, j] *= r0
            d_var[i, j] *= r0
        d_sigma2[i] = r0 * js0[i]
        e_z = 0.0
        e_z2 = 0.0
        if pooled:
            for k in range(K):
                if valid[i, k]:
                    p = np.exp(lp[k])
                    e_z += p * zk[k]
                    e_z2 += p * zk[k] * zk[k]
        for k in range(K):
            if not valid[i, k]:
                continue
            rk = 0.0
            for c in range(C):
                r = rc * ew[k, c] / tot
                rk += r
                d_logw[i, c] += r
                d_sigma2[i] += r * js_kc[k, c, i]
                for j in range(J):
                    if j == ji:
                        d_jmean[i, c] += r * jm_kc[k, c, j, i]
                        d_jvar[i, c] += r * jv_kc[k, c, j, i]
                    else:
                        d_mean[i, j] += r * jm_kc[k, c, j, i]
                        d_var[i, j] += r * jv_kc[k, c, j, i]
            if pooled:
                sd_k = loc[1]
                d_loc[i, 0] += rk * (zk[k] - e_z) / sd_k
                d_loc[i, 1] += rk * (zk[k] * zk[k] - e_z2) / sd_k


def kernel_layout(stats: Any) -> tuple[np.ndarray, ...]:
    """The sums of :class:`._design.Stats` with clients last, as the kernel reads them.

    ``G`` (K, J, J, N), ``h`` (K, J, N), ``G0`` (J0, J0, N), ``h0`` (J0, N): a loop over
    clients then reads consecutive numbers (see :func:`_evidence_source`).
    """
    return (
        np.ascontiguousarray(np.moveaxis(stats.G, 0, -1), dtype=np.float64),
        np.ascontiguousarray(np.moveaxis(stats.h, 0, -1), dtype=np.float64),
        np.ascontiguousarray(np.moveaxis(stats.G0[:, 0], 0, -1), dtype=np.float64),
        np.ascontiguousarray(np.moveaxis(stats.h0[:, 0], 0, -1), dtype=np.float64),
    )


@functools.cache
def marginal_kernel() -> Callable[..., None]:
    """The compiled marginal-likelihood kernel (compiled on first use, then cached on disk).

    It releases the GIL, so that chains sampled in threads run in parallel.
    """
    import numba

    options = {"cache": True, "nogil": True, "error_model": "numpy"}
    global _evidence
    _evidence = numba.njit(**options)(_evidence_source)
    return numba.njit(**options)(_marginal_source)


_evidence: Any = _evidence_source  # replaced by its compiled version in marginal_kernel()
