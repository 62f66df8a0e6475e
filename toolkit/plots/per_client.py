"""Which clients each method flags: tiles per client, or the combinations in a large cohort."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._style import PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["breakthrough_tiles"]

#: Each method's label and flag column in the per-client table.
_METHODS = {
    "reliable_change": ("reliable change", "rc_flag"),
    "sudden_gains": ("sudden gains", "sg_flag"),
    "changepoint": ("change points", "cp_flag"),
    "bayes": ("Bayesian", "bayes_flag"),
}


def breakthrough_tiles(
    result: Any,
    *,
    ax: Axes | None = None,
    highlight: Any = None,
    max_clients: int = 80,
    **kwargs: Any,
) -> Axes:
    """Which clients each method flags as having a breakthrough.

    Up to ``max_clients`` clients: one row per client (those flagged by most methods on
    top), one column per method; a filled square where the method flags the client, an open
    one where it analysed the client without flagging, a cross where it could not analyse
    the client. More clients: one bar per combination of methods, with its number of clients.

    Parameters
    ----------
    result : BreakthroughsResult
        From :func:`toolkit.breakthroughs`.
    ax : matplotlib Axes, optional
    highlight : client id, optional
        Mark this client's row.
    max_clients : int, default 80
        Largest cohort drawn client by client.
    **kwargs
        Passed to the scatter (tiles) or bar (combinations) call.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> answer = toolkit.breakthroughs(toolkit.datasets.load_scores("sgdata"))
    >>> ax = breakthrough_tiles(answer)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['reliable change', 'sudden gains', 'change points']
    """
    table = result.table
    names = [_METHODS[m][0] for m in result.methods]
    flags = pd.DataFrame({_METHODS[m][0]: table[_METHODS[m][1]] for m in result.methods})
    if len(table) <= max_clients:
        return _tiles(table, flags, names, ax, highlight, kwargs)
    return _combinations(table["methods"], ax, kwargs)


def _tiles(
    table: pd.DataFrame,
    flags: pd.DataFrame,
    names: list[str],
    ax: Axes | None,
    highlight: Any,
    kwargs: dict[str, Any],
) -> Axes:
    order = np.lexsort((np.arange(len(table)), -table["n_methods"].to_numpy()))
    ax = get_axes(ax, figsize=(1.6 + 1.1 * len(names), max(3.0, 0.16 * len(table) + 1)))
    y = np.arange(len(table))
    for j, name in enumerate(names):
        f = flags[name].iloc[order]
        known = f.notna().to_numpy()
        on = f.fillna(False).to_numpy(dtype=bool)
        off = known & ~on
        style = {"s": 42, "marker": "s", **kwargs}
        ax.scatter(np.full(on.sum(), j), y[on], color=PALETTE["blue"], label=None, **style)
        ax.scatter(
            np.full(off.sum(), j), y[off], facecolors="none", edgecolors=PALETTE["grey"], **style
        )
        ax.scatter(np.full((~known).sum(), j), y[~known], color=PALETTE["grey"], marker="x", s=30)
    ids = table["client"].to_numpy()[order]
    ax.set_yticks(y, [str(c) for c in ids], fontsize="x-small")
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.invert_yaxis()
    ax.set_ylabel("Client")
    ax.set_title("Who had a breakthrough, by method", fontsize="medium")
    ax.set_xlabel("filled: flagged   open: not flagged   x: not analysed", fontsize="small")
    if highlight is not None:
        hit = np.flatnonzero(ids == highlight)
        if len(hit) == 0:
            raise ValueError(f"Client {highlight!r} is not in the result.")
        ax.axhspan(hit[0] - 0.5, hit[0] + 0.5, color=PALETTE["yellow"], alpha=0.4, lw=0)
    return ax


def _combinations(methods: pd.Series, ax: Axes | None, kwargs: dict[str, Any]) -> Axes:
    ax = get_axes(ax, figsize=(8, 4.5))
    counts = methods.value_counts()
    style = {"color": PALETTE["blue"], **kwargs}
    ax.barh(np.arange(len(counts)), counts.to_numpy(), **style)
    ax.set_yticks(np.arange(len(counts)), counts.index.tolist(), fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("Clients")
    ax.set_title("Clients by the methods that flag a breakthrough", fontsize="medium")
    return ax
