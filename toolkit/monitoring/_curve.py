"""The expected recovery curve: a growth model of the reference cohort, conditional on intake.

The model for reference client *i* at elapsed session *e* after intake (time ``t_e``, e.g.
``log(1 + e)``), with client-level predictors ``c_i = (1, intake_i, covariates_i, dose_i)``
(centred), is

    y_ie = (c_i' B_0) + (c_i' B_1) t_e + b_0i + b_1i t_e + e_ie,
    (b_0i, b_1i) ~ N(0, Sigma_b),  e_ie ~ N(0, sigma^2),

so the intake score (and every covariate) shifts both the level and the rate of change, as in
the expected recovery curves of Finch, Lambert & Schaalje (2001). The fixed-effects design is
the Kronecker product ``x_ie = (1, t_e) (x) c_i``, so everything the restricted likelihood needs
reduces to each client's 2 x 2 Gram matrix of ``(1, t)``, its ``(sum y, sum t y)`` and
``sum y^2``; no (observations x predictors) array is ever built.

With the relative covariance factor T (``Sigma_b = sigma^2 T T'``; lower triangular,
parameterised by theta as in Bates et al., 2015), per client ``A_i = T' G_i T + I`` and
``H_i = T A_i^-1 T'`` (G_i the random-effects Gram matrix), the Woodbury identity gives

    W_i = F_i - F_i[:, :q] H_i F_i[:q, :],    w_i = f_i - F_i[:, :q] H_i f_i[:q],
    X'V^-1 X sigma^2 = sum_i W_i (x) c_i c_i',  X'V^-1 y sigma^2 = sum_i w_i (x) c_i,
    y'V^-1 y sigma^2 = sum_i (y_i'y_i - f_i[:q]' H_i f_i[:q]),  log|V / sigma^2| = sum log|A_i|,

with F_i the Gram matrix of (1, t) and f_i = (sum y, sum t y). The profiled criteria are those
of :mod:`toolkit.growth` (lme4's), so the estimates equal :func:`toolkit.growth.fit` on the
same model (checked in the tests).

References
----------
Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. Journal of Statistical Software, 67(1), 1-48.

Finch, A. E., Lambert, M. J., & Schaalje, B. G. (2001). Psychotherapy quality control: The
statistical generation of expected recovery curves for integration into an early warning
system. Clinical Psychology & Psychotherapy, 8(4), 231-242.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["CurveFit", "Moments", "moments", "fit_curve", "curve_moments"]

_LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class Moments:
    """Per-client sufficient statistics of the post-intake scores (observed cells only)."""

    n: np.ndarray  # (N,) number of observed scores
    s1: np.ndarray  # sum t
    s2: np.ndarray  # sum t^2
    f0: np.ndarray  # sum y
    f1: np.ndarray  # sum t y
    yy: np.ndarray  # sum y^2

    def take(self, rows: np.ndarray) -> Moments:
        return Moments(*(getattr(self, k)[rows] for k in ("n", "s1", "s2", "f0", "f1", "yy")))


def moments(y: np.ndarray, t: np.ndarray) -> Moments:
    """Sufficient statistics of a (clients x elapsed sessions) score matrix (NaN = missing)."""
    seen = ~np.isnan(y)
    w = seen.astype(np.float64)
    yw = np.where(seen, y, 0.0)
    tw = w * t[None, :]
    return Moments(
        n=w.sum(1),
        s1=tw.sum(1),
        s2=(tw * t[None, :]).sum(1),
        f0=yw.sum(1),
        f1=(yw * t[None, :]).sum(1),
        yy=(yw * yw).sum(1),
    )


@dataclass(frozen=True)
class CurveFit:
    """A fitted expected-recovery-curve model.

    ``beta`` is ``(B_0, B_1)``: the r coefficients of the level, then the r coefficients of
    the rate of change, for predictors ``names`` (the first is the intercept); predictors
    are centred at ``centre`` before use.
    """

    names: tuple[str, ...]
    centre: np.ndarray  # (r - 1,) centring constants of the predictors after the intercept
    beta: np.ndarray  # (2r,)
    cov_beta: np.ndarray  # (2r, 2r)
    cov_re: np.ndarray  # (q, q)
    sigma2: float
    theta: np.ndarray
    deviance: float
    converged: bool
    n_obs: int
    n_clients: int
    q: int
    reml: bool

    @property
    def r(self) -> int:
        return len(self.names)

    def design(self, predictors: np.ndarray) -> np.ndarray:
        """The (N, r) matrix ``c_i`` from raw predictors (N, r - 1)."""
        return np.column_stack([np.ones(len(predictors)), predictors - self.centre[None, :]])


def _h_terms(theta: np.ndarray, m: Moments, q: int) -> dict[str, np.ndarray]:
    """Per client: H_i = T A_i^-1 T' (h00, h01, h11), K_i = A_i^-1 T' and log|A_i|."""
    if q == 1:
        a = theta[0]
        a11 = a * a * m.n + 1.0
        k = a / a11
        return {"h00": a * k, "k00": k, "logdet": np.log(a11)}
    a, b, c = theta
    # T = [[a, 0], [b, c]]; A = T' G T + I with G = [[n, s1], [s1, s2]].
    gt00 = m.n * a + m.s1 * b
    gt10 = m.s1 * a + m.s2 * b
    gt01 = m.s1 * c
    gt11 = m.s2 * c
    a00 = a * gt00 + b * gt10 + 1.0
    a01 = a * gt01 + b * gt11
    a11 = c * gt11 + 1.0
    det = a00 * a11 - a01 * a01
    i00, i01, i11 = a11 / det, -a01 / det, a00 / det
    # K = A^-1 T' (T' = [[a, b], [0, c]]) and H = T K.
    k00, k01 = i00 * a, i00 * b + i01 * c
    k10, k11 = i01 * a, i01 * b + i11 * c
    return {
        "h00": a * k00,
        "h01": a * k01,
        "h11": b * k01 + c * k11,
        "k00": k00,
        "k01": k01,
        "k10": k10,
        "k11": k11,
        "logdet": np.log(det),
    }


@dataclass
class _Pieces:
    xwx: np.ndarray
    xwy: np.ndarray
    ywy: float
    logdet: float
    h: dict[str, np.ndarray]


def _pieces(theta: np.ndarray, m: Moments, cmat: np.ndarray, q: int) -> _Pieces:
    h = _h_terms(theta, m, q)
    n, s1, s2, f0, f1 = m.n, m.s1, m.s2, m.f0, m.f1
    if q == 1:
        # F[:, :1] = (n, s1)'; H scalar.
        h00 = h["h00"]
        w00 = n - h00 * n * n
        w01 = s1 - h00 * n * s1
        w11 = s2 - h00 * s1 * s1
        v0 = f0 - h00 * n * f0
        v1 = f1 - h00 * s1 * f0
        quad = h00 * f0 * f0
    else:
        # F H F with F = [[n, s1], [s1, s2]] and H symmetric.
        h00, h01, h11 = h["h00"], h["h01"], h["h11"]
        fh00 = n * h00 + s1 * h01
        fh01 = n * h01 + s1 * h11
        fh10 = s1 * h00 + s2 * h01
        fh11 = s1 * h01 + s2 * h11
        w00 = n - (fh00 * n + fh01 * s1)
        w01 = s1 - (fh00 * s1 + fh01 * s2)
        w11 = s2 - (fh10 * s1 + fh11 * s2)
        v0 = f0 - (fh00 * f0 + fh01 * f1)
        v1 = f1 - (fh10 * f0 + fh11 * f1)
        quad = f0 * (h00 * f0 + h01 * f1) + f1 * (h01 * f0 + h11 * f1)
    r = cmat.shape[1]
    xwx = np.empty((2 * r, 2 * r))
    b00 = cmat.T @ (w00[:, None] * cmat)
    b01 = cmat.T @ (w01[:, None] * cmat)
    b11 = cmat.T @ (w11[:, None] * cmat)
    xwx[:r, :r], xwx[:r, r:], xwx[r:, :r], xwx[r:, r:] = b00, b01, b01.T, b11
    xwy = np.concatenate([cmat.T @ v0, cmat.T @ v1])
    ywy = float(np.sum(m.yy) - np.sum(quad))
    return _Pieces(xwx, xwy, ywy, float(np.sum(h["logdet"])), h)


def _deviance(
    theta: np.ndarray, m: Moments, cmat: np.ndarray, q: int, reml: bool
) -> tuple[float, np.ndarray]:
    """Profiled deviance and its exact gradient in theta (inf and NaN where undefined).

    The gradient is that of :func:`toolkit.growth` (Bates et al., 2015, matrix calculus on
    log|A_i|, r^2 and log|P|): with G_i the random-effects Gram matrix, K_i = A_i^-1 T',
    B_i = I - G_i H_i, g_i = Z_i'(y_i - X_i beta), alpha = dof / r^2, R_i = Z_i'X_i and
    P = X'V^-1 X sigma^2, d dev / dT = 2 sum_i [G_i K_i' - B_i (alpha g_i g_i' + [REML]
    R_i P^-1 R_i') K_i']; here R_i = F_i[:q, :] (x) c_i', so R_i P^-1 R_i' needs only the
    three numbers c_i' (P^-1)_uv c_i per client.
    """
    theta = np.asarray(theta, float)
    bad = (np.inf, np.full(theta.shape, np.nan))
    with np.errstate(all="ignore"):
        pc = _pieces(theta, m, cmat, q)
        try:
            chol = np.linalg.cholesky(pc.xwx)
        except np.linalg.LinAlgError:
            return bad
        z = np.linalg.solve(chol, pc.xwy)
        r2 = pc.ywy - float(z @ z)
        n_obs = float(np.sum(m.n))
        dof = n_obs - len(pc.xwy) if reml else n_obs
        if not (r2 > 0 and np.isfinite(pc.logdet)):
            return bad
        out = pc.logdet + dof * (1.0 + _LOG2PI + np.log(r2 / dof))
        if reml:
            out += 2.0 * float(np.sum(np.log(np.diag(chol))))
        if not np.isfinite(out):
            return bad
        grad = _gradient(theta, m, cmat, q, reml, pc, dof / r2)
    return float(out), grad


def _gradient(
    theta: np.ndarray,
    m: Moments,
    cmat: np.ndarray,
    q: int,
    reml: bool,
    pc: _Pieces,
    alpha: float,
) -> np.ndarray:
    r = cmat.shape[1]
    beta = np.linalg.solve(pc.xwx, pc.xwy)
    u0, u1 = cmat @ beta[:r], cmat @ beta[r:]  # the client's fixed level and slope
    n, s1, s2 = m.n, m.s1, m.s2
    g0 = m.f0 - (n * u0 + s1 * u1)
    h = pc.h
    if reml:
        pinv = np.linalg.inv(pc.xwx)
        p00 = np.einsum("ij,jk,ik->i", cmat, pinv[:r, :r], cmat)
        p01 = np.einsum("ij,jk,ik->i", cmat, pinv[:r, r:], cmat)
        p11 = np.einsum("ij,jk,ik->i", cmat, pinv[r:, r:], cmat)
    if q == 1:
        rpr = (n * n * p00 + 2 * n * s1 * p01 + s1 * s1 * p11) if reml else 0.0
        qq = alpha * g0 * g0 + rpr
        k = h["k00"]
        bm = 1.0 - n * h["h00"]
        return np.array([2.0 * float(np.sum(n * k - bm * qq * k))])
    g1 = m.f1 - (s1 * u0 + s2 * u1)
    q00, q01, q11 = alpha * g0 * g0, alpha * g0 * g1, alpha * g1 * g1
    if reml:
        # (F P^-1 F)_ab = sum_uv F_au F_bv pi_uv with F = [[n, s1], [s1, s2]].
        q00 = q00 + n * n * p00 + 2 * n * s1 * p01 + s1 * s1 * p11
        q01 = q01 + n * s1 * p00 + (n * s2 + s1 * s1) * p01 + s1 * s2 * p11
        q11 = q11 + s1 * s1 * p00 + 2 * s1 * s2 * p01 + s2 * s2 * p11
    k00, k01, k10, k11 = h["k00"], h["k01"], h["k10"], h["k11"]
    h00, h01, h11 = h["h00"], h["h01"], h["h11"]
    # K' = [[k00, k10], [k01, k11]]; G K'.
    f00 = n * k00 + s1 * k01
    f10 = s1 * k00 + s2 * k01
    f11 = s1 * k10 + s2 * k11
    # B = I - G H.
    b00 = 1.0 - (n * h00 + s1 * h01)
    b01 = -(n * h01 + s1 * h11)
    b10 = -(s1 * h00 + s2 * h01)
    b11 = 1.0 - (s1 * h01 + s2 * h11)
    # B Q, then (B Q) K'.
    bq00 = b00 * q00 + b01 * q01
    bq01 = b00 * q01 + b01 * q11
    bq10 = b10 * q00 + b11 * q01
    bq11 = b10 * q01 + b11 * q11
    s00 = bq00 * k00 + bq01 * k01
    s10 = bq10 * k00 + bq11 * k01
    s11 = bq10 * k10 + bq11 * k11
    return 2.0 * np.array(
        [float(np.sum(f00 - s00)), float(np.sum(f10 - s10)), float(np.sum(f11 - s11))]
    )


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while optimising: the products are tiny (3 parameters, r x r
    blocks), and BLAS threads only add synchronisation, which on a busy 2-core machine made
    L-BFGS-B five times slower. threadpoolctl comes with PyMC; without it nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _canonical(theta: np.ndarray, q: int) -> np.ndarray:
    theta = np.array(theta, dtype=float)
    if q == 1:
        return np.abs(theta)
    if theta[0] < 0:
        theta[:2] = -theta[:2]
    theta[2] = abs(theta[2])
    return theta


def fit_curve(
    m: Moments,
    predictors: np.ndarray,
    names: tuple[str, ...],
    *,
    q: int = 2,
    reml: bool = True,
) -> CurveFit:
    """Fit the expected-curve model by profiled (RE)ML.

    Parameters
    ----------
    m : Moments
        Per-client sufficient statistics (clients with at least one observed score).
    predictors : (N, r - 1) array
        Raw client-level predictors (intake first), centred here at their means.
    names : tuple of str
        ``("intercept", "intake", ...)``, one per column of the design.
    q : {1, 2}
        Random intercept, or random intercept and slope on time.

    Notes
    -----
    L-BFGS-B with the exact gradient (diagonal of T bounded at 0) runs from the identity and
    from a smaller start, then again from a perturbed copy of the better optimum; the lowest
    deviance wins. ``converged`` is True when at least two of the three runs reach it
    (within 1e-6 relative) and the gradient at the free parameters is small.
    """
    centre = predictors.mean(axis=0) if predictors.shape[1] else np.zeros(0)
    cmat = np.column_stack([np.ones(len(m.n)), predictors - centre[None, :]])
    if q == 1:
        starts = [np.array([1.0]), np.array([0.3])]
        bounds: list[tuple[float | None, float | None]] = [(0.0, None)]
    else:
        starts = [np.array([1.0, 0.0, 1.0]), np.array([0.3, 0.0, 0.1])]
        bounds = [(0.0, None), (None, None), (0.0, None)]
    fun = lambda th: _deviance(th, m, cmat, q, reml)
    options = {"ftol": 1e-13, "gtol": 1e-6, "maxiter": 1000}

    def run(start: np.ndarray) -> tuple[float, np.ndarray]:
        res = optimize.minimize(
            fun, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options
        )
        return float(res.fun), _canonical(res.x, q)

    with _one_blas_thread():
        found = [run(start) for start in starts]
        best_dev, theta = min(found, key=lambda item: item[0])
        # Verify: a restart from a perturbed copy of the best point must come back to it.
        found.append(run(theta * 1.2 + 0.05))
    best_dev, theta = min(found, key=lambda item: item[0])
    tol = 1e-6 * max(1.0, abs(best_dev))
    reached = sum(abs(d - best_dev) < tol for d, _ in found)
    _, grad = fun(theta)
    free = np.ones(len(theta), bool)
    for j in [0] if q == 1 else [0, 2]:
        if theta[j] < 1e-6 and grad[j] > 0:  # held at the bound
            free[j] = False
    small = bool(np.all(np.abs(grad[free]) < 1e-2 * max(1.0, float(np.sum(m.n))) ** 0.5))
    agree = reached >= 2
    with np.errstate(all="ignore"):
        pc = _pieces(theta, m, cmat, q)
        beta = np.linalg.solve(pc.xwx, pc.xwy)
        n_obs = float(np.sum(m.n))
        p = len(beta)
        r2 = pc.ywy - float(beta @ pc.xwy)
        sigma2 = r2 / (n_obs - p if reml else n_obs)
        tt = np.array([[theta[0]]]) if q == 1 else np.array([[theta[0], 0], [theta[1], theta[2]]])
        cov_beta = sigma2 * np.linalg.inv(pc.xwx)
    return CurveFit(
        names=tuple(names),
        centre=centre,
        beta=beta,
        cov_beta=0.5 * (cov_beta + cov_beta.T),
        cov_re=sigma2 * (tt @ tt.T),
        sigma2=float(sigma2),
        theta=theta,
        deviance=float(best_dev),
        converged=bool(agree and small and np.isfinite(best_dev)),
        n_obs=int(n_obs),
        n_clients=len(m.n),
        q=q,
        reml=reml,
    )


def _linear(c: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``c @ b`` row by row, in the same order for every row."""
    out = np.zeros(len(c))
    for j in range(c.shape[1]):
        out += c[:, j] * b[j]
    return out


