"""detect: exact optimal segmentation of every client's scores, and its tables."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import _checks
from .._results import base_settings, deprecated_option, empty_skipped, warn
from ..data import LongScores, as_scores
from ..errors import OptionError
from ..instruments import Instrument
from ._costs import _ZERO_RSS, MODELS, PENALTIES, R_VARIANCE_FLOOR, Stats
from ._costs import penalty as make_penalty
from ._packed import Packed, client_noise_sd, pack
from ._result import CHANGE_COLUMNS, CLIENT_COLUMNS, SEGMENT_COLUMNS, ChangePointsResult
from ._search import SEARCHES, broken_stick_fit, run_segmentation

__all__ = [
    "detect",
    "check_common",
    "screen",
    "resolve_seed",
    "NOISE_SD",
    "sorted_skipped",
    "seg_mean",
    "line_rows",
    "resolution",
]

DEFAULT_MIN_SIZE = {"mean": 2, "linear": 3, "broken_stick": 2, "meanvar": 2}
_DEFAULT_MAX_CHANGES_BROKEN_STICK = 2
#: The named choices of ``noise_sd``.
NOISE_SD = ("pooled", "client", "unit")
_UNSET: Any = object()


def detect(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    model: Literal["mean", "linear", "broken_stick", "meanvar"] = "mean",
    penalty: Literal["MBIC", "BIC", "AIC"] | float = "MBIC",
    noise_sd: Literal["pooled", "client", "unit"] | float | None = None,
    min_size: int | None = None,
    max_changes: int | None = None,
    search: Literal["exact", "pelt"] = "exact",
    min_sd: Literal["resolution"] | float | None = None,
    test: bool = False,
    n_boot: int = 999,
    seed: int | None = None,
    progress: bool | None = None,
    sigma: Any = _UNSET,
) -> ChangePointsResult:
    """Exact optimal segmentation of every client's scores.

    For each client, finds the segmentation of the observed sessions that minimises

    .. math:: \\sum_{j=1}^{m+1} C(\\text{segment}_j) + m \\beta

    over all segmentations (every segment at least ``min_size`` observed sessions, at most
    ``max_changes`` changes), by dynamic programming over all clients at once.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column names.
    client, session, score : str, optional
        Column names (needed with a DataFrame).
    instrument, better : str, optional
        The measure and direction (for a DataFrame); the scores' reliable-change criterion
        (``scores.reliable_change``, the one every method shares) decides ``jump_rci`` and
        ``breakthrough``.
    model : {"mean", "linear", "broken_stick", "meanvar"}, default "mean"
        Segment model: mean shift; piecewise linear with a jump and a slope change at each
        change ("discontinuous growth"); continuous piecewise linear (slope change only,
        knots at observed sessions; :func:`breakpoint` fits one knot anywhere between
        sessions); or a change in mean and variance ("meanvar": each segment has its own
        mean and SD, as R's ``changepoint::cpt.meanvar`` with ``test.stat="Normal"``), which
        also finds a client who "became stable" (the SD falls) without a shift in level.
        Session numbers are the time axis.
    penalty : {"MBIC", "BIC", "AIC"} or float, default "MBIC"
        Penalty per change on the -2 log-likelihood scale (see Notes). A number is used as
        it is (with ``sigma="unit"`` it is on the residual-sum-of-squares scale).
    noise_sd : {"pooled", "client", "unit"} or float, optional
        Noise SD that scales the cost of the mean and linear models (default ``"pooled"``;
        ``meanvar`` estimates each segment's own SD and takes none). ``"pooled"``: one
        robust estimate from every client's
        successive differences (the median absolute deviation, which a few level shifts
        barely move), computed once for the whole data (``scores.pooled``, the same in any
        subset or partition) and recorded in ``settings["noise_sd_value"]``. ``"client"``:
        the same estimate from each client's own differences. ``"unit"``: SD 1, as R's
        ``changepoint::cpt.mean`` (Normal mean cost); on raw questionnaire scores this finds
        many spurious changes and is meant for comparison. A number: that SD for every
        client (e.g. the instrument's standard error of measurement). On short series a
        per-client estimate is itself noisy: in notebook 03's simulation (12 sessions, no
        true change, MBIC) 16% of clients got a spurious change with ``"client"``, 3% with
        ``"pooled"`` and 1% with the known SD; hence the pooled default. Results do not
        depend on the score scale with ``"pooled"`` or ``"client"``. (``sigma=`` is the
        deprecated name of this option, with ``"mad"`` for ``"client"``.)
    min_size : int, optional
        Fewest observed sessions in a segment (default 2 for ``mean``, ``broken_stick`` and
        ``meanvar``, 3 for ``linear``; ``meanvar`` needs at least 2, R's ``minseglen``
        convention for a variance). Clients with fewer than ``2 * min_size`` observed
        sessions are skipped.
    max_changes : int, optional
        Most changes per client (default: no limit, except 2 for ``broken_stick``, whose
        search is exhaustive over knot sets). ``max_changes=1`` is the best single change
        under the same penalised cost; it is *not* R's ``method="AMOC"`` rule, whose MBIC
        has another form (see Notes).
    search : {"exact", "pelt"}, default "exact"
        ``"exact"``: the minimum of the penalised cost over every segmentation.
        ``"pelt"``: R changepoint's PELT with its own pruning and candidate rules (mean and
        meanvar models, no ``max_changes``), which reproduces ``cpt.mean`` /
        ``cpt.meanvar(method="PELT")`` change for change (up to exact ties of whole-point
        scores, which rounding breaks either way) but, because MBIC's log(length)
        term, the minimum segment length and the zero-variance floor break PELT's pruning
        condition, occasionally keeps a segmentation whose cost is above the minimum (24 of
        the 506 reference series for ``meanvar``).
    min_sd : "resolution" or float, optional
        ``meanvar`` only: the smallest segment SD the cost uses, in score points. A segment
        of identical scores has variance 0, which R's changepoint replaces by 1e-11: such a
        segment is then almost free, and on whole-point questionnaire scores every pair of
        equal successive scores becomes its own segment. ``"resolution"`` (the default):
        the SD of the rounding error of the client's recorded precision (Sheppard, 1898),
        ``resolution / sqrt(12)`` with resolution 1 for whole-point scores, 0.1 for one
        decimal, ..., and no floor for scores of full precision. A number: that SD for
        every client. ``0``: R's rule exactly (only a zero variance is replaced, by 1e-11).
    test : bool, default False
        Also run the at-most-one-change test (:func:`amoc`) and fill ``p_value``.
    n_boot : int, default 999
        Monte Carlo replicates of the test.
    seed : int, optional
        For the test; draws are keyed by (seed, client), so a client's p-value is the same
        in any subset of clients. None draws a seed, recorded in ``settings["seed"]``.
    progress : bool, optional
        Show a progress bar for long runs (default: the global option).

    Returns
    -------
    ChangePoints
        ``table`` has one row per detected change, columns:

        - ``client``: client id.
        - ``change``: 1, 2, ... within the client.
        - ``session``: first session of the new segment.
        - ``last_pre_session``: last observed session of the previous segment.
        - ``n_pre``, ``n_post``: observed sessions in the segments before and after.
        - ``pre_mean``, ``post_mean``: mean observed score of those segments.
        - ``pre_slope``, ``post_slope``: fitted slopes per session (0 for ``mean`` and
          ``meanvar``).
        - ``pre_sd``, ``post_sd``: SD of the scores about the fit in the segments before
          and after, ``sqrt(RSS_j / n_j)`` (for ``meanvar`` the segment SDs the model
          estimated, before ``min_sd``).
        - ``jump``: post-change fit minus pre-change fit (extrapolated) at ``session``, in
          score units (0 for ``broken_stick``).
        - ``slope_change``: ``post_slope - pre_slope``.
        - ``jump_sd``: ``jump`` / the client's residual SD (NaN when that SD is 0).
        - ``jump_rci``: ``jump`` / the reliable-change criterion (NaN without one).
        - ``p_value``: the client's at-most-one-change p-value (with ``test=True``; else NaN).
        - ``breakthrough``: the jump is in the improving direction and at least the
          reliable-change criterion (nullable boolean; missing without a criterion).

        ``segments`` (one row per segment): ``client``, ``segment``, ``first_session``,
        ``last_session``, ``n``, ``mean``, ``slope``, ``sd`` (as ``pre_sd``), ``fit_start``
        and ``fit_end`` (fitted score at the first and last session). ``clients`` (one row
        per analysed client): ``client``, ``n_observed``, ``n_changes``, ``noise_sd`` (noise
        SD in the cost; NaN for ``meanvar``),
        ``residual_sd`` (sqrt(RSS / (n - parameters))), ``objective`` (the minimised
        penalised cost) and ``p_value``. ``skipped``: clients not analysed, with the reason
        (every score missing, too few observed sessions, constant series, no noise).

    Raises
    ------
    ValueError
        For an unknown model, penalty, noise SD or search, a bad ``min_size``,
        ``max_changes`` or ``min_sd``, an option the model does not take (``noise_sd`` with
        ``meanvar``, ``min_sd`` without it), or ``search="pelt"`` with a linear model or
        ``max_changes``.

    Notes
    -----
    Segment cost on the -2 log-likelihood scale with noise SD sigma_i: ``RSS / sigma_i^2``,
    where RSS is the residual sum of squares of the segment's mean (``mean``) or OLS line
    (``linear``); ``broken_stick`` fits all pieces jointly under continuity. With ``d``
    parameters per change (1 for ``mean`` and ``broken_stick``, 2 for ``linear``) and ``n``
    the client's observed sessions, the penalties are those of R's ``changepoint`` package
    (``penalty_decision.R``): BIC ``(d + 1) log n``, AIC ``2 (d + 1)``, and MBIC
    ``(d + 2) log n`` per change plus ``log(n_j)`` for every segment of length ``n_j``
    (``mbic_mean`` in ``cost_general_functions.c``). For ``meanvar`` (d = 2) a segment
    costs ``n_j (log(2 pi) + log(s_j^2) + 1)`` with ``s_j^2 = RSS_j / n_j`` (the Gaussian
    -2 log-likelihood at the segment's own mean and variance; ``mll_meanvar`` and
    ``mbic_meanvar``), so MBIC is ``4 log n`` per change plus ``log(n_j)`` per segment, BIC
    ``3 log n`` and AIC 6; a zero ``s_j^2`` is R's 1e-11 and ``s_j`` is at least ``min_sd``.
    R's MBIC equals Zhang & Siegmund's
    (2007) ``3 m log n + sum_j log(n_j / n)`` plus ``(m + 1) log n``, i.e. one extra
    ``log n`` per change. The default noise SD is
    ``1.4826 * median|d - median(d)| / sqrt(2)`` over successive differences ``d`` of the
    observed scores (the mean absolute deviation times sqrt(pi/2) when that MAD is 0); for
    ``"pooled"`` the differences of all clients with at least 4 observed scores, each
    centred by its own client's median (:mod:`toolkit.pooled`).

    Search: optimal partitioning (Jackson et al., 2005) when ``max_changes`` is None,
    segment neighbourhood (Auger & Lawrence, 1989) otherwise, both over every client at once
    from cumulative sums; both are exact, so no PELT pruning is needed (with T <= 60
    sessions the T^2/2 segment costs per client are cheap). R's PELT with MBIC prunes with
    a rule that the log-length term does not satisfy, so it can rarely miss the optimum;
    ``search="pelt"`` runs that PELT instead (``PELT_one_func_minseglen.c``: candidates
    ``{0, min_size}``, then ``t - min_size + 1`` after each ``t``; a candidate tau is kept
    while ``F(tau) + C(tau, t) <= F(t)``). ``detect(model="meanvar", search="pelt",
    min_sd=0)`` gives the change points of ``cpt.meanvar(y, penalty="MBIC", method="PELT",
    test.stat="Normal", minseglen=2)`` (503 of the 506 reference series; the other three
    are exact ties) and ``detect(noise_sd="unit", search="pelt", min_size=1)`` those of
    ``cpt.mean(y, penalty="MBIC", method="PELT")``, on complete series.

    ``max_changes=1`` is not R's AMOC: ``cpt.mean`` / ``cpt.meanvar(method="AMOC")`` pick
    the change by the unpenalised likelihood over tau = minseglen .. n - minseglen + 1 (so
    the last segment may be one session shorter than minseglen), use the penalty
    ``3 log n`` for both models (``diffparam = 1``), add ``log(tau) + log(n - tau + 1)`` to
    the one-change cost only, floor a zero variance at 1e-10, and keep the change when the
    saving is at least the penalty. ``max_changes=1`` minimises the criterion above (for
    ``meanvar`` ``4 log n`` per change, ``log(n_j)`` on every segment, the no-change one
    included), so the two can disagree on both whether and where a change is.

    References
    ----------
    Auger, I. E., & Lawrence, C. E. (1989). Algorithms for the optimal identification of
    segment neighborhoods. Bulletin of Mathematical Biology, 51(1), 39-54.

    Jackson, B., et al. (2005). An algorithm for optimal partitioning of data on an interval.
    IEEE Signal Processing Letters, 12(2), 105-108.

    Killick, R., Fearnhead, P., & Eckley, I. A. (2012). Optimal detection of changepoints
    with a linear computational cost. JASA, 107(500), 1590-1598.

    Sheppard, W. F. (1898). On the calculation of the most probable values of
    frequency-constants, for data arranged according to equidistant division of a scale.
    Proceedings of the London Mathematical Society, 29, 353-380.

    Zhang, N. R., & Siegmund, D. O. (2007). A modified Bayes information criterion with
    applications to the analysis of comparative genomic hybridization data. Biometrics,
    63(1), 22-32.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.changepoint import detect
    >>> df = pd.DataFrame({"id": 1, "week": range(1, 11),
    ...                    "bdi": [30, 31, 29, 30, 32, 15, 14, 16, 15, 14]})
    >>> cp = detect(df, client="id", session="week", score="bdi", instrument="BDI-II",
    ...             progress=False)
    >>> cp.table[["client", "session", "pre_mean", "post_mean", "breakthrough"]]
       client  session  pre_mean  post_mean  breakthrough
    0       1        6      30.4       14.8          True

    A client whose scores settle without a shift in level ("became stable"):

    >>> calm = pd.DataFrame({"id": 2, "week": range(1, 13),
    ...                      "bdi": [20, 27, 14, 25, 16, 29, 21, 22, 21, 21, 22, 21]})
    >>> mv = detect(calm, client="id", session="week", score="bdi", instrument="BDI-II",
    ...             model="meanvar", progress=False)
    >>> mv.table[["session", "pre_mean", "post_mean", "pre_sd", "post_sd"]].round(2)
       session  pre_mean  post_mean  pre_sd  post_sd
    0        7     21.83      21.33    5.58     0.47
    """
    if sigma is not _UNSET:
        noise_sd = deprecated_option("sigma", "noise_sd", "detect", sigma)
    if noise_sd == "mad":
        noise_sd = "client"
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    sign = scores.direction(better) if (better or scores.better) else None
    min_size = check_common(model, min_size, noise_sd, penalty, max_changes)
    noise_sd, min_sd = _model_options(model, noise_sd, search, min_sd, max_changes)
    n_boot = _checks.whole(n_boot, "n_boot", "detect", low=1)
    seed = resolve_seed(seed, "detect")
    if max_changes is None and model == "broken_stick":
        max_changes = _DEFAULT_MAX_CHANGES_BROKEN_STICK
    notes: list[str] = []
    matrix, rows, skipped = screen(scores, min_size, "change-point detection")
    p = pack(matrix, scores.sessions, rows)
    sd, fell_back, noise_value = _noise(p, noise_sd, scores)
    settings = base_settings(
        scores,
        seed=seed,
        model=model,
        penalty=penalty,
        noise_sd=noise_sd,
        noise_sd_value=noise_value,
        min_size=min_size,
        max_changes=max_changes,
        search=search,
        min_sd=min_sd,
        test=test,
        n_boot=n_boot,
    )
    if isinstance(noise_sd, str) and noise_sd in ("pooled", "client"):
        no_noise = ~(sd > 0)
        if no_noise.any():
            extra = pd.DataFrame(
                {
                    "client": scores.clients.to_numpy()[p.rows[no_noise]],
                    "reason": "successive differences are all equal, so the noise SD cannot be "
                    "estimated; pass noise_sd=<a number> to analyse it",
                }
            )
            skipped = pd.concat([skipped, extra], ignore_index=True)
            keep = np.flatnonzero(~no_noise)
            p, sd, fell_back = p.take(keep), sd[keep], fell_back[keep]
        if fell_back.any():
            notes.append(
                warn(
                    f"{int(fell_back.sum())} client(s) had a median absolute deviation of 0 in "
                    "their successive differences (repeated identical steps); their noise SD "
                    "comes from the mean absolute deviation instead."
                )
            )
    points = scores.reliable_change.points
    if points is None:
        notes.append(
            warn(
                f"Breakthroughs not computed (jump_rci and breakthrough are "
                f"missing): the reliable-change criterion is {scores.reliable_change}"
            )
        )
    elif sign is None:
        notes.append(
            warn(
                "Breakthroughs not computed: the direction of improvement is unknown. "
                "Fix: pass better='lower' or 'higher', or an instrument."
            )
        )
    if len(p.n) == 0:
        empty = _empty_tables()
        return ChangePointsResult(
            table=empty[0],
            settings=settings,
            skipped=sorted_skipped(skipped),
            warnings=tuple(notes),
            segments=empty[1],
            clients=empty[2],
            scores=scores,
        )

    beta, mbic = make_penalty(penalty, model, p.n)
    var_floor = _variance_floor(p, min_sd) if model == "meanvar" else None
    changes, objective = run_segmentation(
        p, model, sd, beta, mbic, min_size, max_changes, progress, search, var_floor
    )
    p_client = np.full(len(p.n), np.nan)
    if test:
        from ._amoc import amoc_core

        at = amoc_core(
            p,
            model,
            min_size,
            "bootstrap",
            n_boot,
            0.95,
            seed,
            scores.clients,
            progress,
            confidence=False,
            var_floor=var_floor,
        )
        p_client = at["p_value"]
    table, segments, clients = _tables(
        scores,
        p,
        model,
        changes,
        sd,
        objective,
        p_client,
        np.nan if points is None else points,
        sign,
    )
    if var_floor is not None:
        notes += _floor_notes(segments, clients, var_floor)
    return ChangePointsResult(
        table=table,
        settings=settings,
        skipped=sorted_skipped(skipped),
        warnings=tuple(notes),
        segments=segments,
        clients=clients,
        scores=scores,
    )


def _model_options(
    model: str, noise_sd: Any, search: Any, min_sd: Any, max_changes: Any
) -> tuple[Any, Any]:
    """Validate the options that depend on the model; return ``noise_sd`` and ``min_sd``
    with their defaults filled in (None where the model takes no such option)."""
    _checks.choice(search, "search", "detect", SEARCHES)
    if model == "meanvar":
        if noise_sd is not None:
            raise OptionError(
                f"model='meanvar' estimates each segment's own SD, so it takes no noise_sd; "
                f"got noise_sd={noise_sd!r}. Fix: leave noise_sd out (or use min_sd= for the "
                "smallest segment SD)."
            )
        if min_sd is None:
            min_sd = "resolution"
        elif not (isinstance(min_sd, str) and min_sd == "resolution"):
            if isinstance(min_sd, str):
                _checks.choice(min_sd, "min_sd", "detect", ("resolution",))
            min_sd = _checks.number(min_sd, "min_sd", "detect", low=0.0)
    else:
        if min_sd is not None:
            raise OptionError(
                f"min_sd is the smallest segment SD of model='meanvar'; model={model!r} has "
                f"one noise SD for all segments (noise_sd=). Got min_sd={min_sd!r}. Fix: "
                "leave min_sd out, or pass model='meanvar'."
            )
        if noise_sd is None:
            noise_sd = "pooled"
    if search == "pelt":
        if model not in ("mean", "meanvar"):
            raise OptionError(
                f"search='pelt' is R changepoint's PELT, which has the 'mean' and 'meanvar' "
                f"models only; got model={model!r}. Fix: pass search='exact' (the default)."
            )
        if max_changes is not None:
            raise OptionError(
                "search='pelt' has no limit on the number of changes; got max_changes="
                f"{max_changes!r}. Fix: leave max_changes out, or pass search='exact'."
            )
    return noise_sd, min_sd


def resolution(p: Packed) -> np.ndarray:
    """Each client's recorded precision: 1 for whole-point scores, 0.1 for one decimal, ...
    down to 1e-6; 0 for scores of full precision."""
    valid = np.arange(p.length)[None, :] < p.n[:, None]
    values = np.where(valid, p.y + p.y_mean[:, None], 0.0)
    out = np.zeros(len(p.n))
    todo = np.ones(len(p.n), dtype=bool)
    for k in range(7):
        scaled = values * 10.0**k
        whole = (np.abs(scaled - np.round(scaled)) <= 1e-6 + 1e-10 * np.abs(scaled)).all(axis=1)
        hit = todo & whole
        out[hit] = 10.0**-k
        todo &= ~whole
    return out


def _variance_floor(p: Packed, min_sd: Any) -> np.ndarray:
    """The smallest segment variance of every packed client for ``meanvar``."""
    if isinstance(min_sd, str):  # "resolution": the rounding error's variance, res^2 / 12
        return resolution(p) ** 2 / 12.0
    return np.full(len(p.n), float(min_sd) ** 2)


def _floor_notes(segments: pd.DataFrame, clients: pd.DataFrame, var_floor: np.ndarray) -> list[str]:
    """A warning when R's 1e-11 variance decided a segment (identical scores, no floor)."""
    floor = pd.Series(var_floor, index=clients["client"].to_numpy())
    seg_floor = floor.reindex(segments["client"].to_numpy()).to_numpy()
    hit = (segments["sd"].to_numpy() == 0) & (seg_floor <= R_VARIANCE_FLOOR)
    if not hit.any():
        return []
    who = pd.unique(segments.loc[hit, "client"])
    first = {
        c: segments.loc[hit, c].tolist()[0] for c in ("client", "first_session", "last_session")
    }
    return [
        warn(
            f"{len(who)} client(s) have a segment of identical scores (e.g. client "
            f"{first['client']!r}, sessions {first['first_session']}-{first['last_session']}), "
            "whose variance 0 was costed as R changepoint's 1e-11: such a segment is almost "
            "free, so the change points around it are artefacts of the scores' resolution. "
            "Fix: min_sd='resolution' (the default) or a smallest SD in score points.",
            stacklevel=4,
        )
    ]


def resolve_seed(seed: Any, function: str) -> int:
    """A whole-number seed; None draws one (callers record it in ``settings``)."""
    if seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31 - 1))
    return _checks.whole(seed, "seed", function, low=0)


