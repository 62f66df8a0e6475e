"""Trajectory plots: many clients' scores over sessions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import LongScores
from ._style import CYCLE, PALETTE, get_axes

__all__ = ["spaghetti"]


def spaghetti(
    scores: LongScores,
    *,
    n: int | None = 50,
    clients: Sequence | None = None,
    highlight: Sequence | None = None,
    mean: bool = True,
    seed: int | np.random.Generator | None = 0,
    ax=None,
):
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
    seed : int or numpy.random.Generator, default 0
        For the random sample of clients.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> ax = toolkit.plots.spaghetti(toolkit.datasets.load_scores("sgdata"), n=10)
    >>> ax.get_ylabel()
    'BDI-II'
    """
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
    for r in rows:
        y = matrix[r]
        seen = ~np.isnan(y)  # connect observed sessions across gaps
        ax.plot(x[seen], y[seen], color=PALETTE["grey"], alpha=0.45, lw=0.8)
    for i, c in enumerate(highlight or []):
        r = scores.clients.get_loc(c)
        y = matrix[r]
        seen = ~np.isnan(y)
        ax.plot(x[seen], y[seen], color=CYCLE[i % len(CYCLE)], lw=2, marker="o", ms=3,
                label=f"client {c}")
    if mean:
        m, half, ok = _mean_ci(matrix)
        ax.plot(x[ok], m[ok], color=PALETTE["black"], lw=2.5, label="mean")
        ax.fill_between(x[ok], (m - half)[ok], (m + half)[ok], color=PALETTE["black"],
                        alpha=0.15, lw=0, label="95% CI of mean")
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label)
    if scores.instrument is not None:
        ax.set_ylim(scores.instrument.min_score, scores.instrument.max_score)
    shown = len(rows)
    ax.set_title(f"{shown} of {scores.n_clients} clients")
    if mean or highlight:
        ax.legend(loc="best", frameon=False, fontsize="small")
    return ax


def _mean_ci(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means, half-widths of their normal 95% CI, and which columns have data."""
    count = np.sum(~np.isnan(matrix), axis=0)
    ok = count > 0
    m = np.full(matrix.shape[1], np.nan)
    half = np.zeros(matrix.shape[1])
    m[ok] = np.nanmean(matrix[:, ok], axis=0)
    several = count > 1
    half[several] = 1.96 * np.nanstd(matrix[:, several], axis=0, ddof=1) / np.sqrt(count[several])
    return m, half, ok
