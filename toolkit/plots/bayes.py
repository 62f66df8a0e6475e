"""Plots of Bayesian change-point fits: one client's posterior, and P(breakthrough) by client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ._style import PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["bayes_trajectory", "breakthrough_probabilities"]


def bayes_trajectory(
    result: Any,
    client: Any = None,
    *,
    ax: Axes | None = None,
    band: bool = True,
    sessions: bool = True,
) -> Axes:
    """A client's scores, the posterior mean trajectory with its band, and the change posterior.

    Parameters
    ----------
    result : toolkit.bayes.BayesResult
        A fitted model.
    client : client id, optional
        Default: the client with the highest P(breakthrough).
    ax : matplotlib Axes, optional
    band : bool, default True
        Shade the credible band of the expected score (level from ``result.settings``).
    sessions : bool, default True
        Draw P(change at session | change) as bars on a second y-axis (right).

    Returns
    -------
    matplotlib.axes.Axes
        The score axes (the bars live on ``ax.twin_axes``, a list holding the second axes).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes, simulate
    >>> df, _ = simulate.trajectories(6, 10, gain_share=1.0, nonresponder_share=1.0, seed=2)
    >>> res = bayes.fit(df, client="client", session="session", score="score",
    ...                 instrument="BDI-II", model="mean", pooling="none", seed=1)
    >>> from toolkit.plots.bayes import bayes_trajectory
    >>> ax = bayes_trajectory(res, 1)
    >>> ax.get_ylabel()
    'BDI-II'
    """
    ax = get_axes(ax)
    table = result.table
    if client is None:
        if len(table) == 0:
            raise ValueError("The result has no analysed clients to plot.")
        client = table.loc[table["p_breakthrough"].idxmax(), "client"]
    traj = result.trajectory(client)
    level = result.settings["level"]
    row = table.loc[table["client"] == client].iloc[0]
    seen = traj["score"].notna().to_numpy()
    x = traj["session"].to_numpy()
    ax.plot(
        x[seen],
        traj["score"].to_numpy()[seen],
        "o",
        color=PALETTE["black"],
        ms=5,
        label="observed",
        zorder=3,
    )
    ax.plot(x, traj["mean"], color=PALETTE["blue"], lw=2, label="posterior mean", zorder=2)
    if band:
        ax.fill_between(
            x,
            traj["lower"],
            traj["upper"],
            color=PALETTE["sky"],
            alpha=0.35,
            lw=0,
            label=f"{level:.0%} band",
            zorder=1,
        )
    ax.set_xlabel("Session")
    ax.set_ylabel(result._design.scores.score_label)
    ax.set_title(
        f"client {client}: P(change) = {row['p_change']:.2f}, "
        f"P(breakthrough) = {row['p_breakthrough']:.2f}"
    )
    twins = []
    if sessions:
        post = result.change_posterior
        post = post[post["client"] == client]
        if len(post):
            ax2 = ax.twinx()
            ax2.bar(
                post["session"],
                post["probability"],
                width=0.6,
                color=PALETTE["orange"],
                alpha=0.45,
                label="P(change at session | change)",
                zorder=0,
            )
            ax2.set_ylim(0, max(1.0, float(np.nanmax(post["probability"])) * 1.05))
            ax2.set_ylabel("P(change at session | change)")
            ax.set_zorder(ax2.get_zorder() + 1)  # points and lines above the bars
            ax.patch.set_visible(False)
            twins.append(ax2)
    handles, labels = ax.get_legend_handles_labels()
    for t in twins:
        h, lab = t.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    ax.legend(handles, labels, loc="best", fontsize="small", frameon=False)
    cast(Any, ax).twin_axes = twins  # an extra attribute, documented above
    return ax


def breakthrough_probabilities(result: Any, *, ax: Axes | None = None, n: int | None = 60) -> Axes:
    """P(breakthrough) and P(change) per client, sorted, as a dot chart.

    Parameters
    ----------
    result : toolkit.bayes.BayesResult
    ax : matplotlib Axes, optional
    n : int or None, default 60
        Show the ``n`` clients with the highest P(breakthrough) (None: all).

    Returns
    -------
    matplotlib.axes.Axes
        Clients on the y-axis (labelled by id), probabilities on the x-axis.
    """
    ax = get_axes(ax, figsize=(6, 8))
    t = result.table.sort_values("p_breakthrough", ascending=True, kind="stable")
    if n is not None:
        t = t.tail(n)
    y = np.arange(len(t))
    ax.hlines(y, 0, 1, color=PALETTE["grey"], lw=0.4, alpha=0.5)
    ax.plot(t["p_change"], y, "o", mfc="none", color=PALETTE["grey"], ms=5, label="P(change)")
    ax.plot(t["p_breakthrough"], y, "o", color=PALETTE["vermillion"], ms=5, label="P(breakthrough)")
    ax.set_yticks(y, [str(c) for c in t["client"]], fontsize="x-small" if len(t) > 30 else None)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("posterior probability")
    ax.set_ylabel("client")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    return ax