def check_common(
    model: Any,
    min_size: Any,
    noise_sd: Any = None,
    penalty: Any = None,
    max_changes: Any = None,
    function: str = "detect",
) -> int:
    """Validate the options shared by :func:`detect` and :func:`amoc`; return ``min_size``."""
    _checks.choice(model, "model", function, tuple(MODELS))
    if min_size is None:
        min_size = DEFAULT_MIN_SIZE[model]
    min_size = _checks.whole(min_size, "min_size", function, low=1)
    if model == "linear" and min_size < 2:
        raise ValueError(
            "model='linear' needs min_size >= 2 (a line needs two sessions); "
            f"got {min_size}. Fix: pass min_size=3 (the default)."
        )
    if model == "meanvar" and min_size < 2:
        raise ValueError(
            "model='meanvar' needs min_size >= 2 (a segment's variance needs two sessions; "
            f"R changepoint's minseglen for cpt.meanvar is 2 as well); got {min_size}. Fix: "
            "pass min_size=2 (the default)."
        )
    if penalty is not None and not (isinstance(penalty, str) and penalty in PENALTIES):
        if isinstance(penalty, str):
            _checks.choice(penalty, "penalty", function, PENALTIES)
        _checks.number(penalty, "penalty", function, low=0.0)
    if noise_sd is not None and not (isinstance(noise_sd, str) and noise_sd in NOISE_SD):
        if isinstance(noise_sd, str):
            _checks.choice(noise_sd, "noise_sd", function, NOISE_SD)
        _checks.number(noise_sd, "noise_sd", function, low=0.0, low_open=True)
    if max_changes is not None:
        _checks.whole(max_changes, "max_changes", function, low=0)
    return int(min_size)


