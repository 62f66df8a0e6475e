"""The PyMC models: priors, the marginal likelihood, prior predictive simulation."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ..data import LongScores, as_scores
from ..instruments import Instrument
from . import _algebra
from ._design import Design, Stats
from ._design import design as make_design

if TYPE_CHECKING:  # pragma: no cover
    import pymc as pm

MODELS = ("hierarchical", "trend", "mean_shift")
CHANGES = ("mixture", "always", "none")
# Prior scales in standardised units (score = midpoint + range * value; slopes per whole
# course, first to last session). Documented in build_model's Notes.
MU_SD = {"baseline": 0.25, "pre_slope": 0.25, "jump": 0.25, "post_slope": 0.25}
SD_SD = 0.15  # HalfNormal scale of every population SD
BETA_SD = 0.25
SIGMA_SD = 0.15
ALONE_SD = 0.3  # prior SD of every effect of a client analysed on its own
NO_POOLING_P_CHANGE = 0.5

#: Columns of :func:`prior_predictive`.
PRIOR_PREDICTIVE_COLUMNS = [
    "draw",
    "client",
    "session",
    "score",
    "change",
    "change_session",
    "jump",
]


def pymc():
    """PyMC, imported on first use (its import takes seconds)."""
    import pymc

    return pymc


@contextlib.contextmanager
def quiet():
    """Keep PyMC's step-by-step log and the compiler's BLAS notice out of the user's way.

    The BLAS notice concerns matrix products, which these models barely use; PyMC's own
    warnings and errors still show, except numerical overflow during step-size and
    mass-matrix adaptation, which the final diagnostics judge.
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
            # Early in tuning the mass-matrix adaptation can overflow harmlessly; whether the
            # final sampling is sound is judged by the diagnostics the toolkit reports.
            warnings.filterwarnings(
                "ignore",
                message="overflow encountered",
                category=RuntimeWarning,
                module="pymc.step_methods",
            )
            yield
    finally:
        logger.setLevel(level)


def check_options(model: str, change: str) -> None:
    if model not in MODELS:
        raise ValueError(
            f"The 'model' parameter must be one of {set(MODELS)}. Got {model!r} instead."
        )
    if change not in CHANGES:
        raise ValueError(
            f"The 'change' parameter must be one of {set(CHANGES)}. Got {change!r} instead."
        )


def combine(ev0: Any, evk: Any, log_prior: Any, pi: Any, change: str, ops: Any) -> Any:
    """Per-client log-likelihood with change status and session summed out.

    ``ev0`` (..., N) without a change, ``evk`` (..., N, K) with a change at each candidate::

        log p(y_i) = logaddexp(log(1 - pi) + ev0_i, log(pi) + logsumexp_k(evk_ik + log_prior_ik))
    """
    if change == "none":
        return ev0
    lse = ops.logsumexp(evk + log_prior, axis=-1)
    if change == "always":
        return lse
    return ops.logaddexp(ops.log1p(-pi) + ev0, ops.log(pi) + lse)


NUMPY = SimpleNamespace(log=np.log, log1p=np.log1p, logaddexp=np.logaddexp, logsumexp=logsumexp)


