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

__all__ = ["evidence", "cholesky", "forward", "backward", "marginal_kernel"]


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
    jump component ``c`` (log weight ``logw[c]``, prior mean ``jmean[i, c]`` and variance
    ``jvar[c]`` of effect ``ji``) are summed out, and so is change status (``mode`` 0: a
    change with probability ``pi[0]``; 1: always; 2: never). Fills ``ll`` (N,) and the
    derivatives of each ``ll[i]`` with respect to every input, per client.
    """
    N, K, J = h.shape
    C = logw.shape[0]
    L = np.empty((J, J))
    Linv = np.empty((J, J))
    g = np.empty(J)
    v = np.empty(J)
    d = np.empty(J)
    Gm = np.empty(J)
    th = np.empty(J)
    m = np.empty(J)
    vr = np.empty(J)
    jm = np.empty(J)
    jv = np.empty(J)
    e_kc = np.empty((K, C))
    js_kc = np.empty((K, C))
    jm_kc = np.empty((K, C, J))
    jv_kc = np.empty((K, C, J))
    lp = np.empty(K)
    zk = np.empty(K)
    ew = np.empty((K, C))
    log2pi = np.log(2 * np.pi)
    # log|prior covariance| without a change and with one in each jump component (the same
    # for every client: computed once, not per candidate)
    logvar_none = 0.0
    for j in range(J0):
        logvar_none += np.log(var[j])
    logvar_c = np.empty(C)
    for c in range(C):
        acc = 0.0
        for j in range(J):
            acc += np.log(jvar[c]) if j == ji else np.log(var[j])
        logvar_c[c] = acc
    for i in range(N):
        s2 = sigma2[i]
        inv = 1.0 / s2
        const = -0.5 * n[i] * (log2pi + np.log(s2))
        ev0 = 0.0
        js0 = 0.0
        # -- evidence of every (k, c), and of no change (slot K, component 0) ---------------
        for slot in range(K + 1):
            none = slot == K
            if not none and (mode == 2 or not valid[i, slot]):
                continue
            Jx = J0 if none else J
            for c in range(1 if none else C):
                for j in range(Jx):
                    m[j] = mean[i, j]
                    vr[j] = var[j]
                if not none and ji >= 0:
                    m[ji] = jmean[i, c]
                    vr[ji] = jvar[c]
                logvar = logvar_none if none else logvar_c[c]
                rr = yy[i]
                for j in range(Jx):
                    acc = 0.0
                    for col in range(Jx):
                        Gv = G0[i, 0, j, col] if none else G[i, slot, j, col]
                        acc += Gv * m[col]
                    Gm[j] = acc
                    hv = h0[i, 0, j] if none else h[i, slot, j]
                    g[j] = (hv - acc) * inv
                for j in range(Jx):
                    hv = h0[i, 0, j] if none else h[i, slot, j]
                    rr -= m[j] * (2.0 * hv - Gm[j])
                diag_prod = 1.0
                for j in range(Jx):
                    Gjj = G0[i, 0, j, j] if none else G[i, slot, j, j]
                    s = Gjj * inv + 1.0 / vr[j]
                    for r in range(j):
                        s -= L[j, r] * L[j, r]
                    L[j, j] = np.sqrt(s)
                    diag_prod *= L[j, j]
                    for a in range(j + 1, Jx):
                        Gaj = G0[i, 0, a, j] if none else G[i, slot, a, j]
                        s = Gaj * inv
                        for r in range(j):
                            s -= L[a, r] * L[j, r]
                        L[a, j] = s / L[j, j]
                quad = 0.0
                for j in range(Jx):
                    s = g[j]
                    for r in range(j):
                        s -= L[j, r] * v[r]
                    v[j] = s / L[j, j]
                    quad += v[j] * v[j]
                ev = const - 0.5 * logvar - np.log(diag_prod) - 0.5 * rr * inv + 0.5 * quad
                for j in range(Jx - 1, -1, -1):
                    s = v[j]
                    for r in range(j + 1, Jx):
                        s -= L[r, j] * d[r]
                    d[j] = s / L[j, j]
                for j in range(Jx):
                    Linv[j, j] = 1.0 / L[j, j]
                    for a in range(j + 1, Jx):
                        s = 0.0
                        for r in range(j, a):
                            s -= L[a, r] * Linv[r, j]
                        Linv[a, j] = s / L[a, a]
                trace = 0.0
                for j in range(Jx):
                    pjj = 0.0
                    for r in range(j, Jx):
                        pjj += Linv[r, j] * Linv[r, j]
                    vj = vr[j]
                    jm[j] = d[j] / vj
                    jv[j] = 0.5 * (d[j] * d[j] / (vj * vj) - 1.0 / vj + pjj / (vj * vj))
                    trace += pjj / vj
                    th[j] = m[j] + d[j]
                rss = yy[i]
                for j in range(Jx):
                    hv = h0[i, 0, j] if none else h[i, slot, j]
                    rss -= 2.0 * th[j] * hv
                    for col in range(Jx):
                        Gv = G0[i, 0, j, col] if none else G[i, slot, j, col]
                        rss += th[j] * Gv * th[col]
                js = 0.5 * (rss * inv * inv - n[i] * inv + (Jx - trace) * inv)
                if none:
                    ev0 = ev
                    js0 = js
                    for j in range(J):
                        d_mean[i, j] = jm[j] if j < J0 else 0.0
                        d_var[i, j] = jv[j] if j < J0 else 0.0
                else:
                    e_kc[slot, c] = ev
                    js_kc[slot, c] = js
                    for j in range(J):
                        jm_kc[slot, c, j] = jm[j]
                        jv_kc[slot, c, j] = jv[j]
        for c in range(C):
            d_jmean[i, c] = 0.0
            d_jvar[i, c] = 0.0
            d_logw[i, c] = 0.0
        d_loc[i, 0] = 0.0
        d_loc[i, 1] = 0.0
        d_pi[i] = 0.0
        if mode == 2:
            ll[i] = ev0
            d_sigma2[i] = js0
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
                    a = logw[c] + lp[k] + e_kc[k, c]
                    if a > top:
                        top = a
        tot = 0.0
        for k in range(K):
            if valid[i, k]:
                for c in range(C):
                    ew[k, c] = np.exp(logw[c] + lp[k] + e_kc[k, c] - top)
                    tot += ew[k, c]
        lse = top + np.log(tot)
        if mode == 0:
            lc = np.log(pi[0]) + lse
            l0 = np.log1p(-pi[0]) + ev0
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
        d_sigma2[i] = r0 * js0
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
                d_sigma2[i] += r * js_kc[k, c]
                for j in range(J):
                    if j == ji:
                        d_jmean[i, c] += r * jm_kc[k, c, j]
                        d_jvar[i, c] += r * jv_kc[k, c, j]
                    else:
                        d_mean[i, j] += r * jm_kc[k, c, j]
                        d_var[i, j] += r * jv_kc[k, c, j]
            if pooled:
                sd_k = loc[1]
                d_loc[i, 0] += rk * (zk[k] - e_z) / sd_k
                d_loc[i, 1] += rk * (zk[k] * zk[k] - e_z2) / sd_k


@functools.cache
def marginal_kernel() -> Callable[..., None]:
    """The compiled marginal-likelihood kernel (compiled on first use, then cached on disk).

    It releases the GIL, so that chains sampled in threads run in parallel.
    """
    import numba

    return numba.njit(cache=True, nogil=True, error_model="numpy")(_marginal_source)