def screen(
    scores: LongScores, min_size: int, method: str, need: int | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Rows of clients that can be analysed, and the skipped table with reasons.

    A client needs ``2 * min_size`` observed scores (or ``need`` when given)."""
    matrix = scores.to_matrix()
    n = (~np.isnan(matrix)).sum(axis=1)
    filled = np.where(np.isnan(matrix), np.inf, matrix)
    lo = filled.min(axis=1, initial=np.inf)
    hi = np.where(np.isnan(matrix), -np.inf, matrix).max(axis=1, initial=-np.inf)
    why = f"with min_size={min_size} " if need is None else ""
    need = 2 * min_size if need is None else need
    reasons = np.full(len(n), None, dtype=object)
    few = n < need
    reasons[n == 0] = "every score is missing"
    part = few & (n > 0)
    reasons[part] = [f"{k} observed score(s); {method} {why}needs at least {need}" for k in n[part]]
    const = ~few & (lo == hi)
    reasons[const] = [
        f"constant series (every observed score is {v:g}): no change can be estimated"
        for v in lo[const]
    ]
    skip = reasons != None  # noqa: E711 - element-wise
    skipped = (
        pd.DataFrame({"client": scores.clients.to_numpy()[skip], "reason": reasons[skip]})
        if skip.any()
        else empty_skipped()
    )
    return matrix, np.flatnonzero(~skip), skipped


def sorted_skipped(skipped: pd.DataFrame) -> pd.DataFrame:
    if len(skipped) < 2:
        return skipped.reset_index(drop=True)
    try:
        return skipped.sort_values("client", kind="stable", ignore_index=True)
    except TypeError:
        return skipped.reset_index(drop=True)


def _noise(
    p: Packed, noise_sd: Any, scores: LongScores
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Noise SD per packed client, the clients whose MAD fell back, and the pooled value."""
    none = np.zeros(len(p.n), bool)
    if noise_sd is None:  # meanvar: every segment has its own SD
        return np.full(len(p.n), np.nan), none, None
    if isinstance(noise_sd, str):
        if noise_sd == "unit":
            return np.ones(len(p.n)), none, 1.0
        if noise_sd == "pooled":
            value = float(scores.pooled.noise_sd)
            return np.full(len(p.n), value), none, value
        sd, fell = client_noise_sd(p)
        return sd, fell, None
    return np.full(len(p.n), float(noise_sd)), none, float(noise_sd)


def _empty_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def frame(columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})

    t = frame(CHANGE_COLUMNS)
    t["breakthrough"] = pd.Series(dtype="boolean")
    return t, frame(SEGMENT_COLUMNS), frame(CLIENT_COLUMNS)


