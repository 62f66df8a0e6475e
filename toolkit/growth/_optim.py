"""Honest optimisation of the nested (three-level) profiled deviance.

The same account as the two-level fast path (:func:`._fastpath.optimise`): optimisers in a
fixed order from two starts, the lowest deviance wins, every attempt is logged, and the
winner is verified (gradient, positive-definite Hessian, the gain a Newton step could
still make).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import optimize

from ._fastpath import derivative_free, logged_run
from ._nested import Nested

__all__ = ["optimise", "check", "hessian", "OPTIMIZERS"]

#: Optimisers in the order they are tried (the last two only when the first two disagree).
OPTIMIZERS = ("BFGS", "L-BFGS-B", "Nelder-Mead", "Powell")


def canonical(theta: np.ndarray, nm: Nested) -> np.ndarray:
    """The same covariances with non-negative diagonals of T (a column's sign is free)."""
    theta = np.array(theta, dtype=float)
    tc, tt = nm.split(theta)
    for t in (tc, tt):
        for j in range(t.shape[0]):
            if t[j, j] < 0:
                t[j:, j] = -t[j:, j]
    from ._nested import pack

    return np.concatenate([pack(tc), pack(tt)]) if nm.three_level else pack(tc)


def hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central differences of an exact gradient, symmetrised."""
    k = len(x)
    out = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(x[j]))
        e = np.zeros(k)
        e[j] = h
        out[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    return 0.5 * (out + out.T)


def _newton(nm: Nested, reml: bool, theta: np.ndarray, steps: int = 3) -> np.ndarray:
    """A few safeguarded Newton steps on the free parameters (polish after quasi-Newton)."""
    value = lambda th: nm.deviance(th, reml)
    grad = lambda th: nm.deviance(th, reml, True)[1]
    best, best_dev = theta, value(theta)
    for _ in range(steps):
        g = grad(best)
        if not np.all(np.isfinite(g)):
            break
        h = hessian(grad, best)
        free = _free(nm, best)
        if not free.any():
            break
        try:
            vals = np.linalg.eigvalsh(h[np.ix_(free, free)])
            if not np.all(vals > 0):
                break
            step = np.zeros_like(best)
            step[free] = np.linalg.solve(h[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            break
        for scale in (1.0, 0.5, 0.25):
            cand = canonical(best - scale * step, nm)
            dev = value(cand)
            if dev < best_dev:
                best, best_dev = cand, dev
                break
        else:
            break
    return best


def _free(nm: Nested, theta: np.ndarray) -> np.ndarray:
    free = np.ones(len(theta), dtype=bool)
    for j in nm.diagonal():
        if abs(theta[j]) < 1e-4:
            free[j] = False
    return free


def check(nm: Nested, theta: np.ndarray, reml: bool) -> dict[str, Any]:
    """Is ``theta`` a minimum? Gradient, Hessian and the gain a Newton step could make.

    Diagonal entries of T at zero are held there when the deviance rises away from zero.
    """
    grad = lambda th: nm.deviance(th, reml, True)[1]
    g = grad(theta)
    h = hessian(grad, theta)
    free = _free(nm, theta)
    g_free, h_free = g[free], h[np.ix_(free, free)]
    try:
        vals = np.linalg.eigvalsh(h_free) if free.any() else np.array([1.0])
        step = np.linalg.solve(h_free, g_free) if free.any() else np.zeros(0)
        gain = 0.5 * float(g_free @ step)
    except np.linalg.LinAlgError:
        vals, gain = np.array([0.0]), np.inf
    tol = 1e-3 * max(1.0, np.sqrt(nm.n_obs))
    bound_ok = all(abs(g[j]) < tol or g[j] * theta[j] > 0 for j in np.flatnonzero(~free))
    return {
        "max_gradient": float(np.max(np.abs(g_free))) if free.any() else 0.0,
        "newton_gain": gain,
        "positive_definite": bool(np.all(vals > 0)),
        "boundary": bool((~free).any()),
        "ok": bool(gain < 1e-6 and np.all(vals > 0) and bound_ok),
        "hessian": h,
    }


def optimise(
    nm: Nested, reml: bool, starts: list[tuple[str, np.ndarray]]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Minimise the profiled deviance; return the best theta and the log of every attempt.

    1. BFGS (exact gradient) from the first start, then Newton steps; 2. L-BFGS-B (exact
    gradient) from the second start, then Newton steps; 3. only when these disagree,
    Nelder-Mead and Powell from the best point so far.
    """
    both = lambda th: nm.deviance(th, reml, True)
    value = lambda th: nm.deviance(th, reml)
    log: list[dict[str, Any]] = []

    def record(name: str, start: str, x0: np.ndarray, runner: Callable[[np.ndarray], Any]) -> None:
        def finish(x: np.ndarray) -> np.ndarray:
            x = canonical(x, nm)
            return _newton(nm, reml, x) if name in ("BFGS", "L-BFGS-B") else x

        logged_run(log, name, start, x0, runner, finish, value)

    (label1, x1), (label2, x2) = starts[0], starts[-1]
    with np.errstate(all="ignore"):
        record(
            "BFGS",
            label1,
            x1,
            lambda x0: optimize.minimize(
                both, x0, jac=True, method="BFGS", options={"gtol": 1e-5, "maxiter": 2000}
            ),
        )
        record(
            "L-BFGS-B",
            label2,
            x2,
            lambda x0: optimize.minimize(
                both,
                x0,
                jac=True,
                method="L-BFGS-B",
                options={"ftol": 1e-15, "gtol": 1e-7, "maxiter": 5000},
            ),
        )
        derivative_free(log, record, value, max_iter=8000)
    best = min(log, key=lambda r: r["deviance"])
    return best["theta"], log
