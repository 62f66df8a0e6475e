"""Trajectory plots: many clients' scores over sessions."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..data import LongScores
from ._style import CYCLE, PALETTE, get_axes, mean_ci

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["spaghetti", "client_trajectory"]


def spaghetti(
    scores: LongScores,
    *,
    n: int | None = 50,
    clients: Sequence | None = None,
    highlight: Sequence | None = None,
    mean: bool = True,
    hue: str | None = None,
    by: str | None = None,
    seed: int | np.random.Generator | None = 0,
    ax: Axes | None = None,
) -> Any:
    """Each client's trajectory as a thin line, with the mean per session and its 95% CI.

    Parameters
    ----------
    scores : LongScores
        Validated scores (see :func:`toolkit.data.long_scores`).
    n : int or None, default 50
        Draw a random sample of this many clients (None: all). Ignored when ``clients`` is
        given. The mean line always uses every client.
    clients : sequence, optional
        Exactly these clients.
    highlight : sequence, optional
        Clients drawn in colour and labelled in the legend.
    mean : bool, default True
        Add the mean score per session with a normal-approximation 95% CI band.
    hue : str, optional
        A client-level covariate (e.g. ``"arm"``): each group's clients in its own colour,
        with one mean curve per group (not one pooled line).
    by : str, optional
        A client-level covariate: one panel per group, sharing the axes (``ax`` is then a
        sequence of Axes, one per group, or None for a new figure).
    seed : int or numpy.random.Generator, default 0
        For the random sample of clients.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes, or a numpy array of Axes (one per group) with ``by``

    Examples
    --------
    >>> import toolkit
    >>> ax = toolkit.plots.spaghetti(toolkit.datasets.load_scores("sgdata"), n=10)
    >>> ax.get_ylabel()
    'BDI-II'
    """
    if by is not None:
        return _by_group(scores, by, ax, n=n, clients=clients, mean=mean, hue=hue, seed=seed)
    ax = get_axes(ax)
    matrix = scores.to_matrix()
    x = scores.sessions
    if clients is not None:
        rows = scores.clients.get_indexer(list(clients))
        if (rows < 0).any():
            missing = [c for c, r in zip(clients, rows) if r < 0]
            raise ValueError(f"Unknown client(s) {missing[:5]} in 'clients'.")
    elif n is not None and n < scores.n_clients:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(scores.n_clients, size=n, replace=False))
    else:
        rows = np.arange(scores.n_clients)
    groups = _groups(scores, hue)
    colour = {g: CYCLE[i % len(CYCLE)] for i, g in enumerate(groups.cat.categories)}
    for r in rows:
        y = matrix[r]
        seen = ~np.isnan(y)  # connect observed sessions across gaps
        line = PALETTE["grey"] if hue is None else colour.get(groups.iloc[r], PALETTE["grey"])
        ax.plot(x[seen], y[seen], color=line, alpha=0.45, lw=0.8)
    for i, c in enumerate(highlight or []):
        r = scores.clients.get_loc(c)
        y = matrix[r]
        seen = ~np.isnan(y)
        ax.plot(
            x[seen],
            y[seen],
            color=CYCLE[i % len(CYCLE)],
            lw=2,
            marker="o",
            ms=3,
            label=f"client {c}",
        )
    if mean and hue is None:
        _mean_line(ax, x, matrix, PALETTE["black"], "mean", "95% CI of mean")
    elif mean:
        for g in groups.cat.categories:
            members = (groups == g).to_numpy()
            _mean_line(ax, x, matrix[members], colour[g], f"{g} (mean)", None)
    ax.set_xlabel("Session")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(scores.score_label)
    if scores.instrument is not None:
        ax.set_ylim(scores.instrument.min_score, scores.instrument.max_score)
    shown = len(rows)
    ax.set_title(f"{shown} of {scores.n_clients} clients")
    if mean or highlight:
        ax.legend(loc="best", frameon=False, fontsize="small")
    return ax


def _groups(scores: LongScores, column: str | None) -> pd.Series:
    """Each client's group (categorical, in sorted order); one group when column is None."""
    if column is None:
        return pd.Series(pd.Categorical(["all"] * scores.n_clients))
    values = scores.client_values(column).reset_index(drop=True).astype(object)
    levels = sorted(values.dropna().unique(), key=str)
    return pd.Series(pd.Categorical(values, categories=levels))


