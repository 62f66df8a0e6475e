"""Exact profiled (RE)ML for random-intercept and random intercept + slope growth models.

The model for client *i* with observed sessions *j* is

    y_ij = x_ij' beta + z_ij' b_i + e_ij,   b_i ~ N(0, sigma^2 T T'),   e_ij ~ N(0, sigma^2),

with z_ij = (1,) (random intercept) or (1, t_ij) (random intercept and slope) and T the
lower-triangular relative covariance factor, parameterised by theta (its entries, diagonal
>= 0) as in Bates et al. (2015). Everything that depends on the data is reduced once to
per-client sufficient statistics (Z'Z, Z'X, Z'y) computed for all clients at once on the
(clients x sessions) layout, with missing sessions carrying zero weight; each evaluation of
the profiled deviance then costs a few array operations over clients, because the per-client
q x q systems (q <= 2) are solved in closed form.

For fixed theta, with A_i = T' Z_i' Z_i T + I, M_i = T' Z_i' X_i and m_i = T' Z_i' y_i
(Woodbury identity)::

    X'V^-1 X * sigma^2 = X'X - sum_i M_i' A_i^-1 M_i
    X'V^-1 y * sigma^2 = X'y - sum_i M_i' A_i^-1 m_i
    y'V^-1 y * sigma^2 = y'y - sum_i m_i' A_i^-1 m_i
    log|V / sigma^2|   = sum_i log|A_i|

so beta(theta) solves the GLS equations, r^2(theta) = y'V^-1 y - beta' X'V^-1 y (times
sigma^2), and with n observations and p fixed effects the profiled criteria are::

    -2 l_ML(theta)   = sum log|A_i| + n (1 + log(2 pi r^2 / n))
    -2 l_REML(theta) = sum log|A_i| + log|X'V^-1 X sigma^2| + (n - p)(1 + log(2 pi r^2 / (n - p)))

References
----------
Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. *Journal of Statistical Software, 67*(1), 1-48. https://doi.org/10.18637/jss.v067.i01
"""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
from scipy import optimize

__all__ = [
    "Blocks",
    "blocks",
    "deviance",
    "gradient",
    "state",
    "solve",
    "Solution",
    "optimise",
    "check",
    "agree",
    "canonical",
    "OPTIMIZERS",
]

_LOG2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class Blocks:
    """Per-client sufficient statistics of a growth model (q = 1 or 2 random effects)."""

    q: int
    n_obs: int
    p: int
    ztz: np.ndarray  # (N, 3): n_i, sum t, sum t^2
    ztx: np.ndarray  # (q, N, p)
    zty: np.ndarray  # (q, N)
    xtx: np.ndarray  # (p, p)
    xty: np.ndarray  # (p,)
    yty: float
    start: np.ndarray  # moment-based starting theta


def blocks(y: np.ndarray, x: np.ndarray, t: np.ndarray, observed: np.ndarray, q: int) -> Blocks:
    """Sufficient statistics from the (clients x sessions) layout.

    Parameters
    ----------
    y : (N, S) array, x : (N, S, p) array, t : (N, S) or (S,) array
        Scores, fixed-effects design and random-slope time; values at unobserved cells are
        ignored.
    observed : (N, S) bool array
        Cells that enter the likelihood.
    q : {1, 2}
        Random intercept, or random intercept and slope.
    """
    w = observed.astype(np.float64)
    yw = _zero_outside(y, observed)
    xw = _zero_outside(x, observed)
    t = np.broadcast_to(t, w.shape)
    tw = np.where(observed, t, 0.0)
    n_obs = int(w.sum())
    n, s = w.shape
    p = x.shape[2]
    ztz = np.stack([w.sum(1), tw.sum(1), (tw * tw).sum(1)], axis=1)
    ztx = [xw.sum(1)]
    zty = [yw.sum(1)]
    if q == 2:
        ztx.append(np.einsum("ns,nsp->np", tw, xw))
        zty.append((tw * yw).sum(1))
    flat = xw.reshape(n * s, p)
    xtx = flat.T @ flat
    xty = flat.T @ yw.reshape(-1)
    return Blocks(
        q=q,
        n_obs=n_obs,
        p=p,
        ztz=ztz,
        ztx=np.stack(ztx),
        zty=np.stack(zty),
        xtx=xtx,
        xty=xty,
        yty=float(np.sum(yw * yw)),
        start=_moment_start(yw, xw, tw, w, ztz, xtx, xty, q),
    )


