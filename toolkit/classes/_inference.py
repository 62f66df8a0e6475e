"""Exact gradient of the mixture log-likelihood and the observed information.

Parameters are taken on an unconstrained scale, per start: the coefficients beta_k, log sigma^2
(per class, or one), the random-effect covariance by its Cholesky factor (l = sqrt(D) for
q = 1; l00, l10, l11 with D = L L' for q = 2, as lme4's theta; Bates et al., 2015), per class
or one, and the class shares as logits eta_k = log(pi_k / pi_K), k < K. On the Cholesky scale
a variance at its boundary, D = 0, is an ordinary stationary point (the likelihood is even in
l), so Newton steps converge there as anywhere else.

The gradient comes from Fisher's identity, d l / d theta = sum_i sum_k w_ik d log f_k(y_i) /
d theta with the posterior class probabilities w_ik, and, within a class, with
u_i = Z_i'r_i, A_i = I - G_i H_i and e_ik = E[|y_i - X_i beta_k - Z_i b_i|^2 | y_i, k]:

    d log f / d beta     = X_i'(r_i - Z_i E[b_i]) / sigma^2,
    d log f / d sigma^2  = -n_i / (2 sigma^2) + e_ik / (2 sigma^4),
    d log f / d D        = (A_i u_i u_i'A_i' / sigma^4 - A_i G_i / sigma^2) / 2,
    d l / d eta_k        = sum_i (w_ik - pi_k),

(the D derivative is 1/2 Z'(V^-1 r r'V^-1 - V^-1)Z written with the Woodbury identity, so it
needs no inverse of D and holds at D = 0; on the Cholesky scale d l / d L = 2 (dl/dD) L). The
observed information is minus the central difference of this exact gradient; its inverse is
the covariance of the estimates (Wald). :func:`polish` maximises the log-likelihood from an
EM solution by a trust-region Newton method with this gradient and Hessian.

References
----------
Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. Journal of Statistical Software, 67(1), 1-48.
"""

from __future__ import annotations

import numpy as np

from ._design import Stats
from ._em import Model, Params, estep, flat, unflat

__all__ = [
    "n_free",
    "pack",
    "unpack",
    "gradient",
    "theta_gradient",
    "information",
    "covariance",
    "polish",
]


def _n_cov(model: Model) -> int:
    return {0: 0, 1: 1, 2: 3}[model.q]


def n_free(model: Model, p: int) -> int:
    """Length of the unconstrained parameter vector (the number of free parameters)."""
    k = model.n_classes
    n_s = 1 if model.common_residual else k
    n_d = _n_cov(model) * (1 if model.common_random else k)
    return k * p + n_s + n_d + (k - 1)


def pack(
    beta: np.ndarray, sigma2: np.ndarray, cov: np.ndarray, pi: np.ndarray, model: Model
) -> np.ndarray:
    """One start's parameters (K classes) as the unconstrained vector."""
    k = model.n_classes
    parts = [beta.reshape(-1)]
    s = np.log(sigma2)
    parts.append(s[:1] if model.common_residual else s)
    if model.q:
        per = []
        for c in cov[:1] if model.common_random else cov:
            if model.q == 1:
                per.append([np.sqrt(max(c[0, 0], 0.0))])
            else:
                l00 = np.sqrt(max(c[0, 0], 0.0))
                l10 = c[1, 0] / l00 if l00 > 0 else 0.0
                l11 = np.sqrt(max(c[1, 1] - l10 * l10, 0.0))
                per.append([l00, l10, l11])
        parts.append(np.asarray(per, dtype=float).reshape(-1))
    with np.errstate(divide="ignore"):
        parts.append(np.log(pi[: k - 1]) - np.log(pi[k - 1]))
    return np.concatenate(parts)


