"""growth.fit: build the design, run an engine, and assemble the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import _checks
from .._results import base_settings, deprecated_option, warn
from ..data import LongScores, as_scores
from ..errors import DataError, OptionError
from . import _design, _engines, _inference
from ._design import TIME_CODINGS
from ._inference import DDF
from ._result import (
    ENGINES,
    FITTED_COLUMNS,
    FIXED_COLUMNS,
    METHODS,
    RANDOM,
    RANDOM_COLUMNS,
    THERAPIST_COLUMNS,
    VARIANCE_COLUMNS,
    GrowthResult,
)
from ._therapist import THERAPIST_RANDOM, check_frame

__all__ = ["fit", "fit_each", "refit"]

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
    therapist: str | None = None,
    therapist_random: Literal["intercept", "slope"] = "intercept",
    method: Literal["reml", "ml"] = "reml",
    ddf: Literal["auto", "satterthwaite", "kenward-roger", "wald"] = "auto",
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
        Case-mix adjustment of therapist effects: put the case-mix variables here (e.g.
        ``"score ~ time + intake_severity"``).
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
        slope on ``time``) per client; or a random-effects formula such as ``"~ time +
        post_breakthrough"`` (unstructured covariance; fitted by statsmodels).
    therapist : str, optional
        A third level: the column naming each client's therapist (or site, or group). The
        model becomes lme4's ``(1 | therapist) + (1 + time | therapist:client)`` (with
        ``random="slope"``): sessions within clients within therapists. Each client must
        have one therapist (a therapist id that changes within a client, or client ids
        repeated across therapists, is an error that says how to fix it); therapists with a
        single client are kept (with a warning when they are half of the therapists or
        more), and every therapist having one client is an error.
    therapist_random : {"intercept", "slope"}, default "intercept"
        The therapist level's random effects: an intercept, or a correlated intercept and
        slope on ``time`` (``(1 + time | therapist)``).
    method : {"reml", "ml"}, default "reml"
        Restricted or full maximum likelihood. Use ML to compare models whose fixed effects
        differ (:func:`compare` refits for you).
    ddf : {"auto", "satterthwaite", "kenward-roger", "wald"}, default "auto"
        Tests and intervals of the fixed effects: t with Satterthwaite degrees of freedom
        (lmerTest's default), t with Kenward-Roger's adjusted covariance and df (REML fits of
        two-level models), or Wald z (normal). ``"auto"``: Satterthwaite for REML fits, Wald
        z for ML fits (which serve likelihood-ratio tests and large samples).
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
        ``"fast"``: exact profiled (RE)ML on per-client moments (random intercept, or
        intercept and slope, with or without a therapist level). ``"statsmodels"``:
        ``MixedLM`` (any random formula; with a therapist level only ``random="intercept"``,
        as statsmodels cannot correlate random slopes within its groups; ``.sm_result`` is
        kept). ``"auto"`` uses the fast path when it applies.
    level : float, default 0.95
        Level of the confidence intervals (``ci_level=`` is its deprecated name).
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
        where the data are at fault (among them the therapist checks above).

    Warns
    -----
    ToolkitWarning
        Observed scores left out for missing covariates; breakthrough-table problems; a
        singular (boundary) fit; a fit whose optimum could not be verified, or where an
        optimiser stopped at a worse optimum than another one (the better one is returned);
        Satterthwaite df at a boundary fit.

    Notes
    -----
    The model for client i at session j is::

        y_ij = x_ij' beta + b_0i + b_1i t_ij + e_ij,
        (b_0i, b_1i) ~ N(0, Sigma_b),  e_ij ~ N(0, sigma^2)

    (without b_1i for a random intercept); with a therapist level, client i of therapist
    k adds v_0k (+ v_1k t_ij), (v_0k, v_1k) ~ N(0, Sigma_v). Discontinuous growth around
    client i's breakthrough at session B_i adds beta_jump * 1[s_ij >= B_i] + beta_slope *
    max(0, s_ij - B_i) to x_ij' beta (Singer & Willett, 2003, ch. 6). Estimates maximise
    the profiled REML or ML criterion of Bates et al. (2015). The covariance of the fixed
    effects is sigma^2 (X'V^-1 X)^-1 at the estimated variance components (lme4's
    ``vcov``; for both engines). The t tests use Satterthwaite's degrees of freedom
    (Satterthwaite, 1946) computed as lmerTest does (Kuznetsova et al., 2017): the
    Hessian of the deviance in (theta, sigma) and the gradient of each contrast's
    variance; Kenward-Roger's (Kenward & Roger, 1997) follow pbkrtest. BLUPs and their
    conditional SDs are those of Bates et al. (2015).

    Honest optimum: the fast path runs ``trust-exact`` from a moment-based start and BFGS from
    the identity start (three levels: BFGS and L-BFGS-B, each polished by Newton steps); if
    they disagree, Nelder-Mead and Powell from the best point. The statsmodels engine runs
    lbfgs from its default start and again from the exact profiled optimum (or bfgs), then
    the remaining optimisers (bfgs, cg, powell, nm) until the best log-likelihood has been
    reached twice. The lowest deviance always wins. ``converged`` is True only when at least
    two attempts reached the winning optimum and (fast path) the gradient vanishes: a Newton
    step would gain < 1e-6 in deviance.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects
    models using lme4. Journal of Statistical Software, 67(1), 1-48.

    Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from
    restricted maximum likelihood. Biometrics, 53(3), 983-997.

    Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest package:
    Tests in linear mixed effects models. Journal of Statistical Software, 82(13), 1-26.

    Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
    components. Biometrics Bulletin, 2(6), 110-114.

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

    Satterthwaite degrees of freedom (REML, the default), as lmerTest reports them:

    >>> sleep = toolkit.datasets.load("sleepstudy")
    >>> m = growth.fit(sleep, "reaction ~ time", client="subject", session="days",
    ...                score="reaction")
    >>> m.table[["term", "df", "statistic"]].round(3)
            term    df  statistic
    0  Intercept  17.0     36.838
    1       time  17.0      6.771
    >>> float(f"{m.table.loc[1, 'p_value']:.2g}")  # Wald z would give 1.3e-11
    3.3e-06
    """
    scores, spec = _prepare(**locals())
    return _fit(scores, method=method, progress=progress, **spec)