def build_model(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["hierarchical", "trend", "mean_shift"] = "hierarchical",
    change: Literal["mixture", "always", "none"] = "mixture",
    covariates: Sequence[str] | None = None,
    better: Literal["lower", "higher"] | None = None,
) -> pm.Model:
    """Build a change-point model as a plain ``pymc.Model`` (for prior checks or own sampling).

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame also pass ``client=``, ``session=``, ``score=``.
    client, session, score : str, optional
        Column names when ``data`` is a DataFrame.
    instrument : str or Instrument, optional
        Sets the score range the priors are scaled to and the direction of improvement.
    model : {"hierarchical", "trend", "mean_shift"}, default "hierarchical"
        See :mod:`toolkit.bayes`.
    change : {"mixture", "always", "none"}, default "mixture"
        ``"mixture"``: each client changes with probability ``p_change``; ``"always"``: every
        client has exactly one change; ``"none"``: no change (the model to compare against).
    covariates : list of str, optional
        Client-level columns (constant within client) predicting baseline and jump
        (``model="hierarchical"`` only). Numeric columns are centred; text columns are
        dummy-coded against their first level and centred.
    better : {"lower", "higher"}, optional
        Direction of improvement when there is no instrument.

    Returns
    -------
    pymc.Model
        Coordinates ``client`` (analysed clients; those with fewer than 4 observed scores
        are left out) and ``covariate``. The marginal likelihood is one ``pm.Potential``
        named ``"marginal_likelihood"``. Free variables are in standardised units (suffix
        ``_std``); deterministics in score units: ``<effect>_mu`` and ``<effect>_sd`` for the
        effects ``baseline`` (expected score at the first session), ``pre_slope``, ``jump``
        and ``post_slope`` (points per session), ``beta_baseline``, ``beta_jump`` and
        ``sigma``; ``p_change`` is the share of clients who change. Client-level effects are
        integrated out (see Notes); :func:`toolkit.bayes.fit` draws them afterwards.

    Raises
    ------
    EmptyDataError
        Every score is missing, or no client has 4 observed scores.
    DataError
        Constant scores; a covariate that varies within a client, is missing or constant.
    ValueError
        An unknown option, or no direction of improvement.

    Notes
    -----
    Scores are standardised as ``y* = (y - c) / R`` with ``c`` the midpoint and ``R`` the
    width of the instrument's range (of the observed scores without an instrument); time is
    ``u = (session - first) / (last - first)``. For client *i* with a change taking effect
    at session *k* (the first session at the new level)::

        mu_it = a_i + b_i u_t                               (t < k)
        mu_it = a_i + b_i u_k + d_i + p_i (u_t - u_k)       (t >= k)
        y_it ~ Normal(mu_it, sigma)

    with jump ``d`` and post-change slope ``p``; without a change ``mu_it = a_i + b_i u_t``
    (the mean-shift model has no slopes). The change session is uniform over the client's
    sessions with at least 2 observed scores before it and 2 from it on, and is summed out::

        log p(y_i) = logaddexp(log(1 - pi) + l0_i, log(pi) + logsumexp_k(l_ik - log K_i))

    where ``l`` are the log-likelihoods without and with a change at *k*; missing sessions
    drop out of every sum. Priors, in standardised units (so in fractions of the
    instrument's range) with slopes per course, are weakly informative: a population-mean
    jump or total drift of half the range is two prior SDs, and :func:`prior_predictive`
    keeps most simulated scores within about one range of the scale::

        hierarchical: a_i ~ N(mu_a + x_i beta_a, s_a), b_i ~ N(mu_b, s_b),
                      d_i ~ N(mu_d + x_i beta_d, s_d), p_i ~ N(mu_p, s_p);
                      mu_a, mu_b, mu_d, mu_p ~ N(0, 0.25);
                      s_a, s_b, s_d, s_p ~ HalfNormal(0.15); beta ~ N(0, 0.25);
                      sigma ~ HalfNormal(0.15), shared; pi ~ Beta(1, 1)
        trend, mean_shift (each client alone): a_i, b_i, d_i, p_i ~ N(0, 0.3);
                      sigma_i ~ HalfNormal(0.15); pi = 0.5, fixed

    Given the change session, ``y_i`` is linear in ``theta_i = (a_i, b_i, d_i, p_i)`` with a
    normal prior, so ``l_ik`` is a normal marginal likelihood in closed form (matrix
    determinant lemma and Woodbury identity on 4 x 4 matrices, from per-client sums) and
    NUTS samples only the population-level parameters: the limit of the non-centred
    parameterisation, with no funnel left to form. Client-level effects are independent
    given the population (no correlation matrix); the hierarchical model shares one noise
    SD across clients.

    References
    ----------
    Lindeløv, J. K. (2020). mcp: An R package for regression with multiple change points.
    OSF Preprints. https://doi.org/10.31219/osf.io/fzqxv
    Stan Development Team. Stan User's Guide, "Change point models" (marginalising a
    discrete change point).
    Bishop, C. M. (2006). Pattern Recognition and Machine Learning, section 3.5 (the
    evidence of Bayesian linear regression).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> m = bayes.build_model(scores, model="trend")
    >>> scores.n_clients, len(m.coords["client"])  # 3 clients have fewer than 4 scores
    (43, 40)
    """
    check_options(model, change)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    return build(make_design(scores, model=model, covariates=covariates, better=better), change)


def effects_of(design: Design, change: str) -> list[str]:
    return design.effects if change != "none" else design.effects[: design.n_none]


