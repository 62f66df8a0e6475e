"""evaluate_alarms and evaluate_online: what alarms are worth, next to honest baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import _checks
from .._results import base_settings
from ..errors import DataError, MissingColumnError, OptionError
from ..per_client._statistics import wilson_interval
from ._cusum import client_grid
from ._result import (
    ALARM_COLUMNS,
    ONLINE_EVALUATION_COLUMNS,
    AlarmReportResult,
    CusumResult,
    FlagsResult,
    OnlineEvaluationResult,
    OnlineResult,
)
from ._shared import layout

__all__ = ["evaluate_alarms", "evaluate_online", "wilson", "OUTCOMES"]

#: The outcomes :func:`evaluate_alarms` derives from the scores.
OUTCOMES = ("deterioration", "no_improvement")
_FUNCTION = "monitoring.evaluate_alarms"


def wilson(k: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (NaN, NaN when n = 0)."""
    lower, upper = wilson_interval(k, n, level)
    return float(lower), float(upper)


def _outcome(
    flags: FlagsResult | CusumResult, outcome: Any, lay: Any
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Per client of the scores: outcome (bool), whether it is known, its name and text."""
    scores = flags.scores
    assert scores is not None
    if isinstance(outcome, pd.Series):
        values = outcome.reindex(scores.clients)
        known = values.notna().to_numpy()
        return values.fillna(False).to_numpy(dtype=bool), known, "given", "the given outcome"
    _checks.choice(outcome, "outcome", _FUNCTION, OUTCOMES)
    crit = scores.reliable_change.require(f"The outcome {outcome!r} of {_FUNCTION}")
    rows = np.arange(scores.n_clients)
    has = lay.last_observed > 0
    last = np.where(has, lay.post[rows, np.maximum(lay.last_observed - 1, 0)], np.nan)
    improvement = scores.sign * (lay.intake - last)
    known = has & ~np.isnan(lay.intake)
    if outcome == "deterioration":
        text = f"final reliable deterioration (a worsening of at least {crit:g} points)"
        return (improvement <= -crit) & known, known, outcome, text
    text = f"no reliable improvement by the last session (less than {crit:g} points)"
    return (improvement < crit) & known, known, outcome, text


def _rates(
    flagged: np.ndarray,
    outcome: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    alarms: np.ndarray,
    level: float,
) -> dict[str, float]:
    pos, neg = outcome, ~outcome
    tp = int(np.sum(flagged & pos))
    fp = int(np.sum(flagged & neg))
    tn = int(np.sum(~flagged & neg))
    fn = int(np.sum(~flagged & pos))
    out: dict[str, float] = {
        "n_clients": len(outcome),
        "n_outcome": int(pos.sum()),
        "n_flagged": int(flagged.sum()),
    }
    for name, k, n in (
        ("sensitivity", tp, tp + fn),
        ("specificity", tn, tn + fp),
        ("ppv", tp, tp + fp),
    ):
        out[name] = k / n if n else np.nan
        out[f"{name}_lower"], out[f"{name}_upper"] = wilson(k, n, level)
    out["npv"] = tn / (tn + fn) if tn + fn else np.nan
    hits = flagged & pos
    out["median_lead_time"] = float(np.median(last[hits] - first[hits])) if hits.any() else np.nan
    out["alarms_per_client"] = float(np.mean(alarms)) if len(alarms) else np.nan
    return out


def evaluate_alarms(
    flags: FlagsResult | CusumResult,
    outcome: Literal["deterioration", "no_improvement"] | pd.Series = "deterioration",
    *,
    window: str | int | Sequence[str | int] = "penultimate",
    level: float = 0.95,
) -> AlarmReportResult:
    """How well alarms foretell a client's final outcome: sensitivity, specificity, positive
    predictive value, lead time and alarms per client, always next to two baselines.

    Published evaluations of not-on-track signals report the share of eventual
    deteriorators flagged (sensitivity) and little else; a signal that flags everyone has a
    sensitivity of 100%. This report puts every number a service needs side by side.

    Parameters
    ----------
    flags : FlagsResult or CusumResult
        Per-session alarms: not-on-track flags (:meth:`ExpectedResponseResult.flag`) or a
        CUSUM (:func:`cusum`).
    outcome : {"deterioration", "no_improvement"} or pandas.Series, default "deterioration"
        ``"deterioration"``: final reliable deterioration (the last observed score is worse
        than the intake score by at least the reliable-change criterion);
        ``"no_improvement"``: no reliable improvement by the last observed score. Or a
        boolean Series indexed by client (e.g. a simulated truth).
    window : "penultimate", int, or a sequence of them, default "penultimate"
        Which alarms count: those before each client's last observed session (whose score
        decides the outcome), i.e. by the penultimate session; an integer ``k`` also
        requires the alarm to be at or before session ``k``. One block of rows per window.
    level : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    AlarmReportResult
        ``table`` (:data:`ALARM_COLUMNS`), one row per window and rule: the method's rule,
        ``"always flag"`` (every client flagged at its first session) and ``"intake score
        only"`` (the same number of clients flagged, those whose intake score puts them
        most at risk, the direction taken from the data in-sample, which favours it):

        - ``outcome``, ``window`` (``"penultimate"`` or ``"by session k"``), ``rule``;
        - ``n_clients`` (with an outcome), ``n_outcome``, ``n_flagged``;
        - ``sensitivity``: the share of clients with the outcome flagged in the window,
          with ``sensitivity_lower``/``_upper`` (Wilson interval);
        - ``specificity``: the share without the outcome not flagged, with interval;
        - ``ppv``: the share of flagged clients with the outcome, with interval; ``npv``;
        - ``median_lead_time``: sessions from the first alarm to the last session, among
          flagged clients with the outcome;
        - ``alarms_per_client``: alarms (sessions in alarm) in the window per client.

    Raises
    ------
    NotComputedError
        A derived outcome needs the reliable-change criterion, and there is none.
    OptionError
        A bad option.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> sg = toolkit.datasets.load_scores("sgdata")
    >>> flags = monitoring.expected_response(sg, seed=1).flag(sg)
    >>> report = monitoring.evaluate_alarms(flags, "no_improvement")
    >>> report.table.set_index("rule").loc["always flag", "sensitivity"]
    np.float64(1.0)
    """
    if not isinstance(flags, FlagsResult | CusumResult):
        raise TypeError(
            f"{_FUNCTION} takes a FlagsResult (ExpectedResponseResult.flag) or a CusumResult "
            f"(monitoring.cusum); got {type(flags).__name__}."
        )
    level = _checks.level(level, "level", _FUNCTION)
    windows = [window] if isinstance(window, str | int) else list(window)
    for w in windows:
        if not (w == "penultimate" or (isinstance(w, int) and not isinstance(w, bool))):
            raise OptionError(
                f"The 'window' parameter of {_FUNCTION} must be 'penultimate', a session "
                f"number, or a sequence of them. Got {w!r} instead."
            )
    scores = flags.scores
    assert scores is not None
    intake_session = int(flags.settings["intake_session"])
    lay = layout(scores, intake_session)
    y_all, known_all, name, text = _outcome(flags, outcome, lay)
    t = flags.table
    clients, codes, cols, _ = client_grid(t, intake_session)
    pos = scores.clients.get_indexer(clients)
    y, known = y_all[pos], known_all[pos]
    last = np.where(lay.last_observed[pos] > 0, lay.last_observed[pos] + intake_session, -1)
    alarm = t[flags.alarm_column].fillna(False).to_numpy(dtype=bool)
    observed = t["score"].notna().to_numpy()
    session = t["session"].to_numpy(dtype=np.int64)
    intake = lay.intake[pos]
    keep = known
    skipped = pd.DataFrame(
        {
            "client": pd.Series(clients.to_numpy()[~keep], dtype=object),
            "reason": pd.Series(
                ["no outcome (no score after intake)"] * int((~keep).sum()), dtype=object
            ),
        }
    )
    n = len(clients)
    rule = flags.method_name
    rows = []
    first_alarm_out = None
    big = np.iinfo(np.int64).max
    for w in windows:
        inside = observed & (session < last[codes])
        if w != "penultimate":
            inside &= session <= int(w)
        label = "penultimate" if w == "penultimate" else f"by session {int(w)}"
        hits = alarm & inside

        def first_of(mask: np.ndarray) -> np.ndarray:
            first = np.full(n, big)
            np.minimum.at(first, codes[mask], session[mask])
            return first

        first_m = first_of(hits)
        flagged_m = first_m < big
        n_alarm = np.bincount(codes, weights=hits, minlength=n)
        first_any = first_of(inside)
        eligible = first_any < big
        n_inside = np.bincount(codes, weights=inside, minlength=n)
        # Intake score only: the same number of clients, most at risk on intake alone.
        m = int(flagged_m[keep].sum())
        yk, ik = y[keep], intake[keep]
        direction = np.sign(np.cov(ik, yk.astype(float))[0, 1]) if keep.sum() > 1 else 1.0
        key = np.where(eligible, (direction or 1.0) * intake, -np.inf)
        key_keep = key[keep]
        if m > 0 and np.isfinite(key_keep).any():
            cut = np.sort(key_keep)[::-1][min(m, len(key_keep)) - 1]
            flagged_i = (key >= cut) & eligible & np.isfinite(key)
        else:
            flagged_i = np.zeros(n, dtype=bool)
        for name_rule, flagged, first, count in (
            (rule, flagged_m, first_m, n_alarm),
            ("always flag", eligible, first_any, n_inside),
            ("intake score only", flagged_i, first_any, np.where(flagged_i, n_inside, 0)),
        ):
            r = _rates(
                flagged[keep],
                y[keep],
                first[keep].astype(float),
                last[keep].astype(float),
                count[keep],
                level,
            )
            rows.append({"outcome": name, "window": label, "rule": name_rule, **r})
        if first_alarm_out is None:
            first_alarm_out = np.where(flagged_m, first_m, 0), flagged_m
    assert first_alarm_out is not None
    fa, has = first_alarm_out
    clients_table = pd.DataFrame(
        {
            "client": clients.to_numpy()[keep],
            "outcome": y[keep],
            "last_session": last[keep],
            "first_alarm": pd.arrays.IntegerArray(fa[keep].astype(np.int64), ~has[keep]),
        }
    )
    settings = base_settings(
        scores,
        seed=flags.settings.get("seed"),
        outcome=name,
        outcome_text=text,
        window=[str(w) for w in windows],
        level=level,
        rule=rule,
        intake_session=intake_session,
    )
    return AlarmReportResult(
        table=pd.DataFrame(rows)[ALARM_COLUMNS],
        settings=settings,
        skipped=skipped,
        warnings=(),
        scores=scores,
        clients=clients_table,
    )


# --- online detection on simulated truth ---------------------------------------------------
def evaluate_online(
    results: OnlineResult | CusumResult | Mapping[str, OnlineResult | CusumResult],
    truth: pd.DataFrame,
    *,
    kinds: Sequence[str] = ("gain",),
    direction: Literal["improvement", "deterioration"] = "improvement",
    threshold: float | Sequence[float] = 0.5,
) -> OnlineEvaluationResult:
    """Detection delay and false alarms of online monitors on simulated truth.

    Parameters
    ----------
    results : OnlineResult, CusumResult, or a mapping of names to them
        Monitors run on the same simulated scores (:func:`online`, :func:`cusum`).
    truth : pandas.DataFrame
        The simulator's truth table (:func:`toolkit.simulate.trajectories`): columns
        ``client``, ``kind`` and ``session`` (the first session at the new level).
    kinds : sequence of str, default ("gain",)
        The kinds of true change to detect. A *change course* is a client with such a
        change (the first one counts); a *no-change course* a client without any row in
        ``truth``; other clients are left out.
    direction : {"improvement", "deterioration"}, default "improvement"
        Which probability of an :class:`OnlineResult` raises the alarm
        (``p_breakthrough`` or ``p_deterioration``); a CUSUM must monitor this direction.
    threshold : float or sequence of float, default 0.5
        The alarm threshold(s) of an :class:`OnlineResult` (a CUSUM has its own).

    Returns
    -------
    OnlineEvaluationResult
        ``table`` (:data:`ONLINE_EVALUATION_COLUMNS`), one row per method and threshold and
        for the ``"always fire"`` and ``"never fire"`` baselines: ``share_detected`` (change
        courses with an alarm at or after the change), ``median_delay`` and ``mean_delay``
        (sessions from the change to that alarm, among those detected),
        ``false_alarms_per_course`` (alarm episodes per no-change course: runs of
        consecutive sessions in alarm), ``share_courses_false_alarm`` (no-change courses
        with any) and ``false_alarm_sessions_per_course``. ``courses`` has the per-client
        numbers.

    Raises
    ------
    MissingColumnError
        ``truth`` lacks a column.
    OptionError
        A CUSUM monitoring the other direction, or a bad option.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> from toolkit.simulate import trajectories
    >>> df, truth = trajectories(200, 12, instrument="PHQ-9", gain_share=0.5,
    ...                          gain_size=(10, 1), seed=2)
    >>> scores = toolkit.long_scores(df, client="client", session="session", score="score",
    ...                              instrument="PHQ-9")
    >>> ev = monitoring.evaluate_online(monitoring.online(scores).result, truth)
    >>> ev.table["method"].tolist()
    ['online change point', 'always fire', 'never fire']
    """
    fn = "monitoring.evaluate_online"
    _checks.choice(direction, "direction", fn, ("improvement", "deterioration"))
    if isinstance(results, OnlineResult | CusumResult):
        results = {results.method_name: results}
    if not isinstance(results, Mapping) or not results:
        raise TypeError(f"{fn} takes an OnlineResult, a CusumResult or a mapping of them.")
    thresholds = [threshold] if isinstance(threshold, int | float) else list(threshold)
    thresholds = [_checks.level(v, "threshold", fn) for v in thresholds]
    missing = [c for c in ("client", "kind", "session") if c not in truth.columns]
    if missing:
        raise MissingColumnError(
            f"The truth table has no column(s) {missing}; it needs client, kind and session "
            "(as toolkit.simulate.trajectories returns it)."
        )
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    changed = truth[truth["kind"].isin(kinds)].groupby("client")["session"].min()
    anything = set(truth["client"].tolist())
    rows: list[dict[str, Any]] = []
    courses = []
    base_table = None
    for name, res in results.items():
        t = res.table
        if isinstance(res, CusumResult):
            if res.settings["direction"] != direction:
                raise OptionError(
                    f"The CUSUM {name!r} monitors {res.settings['direction']}, not "
                    f"{direction}. Fix: cusum(..., direction={direction!r})."
                )
            alarms = [(res.settings["threshold"], t["alarm"].to_numpy(bool))]
        elif isinstance(res, OnlineResult):
            col = "p_breakthrough" if direction == "improvement" else "p_deterioration"
            p = t[col].to_numpy(dtype=float)
            if np.all(np.isnan(p)):
                raise DataError(
                    f"{col} was not computed for {name!r} (no reliable-change criterion)."
                )
            alarms = [(th, p >= th) for th in thresholds]
        else:
            raise TypeError(f"{fn}: {name!r} is a {type(res).__name__}, not a monitor result.")
        if base_table is None:
            base_table = t
        for th, alarm in alarms:
            row, per = _score_detection(t, alarm, changed, anything)
            rows.append({"method": name, "threshold": th, **row})
            courses.append(per.assign(method=name, threshold=th))
    assert base_table is not None
    for name, value in (("always fire", True), ("never fire", False)):
        alarm = np.full(len(base_table), value)
        row, per = _score_detection(base_table, alarm, changed, anything)
        rows.append({"method": name, "threshold": np.nan, **row})
        courses.append(per.assign(method=name, threshold=np.nan))
    scores = next(iter(results.values())).scores
    assert scores is not None
    settings = base_settings(
        scores, seed=None, kinds=kinds, direction=direction, threshold=thresholds
    )
    return OnlineEvaluationResult(
        table=pd.DataFrame(rows)[ONLINE_EVALUATION_COLUMNS],
        settings=settings,
        skipped=pd.DataFrame(
            {"client": pd.Series(dtype=object), "reason": pd.Series(dtype=object)}
        ),
        warnings=(),
        scores=scores,
        courses=pd.concat(courses, ignore_index=True),
    )


def _score_detection(
    t: pd.DataFrame, alarm: np.ndarray, changed: pd.Series, anything: set[Any]
) -> tuple[dict[str, float], pd.DataFrame]:
    client = t["client"].to_numpy()
    session = t["session"].to_numpy(dtype=np.int64)
    codes, ids = pd.factorize(client, sort=False)
    n = len(ids)
    change = pd.Series(changed).reindex(ids).to_numpy(dtype=float)
    is_change = ~np.isnan(change)
    is_none = np.array([c not in anything for c in ids], dtype=bool)
    first_row = np.r_[True, codes[1:] != codes[:-1]]
    onset = alarm & (first_row | ~np.r_[False, alarm[:-1]])
    after = alarm & (session >= change[codes])
    big = np.iinfo(np.int64).max
    detect = np.full(n, big)
    np.minimum.at(detect, codes[after], session[after])
    detected = is_change & (detect < big)
    delay = np.where(detected, detect - np.nan_to_num(change), np.nan)
    episodes = np.bincount(codes, weights=onset, minlength=n)
    sessions_alarm = np.bincount(codes, weights=alarm, minlength=n)
    n_change, n_none = int(is_change.sum()), int(is_none.sum())
    row = {
        "n_change_courses": n_change,
        "n_no_change_courses": n_none,
        "share_detected": detected.sum() / n_change if n_change else np.nan,
        "median_delay": float(np.median(delay[detected])) if detected.any() else np.nan,
        "mean_delay": float(np.mean(delay[detected])) if detected.any() else np.nan,
        "false_alarms_per_course": float(episodes[is_none].mean()) if n_none else np.nan,
        "share_courses_false_alarm": float((episodes[is_none] > 0).mean()) if n_none else np.nan,
        "false_alarm_sessions_per_course": float(sessions_alarm[is_none].mean())
        if n_none
        else np.nan,
    }
    keep = is_change | is_none
    per = pd.DataFrame(
        {
            "client": ids[keep],
            "change_session": change[keep],
            "detection_session": np.where(detected, detect, np.nan)[keep],
            "delay": delay[keep],
            "n_false_alarms": np.where(is_none, episodes, np.nan)[keep],
        }
    )
    return row, per
