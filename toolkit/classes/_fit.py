"""classes.fit: latent class growth analysis and growth mixture models on validated scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as _stats

from .. import _checks
from .._options import progress_bar
from .._results import base_settings
from ..data import LongScores, as_scores
from ..errors import DataError, DirectionError, OptionError, warn
from ..instruments import Instrument
from . import _design, _em, _inference, _labels, _starts
from ._result import (
    CLASS_COLUMNS,
    COEFFICIENT_COLUMNS,
    CURVE_COLUMNS,
    POSTERIOR_COLUMNS,
    START_COLUMNS,
    STATISTICS_COLUMNS,
    TABLE_COLUMNS,
    ClassesResult,
    Fitted,
)

__all__ = [
    "fit",
    "Fit",
    "fit_design",
    "prepare",
    "resolve_seed",
    "check_model_options",
    "assemble",
]

RESIDUALS = ("class", "common")
EMPTY = ("discard", "drop")
#: Starts whose log-likelihoods lie within this relative distance of the best reached it.
BEST_TOLERANCE = 1e-6
#: Starts within this relative distance of the best that stopped unconverged are refined too.
_NEAR = 1e-3


def resolve_seed(seed: Any, function: str) -> int:
    """A whole-number seed; None draws one (recorded in ``settings``)."""
    if seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31 - 1))
    return _checks.whole(seed, "seed", function, low=0, high=_checks.MAX_SEED)


def check_model_options(
    function: str,
    *,
    residual: Any,
    random_covariance: Any,
    n_starts: Any,
    init: Any,
    tol: Any,
    max_iter: Any,
    min_size: Any,
    empty: Any,
    min_sessions: Any,
    level: Any,
    min_change: Any,
    scores: LongScores | None = None,
) -> dict[str, Any]:
    """Validate the options shared by :func:`fit` and :func:`enumeration`; with ``scores``,
    counts are bounded by its clients and sessions and ``min_change`` by the instrument's
    range."""
    inst = scores.instrument if scores is not None else None
    span = float(inst.max_score - inst.min_score) if inst is not None else None
    n_clients = float(scores.n_clients) if scores is not None else None
    n_sessions = scores.n_sessions if scores is not None else _checks.MAX_COUNT
    _checks.choice(residual, "residual", function, RESIDUALS)
    _checks.choice(random_covariance, "random_covariance", function, RESIDUALS)
    _checks.choice(init, "init", function, _starts.INITS)
    _checks.choice(empty, "empty", function, EMPTY)
    if not (isinstance(min_change, str) and min_change == "reliable_change"):
        if isinstance(min_change, str):
            raise OptionError(
                f"The 'min_change' parameter of {function} must be 'reliable_change' or a "
                f"number of points >= 0. Got {min_change!r} instead."
            )
        min_change = _checks.number(min_change, "min_change", function, low=0.0, high=span)
    return dict(
        residual=residual,
        random_covariance=random_covariance,
        n_starts=_checks.whole(n_starts, "n_starts", function, low=1, high=_checks.MAX_COUNT),
        init=init,
        tol=_checks.number(tol, "tol", function, low=0.0, high=1e-3, low_open=True),
        max_iter=_checks.whole(max_iter, "max_iter", function, low=1, high=_checks.MAX_COUNT),
        min_size=_checks.number(min_size, "min_size", function, low=0.0, high=n_clients),
        empty=empty,
        min_sessions=_checks.whole(
            min_sessions, "min_sessions", function, low=1, high=max(n_sessions, 1)
        ),
        level=_checks.level(level, "level", function),
        min_change=min_change,
    )


def prepare(
    function: str,
    scores: LongScores,
    *,
    seed: Any,
    better: Any,
    time: Any,
    time_zero: Any,
    knots: Any,
    random: Any,
    **model_options: Any,
) -> tuple[dict[str, Any], int, _design.Design, int | None, list[str]]:
    """What :func:`fit` and :func:`~toolkit.classes.enumeration` share before fitting.

    Returns the checked model options, the seed, the design, the direction of improvement
    and the messages about skipped clients.
    """
    options = check_model_options(function, scores=scores, **model_options)
    seed = resolve_seed(seed, function)
    design = _design.build(
        scores,
        time=time,
        time_zero=time_zero,
        knots=knots,
        random=random,
        min_sessions=options["min_sessions"],
        function=function,
    )
    sign = direction_of(scores, better)
    return options, seed, design, sign, skipped_message(design, options["min_sessions"])


def fit(
    data: pd.DataFrame | LongScores,
    n_classes: int,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    time: Literal["linear", "log", "quadratic", "piecewise"] = "linear",
    knots: Sequence[float] | float | None = None,
    time_zero: float = 0.0,
    random: Literal["none", "intercept", "slope"] = "none",
    residual: Literal["class", "common"] = "class",
    random_covariance: Literal["class", "common"] = "common",
    n_starts: int = 20,
    init: Literal["kmeans++", "partition"] = "kmeans++",
    seed: int | None = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
    min_size: float = 1.0,
    empty: Literal["discard", "drop"] = "discard",
    min_sessions: int = 2,
    min_change: float | Literal["reliable_change"] = "reliable_change",
    level: float = 0.95,
    progress: bool | None = None,
) -> ClassesResult:
    """Find trajectory classes: latent class growth analysis or a growth mixture model.

    Every client belongs to one of ``n_classes`` latent classes, and all its scores follow its
    class's growth curve. With ``random="none"`` (latent class growth analysis, LCGA; Nagin,
    1999) clients within a class differ only by noise; with ``random="intercept"`` or
    ``"slope"`` (a growth mixture model, GMM; Muthén & Shedden, 1999) they also differ by a
    random intercept (and slope) around their class's curve.

    Parameters
    ----------
    data : DataFrame or LongScores
        Long-format scores; a DataFrame needs ``client``, ``session`` and ``score`` (see
        :func:`toolkit.long_scores`). Not modified. Missing scores stay missing (they carry
        no weight), never 0.
    n_classes : int
        The number of classes K (at most the number of clients analysed). To choose it,
        compare several with :func:`enumeration`.
    client, session, score, instrument, better : str, optional
        Column roles, the measure and its direction of improvement, for a DataFrame. The
        direction is only used to order and name the classes.
    time : {"linear", "log", "quadratic", "piecewise"}, default "linear"
        How the session enters the growth curve: ``time = session - time_zero`` (linear),
        ``log(session - time_zero)``, linear plus ``time_sq = time**2``, or piecewise linear
        (linear plus a change of slope at each of ``knots``). A quadratic cannot follow
        "flat, then a drop", so late responders are absorbed into a gradual class without a
        knot; ``time="piecewise", knots=[5]`` lets a class stay flat and then fall.
    knots : float or sequence of float, optional
        Sessions after which the slope may change: each adds ``time_after_<k> = max(0,
        session - k)`` (required by ``"piecewise"``, allowed with any coding).
    time_zero : float, default 0
        The session at which time is 0 (the session of the intercept).
    random : {"none", "intercept", "slope"}, default "none"
        Within-class random effects: none (LCGA), a random intercept, or a correlated random
        intercept and slope on ``time`` (GMM).
    residual : {"class", "common"}, default "class"
        Class-specific residual variances (as flexmix and Nagin's group-based models allow)
        or one residual variance for all classes.
    random_covariance : {"class", "common"}, default "common"
        GMM only: class-specific random-effect covariances, or one for all classes (the
        default of Mplus and lcmm).
    n_starts : int, default 20
        Random starts; each runs EM to convergence. Report how many reached the best
        log-likelihood (``n_starts_at_best``): a maximum reached by a single start may not be
        the global one.
    init : {"kmeans++", "partition"}, default "kmeans++"
        How starts are drawn (see :mod:`toolkit.classes._starts`): k-means++ seeding on the
        clients' own least-squares curves, or random partitions of the clients.
    seed : int, optional
        Seed of the starts (a :class:`numpy.random.Generator`); the same seed gives the same
        fit. None draws one, recorded in ``settings["seed"]``.
    tol : float, default 1e-10
        A start has converged when an accelerated EM cycle raises the log-likelihood by less
        than ``tol * (|loglik| + 1)``. The best start (and any start that stopped near it
        without converging) is then refined by Newton steps until the largest entry of the
        exact gradient is below 1e-6 N.
    max_iter : int, default 1000
        Most EM steps per start.
    min_size : float, default 1.0
        A class whose expected number of clients (the sum of its posterior probabilities)
        falls below this during fitting has *emptied*.
    empty : {"discard", "drop"}, default "discard"
        What happens to a start in which a class empties: ``"discard"`` stops it (it is
        listed in ``starts`` with status ``"emptied"``); ``"drop"`` removes the class and
        carries on with one class fewer (as flexmix's ``minprior``); such a start only wins
        when no start kept all K classes (with a warning).
    min_sessions : int, default 2
        Clients with fewer observed scores are not analysed (listed in ``skipped``): a single
        score says nothing about a course.
    min_change : float or "reliable_change", default "reliable_change"
        The change in points that makes a class a responder (or deteriorating) class in the
        suggested names: the scores' reliable-change criterion, else half the SD of the first
        scores (see :mod:`toolkit.classes._labels`).
    level : float, default 0.95
        Level of the Wald intervals of coefficients and curves.
    progress : bool, optional
        Progress bar over the starts (default: the global option).

    Returns
    -------
    ClassesResult
        ``table``: one row per client analysed, columns ``client``, ``class`` (1..K, the
        most probable class), ``label`` (its suggested name), ``probability`` (its posterior
        probability) and ``n_observed`` (scores used). Further tables: ``classes``,
        ``coefficients``, ``curves``, ``posterior``, ``starts``, ``statistics`` (see
        :class:`ClassesResult`).

    Raises
    ------
    OptionError
        An option out of range, ``n_classes`` larger than the number of clients analysed,
        ``time="piecewise"`` without knots, knots outside the sessions.
    DataError
        No client with ``min_sessions`` scores, too few sessions for the growth terms, a
        session not after ``time_zero`` with ``time="log"``; every start emptied a class or
        collapsed (the message says which and what to change).

    Warns
    -----
    ToolkitWarning
        Clients skipped; the best log-likelihood reached by a single start; the best start not
        converged; an information matrix that is not positive definite (no standard errors);
        classes dropped.

    Notes
    -----
    The model for client i in class k (see :mod:`toolkit.classes._em` for the algebra)::

        y_ij = x_j' beta_k + z_j' b_i + e_ij,  b_i ~ N(0, D_k),  e_ij ~ N(0, sigma_k^2),

    with x_j the coded time of session j (``terms``), z_j = (1) or (1, time_j) and no b_i in
    LCGA. What is maximised is the marginal log-likelihood over clients,
    ``sum_i log sum_k pi_k N(y_i; X_i beta_k, sigma_k^2 I + Z_i D_k Z_i')``, by EM (class and
    random effects as missing data; closed-form M-step as weighted least squares across all
    clients, a weighted GLS step for beta in GMM) accelerated by SQUAREM, from ``n_starts``
    seeded starts. Classes are numbered from the best average course to the worst (mean of
    the fitted curve over the sessions, in the direction of improvement; ascending scores
    when it is unknown). Standard errors come from the observed information (central
    differences of the exact gradient, see :mod:`toolkit.classes._inference`). Fit
    statistics use the number of clients N: ``aic = -2 l + 2 d``, ``bic = -2 l + d log N``,
    ``sabic = -2 l + d log((N + 2) / 24)`` (Sclove, 1987) and the relative entropy
    ``1 - sum_ik (-p_ik log p_ik) / (N log K)`` (Ramaswamy et al., 1993). flexmix's
    ``BIC()`` uses the number of scores instead of clients, and its residual SD is not the ML
    one (it divides by the rows less the coefficients), so its log-likelihood lies slightly
    below the ML optimum found here.

    References
    ----------
    Nagin, D. S. (1999). Analyzing developmental trajectories: A semiparametric, group-based
    approach. Psychological Methods, 4(2), 139-157.
    Nagin, D. S. (2005). *Group-based modeling of development.* Harvard University Press.
    Muthén, B., & Shedden, K. (1999). Finite mixture modeling with mixture outcomes using the
    EM algorithm. Biometrics, 55(2), 463-469.
    Grün, B., & Leisch, F. (2008). FlexMix version 2: Finite mixtures with concomitant
    variables and varying and constant parameters. Journal of Statistical Software, 28(4),
    1-35.
    Proust-Lima, C., Philipps, V., & Liquet, B. (2017). Estimation of extended mixed models
    using latent classes and latent processes: The R package lcmm. Journal of Statistical
    Software, 78(2), 1-56.
    Varadhan, R., & Roland, C. (2008). Simple and globally convergent methods for
    accelerating the convergence of any EM algorithm. Scandinavian Journal of Statistics,
    35(2), 335-353.
    Sclove, S. L. (1987). Application of model-selection criteria to some problems in
    multivariate analysis. Psychometrika, 52(3), 333-343.
    Ramaswamy, V., DeSarbo, W. S., Reibstein, D. J., & Robinson, W. T. (1993). An empirical
    pooling approach for estimating marketing mix elasticities with PIMS data. Marketing
    Science, 12(1), 103-124.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import classes
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> m = classes.fit(scores, 2, seed=1)
    >>> m.classes[["class", "label", "share", "improvement"]].round(2)
       class                         label  share  improvement
    0      1  gradual response (27 points)   0.67        27.02
    1      2  gradual response (18 points)   0.33        17.52
    >>> round(m.loglik, 2), m.n_starts_at_best > 1
    (-1553.6, True)
    """
    function = "classes.fit"
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    k = _checks.whole(n_classes, "n_classes", function, low=1, high=_checks.MAX_COUNT)
    options, seed, design, sign, messages = prepare(
        function,
        scores,
        seed=seed,
        better=better,
        time=time,
        time_zero=time_zero,
        knots=knots,
        random=random,
        residual=residual,
        random_covariance=random_covariance,
        n_starts=n_starts,
        init=init,
        tol=tol,
        max_iter=max_iter,
        min_size=min_size,
        empty=empty,
        min_sessions=min_sessions,
        level=level,
        min_change=min_change,
    )
    check_classes(k, design, function)
    found = fit_design(design, k, sign=sign, seed=seed, progress=progress, **options)
    return assemble(
        scores,
        design,
        found,
        seed=seed,
        sign=sign,
        messages=messages,
        function=function,
        stacklevel=4,
        n_classes_requested=k,
        **options,
    )


def direction_of(scores: LongScores, better: str | None) -> int | None:
    """+1 / -1 when the direction of improvement is known, else None."""
    try:
        return scores.direction(better)
    except DirectionError:
        if better is not None:
            raise
        return None


def check_classes(k: int, design: _design.Design, function: str) -> None:
    n = len(design.clients)
    if k > n:
        raise OptionError(
            f"The 'n_classes' parameter of {function} must be at most the number of clients "
            f"analysed ({n}). Got {k} instead. Fix: fewer classes (a class needs clients; in "
            "practice each class should hold at least a few percent of them)."
        )


def skipped_message(design: _design.Design, min_sessions: int) -> list[str]:
    n = len(design.skipped)
    if not n:
        return []
    shown = design.skipped["client"].tolist()[:5]
    if min_sessions <= 1:
        return [
            f"{n} client(s) without an observed score were not analysed (e.g. {shown}); see "
            "result.skipped."
        ]
    return [
        f"{n} client(s) with fewer than {min_sessions} observed scores were not analysed "
        f"(e.g. {shown}); see result.skipped. A single score says nothing about a course. "
        "Fix: min_sessions=1 to keep them anyway."
    ]


@dataclass(frozen=True)
class Fit:
    """The chosen solution (classes in their final order) and how the starts went."""

    model: _em.Model
    beta: np.ndarray  # (K, p)
    sigma2: np.ndarray  # (K,)
    cov: np.ndarray  # (K, q, q)
    pi: np.ndarray  # (K,)
    loglik: float
    post: np.ndarray  # (N, K)
    starts: pd.DataFrame
    n_starts_at_best: int
    converged: bool
    theta: np.ndarray
    cov_theta: np.ndarray | None
    max_gradient: float
    messages: tuple[str, ...]


def fit_design(
    design: _design.Design,
    n_classes: int,
    *,
    sign: int | None,
    seed: int,
    residual: str,
    random_covariance: str,
    n_starts: int,
    init: str,
    tol: float,
    max_iter: int,
    min_size: float,
    empty: str,
    progress: bool | None = None,
    extra_start: _em.Params | None = None,
    inference: bool = True,
    refine_near: bool = True,
    **unused: Any,
) -> Fit:
    """Run every start on a design, keep the best, refine it and compute its information.

    ``refine_near=False`` refines the best start only (the bootstrap, which needs no count
    of the starts at the best log-likelihood)."""
    q = {"none": 0, "intercept": 1, "slope": 2}[design.random]
    model = _em.Model(n_classes, q, residual == "common", random_covariance == "common")
    st = design.stats
    rng = np.random.default_rng(seed)
    observed = ~np.isnan(design.y)
    t = design.z[:, -1] if q == 2 else design.x[:, 1]
    tw = np.broadcast_to(t, observed.shape)[observed]
    time_variance = float(np.var(tw)) if tw.size else 1.0
    curves = _starts.client_curves(st, design.x)
    parts = _starts.starting_partitions(curves, n_classes, n_starts, init, rng)
    start = _starts.starting_params(st, parts, model, time_variance)
    if extra_start is not None:
        start = _concat(extra_start, start)
    floor = _em.DEGENERATE * float(np.nanvar(design.y)) if np.isfinite(np.nanvar(design.y)) else 0.0
    bar = progress_bar(
        range(start.shape[0]), progress=progress, desc="classes: EM starts", total=start.shape[0]
    )
    tick = getattr(bar, "update", None)
    with _em.one_blas_thread():
        out = _em.run(
            st,
            start,
            model,
            tol=tol,
            max_iter=max_iter,
            min_size=min_size,
            drop=empty == "drop",
            floor=floor,
            tick=tick,
        )
        close = getattr(bar, "close", None)
        if close is not None:
            close()
        n_alive = out.params.alive.sum(axis=1)
        usable = np.isin(out.status, ["converged", "stalled", "not converged"])
        messages: list[str] = []
        full = usable & (n_alive == n_classes)
        if not full.any():
            if empty == "drop" and usable.any():
                most = int(n_alive[usable].max())
                full = usable & (n_alive == most)
                messages.append(
                    f"No start kept all {n_classes} classes: classes emptied (expected size "
                    f"below min_size={min_size:g} clients) and were dropped; the best start "
                    f"has {most}. Fix: fewer classes (n_classes={most})."
                )
            else:
                raise DataError(_all_failed(out.status, n_classes, n_starts, min_size))
        final_ll = np.where(np.isfinite(out.loglik), out.loglik, np.nan)
        status = out.status.astype(object).copy()
        ll = np.where(full, out.loglik, -np.inf)
        best = int(np.argmax(ll))
        # Newton polish (exact gradient, trust region) of the best start and of every start
        # that stopped near it (EM crawls towards a variance at 0); a start whose gradient
        # already vanishes costs one gradient evaluation.
        margin = _NEAR * abs(ll[best])
        near = full & (ll >= ll[best] - margin) if refine_near else np.zeros_like(full)
        near[best] = True
        solutions: dict[int, tuple[_em.Model, np.ndarray, bool, float]] = {}
        for i in np.nonzero(near)[0]:
            alive = out.params.alive[i]
            m_i = _em.Model(int(alive.sum()), q, model.common_residual, model.common_random)
            pi_i = np.exp(out.params.logpi[i][alive])
            theta0 = _inference.pack(
                out.params.beta[i][alive],
                out.params.sigma2[i][alive],
                out.params.cov[i][alive],
                pi_i / pi_i.sum(),
                m_i,
            )
            theta_i, ll_i, ok_i, g_i = _inference.polish(st, theta0, m_i)
            solutions[int(i)] = (m_i, theta_i, ok_i, g_i)
            final_ll[i] = ll_i
            if ok_i:
                status[i] = "converged"
        # the best refined start (a start left unrefined is at most as good as the EM best)
        best = max(solutions, key=lambda i: final_ll[i])
        best_ll = float(final_ll[best])
        model, theta_b, converged, max_grad = solutions[best]
        one = _inference.unpack(theta_b, model, st.p)
        kk = model.n_classes
        beta, sigma2, cov = one.beta[0], one.sigma2[0], one.cov[0]
        pi = np.exp(one.logpi[0])
        order = _order(design, beta, sign)
        beta, sigma2, cov, pi = beta[order], sigma2[order], cov[order], pi[order]
        final = _em.Params(
            beta[None], sigma2[None], cov[None], np.log(pi)[None], np.ones((1, kk), dtype=bool)
        )
        e = _em.estep(st, final, q)
        post = e.post  # (N, K) for one start
        at_best = full & (np.abs(final_ll - best_ll) <= BEST_TOLERANCE * abs(best_ll))
        theta = _inference.pack(beta, sigma2, cov, pi, model)
        cov_theta = None
        if inference:
            info = _inference.information(st, theta, model)
            cov_theta = _inference.covariance(info)
    if not converged:
        messages.append(
            f"The best solution did not converge: the largest gradient entry of the "
            f"log-likelihood is {max_grad:.3g} after EM ({max_iter} steps at most) and Newton "
            "refinement, so its estimates may still change. Fix: more EM steps (max_iter), or "
            "a simpler model (fewer classes, random='none')."
        )
    if q:
        sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
        tiny = sd < 1e-3 * np.sqrt(sigma2)[:, None]
        if tiny.any():
            which = "intercept" if tiny[:, 0].any() else "slope"
            messages.append(
                f"A within-class random {which} variance is estimated at its boundary (0): "
                "within those classes clients do not differ beyond noise in that way, so "
                "that part of the growth mixture model is empty (and EM is slow there). Fix: "
                + (
                    "random='intercept'."
                    if design.random == "slope" and not tiny[:, 0].any()
                    else "random='none' (latent class growth analysis)."
                )
            )
    if int(at_best.sum()) == 1 and n_starts > 1 and kk > 1:
        messages.append(
            f"Only 1 of {start.shape[0]} starts reached the best log-likelihood "
            f"({best_ll:.4f}), so it may not be the global maximum. Fix: more starts "
            f"(n_starts={4 * n_starts})."
        )
    if inference and cov_theta is None:
        messages.append(
            "The information matrix is not positive definite at the solution (a class nearly "
            "empty, or a variance at its boundary), so standard errors and intervals are "
            "missing. Fix: fewer classes, or residual='common' / random='none'."
        )
    starts = pd.DataFrame(
        {
            "start": np.arange(1, start.shape[0] + 1),
            "loglik": final_ll,
            "n_iterations": out.n_iterations,
            "status": status,
            "n_classes": n_alive.astype(np.int64),
            "at_best": at_best,
        }
    )[START_COLUMNS]
    return Fit(
        model=model,
        beta=beta,
        sigma2=sigma2,
        cov=cov,
        pi=pi,
        loglik=float(e.loglik[0]),
        post=post,
        starts=starts,
        n_starts_at_best=int(at_best.sum()),
        converged=bool(converged),
        theta=theta,
        cov_theta=cov_theta,
        max_gradient=max_grad,
        messages=tuple(messages),
    )


def _concat(a: _em.Params, b: _em.Params) -> _em.Params:
    return _em.Params(
        np.concatenate([a.beta, b.beta]),
        np.concatenate([a.sigma2, b.sigma2]),
        np.concatenate([a.cov, b.cov]),
        np.concatenate([a.logpi, b.logpi]),
        np.concatenate([a.alive, b.alive]),
    )


def _order(design: _design.Design, beta: np.ndarray, sign: int | None) -> np.ndarray:
    """Best average course first (mean fitted score over the sessions), ties by intercept."""
    mean = (design.x @ beta.T).mean(axis=0)
    key = mean * (sign if sign is not None else 1)
    return np.lexsort((beta[:, 0], key))


def _all_failed(status: np.ndarray, k: int, n_starts: int, min_size: float) -> str:
    counts = pd.Series(status).value_counts().to_dict()
    shown = ", ".join(f"{v} {s}" for s, v in counts.items())
    return (
        f"No start gave a usable {k}-class solution ({shown} of {len(status)} starts): a class "
        f"emptied (expected size below min_size={min_size:g} clients) or collapsed onto a few "
        "clients (residual variance near 0), so the data do not support this many classes "
        f"with this model. Fix: fewer classes (n_classes={max(k - 1, 1)}), residual='common', "
        "empty='drop', or more starts."
    )


# --- the result ------------------------------------------------------------------------------
def _threshold(scores: LongScores, design: _design.Design, min_change: Any) -> tuple[float, str]:
    if not isinstance(min_change, str):
        return float(min_change), "given"
    points = scores.reliable_change.points
    if points is not None and np.isfinite(points):
        return float(points), f"reliable change ({scores.reliable_change.source})"
    y = design.y
    has = ~np.isnan(y)
    first = y[np.arange(len(y)), np.argmax(has, axis=1)]
    return 0.5 * float(np.nanstd(first, ddof=1)), "half the SD of the first scores"


def assemble(
    scores: LongScores,
    design: _design.Design,
    found: Fit,
    *,
    seed: int,
    sign: int | None,
    messages: list[str],
    function: str,
    stacklevel: int,
    **options: Any,
) -> ClassesResult:
    """Every table of a :class:`ClassesResult` from a fit. Warnings are raised with
    ``stacklevel`` counted from :func:`toolkit.errors.warn` (4: the line that called the public
    function that called this)."""
    model = found.model
    k, p, q = model.n_classes, design.stats.p, model.q
    n = len(design.clients)
    level = options["level"]
    zcrit = float(_stats.norm.ppf(0.5 + level / 2))
    post = found.post
    hard = np.argmax(post, axis=1)
    prob = post[np.arange(n), hard]
    observed = ~np.isnan(design.y)
    expected_obs = post.T @ observed.astype(float)  # (K, S)
    threshold, threshold_source = _threshold(scores, design, options["min_change"])

    def curve(s: np.ndarray) -> np.ndarray:
        xs, _, _, _ = _design.session_design(
            s, time=design.time, time_zero=design.time_zero, knots=design.knots, random="none"
        )
        return (xs @ found.beta.T).T

    shapes = _labels.shapes(curve, design.sessions, expected_obs, sign, threshold)
    labels = [s.label for s in shapes]
    cls = np.arange(1, k + 1)

    # covariance of the coefficients and shares (delta method for pi = softmax(eta, 0))
    cov = found.cov_theta
    if cov is not None:
        cov_beta = cov[: k * p, : k * p]
        eta = slice(len(found.theta) - (k - 1), len(found.theta))
        jac = np.diag(found.pi)[:, : k - 1] - np.outer(found.pi, found.pi[: k - 1])
        share_se = np.sqrt(np.maximum(np.diag(jac @ cov[eta, eta] @ jac.T), 0.0))
    else:
        cov_beta = np.full((k * p, k * p), np.nan)
        share_se = np.full(k, np.nan)
    se_beta = np.sqrt(np.maximum(np.diag(cov_beta), 0.0)).reshape(k, p)
    if cov is None:
        se_beta[:] = np.nan
    coefficients = pd.DataFrame(
        {
            "class": np.repeat(cls, p),
            "label": np.repeat(labels, p),
            "term": np.tile(design.terms, k),
            "estimate": found.beta.reshape(-1),
            "se": se_beta.reshape(-1),
            "ci_lower": (found.beta - zcrit * se_beta).reshape(-1),
            "ci_upper": (found.beta + zcrit * se_beta).reshape(-1),
        }
    )[COEFFICIENT_COLUMNS]

    fitted = design.x @ found.beta.T  # (S, K)
    se_fit = np.empty_like(fitted)
    for c in range(k):
        block = cov_beta[c * p : (c + 1) * p, c * p : (c + 1) * p]
        se_fit[:, c] = np.sqrt(np.maximum(np.einsum("sp,pq,sq->s", design.x, block, design.x), 0))
    y0 = np.where(observed, design.y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        obs_mean = (post.T @ y0) / expected_obs
    s_count = len(design.sessions)
    curves = pd.DataFrame(
        {
            "class": np.repeat(cls, s_count),
            "label": np.repeat(labels, s_count),
            "session": np.tile(design.sessions, k),
            "fitted": fitted.T.reshape(-1),
            "se": se_fit.T.reshape(-1),
            "ci_lower": (fitted - zcrit * se_fit).T.reshape(-1),
            "ci_upper": (fitted + zcrit * se_fit).T.reshape(-1),
            "observed_mean": obs_mean.reshape(-1),
            "n_observed": expected_obs.reshape(-1),
        }
    )[CURVE_COLUMNS]

    n_modal = np.bincount(hard, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        appa = np.array([post[hard == c, c].mean() if n_modal[c] else np.nan for c in range(k)])
    sd = np.sqrt(found.cov[:, range(q), range(q)]) if q else np.full((k, 0), np.nan)
    classes = pd.DataFrame(
        {
            "class": cls,
            "label": labels,
            "share": found.pi,
            "share_se": share_se,
            "n_clients": n_modal.astype(np.int64),
            "appa": appa,
            "residual_sd": np.sqrt(found.sigma2),
            "intercept_sd": sd[:, 0] if q >= 1 else np.nan,
            "slope_sd": sd[:, 1] if q == 2 else np.nan,
            "score_first": [s.score_first for s in shapes],
            "score_last": [s.score_last for s in shapes],
            "improvement": [s.improvement for s in shapes],
            "half_change_session": [s.half_change_session for s in shapes],
        }
    )[CLASS_COLUMNS]

    table = pd.DataFrame(
        {
            "client": design.clients.to_numpy(),
            "class": (hard + 1).astype(np.int64),
            "label": np.asarray(labels, dtype=object)[hard],
            "probability": prob,
            "n_observed": design.stats.n.astype(np.int64),
        }
    )[TABLE_COLUMNS]
    posterior = pd.DataFrame(
        {
            "client": np.repeat(design.clients.to_numpy(), k),
            "class": np.tile(cls, n),
            "probability": post.reshape(-1),
        }
    )[POSTERIOR_COLUMNS]

    d = _em.n_parameters(model, p)
    ll = found.loglik
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(post > 0, post * np.log(post), 0.0))
        entropy = 1.0 - ent / (n * np.log(k)) if k > 1 else np.nan
    aic = -2 * ll + 2 * d
    bic = -2 * ll + d * np.log(n)
    sabic = -2 * ll + d * np.log((n + 2) / 24.0)
    statistics = pd.DataFrame(
        {
            "n_classes": [k],
            "n_clients": [n],
            "n_observations": [design.n_observations],
            "loglik": [ll],
            "n_parameters": [d],
            "aic": [aic],
            "bic": [bic],
            "sabic": [sabic],
            "entropy": [entropy],
            "smallest_share": [float(found.pi.min())],
            "smallest_n": [int(n_modal.min())],
            "appa_min": [float(np.nanmin(appa)) if np.isfinite(appa).any() else np.nan],
            "n_starts": [len(found.starts)],
            "n_starts_at_best": [found.n_starts_at_best],
            "converged": [found.converged],
        }
    )[STATISTICS_COLUMNS]

    settings = base_settings(
        scores,
        seed=seed,
        n_classes=options.get("n_classes_requested", k),
        n_classes_fitted=k,
        time=design.time,
        knots=list(design.knots),
        time_zero=design.time_zero,
        random=design.random,
        terms=list(design.terms),
        residual=options["residual"],
        random_covariance=options["random_covariance"],
        n_starts=options["n_starts"],
        init=options["init"],
        tol=options["tol"],
        max_iter=options["max_iter"],
        min_size=options["min_size"],
        empty=options["empty"],
        min_sessions=options["min_sessions"],
        min_change=options["min_change"],
        min_change_value=threshold,
        min_change_source=threshold_source,
        label_rule=(
            f"half of the improvement reached in the first {_labels.EARLY:.0%} of the window: "
            f"early; after {_labels.LATE:.0%}: late; window: sessions where at least "
            f"{_labels.WINDOW_SHARE:.0%} of the class's clients have a score"
        ),
        level=level,
    )
    kept = []
    for m in [*messages, *found.messages]:  # a loop: a comprehension would add a frame
        kept.append(warn(m, stacklevel=stacklevel))
    fitted_state = Fitted(
        model=model,
        beta=found.beta,
        sigma2=found.sigma2,
        cov=found.cov,
        pi=found.pi,
        theta=found.theta,
        cov_theta=found.cov_theta,
        max_gradient=found.max_gradient,
        design=design,
        post=post,
        sign=sign,
    )
    return ClassesResult(
        table=table,
        settings=settings,
        skipped=design.skipped,
        warnings=tuple(kept),
        scores=scores,
        classes=classes,
        coefficients=coefficients,
        curves=curves,
        posterior=posterior,
        starts=found.starts,
        statistics=statistics,
        loglik=float(ll),
        n_parameters=int(d),
        aic=float(aic),
        bic=float(bic),
        sabic=float(sabic),
        entropy=float(entropy),
        converged=found.converged,
        n_starts_at_best=found.n_starts_at_best,
        fitted=fitted_state,
    )