def _zero_outside(values: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``values`` with +0.0 at the unobserved cells: the array itself when it already is
    (as the design's layout is), else a copy."""
    outside = values[~observed]
    if values.dtype == np.float64 and not outside.any() and not np.signbit(outside).any():
        return values
    mask = observed if values.ndim == observed.ndim else observed[:, :, None]
    return np.where(mask, values, 0.0)


def _moment_start(
    yw: np.ndarray,
    xw: np.ndarray,
    tw: np.ndarray,
    w: np.ndarray,
    ztz: np.ndarray,
    xtx: np.ndarray,
    xty: np.ndarray,
    q: int,
) -> np.ndarray:
    """A data-based start for theta from per-client least squares on the OLS residuals.

    Each client's residuals are regressed on Z_i; the pooled within-client residual variance
    estimates sigma^2, and the between-client covariance of the coefficients less their
    average sampling covariance estimates sigma^2 T T' (clipped to be positive definite).
    Cheap and usually close to the optimum; the identity (Bates et al., 2015) otherwise.
    """
    identity = np.array([1.0] if q == 1 else [1.0, 0.0, 1.0])
    try:
        beta = np.linalg.lstsq(xtx, xty, rcond=None)[0]
    except np.linalg.LinAlgError:
        return identity
    r = (yw - xw @ beta) * w  # OLS residuals; unobserved cells carry zeros
    n_i, s1, s2 = ztz[:, 0], ztz[:, 1], ztz[:, 2]
    r0 = r.sum(1)
    rr = (r * r).sum(1)
    with np.errstate(all="ignore"):
        if q == 1:
            ok = n_i >= 2
            if ok.sum() < 3:
                return identity
            within = np.sum(rr[ok] - r0[ok] ** 2 / n_i[ok]) / np.sum(n_i[ok] - 1)
            between = np.var(r0[ok] / n_i[ok]) - within * np.mean(1 / n_i[ok])
            if not within > 0:
                return identity
            return np.array([np.sqrt(max(between, 0.01 * within) / within)])
        r1 = (tw * r).sum(1)
        det = n_i * s2 - s1 * s1
        ok = (n_i >= 3) & (det > 1e-8 * np.maximum(n_i * s2, 1e-300))
        if ok.sum() < 3:
            return identity
        c0 = (s2[ok] * r0[ok] - s1[ok] * r1[ok]) / det[ok]
        c1 = (-s1[ok] * r0[ok] + n_i[ok] * r1[ok]) / det[ok]
        within = np.sum(rr[ok] - c0 * r0[ok] - c1 * r1[ok]) / np.sum(n_i[ok] - 2)
        if not within > 0:
            return identity
        cov = np.cov(np.stack([c0, c1]))
        sampling = within * np.array(
            [
                [np.mean(s2[ok] / det[ok]), np.mean(-s1[ok] / det[ok])],
                [np.mean(-s1[ok] / det[ok]), np.mean(n_i[ok] / det[ok])],
            ]
        )
        vals, vecs = np.linalg.eigh(cov - sampling)
        floor = 1e-4 * np.abs(np.diag(cov)).max() + 1e-12
        est = (vecs * np.maximum(vals, floor)) @ vecs.T
        chol = np.linalg.cholesky(est / within)
    if not np.all(np.isfinite(chol)):
        return identity
    return np.array([chol[0, 0], chol[1, 0], chol[1, 1]])


def _factor(theta: np.ndarray, q: int) -> np.ndarray:
    if q == 1:
        return np.array([[theta[0]]])
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


# Stacks of small matrices are kept as tuples of (N,) arrays, one per entry (row-major), so
# every per-client operation is a handful of vector operations over all clients.
def _mul(x: tuple, y: tuple) -> tuple:
    """Entry-wise product of two stacks of q x q matrices (q = 1 or 2)."""
    if len(x) == 1:
        return (x[0] * y[0],)
    x00, x01, x10, x11 = x
    y00, y01, y10, y11 = y
    return (
        x00 * y00 + x01 * y10,
        x00 * y01 + x01 * y11,
        x10 * y00 + x11 * y10,
        x10 * y01 + x11 * y11,
    )


def _t(x: tuple) -> tuple:
    return x if len(x) == 1 else (x[0], x[2], x[1], x[3])


def _const(m: np.ndarray) -> tuple:
    return tuple(float(v) for v in m.ravel())


@dataclass
class _State:
    """Quantities at one theta shared by the deviance, its gradient and the solution."""

    tt: np.ndarray  # T (q, q)
    k: tuple  # K_i = A_i^-1 T'
    h: tuple  # H_i = T A_i^-1 T' (symmetric)
    logdet: float  # sum log|A_i|
    xwx: np.ndarray  # X'X - sum R_i' H_i R_i  (= P)
    xwy: np.ndarray
    ywy: float


def _gram(b: Blocks) -> tuple:
    n_i, s1, s2 = b.ztz[:, 0], b.ztz[:, 1], b.ztz[:, 2]
    return (n_i,) if b.q == 1 else (n_i, s1, s1, s2)


def _state(theta: np.ndarray, b: Blocks) -> _State:
    tt = _factor(theta, b.q)
    g = _gram(b)
    r = b.ztx  # (q, N, p): R_i rows
    s = b.zty  # (q, N)
    if b.q == 1:
        a = theta[0]
        a11 = a * a * g[0] + 1.0
        k: tuple = (a / a11,)
        h: tuple = (a * k[0],)
        hr0 = h[0][:, None] * r[0]
        xwx = b.xtx - r[0].T @ hr0
        xwy = b.xty - hr0.T @ s[0]
        ywy = b.yty - float(np.sum(h[0] * s[0] * s[0]))
        return _State(tt, k, h, float(np.sum(np.log(a11))), xwx, xwy, ywy)
    t_ = _const(tt)
    a_ = _mul(_mul(_t(t_), g), t_)
    a11, a12, a22 = a_[0] + 1.0, a_[1], a_[3] + 1.0
    det = a11 * a22 - a12 * a12
    inv = (a22 / det, -a12 / det, -a12 / det, a11 / det)
    k = _mul(inv, _t(t_))
    h = _mul(t_, k)
    h00, h01, h11 = h[0], 0.5 * (h[1] + h[2]), h[3]
    hr0 = h00[:, None] * r[0] + h01[:, None] * r[1]  # rows of H_i R_i
    hr1 = h01[:, None] * r[0] + h11[:, None] * r[1]
    xwx = b.xtx - (r[0].T @ hr0 + r[1].T @ hr1)
    xwy = b.xty - (hr0.T @ s[0] + hr1.T @ s[1])
    ywy = b.yty - float(np.sum(s[0] * (h00 * s[0] + h01 * s[1]) + s[1] * (h01 * s[0] + h11 * s[1])))
    return _State(tt, k, (h00, h01, h01, h11), float(np.sum(np.log(det))), xwx, xwy, ywy)


@overload
def deviance(
    theta: np.ndarray, b: Blocks, reml: bool, with_gradient: Literal[False] = False
) -> float: ...
@overload
def deviance(
    theta: np.ndarray, b: Blocks, reml: bool, with_gradient: Literal[True]
) -> tuple[float, np.ndarray]: ...
@overload
def deviance(
    theta: np.ndarray, b: Blocks, reml: bool, with_gradient: bool = False
) -> float | tuple[float, np.ndarray]: ...
def deviance(
    theta: np.ndarray, b: Blocks, reml: bool, with_gradient: bool = False
) -> float | tuple[float, np.ndarray]:
    """Profiled deviance (-2 log-likelihood, REML or ML) at ``theta``; inf when undefined.

    With ``with_gradient`` also the exact gradient in theta: with G_i = Z_i'Z_i,
    K_i = A_i^-1 T', H_i = T K_i, B_i = I - G_i H_i, g_i = Z_i'(y_i - X_i beta) and
    alpha = dof / r^2,

        d dev / dT = 2 sum_i [G_i K_i' - B_i (alpha g_i g_i' + [REML] R_i P^-1 R_i') K_i']

    where R_i = Z_i'X_i and P = X'V^-1 X sigma^2 (matrix calculus on log|A_i|, r^2 and
    log|P|, using dH_i = S_i + S_i' with S_i = B_i' dT K_i).
    """
    theta = np.asarray(theta, dtype=float)
    st = _state(theta, b)
    bad = (np.inf, np.full(theta.shape, np.nan)) if with_gradient else np.inf
    try:
        chol = np.linalg.cholesky(st.xwx)
    except np.linalg.LinAlgError:
        return bad
    z = np.linalg.solve(chol, st.xwy)
    r2 = st.ywy - float(z @ z)
    dof = b.n_obs - b.p if reml else b.n_obs
    if not (r2 > 0 and np.isfinite(st.logdet)):
        return bad
    out = st.logdet + dof * (1.0 + _LOG2PI + np.log(r2 / dof))
    if reml:
        out += 2.0 * float(np.sum(np.log(np.diag(chol))))
    if not with_gradient:
        return float(out)
    beta = np.linalg.solve(st.xwx, st.xwy)
    return float(out), gradient(st, b, beta, dof / r2, reml)


def gradient(st: _State, b: Blocks, beta: np.ndarray, alpha: float, reml: bool) -> np.ndarray:
    """d/dtheta of log|A| + alpha r^2 [+ log|P| (REML)] at the state ``st`` (see
    :func:`deviance`; alpha = dof / r^2 for the profiled deviance, 1 / sigma^2 for the
    deviance in (theta, sigma))."""
    gv = [b.zty[j] - b.ztx[j] @ beta for j in range(b.q)]  # g_i entries
    if reml:
        p_inv = np.linalg.inv(st.xwx)
        rp = [b.ztx[j] @ p_inv for j in range(b.q)]
    gram = _gram(b)
    kt = _t(st.k)
    if b.q == 1:
        qm = alpha * gv[0] ** 2 + (np.sum(rp[0] * b.ztx[0], 1) if reml else 0.0)
        bm = 1.0 - gram[0] * st.h[0]
        grad = 2.0 * np.sum(gram[0] * kt[0] - bm * qm * kt[0])
        return np.array([grad])
    q00 = alpha * gv[0] * gv[0]
    q01 = alpha * gv[0] * gv[1]
    q11 = alpha * gv[1] * gv[1]
    if reml:
        q00 = q00 + np.sum(rp[0] * b.ztx[0], 1)
        q01 = q01 + np.sum(rp[0] * b.ztx[1], 1)
        q11 = q11 + np.sum(rp[1] * b.ztx[1], 1)
    gh = _mul(gram, st.h)
    bm = (1.0 - gh[0], -gh[1], -gh[2], 1.0 - gh[3])
    first = _mul(gram, kt)
    second = _mul(_mul(bm, (q00, q01, q01, q11)), kt)
    return 2.0 * np.array(
        [np.sum(first[0] - second[0]), np.sum(first[2] - second[2]), np.sum(first[3] - second[3])]
    )


def state(theta: np.ndarray, b: Blocks) -> _State:
    """The quantities at theta shared by the deviance, its gradient and the solution."""
    return _state(np.asarray(theta, dtype=float), b)


@dataclass(frozen=True)
class Solution:
    """Everything the result needs at the chosen theta."""

    theta: np.ndarray
    beta: np.ndarray
    cov_beta: np.ndarray
    sigma2: float
    cov_re: np.ndarray  # (q, q) covariance of the random effects
    blups: np.ndarray  # (N, q)
    blup_se: np.ndarray  # (N, q) conditional SDs
    deviance: float


def solve(theta: np.ndarray, b: Blocks, reml: bool) -> Solution:
    """Fixed effects, variance components and BLUPs at ``theta``.

    The covariance of beta is sigma^2 P^-1 (conditional on theta); the BLUP of client i is
    b_i = H_i Z_i'(y_i - X_i beta) with H_i = T A_i^-1 T', and its conditional covariance
    sigma^2 H_i (Bates et al., 2015).
    """
    theta = np.asarray(theta, dtype=float)
    st = _state(theta, b)
    beta = np.linalg.solve(st.xwx, st.xwy)
    r2 = st.ywy - float(beta @ st.xwy)
    sigma2 = r2 / (b.n_obs - b.p if reml else b.n_obs)
    g = [b.zty[j] - b.ztx[j] @ beta for j in range(b.q)]  # Z_i'(y_i - X_i beta)
    if b.q == 1:
        blups = (st.h[0] * g[0])[:, None]
        diag = st.h[0][:, None]
    else:
        h00, h01, _, h11 = st.h
        blups = np.stack([h00 * g[0] + h01 * g[1], h01 * g[0] + h11 * g[1]], axis=1)
        diag = np.stack([h00, h11], axis=1)
    return Solution(
        theta=theta,
        beta=beta,
        cov_beta=sigma2 * np.linalg.inv(st.xwx),
        sigma2=sigma2,
        cov_re=sigma2 * (st.tt @ st.tt.T),
        blups=blups,
        blup_se=np.sqrt(sigma2 * np.maximum(diag, 0.0)),
        deviance=deviance(theta, b, reml),
    )


# --- Optimisation --------------------------------------------------------------------------
#: Optimisers in the order they are tried (the last two only when the first two disagree).
OPTIMIZERS = ("trust-exact", "BFGS", "Nelder-Mead", "Powell")


def canonical(theta: np.ndarray, q: int) -> np.ndarray:
    """The same T T' with a non-negative diagonal (flipping a column's sign changes nothing)."""
    theta = np.array(theta, dtype=float)
    if q == 1:
        return np.abs(theta)
    if theta[0] < 0:
        theta[:2] = -theta[:2]
    theta[2] = abs(theta[2])
    return theta


def _hessian(theta: np.ndarray, b: Blocks, reml: bool) -> np.ndarray:
    """Central differences of the exact gradient (3 parameters at most: 6 evaluations)."""
    k = len(theta)
    out = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = h
        out[:, j] = (
            deviance(theta + e, b, reml, True)[1] - deviance(theta - e, b, reml, True)[1]
        ) / (2 * h)
    return 0.5 * (out + out.T)


def check(theta: np.ndarray, b: Blocks, reml: bool) -> dict:
    """Is ``theta`` a minimum? Gradient, and the improvement a Newton step could still make.

    Diagonal entries of T at zero (a boundary, or singular, fit) are held there when the
    deviance rises away from zero, as the optimality conditions at a bound require.
    """
    _, g = deviance(theta, b, reml, with_gradient=True)
    h = _hessian(theta, b, reml)
    diag = [0] if b.q == 1 else [0, 2]
    free = np.ones(len(theta), dtype=bool)
    for j in diag:
        if abs(theta[j]) < 1e-4:
            free[j] = False
    g_free = g[free]
    h_free = h[np.ix_(free, free)]
    try:
        vals = np.linalg.eigvalsh(h_free) if free.any() else np.array([1.0])
        step = np.linalg.solve(h_free, g_free) if free.any() else np.zeros(0)
        gain = 0.5 * float(g_free @ step)
    except np.linalg.LinAlgError:
        vals, gain = np.array([0.0]), np.inf
    # At a diagonal entry near 0 the deviance must be flat or rise away from 0.
    tol = 1e-3 * max(1.0, np.sqrt(b.n_obs))
    bound_ok = all(abs(g[j]) < tol or g[j] * theta[j] > 0 for j in np.flatnonzero(~free))
    return {
        "max_gradient": float(np.max(np.abs(g_free))) if free.any() else 0.0,
        "newton_gain": gain,
        "positive_definite": bool(np.all(vals > 0)),
        "boundary": bool((~free).any()),
        "ok": bool(gain < 1e-6 and np.all(vals > 0) and bound_ok),
    }


def optimise(b: Blocks, reml: bool) -> tuple[np.ndarray, list[dict]]:
    """Minimise the profiled deviance with optimisers in a fixed order; return the best theta.

    1. ``trust-exact`` (Newton trust region: exact gradient, Hessian by differences of it)
    from a moment-based start; 2. BFGS (exact gradient) from the identity start of Bates et
    al. (2015) -- a second optimiser from a second start; 3. only when these two disagree,
    Nelder-Mead and then Powell, each from the best point so far. The deviance is unchanged
    when a column of T changes sign, so the search is unconstrained and each answer is put
    in canonical form (non-negative diagonal). Every attempt is logged; the lowest deviance
    wins, so a worse optimum is never returned.
    """
    both = lambda th: deviance(th, b, reml, with_gradient=True)
    value = lambda th: deviance(th, b, reml)
    hess = lambda th: _hessian(th, b, reml)
    log: list[dict] = []

    def record(name: str, start: str, x0: np.ndarray, runner: Callable[[np.ndarray], Any]) -> None:
        logged_run(log, name, start, x0, runner, lambda x: canonical(x, b.q), value)

    identity = np.array([1.0] if b.q == 1 else [1.0, 0.0, 1.0])
    with np.errstate(all="ignore"):
        record(
            "trust-exact",
            "moments",
            b.start,
            lambda x0: optimize.minimize(
                both, x0, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-8}
            ),
        )
        record(
            "BFGS",
            "identity",
            identity,
            lambda x0: optimize.minimize(
                both, x0, jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 1000}
            ),
        )
        derivative_free(log, record, value, max_iter=4000)
    best = min(log, key=lambda r: r["deviance"])
    return best["theta"], log