def _prepare(
    *,
    data: Any,
    formula: str,
    client: str | None,
    session: str | None,
    score: str | None,
    instrument: str | None,
    time: str,
    time_zero: float,
    random: str,
    therapist: str | None,
    therapist_random: str,
    method: str,
    ddf: str,
    breakthroughs: Any,
    breakthrough_client: str,
    breakthrough_session: str | None,
    knots: Any,
    engine: str,
    level: float,
    progress: bool | None,
    ci_level: Any,
) -> tuple[LongScores, dict[str, Any]]:
    """:func:`fit`'s checks of its arguments: the validated scores and the model's spec."""
    if ci_level is not _UNSET:
        level = deprecated_option("ci_level", "level", "growth.fit", ci_level)
    _check_options(
        time=time,
        random=random,
        method=method,
        engine=engine,
        level=level,
        ddf=ddf,
        therapist=therapist,
        therapist_random=therapist_random,
    )
    time_zero = _checks.number(time_zero, "time_zero", "growth.fit")
    if therapist is not None and isinstance(data, pd.DataFrame) and client and session:
        check_frame(data, client, session, therapist)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    spec: dict[str, Any] = dict(
        formula=formula,
        time=time,
        time_zero=float(time_zero),
        random=random,
        therapist=therapist,
        therapist_random=therapist_random,
        ddf=ddf,
        breakthroughs=breakthroughs,
        breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session,
        knots=knots,
        engine=engine,
        level=level,
    )
    return scores, spec


