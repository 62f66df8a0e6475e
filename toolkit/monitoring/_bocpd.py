"""Bayesian online change-point detection with a Normal-Gamma model, for many clients at once.

Adams & MacKay (2007): a client's scores are segments of independent Normal values with an
unknown mean and precision per segment, ``(mu, lambda) ~ NormalGamma(mu0, kappa0, alpha0,
beta0)`` drawn afresh at each change, and a change happens before each session with the
constant probability ``H = 1 / hazard`` (``hazard`` is the expected segment length in
sessions). The *run length* ``r_t`` after session *t* is the number of sessions since the
current segment began (``r_t = 1``: it began at session *t*; ``r_t = t``: no change since the
client's first session). With ``w_t(r) = P(r_t = r | x_1..t)``:

    w_t(1)     propto  H       * p0(x_t)
    w_t(r + 1) propto  (1 - H) * w_{t-1}(r) * p(x_t | the last r scores)

where the predictive densities are Student-t: ``df = 2 alpha``, location ``mu``, scale^2 =
``beta (kappa + 1) / (alpha kappa)`` at each run's posterior parameters. A missed session
contributes no likelihood (its factor is 1), but a change can still happen there. Each
session costs a few operations on a (clients x run lengths) array, with run lengths capped
at the sessions each client has had.

Quantities reported after each session (all exact under the model, except the two stated
approximations):

- ``p_change``: P(a change within the last ``window`` sessions) =
  ``sum_{r <= min(window, t - 1)} w_t(r)`` (the start of monitoring is not a change);
- the current level: the posterior mean and variance of the current segment's mean, a
  mixture over run lengths of ``mu_r`` and ``beta_r / (kappa_r (alpha_r - 1))``;
- ``p_breakthrough``: P(a change within the last ``window`` sessions to a level better by at
  least the reliable-change criterion ``c``). Given a change at session ``s = t - r + 1``,
  the segments before and after are independent and the run length before ``s`` has its
  filtered posterior ``w_{s-1}``, so the earlier level is the filtered level after session
  ``s - 1`` (mean ``m_{s-1}``, variance ``v_{s-1}``). With a Normal approximation to the
  difference of the two levels,
  ``p_breakthrough = sum_r w_t(r) Phi((d (m_{s-1} - mu_r) - c) / sqrt(v_{s-1} + var_r))``
  (``d`` = +1 when lower scores are better); ``p_deterioration`` mirrors it;
- the predictive mean and SD of the next score: the mixture ``H p0 + (1 - H) sum_r w_t(r)
  p_r``, whose interval is taken as mean +- z SD (a Normal approximation to the mixture).

References
----------
Adams, R. P., & MacKay, D. J. C. (2007). Bayesian online changepoint detection.
arXiv:0710.3742.

Murphy, K. P. (2007). Conjugate Bayesian analysis of the Gaussian distribution. Technical
report, University of British Columbia.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, ndtr

__all__ = ["Prior", "Arrays", "step", "student_logpdf", "OUTPUTS"]

#: The per-session outputs of :func:`step`.
OUTPUTS = (
    "p_change",
    "p_breakthrough",
    "p_deterioration",
    "change_size",
    "run_length",
    "level",
    "level_sd",
    "next_mean",
    "next_sd",
)


@dataclass(frozen=True)
class Prior:
    """Normal-Gamma prior of a segment: mean mu0 (kappa0 pseudo-scores), precision
    Gamma(alpha0, beta0)."""

    mu0: float
    kappa0: float
    alpha0: float
    beta0: float

    @classmethod
    def scaled(cls, mean: float, level_sd: float, noise_sd: float, noise_df: float) -> Prior:
        """The prior whose noise variance has mean ``noise_sd**2`` (``noise_df`` pseudo-
        observations) and whose level has mean ``mean`` and SD ``level_sd``."""
        alpha0 = noise_df / 2.0
        beta0 = noise_sd**2 * (alpha0 - 1.0)
        kappa0 = noise_sd**2 / level_sd**2
        return cls(float(mean), float(kappa0), float(alpha0), float(beta0))

    @property
    def level_var(self) -> float:
        return self.beta0 / (self.kappa0 * (self.alpha0 - 1.0))

    @property
    def predictive_var(self) -> float:
        return self.beta0 * (self.kappa0 + 1.0) / (self.kappa0 * (self.alpha0 - 1.0))


def student_logpdf(
    x: np.ndarray,
    mu: np.ndarray | float,
    kappa: np.ndarray | float,
    alpha: np.ndarray | float,
    beta: np.ndarray | float,
) -> np.ndarray:
    """Log predictive density of ``x`` under Normal-Gamma parameters (Student-t)."""
    df = 2.0 * alpha
    scale2 = beta * (kappa + 1.0) / (alpha * kappa)
    z2 = (x - mu) ** 2 / (df * scale2)
    return (
        gammaln(0.5 * (df + 1.0))
        - gammaln(0.5 * df)
        - 0.5 * np.log(np.pi * df * scale2)
        - 0.5 * (df + 1.0) * np.log1p(z2)
    )


def _logpdf(
    x: np.ndarray,
    mu: np.ndarray,
    kappa: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    alpha0: float,
    k: int,
) -> np.ndarray:
    """:func:`student_logpdf` for many runs at once: alpha is alpha0 + m / 2 with m whole
    (the run's observed scores), so the gamma-function terms come from a table."""
    m = np.rint((alpha - alpha0) * 2.0).astype(np.int64)
    half = alpha0 + 0.5 * np.arange(k + 2)
    table = gammaln(half + 0.5) - gammaln(half)
    ratio = (kappa + 1.0) / kappa
    return (
        table[m]
        - 0.5 * np.log(2.0 * np.pi * beta * ratio)
        - (alpha + 0.5) * np.log1p((x - mu) ** 2 / (2.0 * beta * ratio))
    )


@dataclass
class Arrays:
    """The run-length posterior and its sufficient statistics for N clients (width W).

    ``w[i, j]`` is P(run length = j + 1); ``mu, kappa, alpha, beta`` the posterior of the
    segment mean for that run length; ``t`` the sessions seen since the client's first
    score; ``hist_m, hist_v`` the filtered level after the last ``window`` sessions (column
    0 the latest); ``loglik`` the log marginal likelihood of the scores so far.
    """

    w: np.ndarray
    mu: np.ndarray
    kappa: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    t: np.ndarray
    loglik: np.ndarray
    hist_m: np.ndarray
    hist_v: np.ndarray
    last_pb: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last_pd: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def empty(cls, n: int, width: int, window: int, prior: Prior) -> Arrays:
        shape = (n, max(int(width), 1))
        return cls(
            w=np.zeros(shape),
            mu=np.full(shape, prior.mu0),
            kappa=np.full(shape, prior.kappa0),
            alpha=np.full(shape, prior.alpha0),
            beta=np.full(shape, prior.beta0),
            t=np.zeros(n, dtype=np.int64),
            loglik=np.zeros(n),
            hist_m=np.full((n, window), np.nan),
            hist_v=np.full((n, window), np.nan),
            last_pb=np.zeros(n),
            last_pd=np.zeros(n),
        )

    @property
    def width(self) -> int:
        return self.w.shape[1]

    def widen(self, width: int, prior: Prior) -> None:
        """Make room for run lengths up to ``width`` (new columns carry no mass)."""
        extra = width - self.width
        if extra <= 0:
            return
        n = len(self.t)
        self.w = np.hstack([self.w, np.zeros((n, extra))])
        for name, value in (
            ("mu", prior.mu0),
            ("kappa", prior.kappa0),
            ("alpha", prior.alpha0),
            ("beta", prior.beta0),
        ):
            setattr(self, name, np.hstack([getattr(self, name), np.full((n, extra), value)]))

    def compact(self) -> None:
        """Drop the trailing run lengths that carry no mass for any client."""
        used = np.flatnonzero(self.w.any(axis=0))
        keep = int(used[-1]) + 1 if len(used) else 1
        if keep < self.width:
            for name in ("w", "mu", "kappa", "alpha", "beta"):
                setattr(self, name, getattr(self, name)[:, :keep].copy())

    def copy(self, width: int, prior: Prior) -> Arrays:
        """A copy with room for run lengths up to ``width`` (one pass over the arrays)."""
        n, w = len(self.t), max(self.width, int(width))
        out = {}
        for name, value in (
            ("w", 0.0),
            ("mu", prior.mu0),
            ("kappa", prior.kappa0),
            ("alpha", prior.alpha0),
            ("beta", prior.beta0),
        ):
            old = getattr(self, name)
            new = np.empty((n, w))
            new[:, : old.shape[1]] = old
            new[:, old.shape[1] :] = value
            out[name] = new
        for name in ("t", "loglik", "hist_m", "hist_v", "last_pb", "last_pd"):
            out[name] = getattr(self, name).copy()
        return Arrays(**out)

    def take(self, rows: np.ndarray) -> Arrays:
        return Arrays(**{k: v[rows].copy() for k, v in self.__dict__.items()})

    def block(self, begin: int, end: int) -> Arrays:
        """Rows ``begin:end`` as views: stepping the block updates these arrays in place."""
        return Arrays(**{k: v[begin:end] for k, v in self.__dict__.items()})


def step(
    arr: Arrays,
    rows: np.ndarray,
    x: np.ndarray,
    prior: Prior,
    hazard: float,
    window: int,
    criterion: float | None,
    sign: int,
    prune: float,
    k: int | None = None,
) -> dict[str, np.ndarray]:
    """Advance the clients ``rows`` by one session with scores ``x`` (NaN = missed).

    Rows with ``t == 0`` start here (their first score, which must be observed). The
    caller guarantees ``arr.width > t`` for every stepped row. Returns the outputs of
    :data:`OUTPUTS` for the stepped rows.

    ``k`` is the number of run-length columns worked on (default: one more than the
    longest run of the stepped rows). Columns beyond a row's own run carry no mass, but
    the number of columns decides how the sums over run lengths are grouped, so a caller
    that steps a cohort in blocks of clients passes the whole cohort's ``k`` to get the
    very same numbers as one step over every client.
    """
    t = arr.t[rows]
    # Only run lengths up to the sessions seen can carry mass: work on those columns, on
    # views when every client steps.
    k = min(arr.width, int(t.max(initial=0)) + 1) if k is None else min(arr.width, int(k))
    full = len(rows) == len(arr.t) and bool(np.array_equal(rows, np.arange(len(rows))))
    pick = slice(None) if full else rows
    w, mu, ka, al, be = (getattr(arr, n)[pick, :k] for n in ("w", "mu", "kappa", "alpha", "beta"))
    seen = ~np.isnan(x)
    every = bool(seen.all())
    xs = (x if every else np.where(seen, x, 0.0))[:, None]
    with np.errstate(all="ignore"):
        lp0 = student_logpdf(xs[:, 0], prior.mu0, prior.kappa0, prior.alpha0, prior.beta0)
        lp = _logpdf(xs, mu, ka, al, be, prior.alpha0, k)
    if not every:
        lp0 = np.where(seen, lp0, 0.0)
        lp = np.where(seen[:, None], lp, 0.0)
    h = np.where(t == 0, 1.0, hazard)
    with np.errstate(divide="ignore", invalid="ignore"):
        # log(0) = -inf for run lengths without mass: they stay without it.
        log_grow = np.log1p(-h)[:, None] + np.log(w) + lp
        log_new = np.log(h) + lp0
    top = np.maximum(log_new, np.max(log_grow, axis=1, initial=-np.inf))
    grow = np.exp(log_grow - top[:, None])
    new = np.exp(log_new - top)
    total = new + grow.sum(axis=1)
    w_next = np.empty_like(w)
    w_next[:, 0] = new / total
    w_next[:, 1:] = grow[:, :-1] / total[:, None]
    if prune > 0:
        w_next[w_next < prune] = 0.0
        w_next /= w_next.sum(axis=1, keepdims=True)
    arr.loglik[rows] += top + np.log(total)

    # Posterior parameters: every run grows by one session, a new run starts from the prior.
    k1 = ka + 1.0
    upd_mu = (ka * mu + xs) / k1
    upd_ka = k1
    upd_al = al + 0.5
    upd_be = be + ka * (xs - mu) ** 2 / (2.0 * k1)
    k0 = prior.kappa0 + 1.0
    first = [
        (prior.kappa0 * prior.mu0 + xs[:, 0]) / k0,
        np.full(len(x), k0),
        np.full(len(x), prior.alpha0 + 0.5),
        prior.beta0 + prior.kappa0 * (xs[:, 0] - prior.mu0) ** 2 / (2 * k0),
    ]
    if not every:
        kept = seen[:, None]
        upd_mu, upd_ka = np.where(kept, upd_mu, mu), np.where(kept, upd_ka, ka)
        upd_al, upd_be = np.where(kept, upd_al, al), np.where(kept, upd_be, be)
        priors = (prior.mu0, prior.kappa0, prior.alpha0, prior.beta0)
        first = [np.where(seen, f, p0) for f, p0 in zip(first, priors)]
    new_params = []
    for upd, start in zip((upd_mu, upd_ka, upd_al, upd_be), first):
        out = np.empty_like(upd)
        out[:, 0] = start
        out[:, 1:] = upd[:, :-1]
        new_params.append(out)
    mu, ka, al, be = new_params
    t = t + 1
    for name, value in zip(("w", "mu", "kappa", "alpha", "beta"), (w_next, mu, ka, al, be)):
        getattr(arr, name)[pick, :k] = value
    arr.t[rows] = t

    # The current level, as a mixture over run lengths.
    var_r = be / (ka * (al - 1.0))
    level = np.sum(w_next * mu, axis=1)
    level_var = np.maximum(np.sum(w_next * (var_r + mu * mu), axis=1) - level * level, 0.0)

    # Changes within the window: run lengths 1..min(window, t - 1).
    width = w_next.shape[1]
    r = np.arange(1, min(window, width) + 1)
    inside = r[None, :] <= np.minimum(window, t - 1)[:, None]
    wr = np.where(inside, w_next[:, : len(r)], 0.0)
    p_change = wr.sum(axis=1)
    old_m = arr.hist_m[rows][:, : len(r)]
    old_v = arr.hist_v[rows][:, : len(r)]
    if criterion is None:
        p_b = np.full(len(rows), np.nan)
        p_d = np.full(len(rows), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = sign * (old_m - mu[:, : len(r)])
        size = np.sum(np.where(inside, wr * gain, 0.0), axis=1) / p_change
    size[p_change <= 0] = np.nan
    if criterion is not None:
        with np.errstate(invalid="ignore"):
            spread = np.sqrt(old_v + var_r[:, : len(r)])
            better = sign * (old_m - mu[:, : len(r)])
            up = ndtr((better - criterion) / spread)
            down = ndtr((-better - criterion) / spread)
        p_b = np.sum(np.where(inside, wr * up, 0.0), axis=1)
        p_d = np.sum(np.where(inside, wr * down, 0.0), axis=1)
    hm = arr.hist_m[rows]
    hv = arr.hist_v[rows]
    arr.hist_m[rows] = np.column_stack([level, hm[:, :-1]]) if window > 1 else level[:, None]
    arr.hist_v[rows] = (
        np.column_stack([level_var, hv[:, :-1]]) if window > 1 else level_var[:, None]
    )

    # The next score: a change before it (prior predictive) or the current runs go on.
    pred_var_r = be * (ka + 1.0) / (ka * (al - 1.0))
    grow_w = (1.0 - hazard) * w_next
    next_mean = hazard * prior.mu0 + np.sum(grow_w * mu, axis=1)
    second = hazard * (prior.predictive_var + prior.mu0**2) + np.sum(
        grow_w * (pred_var_r + mu * mu), axis=1
    )
    next_sd = np.sqrt(np.maximum(second - next_mean**2, 0.0))
    run_length = np.argmax(w_next, axis=1) + 1
    return {
        "p_change": p_change,
        "p_breakthrough": p_b,
        "p_deterioration": p_d,
        "change_size": size,
        "run_length": run_length.astype(np.int64),
        "level": level,
        "level_sd": np.sqrt(level_var),
        "next_mean": next_mean,
        "next_sd": next_sd,
    }
