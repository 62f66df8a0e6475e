"""growth.fit: build the design, run an engine, and assemble the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .. import _checks
from .._results import base_settings, deprecated_option, warn
from ..data import LongScores, as_scores
from . import _design, _engines
from ._design import TIME_CODINGS
from ._result import (
    ENGINES,
    FITTED_COLUMNS,
    FIXED_COLUMNS,
    METHODS,
    RANDOM,
    RANDOM_COLUMNS,
    VARIANCE_COLUMNS,
    GrowthResult,
)

__all__ = ["fit", "refit"]

_UNSET: Any = object()


def fit(
    data: pd.DataFrame | LongScores,
    formula: str = "score ~ time",
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | None = None,
    time: Literal["linear", "log", "quadratic"] = "linear",
    time_zero: float = 0.0,
    random: str = "slope",
    method: Literal["reml", "ml"] = "reml",
    breakthroughs: pd.DataFrame | Any | None = None,
    breakthrough_client: str = "client",
    breakthrough_session: str | None = None,
    knots: Sequence[float] | float | None = None,
    engine: Literal["auto", "fast", "statsmodels"] = "auto",
    level: float = 0.95,
    progress: bool | None = None,
    ci_level: Any = _UNSET,
) -> GrowthResult:
    """Fit a mixed-effects growth model to repeated scores.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores (one row per client and session) with ``client=``, ``session=``
        and ``score=`` naming the columns, or already validated scores. Not modified.
        Covariates are the data's other columns, under their own names.
    formula : str, default "score ~ time"
        Fixed effects in the usual formula syntax (formulaic): ``"score ~ time * arm +
        baseline"``. The left side is ``score`` (or the caller's score column name). On the
        right, ``time`` is the coded time (see ``time``), ``session`` the raw session number
        (the caller's session column name works too), categorical covariates get treatment
        contrasts against their first level, and ``C(x, contr.treatment('b'))``, ``I(...)``
        etc. work as usual. Random effects are chosen with ``random``, not in the formula.
    client, session, score, instrument : str, optional
        Column roles (and the measure) when ``data`` is a DataFrame.
    time : {"linear", "log", "quadratic"}, default "linear"
        How ``time`` is coded from the session: ``session - time_zero``,
        ``log(session - time_zero)``, or linear plus ``time_sq = time**2`` (every formula
        term with ``time`` gets a copy with ``time_sq``).
    time_zero : float, default 0
        The session at which time is 0 (the intercept's session). Use the first session to
        make the intercept the initial status.
    random : str, default "slope"
        ``"intercept"`` (random intercept) or ``"slope"`` (correlated random intercept and
        slope on ``time``); or a random-effects formula such as ``"~ time +
        post_breakthrough"`` (unstructured covariance; fitted by statsmodels).
    method : {"reml", "ml"}, default "reml"
        Restricted or full maximum likelihood. Use ML to compare models whose fixed effects
        differ (:func:`compare` refits for you).
    breakthroughs : DataFrame or result, optional
        Discontinuous growth around each client's own breakthrough: a result of the toolkit
        (its ``breakthroughs()``, the improvements of at least the reliable-change
        criterion) or a table with a client and a session column. Adds
        ``post_breakthrough`` (1 from the breakthrough session on, the jump) and
        ``time_since_breakthrough`` (sessions since it, 0 before; the change in slope) to the
        fixed effects. The breakthrough session is the first session at the
        new level. Clients without a breakthrough (absent, or NaN session) stay in the
        model with both predictors 0; with several, the first one counts.
    breakthrough_client : str, default "client"
        Client column of ``breakthroughs``.
    breakthrough_session : str, optional
        Session column of a ``breakthroughs`` table (default ``"session"``).
    knots : float or sequence of float, optional
        Piecewise growth with known knots (sessions): adds ``time_after_<k>`` =
        max(0, session - k) per knot, the change in slope after session k.
    engine : {"auto", "fast", "statsmodels"}, default "auto"
        ``"fast"``: exact profiled (RE)ML on the (clients x sessions) layout (random
        intercept, or intercept and slope). ``"statsmodels"``: ``MixedLM`` (any random
        formula; ``.sm_result`` is kept). ``"auto"`` uses the fast path when it applies.
    level : float, default 0.95
        Level of the Wald confidence intervals (``ci_level=`` is its deprecated name).
    progress : bool, optional
        Progress bar over the statsmodels optimisers (the fast path needs none); default:
        the global option.

    Returns
    -------
    GrowthResult
        See :class:`GrowthResult` for every table and its columns; ``skipped`` lists clients
        with no observed score (with complete covariates).

    Raises
    ------
    ValueError
        A bad option, a formula that does not parse or names an unknown column, a
        non-identifiable design (e.g. no observed session after any breakthrough), or
        invalid data (see :func:`toolkit.data.long_scores`). Subclasses of ``DataError``
        where the data are at fault.

    Warns
    -----
    ToolkitWarning
        Observed scores left out for missing covariates; breakthrough-table problems; a
        singular (boundary) fit; a fit whose optimum could not be verified, or where an
        optimiser stopped at a worse optimum than another one (the better one is returned).

    Notes
    -----
    The model for client i at session j is::

        y_ij = x_ij' beta + b_0i + b_1i t_ij + e_ij,
        (b_0i, b_1i) ~ N(0, Sigma_b),  e_ij ~ N(0, sigma^2)

    (without b_1i for a random intercept). Discontinuous growth around client i's
    breakthrough at session B_i adds beta_jump * 1[s_ij >= B_i] + beta_slope * max(0,
    s_ij - B_i) to x_ij' beta (Singer & Willett, 2003, ch. 6). Estimates maximise the
    profiled REML or ML criterion of Bates et al. (2015). Standard errors of the fixed
    effects are sigma^2 (X'V^-1 X)^-1 at the estimated variance components (the fast path;
    statsmodels uses its own observed information), the intervals and p-values are Wald z
    (asymptotic; liberal with few clients). BLUPs and their conditional SDs are those of
    Bates et al. (2015).

    Honest optimum: the fast path runs ``trust-exact`` from a moment-based start and BFGS from
    the identity start; if they disagree, Nelder-Mead and Powell from the best point. The
    statsmodels engine runs lbfgs from its default start and again from the exact profiled
    optimum (or bfgs), then the remaining optimisers (bfgs, cg, powell, nm) until the best
    log-likelihood has been reached twice. The lowest deviance always wins. ``converged`` is
    True only when at least two attempts reached the winning optimum and (fast path) the
    gradient vanishes: a Newton step would gain < 1e-6 in deviance.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects
    models using lme4. *Journal of Statistical Software, 67*(1), 1-48.

    Singer, J. D., & Willett, J. B. (2003). *Applied longitudinal data analysis: Modeling
    change and event occurrence.* Oxford University Press.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> bt = toolkit.datasets.load("btheb")
    >>> m = growth.fit(bt, "bdi ~ bdi_pre + time + treatment + drug + length",
    ...                client="subject", session="time", score="bdi", random="intercept",
    ...                method="ml")
    >>> m.table.set_index("term")["estimate"].round(3)["time"]
    np.float64(-0.705)
    """
    if ci_level is not _UNSET:
        level = deprecated_option("ci_level", "level", "growth.fit", ci_level)
    _check_options(time=time, random=random, method=method, engine=engine, level=level)
    time_zero = _checks.number(time_zero, "time_zero", "growth.fit")
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    spec: dict[str, Any] = dict(
        formula=formula,
        time=time,
        time_zero=float(time_zero),
        random=random,
        breakthroughs=breakthroughs,
        breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session,
        knots=knots,
        engine=engine,
        level=level,
    )
    return _fit(scores, method=method, progress=progress, **spec)


def refit(m: GrowthResult, *, method: str, progress: bool | None = None) -> GrowthResult:
    """The same model fitted again with another method (``"ml"`` or ``"reml"``)."""
    if m.scores is None:  # pragma: no cover - fit always keeps the scores
        raise ValueError("The model keeps no scores to refit on.")
    return _fit(m.scores, method=method, progress=progress, **m._spec)


def _fit(
    scores: LongScores,
    *,
    method: str,
    progress: bool | None,
    formula: str,
    time: str,
    time_zero: float,
    random: str,
    breakthroughs: Any,
    breakthrough_client: str,
    breakthrough_session: str | None,
    knots: Any,
    engine: str,
    level: float,
) -> GrowthResult:
    design = _design.build(
        scores,
        formula,
        time=time,
        time_zero=time_zero,
        random=random,
        breakthroughs=breakthroughs,
        breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session,
        knots=knots,
    )
    if engine == "fast" and not design.standard_random:
        raise ValueError(
            f"engine='fast' fits random='intercept' or random='slope' only; got "
            f"random={random!r}. Fix: engine='statsmodels' (or 'auto')."
        )
    use = "fast" if engine in ("auto", "fast") and design.standard_random else "statsmodels"
    reml = method == "reml"
    if use == "fast":
        res, _ = _engines.fast(design, reml)
    else:
        res = _engines.with_statsmodels(design, reml, progress)

    messages = list(design.notes) + list(res.messages)
    if res.singular:
        messages.append(_singular_message(random, res.cov_re, design.random_names))
    kept = []
    for m in messages:  # stacklevel 4: warn <- _fit <- fit <- the caller's line
        kept.append(warn(m, stacklevel=4))

    p = len(design.terms)
    se = np.sqrt(np.maximum(np.diag(res.cov_beta), 0.0))
    zcrit = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = 2 * stats.norm.sf(np.abs(res.beta / se))
    table = pd.DataFrame(
        {
            "term": design.terms,
            "estimate": res.beta,
            "se": se,
            "ci_lower": res.beta - zcrit * se,
            "ci_upper": res.beta + zcrit * se,
            "p_value": pval,
        }
    )[FIXED_COLUMNS]
    vc = _variance_table(res.cov_re, res.sigma2, design.random_names)
    q = len(design.random_names)
    n_obs = int(design.usable.sum())
    k = p + q * (q + 1) // 2 + 1
    icc = (
        res.cov_re[0, 0] / (res.cov_re[0, 0] + res.sigma2)
        if design.random_names[0] == "intercept"
        else np.nan
    )

    n_clients = len(design.clients)
    random_effects = pd.DataFrame(
        {
            "client": np.repeat(design.clients.to_numpy(), q),
            "effect": np.tile(np.asarray(design.random_names, dtype=object), n_clients),
            "estimate": res.blups.reshape(-1),
            "se": res.blup_se.reshape(-1),
        }
    )[RANDOM_COLUMNS]
    fixed_part = design.x @ res.beta
    conditional = fixed_part + np.sum(design.z * res.blups[design.client_code], axis=1)
    fitted = pd.DataFrame(
        {
            "client": design.frame["client"].to_numpy(),
            "session": design.frame["session"].to_numpy(),
            "time": design.time,
            "score": design.y,
            "fitted": conditional,
            "fitted_fixed": fixed_part,
            "residual": design.y - conditional,
        }
    )[FITTED_COLUMNS]
    settings = base_settings(
        scores,
        **{f"{role}_column": col for role, col in scores.roles.items()},
        formula=formula,
        formula_expanded=design.formula,
        time=time,
        time_zero=time_zero,
        random=random,
        method=method,
        engine=engine,
        engine_used=use,
        breakthroughs=None if breakthroughs is None else "table",
        breakthrough_client=breakthrough_client,
        breakthrough_session=design.breakthrough_session,
        n_breakthrough_clients=design.n_breakthrough_clients,
        knots=None if knots is None else list(np.atleast_1d(knots)),
        level=level,
    )
    spec: dict[str, Any] = dict(
        formula=formula,
        time=time,
        time_zero=time_zero,
        random=random,
        breakthroughs=breakthroughs,
        breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session,
        knots=knots,
        engine=engine,
        level=level,
    )
    return GrowthResult(
        table=table,
        settings=settings,
        skipped=design.skipped,
        warnings=tuple(kept),
        variance_components=vc,
        random_effects=random_effects,
        fitted=fitted,
        icc=float(icc),
        loglik=float(res.loglik),
        aic=float(-2 * res.loglik + 2 * k),
        bic=float(-2 * res.loglik + k * np.log(n_obs)),
        n_obs=n_obs,
        n_clients=n_clients,
        method=method,
        engine=use,
        formula=design.formula,
        random=random,
        converged=bool(res.converged),
        singular=bool(res.singular),
        optimizer_log=res.log,
        sm_result=res.sm_result,
        scores=scores,
        breakthrough_table=design.breakthrough_table,
        _spec=spec,
    )


def _variance_table(cov_re: np.ndarray, sigma2: float, names: list[str]) -> pd.DataFrame:
    rows = [
        {
            "component": n,
            "variance": cov_re[i, i],
            "sd": np.sqrt(max(cov_re[i, i], 0.0)),
            "corr": np.nan,
        }
        for i, n in enumerate(names)
    ]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            denom = np.sqrt(cov_re[i, i] * cov_re[j, j])
            rows.append(
                {
                    "component": f"{names[i]}:{names[j]}",
                    "variance": cov_re[i, j],
                    "sd": np.nan,
                    "corr": cov_re[i, j] / denom if denom > 0 else np.nan,
                }
            )
    rows.append(
        {"component": "residual", "variance": sigma2, "sd": np.sqrt(sigma2), "corr": np.nan}
    )
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def _singular_message(random: str, cov_re: np.ndarray, names: list[str]) -> str:
    sd = np.sqrt(np.maximum(np.diag(cov_re), 0.0))
    shown = ", ".join(f"{n} SD {s:.3g}" for n, s in zip(names, sd))
    fix = (
        "Fix: random='intercept' if clients do not differ in their slopes."
        if random == "slope"
        else "Fix: a simpler random-effects structure."
    )
    return (
        f"Singular (boundary) fit: a random-effects variance is estimated at (or next to) zero, "
        f"or a correlation at +-1 ({shown}). The data do not show clients differing in that "
        f"way beyond noise; the fixed effects stay valid, but the variance components are at "
        f"the edge of what is possible. {fix}"
    )


def _check_options(*, time: Any, random: Any, method: Any, engine: Any, level: Any) -> None:
    _checks.choice(time, "time", "growth.fit", TIME_CODINGS)
    custom = isinstance(random, str) and random.strip().startswith("~")
    if not isinstance(random, str) or (random not in RANDOM and not custom):
        raise ValueError(
            "The 'random' parameter of growth.fit must be 'intercept', 'slope', or "
            f"a random-effects formula starting with '~'. Got {random!r} instead."
        )
    _checks.choice(method, "method", "growth.fit", METHODS)
    _checks.choice(engine, "engine", "growth.fit", ENGINES)
    _checks.level(level, "level", "growth.fit")