def fit_each(
    data: pd.DataFrame | LongScores,
    formula: str = "score ~ time",
    *,
    random: Sequence[str] = ("intercept", "slope"),
    lean: Sequence[str] = (),
    **options: Any,
) -> tuple[GrowthResult, ...]:
    """:func:`fit` once for each client-level random-effects structure, on one design.

    The model frame, the fixed-effects design and (two levels) the per-client moments are
    built once and shared by the fits, so that fitting nested models of a large cohort
    needs the memory of about one. Each result equals ``fit(data, formula, random=r,
    **options)`` for its ``r``, except that the structures in ``lean`` leave ``fitted``
    empty (a model kept for its likelihood only, such as the smaller model of
    :func:`compare`).

    Parameters
    ----------
    data, formula
        As for :func:`fit`.
    random : sequence of {"intercept", "slope"}
        The structures to fit, in order.
    lean : sequence of str
        Those of ``random`` whose result has no ``fitted`` rows.
    **options
        Any other keyword argument of :func:`fit`.

    Returns
    -------
    tuple of GrowthResult
        One per entry of ``random``.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> sleep = toolkit.datasets.load("sleepstudy")
    >>> m0, m1 = fit_each(sleep, "reaction ~ time", client="subject", session="days",
    ...                   score="reaction")
    >>> m1.loglik == growth.fit(sleep, "reaction ~ time", client="subject", session="days",
    ...                         score="reaction").loglik
    True
    """
    randoms = list(random)
    if not randoms or any(not isinstance(r, str) or r not in RANDOM for r in randoms):
        raise OptionError(
            "The 'random' parameter of fit_each must list 'intercept' and/or 'slope'. "
            f"Got {random!r} instead."
        )
    if "random" in options or "data" in options:
        raise TypeError("fit_each() takes data and random once, as its own arguments.")
    import inspect

    try:
        bound = inspect.signature(fit).bind(data, formula, random=randoms[0], **options)
    except TypeError as exc:
        raise TypeError(f"fit_each(): {exc}") from None
    bound.apply_defaults()
    args = dict(bound.arguments)
    scores, spec = _prepare(**args)
    shared: dict[str, Any] = {}
    out = []
    for r in randoms:
        _check_options(**{**_option_args(args, spec), "random": r})
        out.append(
            _fit(
                scores,
                method=args["method"],
                progress=args["progress"],
                **{**spec, "random": r},
                shared=shared,
                with_fitted=r not in lean,
            )
        )
    return tuple(out)


