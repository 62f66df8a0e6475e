"""The Jacobson-Truax plot: pre against post score, coloured by reliable-change category."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._style import PALETTE, get_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["jacobson_truax", "CATEGORY_STYLE"]

#: Colour and marker of each category (colour-blind-safe colours, and shapes that survive
#: grey-scale printing).
CATEGORY_STYLE = {
    "recovered": (PALETTE["green"], "o"),
    "reliably improved": (PALETTE["blue"], "^"),
    "unchanged": (PALETTE["grey"], "s"),
    "reliably deteriorated": (PALETTE["orange"], "v"),
    "harmed": (PALETTE["vermillion"], "X"),
}

_NAMES = {
    "jacobson_truax": "Jacobson-Truax",
    "gulliksen_lord_novick": "Gulliksen-Lord-Novick",
    "hsu_linn_lord": "Hsu-Linn-Lord",
    "edwards_nunnally": "Edwards-Nunnally",
    "nunnally_kotsch": "Nunnally-Kotsch",
    "hageman_arrindell": "Hageman-Arrindell",
    "hlm": "HLM",
}


def jacobson_truax(
    result: Any,
    ax: Axes | None = None,
    *,
    max_points: int | None = 5000,
    seed: int | np.random.Generator | None = 0,
    band: bool = True,
    highlight: Any = None,
) -> Axes:
    """Pre against post score of every client, with the lines that decide their category.

    Draws the no-change diagonal, the band within which change is not reliable (for the
    Jacobson-Truax method the lines post = pre +/- z * S_diff; for the other pre/post
    methods their own, possibly tilted, band; none for HLM, whose index is a slope), the
    clinical cut-off as a horizontal and a vertical dashed line, and the clients as points
    coloured (and shaped) by category, with counts in the legend.

    Parameters
    ----------
    result : ReliableChangeResult
        From :func:`toolkit.reliable_change.reliable_change`.
    ax : matplotlib Axes, optional
        Where to draw (a new square figure by default).
    max_points : int or None, default 5000
        Draw a random sample of this many clients when there are more (None: all). The
        legend counts always use every client.
    seed : int or numpy.random.Generator, default 0
        For the sample.
    band : bool, default True
        Shade the band of no reliable change.
    highlight : client id, optional
        Circle and label this client's point.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import toolkit
    >>> from toolkit.reliable_change import reliable_change
    >>> claus = toolkit.datasets.load("claus2020")
    >>> result = reliable_change(claus, client="id", session="time", score="bdi",
    ...                          instrument="BDI-II", pre_session=1, post_session=4)
    >>> ax = jacobson_truax(result)
    >>> ax.get_xlabel()
    'Pre score (BDI-II)'
    """
    ax = get_axes(ax, figsize=(6.5, 6.5))
    table = result.table
    p = result.parameters
    label = result.settings.get("score_label", "score")
    pre = table["pre"].to_numpy()
    post = table["post"].to_numpy()
    category = table["category"].astype(str).to_numpy()
    counts = {c: int((category == c).sum()) for c in CATEGORY_STYLE}

    shown = np.arange(len(table))
    if max_points is not None and len(table) > max_points:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        shown = np.sort(rng.choice(len(table), size=max_points, replace=False))

    values = np.concatenate([pre, post])
    if p.get("cutoff") is not None:
        values = np.append(values, p["cutoff"])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    lims = np.array([lo - pad, hi + pad])

    ax.plot(lims, lims, color=PALETTE["black"], lw=1, label="no change", zorder=1)
    if band and p.get("band") is not None:
        intercept, slope, half = p["band"]
        centre = intercept + slope * lims
        ax.fill_between(
            lims,
            centre - half,
            centre + half,
            color=PALETTE["sky"],
            alpha=0.2,
            lw=0,
            zorder=0,
            label="no reliable change",
        )
        for edge in (centre - half, centre + half):
            ax.plot(lims, edge, color=PALETTE["sky"], lw=1, ls=":", zorder=1)
    if p.get("cutoff") is not None:
        kind = p.get("cutoff_type")
        name = f"cut-off {kind}" if kind in ("a", "b", "c") else "cut-off"
        ax.axhline(
            p["cutoff"],
            color=PALETTE["black"],
            lw=1,
            ls="--",
            zorder=1,
            label=f"{name} = {p['cutoff']:.4g}",
        )
        ax.axvline(p["cutoff"], color=PALETTE["black"], lw=1, ls="--", zorder=1)

    for name, (colour, marker) in CATEGORY_STYLE.items():
        pick = shown[category[shown] == name]
        ax.scatter(
            pre[pick],
            post[pick],
            s=22,
            color=colour,
            marker=marker,
            alpha=0.85,
            edgecolors="none",
            label=f"{name} (n = {counts[name]})",
            zorder=2,
        )

    if highlight is not None:
        hit = np.flatnonzero(table["client"].to_numpy() == highlight)
        if len(hit) == 0:
            raise ValueError(
                f"Client {highlight!r} is not in the result (analysed clients "
                f"include {table['client'].tolist()[:5]})."
            )
        i = int(hit[0])
        ax.scatter(
            [pre[i]],
            [post[i]],
            s=140,
            facecolors="none",
            edgecolors=PALETTE["black"],
            lw=1.5,
            zorder=3,
            label=f"client {highlight}",
        )
    # matplotlib takes any (left, right) pair; its stub only admits a tuple
    ax.set_xlim(lims)  # type: ignore[arg-type]
    ax.set_ylim(lims)  # type: ignore[arg-type]
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"Pre score ({label})")
    ax.set_ylabel(f"Post score ({label})")
    better = p.get("better", "lower")
    method = _NAMES.get(p.get("method"), str(p.get("method")))
    ax.set_title(f"Reliable change ({method}); {better} scores are better")
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax
