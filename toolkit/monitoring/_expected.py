"""expected_response: expected recovery curves from a reference cohort, and not-on-track flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .. import _checks
from .. import _random as keyed
from .._results import base_settings, warn
from ..data import LongScores, as_scores
from ..errors import DataError, OptionError
from ..instruments import Instrument
from ._curve import CurveFit, curve_moments, fit_curve, moments
from ._neighbours import NeighbourModel, neighbour_moments
from ._shared import client_features, layout, nullable_bool, resolve_seed, show_ids, skipped_frame

__all__ = [
    "expected_response",
    "predict_scores",
    "METHODS",
    "TIME_CODINGS",
    "DISTANCES",
    "DEFAULT_LEVEL",
]

#: Ways to form the expected response.
METHODS = ("curve", "neighbours")
#: Time codings of the curve model: ``log(1 + e)`` or ``e``, with e sessions since intake.
TIME_CODINGS = ("log", "linear")
#: Distances of the neighbours method.
DISTANCES = ("euclidean", "mahalanobis")
#: The default level of every band and interval of :mod:`toolkit.monitoring`.
DEFAULT_LEVEL = 0.8
_FUNCTION = "monitoring.expected_response"


@dataclass(frozen=True)
class Fitted:
    """What predictions need from a fit: the models (0 = every reference client, then one
    per fold) and how the reference was arranged."""

    method: str
    models: tuple[Any, ...]
    folds: int | None
    seed: int | None
    fold_clients: pd.Index  # reference clients used, in order
    fold_codes: np.ndarray  # their folds (0..folds-1), or -1 without folds
    intake_session: int
    elapsed: np.ndarray
    time: str
    feature_names: tuple[str, ...]
    covariates: tuple[str, ...]
    dose: str | None
    instrument: str | None
    sign: int
    score_range: tuple[float, float] | None = None


def time_code(elapsed: np.ndarray, time: str) -> np.ndarray:
    """The curve model's time at elapsed sessions after intake."""
    e = np.asarray(elapsed, dtype=float)
    return np.log1p(e) if time == "log" else e


def fold_of(clients: pd.Index | np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each client's fold, from a stream keyed by (seed, client): the same in any subset."""
    keys = keyed.stream_keys(seed, keyed.client_keys(clients), "monitoring cross-fitting folds")
    u = keyed.uniform(keys, 1)[:, 0]
    return np.minimum((u * folds).astype(np.int64), folds - 1)


def expected_response(
    reference: pd.DataFrame | LongScores,
    *,
    method: Literal["curve", "neighbours"] = "curve",
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    intake_session: int | None = None,
    covariates: Sequence[str] = (),
    dose: str | None = None,
    time: Literal["log", "linear"] = "log",
    random: Literal["slope", "intercept"] = "slope",
    k: int = 50,
    distance: Literal["euclidean", "mahalanobis"] = "euclidean",
    min_observed: int = 10,
    folds: int | None = 5,
    seed: int | None = None,
) -> Any:
    """Expected response of clients like these, learnt from a reference cohort.

    Two methods: an expected recovery curve from a mixed-effects growth model of the
    reference cohort conditional on the intake score (Finch, Lambert & Schaalje, 2001), or
    the observed courses of the most similar reference clients (Lutz et al., 2005). The
    result predicts and flags new clients: :meth:`ExpectedResponseResult.predict` and
    :meth:`ExpectedResponseResult.flag`.

    Parameters
    ----------
    reference : pandas.DataFrame or LongScores
        The reference cohort's scores (long format; with a DataFrame pass ``client``,
        ``session``, ``score`` and ``instrument``). Not modified. Every client needs a
        score at the intake session.
    method : {"curve", "neighbours"}, default "curve"
        ``"curve"``: a growth model on ``time`` with the intake score (and ``covariates``,
        ``dose``) shifting both the level and the rate of change, and a correlated random
        intercept and slope per client (``random``). ``"neighbours"``: the ``k`` reference
        clients nearest on the intake score, the covariates and the dose.
    client, session, score, instrument : str, optional
        Column roles and the measure, for a DataFrame.
    intake_session : int, optional
        The session of the intake score (default: the first session of ``reference``).
        Sessions after it are numbered 1, 2, ... since intake, in the reference and in
        every monitored cohort alike.
    covariates : sequence of str, default ()
        Numeric client-level covariates carried by the scores (constant within a client).
    dose : str, optional
        Dose-aware curves. ``"observed"``: each client's observed course length (sessions
        from intake to its last observed score) is a further predictor or matching
        variable, so the expected curve is that of clients with courses as long (known
        only when a course has ended: for evaluation). The name of a carried client-level
        covariate instead (e.g. the planned number of sessions) uses that.
    time : {"log", "linear"}, default "log"
        The curve model's time: ``log(1 + e)`` (fast early change that levels off, as in
        the expected recovery curves of Lambert's group) or ``e``, with ``e`` the sessions
        since intake.
    random : {"slope", "intercept"}, default "slope"
        The curve model's random effects.
    k : int, default 50
        Neighbours per client (``method="neighbours"``).
    distance : {"euclidean", "mahalanobis"}, default "euclidean"
        Euclidean distance on the matching variables standardised by the reference SDs,
        or the Mahalanobis distance with the reference covariance.
    min_observed : int, default 10
        ``method="neighbours"``: fewest neighbours with a score at a session for an
        expected score there (fewer: missing).
    folds : int or None, default 5
        Cross-fitting: besides the model from every reference client, one model per fold
        of the reference clients, each fitted without that fold. A monitored client that
        is also a reference client (the same id) is then predicted by the model of its
        fold, which never saw its data. None fits one model only (monitored clients must
        then not be reference clients).
    seed : int, optional
        Assigns reference clients to folds by a stream keyed by (seed, client), so a client
        is in the same fold in any subset. None draws one (recorded in ``settings``).

    Returns
    -------
    ExpectedResponseResult
        ``table`` has one row per reference client (:data:`REFERENCE_COLUMNS`):

        - ``client``; ``intake``: its intake score;
        - ``course_length``: sessions from intake to its last observed score;
        - ``n_observed``: observed scores after intake;
        - ``last_session``: its last observed session;
        - ``fold``: its cross-fitting fold (missing without folds, or when not used);
        - ``used``: whether it entered the fit.

        ``coefficients`` and ``variance_components`` hold the curve model (empty for
        neighbours); ``skipped`` the reference clients left out, with the reason.

    Raises
    ------
    DataError
        The reference has no intake session, no client with an intake score, a
        covariate that is not numeric, or too few usable clients for a fit or a fold.
    OptionError
        A bad option (the message lists the valid values).

    Notes
    -----
    Curve model (``random="slope"``), for reference client *i* at elapsed session *e*::

        y_ie = c_i' B_0 + (c_i' B_1) t_e + b_0i + b_1i t_e + e_ie

    with ``c_i = (1, intake_i - mean, covariates - means, dose - mean)``, fitted by REML
    (the profiled criterion of lme4, exact and vectorised over clients). A new client's
    expected score at ``e`` is ``x' B`` with ``x = (1, t_e) (x) c``; its predictive SD
    ``sqrt(x' Cov(B) x + z' Sigma_b z + sigma^2)`` with ``z = (1, t_e)`` adds the
    uncertainty of the fixed effects, the spread of clients around the curve and the noise
    of one score; the band is mean +- z_{(1 + level)/2} SD, clipped to the instrument's
    range.

    Neighbours: the expected score is the mean of the neighbours' observed scores at that
    elapsed session, the band their ``(1 - level)/2`` and ``(1 + level)/2`` quantiles
    (linear interpolation), the SD their SD.

    Cross-fitting assigns each reference client to fold ``floor(folds * u)``, ``u`` a
    uniform draw keyed by (seed, client). The quantities shared by every client (the
    reference means and SDs of the predictors, which centre the curve model and scale the
    neighbours' distances) are in ``settings["feature_means"]`` and ``["feature_sds"]``.

    References
    ----------
    Finch, A. E., Lambert, M. J., & Schaalje, B. G. (2001). Psychotherapy quality control:
    The statistical generation of expected recovery curves for integration into an early
    warning system. Clinical Psychology & Psychotherapy, 8(4), 231-242.

    Lutz, W., Leach, C., Barkham, M., Lucock, M., Stiles, W. B., Evans, C., Noble, R., &
    Iveson, S. (2005). Predicting change for individual psychotherapy clients on the basis
    of their nearest neighbors. Journal of Consulting and Clinical Psychology, 73(5),
    904-913.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> sg = toolkit.datasets.load_scores("sgdata")
    >>> expected = monitoring.expected_response(sg, seed=1)
    >>> flags = expected.flag(sg)  # cross-fitted: no client's curve uses its own scores
    >>> sorted(flags.table["fold"].dropna().unique().tolist())
    [0, 1, 2, 3, 4]
    >>> bool(flags.clients["flagged"].any())
    True
    """
    from ._result import ExpectedResponseResult

    _checks.choice(method, "method", _FUNCTION, METHODS)
    _checks.choice(time, "time", _FUNCTION, TIME_CODINGS)
    _checks.choice(random, "random", _FUNCTION, ("slope", "intercept"))
    _checks.choice(distance, "distance", _FUNCTION, DISTANCES)
    k = _checks.whole(k, "k", _FUNCTION, low=1)
    min_observed = _checks.whole(min_observed, "min_observed", _FUNCTION, low=1)
    if folds is not None:
        folds = _checks.whole(folds, "folds", _FUNCTION, low=2)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = tuple(covariates)
    if dose is not None and not isinstance(dose, str):
        raise OptionError(
            f"The 'dose' parameter of {_FUNCTION} must be None, 'observed' or the name of a "
            f"carried covariate. Got {dose!r} instead."
        )
    seed = resolve_seed(seed, _FUNCTION) if folds is not None or seed is not None else None
    scores = as_scores(
        reference, client=client, session=session, score=score, instrument=instrument
    )
    sign = scores.sign
    if intake_session is None:
        intake_session = int(scores.sessions[0])
    intake_session = _checks.whole(intake_session, "intake_session", _FUNCTION)
    lay = layout(scores, intake_session, what="the reference cohort")
    if np.all(np.isnan(lay.intake)):
        raise DataError(
            f"No reference client has a score at the intake session {intake_session}. Fix: "
            "pass intake_session=<the session of the intake score>."
        )
    if len(lay.elapsed) == 0:
        raise DataError(
            f"The reference cohort has no session after the intake session {intake_session}, "
            "so there is no course to learn from."
        )
    feats, names, reason = client_features(scores, lay, covariates, dose)
    n_obs = (~np.isnan(lay.post)).sum(axis=1)
    reason = np.where((reason == "") & (n_obs == 0), "no observed score after intake", reason)
    usable = reason == ""
    n_usable = int(usable.sum())
    minimum = 3 if method == "curve" else 1
    if n_usable < minimum:
        raise DataError(
            f"Only {n_usable} reference client(s) have an intake score and a later score; "
            f"the {method} method needs at least {minimum}."
        )
    codes = np.flatnonzero(usable)
    used_clients = scores.clients.take(codes)
    if folds is not None and seed is not None:
        fold_codes = fold_of(used_clients, folds, int(seed))
    else:
        fold_codes = np.full(n_usable, -1)

    notes: list[str] = []
    f_used = feats[codes]
    feature_sd = f_used.std(axis=0, ddof=1) if n_usable > 1 else np.ones(f_used.shape[1])
    if method == "curve":
        q = 2 if random == "slope" else 1
        t = time_code(lay.elapsed, time)
        mom = moments(lay.post[codes], t)
        pred = feats[codes]
        term_names = ("intercept", *names)

        def fit(rows: np.ndarray) -> CurveFit:
            if len(rows) < 3:
                raise DataError(
                    f"A cross-fitting fold leaves only {len(rows)} reference client(s) to fit "
                    "on. Fix: fewer folds (folds=2) or folds=None with a separate reference."
                )
            return fit_curve(mom.take(rows), pred[rows], term_names, q=q)

        models: list[Any] = [fit(np.arange(n_usable))]
        if folds is not None:
            models += [fit(np.flatnonzero(fold_codes != f)) for f in range(folds)]
        bad = [i for i, m in enumerate(models) if not m.converged]
        if bad:
            notes.append(
                warn(
                    f"The expected-curve model did not verifiably converge for "
                    f"{'the full reference' if 0 in bad else ''}"
                    f"{' and ' if 0 in bad and len(bad) > 1 else ''}"
                    f"{f'{len(bad) - (0 in bad)} fold(s)' if len(bad) - (0 in bad) else ''}"
                    " (the two starts disagree or the gradient is not small). Fix: check the "
                    "reference data, or random='intercept'.",
                    stacklevel=3,
                )
            )
        boundary = models[0].theta[-1] < 1e-6 if q == 2 else models[0].theta[0] < 1e-6
        if boundary:
            notes.append(
                warn(
                    "Singular (boundary) fit of the expected-curve model: a random-effect "
                    "variance is estimated at zero. The expected curve is still valid; the "
                    "band rests on the remaining variance components. Fix: "
                    "random='intercept' if clients do not differ in their rates of change.",
                    stacklevel=3,
                )
            )
    else:
        if distance == "euclidean":
            sd = np.where(np.isfinite(feature_sd) & (feature_sd > 0), feature_sd, 1.0)
            whitening = np.diag(1.0 / sd)
        else:
            cov = np.atleast_2d(np.cov(f_used, rowvar=False))
            try:
                whitening = np.linalg.inv(np.linalg.cholesky(cov)).T
            except np.linalg.LinAlgError:
                raise DataError(
                    "The matching variables are collinear (or constant) in the reference "
                    "cohort, so the Mahalanobis distance is undefined. Fix: "
                    "distance='euclidean' or drop a covariate."
                ) from None
        post = lay.post[codes]

        def model(rows: np.ndarray) -> NeighbourModel:
            if len(rows) == 0:
                raise DataError(
                    "A cross-fitting fold leaves no reference client. Fix: fewer folds."
                )
            return NeighbourModel(f_used[rows], post[rows], whitening, k, min_observed)

        models = [model(np.arange(n_usable))]
        if folds is not None:
            models += [model(np.flatnonzero(fold_codes != f)) for f in range(folds)]
        if k > n_usable:
            notes.append(
                warn(
                    f"k={k} neighbours were asked for, but the reference has only "
                    f"{n_usable} usable clients; every client gets all of them. Fix: a "
                    "larger reference or a smaller k.",
                    stacklevel=3,
                )
            )

    fitted = Fitted(
        method=method,
        models=tuple(models),
        folds=folds,
        seed=seed,
        fold_clients=used_clients,
        fold_codes=fold_codes,
        intake_session=intake_session,
        elapsed=lay.elapsed,
        time=time,
        feature_names=tuple(names),
        covariates=covariates,
        dose=dose,
        instrument=scores.instrument.name if scores.instrument is not None else None,
        sign=sign,
        score_range=(
            (scores.instrument.min_score, scores.instrument.max_score)
            if scores.instrument is not None
            else None
        ),
    )
    fold_col = np.full(scores.n_clients, -1)
    fold_col[codes] = fold_codes
    course = np.where(lay.last_observed > 0, lay.last_observed, np.nan)
    table = pd.DataFrame(
        {
            "client": scores.clients.to_numpy(),
            "intake": lay.intake,
            "course_length": course,
            "n_observed": n_obs.astype(np.int64),
            "last_session": np.where(
                lay.last_observed > 0, lay.last_observed + intake_session, np.nan
            ),
            "fold": pd.arrays.IntegerArray(np.maximum(fold_col, 0).astype(np.int64), fold_col < 0),
            "used": usable,
        }
    )
    skipped = pd.DataFrame(
        {
            "client": pd.Series(scores.clients.to_numpy()[~usable], dtype=object),
            "reason": pd.Series(reason[~usable], dtype=object),
        }
    )
    settings = base_settings(
        scores,
        seed=seed,
        method=method,
        intake_session=intake_session,
        covariates=list(covariates),
        dose=dose,
        time=time,
        random=random,
        k=k,
        distance=distance,
        min_observed=min_observed,
        folds=folds,
        n_reference=n_usable,
        horizon=int(lay.elapsed[-1]),
        feature_names=list(names),
        feature_means=[float(v) for v in f_used.mean(axis=0)],
        feature_sds=[float(v) for v in feature_sd],
    )
    return ExpectedResponseResult(
        table=table,
        settings=settings,
        skipped=skipped,
        warnings=tuple(notes),
        scores=scores,
        fitted=fitted,
    )


def _band(fitted: Fitted, model: Any, features: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    """Expected, SD, lower, upper at every elapsed session for clients with ``features``."""
    if fitted.method == "curve":
        t = time_code(fitted.elapsed, fitted.time)
        mean, sd = curve_moments(model, features, t)
        z = stats.norm.ppf(0.5 + level / 2)
        lower, upper = mean - z * sd, mean + z * sd
        if fitted.score_range is not None:  # no score lies outside the instrument's range
            np.clip(lower, *fitted.score_range, out=lower)
            np.clip(upper, *fitted.score_range, out=upper)
        return mean, sd, lower, upper
    mean, sd, lower, upper, _ = neighbour_moments(model, features, level)
    return mean, sd, lower, upper


def predict_scores(
    fitted: Fitted, scores: LongScores, level: float, *, flag: bool
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], pd.DataFrame | None]:
    """The prediction (and flag) tables of ``scores``; see ``ExpectedResponseResult``.

    Returns ``(table, skipped, notes, clients)`` (``clients`` only with ``flag``).
    """
    lay = layout(scores, fitted.intake_session, horizon=len(fitted.elapsed))
    feats, _, reason = client_features(scores, lay, fitted.covariates, fitted.dose)
    notes: list[str] = []
    ok = reason == ""
    # Which model predicts each client: the fold that left it out, else the full model.
    where = fitted.fold_clients.get_indexer(scores.clients)
    known = where >= 0
    if known.any() and fitted.folds is None:
        raise OptionError(
            f"{int(known.sum())} monitored client(s) are reference clients "
            f"({show_ids(scores.clients[known])}) and the expected response was fitted with "
            "folds=None, so their expected curves would come from their own scores. Fix: "
            "expected_response(..., folds=5) (cross-fitting), or a separate reference cohort."
        )
    model_of = np.where(known, fitted.fold_codes[np.maximum(where, 0)] + 1, 0)
    e = len(fitted.elapsed)
    shape = (scores.n_clients, e)
    mean, sd = np.full(shape, np.nan), np.full(shape, np.nan)
    lower, upper = np.full(shape, np.nan), np.full(shape, np.nan)
    for m in np.unique(model_of[ok]):
        rows = np.flatnonzero(ok & (model_of == m))
        band = _band(fitted, fitted.models[m], feats[rows], level)
        for out, part in zip((mean, sd, lower, upper), band):
            out[rows] = part
    if lay.n_beyond:
        notes.append(
            warn(
                f"{lay.n_beyond} observed score(s) come after elapsed session {e} since intake, "
                "the last one the reference cohort has; they have no expected score. Fix: a "
                "reference cohort with longer courses.",
                stacklevel=4,
            )
        )
    # One row per client and elapsed session up to the client's last row (row-major, so
    # sorted by client and session).
    cell = (np.arange(e)[None, :] < lay.last_row[:, None]) & ok[:, None]
    counts = cell.sum(axis=1)
    rows = np.repeat(np.arange(scores.n_clients), counts)
    starts = np.cumsum(counts) - counts
    cols = np.arange(len(rows)) - np.repeat(starts, counts)
    fold = model_of[rows] - 1
    table: dict[str, Any] = {
        "client": scores.clients.take(rows).to_numpy(),
        "session": (fitted.elapsed[cols] + fitted.intake_session).astype(np.int64),
        "score": lay.post[cell],
        "expected": mean[cell],
        "lower": lower[cell],
        "upper": upper[cell],
        "sd": sd[cell],
        "fold": pd.arrays.IntegerArray(np.maximum(fold, 0), fold < 0),
    }
    skipped = skipped_frame(scores.clients, reason)
    if not flag:
        # copy=False: the columns stay as made (no second, consolidated copy).
        return pd.DataFrame(table, copy=False), skipped, notes, None
    edge = upper if fitted.sign > 0 else lower
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = lay.post - mean
        beyond = fitted.sign * (lay.post - edge) > 0
    missing = np.isnan(lay.post) | np.isnan(edge)
    beyond &= ~missing & cell
    del mean, sd, lower, upper, edge  # (clients x sessions) arrays no longer needed
    with np.errstate(invalid="ignore", divide="ignore"):
        table["residual"] = residual[cell]
        table["z"] = table["residual"] / table["sd"]
    del residual
    table["not_on_track"] = nullable_bool(beyond[cell], missing[cell])
    frame = pd.DataFrame(table, copy=False)
    del table
    clients = _flag_clients(scores, lay, ok, beyond, ~missing & cell, fitted)
    return frame, skipped, notes, clients


def _flag_clients(
    scores: LongScores,
    lay: Any,
    ok: np.ndarray,
    beyond: np.ndarray,
    monitored: np.ndarray,
    fitted: Fitted,
) -> pd.DataFrame:
    n_flags = beyond.sum(axis=1).astype(np.int64)
    has = n_flags > 0
    first = np.argmax(beyond, axis=1)
    first_session = np.where(has, fitted.elapsed[first] + fitted.intake_session, 0)
    last = np.where(lay.last_observed > 0, lay.last_observed + fitted.intake_session, 0)
    out = pd.DataFrame(
        {
            "client": scores.clients.to_numpy(),
            "intake": lay.intake,
            "last_session": pd.arrays.IntegerArray(last.astype(np.int64), lay.last_observed == 0),
            "n_monitored": monitored.sum(axis=1).astype(np.int64),
            "n_flags": n_flags,
            "first_flag_session": pd.arrays.IntegerArray(first_session.astype(np.int64), ~has),
            "flagged": has,
        }
    )
    return out[ok].reset_index(drop=True)