def unpack(theta: np.ndarray, model: Model, p: int) -> Params:
    """Unconstrained vectors (R, d) as :class:`Params` for R starts."""
    theta = np.atleast_2d(theta)
    r = len(theta)
    k, q = model.n_classes, model.q
    at = 0
    beta = theta[:, : k * p].reshape(r, k, p)
    at = k * p
    n_s = 1 if model.common_residual else k
    sigma2 = np.exp(theta[:, at : at + n_s])
    sigma2 = np.repeat(sigma2, k, axis=1) if model.common_residual else sigma2
    at += n_s
    cov = np.zeros((r, k, q, q))
    if q:
        nc = _n_cov(model)
        n_d = 1 if model.common_random else k
        block = theta[:, at : at + nc * n_d].reshape(r, n_d, nc)
        at += nc * n_d
        if q == 1:
            c = (block[:, :, 0] ** 2)[:, :, None, None]
        else:
            l00, l10, l11 = block[:, :, 0], block[:, :, 1], block[:, :, 2]
            c = np.empty((r, n_d, 2, 2))
            c[:, :, 0, 0] = l00 * l00
            c[:, :, 0, 1] = c[:, :, 1, 0] = l00 * l10
            c[:, :, 1, 1] = l10 * l10 + l11 * l11
        cov = np.repeat(c, k, axis=1) if model.common_random else c
    eta = np.concatenate([theta[:, at : at + k - 1], np.zeros((r, 1))], axis=1)
    top = eta.max(axis=1, keepdims=True)
    logpi = eta - (np.log(np.exp(eta - top).sum(axis=1, keepdims=True)) + top)
    return Params(beta.copy(), sigma2, cov, logpi, np.ones((r, k), dtype=bool))


def _chol(theta: np.ndarray, model: Model, p: int) -> np.ndarray:
    """The Cholesky entries of D as given in ``theta`` (R, n_d, 1 or 3), signs included."""
    k = model.n_classes
    at = k * p + (1 if model.common_residual else k)
    nc = _n_cov(model)
    n_d = 1 if model.common_random else k
    return theta[:, at : at + nc * n_d].reshape(len(theta), n_d, nc)


