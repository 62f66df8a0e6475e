"""identify: every client's sudden gains and losses in one vectorised pass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from .. import _checks
from .._results import base_settings, deprecated_option, empty_skipped
from ..criterion import Z_95
from ..data import LongScores, as_scores, first_and_last
from ..errors import OptionError, warn
from ..instruments import Instrument
from ._criteria import (
    GAIN_COLUMNS,
    KINDS,
    OFFSET_NAMES,
    criteria,
    examined,
    slack,
    values_around,
    why_not,
    windows,
)
from ._result import SuddenGainsResult

__all__ = ["identify", "criteria_options", "CRITERION_1"]

#: The default of ``min_change``: the scores' reliable-change criterion.
CRITERION_1: Final = "reliable_change"
_UNSET: Any = object()


def identify(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    kind: Literal["gains", "gain", "losses", "loss", "both"] = "gains",
    min_change: float | Literal["reliable_change"] | None = CRITERION_1,
    proportion: float | None = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust_critical_value: bool = True,
    first_interval: bool = False,
    reversal_start: int = 2,
    loss_criterion2: Literal["published", "reference"] = "published",
    sd: float | None = None,
    reliability: float | None = None,
    cutoff: Any = _UNSET,
) -> SuddenGainsResult:
    """Find sudden gains (or losses) in every client's sequence of scores.

    Parameters
    ----------
    data : DataFrame or LongScores
        Long-format scores; a DataFrame needs ``client``, ``session`` and ``score``.
    client, session, score, instrument, better : str, optional
        Column roles, measure and direction, for a DataFrame (see
        :func:`toolkit.long_scores`). The direction of improvement must be known: from the
        instrument, or ``better=``.
    kind : {"gains", "losses", "both"}, default "gains"
        ``"gain"`` and ``"loss"`` work too.
    min_change : float, "reliable_change" or None, default "reliable_change"
        Criterion 1: the minimum change in score points. ``"reliable_change"`` uses the
        scores' reliable-change criterion (``scores.reliable_change``, the one every method
        shares; see :mod:`toolkit.criterion`); when there is none, criterion 1 is not
        applied and a warning says so. ``sd``/``reliability`` compute this call's own
        criterion instead (``1.96 * sqrt(2) * sd * sqrt(1 - reliability)``). None switches
        it off. (``cutoff=`` is the deprecated name of this option, ``"rci"`` of its
        default.)
    proportion : float or None, default 0.25
        Criterion 2: the minimum change as a share of the pre-gain score. None: off.
    crit3 : bool, default True
        Criterion 3 (see the module docstring).
    alpha : float, default 0.05
        Two-sided level of the critical t in criterion 3.
    adjust_critical_value : bool, default True
        Use the critical t for the values available (2.776 / 3.182 / 4.303); False uses
        the value for six values (2.776) whatever is missing.
    first_interval : bool, default False
        Also examine each client's first interval. By default intervals N -> N+1 run from
        the client's 2nd to its third-last session as N (Tang & DeRubeis examined neither
        the first nor the last interval). Include a baseline session (e.g. session 0) in the
        data to examine the interval from session 1 to 2 with the baseline in its pre-gain
        window.
    reversal_start : int, default 2
        A gain is *reversed* when a score at session N + ``reversal_start`` or later (within
        the client's sequence) lies beyond the reversal value, the midpoint of x[N] and
        x[N+1], back towards the pre-gain level. The default, 2, looks at every session
        after the gain session.
    loss_criterion2 : {"published", "reference"}, default "published"
        ``"published"`` mirrors criterion 2 for losses (worsening >= proportion * x[N]).
        ``"reference"`` reproduces the reference R implementation (suddengains 0.7), in
        which the loss version of criterion 2 holds for every loss.
    sd, reliability : float, optional
        For ``min_change="reliable_change"``: compute this call's criterion from this SD
        (and the instrument's reliability) or this reliability (and the instrument's
        clinical SD), instead of the shared criterion.

    Returns
    -------
    SuddenGainsResult
        ``table`` has one row per gain/loss with columns:
        ``client``; ``kind`` ("gain"/"loss"); ``gain_number`` (1, 2, ... within client and
        kind); ``n_gains_client``; ``pre_session`` (N); ``gain_session`` (N+1, the first
        session at the new level); ``score_nm2`` .. ``score_np3`` (scores at N-2 .. N+3);
        ``magnitude`` (size of the change from N to N+1, positive, in score points);
        ``n_pre``, ``n_post`` (values in the windows); ``critical_value`` (criterion 3's
        t); ``change_total`` (improvement from the client's first to last observed score);
        ``change_proportion`` (the improvement made in this interval as a share of
        ``change_total``; negative for losses; NaN when the total change is 0);
        ``reversal_value``; ``reversal`` (bool); ``reversal_session`` (first session
        beyond the reversal value, NaN if none). Sessions are the client's own session
        numbers; with ``sequence="positions"`` consecutive rows are consecutive sessions.

    Raises
    ------
    ValueError
        Bad arguments (unknown option, a value out of range, no criterion switched on);
        invalid data (see :func:`toolkit.long_scores`); an unknown direction.

    Notes
    -----
    Missing values: each criterion is missing when its values are (criteria 1 and 2 need
    x[N] and x[N+1]; criterion 3 needs two values in each window), and an interval whose
    switched-on criteria include a missing one is missing too, even if another criterion
    fails (so a failing criterion with a missing one is missing, not false). Only intervals
    with every criterion met are gains. Clients with no interval that can be evaluated are
    listed in ``skipped``. Differences from the reference R implementation (suddengains
    0.7): criterion 2 for losses is applied (``loss_criterion2``), the "largest" loss is the
    loss of largest magnitude, the reversal window starts at N+2 in every numbering mode
    (``reversal_start``; its default mode starts at N+3), and a zero total change gives a
    missing rather than infinite proportion.

    Empty sessions at the start or end (a decided convention). A client's sequence runs
    from its first to its last *row*, rows with a missing score included, as the session
    columns given to the reference implementation do: a row with an empty score is a
    session the client had without a score, so it is a missed session (missing stays
    missing), exactly like a gap in the session numbers. The first and the last interval
    are left out because they are the first and last intervals of the course, so empty
    rows before a client's first score make its first *observed* interval eligible, and
    empty rows after its last score its last observed interval. With criterion 3 on
    (the default) this changes nothing: such an interval lacks two values in its pre- or
    post-gain window, so criterion 3 is missing and it is never a gain. With
    ``crit3=False`` it can change the gains: ``k`` empty rows before the first score give
    the answer ``first_interval=True`` gives without them. Drop empty rows at the ends
    first (with session numbers, ``df.dropna(subset=[score])`` does: an empty row dropped
    inside the sequence leaves a gap, still a missed session) if the course should start
    and end at the observed scores. Each client's sessions come from its own rows: a gap
    in its session numbers is a missed session whether or not other clients attended it
    (``sequence="positions"`` reads consecutive rows as consecutive sessions instead).

    Ties: a change within rounding of a criterion (16 units in the last place of the
    scores) counts as reaching it, so ``c * scores`` (with ``min_change`` times ``c``)
    gives the gains ``scores`` gives.

    References
    ----------
    Tang, T. Z., & DeRubeis, R. J. (1999). Sudden gains and critical sessions in
    cognitive-behavioral therapy for depression. Journal of Consulting and Clinical
    Psychology, 67(6), 894-904.
    Lutz, W., Ehrlich, T., Rubel, J., et al. (2013). The ups and downs of psychotherapy:
    Sudden gains and sudden losses identified with session reports. Psychotherapy Research,
    23(1), 14-24.
    Wiedemann, M., Thew, G. R., Stott, R., & Ehlers, A. (2020). suddengains: An R package
    to identify sudden gains in longitudinal data. PLOS ONE, 15(3), e0230276.

    Examples
    --------
    >>> import toolkit
    >>> sg = identify(toolkit.datasets.load_scores("sgdata"), min_change=7)
    >>> sg.table[["client", "pre_session", "gain_session", "magnitude"]].head(3)
       client  pre_session  gain_session  magnitude
    0       1            3             4       11.0
    1       1            7             8       12.0
    2       3            8             9        9.0
    """
    if cutoff is not _UNSET:
        min_change = deprecated_option("cutoff", "min_change", "identify", cutoff)
    if min_change == "rci":
        min_change = CRITERION_1
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    sign = scores.direction(better)
    _check_options(
        kind,
        proportion,
        crit3,
        min_change,
        alpha,
        reversal_start,
        loss_criterion2,
        adjust_critical_value,
        first_interval,
    )
    value, source, notes = _min_change(min_change, scores, sd, reliability)
    settings = base_settings(
        scores,
        kind=kind,
        kinds=KINDS[kind],
        min_change=min_change,
        min_change_value=value,
        min_change_source=source,
        proportion=proportion,
        crit3=crit3,
        alpha=alpha,
        adjust_critical_value=adjust_critical_value,
        first_interval=first_interval,
        reversal_start=reversal_start,
        loss_criterion2=loss_criterion2,
        sd=sd,
        reliability=reliability,
    )
    if source == "per call":
        settings.update(reliable_change_points=value, reliable_change_source="per call")
    x, labels = scores.sequence_matrix()
    first, last = first_and_last(labels >= 0)
    found, available, reasons = _scan(x, first, last, settings, criteria_options(sign, settings))
    table = pd.concat(
        [
            _gain_table(scores, x, labels, last, hits, k, reversal_start, sign)
            for k, hits in found.items()
        ],
        ignore_index=True,
    )
    table = table.sort_values(["client", "gain_session", "kind"], kind="stable", ignore_index=True)
    return SuddenGainsResult(
        table=table[GAIN_COLUMNS],
        settings=settings,
        skipped=_skipped(scores, ~available),
        warnings=tuple(notes),
        scores=scores,
        reasons={
            k: (code, np.where(at >= 0, labels[np.arange(len(at)), np.maximum(at, 0) + 1], -1))
            for k, (code, at) in reasons.items()
        },
    )


def criteria_options(sign: int, settings: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`criteria` from a result's settings."""
    return dict(
        sign=sign,
        min_change=settings["min_change_value"],
        proportion=settings["proportion"],
        crit3=settings["crit3"],
        alpha=settings["alpha"],
        adjust=settings["adjust_critical_value"],
        loss_criterion2=settings["loss_criterion2"],
    )


@dataclass(frozen=True)
class _Hits:
    """The sudden intervals of one kind: matrix positions and the values the table needs."""

    rows: np.ndarray
    ks: np.ndarray
    change: np.ndarray
    n_pre: np.ndarray
    n_post: np.ndarray
    critical: np.ndarray


_BLOCK_CELLS = 1_000_000  # rows per block x intervals: temporaries stay small and in cache


def _scan(
    x: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    settings: dict[str, Any],
    options: dict[str, Any],
) -> tuple[dict[str, _Hits], np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Evaluate every interval block by block of clients; return the hits per kind, which
    clients had at least one interval that could be evaluated, and per kind each client's
    reason for having none (:func:`why_not`)."""
    n, t = x.shape
    step = max(1, _BLOCK_CELLS // max(t, 1))
    available = np.zeros(n, dtype=bool)
    # Per client and kind: why it has none (a code of why_not) and at which interval.
    reasons = {
        k: (np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64)) for k in settings["kinds"]
    }
    parts: dict[str, list[_Hits]] = {k: [] for k in settings["kinds"]}
    for lo in range(0, n, step):
        block = slice(lo, min(n, lo + step))
        xb = x[block]
        exam = examined(first[block], last[block], t - 1, settings["first_interval"])
        win = windows(xb)
        for k in settings["kinds"]:
            c = criteria(xb, win, exam, kind=k, **options)
            available[block] |= (exam & ~c.missing).any(axis=1)
            rows, ks = np.nonzero(c.sudden)
            reasons[k][0][block], reasons[k][1][block] = why_not(c)
            parts[k].append(
                _Hits(
                    rows + lo,
                    ks,
                    c.change[rows, ks],
                    c.n_pre[rows, ks],
                    c.n_post[rows, ks],
                    c.critical[rows, ks],
                )
            )
    found = {
        k: _Hits(
            *(np.concatenate([getattr(h, f.name) for h in hits]) for f in dataclasses.fields(_Hits))
        )
        for k, hits in parts.items()
    }
    return found, available, reasons


def _check_options(
    kind: Any,
    proportion: Any,
    crit3: Any,
    min_change: Any,
    alpha: Any,
    reversal_start: Any,
    loss_criterion2: Any,
    adjust_critical_value: Any,
    first_interval: Any,
) -> None:
    _checks.choice(kind, "kind", "identify", tuple(KINDS))
    _checks.choice(loss_criterion2, "loss_criterion2", "identify", ("published", "reference"))
    _checks.flag(crit3, "crit3", "identify")
    _checks.flag(adjust_critical_value, "adjust_critical_value", "identify")
    _checks.flag(first_interval, "first_interval", "identify")
    if min_change is None and proportion is None and not crit3:
        raise OptionError(
            "Every criterion is switched off (min_change=None, proportion=None, "
            "crit3=False): switch at least one on."
        )
    _checks.level(alpha, "alpha", "identify")
    if proportion is not None:
        _checks.number(proportion, "proportion", "identify", low=0.0, high=1.0, low_open=True)
    _checks.whole(reversal_start, "reversal_start", "identify", low=2, high=_checks.MAX_COUNT)


def _min_change(
    min_change: Any, scores: LongScores, sd: float | None, reliability: float | None
) -> tuple[float | None, str, list[str]]:
    """Criterion 1 in points, where it comes from, and any warning about it."""
    if min_change is None:
        return None, "off", []
    if isinstance(min_change, str):
        if min_change != CRITERION_1:
            raise OptionError(
                "The 'min_change' parameter of identify must be a positive number "
                "of points, 'reliable_change' or None. Got "
                f"{min_change!r} instead."
            )
        if sd is not None or reliability is not None:
            return _per_call(scores, sd, reliability), "per call", []
        crit = scores.reliable_change
        if not crit.available:
            note = warn(
                f"Sudden-gain criterion 1 not applied: the reliable-change criterion is {crit}",
                stacklevel=4,
            )
            return None, "not computed", [note]
        return float(crit.points), crit.source, []  # type: ignore[arg-type]
    span = None
    if scores.instrument is not None:
        span = scores.instrument.max_score - scores.instrument.min_score
    value = _checks.number(min_change, "min_change", "identify", low=0.0, low_open=True, high=span)
    return value, "given", []


def _per_call(scores: LongScores, sd: float | None, reliability: float | None) -> float:
    from ..reliable_change._norms import rci_points

    return rci_points(
        scores.instrument, sd=sd, reliability=reliability, z=Z_95, function="identify"
    )


def _skipped(scores: LongScores, mask: np.ndarray) -> pd.DataFrame:
    if not mask.any():
        return empty_skipped()
    n_obs = scores.n_observed().to_numpy()[mask]
    return pd.DataFrame(
        {
            "client": scores.clients[mask],
            "reason": [
                f"no interval can be evaluated with {k} observed score(s): each needs "
                "x[N], x[N+1] and enough values in its windows"
                for k in n_obs
            ],
        }
    )


def _gain_table(
    scores: LongScores,
    x: np.ndarray,
    labels: np.ndarray,
    last: np.ndarray,
    hits: _Hits,
    kind: str,
    reversal_start: int,
    sign: int,
) -> pd.DataFrame:
    rows, ks = hits.rows, hits.ks
    values = values_around(x, rows, ks)
    n_c = np.bincount(rows, minlength=x.shape[0])
    # Running number of each gain within its client (rows come sorted by client, session).
    starts = np.cumsum(n_c) - n_c
    number = np.arange(len(rows)) - starts[rows] + 1
    total = _total_change(x, sign)[rows]
    step = hits.change if kind == "gain" else -hits.change
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = np.where(total != 0, step / total, np.nan)
    reversal_value = (x[rows, ks] + x[rows, ks + 1]) / 2
    rev_session = _reversal_session(
        x, labels, rows, ks, last, reversal_value, sign if kind == "gain" else -sign, reversal_start
    )
    table = pd.DataFrame(
        {
            "client": scores.clients.take(rows),
            "kind": kind,
            "gain_number": number.astype(np.int64),
            "n_gains_client": n_c[rows].astype(np.int64),
            "pre_session": labels[rows, ks],
            "gain_session": labels[rows, ks + 1],
        }
    )
    for name, v in zip(OFFSET_NAMES, values.T):
        table[f"score_{name}"] = v
    table["magnitude"] = hits.change
    table["n_pre"] = hits.n_pre.astype(np.int64)
    table["n_post"] = hits.n_post.astype(np.int64)
    table["critical_value"] = hits.critical
    table["change_total"] = total
    table["change_proportion"] = proportion
    table["reversal_value"] = reversal_value
    table["reversal"] = ~np.isnan(rev_session)
    table["reversal_session"] = rev_session
    return table


def _total_change(x: np.ndarray, sign: int) -> np.ndarray:
    """Improvement from each client's first to last observed score."""
    seen = ~np.isnan(x)
    has = seen.any(axis=1)
    first, last = first_and_last(seen)
    rows = np.arange(x.shape[0])
    return np.where(has, sign * (x[rows, first] - x[rows, last]), np.nan)


def _reversal_session(
    x: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    ks: np.ndarray,
    last: np.ndarray,
    value: np.ndarray,
    towards_worse: int,
    start: int,
) -> np.ndarray:
    """First session from N + start (within the client's sequence) beyond the reversal value."""
    if len(rows) == 0:
        return np.array([], dtype=float)
    later = x[rows]  # (gains, sessions)
    col = np.arange(x.shape[1])[None, :]
    window = (col >= (ks + start)[:, None]) & (col <= last[rows][:, None])
    with np.errstate(invalid="ignore"):
        # Within rounding of the reversal value is not beyond it (see _criteria.ULPS).
        tie = slack(later, value[:, None])
        beyond = window & (towards_worse * (later - value[:, None]) > tie)
    hit = beyond.any(axis=1)
    at = labels[rows, np.argmax(beyond, axis=1)]
    return np.where(hit, at, np.nan).astype(float)
