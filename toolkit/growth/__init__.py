"""Mixed-effects growth models for repeated scores: linear, piecewise and discontinuous growth.

:func:`fit` models session-by-session scores with a multilevel growth model: fixed effects
from a formula researchers know (``"score ~ time * arm + baseline"``), time coded as the
session (linear), log(session) or a quadratic, and a random intercept or a correlated random
intercept and slope per client, fitted by REML (default) or ML. Piecewise growth takes known
``knots``; discontinuous growth around each client's *own* breakthrough takes a table of
breakthroughs (a sudden-gain or change-point result) and adds a post-breakthrough indicator
(the jump) and the sessions since the breakthrough (the change in slope), so one call answers
"is there a lasting shift at the breakthrough beyond gradual change?". :func:`compare` runs
the likelihood-ratio test between nested models, refitting by ML when the fixed effects
differ.

Fitting is honest: optimisers run in a fixed order from two starts, the best optimum found
is returned and verified (gradient, Newton step), and every attempt is in
``result.optimizer_log``. The common models run on an exact profiled-likelihood fast path over
the (clients x sessions) layout; statsmodels' ``MixedLM`` is the general engine.

Examples
--------
>>> import toolkit
>>> from toolkit import growth
>>> sleep = toolkit.datasets.load("sleepstudy")
>>> m = growth.fit(sleep, "reaction ~ time", client="subject", session="days",
...                score="reaction", random="slope")
>>> m.table[["term", "estimate"]].round(3)
        term  estimate
0  Intercept   251.405
1       time    10.467
>>> m.variance_components.round(2)
        component  variance     sd  corr
0       intercept    612.09  24.74   NaN
1            time     35.07   5.92   NaN
2  intercept:time      9.60    NaN  0.07
3        residual    654.94  25.59   NaN
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._results import Result, warn
from ..data import LongScores, as_scores
from . import _design, _engines
from ._design import TIME_CODINGS
from ._engines import LOG_COLUMNS

__all__ = [
    "fit",
    "compare",
    "GrowthResult",
    "report_section",
    "FIXED_COLUMNS",
    "VARIANCE_COLUMNS",
    "RANDOM_COLUMNS",
    "FITTED_COLUMNS",
    "LOG_COLUMNS",
    "COMPARE_COLUMNS",
    "SUMMARY_COLUMNS",
]

#: Columns of ``GrowthResult.table`` (the fixed effects).
FIXED_COLUMNS = ["term", "estimate", "se", "ci_lower", "ci_upper", "p_value"]
#: Columns of ``GrowthResult.variance_components``.
VARIANCE_COLUMNS = ["component", "variance", "sd", "corr"]
#: Columns of ``GrowthResult.random_effects`` (one row per client and effect).
RANDOM_COLUMNS = ["client", "effect", "estimate", "se"]
#: Columns of ``GrowthResult.fitted``.
FITTED_COLUMNS = ["client", "session", "time", "score", "fitted", "fitted_fixed", "residual"]
#: Columns of :func:`compare`'s table.
COMPARE_COLUMNS = ["model", "description", "method", "n_params", "loglik", "aic", "bic",
                   "chisq", "df", "p_value", "p_value_boundary", "refit_ml"]
#: Columns of ``GrowthResult.summary()``.
SUMMARY_COLUMNS = ["part", "term", "estimate", "se", "ci_lower", "ci_upper", "p_value"]

_RANDOM = ("intercept", "slope")
_METHODS = ("reml", "ml")
_ENGINES = ("auto", "fast", "statsmodels")


@dataclass(frozen=True, repr=False, kw_only=True)
class GrowthResult(Result):
    """A fitted growth model. Build it with :func:`fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        Fixed effects: ``term``, ``estimate``, ``se``, ``ci_lower``, ``ci_upper`` (Wald, at
        ``settings["ci_level"]``) and ``p_value`` (two-sided Wald z test).
    variance_components : pandas.DataFrame
        ``component`` (``"intercept"``, ``"time"``, ``"intercept:time"``, ``"residual"``; a
        pair names a covariance), ``variance`` (variance, or covariance for a pair), ``sd``
        (NaN for a pair) and ``corr`` (the correlation of a pair, NaN otherwise).
    random_effects : pandas.DataFrame
        Per-client predicted random effects (BLUPs, deviations from the fixed effects):
        ``client``, ``effect``, ``estimate`` and ``se`` (conditional SD).
    fitted : pandas.DataFrame
        The fitted trajectories, one row per client and session of the model frame (sessions
        with a missing score included): ``client``, ``session``, ``time`` (coded),
        ``score`` (observed, NaN when missing), ``fitted`` (fixed + the client's random
        effects), ``fitted_fixed`` (fixed effects only) and ``residual``.
    icc : float
        Intraclass correlation: intercept variance / (intercept variance + residual
        variance), i.e. at time 0 when there is a random slope.
    loglik, aic, bic : float
        Log-likelihood (REML or ML, see ``method``) and the information criteria with
        k = fixed effects + covariance parameters + 1.
    n_obs, n_clients : int
        Observed scores and clients in the fit.
    method : str
        ``"reml"`` or ``"ml"``.
    engine : str
        ``"fast"`` or ``"statsmodels"``.
    formula : str
        The expanded fixed-effects formula.
    random : str
        The random-effects structure.
    converged : bool
        True only when the optimum is verified (see Notes of :func:`fit`).
    singular : bool
        A boundary fit: a random-effect variance (or a correlation of +-1) at the edge.
    optimizer_log : pandas.DataFrame
        Every optimisation attempt: ``engine``, ``optimizer``, ``start``, ``loglik``,
        ``max_gradient``, ``optimizer_converged`` (the optimiser's own claim),
        ``reached_best``, ``chosen``, ``seconds``, ``message``.
    sm_result : statsmodels MixedLMResults or None
        The statsmodels result when that engine was used.
    scores : LongScores
        The data the model was fitted to.
    """

    variance_components: pd.DataFrame
    random_effects: pd.DataFrame
    fitted: pd.DataFrame
    icc: float
    loglik: float
    aic: float
    bic: float
    n_obs: int
    n_clients: int
    method: str
    engine: str
    formula: str
    random: str
    converged: bool
    singular: bool
    optimizer_log: pd.DataFrame
    sm_result: Any = None
    scores: LongScores | None = None
    _spec: dict = field(default_factory=dict, compare=False)

    @property
    def n_params(self) -> int:
        """Fixed effects + random-effects covariance parameters + the residual variance."""
        q = int((self.variance_components["component"] != "residual").sum())
        return len(self.table) + q + 1

    def summary(self) -> pd.DataFrame:
        """Fixed effects, then the random part (SDs and correlations) and the fit statistics.

        Returns
        -------
        pandas.DataFrame
            Columns ``part`` ("fixed", "random" or "fit"), ``term``, ``estimate``, ``se``,
            ``ci_lower``, ``ci_upper``, ``p_value`` (NaN where not applicable).
        """
        fixed = self.table.assign(part="fixed")
        vc = self.variance_components
        random_rows = [
            {"part": "random", "term": f"corr({r.component.replace(':', ', ')})",
             "estimate": r.corr}
            if ":" in r.component else
            {"part": "random", "term": f"sd({r.component})", "estimate": r.sd}
            for r in vc.itertuples()
        ]
        fit_rows = [{"part": "fit", "term": k, "estimate": float(v)} for k, v in (
            ("icc", self.icc), ("loglik", self.loglik), ("aic", self.aic), ("bic", self.bic),
            ("n_obs", self.n_obs), ("n_clients", self.n_clients))]
        out = pd.concat([fixed, pd.DataFrame(random_rows + fit_rows)], ignore_index=True)
        return out[SUMMARY_COLUMNS]

    def plot(self, kind: Literal["trajectories", "caterpillar"] = "trajectories", ax=None,
             **kwargs):
        """Observed vs fitted trajectories, or a caterpillar plot of the random effects.

        See :func:`toolkit.plots.growth.fitted_trajectories` and
        :func:`toolkit.plots.growth.caterpillar`.
        """
        from ..plots.growth import caterpillar, fitted_trajectories

        if kind == "trajectories":
            return fitted_trajectories(self, ax=ax, **kwargs)
        if kind == "caterpillar":
            return caterpillar(self, ax=ax, **kwargs)
        raise ValueError("The 'kind' parameter of GrowthResult.plot must be one of "
                         f"{{'trajectories', 'caterpillar'}}. Got {kind!r} instead.")

    def describe(self) -> str:
        """The model in lme4-like notation, e.g. ``score ~ 1 + time + (1 + time | client)``."""
        re = {"intercept": "1", "slope": "1 + time"}.get(self.random, self.random.lstrip("~ "))
        return f"{self.formula} + ({re} | client)"

    def __repr__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        sing = ", singular" if self.singular else ""
        return (f"<GrowthResult {self.describe()}, {self.method.upper()} ({self.engine}): "
                f"{self.n_clients} clients, {self.n_obs} observations, log-likelihood "
                f"{self.loglik:.2f}, {state}{sing}>")

    def _repr_html_(self) -> str:
        head = (f"<p><b>Growth model</b> <code>{self.describe()}</code>, "
                f"{self.method.upper()}, engine {self.engine}; {self.n_clients} clients, "
                f"{self.n_obs} observations; {'converged' if self.converged else 'NOT converged'}"
                f"{', singular fit' if self.singular else ''}.</p>")
        parts = [head, self.summary().to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                               na_rep="")]
        if len(self.skipped):
            parts.append(f"<p>{len(self.skipped)} client(s) skipped; see "
                         "<code>.skipped</code>.</p>")
        parts += [f"<p>Warning: {w}</p>" for w in self.warnings]
        return "".join(parts)


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
    ci_level: float = 0.95,
    progress: bool = True,
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
        Discontinuous growth around each client's own breakthrough: a table with a client
        column and a session column (a sudden-gain or change-point result, or anything with
        such a ``.table``). Adds ``post_breakthrough`` (1 from the breakthrough session on,
        the jump) and ``time_since_breakthrough`` (sessions since it, 0 before; the change in
        slope) to the fixed effects. The breakthrough session is the first session at the
        new level. Clients without a breakthrough (absent, or NaN session) stay in the
        model with both predictors 0; with several, the first one counts.
    breakthrough_client : str, default "client"
        Client column of ``breakthroughs``.
    breakthrough_session : str, optional
        Session column of ``breakthroughs``; by default ``"session"``, else
        ``"gain_session"``.
    knots : float or sequence of float, optional
        Piecewise growth with known knots (sessions): adds ``time_after_<k>`` =
        max(0, session - k) per knot, the change in slope after session k.
    engine : {"auto", "fast", "statsmodels"}, default "auto"
        ``"fast"``: exact profiled (RE)ML on the (clients x sessions) layout (random
        intercept, or intercept and slope). ``"statsmodels"``: ``MixedLM`` (any random
        formula; ``.sm_result`` is kept). ``"auto"`` uses the fast path when it applies.
    ci_level : float, default 0.95
        Level of the Wald confidence intervals.
    progress : bool, default True
        Progress bar over the statsmodels optimisers (the fast path needs none).

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
    _check_options(time=time, random=random, method=method, engine=engine, ci_level=ci_level)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    spec = dict(formula=formula, time=time, time_zero=float(time_zero), random=random,
                breakthroughs=breakthroughs, breakthrough_client=breakthrough_client,
                breakthrough_session=breakthrough_session, knots=knots, engine=engine,
                ci_level=ci_level)
    return _fit(scores, method=method, progress=progress, **spec)


def _fit(scores: LongScores, *, method: str, progress: bool, formula: str, time: str,
         time_zero: float, random: str, breakthroughs, breakthrough_client: str,
         breakthrough_session, knots, engine: str, ci_level: float) -> GrowthResult:
    design = _design.build(
        scores, formula, time=time, time_zero=time_zero, random=random,
        breakthroughs=breakthroughs, breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session, knots=knots)
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
    zcrit = stats.norm.ppf(0.5 + ci_level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = 2 * stats.norm.sf(np.abs(res.beta / se))
    table = pd.DataFrame({
        "term": design.terms, "estimate": res.beta, "se": se,
        "ci_lower": res.beta - zcrit * se, "ci_upper": res.beta + zcrit * se, "p_value": pval,
    })[FIXED_COLUMNS]
    vc = _variance_table(res.cov_re, res.sigma2, design.random_names)
    q = len(design.random_names)
    n_obs = int(design.usable.sum())
    k = p + q * (q + 1) // 2 + 1
    icc = (res.cov_re[0, 0] / (res.cov_re[0, 0] + res.sigma2)
           if design.random_names[0] == "intercept" else np.nan)

    n_clients = len(design.clients)
    random_effects = pd.DataFrame({
        "client": np.repeat(design.clients.to_numpy(), q),
        "effect": np.tile(np.asarray(design.random_names, dtype=object), n_clients),
        "estimate": res.blups.reshape(-1),
        "se": res.blup_se.reshape(-1),
    })[RANDOM_COLUMNS]
    fixed_part = design.x @ res.beta
    conditional = fixed_part + np.sum(design.z * res.blups[design.client_code], axis=1)
    fitted = pd.DataFrame({
        "client": design.frame["client"].to_numpy(),
        "session": design.frame["session"].to_numpy(),
        "time": design.time,
        "score": design.y,
        "fitted": conditional,
        "fitted_fixed": fixed_part,
        "residual": design.y - conditional,
    })[FITTED_COLUMNS]
    settings = {
        **{f"{role}_column": col for role, col in scores.roles.items()},
        "instrument": scores.instrument.name if scores.instrument else None,
        "formula": formula, "formula_expanded": design.formula, "time": time,
        "time_zero": time_zero, "random": random, "method": method, "engine": engine,
        "engine_used": use, "breakthroughs": None if breakthroughs is None else "table",
        "breakthrough_client": breakthrough_client,
        "breakthrough_session": design.breakthrough_session,
        "n_breakthrough_clients": design.n_breakthrough_clients,
        "knots": None if knots is None else list(np.atleast_1d(knots)),
        "ci_level": ci_level, "toolkit_version": _version(),
    }
    spec = dict(formula=formula, time=time, time_zero=time_zero, random=random,
                breakthroughs=breakthroughs, breakthrough_client=breakthrough_client,
                breakthrough_session=breakthrough_session, knots=knots, engine=engine,
                ci_level=ci_level)
    return GrowthResult(
        table=table, settings=settings, skipped=design.skipped, warnings=tuple(kept),
        variance_components=vc, random_effects=random_effects, fitted=fitted, icc=float(icc),
        loglik=float(res.loglik), aic=float(-2 * res.loglik + 2 * k),
        bic=float(-2 * res.loglik + k * np.log(n_obs)), n_obs=n_obs, n_clients=n_clients,
        method=method, engine=use, formula=design.formula, random=random,
        converged=bool(res.converged), singular=bool(res.singular),
        optimizer_log=res.log, sm_result=res.sm_result, scores=scores, _spec=spec,
    )


def _variance_table(cov_re: np.ndarray, sigma2: float, names: list[str]) -> pd.DataFrame:
    rows = [{"component": n, "variance": cov_re[i, i], "sd": np.sqrt(max(cov_re[i, i], 0.0)),
             "corr": np.nan} for i, n in enumerate(names)]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            denom = np.sqrt(cov_re[i, i] * cov_re[j, j])
            rows.append({"component": f"{names[i]}:{names[j]}", "variance": cov_re[i, j],
                         "sd": np.nan, "corr": cov_re[i, j] / denom if denom > 0 else np.nan})
    rows.append({"component": "residual", "variance": sigma2, "sd": np.sqrt(sigma2),
                 "corr": np.nan})
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def _singular_message(random: str, cov_re: np.ndarray, names: list[str]) -> str:
    sd = np.sqrt(np.maximum(np.diag(cov_re), 0.0))
    shown = ", ".join(f"{n} SD {s:.3g}" for n, s in zip(names, sd))
    fix = ("Fix: random='intercept' if clients do not differ in their slopes."
           if random == "slope" else "Fix: a simpler random-effects structure.")
    return (
        f"Singular (boundary) fit: a random-effects variance is estimated at (or next to) zero, "
        f"or a correlation at +-1 ({shown}). The data do not show clients differing in that "
        f"way beyond noise; the fixed effects stay valid, but the variance components are at "
        f"the edge of what is possible. {fix}"
    )


def _check_options(*, time, random, method, engine, ci_level) -> None:
    if time not in TIME_CODINGS:
        raise ValueError("The 'time' parameter of growth.fit must be one of "
                         f"{set(TIME_CODINGS)}. Got {time!r} instead.")
    custom = isinstance(random, str) and random.strip().startswith("~")
    if not isinstance(random, str) or (random not in _RANDOM and not custom):
        raise ValueError("The 'random' parameter of growth.fit must be 'intercept', 'slope', or "
                         f"a random-effects formula starting with '~'. Got {random!r} instead.")
    if method not in _METHODS:
        raise ValueError("The 'method' parameter of growth.fit must be one of "
                         f"{set(_METHODS)}. Got {method!r} instead.")
    if engine not in _ENGINES:
        raise ValueError("The 'engine' parameter of growth.fit must be one of "
                         f"{set(_ENGINES)}. Got {engine!r} instead.")
    if not (isinstance(ci_level, (int, float)) and 0 < ci_level < 1):
        raise ValueError(f"ci_level must lie strictly between 0 and 1; got {ci_level!r}.")


# --- Model comparison ------------------------------------------------------------------------
def compare(m0: GrowthResult, m1: GrowthResult, *, progress: bool = False) -> pd.DataFrame:
    """Likelihood-ratio test of a model against a larger model that nests it.

    When the fixed effects differ, REML likelihoods are not comparable, so both models are
    refitted by ML first (``refit_ml`` says so). Models that differ only in their random
    effects are compared as fitted (REML or ML, the same for both).

    Parameters
    ----------
    m0, m1 : GrowthResult
        The smaller and the larger model, fitted to the same scores. m0's fixed-effect terms
        must be among m1's, and its random effects among m1's.
    progress : bool, default False
        Progress bar of statsmodels refits.

    Returns
    -------
    pandas.DataFrame
        Two rows (m0, m1): ``model`` ("m0", "m1"), ``description`` (lme4-like notation),
        ``method`` used for the test, ``n_params``, ``loglik``, ``aic``, ``bic``; on m1's row
        ``chisq`` = 2 (loglik1 - loglik0), ``df`` (difference in parameters), ``p_value``
        (chi-square) and ``p_value_boundary`` (for a random slope added to a random
        intercept: the 50:50 mixture of chi-square(1) and chi-square(2), Stram & Lee, 1994;
        NaN otherwise); ``refit_ml`` True when the models were refitted by ML.

    Raises
    ------
    ValueError
        Models fitted to different data, or not nested.

    Notes
    -----
    Testing a variance on the boundary of its space (zero) makes the plain chi-square
    p-value conservative (Self & Liang, 1987); ``p_value_boundary`` is the usual correction.

    References
    ----------
    Self, S. G., & Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood
    estimators and likelihood ratio tests under nonstandard conditions. *JASA, 82*, 605-610.

    Stram, D. O., & Lee, J. W. (1994). Variance components testing in the longitudinal
    mixed effects model. *Biometrics, 50*, 1171-1177.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> sleep = toolkit.datasets.load("sleepstudy")
    >>> kw = dict(client="subject", session="days", score="reaction")
    >>> m0 = growth.fit(sleep, "reaction ~ time", random="intercept", **kw)
    >>> m1 = growth.fit(sleep, "reaction ~ time", random="slope", **kw)
    >>> growth.compare(m0, m1)[["model", "df", "chisq"]].round(2)
      model   df  chisq
    0    m0  NaN    NaN
    1    m1  2.0  42.84
    """
    for m in (m0, m1):
        if not isinstance(m, GrowthResult):
            raise TypeError(f"compare() takes two GrowthResult objects; got {type(m).__name__}.")
    if m0.scores is not m1.scores and not _same_data(m0, m1):
        raise ValueError(
            "The two models were fitted to different data (clients, sessions or scores "
            "differ), so their likelihoods cannot be compared. Fix: fit both to the same "
            "validated scores (toolkit.long_scores once, then growth.fit twice)."
        )
    fixed0, fixed1 = set(m0.table["term"]), set(m1.table["term"])
    re0, re1 = _random_set(m0), _random_set(m1)
    if not (fixed0 <= fixed1 and re0 <= re1) or (fixed0 == fixed1 and re0 == re1):
        raise ValueError(
            "m0 must be nested in m1: its fixed-effect terms among m1's "
            f"({sorted(fixed0 - fixed1)} are not) and its random effects among m1's "
            f"({sorted(re0 - re1)} are not), with m1 larger. Fix: pass the smaller model "
            "first, or compare nested models only."
        )
    refit = fixed0 != fixed1 and (m0.method != "ml" or m1.method != "ml")
    refit = refit or m0.method != m1.method
    if refit:
        m0, m1 = (_refit_ml(m, progress) for m in (m0, m1))
    if m0.n_obs != m1.n_obs:
        raise ValueError(
            f"The models use different observations ({m0.n_obs} vs {m1.n_obs}), e.g. because "
            "a covariate of the larger model is missing for some scores. Fix: drop those rows "
            "before fitting both models."
        )
    chisq = max(2 * (m1.loglik - m0.loglik), 0.0)
    df = m1.n_params - m0.n_params
    p = float(stats.chi2.sf(chisq, df))
    boundary = np.nan
    if fixed0 == fixed1 and re0 == {"intercept"} and re1 == {"intercept", "time"}:
        boundary = float(0.5 * stats.chi2.sf(chisq, 1) + 0.5 * stats.chi2.sf(chisq, 2))
    rows = []
    for name, m in (("m0", m0), ("m1", m1)):
        rows.append({"model": name, "description": m.describe(), "method": m.method,
                     "n_params": m.n_params, "loglik": m.loglik, "aic": m.aic, "bic": m.bic,
                     "chisq": np.nan, "df": np.nan, "p_value": np.nan,
                     "p_value_boundary": np.nan, "refit_ml": refit})
    rows[1].update(chisq=chisq, df=float(df), p_value=p, p_value_boundary=boundary)
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def _random_set(m: GrowthResult) -> set[str]:
    return set(m.variance_components["component"]) - {"residual"} - {
        c for c in m.variance_components["component"] if ":" in c}


def _same_data(m0: GrowthResult, m1: GrowthResult) -> bool:
    a, b = m0.scores.data, m1.scores.data
    return (len(a) == len(b) and a["client"].equals(b["client"])
            and a["session"].equals(b["session"]) and a["score"].equals(b["score"]))


def _refit_ml(m: GrowthResult, progress: bool) -> GrowthResult:
    if m.method == "ml":
        return m
    with _warnings.catch_warnings():
        # The warnings of the refit repeat those of the original fit.
        _warnings.simplefilter("ignore")
        return _fit(m.scores, method="ml", progress=progress, **m._spec)


# --- Report -------------------------------------------------------------------------------
def report_section(report, scores: LongScores) -> None:
    """Add the growth-model section to the analysis report: tables and observed vs fitted.

    Fits ``score ~ time`` (REML, time 0 at the first session) with a correlated random
    intercept and slope, tested against a random intercept only; when most clients have
    fewer than three observed scores, individual slopes cannot be told from noise and the
    random intercept model is shown alone.
    """
    import matplotlib.pyplot as plt

    from ..data import long_scores

    report.heading("Growth model")
    first = float(scores.sessions.min())
    slopes = float(scores.n_observed().median()) >= 3
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        try:
            # Scores alone: a covariate may not shadow the model's own variables (e.g. "time").
            plain = long_scores(scores.data[["client", "session", "score"]], client="client",
                                session="session", score="score",
                                instrument=scores.instrument)
            m0 = fit(plain, "score ~ time", time_zero=first, random="intercept",
                     progress=False)
            m1 = (fit(plain, "score ~ time", time_zero=first, random="slope", progress=False)
                  if slopes else m0)
        except ValueError as exc:
            report.text(f"No growth model could be fitted: {exc}")
            return
    structure = ("a correlated random intercept and slope per client" if slopes else
                 "a random intercept per client (most clients have fewer than three scores, "
                 "too few to tell individual slopes from noise)")
    report.text(
        f"Linear growth model with {structure} ({m1.method.upper()}; time = session"
        f"{f' - {first:g}' if first else ''}, so the intercept is the expected score at the "
        "first session): "
        f"{m1.n_clients} clients, {m1.n_obs} observed scores; "
        f"{'converged' if m1.converged else 'NOT converged'}"
        f"{' (singular fit)' if m1.singular else ''}. ICC at the first session {m1.icc:.2f}."
    )
    for w in m1.warnings:
        report.text(f"Note: {w}")
    report.table("growth_fixed_effects", m1.table,
                 "Fixed effects of the growth model (Wald 95% CI and p-values)")
    report.table("growth_variance_components", m1.variance_components,
                 "Random-effect variances and SDs (and correlation), and the residual")
    if slopes:
        report.table("growth_compare", compare(m0, m1),
                     "Does the rate of change differ between clients? Random intercept (m0) "
                     "vs random intercept and slope (m1), likelihood-ratio test")
    fig, ax = plt.subplots(figsize=(8, 5))
    m1.plot(ax=ax)
    report.figure("growth_fitted", fig, "Observed scores (points) and fitted growth curves "
                  "(lines) for a sample of clients; the thick line is the average fitted curve.")


def _version() -> str:
    from .. import __version__

    return __version__
