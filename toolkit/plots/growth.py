"""Growth-model plots: observed vs fitted trajectories with mean curves, and caterpillar plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ._style import CYCLE, PALETTE, get_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..growth import GrowthResult

__all__ = ["fitted_trajectories", "caterpillar", "mean_curves"]


def _score_range(result: GrowthResult) -> tuple[float, float]:
    """The instrument's possible scores (unbounded without an instrument)."""
    inst = result.scores.instrument if result.scores is not None else None
    if inst is None:
        return -np.inf, np.inf
    return float(inst.min_score), float(inst.max_score)


def _observed_span(fitted: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``fitted`` between each client's first and last observed score."""
    seen = fitted["score"].notna().to_numpy()
    sess = fitted["session"].to_numpy(dtype=float)
    client = fitted["client"].to_numpy()
    codes, _ = pd.factorize(client)
    n = codes.max() + 1 if len(codes) else 0
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, codes[seen], sess[seen])
    np.maximum.at(last, codes[seen], sess[seen])
    keep = (sess >= first[codes]) & (sess <= last[codes])
    return fitted[keep]


def _group_colours(labels: Sequence[Any]) -> dict[Any, str]:
    colours = [c for c in CYCLE if c != PALETTE["black"]]
    return {g: colours[i % len(colours)] for i, g in enumerate(labels)}


def _draw_curves(
    result: GrowthResult, by: str | None, ax: Axes, colours: dict[Any, str] | None, band: bool
) -> list[Any]:
    cur = result.curves(by)
    lo, hi = _score_range(result)
    handles = []
    for g, part in cur.groupby("group", sort=False):
        colour = PALETTE["black"] if by is None or colours is None else colours[g]
        label = "mean curve (fixed effects)" if by is None else f"{by} = {g}: mean curve"
        x = part["session"].to_numpy()
        (line,) = ax.plot(
            x, np.clip(part["estimate"].to_numpy(), lo, hi), color=colour, lw=3, label=label
        )
        if band:
            ax.fill_between(
                x,
                np.clip(part["ci_lower"].to_numpy(), lo, hi),
                np.clip(part["ci_upper"].to_numpy(), lo, hi),
                color=colour,
                alpha=0.15,
                lw=0,
            )
        handles.append(line)
    return handles