def logged_run(
    log: list[dict],
    name: str,
    start: str,
    x0: np.ndarray,
    runner: Callable[[np.ndarray], Any],
    finish: Callable[[np.ndarray], np.ndarray],
    value: Callable[[np.ndarray], float],
) -> None:
    """Run one optimiser from ``x0``, put its answer through ``finish`` (canonical form,
    polishing) and append the attempt to ``log``; a failed run is logged with an infinite
    deviance at its start."""
    t0 = _time.perf_counter()
    try:
        res = runner(np.array(x0, dtype=float))
        x = finish(np.asarray(res.x, dtype=float))
        dev, message, ok = value(x), str(res.message), bool(res.success)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        x, dev, message, ok = np.asarray(x0, float), np.inf, f"failed: {exc}", False
    log.append(
        {
            "optimizer": name,
            "start": start,
            "theta": x,
            "deviance": dev,
            "success": ok,
            "message": message,
            "seconds": _time.perf_counter() - t0,
        }
    )


def derivative_free(
    log: list[dict],
    record: Callable[[str, str, np.ndarray, Callable[[np.ndarray], Any]], None],
    value: Callable[[np.ndarray], float],
    *,
    max_iter: int,
) -> None:
    """When the first two (gradient-based) attempts in ``log`` disagree: Nelder-Mead (at most
    ``max_iter`` iterations, twice as many evaluations) and then Powell, each from the best
    point so far."""
    if agree(log[0]["deviance"], log[1]["deviance"]):
        return
    nelder_mead = {"xatol": 1e-8, "fatol": 1e-9, "maxiter": max_iter, "maxfev": 2 * max_iter}
    for method, options in (
        ("Nelder-Mead", nelder_mead),
        ("Powell", {"xtol": 1e-10, "ftol": 1e-13}),
    ):
        best = min(log, key=lambda r: r["deviance"])
        runner = functools.partial(optimize.minimize, value, method=method, options=options)
        record(method, "best so far", best["theta"], runner)


def agree(d1: float, d2: float) -> bool:
    """Two deviances equal up to optimiser tolerance (1e-4 absolute plus 1e-9 relative)."""
    return bool(
        np.isfinite(d1) and np.isfinite(d2) and abs(d1 - d2) <= 1e-4 + 1e-9 * max(abs(d1), abs(d2))
    )
