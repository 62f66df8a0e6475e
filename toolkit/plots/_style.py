"""The look shared by every plot: one colour-blind-safe palette and a default Axes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

#: Okabe-Ito colours, distinguishable with the common forms of colour blindness.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

#: Colours for categories in order (clients, methods, groups).
CYCLE = [PALETTE[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky", "black")]


def get_axes(ax: Axes | None = None, figsize: tuple[float, float] = (7, 4.5)) -> Axes:
    """Return ``ax``, or a new Axes on a new figure when ``ax`` is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def mean_ci(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column means of ``matrix`` (NaN = missing), half-widths of their normal 95% CIs, and
    which columns have any data."""
    count = np.sum(~np.isnan(matrix), axis=0)
    ok = count > 0
    m = np.full(matrix.shape[1], np.nan)
    half = np.zeros(matrix.shape[1])
    m[ok] = np.nanmean(matrix[:, ok], axis=0)
    several = count > 1
    half[several] = 1.96 * np.nanstd(matrix[:, several], axis=0, ddof=1) / np.sqrt(count[several])
    return m, half, ok
