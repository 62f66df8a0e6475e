"""Monitoring plots: the clinician's chart, expected curves, cohort views and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._style import CYCLE, PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "monitoring_chart",
    "expected_curves",
    "cohort_chart",
    "alarm_report",
    "service_outcomes_chart",
    "online_evaluation_chart",
]


def _client_rows(table: Any, client: Any, what: str) -> Any:
    rows = table[table["client"] == client]
    if rows.empty:
        known = table["client"].drop_duplicates()
        raise ValueError(
            f"Unknown client {client!r} for the {what}; it has {len(known)} clients (e.g. "
            f"{known.head(5).tolist()})."
        )
    return rows


def _score_axis(ax: Axes, scores: Any) -> None:
    ax.set_xlabel("Session")
    if scores is not None:
        ax.set_ylabel(scores.score_label)
        inst = scores.instrument
        if inst is not None:
            ax.set_ylim(inst.min_score, inst.max_score)


def monitoring_chart(
    result: Any,
    client: Any,
    *,
    ax: Axes | None = None,
    online: Any = None,
    **kwargs: Any,
) -> Axes:
    """One client's chart: observed scores, the expected course with its band, the
    not-on-track flags, and the online change probability beneath.

    Parameters
    ----------
    result : FlagsResult, PredictionResult, OnlineResult or CusumResult
        The monitoring result. With an :class:`~toolkit.monitoring.OnlineResult` alone, the
        band is the predictive interval of each next score; with a
        :class:`~toolkit.monitoring.CusumResult`, the CUSUM is drawn beneath.
    client : id
        The client.
    ax : matplotlib Axes, optional
        Where to draw the scores (a new figure when None); the probabilities go on a strip
        beneath it, returned as ``ax.monitoring_strip`` too.
    online : OnlineResult, optional
        P(breakthrough) and P(change) from :func:`toolkit.monitoring.online`, drawn beneath.
    **kwargs
        Passed to the observed scores' ``plot`` call.

    Returns
    -------
    matplotlib.axes.Axes
        The scores' Axes.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> sg = toolkit.datasets.load_scores("sgdata")
    >>> flags = monitoring.expected_response(sg, seed=1).flag(sg)
    >>> ax = monitoring_chart(flags, 1, online=monitoring.online(sg).result)
    >>> ax.get_ylabel()
    'BDI-II'
    """
    kind = type(result).__name__  # no import of the methods: plots sit below them
    ax = get_axes(ax, figsize=(7, 5))
    scores = result.scores
    if scores is None or client not in scores.clients:
        _client_rows(result.table, client, kind)
    observed = scores.subset([client]).data
    line_kw = {"color": PALETTE["black"], "marker": "o", "label": "observed", **kwargs}
    ax.plot(observed["session"], observed["score"], **line_kw)
    strip_values: list[tuple[str, Any, Any, str]] = []
    if kind == "OnlineResult":
        rows = _client_rows(result.table, client, "online monitor")
        nxt = rows["session"].to_numpy() + 1
        ax.plot(nxt, rows["next_mean"], color=PALETTE["blue"], label="predicted next score")
        ax.fill_between(
            nxt,
            rows["next_lower"],
            rows["next_upper"],
            color=PALETTE["sky"],
            alpha=0.3,
            label=f"{100 * result.settings['level']:.0f}% predictive interval",
        )
        online = result
    else:
        rows = _client_rows(result.table, client, type(result).__name__)
        if kind == "CusumResult":
            strip_values.append(("CUSUM", rows["session"], rows["cusum"], PALETTE["purple"]))
        else:
            ax.plot(rows["session"], rows["expected"], color=PALETTE["blue"], label="expected")
            ax.fill_between(
                rows["session"],
                rows["lower"],
                rows["upper"],
                color=PALETTE["sky"],
                alpha=0.3,
                label=f"{100 * result.settings['level']:.0f}% expected band",
            )
            if "not_on_track" in rows:
                hit = rows["not_on_track"].fillna(False).to_numpy(dtype=bool)
                ax.scatter(
                    rows["session"][hit],
                    rows["score"][hit],
                    s=90,
                    facecolors="none",
                    edgecolors=PALETTE["vermillion"],
                    linewidths=2,
                    zorder=3,
                    label="not on track",
                )
    if online is not None:
        orow = _client_rows(online.table, client, "online monitor")
        strip_values.append(
            ("P(breakthrough)", orow["session"], orow["p_breakthrough"], PALETTE["green"])
        )
        strip_values.append(("P(change)", orow["session"], orow["p_change"], PALETTE["grey"]))
    _score_axis(ax, scores)
    ax.set_title(f"Client {client}")
    ax.legend(loc="best", fontsize="small")
    if strip_values:
        strip = ax.inset_axes((0.0, -0.45, 1.0, 0.25), sharex=ax)
        for label, x, y, colour in strip_values:
            strip.step(x, y, where="mid", color=colour, label=label)
        if kind == "CusumResult":
            strip.axhline(result.settings["threshold"], color=PALETTE["vermillion"], ls="--")
        else:
            strip.set_ylim(0, 1)
            strip.axhline(online.settings["threshold"], color=PALETTE["vermillion"], ls="--")
        strip.legend(loc="upper left", fontsize="x-small")
        strip.set_xlabel("Session")
        ax.set_xlabel("")
        ax.monitoring_strip = strip  # type: ignore[attr-defined]
    return ax


def expected_curves(
    expected: Any,
    *,
    intakes: Any = None,
    level: float = 0.8,
    ax: Axes | None = None,
) -> Axes:
    """Expected courses (with bands) for several intake scores.

    Parameters
    ----------
    expected : ExpectedResponseResult
        From :func:`toolkit.monitoring.expected_response`.
    intakes : sequence of float, optional
        Intake scores (default: the reference cohort's quartiles).
    level : float, default 0.8
        Band level.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    ref = expected.table[expected.table["used"]]
    if intakes is None:
        intakes = np.unique(np.round(np.quantile(ref["intake"], [0.25, 0.5, 0.75])))
    for colour, intake in zip(CYCLE, intakes):
        c = expected.curve(float(intake), level=level)
        start = expected.settings["intake_session"]
        x = np.r_[start, c["session"]]
        ax.plot(x, np.r_[intake, c["expected"]], color=colour, label=f"intake {intake:g}")
        ax.fill_between(c["session"], c["lower"], c["upper"], color=colour, alpha=0.15)
    _score_axis(ax, expected.scores)
    ax.set_title(f"Expected courses ({expected.settings['method']})")
    ax.legend(loc="best", fontsize="small")
    return ax


def cohort_chart(result: Any, *, ax: Axes | None = None) -> Axes:
    """The cohort by session: mean observed and expected scores (predictions), or the share
    of clients in alarm (flags, CUSUM, online monitor).

    Returns
    -------
    matplotlib.axes.Axes
    """
    kind = type(result).__name__
    ax = get_axes(ax)
    s = result.summary()
    if kind == "FlagsResult":
        ax.bar(s["session"], s["share_flagged"], color=PALETTE["vermillion"])
        ax.set_ylabel("Share of clients not on track")
    elif kind == "CusumResult":
        ax.bar(s["session"], s["n_alarm"] / s["n_clients"], color=PALETTE["purple"])
        ax.set_ylabel("Share of clients in alarm")
    elif kind == "OnlineResult":
        ax.bar(s["session"], s["n_breakthrough"] / s["n_clients"], color=PALETTE["green"])
        ax.set_ylabel("Share with P(breakthrough) >= threshold")
    elif kind == "PredictionResult":
        ax.plot(s["session"], s["mean_score"], color=PALETTE["black"], marker="o", label="observed")
        ax.plot(s["session"], s["mean_expected"], color=PALETTE["blue"], label="expected")
        ax.legend(loc="best")
        _score_axis(ax, result.scores)
    else:
        raise TypeError(f"cohort_chart does not draw a {type(result).__name__}.")
    ax.set_xlabel("Session")
    return ax


def alarm_report(report: Any, *, ax: Axes | None = None) -> Axes:
    """Sensitivity, specificity and PPV (with Wilson intervals) of each rule.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    t = report.table
    labels = [
        f"{r}\n({w})" if t["window"].nunique() > 1 else r for r, w in zip(t["rule"], t["window"])
    ]
    x = np.arange(len(t))
    for i, (name, colour) in enumerate(
        zip(
            ("sensitivity", "specificity", "ppv"),
            (PALETTE["blue"], PALETTE["green"], PALETTE["orange"]),
        )
    ):
        v = t[name].to_numpy(dtype=float)
        # Wilson bounds at 0 or n sit within rounding of the share itself: clip, so that
        # an error bar is never negative.
        err = np.clip(np.vstack([v - t[f"{name}_lower"], t[f"{name}_upper"] - v]), 0, None)
        ax.bar(x + (i - 1) * 0.27, v, width=0.27, color=colour, label=name, yerr=err, capsize=2)
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Share")
    ax.legend(loc="best", fontsize="small")
    return ax


def service_outcomes_chart(result: Any, *, ax: Axes | None = None) -> Axes:
    """Percentages of the NHS Talking Therapies measures.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    s = result.summary()
    s = s[s["metric"] != "clients"]
    ax.barh(s["metric"], s["percent"], color=PALETTE["blue"])
    for y, (p, n, d) in enumerate(zip(s["percent"], s["n"], s["denominator"])):
        ax.text(0 if np.isnan(p) else p, y, f" {n}/{d}", va="center", fontsize="small")
    ax.set_xlim(0, 100)
    ax.set_xlabel("Percent")
    ax.invert_yaxis()
    return ax


def online_evaluation_chart(result: Any, *, ax: Axes | None = None) -> Axes:
    """Share of change courses detected and false alarms per no-change course, per method.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    t = result.table
    labels = [m if np.isnan(th) else f"{m} ({th:g})" for m, th in zip(t["method"], t["threshold"])]
    x = np.arange(len(t))
    ax.bar(x - 0.2, t["share_detected"], width=0.4, color=PALETTE["green"], label="detected")
    ax.bar(
        x + 0.2,
        t["share_courses_false_alarm"],
        width=0.4,
        color=PALETTE["vermillion"],
        label="no-change courses with a false alarm",
    )
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize="small")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="best", fontsize="small")
    return ax