def _quadratic(a: np.ndarray, m: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a_i' m b_i`` for every row ``i``, in the same order for every row."""
    out = np.zeros(len(a))
    for j in range(a.shape[1]):
        for k in range(b.shape[1]):
            out += a[:, j] * m[j, k] * b[:, k]
    return out


def curve_moments(
    fit: CurveFit, predictors: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected score and predictive SD of a new client at each time, shapes (N, E).

    The predictive variance is ``x' Cov(beta) x + z' Sigma_b z + sigma^2`` with
    ``x = (1, t) (x) c`` and ``z = (1, t)`` (or ``(1,)`` for a random intercept): the
    uncertainty of the fixed effects, the spread of clients around the curve, and the
    measurement noise of one score.
    """
    c = fit.design(predictors)
    r = fit.r
    b0, b1 = fit.beta[:r], fit.beta[r:]
    # Elementwise over clients (no matrix products): a client's numbers must not depend on
    # how many other clients are predicted with it, as matrix kernels' rounding does, so that
    # a registry analysed in partitions gets exactly the in-memory answer.
    mean = _linear(c, b0)[:, None] + _linear(c, b1)[:, None] * t[None, :]
    v = fit.cov_beta
    q00 = _quadratic(c, v[:r, :r], c)
    q01 = _quadratic(c, v[:r, r:], c)
    q11 = _quadratic(c, v[r:, r:], c)
    fixed = q00[:, None] + 2 * q01[:, None] * t[None, :] + q11[:, None] * (t * t)[None, :]
    s = fit.cov_re
    if fit.q == 2:
        random = s[0, 0] + 2 * s[0, 1] * t + s[1, 1] * t * t
    else:
        random = np.full_like(t, s[0, 0])
    var = fixed + random[None, :] + fit.sigma2
    return mean, np.sqrt(np.maximum(var, 0.0))
