"""Leave-one-client-out cross-validation: PSIS-LOO on the score scale, and model comparison.

Pareto-smoothed importance sampling (Vehtari, Gelman & Gabry, 2017; Vehtari, Simpson,
Gelman, Yao & Gabry, 2024) written out here on NumPy arrays, so that the comparison does not
depend on which ArviZ (InferenceData or DataTree) is installed; the tests check it against
``arviz.loo``. Models fitted to clients alone (``pooling="none"``) share no parameters
between clients, so leaving a client out leaves the others' posterior unchanged and the
client's LOO predictive density is its exact marginal likelihood: no importance sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from ..errors import ToolkitWarning, warn

#: Columns of :func:`compare`.
COMPARE_COLUMNS = [
    "model",
    "rank",
    "elpd_loo",
    "p_loo",
    "elpd_diff",
    "weight",
    "se",
    "dse",
    "warning",
    "scale",
]
PARETO_K_MAX = 0.7


def ess_mean(x: np.ndarray) -> float:
    """Effective sample size of the mean of (chains, draws) values (Geyer's initial monotone
    sequence over the chains' combined autocorrelations, as in Stan and ArviZ)."""
    from ._convergence import ess_of_chains

    n_chain, n_draw = x.shape
    if n_draw < 4 or not np.isfinite(x).all():
        return float(n_chain * n_draw)
    return float(ess_of_chains(np.asarray(x, dtype=float)[None])[0])


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto fit to sorted positive exceedances (Zhang & Stephens, 2009), with
    the weakly informative prior on the shape that PSIS uses."""
    n = len(x)
    m = 30 + int(np.sqrt(n))
    b = 1 - np.sqrt(m / (np.arange(1, m + 1) - 0.5))
    b = b / (3 * x[int(n / 4 + 0.5) - 1]) + 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    profile = n * (np.log(-(b / k)) - k - 1)
    weights = 1 / np.exp(profile - profile[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    weights, b = weights[keep], b[keep]
    weights = weights / weights.sum()
    b_post = (b * weights).sum()
    k_post = np.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    k_post = (n * k_post + 10 * 0.5) / (n + 10)
    return float(k_post), float(sigma)


def _gpd_quantile(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if abs(k) < 1e-12:
        return -sigma * np.log1p(-p)
    return sigma * np.expm1(-k * np.log1p(-p)) / k


def psis(log_ratios: np.ndarray, reff: float) -> tuple[np.ndarray, float]:
    """Pareto-smoothed log weights (normalised) of one observation's draws, and Pareto k."""
    S = len(log_ratios)
    x = log_ratios - log_ratios.max()
    tail = int(np.ceil(min(0.2 * S, 3 * np.sqrt(S / reff))))
    order = np.argsort(x, kind="stable")
    cutoff = max(x[order[-tail - 1]], np.log(np.finfo(float).tiny))
    in_tail = np.flatnonzero(x > cutoff)
    k = np.inf
    if len(in_tail) > 4:
        sub = in_tail[np.argsort(x[in_tail], kind="stable")]
        exceed = np.exp(x[sub]) - np.exp(cutoff)
        k, sigma = _gpd_fit(exceed)
        if np.isfinite(k):
            smooth = _gpd_quantile(np.arange(0.5, len(sub)) / len(sub), k, sigma)
            x = x.copy()
            x[sub] = np.log(smooth + np.exp(cutoff))
            x[x > 0] = 0.0
    return x - logsumexp(x), k


def psis_loo(loglik: np.ndarray) -> pd.DataFrame:
    """Pointwise PSIS-LOO of (chains, draws, clients) log-likelihoods.

    Returns one row per client: ``elpd`` (log predictive density of the left-out client),
    ``lppd`` (in-sample), ``pareto_k``.
    """
    n_chain, n_draw, N = loglik.shape
    flat = loglik.reshape(n_chain * n_draw, N)
    elpd, lppd, kk = np.empty(N), np.empty(N), np.empty(N)
    S = len(flat)
    for i in range(N):
        ll = flat[:, i]
        shifted = np.exp(ll - ll.max()).reshape(n_chain, n_draw)
        reff = ess_mean(shifted) / S
        lw, k = psis(-ll, max(reff, 1e-3))
        elpd[i] = logsumexp(ll + lw)
        lppd[i] = logsumexp(ll) - np.log(S)
        kk[i] = k
    return pd.DataFrame({"elpd": elpd, "lppd": lppd, "pareto_k": kk})


def pointwise(result: Any) -> pd.DataFrame:
    """Per-client LOO of a fitted result on the score scale (exact for ``pooling="none"``)."""
    if result.settings.get("pooling") == "none":
        exact = result._exact["loglik_score"]
        return pd.DataFrame(
            {"elpd": exact, "lppd": np.full(len(exact), np.nan), "pareto_k": np.nan}
        )
    from ._idata import group

    ll = group(result.idata, "log_likelihood")["score"]
    return psis_loo(np.asarray(ll.values, dtype=float))


def _stacking(elpd: np.ndarray) -> np.ndarray:
    """Stacking weights of the models' pointwise predictive densities (N x M), as in ArviZ:
    the weights on the simplex maximising sum_i log sum_m w_m exp(elpd_im)."""
    M = elpd.shape[1]
    if M == 1:
        return np.ones(1)
    shifted = elpd - elpd.max(axis=1, keepdims=True)
    dens = np.exp(shifted)

    def loss(z: np.ndarray) -> float:
        w = np.exp(np.append(z, 0.0) - logsumexp(np.append(z, 0.0)))
        return -float(np.log(dens @ w + 1e-300).sum())

    best = minimize(loss, np.zeros(M - 1), method="BFGS")
    z = np.append(best.x, 0.0)
    return np.exp(z - logsumexp(z))


def compare(results: Mapping[str, Any]) -> pd.DataFrame:
    """Rank fitted models by leave-one-client-out cross-validation on the score scale.

    Parameters
    ----------
    results : dict of {name: BayesResult}
        At least two fits to the same clients and scores (any shapes and poolings, e.g.
        ``change="mixture"`` and ``change="none"``, or the same data under two
        instruments' prior scales).

    Returns
    -------
    pandas.DataFrame
        One row per model, best first: ``model``, ``rank`` (0 = best), ``elpd_loo`` (sum
        over clients of the log predictive density of the left-out client's scores, in
        score units), ``p_loo`` (effective number of parameters; NaN for exact fits, which
        sample nothing), ``elpd_diff`` (below the best), ``weight`` (stacking), ``se``,
        ``dse`` (SE of the difference from the best), ``warning`` (some client has Pareto
        k > 0.7), ``scale`` ("log").

    Raises
    ------
    ValueError
        Fewer than two results, or fits to different clients or scores.

    Warns
    -----
    ToolkitWarning
        When a model has Pareto k > 0.7 for some client (its LOO estimate is unreliable).

    Notes
    -----
    The unit left out is a client, so the comparison asks which model better predicts a new
    client's whole trajectory; each client's log-likelihood has the change summed out.
    Log-likelihoods are on the score scale (the standardisation's Jacobian removed), so
    fits whose priors are scaled to different ranges are comparable. Sampled models use
    PSIS-LOO; models of clients alone use each client's exact marginal likelihood.

    References
    ----------
    Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. Statistics and Computing, 27(5), 1413-1432.
    Yao, Y., Vehtari, A., Simpson, D., & Gelman, A. (2018). Using stacking to average
    Bayesian predictive distributions. Bayesian Analysis, 13(3), 917-1007.
    """
    from ._result import BayesResult

    if not isinstance(results, Mapping) or len(results) < 2:
        raise ValueError(
            "compare() needs a dict of at least two fitted results, e.g. "
            "{'change': fit(...), 'no change': fit(..., change='none')}."
        )
    first: Any = None
    for name, r in results.items():
        if not isinstance(r, BayesResult):
            raise TypeError(f"results[{name!r}] is a {type(r).__name__}, not a BayesResult.")
        clients = r.table["client"].tolist()
        if first is None:
            first = (clients, r)
        elif clients != first[0]:
            raise ValueError(
                f"results[{name!r}] was fitted to other clients than the first model; LOO "
                "needs the same clients. Fix: fit every model to the same data."
            )
        elif r._design is not None and first[1]._design is not None:
            a, b = r._design.matrix, first[1]._design.matrix
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                raise ValueError(
                    f"results[{name!r}] was fitted to other scores than the first model. "
                    "Fix: fit every model to the same data."
                )
    names = list(results)
    parts = {k: pointwise(r) for k, r in results.items()}
    elpd = np.column_stack([parts[k]["elpd"].to_numpy() for k in names])
    N = elpd.shape[0]
    totals = elpd.sum(axis=0)
    order = np.argsort(-totals, kind="stable")
    best = order[0]
    weights = _stacking(elpd)
    rows = []
    for rank, m in enumerate(order):
        p = parts[names[m]]
        diff = elpd[:, best] - elpd[:, m]
        rows.append(
            {
                "model": names[m],
                "rank": rank,
                "elpd_loo": totals[m],
                "p_loo": float((p["lppd"] - p["elpd"]).sum()),
                "elpd_diff": totals[best] - totals[m],
                "weight": weights[m],
                "se": float(np.sqrt(N * elpd[:, m].var())),
                "dse": float(np.sqrt(N * diff.var())) if m != best else 0.0,
                "warning": bool((p["pareto_k"] > PARETO_K_MAX).any()),
                "scale": "log",
            }
        )
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    flagged = table.loc[table["warning"], "model"].tolist()
    if flagged:
        warn(
            f"PSIS-LOO is unreliable for {flagged}: some clients have Pareto k > "
            f"{PARETO_K_MAX} (highly influential). Fix: read small elpd differences with "
            "caution, or refit leaving those clients out (exact LOO); pareto_k() names them.",
            ToolkitWarning,
            stacklevel=3,
        )
    return table