def build(design: Design, change: str) -> pm.Model:
    pm = pymc()
    import pytensor.tensor as pt

    from ._ops import Evidence

    coords = {"client": design.clients.tolist()}
    if design.X is not None:
        coords["covariate"] = design.covariate_names
    effects = effects_of(design, change)
    N = len(design.clients)
    with pm.Model(coords=coords) as m:
        means, variances = [], []
        if design.model == "hierarchical":
            for name in effects:
                unit, offset = design.unit(name), design.offset(name)
                mu = pm.Normal(f"{name}_mu_std", 0.0, MU_SD[name])
                sd = pm.HalfNormal(f"{name}_sd_std", SD_SD)
                pm.Deterministic(f"{name}_mu", offset + mu * unit)
                pm.Deterministic(f"{name}_sd", sd * unit)
                value = pt.broadcast_to(mu, (N,))
                if design.X is not None and name in ("baseline", "jump"):
                    beta = pm.Normal(f"beta_{name}_std", 0.0, BETA_SD, dims="covariate")
                    pm.Deterministic(f"beta_{name}", beta * unit, dims="covariate")
                    value = mu + pt.dot(design.X, beta)
                means.append(value)
                variances.append(sd**2)
            sigma = pm.HalfNormal("sigma_std", SIGMA_SD)
            pm.Deterministic("sigma", sigma * design.scale)
            sigma2 = pt.broadcast_to(sigma**2, (N,))
            pi = pm.Beta("p_change", 1.0, 1.0) if change == "mixture" else None
            mean: Any = pt.stack(means, axis=1)
            var: Any = pt.stack(variances)
        else:
            mean = np.zeros((N, len(effects)))
            var = np.full(len(effects), ALONE_SD**2)
            sigma = pm.HalfNormal("sigma_std", SIGMA_SD, dims="client")
            pm.Deterministic("sigma", sigma * design.scale, dims="client")
            sigma2 = sigma**2
            pi = NO_POOLING_P_CHANGE
        st = design.stats
        J0 = design.n_none
        # one output (default_output = 0), not the list Op.__call__ is typed to allow
        ev0 = cast(
            "pt.TensorVariable", Evidence(st.G0, st.h0, st.yy, st.n)(mean[:, :J0], var[:J0], sigma2)
        )[:, 0]
        evk = None
        if change != "none":
            evk = Evidence(st.G, st.h, st.yy, st.n)(mean, var, sigma2)
        ops = SimpleNamespace(
            log=pt.log, log1p=pt.log1p, logaddexp=pt.logaddexp, logsumexp=pt.logsumexp
        )
        pm.Potential("marginal_likelihood", combine(ev0, evk, st.log_prior, pi, change, ops).sum())
    return m


def hyper_draws(group: Any, design: Design, change: str, rows: Any = None) -> SimpleNamespace:
    """Standardised hyperparameters per draw from a posterior (or prior) group.

    Shapes broadcast against (draws, clients, candidates): means (D, N, 1), variances
    (D, 1, 1), ``sigma2`` (D, 1, 1) or (D, N, 1), ``pi`` (D, 1) or None.
    """

    def get(name):
        v = np.asarray(group[name].values, dtype=float)
        return v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])

    n = len(design.clients) if rows is None else len(rows)
    effects = effects_of(design, change)
    if design.model == "hierarchical":
        mean, var = [], []
        for name in effects:
            mu = get(f"{name}_mu_std")[:, None]
            if f"beta_{name}_std" in group:
                covs = cast(np.ndarray, design.X)  # not None: beta_* exist only with covariates
                X = covs if rows is None else covs[rows]
                mu = mu + get(f"beta_{name}_std") @ X.T
            mean.append(np.broadcast_to(mu, (len(mu), n))[..., None])
            var.append((get(f"{name}_sd_std") ** 2)[:, None, None])
        sigma2 = (get("sigma_std") ** 2)[:, None, None]
        pi = get("p_change")[:, None] if change == "mixture" else None
    else:
        sigma = get("sigma_std")
        sigma = sigma if rows is None else sigma[:, rows]
        D = len(sigma)
        mean = [np.zeros((D, n, 1)) for _ in effects]
        var = [np.full((D, 1, 1), ALONE_SD**2) for _ in effects]
        sigma2 = (sigma**2)[..., None]
        pi = np.full((D, 1), NO_POOLING_P_CHANGE) if change == "mixture" else None
    return SimpleNamespace(mean=mean, var=var, sigma2=sigma2, pi=pi, n_draws=len(sigma2))


def take_draws(hyper: SimpleNamespace, draws: slice) -> SimpleNamespace:
    return SimpleNamespace(
        mean=[m[draws] for m in hyper.mean],
        var=[v[draws] for v in hyper.var],
        sigma2=hyper.sigma2[draws],
        pi=None if hyper.pi is None else hyper.pi[draws],
        n_draws=len(hyper.sigma2[draws]),
    )


