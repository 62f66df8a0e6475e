"""EM for mixtures of growth models, for many starts at once (LCGA: q = 0; GMM: q = 1 or 2).

The model. Client i belongs to class k with probability pi_k; within class k its observed
scores follow

    y_i = X_i beta_k + Z_i b_i + e_i,   b_i ~ N(0, D_k),   e_i ~ N(0, sigma_k^2 I),

with no b_i at all in latent class growth analysis (Nagin, 1999) and a random intercept (q = 1)
or intercept and slope (q = 2) in a growth mixture model (Muthén & Shedden, 1999). Every row of
a client shares the client's class. What is maximised is the marginal log-likelihood

    l = sum_i log sum_k pi_k N(y_i; X_i beta_k, V_ik),   V_ik = sigma_k^2 I + Z_i D_k Z_i',

over all parameters (class-specific or common sigma^2 and D). The class-conditional densities use
the closed-form q x q algebra of :mod:`toolkit.growth._fastpath`: with Lambda = D / sigma^2,
G_i = Z_i'Z_i, r_i = y_i - X_i beta and H_i = Lambda (I + G_i Lambda)^-1 (symmetric),

    log|V_i| = n_i log sigma^2 + log|I + G_i Lambda|,
    r_i'V_i^-1 r_i = (r_i'r_i - (Z_i'r_i)' H_i (Z_i'r_i)) / sigma^2,
    E[b_i | y_i, k] = H_i Z_i'r_i,   Cov[b_i | y_i, k] = sigma^2 H_i,

and r_i'r_i, Z_i'r_i come from per-client sufficient statistics, so one E-step is a few array
operations over (clients x classes x starts) and never loops over clients.

The algorithm is EM with the class and (for GMM) the random effects as missing data (Muthén &
Shedden, 1999). E-step: posterior class probabilities w_ik and the conditional moments of b_i.
M-step, in closed form, for all classes of all starts at once (weighted least squares across
clients):

    pi_k = sum_i w_ik / N,
    beta_k = (sum_i w_ik X_i'X_i)^-1 sum_i w_ik X_i'(y_i - Z_i b_ik),
    sigma_k^2 = sum_i w_ik (|y_i - X_i beta_k - Z_i b_ik|^2 + tr(G_i C_ik)) / sum_i w_ik n_i,
    D_k = sum_i w_ik (b_ik b_ik' + C_ik) / sum_i w_ik,

(sums over the classes too for a common sigma^2 or D). Each EM step cannot lower l. The steps are
accelerated by SQUAREM (Varadhan & Roland, 2008, scheme S3) on beta, log sigma^2, the Cholesky
factor of D and log pi; an
extrapolation is kept only when its log-likelihood is at least that of the plain EM step it
replaces, so the accelerated sequence still never decreases.

References
----------
Muthén, B., & Shedden, K. (1999). Finite mixture modeling with mixture outcomes using the EM
algorithm. Biometrics, 55(2), 463-469.
Nagin, D. S. (1999). Analyzing developmental trajectories: A semiparametric, group-based
approach. Psychological Methods, 4(2), 139-157.
Varadhan, R., & Roland, C. (2008). Simple and globally convergent methods for accelerating the
convergence of any EM algorithm. Scandinavian Journal of Statistics, 35(2), 335-353.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from ._design import Stats

__all__ = [
    "Model",
    "Params",
    "EStep",
    "estep",
    "mstep",
    "run",
    "Outcome",
    "n_parameters",
    "flat",
    "unflat",
    "one_blas_thread",
]

_LOG2PI = float(np.log(2.0 * np.pi))
#: A residual variance below this share of the score variance is a collapsed (degenerate) class.
DEGENERATE = 1e-8
#: After this many EM steps, a cycle gaining less than STALL (relative) stops as "stalled".
STALL_AFTER = 40
STALL = 3e-7


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread: the products here are (clients x p^2) by (p^2 x components),
    far too thin for threads, which only add synchronisation (and contention on a busy
    machine). threadpoolctl comes with PyMC; without it nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass(frozen=True)
class Model:
    """What is estimated: K classes, q random effects, which variances are shared."""

    n_classes: int
    q: int
    common_residual: bool
    common_random: bool


def n_parameters(model: Model, p: int) -> int:
    """Free parameters: K p coefficients, residual variances, random-effect (co)variances,
    K - 1 class shares (the count flexmix reports for LCGA)."""
    k, q = model.n_classes, model.q
    residual = 1 if model.common_residual else k
    per_cov = q * (q + 1) // 2
    random = per_cov if model.common_random else k * per_cov
    return k * p + residual + (random if q else 0) + (k - 1)


@dataclass(frozen=True)
class Params:
    """Parameters of R starts with K classes each."""

    beta: np.ndarray  # (R, K, p)
    sigma2: np.ndarray  # (R, K)
    cov: np.ndarray  # (R, K, q, q)
    logpi: np.ndarray  # (R, K); -inf for a dropped class
    alive: np.ndarray  # (R, K) bool

    @property
    def shape(self) -> tuple[int, int]:
        r, k = self.sigma2.shape
        return r, k

    def take(self, idx: np.ndarray) -> Params:
        return Params(
            self.beta[idx], self.sigma2[idx], self.cov[idx], self.logpi[idx], self.alive[idx]
        )

    def where(self, mask: np.ndarray, other: Params) -> Params:
        """Per start: ``other`` where ``mask``, else self."""
        m1, m2, m3 = mask[:, None], mask[:, None, None], mask[:, None, None, None]
        return Params(
            np.where(m2, other.beta, self.beta),
            np.where(m1, other.sigma2, self.sigma2),
            np.where(m3, other.cov, self.cov),
            np.where(m1, other.logpi, self.logpi),
            np.where(m1, other.alive, self.alive),
        )


@dataclass(frozen=True)
class EStep:
    """Posterior quantities at one set of parameters (M = R K components, flattened)."""

    loglik: np.ndarray  # (R,)
    post: np.ndarray  # (N, M) posterior class probabilities w_ik
    logdens: np.ndarray  # (N, M) log pi_k + log f_k(y_i)
    rr: np.ndarray  # (N, M) r'r at the current beta
    bhat: tuple[np.ndarray, ...]  # q arrays (N, M): E[b | y, k]
    h: tuple[np.ndarray, ...]  # (h,) or (h00, h01, h11), each (N, M)


def flat(a: np.ndarray) -> np.ndarray:
    """(R, K, ...) -> (K R, ...), class-major: component m = k R + r."""
    return np.swapaxes(a, 0, 1).reshape(a.shape[0] * a.shape[1], *a.shape[2:])


def unflat(a: np.ndarray, r: int) -> np.ndarray:
    """(..., K R) -> (..., R, K): the inverse of :func:`flat` on the last axis."""
    k = a.shape[-1] // r
    return np.swapaxes(a.reshape(*a.shape[:-1], k, r), -1, -2)


def _lambda(params: Params, q: int) -> tuple[np.ndarray, ...]:
    """Entries of Lambda = D / sigma^2 per component (flattened)."""
    s2 = flat(params.sigma2)
    cov = flat(params.cov)
    if q == 1:
        return (cov[:, 0, 0] / s2,)
    return (cov[:, 0, 0] / s2, cov[:, 0, 1] / s2, cov[:, 1, 1] / s2)


def estep(stats: Stats, params: Params, q: int) -> EStep:
    """Log-likelihood per start, posterior class probabilities and random-effect moments."""
    r, k = params.shape
    m = r * k
    p = stats.p
    beta = flat(params.beta)
    s2 = flat(params.sigma2)
    with np.errstate(all="ignore"):
        bb = (beta[:, :, None] * beta[:, None, :]).reshape(m, p * p)
        rr = stats.yty[:, None] - 2.0 * (stats.xty @ beta.T) + stats.xtx @ bb.T
        n = stats.n[:, None]
        logdet = n * np.log(s2)[None, :]
        quad = rr
        bhat: tuple[np.ndarray, ...] = ()
        h: tuple[np.ndarray, ...] = ()
        if q == 1:
            (lam,) = _lambda(params, 1)
            ztr = stats.zty[:, [0]] - stats.ztx[0] @ beta.T
            a = 1.0 + n * lam[None, :]
            h1 = lam[None, :] / a
            quad = rr - h1 * ztr * ztr
            logdet = logdet + np.log(a)
            bhat, h = (h1 * ztr,), (h1,)
        elif q == 2:
            la, lb, lc = _lambda(params, 2)
            g0, g1, g2 = (stats.ztz[:, [j]] for j in range(3))
            z0 = stats.zty[:, [0]] - stats.ztx[0] @ beta.T
            z1 = stats.zty[:, [1]] - stats.ztx[1] @ beta.T
            p00 = 1.0 + g0 * la + g1 * lb
            p01 = g0 * lb + g1 * lc
            p10 = g1 * la + g2 * lb
            p11 = 1.0 + g1 * lb + g2 * lc
            det = p00 * p11 - p01 * p10
            # H = Lambda P^-1 with P = I + G Lambda; symmetric in exact arithmetic.
            h00 = (la * p11 - lb * p10) / det
            h01 = 0.5 * ((-la * p01 + lb * p00) + (lb * p11 - lc * p10)) / det
            h11 = (-lb * p01 + lc * p00) / det
            quad = rr - (h00 * z0 * z0 + 2.0 * h01 * z0 * z1 + h11 * z1 * z1)
            logdet = logdet + np.log(det)
            bhat = (h00 * z0 + h01 * z1, h01 * z0 + h11 * z1)
            h = (h00, h01, h11)
        logf = -0.5 * (n * _LOG2PI + logdet + quad / s2[None, :])
        logdens = logf + flat(params.logpi)[None, :]
        cube = logdens.reshape(-1, k, r)
        top = np.max(cube, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        post = np.exp(cube - top)
        norm = np.sum(post, axis=1, keepdims=True)
        post = (post / norm).reshape(-1, m)
        loglik = (np.log(norm) + top)[:, 0, :].sum(axis=0)
    return EStep(loglik, post, logdens, rr, bhat, h)


def mstep(
    stats: Stats, e: EStep, params: Params, model: Model, min_size: float, drop: bool
) -> tuple[Params, np.ndarray]:
    """One M-step for every class of every start. Returns the new parameters and, per start,
    whether a class emptied (expected size below ``min_size`` clients); with ``drop`` such a
    class is removed (its share set to 0) instead."""
    r, k = params.shape
    m = r * k
    p, q = stats.p, model.q
    w = e.post
    with np.errstate(all="ignore"):
        size = w.sum(axis=0)  # (M,)
        was = flat(params.alive)
        alive = was & (size >= min_size)
        emptied = np.asarray(unflat(was & ~alive, r).any(axis=1))
        if not drop:
            alive = was
        wt = w.T
        xtxw = (wt @ stats.xtx).reshape(m, p, p)
        xtyw = wt @ stats.xty
        nw = wt @ stats.n
        s2_old = flat(params.sigma2)
        if q == 0:
            lhs, rhs = xtxw, xtyw
        else:
            # Conditional maximisation of beta: weighted GLS at the current variances,
            # sum_i w_ik X_i'V_i^-1 X_i beta = sum_i w_ik X_i'V_i^-1 y_i (times sigma^2), with
            # X'V^-1 X sigma^2 = X'X - (Z'X)' H (Z'X) and X'V^-1 y sigma^2 = X'y - (Z'X)' H Z'y.
            lhs = xtxw.copy()
            rhs = xtyw.copy()
            zy = stats.zty
            if q == 1:
                (h1,) = e.h
                lhs -= ((w * h1).T @ stats.zx_outer[0]).reshape(m, p, p)
                rhs -= (w * h1 * zy[:, [0]]).T @ stats.ztx[0]
            else:
                h00, h01, h11 = e.h
                o00, o01, o11 = stats.zx_outer
                lhs -= ((w * h00).T @ o00 + (w * h01).T @ o01 + (w * h11).T @ o11).reshape(m, p, p)
                hz0 = h00 * zy[:, [0]] + h01 * zy[:, [1]]
                hz1 = h01 * zy[:, [0]] + h11 * zy[:, [1]]
                rhs -= (w * hz0).T @ stats.ztx[0] + (w * hz1).T @ stats.ztx[1]
        scale = np.trace(lhs, axis1=1, axis2=2)
        empty = ~(scale > 0)  # a dropped class: no weight left (its old values are kept)
        jitter = 1e-13 * np.einsum("mpp->mp", lhs)[:, :, None] * np.eye(p)
        lhs = np.where(empty[:, None, None], np.eye(p), lhs + jitter)
        try:
            beta = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a class on too few clients to fix its curve
            beta = np.einsum("mpq,mq->mp", np.linalg.pinv(lhs), rhs)
        # Expected residual sum of squares at the new beta (weighted sums over clients):
        # sum_i w_ik E[|y_i - X_i beta - Z_i b_i|^2 | y_i, k] with the moments of b_i at the
        # new beta and the current variances (an EM step for the variances given beta).
        ss = wt @ stats.yty - 2.0 * np.sum(beta * xtyw, axis=1)
        ss += np.einsum("mp,mpq,mq->m", beta, xtxw, beta)
        if q:
            g = stats.ztz
            zr = [zy[:, [j]] - stats.ztx[j] @ beta.T for j in range(q)]  # Z'r at the new beta
            s2b = s2_old[None, :]
            if q == 1:
                b0 = h1 * zr[0]
                e00 = b0 * b0 + s2b * h1
                # |r - Z b|^2 + tr(G C) = r'r - 2 b'Z'r + b'G b + tr(G C)
                ss += (w * (g[:, [0]] * e00 - 2.0 * b0 * zr[0])).sum(axis=0)
                cov_sum = (w * e00).sum(axis=0)[:, None, None]
            else:
                b0 = h00 * zr[0] + h01 * zr[1]
                b1 = h01 * zr[0] + h11 * zr[1]
                e00 = b0 * b0 + s2b * h00
                e01 = b0 * b1 + s2b * h01
                e11 = b1 * b1 + s2b * h11
                g0, g1, g2 = g[:, [0]], g[:, [1]], g[:, [2]]
                quad = g0 * e00 + 2.0 * g1 * e01 + g2 * e11 - 2.0 * (b0 * zr[0] + b1 * zr[1])
                ss += (w * quad).sum(axis=0)
                c00, c01, c11 = ((w * v).sum(axis=0) for v in (e00, e01, e11))
                cov_sum = np.stack([np.stack([c00, c01], -1), np.stack([c01, c11], -1)], -2)
        ss = unflat(ss, r)
        nw = unflat(nw, r)
        if model.common_residual:
            sigma2 = np.repeat((ss.sum(axis=1) / nw.sum(axis=1))[:, None], k, axis=1)
        else:
            sigma2 = ss / nw
        if q:
            cov_sum = np.swapaxes(cov_sum.reshape(k, r, q, q), 0, 1)
            sizes = unflat(size, r)
            if model.common_random:
                pooled = cov_sum.sum(axis=1) / sizes.sum(axis=1)[:, None, None]
                cov = np.repeat(pooled[:, None], k, axis=1)
            else:
                cov = cov_sum / sizes[:, :, None, None]
        else:
            cov = params.cov
        alive_rk = unflat(alive, r)
        share = np.where(alive_rk, unflat(size, r), 0.0)
        logpi = np.log(share / share.sum(axis=1, keepdims=True))
    out = Params(np.swapaxes(beta.reshape(k, r, p), 0, 1), sigma2, cov, logpi, alive_rk)
    # Dropped classes keep their last values (they no longer enter the likelihood).
    keep = ~alive_rk
    out = Params(
        np.where(keep[:, :, None], params.beta, out.beta),
        np.where(keep, params.sigma2, out.sigma2),
        np.where(keep[:, :, None, None], params.cov, out.cov),
        np.where(keep, -np.inf, out.logpi),
        alive_rk,
    )
    return out, emptied


# --- SQUAREM ---------------------------------------------------------------------------------
def _to_vector(params: Params, q: int) -> np.ndarray:
    """Parameters per start for the extrapolation: beta, log sigma^2, the Cholesky factor of D
    (l00, l10, l11; sqrt(D) for q = 1) and log pi. The factor, not its log, so that a
    variance shrinking towards 0 (a boundary optimum) is a sequence the extrapolation can
    follow to its limit."""
    r, k = params.shape
    with np.errstate(all="ignore"):
        parts = [params.beta, np.log(params.sigma2)[:, :, None]]
        if q == 1:
            parts.append(np.sqrt(np.maximum(params.cov[:, :, 0, :1], 0.0)))
        elif q == 2:
            c = params.cov
            l00 = np.sqrt(np.maximum(c[:, :, 0, 0], 0.0))
            l10 = np.where(l00 > 0, c[:, :, 1, 0] / l00, 0.0)
            l11 = np.sqrt(np.maximum(c[:, :, 1, 1] - l10 * l10, 0.0))
            parts.append(np.stack([l00, l10, l11], axis=2))
        parts.append(np.where(params.alive, params.logpi, 0.0)[:, :, None])
    return np.concatenate(parts, axis=2).reshape(r, -1)


def _from_vector(v: np.ndarray, like: Params, q: int) -> Params:
    r, k = like.shape
    p = like.beta.shape[2]
    v = v.reshape(r, k, -1)
    with np.errstate(all="ignore"):
        beta = v[:, :, :p]
        sigma2 = np.exp(v[:, :, p])
        cov = like.cov
        if q == 1:
            cov = (v[:, :, p + 1] ** 2)[:, :, None, None]
        elif q == 2:
            l00, l10, l11 = v[:, :, p + 1], v[:, :, p + 2], v[:, :, p + 3]
            cov = np.empty((r, k, 2, 2))
            cov[:, :, 0, 0] = l00 * l00
            cov[:, :, 0, 1] = cov[:, :, 1, 0] = l00 * l10
            cov[:, :, 1, 1] = l10 * l10 + l11 * l11
        raw = np.where(like.alive, v[:, :, -1], -np.inf)
        top = np.max(raw, axis=1, keepdims=True)
        logpi = raw - (np.log(np.sum(np.exp(raw - top), axis=1, keepdims=True)) + top)
    return Params(beta.copy(), sigma2, cov, logpi, like.alive.copy())


@dataclass(frozen=True)
class Outcome:
    """Where every start ended."""

    params: Params  # (R, K, ...)
    loglik: np.ndarray  # (R,)
    n_iterations: np.ndarray  # (R,) EM steps (M-steps) taken
    status: np.ndarray  # (R,) "converged", "stalled", "not converged", "emptied", "degenerate",
    # "failed"


def run(
    stats: Stats,
    start: Params,
    model: Model,
    *,
    tol: float,
    max_iter: int,
    min_size: float,
    drop: bool,
    floor: float,
    tick: Callable[[int], None] | None = None,
) -> Outcome:
    """Run SQUAREM-accelerated EM from every start until each converges or stops.

    A start converges when an accelerated cycle raises its log-likelihood by less than
    ``tol * (|l| + 1)``; after :data:`STALL_AFTER` EM steps, one that gains less than
    ``STALL * (|l| + 1)`` per cycle stops as ``"stalled"`` (EM crawling towards a variance at
    its boundary; Newton refinement finishes such starts). It stops as ``"emptied"`` when a
    class's expected size falls below ``min_size`` (unless ``drop``, which removes the class
    and goes on), ``"degenerate"`` when a residual variance falls below ``floor`` (a class
    collapsing onto a few clients, where the likelihood is unbounded) and ``"failed"`` on a
    non-finite log-likelihood.
    """
    r_all = start.shape[0]
    q = model.q
    params = start
    loglik = np.full(r_all, -np.inf)
    iters = np.zeros(r_all, dtype=np.int64)
    status = np.array(["not converged"] * r_all, dtype=object)
    prev = np.full(r_all, -np.inf)
    step_max = np.ones(r_all)
    active = np.arange(r_all)
    cur = params

    def em(th: Params) -> tuple[np.ndarray, Params, np.ndarray, np.ndarray]:
        e = estep(stats, th, q)
        new, emptied = mstep(stats, e, th, model, min_size, drop)
        bad = np.any(new.alive & (new.sigma2 < floor), axis=1)
        return e.loglik, new, emptied, bad

    while len(active):
        l0, th1, emp1, bad1 = em(cur)
        iters[active] += 1
        finite = np.isfinite(l0)
        gain = l0 - prev[active]
        done = finite & (np.abs(gain) <= tol * (np.abs(l0) + 1.0))
        # EM crawling (sublinearly, towards a variance at 0): hand over to Newton refinement
        stalled = ~done & (iters[active] >= STALL_AFTER) & (gain <= STALL * (np.abs(l0) + 1.0))
        loglik[active] = np.where(finite, l0, loglik[active])
        prev[active] = l0
        if drop:
            emp1 = np.zeros_like(emp1)
        stop = done | stalled | ~finite | emp1 | bad1 | (iters[active] >= max_iter)
        label = np.where(
            ~finite,
            "failed",
            np.where(
                done,
                "converged",
                np.where(
                    emp1,
                    "emptied",
                    np.where(bad1, "degenerate", np.where(stalled, "stalled", "not converged")),
                ),
            ),
        )
        if stop.any():
            idx = active[stop]
            status[idx] = label[stop]
            # converged starts end where their log-likelihood was measured
            params = _put(params, idx, cur.take(np.nonzero(stop)[0]))
            keep = ~stop
            active, cur, th1 = active[keep], cur.take(keep), th1.take(keep)
            l0 = l0[keep]
            if tick is not None:
                tick(int(stop.sum()))
            if not len(active):
                break
        l1, th2, emp2, bad2 = em(th1)
        iters[active] += 1
        v0, v1, v2 = (_to_vector(t, q) for t in (cur, th1, th2))
        rv = v1 - v0
        vv = v2 - 2.0 * v1 + v0
        with np.errstate(all="ignore"):
            nr = np.sqrt(np.sum(rv * rv, axis=1))
            nv = np.sqrt(np.sum(vv * vv, axis=1))
            alpha = np.where(nv > 0, -nr / nv, -1.0)
        sm = step_max[active]
        alpha = np.clip(alpha, -sm, -1.0)
        same = np.all(th1.alive == cur.alive, axis=1) & np.all(th2.alive == cur.alive, axis=1)
        alpha = np.where(same & np.all(np.isfinite(vv), axis=1), alpha, -1.0)
        vx = v0 - 2.0 * alpha[:, None] * rv + (alpha * alpha)[:, None] * vv
        thx = _from_vector(vx, th2, q)
        lx, thxx, empx, badx = em(thx)
        iters[active] += 1
        if drop:
            empx = np.zeros_like(empx)
        ok = np.isfinite(lx) & (lx >= l1) & ~empx & ~badx & (alpha < -1.0)
        step_max[active] = np.where(ok & (alpha <= -sm), sm * 4.0, np.where(ok, sm, 1.0))
        cur = th2.where(ok, thxx)
        del l1, emp2, bad2  # th2's own flags show in the next cycle's first step
    return Outcome(params, loglik, iters, status)


def _put(into: Params, idx: np.ndarray, part: Params) -> Params:
    beta, sigma2, cov, logpi, alive = (
        into.beta.copy(),
        into.sigma2.copy(),
        into.cov.copy(),
        into.logpi.copy(),
        into.alive.copy(),
    )
    beta[idx], sigma2[idx], cov[idx], logpi[idx], alive[idx] = (
        part.beta,
        part.sigma2,
        part.cov,
        part.logpi,
        part.alive,
    )
    return replace(into, beta=beta, sigma2=sigma2, cov=cov, logpi=logpi, alive=alive)