def _tables(
    scores: LongScores,
    p: Packed,
    model: str,
    changes: np.ndarray,
    sd: np.ndarray,
    objective: np.ndarray,
    p_client: np.ndarray,
    cutoff: float,
    sign: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build the change, segment and client tables from the change indicators."""
    n_rows, length = len(p.n), p.length
    bounds = changes[:, : length + 1].copy()
    bounds[:, 0] = True
    bounds[np.arange(n_rows), p.n] = True
    r, pos = np.nonzero(bounds)  # row-major: sorted by client row, then position
    is_end = np.r_[r[1:] != r[:-1], True]
    seg_r, seg_s = r[~is_end], pos[~is_end]
    seg_e = pos[np.flatnonzero(~is_end) + 1]
    ids = scores.clients.to_numpy()

    # Segment fits: OLS per segment, or the joint continuous fit for the broken stick.
    if model == "broken_stick":
        k_max = int(changes.sum(axis=1).max(initial=0))
        kpos = np.full((n_rows, max(k_max, 1)), -1)
        cr, cp_ = np.nonzero(changes)
        rank = np.arange(len(cr)) - np.searchsorted(cr, cr)
        kpos[cr, rank] = cp_
        fitted = broken_stick_fit(p, kpos)
        f_start = fitted[seg_r, seg_s]
        f_end = fitted[seg_r, seg_e - 1]
        t_s, t_e = p.t[seg_r, seg_s], p.t[seg_r, seg_e - 1]
        nseg = seg_e - seg_s
        # The piece's slope: from the knot at its start to the next knot (or last session).
        nxt = np.minimum(seg_e, p.n[seg_r] - 1)
        f_next = fitted[seg_r, nxt]
        t_next = p.t[seg_r, nxt]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(t_next > t_s, (f_next - f_start) / (t_next - t_s), 0.0)
        ybar = seg_mean(p, seg_r, seg_s, seg_e)
        resid = np.where(np.arange(length)[None, :] < p.n[:, None], p.y - fitted, 0.0)
        rss = (resid * resid).sum(axis=1)
        n_par = 2 + changes.sum(axis=1)
        cum = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(resid * resid, axis=1)], axis=1)
        rss_seg = np.maximum(cum[seg_r, seg_e] - cum[seg_r, seg_s], 0.0)
    else:
        stats = Stats(p, model)
        ybar, tbar, slope = line_rows(stats, seg_r, seg_s, seg_e)
        t_s, t_e = p.t[seg_r, seg_s], p.t[seg_r, seg_e - 1]
        f_start = ybar + slope * (t_s - tbar)
        f_end = ybar + slope * (t_e - tbar)
        nseg = seg_e - seg_s
        rss_seg = _rss_rows(stats, seg_r, seg_s, seg_e)
        rss = np.bincount(seg_r, weights=rss_seg, minlength=n_rows)
        n_par = (2 if model == "linear" else 1) * (changes.sum(axis=1) + 1)
        syy = Stats(p, "mean").syy
        rss_seg = np.where(
            rss_seg <= _ZERO_RSS * (syy[seg_r, seg_e] - syy[seg_r, seg_s]), 0.0, rss_seg
        )
    seg_sd = np.sqrt(rss_seg / nseg)
    seg_no = np.arange(len(seg_r)) - np.searchsorted(seg_r, seg_r) + 1
    ymean = p.y_mean[seg_r]
    segments = pd.DataFrame(
        {
            "client": ids[p.rows[seg_r]],
            "segment": seg_no.astype(np.int64),
            "first_session": p.sessions[seg_r, seg_s],
            "last_session": p.sessions[seg_r, seg_e - 1],
            "n": nseg.astype(np.int64),
            "mean": ybar + ymean,
            "slope": slope,
            "sd": seg_sd,
            "fit_start": f_start + ymean,
            "fit_end": f_end + ymean,
        }
    )

    dof = p.n - n_par
    with np.errstate(invalid="ignore", divide="ignore"):
        resid_sd = np.where(dof > 0, np.sqrt(rss / np.maximum(dof, 1)), np.nan)
    n_changes = changes.sum(axis=1)
    clients = pd.DataFrame(
        {
            "client": ids[p.rows],
            "n_observed": p.n.astype(np.int64),
            "n_changes": n_changes.astype(np.int64),
            "noise_sd": sd,
            "residual_sd": resid_sd,
            "objective": objective,
            "p_value": p_client,
        }
    )

    # Changes: each segment after the first, paired with the one before.
    after = np.flatnonzero(seg_no > 1)
    before = after - 1
    cr = seg_r[after]
    if model == "broken_stick":
        jump = np.zeros(len(after))
    else:
        # post fit minus the pre segment's line extrapolated to the change session
        t_c = p.t[cr, seg_s[after]]
        pre_at = (segments["mean"].to_numpy()[before] - ymean[before]) + slope[before] * (
            t_c - tbar[before]
        )
        post_at = f_start[after]
        jump = post_at - pre_at
    sd_res = resid_sd[cr]
    with np.errstate(invalid="ignore", divide="ignore"):
        jump_sd = np.where(sd_res > 0, jump / sd_res, np.nan)
        jump_rci = jump / cutoff if np.isfinite(cutoff) else np.full(len(jump), np.nan)
    if sign is not None and np.isfinite(cutoff):
        improving = (-sign * jump) > 0
        brk = pd.array(improving & (np.abs(jump) >= cutoff), dtype="boolean")
    else:
        brk = pd.array([pd.NA] * len(jump), dtype="boolean")
    table = pd.DataFrame(
        {
            "client": ids[p.rows[cr]],
            "change": (seg_no[after] - 1).astype(np.int64),
            "session": p.sessions[cr, seg_s[after]],
            "last_pre_session": p.sessions[cr, seg_s[after] - 1],
            "n_pre": nseg[before].astype(np.int64),
            "n_post": nseg[after].astype(np.int64),
            "pre_mean": segments["mean"].to_numpy()[before],
            "post_mean": segments["mean"].to_numpy()[after],
            "pre_slope": slope[before],
            "post_slope": slope[after],
            "pre_sd": seg_sd[before],
            "post_sd": seg_sd[after],
            "jump": jump,
            "slope_change": slope[after] - slope[before],
            "jump_sd": jump_sd,
            "jump_rci": jump_rci,
            "p_value": p_client[cr],
            "breakthrough": brk,
        }
    )
    return table[CHANGE_COLUMNS], segments[SEGMENT_COLUMNS], clients[CLIENT_COLUMNS]


def seg_mean(p: Packed, r: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    stats = Stats(p, "mean")
    return (stats.sy[r, e] - stats.sy[r, s]) / (stats.m[r, e] - stats.m[r, s])


def line_rows(
    stats: Stats, r: np.ndarray, s: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment mean of y, mean of t and slope for segments given by (row, start, end)."""
    m = stats.m[r, e] - stats.m[r, s]
    ybar = (stats.sy[r, e] - stats.sy[r, s]) / m
    if not stats.linear:
        return ybar, np.zeros_like(ybar), np.zeros_like(ybar)
    tbar = (stats.st[r, e] - stats.st[r, s]) / m
    sttc = (stats.stt[r, e] - stats.stt[r, s]) - m * tbar * tbar
    styc = (stats.sty[r, e] - stats.sty[r, s]) - m * tbar * ybar
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sttc > 1e-9, styc / sttc, 0.0)
    return ybar, tbar, slope


def _rss_rows(stats: Stats, r: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    m = stats.m[r, e] - stats.m[r, s]
    sy = stats.sy[r, e] - stats.sy[r, s]
    out = (stats.syy[r, e] - stats.syy[r, s]) - sy * sy / m
    if stats.linear:
        st = stats.st[r, e] - stats.st[r, s]
        sttc = (stats.stt[r, e] - stats.stt[r, s]) - st * st / m
        styc = (stats.sty[r, e] - stats.sty[r, s]) - st * sy / m
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out - np.where(sttc > 1e-9, styc * styc / sttc, 0.0)
    return np.maximum(out, 0.0)
