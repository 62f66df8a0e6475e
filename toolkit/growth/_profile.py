"""Profile-likelihood intervals of the therapist level's variance parameters.

For the therapist ICC rho = v_t / (v_t + v_c + sigma^2) at time 0, a function of theta
alone (rho = T_t00^2 / (T_t00^2 + T_c00^2 + 1)), fixing rho fixes T_t00 given T_c00:
T_t00 = sqrt(rho (T_c00^2 + 1) / (1 - rho)). The profiled deviance D(rho) is minimised over
the other entries of theta (BFGS with the exact gradient, by the chain rule, warm-started
from the nearest solved point), and the interval is {rho : D(rho) - D_min <= chi2_1(level)}
with its ends found by Brent's method. The same construction with the therapist intercept
SD sigma T_t00 held fixed (over theta and sigma) gives lme4's profile interval of that SD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .. import _checks
from ._nested import Nested, n_tri
from ._optim import hessian
from ._result import ICC_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from ._result import GrowthResult

__all__ = ["icc_interval", "profile_icc", "profile_sd"]


class _Profile:
    """D(value) for a scalar function of the variance parameters, with warm starts.

    The inner minimisations start from the nearest solved point with the inverse Hessian
    of the full problem at the optimum (restricted to the free parameters), so BFGS takes
    Newton-like steps from the first iteration.
    """

    def __init__(self, nm: Nested, reml: bool, x_hat: np.ndarray, fix: Any, free: np.ndarray):
        self.nm, self.reml, self.fix, self.free = nm, reml, fix, free
        self.solved: dict[float, np.ndarray] = {}
        self.x_hat = x_hat
        with np.errstate(all="ignore"):
            h = hessian(lambda x: self._dev(x)[1], x_hat)
        h_free = h[np.ix_(free, free)]
        try:
            vals, vecs = np.linalg.eigh(h_free)
            h_inv = (vecs / np.maximum(vals, 1e-8 * max(vals.max(), 1.0))) @ vecs.T
            self.h_inv = np.triu(h_inv) + np.triu(h_inv, 1).T  # exactly symmetric
        except np.linalg.LinAlgError:  # pragma: no cover - a finite Hessian decomposes
            self.h_inv = np.eye(int(free.sum()))

    def value(self, target: float) -> float:
        nearest = min(self.solved, key=lambda v: abs(v - target)) if self.solved else None
        x0 = (self.solved[nearest] if nearest is not None else self.x_hat)[self.free]

        def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
            x, dx = self.fix(target, z)
            dev, g = self._dev(x)
            if not np.isfinite(dev):
                return np.inf, np.zeros_like(z)
            return dev, dx.T @ g

        with np.errstate(all="ignore"):
            res = optimize.minimize(
                objective,
                x0,
                jac=True,
                method="BFGS",
                options={"gtol": 1e-2, "maxiter": 200, "hess_inv0": self.h_inv},
            )
        x, _ = self.fix(target, res.x)
        self.solved[target] = x
        return float(self._dev(x)[0])

    def _dev(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError


class _ThetaProfile(_Profile):
    def _dev(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        return self.nm.deviance(x, self.reml, with_gradient=True)


class _VarparProfile(_Profile):
    def _dev(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            return self.nm.deviance_vp(x, self.reml, with_gradient=True)
        except np.linalg.LinAlgError:
            return np.inf, np.full(len(x), np.nan)


def _interval(
    prof: _Profile,
    estimate: float,
    d_min: float,
    crit: float,
    lower: float,
    upper: float,
    scale: float,
) -> tuple[float, float]:
    """Ends of {v : D(v) - d_min <= crit} on both sides of the estimate.

    Roots of sqrt(D(v) - d_min) - sqrt(crit), nearly linear in v, so that Brent's method
    needs few profile points.
    """
    root = float(np.sqrt(crit))
    f = lambda v: float(np.sqrt(max(prof.value(v) - d_min, 0.0))) - root
    # Lower end.
    if f(lower) <= 0:
        lo = lower
    else:
        step, a = scale, estimate
        b = max(lower, estimate - step)
        while f(b) <= 0 and b > lower:
            a, step = b, 2 * step
            b = max(lower, b - step)
        lo = float(optimize.brentq(f, b, a, xtol=1e-6 * max(scale, 1e-8), rtol=1e-8))
    step, a = scale, estimate
    b = min(upper, estimate + step)
    while f(b) <= 0:
        if b >= upper:
            return lo, upper
        a, step = b, 2 * step
        b = min(upper, b + step)
    hi = float(optimize.brentq(f, a, b, xtol=1e-6 * max(scale, 1e-8), rtol=1e-8))
    return lo, hi


def profile_icc(
    nm: Nested, theta: np.ndarray, reml: bool, level: float
) -> tuple[float, float, float]:
    """The therapist ICC, with its profile-likelihood interval."""
    theta = np.asarray(theta, dtype=float)
    kc = n_tri(nm.qc)  # theta[0] = T_c00, theta[kc] = T_t00
    free = np.ones(len(theta), dtype=bool)
    free[kc] = False

    def fix(rho: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty(len(theta))
        x[free] = z
        c = np.sqrt(rho / (1 - rho))
        x[kc] = c * np.sqrt(x[0] ** 2 + 1)
        dx = np.zeros((len(theta), int(free.sum())))  # dx / dz
        dx[free, np.arange(int(free.sum()))] = 1.0
        dx[kc, 0] = c * x[0] / np.sqrt(x[0] ** 2 + 1)  # z[0] is theta[0]
        return x, dx

    rho_hat = theta[kc] ** 2 / (theta[kc] ** 2 + theta[0] ** 2 + 1)
    d_min = float(nm.deviance(theta, reml))
    crit = float(stats.chi2.ppf(level, 1))
    prof = _ThetaProfile(nm, reml, theta, fix, free)
    prof.solved[float(rho_hat)] = theta
    scale = max(0.25 * rho_hat, 1e-3)
    lo, hi = _interval(prof, float(rho_hat), d_min, crit, 0.0, 0.999, scale)
    return float(rho_hat), lo, hi


def profile_sd(
    nm: Nested, theta: np.ndarray, sigma: float, reml: bool, level: float
) -> tuple[float, float, float]:
    """The therapist intercept SD (sigma T_t00), with its profile-likelihood interval."""
    x_hat = np.r_[np.asarray(theta, dtype=float), float(sigma)]
    kc = n_tri(nm.qc)
    free = np.ones(len(x_hat), dtype=bool)
    free[kc] = False
    k_free = int(free.sum())

    def fix(sd: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty(len(x_hat))
        x[free] = z
        s = x[-1]
        x[kc] = sd / s
        dx = np.zeros((len(x_hat), k_free))
        dx[free, np.arange(k_free)] = 1.0
        dx[kc, k_free - 1] = -sd / (s * s)  # the last free parameter is sigma
        return x, dx

    sd_hat = float(sigma * theta[kc])
    d_min = float(nm.deviance_vp(x_hat, reml))
    crit = float(stats.chi2.ppf(level, 1))
    prof = _VarparProfile(nm, reml, x_hat, fix, free)
    prof.solved[sd_hat] = x_hat
    lo, hi = _interval(prof, sd_hat, d_min, crit, 0.0, np.inf, max(0.1 * sd_hat, 1e-6))
    return sd_hat, lo, hi


def icc_interval(result: GrowthResult, level: float | None) -> pd.DataFrame:
    """See :meth:`GrowthResult.therapist_icc_interval`."""
    fn = "GrowthResult.therapist_icc_interval"
    cover = result.settings["level"] if level is None else level
    cover = _checks.level(cover, "level", fn)
    if not result.n_therapists:
        raise ValueError(
            "The therapist ICC needs a model with a therapist level. Fix: growth.fit(..., "
            "therapist='...')."
        )
    if result.random == "~":  # pragma: no cover - custom formulas have no therapist level
        raise ValueError("The therapist ICC needs a random intercept per client.")
    state = result._model
    est, lo, hi = profile_icc(state["nested"], state["theta"], state["reml"], cover)
    return pd.DataFrame(
        {
            "estimate": [est],
            "ci_lower": [lo],
            "ci_upper": [hi],
            "level": [cover],
            "method": ["profile likelihood"],
        }
    )[ICC_COLUMNS]