def _mean_line(
    ax: Axes, x: np.ndarray, matrix: np.ndarray, colour: str, label: str, band: str | None
) -> None:
    m, half, ok = mean_ci(matrix)
    ax.plot(x[ok], m[ok], color=colour, lw=2.5, label=label)
    ax.fill_between(
        x[ok], (m - half)[ok], (m + half)[ok], color=colour, alpha=0.15, lw=0, label=band
    )


def _by_group(scores: LongScores, by: str, ax: Any, **options: Any) -> np.ndarray:
    groups = _groups(scores, by)
    levels = list(groups.cat.categories)
    if ax is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1, len(levels), figsize=(4.2 * len(levels), 4.2), sharey=True, squeeze=False
        )
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object))
        if len(axes) != len(levels):
            raise ValueError(
                f"by={by!r} has {len(levels)} groups {levels}, so ax needs {len(levels)} Axes; "
                f"got {len(axes)}."
            )
    for a, g in zip(axes, levels):
        part = scores.subset(scores.clients[(groups == g).to_numpy()])
        spaghetti(part, ax=a, **options)
        a.set_title(f"{by} = {g}: {a.get_title()}")
    return np.asarray(axes)


def client_trajectory(
    scores: LongScores,
    client: Hashable,
    *,
    gains: Any = None,
    changepoints: Any = None,
    bayes: Any = None,
    ax: Axes | None = None,
) -> Axes:
    """One client's scores with everything the analyses found for them, on one Axes.

    Parameters
    ----------
    scores : LongScores
        Validated scores.
    client
        The client's id.
    gains : SuddenGainsResult, optional
        Shades each sudden gain (blue) or loss (vermillion) between sessions N and N+1.
    changepoints : ChangePoints, optional
        Draws the fitted change-point segments (see :func:`toolkit.plots.changepoint_segments`).
    bayes : BayesResult, optional
        Draws the posterior mean trajectory with its band and, on a second y-axis, the
        posterior over the change session (see :func:`toolkit.plots.bayes.bayes_trajectory`).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> sg = toolkit.sudden_gains.identify(scores, min_change=7)
    >>> cp = toolkit.changepoint.detect(scores)
    >>> ax = client_trajectory(scores, 1, gains=sg, changepoints=cp)
    >>> ax.get_title()
    'client 1: 2 sudden gain(s), 3 change point(s)'
    """
    if client not in scores.clients:
        raise ValueError(f"Unknown client {client!r}. Fix: pick one of scores.clients.")
    ax = get_axes(ax)
    drawn = False  # the observed scores, drawn once by whichever layer comes first
    if bayes is not None:
        from .bayes import bayes_trajectory

        bayes_trajectory(bayes, client, ax=ax)
        drawn = True
    n_changes = None
    if changepoints is not None:
        from .changepoint import segments

        segments(changepoints, client, observed=not drawn, ax=ax)
        n_changes = int((changepoints.table["client"] == client).sum())
        drawn = True
    if not drawn:
        y = scores.to_matrix()[scores.clients.get_loc(client)]
        seen = ~np.isnan(y)
        ax.plot(
            scores.sessions[seen],
            y[seen],
            color=PALETTE["grey"],
            lw=0.8,
            marker="o",
            ms=4,
            mfc=PALETTE["black"],
            mec=PALETTE["black"],
            label="observed",
        )
    parts = []
    if gains is not None:
        mine = gains.table[gains.table["client"] == client]
        for kind, colour in (("gain", PALETTE["blue"]), ("loss", PALETTE["vermillion"])):
            rows = mine[mine["kind"] == kind]
            for i, g in enumerate(rows.itertuples(index=False)):
                ax.axvspan(
                    g.pre_session,
                    g.gain_session,
                    color=colour,
                    alpha=0.15,
                    lw=0,
                    label=f"sudden {kind}" if i == 0 else None,
                )
            if kind in gains.settings["kinds"]:
                parts.append(f"{len(rows)} sudden {kind}(s)")
    if n_changes is not None:
        parts.append(f"{n_changes} change point(s)")
    if parts and bayes is None:
        ax.set_title(f"client {client}: " + ", ".join(parts))
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label)
    ax.legend(frameon=False, fontsize="small")
    return ax
