"""Change-point plots: fitted segments over a client's scores, and detection accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._style import CYCLE, PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["segments", "detection_accuracy", "amoc_profile", "breakpoint_fit"]


def segments(
    result: Any,
    client: Any = None,
    *,
    show_changes: bool = True,
    observed: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """One client's observed scores with the fitted segments and the change sessions.

    Parameters
    ----------
    result : toolkit.changepoint.ChangePoints
        The result of :func:`toolkit.changepoint.detect`.
    client : optional
        Client id (default: the first analysed client with a change, else the first
        analysed client).
    show_changes : bool, default True
        Draw a dashed vertical line at each change session.
    observed : bool, default True
        Draw the observed scores (off when another plot has drawn them already).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Scores as points joined by a thin line, each segment's fit as a thick line (mean
        shift: horizontal; linear models: the fitted lines; ``meanvar``: horizontal, with a
        band of one segment SD either side), changes as dashed lines.

    Raises
    ------
    ValueError
        If the client was not analysed (skipped, or unknown).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit.changepoint import detect
    >>> cp = detect(toolkit.datasets.load_scores("sgdata"), progress=False)
    >>> ax = segments(cp, client=1)
    >>> ax.get_ylabel()
    'BDI-II'
    """
    scores = result.scores
    seg = result.segments
    if client is None:
        with_change = result.clients.loc[result.clients["n_changes"] > 0, "client"]
        pool = with_change if len(with_change) else result.clients["client"]
        if not len(pool):
            raise ValueError(
                "No client was analysed, so there is nothing to plot; see "
                "result.skipped for the reasons."
            )
        client = pool.iloc[0]
    mine = seg[seg["client"] == client]
    if mine.empty:
        reason = result.skipped.loc[result.skipped["client"] == client, "reason"]
        why = f" It was skipped: {reason.iloc[0]}." if len(reason) else ""
        raise ValueError(
            f"Client {client!r} has no fitted segments.{why} Fix: pick a client "
            "from result.clients['client']."
        )
    ax = get_axes(ax)
    data = scores.data
    rows = data[(data["client"] == client) & data["score"].notna()]
    if observed:
        ax.plot(
            rows["session"],
            rows["score"],
            color=PALETTE["grey"],
            lw=0.8,
            marker="o",
            ms=4,
            mfc=PALETTE["black"],
            mec=PALETTE["black"],
            label="observed",
            zorder=2,
        )
    model = result.settings["model"]
    firsts = mine["first_session"].to_numpy()
    for i, s in enumerate(mine.itertuples(index=False)):
        x0, x1 = s.first_session, s.last_session
        y0, y1 = s.fit_start, s.fit_end
        if model == "broken_stick" and i + 1 < len(mine):
            # continuous: extend the piece to the next knot along its own slope
            x1 = firsts[i + 1]
            y1 = s.fit_start + s.slope * (x1 - x0)
        ax.plot(
            [x0, x1],
            [y0, y1],
            color=PALETTE["vermillion"],
            lw=2.5,
            label="fitted segments" if i == 0 else None,
            zorder=3,
        )
        if model == "meanvar":
            ax.fill_between(
                [x0, x1],
                [s.mean - s.sd] * 2,
                [s.mean + s.sd] * 2,
                color=PALETTE["vermillion"],
                alpha=0.15,
                lw=0,
                label="mean +/- segment SD" if i == 0 else None,
                zorder=1,
            )
    if show_changes:
        changes = result.table[result.table["client"] == client]
        # a jump happens between the last session before and the first after; a knot at one
        where = (
            changes["session"].to_numpy(dtype=float)
            if model == "broken_stick"
            else (
                changes["session"].to_numpy(dtype=float)
                + changes["last_pre_session"].to_numpy(dtype=float)
            )
            / 2
        )
        for j, c in enumerate(where):
            ax.axvline(
                c,
                color=PALETTE["blue"],
                ls="--",
                lw=1,
                label="change" if j == 0 else None,
                zorder=1,
            )
    ax.set_xlabel("Session")
    ax.set_ylabel(scores.score_label)
    ax.set_title(f"client {client}: {len(mine) - 1} change(s), {model} model")
    ax.legend(frameon=False, fontsize="small")
    return ax


def detection_accuracy(
    table: pd.DataFrame,
    *,
    x: str = "effect_size",
    y: str = "f1",
    method: str = "method",
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Detection accuracy against effect size, one line per method (mean over other factors).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per method and scenario, e.g. ``benchmarks/results/accuracy_changepoint.csv``:
        needs the columns named by ``x``, ``y`` and ``method``.
    x : str, default "effect_size"
        Column on the horizontal axis.
    y : str, default "f1"
        Accuracy column (``f1``, ``precision``, ``recall``, ...).
    method : str, default "method"
        Column naming the method.
    order : sequence of str, optional
        Methods to draw, in this order; colours follow it, so the same order gives the same
        colours in every figure. Default: the methods in order of first appearance.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        A named column is missing, or ``order`` names a method the table lacks.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"method": ["a", "a", "b", "b"], "effect_size": [1, 2, 1, 2],
    ...                   "f1": [0.2, 0.6, 0.4, 0.9]})
    >>> ax = detection_accuracy(t)
    >>> len(ax.get_lines())
    2
    """
    for c in (x, y, method):
        if c not in table.columns:
            raise ValueError(
                f"The table has no column {c!r}; its columns are {list(table.columns)}."
            )
    ax = get_axes(ax)
    order = list(pd.unique(table[method])) if order is None else list(order)
    unknown = [m for m in order if m not in set(table[method])]
    if unknown:
        raise ValueError(f"order names method(s) {unknown} that are not in the table.")
    means = table.groupby([method, x], sort=True)[y].mean()
    for i, name in enumerate(order):
        g = means.loc[name].reset_index()
        style = ("-", "--", ":")[(i // len(CYCLE)) % 3]  # more methods than colours
        ax.plot(
            g[x], g[y], marker="o", color=CYCLE[i % len(CYCLE)], ls=style, lw=2, label=str(name)
        )
    ax.set_xlabel(x.replace("_", " ") + (" (noise SDs)" if x == "effect_size" else ""))
    ax.set_ylabel(y.replace("_", " "))
    if y in ("f1", "precision", "recall"):
        ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize="small")
    return ax


def amoc_profile(result: Any, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """One client's at-most-one-change profile: the likelihood-ratio distance of every
    candidate change session from the best, with the confidence set marked.

    Parameters
    ----------
    result : AmocResult
        From :func:`toolkit.changepoint.amoc`.
    client : client id, optional
        Default: the client with the smallest p-value.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.plot`` for the profile line.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> res = toolkit.changepoint.amoc(toolkit.datasets.load_scores("sgdata"), n_boot=99,
    ...                                seed=1)
    >>> amoc_profile(res).get_xlabel()
    'Session'
    """
    ax = get_axes(ax)
    t = result.table
    if len(t) == 0:
        raise ValueError("The result tested no client.")
    if client is None:
        client = t.sort_values("p_value", kind="stable")["client"].iloc[0]
    rows = result.confidence_sets[result.confidence_sets["client"] == client]
    if rows.empty:
        raise ValueError(
            f"Client {client!r} was not tested (tested clients include {t['client'].tolist()[:5]})."
        )
    style = {"color": PALETTE["blue"], "marker": "o", "lw": 1.5, **kwargs}
    ax.plot(rows["session"], rows["lr"], **style)
    inside = rows[rows["in_set"]]
    ax.scatter(
        inside["session"],
        inside["lr"],
        s=80,
        color=PALETTE["vermillion"],
        zorder=3,
        label=f"{result.settings['level']:.0%} confidence set",
    )
    p = float(t.loc[t["client"] == client, "p_value"].iloc[0])
    ax.set_xlabel("Session")
    ax.set_ylabel("Likelihood-ratio distance from the best session")
    ax.set_title(f"Client {client}: single change, p = {p:.3g}")
    ax.legend(frameon=False, fontsize="small")
    return ax


def breakpoint_fit(
    result: Any, client: Any = None, *, show_interval: bool = True, ax: Axes | None = None
) -> Axes:
    """One client's scores with the fitted broken stick, its breakpoint and interval.

    Parameters
    ----------
    result : BreakpointResult
        From :func:`toolkit.changepoint.breakpoint`.
    client : client id, optional
        Default: the client with the smallest Davies p-value.
    show_interval : bool, default True
        Shade the breakpoint's interval (``ci_lower`` to ``ci_upper``, within the sessions).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the client was not analysed (skipped, or unknown).

    Examples
    --------
    >>> import toolkit
    >>> bp = toolkit.changepoint.breakpoint(toolkit.datasets.load_scores("sgdata"))
    >>> breakpoint_fit(bp).get_xlabel()
    'Session'
    """
    t = result.table
    if len(t) == 0:
        raise ValueError("No client was analysed; see result.skipped for the reasons.")
    if client is None:
        client = t.sort_values("p_value", kind="stable")["client"].iloc[0]
    mine = t[t["client"] == client]
    if mine.empty:
        reason = result.skipped.loc[result.skipped["client"] == client, "reason"]
        why = f" It was skipped: {reason.iloc[0]}." if len(reason) else ""
        raise ValueError(
            f"Client {client!r} has no breakpoint.{why} Fix: pick a client from "
            "result.table['client']."
        )
    row = mine.iloc[0]
    ax = get_axes(ax)
    data = result.scores.data
    rows = data[(data["client"] == client) & data["score"].notna()]
    ax.plot(
        rows["session"],
        rows["score"],
        color=PALETTE["grey"],
        lw=0.8,
        marker="o",
        ms=4,
        mfc=PALETTE["black"],
        mec=PALETTE["black"],
        label="observed",
        zorder=2,
    )
    psi, level = float(row["breakpoint"]), float(row["fit_at_breakpoint"])
    first, last = float(rows["session"].min()), float(rows["session"].max())
    ax.plot(
        [first, psi, last],
        [
            level + row["slope_before"] * (first - psi),
            level,
            level + row["slope_after"] * (last - psi),
        ],
        color=PALETTE["vermillion"],
        lw=2.5,
        label="broken stick",
        zorder=3,
    )
    ax.axvline(psi, color=PALETTE["blue"], ls="--", lw=1, label="breakpoint", zorder=1)
    if show_interval and np.isfinite(row["ci_lower"]):
        lo, hi = max(float(row["ci_lower"]), first), min(float(row["ci_upper"]), last)
        ax.axvspan(
            lo,
            hi,
            color=PALETTE["blue"],
            alpha=0.12,
            lw=0,
            label=f"{result.settings['level']:.0%} interval",
        )
    ax.set_xlabel("Session")
    ax.set_ylabel(result.scores.score_label)
    ax.set_title(f"client {client}: breakpoint {psi:.2f}, Davies p = {row['p_value']:.3g}")
    ax.legend(frameon=False, fontsize="small")
    return ax