def fitted_trajectories(
    result: GrowthResult,
    *,
    n: int | None = 6,
    clients: Sequence | None = None,
    mean: bool = True,
    by: str | None = None,
    band: bool = True,
    seed: int | np.random.Generator | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Observed scores (points), each client's fitted curve (line) and the mean curve(s).

    A client's fitted line runs only from its first to its last observed score (no
    extrapolation beyond its own data), and every line is clipped to the instrument's score
    range. The mean curve is the fixed-effects curve of :meth:`GrowthResult.curves` with
    its confidence band; with ``by`` one curve per group, clients coloured by group.

    Parameters
    ----------
    result : GrowthResult
        A fitted growth model (:func:`toolkit.growth.fit`).
    n : int or None, default 6
        A random sample of this many clients (None: all). Ignored when ``clients`` is given.
    clients : sequence, optional
        Exactly these clients.
    mean : bool, default True
        Add the fixed-effects mean curve(s) (thick lines).
    by : str, optional
        A client-level covariate: one mean curve per group (e.g. ``"arm"``).
    band : bool, default True
        Shade the confidence band of each mean curve (at ``settings["level"]``).
    seed : int or numpy.random.Generator, default 0
        For the sample of clients.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> m = growth.fit(toolkit.datasets.load("sleepstudy"), "reaction ~ time",
    ...                client="subject", session="days", score="reaction")
    >>> ax = fitted_trajectories(m, n=3)
    >>> len(ax.lines)
    4
    """
    from matplotlib.lines import Line2D

    ax = get_axes(ax)
    fitted = result.fitted
    all_clients = fitted["client"].drop_duplicates().to_numpy()
    if clients is not None:
        chosen = list(clients)
        unknown = [c for c in chosen if c not in set(all_clients.tolist())]
        if unknown:
            raise ValueError(
                f"Unknown client(s) {unknown[:5]} in 'clients'; the model has "
                f"{len(all_clients)} clients (see result.fitted['client'])."
            )
    elif n is not None and n < len(all_clients):
        rng = np.random.default_rng(seed)
        chosen = list(all_clients[np.sort(rng.choice(len(all_clients), size=n, replace=False))])
    else:
        chosen = list(all_clients)
    lo, hi = _score_range(result)
    span = _observed_span(fitted[fitted["client"].isin(chosen)])
    groups = dict(tuple(span.groupby("client", sort=False)))
    observed = fitted[fitted["client"].isin(chosen) & fitted["score"].notna()]
    points = dict(tuple(observed.groupby("client", sort=False)))
    colours = [c for c in CYCLE if c != PALETTE["black"]]  # black is the average's colour
    group_colour = None
    if by is not None:
        values = result._group_values(by)
        labels = list(pd.unique(values.sort_values(kind="stable")))
        group_colour = _group_colours(labels)
    for i, c in enumerate(chosen):
        colour = (
            group_colour[values.loc[c]] if group_colour is not None else colours[i % len(colours)]
        )
        if c in groups:
            rows = groups[c].sort_values("session")
            ax.plot(
                rows["session"], np.clip(rows["fitted"], lo, hi), color=colour, lw=1.2, alpha=0.8
            )
        if c in points:
            pts = points[c]
            ax.scatter(pts["session"], pts["score"], color=colour, s=14, alpha=0.8)
    # Legend entries in neutral grey: the colours only tell clients apart.
    handles = [
        Line2D([], [], color=PALETTE["grey"], lw=1.5, label="fitted (per client)"),
        Line2D([], [], color=PALETTE["grey"], marker="o", ls="", label="observed"),
    ]
    if mean:
        handles += _draw_curves(result, by, ax, group_colour, band)
    scores = result.scores
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label if scores is not None else "Score")
    ax.set_title(f"Growth model: {len(chosen)} of {len(all_clients)} clients")
    ax.legend(handles=handles, loc="best", frameon=False, fontsize="small")
    return ax


def mean_curves(
    result: GrowthResult, *, by: str | None = None, band: bool = True, ax: Axes | None = None
) -> Axes:
    """The fixed-effects mean curve of each group with its confidence band.

    Parameters
    ----------
    result : GrowthResult
        A fitted growth model.
    by : str, optional
        A client-level covariate (one curve per group); None: one curve.
    band : bool, default True
        Shade each curve's confidence band (``result.curves(by)``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> bt = toolkit.datasets.load("btheb")
    >>> m = growth.fit(bt, "bdi ~ bdi_pre + time * treatment", client="subject",
    ...                session="time", score="bdi", random="intercept")
    >>> len(mean_curves(m, by="treatment").lines)
    2
    """
    ax = get_axes(ax)
    colours = None
    if by is not None:
        values = result._group_values(by)
        colours = _group_colours(list(pd.unique(values.sort_values(kind="stable"))))
    _draw_curves(result, by, ax, colours, band)
    scores = result.scores
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label if scores is not None else "Score")
    ax.set_title("Mean curves (fixed effects)" + (f" by {by}" if by else ""))
    ax.legend(loc="best", frameon=False, fontsize="small")
    return ax


def caterpillar(
    result: GrowthResult,
    *,
    effect: str = "intercept",
    group: str = "client",
    level: float = 0.95,
    ax: Axes | None = None,
) -> Axes:
    """Each client's (or therapist's) predicted random effect with its interval, sorted.

    Parameters
    ----------
    result : GrowthResult
        A fitted growth model.
    effect : str, default "intercept"
        Which random effect: ``"intercept"``, ``"time"`` (the slope), or a term of a custom
        random formula (see ``result.random_effects["effect"]``).
    group : {"client", "therapist"}, default "client"
        Clients' effects, or therapists' (case-mix-adjusted conditional modes of a
        three-level model, ``result.therapist_effects``).
    level : float, default 0.95
        Interval: estimate +- z * conditional SD.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> m = growth.fit(toolkit.datasets.load("sleepstudy"), "reaction ~ time",
    ...                client="subject", session="days", score="reaction")
    >>> ax = caterpillar(m, effect="time")
    >>> len(ax.collections[1].get_offsets())
    18
    """
    if group not in ("client", "therapist"):
        raise ValueError(
            "The 'group' parameter of caterpillar must be one of {'client', 'therapist'}. "
            f"Got {group!r} instead."
        )
    if group == "therapist":
        re = result.therapist_effects.rename(columns={"therapist": "id"})
        if re.empty:
            raise ValueError(
                "The model has no therapist level, so there are no therapist effects. Fix: "
                "growth.fit(..., therapist='...'), or group='client'."
            )
    else:
        re = result.random_effects.rename(columns={"client": "id"})
    names = list(dict.fromkeys(re["effect"]))
    if effect not in names:
        raise ValueError(
            f"The 'effect' parameter of caterpillar must be one of {names}. Got {effect!r} instead."
        )
    ax = get_axes(ax, figsize=(6, 6))
    rows = re[re["effect"] == effect].sort_values("estimate", kind="stable")
    est = rows["estimate"].to_numpy()
    half = stats.norm.ppf(0.5 + level / 2) * rows["se"].to_numpy()
    y = np.arange(len(rows))
    ax.hlines(y, est - half, est + half, color=PALETTE["grey"], lw=1)
    ax.scatter(est, y, color=PALETTE["blue"], s=12, zorder=3)
    ax.axvline(0.0, color=PALETTE["vermillion"], lw=1, ls="--")
    if len(rows) <= 40:
        ax.set_yticks(y, [str(c) for c in rows["id"]], fontsize="small")
    else:
        ax.set_yticks([])
    who = "Therapist" if group == "therapist" else "Client"
    ax.set_ylabel(f"{who} (sorted)")
    unit = result.scores.score_label if result.scores is not None else "score"
    what = "slope (per unit of time)" if effect == "time" else effect
    adjusted = ", adjusted for the fixed effects" if group == "therapist" else ""
    ax.set_xlabel(f"Random {what}: deviation from the average{adjusted}, {unit}")
    ax.set_title(f"Predicted {group} effects with {level:.0%} intervals")
    return ax