def gradient(
    stats: Stats, params: Params, model: Model, chol: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood (R,) and its exact gradient (R, d) in the unconstrained parameters.

    ``chol`` holds the Cholesky entries the parameters came from (see :func:`theta_gradient`);
    by default the factor with a non-negative diagonal.
    """
    r, k = params.shape
    p, q = stats.p, model.q
    e = estep(stats, params, q)
    w = e.post
    wt = w.T
    beta = flat(params.beta)
    s2 = flat(params.sigma2)
    with np.errstate(all="ignore"):
        xtxw = (wt @ stats.xtx).reshape(-1, p, p)
        resid = wt @ stats.xty - np.einsum("mpq,mq->mp", xtxw, beta)
        nw = wt @ stats.n
        if q == 0:
            eps = e.rr
        else:
            g = stats.ztz
            u = [stats.zty[:, [j]] - stats.ztx[j] @ beta.T for j in range(q)]
            s2b = s2[None, :]
            if q == 1:
                (h1,) = e.h
                b = [h1 * u[0]]
                eps = e.rr - 2.0 * b[0] * u[0] + g[:, [0]] * (b[0] * b[0] + s2b * h1)
                a = 1.0 - g[:, [0]] * h1
                s_d = 0.5 * ((a * u[0]) ** 2 / s2b**2 - a * g[:, [0]] / s2b)
                dsum = [(w * s_d).sum(axis=0)]
            else:
                h00, h01, h11 = e.h
                g0, g1, g2 = g[:, [0]], g[:, [1]], g[:, [2]]
                b = [h00 * u[0] + h01 * u[1], h01 * u[0] + h11 * u[1]]
                eps = (
                    e.rr
                    - 2.0 * (b[0] * u[0] + b[1] * u[1])
                    + g0 * b[0] ** 2
                    + 2.0 * g1 * b[0] * b[1]
                    + g2 * b[1] ** 2
                    + s2b * (g0 * h00 + 2.0 * g1 * h01 + g2 * h11)
                )
                a00 = 1.0 - (g0 * h00 + g1 * h01)
                a01 = -(g0 * h01 + g1 * h11)
                a10 = -(g1 * h00 + g2 * h01)
                a11 = 1.0 - (g1 * h01 + g2 * h11)
                v0 = a00 * u[0] + a01 * u[1]
                v1 = a10 * u[0] + a11 * u[1]
                ag00 = a00 * g0 + a01 * g1
                ag01 = 0.5 * ((a00 * g1 + a01 * g2) + (a10 * g0 + a11 * g1))
                ag11 = a10 * g1 + a11 * g2
                s00 = 0.5 * (v0 * v0 / s2b**2 - ag00 / s2b)
                s01 = 0.5 * (v0 * v1 / s2b**2 - ag01 / s2b)
                s11 = 0.5 * (v1 * v1 / s2b**2 - ag11 / s2b)
                dsum = [(w * s).sum(axis=0) for s in (s00, s01, s11)]
            for j in range(q):
                resid = resid - (w * b[j]).T @ stats.ztx[j]
        g_beta = resid / s2[:, None]
        g_ls = -0.5 * nw + 0.5 * (w * eps).sum(axis=0) / s2
        size = w.sum(axis=0)
    n = stats.n_clients
    g_beta_rk = np.swapaxes(g_beta.reshape(k, r, p), 0, 1).reshape(r, k * p)
    g_ls_rk = unflat(g_ls, r)
    parts = [g_beta_rk, g_ls_rk.sum(axis=1, keepdims=True) if model.common_residual else g_ls_rk]
    if q == 1:
        d = unflat(dsum[0], r)
        if model.common_random:
            d = d.sum(axis=1, keepdims=True)
        if chol is not None:
            l_ = chol[:, :, 0]
        else:
            l_ = np.sqrt(np.maximum(params.cov[:, : d.shape[1], 0, 0], 0.0))
        parts.append(2.0 * d * l_)  # dl/dl = 2 l dl/dD
    elif q == 2:
        s00, s01, s11 = (unflat(x, r) for x in dsum)
        if model.common_random:
            s00, s01, s11 = (x.sum(axis=1, keepdims=True) for x in (s00, s01, s11))
        if chol is not None:
            l00, l10, l11 = chol[:, :, 0], chol[:, :, 1], chol[:, :, 2]
        else:
            c = params.cov[:, : s00.shape[1]]
            l00 = np.sqrt(np.maximum(c[:, :, 0, 0], 0.0))
            l10 = np.where(l00 > 0, c[:, :, 1, 0] / np.where(l00 > 0, l00, 1.0), 0.0)
            l11 = np.sqrt(np.maximum(c[:, :, 1, 1] - l10 * l10, 0.0))
        block = np.stack(
            [2.0 * (s00 * l00 + s01 * l10), 2.0 * (s01 * l00 + s11 * l10), 2.0 * s11 * l11],
            axis=2,
        )
        parts.append(block.reshape(r, -1))
    pi = np.exp(params.logpi)
    parts.append((unflat(size, r) - n * pi)[:, : k - 1])
    return e.loglik, np.concatenate(parts, axis=1)


def theta_gradient(stats: Stats, theta: np.ndarray, model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood (R,) and gradient (R, d) at unconstrained vectors ``theta`` (R, d)."""
    theta = np.atleast_2d(theta)
    chol = _chol(theta, model, stats.p) if model.q else None
    return gradient(stats, unpack(theta, model, stats.p), model, chol)


def information(stats: Stats, theta: np.ndarray, model: Model) -> np.ndarray:
    """Observed information (d, d): minus the central difference of the exact gradient."""
    d = len(theta)
    step = 1e-4 * np.maximum(1.0, np.abs(theta))
    shifts = np.concatenate([np.diag(step), -np.diag(step)])
    _, g = theta_gradient(stats, theta[None, :] + shifts, model)
    hess = (g[:d] - g[d:]) / (2.0 * step[:, None])
    return -0.5 * (hess + hess.T)


def covariance(info: np.ndarray) -> np.ndarray | None:
    """Inverse of the information, or None when it is not positive definite."""
    if not np.all(np.isfinite(info)):
        return None
    try:
        chol = np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(chol)
    return inv.T @ inv


def polish(
    stats: Stats, theta: np.ndarray, model: Model, *, max_iter: int = 100
) -> tuple[np.ndarray, float, bool, float]:
    """Maximise the log-likelihood from ``theta`` by trust-region Newton steps (scipy's
    ``trust-exact``) with the exact gradient and its central-difference Hessian.

    Returns the parameters, the log-likelihood, whether the largest gradient entry fell below
    1e-6 times the number of clients (relative to the gradient's natural scale), and that
    largest entry.
    """
    from scipy import optimize

    n = stats.n_clients

    def value(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g = theta_gradient(stats, x, model)
        if not np.isfinite(ll[0]):
            return np.inf, np.zeros_like(x)
        return -float(ll[0]), -g[0]

    def hess(x: np.ndarray) -> np.ndarray:
        return information(stats, x, model)

    gtol = 1e-6 * n
    with np.errstate(all="ignore"):
        start_value, start_grad = value(theta)
        if np.max(np.abs(start_grad)) <= gtol:
            return theta, -start_value, True, float(np.max(np.abs(start_grad)))
        res = optimize.minimize(
            value,
            theta,
            jac=True,
            hess=hess,
            method="trust-exact",
            options={"gtol": gtol, "maxiter": max_iter},
        )
    x = res.x if np.isfinite(res.fun) and res.fun <= start_value else theta
    final, grad = value(x)
    gmax = float(np.max(np.abs(grad)))
    return x, -final, gmax <= 10 * gtol, gmax
