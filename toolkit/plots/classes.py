"""Trajectory-class plots: class curves over the spaghetti, enumeration criteria, odds ratios."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._style import CYCLE, PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["class_curves", "enumeration_criteria", "membership_odds"]


def _colours() -> list[str]:
    return [c for c in CYCLE if c != PALETTE["black"]]


def class_curves(
    result: Any,
    *,
    client: Any = None,
    n: int | None = 60,
    band: bool = True,
    observed: bool = False,
    seed: int = 0,
    ax: Axes | None = None,
) -> Axes:
    """Each class's fitted curve with its interval, over a sample of clients' trajectories.

    Parameters
    ----------
    result : ClassesResult
        A fit of :func:`toolkit.classes.fit`.
    client : optional
        Draw this client's scores (black) over the class curves, with its posterior
        probabilities in the legend, instead of the spaghetti.
    n : int or None, default 60
        Background sample of clients (:func:`toolkit.plots.spaghetti`; None: all, 0: none).
    band : bool, default True
        Shade each curve's interval (``settings["level"]``).
    observed : bool, default False
        Add the posterior-weighted mean of the observed scores per session (points).
    seed : int, default 0
        For the background sample.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> m = toolkit.classes.fit(toolkit.datasets.load_scores("sgdata"), 2, seed=1)
    >>> ax = class_curves(m, n=10)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['1 gradual response (27 points) (67%)', '2 gradual response (18 points) (33%)']
    """
    from .trajectories import spaghetti

    ax = get_axes(ax)
    scores = result.scores
    if client is not None:
        rows = result.table.index[result.table["client"] == client]
        if not len(rows):
            raise ValueError(
                f"Unknown client {client!r}: it was not analysed. Fix: pick one of "
                "result.table['client']."
            )
        y = scores.to_matrix()[scores.clients.get_loc(client)]
        seen = ~np.isnan(y)
        ax.plot(
            scores.sessions[seen],
            y[seen],
            color=PALETTE["black"],
            marker="o",
            ms=4,
            lw=1,
            label=f"client {client}",
        )
        post = result.posterior[result.posterior["client"] == client]["probability"].to_numpy()
    elif n is None or n > 0:
        keep = list(result.table["client"])
        chosen = None
        if n is not None and n < len(keep):
            rng = np.random.default_rng(seed)
            chosen = [keep[i] for i in np.sort(rng.choice(len(keep), size=n, replace=False))]
        spaghetti(scores, clients=chosen if chosen is not None else keep, mean=False, ax=ax)
    colours = _colours()
    curves = result.curves
    c = result.classes
    for i, (number, label, share) in enumerate(zip(c["class"], c["label"], c["share"])):
        part = curves[curves["class"] == number]
        colour = colours[i % len(colours)]
        text = f"{number} {label} ({share:.0%})"
        if client is not None:
            text = f"{number} {label}: P = {post[i]:.2f}"
        ax.plot(part["session"], part["fitted"], color=colour, lw=2.5, label=text)
        if band and np.isfinite(part["se"]).any():
            ax.fill_between(
                part["session"].to_numpy(dtype=float),
                part["ci_lower"].to_numpy(dtype=float),
                part["ci_upper"].to_numpy(dtype=float),
                color=colour,
                alpha=0.25,
                lw=0,
            )
        if observed:
            ax.plot(
                part["session"],
                part["observed_mean"],
                ls="none",
                marker="o",
                ms=3.5,
                color=colour,
            )
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label)
    if scores.instrument is not None:
        ax.set_ylim(scores.instrument.min_score, scores.instrument.max_score)
    ax.set_title(
        f"{result.n_classes} trajectory classes of {len(result.table)} clients"
        if client is None
        else f"client {client}: most probable class {int(result.table.loc[rows[0], 'class'])}"
    )
    handles, labels = ax.get_legend_handles_labels()
    keep_idx = [j for j, t in enumerate(labels) if not t.startswith("_")]
    ax.legend(
        [handles[j] for j in keep_idx],
        [labels[j] for j in keep_idx],
        loc="best",
        frameon=False,
        fontsize="small",
    )
    return ax


def enumeration_criteria(
    result: Any,
    *,
    criteria: Sequence[str] = ("aic", "bic", "sabic"),
    ax: Axes | None = None,
) -> Axes:
    """Information criteria against the number of classes (lower is better), with the
    relative entropy on a second axis.

    Parameters
    ----------
    result : EnumerationResult
        From :func:`toolkit.classes.enumeration`.
    criteria : sequence of str, default ("aic", "bic", "sabic")
        Columns of the enumeration table to draw.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    t = result.table
    colours = _colours()
    for i, name in enumerate(criteria):
        ax.plot(t["n_classes"], t[name], marker="o", color=colours[i % len(colours)], label=name)
    ax.set_xlabel("Number of classes")
    ax.set_ylabel("Information criterion (lower is better)")
    ax.set_xticks(t["n_classes"].tolist())
    if t["entropy"].notna().any():
        twin = ax.twinx()
        twin.plot(
            t["n_classes"],
            t["entropy"],
            ls="--",
            marker="s",
            color=PALETTE["grey"],
            label="entropy",
        )
        twin.set_ylim(0, 1.02)
        twin.set_ylabel("Relative entropy")
        h2, l2 = twin.get_legend_handles_labels()
    else:
        h2, l2 = [], []
    h1, l1 = ax.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="best", frameon=False, fontsize="small")
    return ax


def membership_odds(result: Any, *, ax: Axes | None = None) -> Axes:
    """Odds ratios of class membership with their intervals (log scale), one row per class
    and covariate term.

    Parameters
    ----------
    result : MembershipResult
        From :func:`toolkit.classes.membership`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = get_axes(ax)
    t = result.table[result.table["term"] != "intercept"].reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    colours = _colours()
    for i, row in t.iterrows():
        colour = colours[(int(row["class"]) - 1) % len(colours)]
        lo, hi = np.exp(row["ci_lower"]), np.exp(row["ci_upper"])
        ax.plot([lo, hi], [y[i], y[i]], color=colour, lw=2)
        ax.plot(np.exp(row["estimate"]), y[i], "o", color=colour)
    ax.axvline(1.0, color=PALETTE["grey"], lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['label']}: {r['term']}" for _, r in t.iterrows()])
    ax.set_xlabel(f"Odds ratio vs {result.settings['reference_label']}")
    return ax