def _option_args(args: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    names = ("time", "method", "engine", "ddf", "therapist", "therapist_random")
    return {**{n: args[n] for n in names}, "level": spec["level"]}


def refit(m: GrowthResult, *, method: str, progress: bool | None = None) -> GrowthResult:
    """The same model fitted again with another method (``"ml"`` or ``"reml"``)."""
    if m.scores is None:  # pragma: no cover - fit always keeps the scores
        raise ValueError("The model keeps no scores to refit on.")
    spec = dict(m._spec)
    if spec.get("ddf") == "kenward-roger" and method == "ml":
        spec["ddf"] = "auto"  # Kenward-Roger needs REML; the refit serves a likelihood
    return _fit(m.scores, method=method, progress=progress, **spec)


def _fit(
    scores: LongScores,
    *,
    method: str,
    progress: bool | None,
    formula: str,
    time: str,
    time_zero: float,
    random: str,
    therapist: str | None,
    therapist_random: str,
    ddf: str,
    breakthroughs: Any,
    breakthrough_client: str,
    breakthrough_session: str | None,
    knots: Any,
    engine: str,
    level: float,
    shared: dict[str, Any] | None = None,
    with_fitted: bool = True,
) -> GrowthResult:
    """One fit. ``shared`` (see :func:`fit_each`): a design (and per-client moments) made
    by an earlier fit of the same data and fixed effects, reused for another standard
    random-effects structure, and left there for the next; ``with_fitted=False`` leaves
    ``fitted`` empty."""
    if shared and "design" in shared:
        design = _design.with_random(shared["design"], random)
    else:
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
            therapist=therapist,
            therapist_random=therapist_random,
        )
        _check_residual_variation(design, str(scores.roles["score"]))
        if shared is not None and design.standard_random:
            shared["design"] = design
    three = design.therapist is not None
    if engine == "fast" and not design.standard_random:
        raise ValueError(
            f"engine='fast' fits random='intercept' or random='slope' only; got "
            f"random={random!r}. Fix: engine='statsmodels' (or 'auto')."
        )
    if three and engine == "statsmodels" and random != "intercept":
        raise OptionError(
            "engine='statsmodels' fits a therapist level only with random='intercept': "
            "statsmodels' MixedLM cannot correlate random slopes of clients nested in its "
            "groups (statsmodels issue 8123). Fix: engine='fast' (or 'auto'), which fits "
            "(1 + time | therapist:client) exactly."
        )
    use = "fast" if engine in ("auto", "fast") and design.standard_random else "statsmodels"
    reml = method == "reml"
    if use == "fast":
        res = _engines.fast_nested(design, reml) if three else _engines.fast(design, reml)[0]
    else:
        res = _engines.with_statsmodels(design, reml, progress)

    used_ddf = _inference.resolve(ddf, method)
    if used_ddf == "kenward-roger" and not reml:
        raise OptionError(
            "Kenward-Roger's adjustment is defined for REML fits (as in pbkrtest). Fix: "
            "method='reml', or ddf='satterthwaite' for an ML fit."
        )
    if res.nested is not None:
        nm = res.nested
    elif shared and "nested" in shared:  # the same moments; only the random effects differ
        nm = dataclasses.replace(shared["nested"], ic=design.client_columns, _cache={})
    else:
        nm = _engines.nested_model(design)
        if shared is not None and design.standard_random and not three:
            shared["nested"] = nm
    assert res.theta is not None
    if used_ddf == "satterthwaite":
        inference = _inference.satterthwaite(nm, res.theta, float(np.sqrt(res.sigma2)), reml)
    elif used_ddf == "kenward-roger":
        rows = design.usable
        inference = _inference.kenward_roger(
            design.x[rows],
            design.z[rows],
            design.client_code[rows],
            len(design.clients),
            res.cov_re,
            res.sigma2,
        )
    else:
        inference = _inference.wald(res.cov_beta)

    messages = list(design.notes) + list(res.messages) + list(inference.messages)
    if res.singular:
        messages.append(
            _singular_message(random, res.cov_re, design.random_names, res.cov_t, therapist)
        )
    kept = []
    for m in messages:  # stacklevel 4: warn <- _fit <- fit <- the caller's line
        kept.append(warn(m, stacklevel=4))

    p = len(design.terms)
    se, df = inference.contrast(np.eye(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = res.beta / se
    crit = inference.quantile(df, level)
    table = pd.DataFrame(
        {
            "term": design.terms,
            "estimate": res.beta,
            "se": se,
            "df": df,
            "statistic": statistic,
            "ci_lower": res.beta - crit * se,
            "ci_upper": res.beta + crit * se,
            "p_value": inference.p_values(statistic, df),
        }
    )[FIXED_COLUMNS]
    vc = _variance_table(res.cov_re, res.sigma2, design.random_names, res.cov_t, design)
    q = len(design.random_names)
    qt = len(design.therapist_random)
    n_obs = int(design.usable.sum())
    k = p + q * (q + 1) // 2 + qt * (qt + 1) // 2 + 1
    v_t = float(res.cov_t[0, 0]) if three and res.cov_t is not None else 0.0
    if design.random_names[0] == "intercept":
        v_c = float(res.cov_re[0, 0])
        icc = (v_c + v_t) / (v_c + v_t + res.sigma2)
        therapist_icc = v_t / (v_c + v_t + res.sigma2) if three else np.nan
    else:
        icc = therapist_icc = np.nan

    n_clients = len(design.clients)
    random_effects = pd.DataFrame(
        {
            "client": np.repeat(design.clients.to_numpy(), q),
            "effect": np.tile(np.asarray(design.random_names, dtype=object), n_clients),
            "estimate": res.blups.reshape(-1),
            "se": res.blup_se.reshape(-1),
        }
    )[RANDOM_COLUMNS]
    therapist_effects = _therapist_table(design, res)
    fitted = _fitted(design, res) if with_fitted else pd.DataFrame(columns=FITTED_COLUMNS)
    settings = base_settings(
        scores,
        **{f"{role}_column": col for role, col in scores.roles.items()},
        formula=formula,
        formula_expanded=design.formula,
        time=time,
        time_zero=time_zero,
        random=random,
        therapist=therapist,
        therapist_random=therapist_random if three else None,
        n_therapists=len(design.therapists) if three and design.therapists is not None else 0,
        n_single_client_therapists=design.n_single_client_therapists,
        method=method,
        ddf=ddf,
        ddf_used=used_ddf,
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
        therapist=therapist,
        therapist_random=therapist_random,
        ddf=ddf,
        breakthroughs=breakthroughs,
        breakthrough_client=breakthrough_client,
        breakthrough_session=breakthrough_session,
        knots=knots,
        engine=engine,
        level=level,
    )
    model = _model_state(design, res, nm, inference, reml)
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
        fixed_cov=pd.DataFrame(inference.cov, index=design.terms, columns=design.terms),
        therapist_effects=therapist_effects,
        therapist_icc=float(therapist_icc),
        n_therapists=int(settings["n_therapists"]),
        _spec=spec,
        _model=model,
    )


def _fitted(design: _design.Design, res: _engines.EngineFit) -> pd.DataFrame:
    """The rows of ``GrowthResult.fitted``."""
    three = design.therapist is not None
    fixed_part = design.x @ res.beta
    code = design.client_code
    if design.standard_random:
        # z' b of the rows without the (rows, q) products: b_0 (+ t b_1), the same numbers
        random_part = res.blups[:, 0][code]
        if res.blups.shape[1] == 2:
            slope = res.blups[:, 1][code]
            random_part += np.multiply(design.time, slope, out=slope)
    else:
        random_part = np.sum(design.z * res.blups[code], axis=1)
    if three and res.blups_t is not None:
        assert design.client_therapist is not None
        k_of_row = design.client_therapist[code]
        cols = list(design.therapist_columns)
        random_part = random_part + np.sum(design.basis[:, cols] * res.blups_t[k_of_row], axis=1)
    conditional = np.add(fixed_part, random_part, out=random_part)  # no further copy
    return pd.DataFrame(
        {
            "client": design.frame["client"].to_numpy(),
            "session": design.frame["session"].to_numpy(),
            "time": design.time,
            "score": design.y,
            "fitted": conditional,
            "fitted_fixed": fixed_part,
            "residual": design.y - conditional,
        },
        copy=False,  # the columns as made: no consolidated copy
    )[FITTED_COLUMNS]


def _model_state(
    design: _design.Design, res: _engines.EngineFit, nm: Any, inference: Any, reml: bool
) -> dict[str, Any]:
    """What predictions, curves and profile intervals need later (picklable)."""
    frame = design.frame
    first = ~frame["client"].duplicated().to_numpy()
    return {
        "nested": nm,
        "theta": res.theta,
        "sigma2": float(res.sigma2),
        "beta": res.beta,
        "reml": reml,
        "inference": inference,
        "model_spec": design.model_spec,
        "random_spec": design.random_spec,
        "standard_random": design.standard_random,
        "terms": list(design.terms),
        "random_names": list(design.random_names),
        "therapist_random": list(design.therapist_random),
        "cov_re": res.cov_re,
        "cov_t": res.cov_t,
        "clients": design.clients,
        "therapists": design.therapists,
        "client_therapist": design.client_therapist,
        "blups": res.blups,
        "blups_t": res.blups_t,
        "client_rows": frame.loc[first].reset_index(drop=True),
        "frame": frame,
        "sessions": np.asarray(design.sessions),
    }


def _therapist_table(design: _design.Design, res: _engines.EngineFit) -> pd.DataFrame:
    if design.therapist is None or res.blups_t is None or design.therapists is None:
        return pd.DataFrame(
            {
                "therapist": pd.Series(dtype=object),
                "effect": pd.Series(dtype=object),
                "estimate": pd.Series(dtype=float),
                "se": pd.Series(dtype=float),
                "n_clients": pd.Series(dtype=np.int64),
                "n_obs": pd.Series(dtype=np.int64),
            }
        )[THERAPIST_COLUMNS]
    assert design.client_therapist is not None and res.blup_se_t is not None
    k_t = len(design.therapists)
    qt = len(design.therapist_random)
    n_clients = np.bincount(design.client_therapist, minlength=k_t)
    rows = design.usable
    n_obs = np.bincount(design.client_therapist[design.client_code[rows]], minlength=k_t)
    return pd.DataFrame(
        {
            "therapist": np.repeat(design.therapists.to_numpy(), qt),
            "effect": np.tile(np.asarray(design.therapist_random, dtype=object), k_t),
            "estimate": res.blups_t.reshape(-1),
            "se": res.blup_se_t.reshape(-1),
            "n_clients": np.repeat(n_clients, qt).astype(np.int64),
            "n_obs": np.repeat(n_obs, qt).astype(np.int64),
        }
    )[THERAPIST_COLUMNS]


def _variance_table(
    cov_re: np.ndarray,
    sigma2: float,
    names: list[str],
    cov_t: np.ndarray | None = None,
    design: _design.Design | None = None,
) -> pd.DataFrame:
    blocks = [("client", cov_re, names)]
    if cov_t is not None and design is not None and design.therapist is not None:
        blocks.append(("therapist", cov_t, design.therapist_random))
    rows = []
    for group, cov, labels in blocks:
        for i, n in enumerate(labels):
            rows.append(
                {
                    "group": group,
                    "component": n,
                    "variance": cov[i, i],
                    "sd": np.sqrt(max(cov[i, i], 0.0)),
                    "corr": np.nan,
                }
            )
        for i in range(len(labels)):
            for j in range(i + 1, len(labels)):
                denom = np.sqrt(cov[i, i] * cov[j, j])
                rows.append(
                    {
                        "group": group,
                        "component": f"{labels[i]}:{labels[j]}",
                        "variance": cov[i, j],
                        "sd": np.nan,
                        "corr": cov[i, j] / denom if denom > 0 else np.nan,
                    }
                )
    rows.append(
        {
            "group": "residual",
            "component": "residual",
            "variance": sigma2,
            "sd": np.sqrt(sigma2),
            "corr": np.nan,
        }
    )
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def _singular_message(
    random: str,
    cov_re: np.ndarray,
    names: list[str],
    cov_t: np.ndarray | None = None,
    therapist: str | None = None,
) -> str:
    sd = np.sqrt(np.maximum(np.diag(cov_re), 0.0))
    shown = ", ".join(f"{n} SD {s:.3g}" for n, s in zip(names, sd))
    if cov_t is not None:
        sd_t = np.sqrt(np.maximum(np.diag(cov_t), 0.0))
        labels = ["intercept", "time"][: len(sd_t)]
        shown += "; " + ", ".join(f"therapist {n} SD {s:.3g}" for n, s in zip(labels, sd_t))
    if cov_t is not None and len(cov_t) == 2:
        fix = "Fix: therapist_random='intercept' if therapists do not differ in their slopes."
    elif cov_t is not None and np.sqrt(max(cov_t[0, 0], 0.0)) < 1e-3 * max(sd[0], 1e-12):
        fix = f"Fix: drop therapist={therapist!r} if therapists do not differ beyond their clients."
    elif random == "slope":
        fix = "Fix: random='intercept' if clients do not differ in their slopes."
    else:
        fix = "Fix: a simpler random-effects structure."
    return (
        f"Singular (boundary) fit: a random-effects variance is estimated at (or next to) zero, "
        f"or a correlation at +-1 ({shown}). The data do not show clients differing in that "
        f"way beyond noise; the fixed effects stay valid, but the variance components are at "
        f"the edge of what is possible. {fix}"
    )


def _check_residual_variation(design: _design.Design, score: str) -> None:
    """Refuse scores that the fixed effects reproduce exactly (e.g. all constant): with no
    residual variation left there is no variance to partition between levels."""
    y = design.y[design.usable]
    x = design.x[design.usable]
    if len(y) == 0:
        return
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    scale = float(np.max(np.abs(y))) if len(y) else 0.0
    if not np.all(np.isfinite(resid)) or float(np.max(np.abs(resid))) <= 1e-10 * max(
        scale, np.finfo(float).tiny
    ):
        raise DataError(
            f"The scores in column {score!r} have no variation beyond the fixed effects of "
            f"{design.formula!r} (e.g. every score is the same), so no growth model can "
            "be fitted: there is no variance to split between clients and sessions. Fix: "
            "check the score column, or fit a model with fewer fixed effects."
        )


def _check_options(
    *,
    time: Any,
    random: Any,
    method: Any,
    engine: Any,
    level: Any,
    ddf: Any = "auto",
    therapist: Any = None,
    therapist_random: Any = "intercept",
) -> None:
    _checks.choice(time, "time", "growth.fit", TIME_CODINGS)
    custom = isinstance(random, str) and random.strip().startswith("~")
    if isinstance(random, str) and "|" in random:
        raise OptionError(
            f"The 'random' parameter of growth.fit takes the client-level effects only; got "
            f"{random!r}. A therapist (or site) level is its own argument. Fix: "
            "therapist='therapist' (the column), therapist_random='intercept' or 'slope'."
        )
    if not isinstance(random, str) or (random not in RANDOM and not custom):
        raise OptionError(
            "The 'random' parameter of growth.fit must be 'intercept', 'slope', or "
            f"a random-effects formula starting with '~'. Got {random!r} instead."
        )
    _checks.choice(method, "method", "growth.fit", METHODS)
    _checks.choice(engine, "engine", "growth.fit", ENGINES)
    _checks.level(level, "level", "growth.fit")
    _checks.choice(ddf, "ddf", "growth.fit", DDF)
    _checks.choice(therapist_random, "therapist_random", "growth.fit", THERAPIST_RANDOM)
    if therapist is not None:
        if not isinstance(therapist, str):
            raise OptionError(
                "The 'therapist' parameter of growth.fit must be a column name (str) or None. "
                f"Got {therapist!r} instead."
            )
        if custom:
            raise OptionError(
                "A therapist level combines with random='intercept' or random='slope' only "
                f"(got random={random!r}). Fix: one of those."
            )
        if ddf == "kenward-roger":
            raise OptionError(
                "ddf='kenward-roger' is available for two-level models only (its dense "
                "n x n algebra is what limits pbkrtest too). Fix: ddf='satterthwaite' (the "
                "default for REML), whose df agree with lmerTest's for three-level models."
            )
    elif therapist_random != "intercept":
        raise OptionError(
            "The 'therapist_random' parameter of growth.fit needs a therapist level. Fix: "
            "pass therapist='...' (the therapist column) too."
        )