def evidences(
    st: Stats, hyper: SimpleNamespace, change: str, J0: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """NumPy evidence without a change (D, N) and with one at each candidate (D, N, K)."""
    ev0 = _algebra.evidence(
        st.G0, st.h0, st.yy, st.n, hyper.mean[:J0], hyper.var[:J0], hyper.sigma2
    )[..., 0]
    evk = None
    if change != "none":
        evk = _algebra.evidence(st.G, st.h, st.yy, st.n, hyper.mean, hyper.var, hyper.sigma2)
    return ev0, evk


def prior_predictive(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["hierarchical", "trend", "mean_shift"] = "hierarchical",
    change: Literal["mixture", "always", "none"] = "mixture",
    covariates: Sequence[str] | None = None,
    better: Literal["lower", "higher"] | None = None,
    draws: int = 100,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate scores from a model's priors, on the data's clients and sessions.

    A prior predictive check: do the priors allow every plausible trajectory and rule out
    absurd ones? Arguments as in :func:`build_model`.

    Parameters
    ----------
    draws : int, default 100
        Prior draws (each a whole simulated cohort).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        One row per draw, client and session at which the client was observed: ``draw``,
        ``client``, ``session``, ``score`` (simulated; not clipped to the instrument's range,
        so out-of-range values show where the priors are wide), ``change`` (bool),
        ``change_session`` (NaN without a change) and ``jump`` (score points; NaN without a
        change).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes
    >>> sim = bayes.prior_predictive(toolkit.datasets.load_scores("sgdata"), draws=20, seed=1)
    >>> list(sim.columns) == bayes.PRIOR_PREDICTIVE_COLUMNS
    True
    >>> sim["draw"].nunique()
    20
    """
    check_options(model, change)
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a whole number >= 1; got {draws!r}.")
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(scores, model=model, covariates=covariates, better=better)
    pm_model = build(design, change)
    rng = np.random.default_rng(seed)
    with quiet(), warnings.catch_warnings():
        # The only Potential is the likelihood: leaving it out samples the prior exactly.
        warnings.filterwarnings("ignore", message=".*Potential.*")
        prior = pymc().sample_prior_predictive(
            draws=int(draws),
            model=pm_model,
            var_names=[v.name for v in pm_model.free_RVs],
            random_seed=int(rng.integers(2**31 - 1)),
        )
    hyper = hyper_draws(prior["prior"], design, change)
    D, (N, T) = hyper.n_draws, design.matrix.shape
    theta = [
        m[..., 0] + np.sqrt(v[..., 0]) * rng.standard_normal((D, N))
        for m, v in zip(hyper.mean, hyper.var)
    ]
    y = sum(theta[j][..., None] * design.rows0[:, j] for j in range(design.n_none))
    changed = np.zeros((D, N), dtype=bool)
    k = np.zeros((D, N), dtype=np.int64)
    jump = np.full((D, N), np.nan)
    if change != "none":
        changed = (rng.random((D, N)) < hyper.pi) if change == "mixture" else ~changed
        cum = np.cumsum(np.exp(design.stats.log_prior), axis=1)  # uniform over valid ones
        k = np.minimum((rng.random((D, N, 1)) > cum[None]).sum(axis=-1), len(design.candidates) - 1)
        rows = design.rows[k]  # (D, N, T, J)
        y_change = sum(theta[j][..., None] * rows[..., j] for j in range(len(theta)))
        y = np.where(changed[..., None], y_change, y)
        jump = np.where(changed, design.unit("jump") * theta[design.jump_index], np.nan)
    y = y + np.sqrt(hyper.sigma2) * rng.standard_normal((D, N, T))
    d_idx, n_idx, t_idx = np.nonzero(np.broadcast_to(~np.isnan(design.matrix), (D, N, T)))
    return pd.DataFrame(
        {
            "draw": d_idx,
            "client": design.clients.to_numpy()[n_idx],
            "session": design.sessions[t_idx],
            "score": design.mid + design.scale * y[d_idx, n_idx, t_idx],
            "change": changed[d_idx, n_idx],
            "change_session": np.where(changed, design.candidate_sessions[k], np.nan)[d_idx, n_idx],
            "jump": jump[d_idx, n_idx],
        }
    )[PRIOR_PREDICTIVE_COLUMNS]
