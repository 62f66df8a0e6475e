"""Plots of sudden gains: the average trajectory around the gains, and the chance baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._style import CYCLE, PALETTE, get_axes, mean_ci

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["around_gains", "chance_histogram"]

_LABELS = ["N-2", "N-1", "N", "N+1", "N+2", "N+3"]


def around_gains(
    result: Any,
    *,
    value: str = "score",
    kind: str | None = None,
    ax: Axes | None = None,
    **kwargs: Any,
) -> Axes:
    """Mean score at sessions N-2 .. N+3 around the gains, with normal 95% CIs.

    The gain happens between N (the pre-gain session) and N+1; the line is drawn solid
    across the gain and the means use every gain with a value at that position.

    Parameters
    ----------
    result : SuddenGainsResult
        From :func:`toolkit.sudden_gains.identify`.
    value : str, default "score"
        The score, or a covariate such as a process measure.
    kind : {"gain", "loss"}, optional
        Needed when the result holds both.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.errorbar`` (e.g. ``color``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> sg = toolkit.sudden_gains.identify(toolkit.datasets.load_scores("sgdata"), min_change=7)
    >>> ax = around_gains(sg)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['N-2', 'N-1', 'N', 'N+1', 'N+2', 'N+3']
    """
    ax = get_axes(ax)
    kind = result._one_kind(kind)
    around = result.around(value)
    values = around.loc[around["kind"] == kind, ["nm2", "nm1", "n", "np1", "np2", "np3"]]
    values = values.to_numpy(dtype=float)
    mean, half, ok = mean_ci(values)
    x = np.arange(6)
    style = {
        "color": PALETTE["blue"] if kind == "gain" else PALETTE["vermillion"],
        "marker": "o",
        "capsize": 4,
        "lw": 2,
        "label": f"mean of {len(values)} {kind}{'s' if len(values) != 1 else ''} (95% CI)",
        **kwargs,
    }
    ax.errorbar(x[ok], mean[ok], yerr=half[ok], **style)
    ax.axvspan(2, 3, color=PALETTE["grey"], alpha=0.15, lw=0, label=f"sudden {kind}")
    ax.set_xticks(x, _LABELS)
    ax.set_xlabel("Session relative to the pre-gain session N")
    label = result.scores.score_label if value == "score" else value
    ax.set_ylabel(label)
    ax.legend(frameon=False, fontsize="small")
    return ax


def chance_histogram(chance: Any, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Number of gains in each chance replicate, one histogram per method, observed marked.

    ``kwargs`` go to ``ax.hist`` (e.g. ``bins``).
    """
    ax = get_axes(ax)
    reps = chance.replicates
    for i, (method, group) in enumerate(reps.groupby("method", sort=False)):
        style = {"bins": 20, "alpha": 0.6, "color": CYCLE[i], "label": f"{method} world", **kwargs}
        ax.hist(group["n_gains"], **style)
    observed = int(chance.table["observed_gains"].iloc[0])
    ax.axvline(observed, color=PALETTE["black"], lw=2, label=f"observed ({observed})")
    ax.set_xlabel("Sudden gains found")
    ax.set_ylabel("Replicates")
    ax.legend(frameon=False, fontsize="small")
    return ax
