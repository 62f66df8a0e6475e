"""The look shared by every plot: one colour-blind-safe palette and a default Axes."""

from __future__ import annotations

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


def get_axes(ax=None, figsize: tuple[float, float] = (7, 4.5)):
    """Return ``ax``, or a new Axes on a new figure when ``ax`` is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax
