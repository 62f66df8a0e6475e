"""Rank-normalised split R-hat and bulk / tail effective sample sizes, many parameters at once.

The definitions are those of Vehtari et al. (2021) as ArviZ computes them (``az.rhat``,
``az.ess(method="bulk" | "tail")``), step for step, so the numbers agree with ArviZ's to
rounding (``tests/test_bayes.py`` compares them). ArviZ computes them one scalar at a time;
a hierarchical fit has four posterior quantities per client, so 1,000 clients meant 4,000
calls of each and half a minute after sampling. Here the ranks, the autocovariances (FFT)
and the variances are computed for every parameter in one array operation, and only
Geyer's initial monotone sequence, a short loop per parameter, runs compiled.

:func:`diagnose` takes draws shaped ``(chain, draw, K)`` and returns ``K`` values of each
statistic; a parameter with a missing draw gets NaN, as in ArviZ.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import special, stats

__all__ = ["diagnose", "ess_of_chains"]

_MIN_DRAWS = 4


def _by_parameter(draws: np.ndarray) -> np.ndarray:
    """(chain, draw, K) -> (K, chain, draw), as floats."""
    x = np.asarray(draws, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"draws must be shaped (chain, draw, K); got shape {x.shape}.")
    return np.ascontiguousarray(np.moveaxis(x, 2, 0))


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain's first and second halves as separate chains (the middle draw of an odd
    count left out)."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half :]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of each parameter's pooled ranks (Blom's offset 3/8)."""
    k, m, n = x.shape
    rank = stats.rankdata(x.reshape(k, m * n), method="average", axis=1)
    return special.ndtri((rank - 3 / 8) / (m * n - 2 * 3 / 8 + 1)).reshape(k, m, n)


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    between = n * np.var(x.mean(axis=2), axis=1, ddof=1)
    within = np.var(x, axis=2, ddof=1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _missing(x: np.ndarray) -> np.ndarray:
    return np.isnan(x).any(axis=(1, 2))


def diagnose(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat, bulk ESS and tail ESS of every parameter (the ranks computed once).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> mixed = rng.normal(size=(4, 500, 2))
    >>> stuck = mixed + np.array([0.0, 0.0, 0.0, 3.0])[:, None, None]
    >>> r, bulk, tail = diagnose(mixed)
    >>> bool(r.max() < 1.01), bool(1500 < bulk.min()), bool(diagnose(stuck)[0].min() > 1.1)
    (True, True, True)
    """
    x = _by_parameter(draws)
    out = (np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan), np.full(x.shape[0], np.nan))
    if x.shape[2] < _MIN_DRAWS:
        return out
    ok = ~_missing(x)
    if not ok.any():
        return out
    x = x[ok]
    split = _split(x)
    z = _z_scale(split)
    if x.shape[1] >= 2:
        out[0][ok] = _rank_rhat(split, z)
    out[1][ok] = ess_of_chains(z)
    out[2][ok] = _tail_ess(x)
    return out


def _rank_rhat(split: np.ndarray, z: np.ndarray) -> np.ndarray:
    bulk = _rhat(z)
    median = np.median(split.reshape(len(split), -1), axis=1)
    tail = _rhat(_z_scale(np.abs(split - median[:, None, None])))
    # max(bulk, tail) as Python's max orders them: a NaN bulk value stays NaN
    return np.where(tail > bulk, tail, bulk)


def _tail_ess(x: np.ndarray) -> np.ndarray:
    pooled = x.reshape(len(x), -1)
    low, high = (
        ess_of_chains(_split((x <= np.quantile(pooled, p, axis=1)[:, None, None]).astype(float)))
        for p in (0.05, 0.95)
    )
    return np.where(high < low, high, low)  # min(low, high) as Python orders them


def ess_of_chains(x: np.ndarray) -> np.ndarray:
    """Effective sample size of each parameter's chains as they are (not split), x shaped
    (K, chain, draw)."""
    k, m, n = x.shape
    flat = x.reshape(k, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    centred = x - x.mean(axis=2, keepdims=True)
    size = _fft_size(2 * n)
    spectrum = np.fft.rfft(centred, n=size, axis=2)
    spectrum *= np.conjugate(spectrum)
    acov = np.fft.irfft(spectrum, n=size, axis=2)[:, :, :n] / n
    mean_acov = acov.mean(axis=1)
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = _geyer_tau(mean_acov, mean_var, var_plus)
    total = float(m * n)
    ess = total / np.maximum(tau, 1 / np.log10(total))
    ess[np.isnan(tau)] = np.nan
    ess[constant] = total
    return ess


def _fft_size(target: int) -> int:
    from scipy.fft import next_fast_len

    return int(next_fast_len(target))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _geyer_tau(
    mean_acov: np.ndarray, mean_var: np.ndarray, var_plus: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """Integrated autocorrelation time per parameter from Geyer's initial positive and
    monotone sequences (the loop of ArviZ's ``_ess``, one parameter per row)."""
    k, n = mean_acov.shape
    tau = np.empty(k)
    rho = np.zeros(n)
    for j in range(k):
        rho[:] = 0.0
        mv, vp = mean_var[j], var_plus[j]
        even = 1.0
        rho[0] = even
        odd = 1.0 - (mv - mean_acov[j, 1]) / vp
        rho[1] = odd
        t = 1
        while t < n - 3 and (even + odd) > 0.0:
            even = 1.0 - (mv - mean_acov[j, t + 1]) / vp
            odd = 1.0 - (mv - mean_acov[j, t + 2]) / vp
            if (even + odd) >= 0:
                rho[t + 1] = even
                rho[t + 2] = odd
            t += 2
        max_t = t - 2
        if even > 0:
            rho[max_t + 1] = even
        t = 1
        while t <= max_t - 2:
            if (rho[t + 1] + rho[t + 2]) > (rho[t - 1] + rho[t]):
                rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
                rho[t + 2] = rho[t + 1]
            t += 2
        total = 0.0
        bad = False
        for i in range(n):
            if np.isnan(rho[i]):
                bad = True
        for i in range(max_t + 1):
            total += rho[i]
        last = rho[max_t + 1] if max_t + 1 < n else 0.0
        tau[j] = np.nan if bad else -1.0 + 2.0 * total + last
    return tau
