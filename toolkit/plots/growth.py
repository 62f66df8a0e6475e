"""Growth-model plots: observed vs fitted trajectories, and a caterpillar plot of random effects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ._style import CYCLE, PALETTE, get_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..growth import GrowthResult

__all__ = ["fitted_trajectories", "caterpillar"]


def fitted_trajectories(
    result: GrowthResult,
    *,
    n: int | None = 6,
    clients: Sequence | None = None,
    mean: bool = True,
    seed: int | np.random.Generator | None = 0,
    ax: Axes | None = None,
) -> Axes:
    """Observed scores (points) and each client's fitted growth curve (line), one colour each.

    Parameters
    ----------
    result : GrowthResult
        A fitted growth model (:func:`toolkit.growth.fit`).
    n : int or None, default 6
        A random sample of this many clients (None: all). Ignored when ``clients`` is given.
    clients : sequence, optional
        Exactly these clients.
    mean : bool, default True
        Add the average fixed-effects curve over all clients (thick black line).
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
        chosen = all_clients[np.sort(rng.choice(len(all_clients), size=n, replace=False))]
    else:
        chosen = all_clients
    groups = dict(tuple(fitted[fitted["client"].isin(list(chosen))].groupby("client", sort=False)))
    colours = [c for c in CYCLE if c != PALETTE["black"]]  # black is the average's colour
    for i, c in enumerate(chosen):
        rows = groups[c].sort_values("session")
        colour = colours[i % len(colours)]
        ax.plot(rows["session"], rows["fitted"], color=colour, lw=1.5)
        seen = rows["score"].notna()
        ax.scatter(
            rows.loc[seen, "session"], rows.loc[seen, "score"], color=colour, s=14, alpha=0.8
        )
    # Legend entries in neutral grey: the colours only tell clients apart.
    handles = [
        Line2D([], [], color=PALETTE["grey"], lw=1.5, label="fitted (per client)"),
        Line2D([], [], color=PALETTE["grey"], marker="o", ls="", label="observed"),
    ]
    if mean:
        avg = fitted.groupby("session", sort=True)["fitted_fixed"].mean()
        (line,) = ax.plot(
            avg.index,
            avg.to_numpy(),
            color=PALETTE["black"],
            lw=3,
            label="average fitted (fixed effects)",
        )
        handles.append(line)
    scores = result.scores
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label if scores is not None else "Score")
    ax.set_title(f"Growth model: {len(chosen)} of {len(all_clients)} clients")
    ax.legend(handles=handles, loc="best", frameon=False, fontsize="small")
    return ax


def caterpillar(
    result: GrowthResult,
    *,
    effect: str = "intercept",
    level: float = 0.95,
    ax: Axes | None = None,
) -> Axes:
    """Each client's predicted random effect (BLUP) with its interval, sorted.

    Parameters
    ----------
    result : GrowthResult
        A fitted growth model.
    effect : str, default "intercept"
        Which random effect: ``"intercept"``, ``"time"`` (the slope), or a term of a custom
        random formula (see ``result.random_effects["effect"]``).
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
    re = result.random_effects
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
        ax.set_yticks(y, [str(c) for c in rows["client"]], fontsize="small")
    else:
        ax.set_yticks([])
    ax.set_ylabel("Client (sorted)")
    unit = result.scores.score_label if result.scores is not None else "score"
    what = "slope (per unit of time)" if effect == "time" else effect
    ax.set_xlabel(f"Random {what}: deviation from the average, {unit}")
    ax.set_title(f"Predicted random effects with {level:.0%} intervals")
    return ax
