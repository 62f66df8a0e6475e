"""Per-client change points: exact optimal segmentation and at-most-one-change tests.

Sudden-gain criteria look at one session-to-session step; a change-point model asks the wider
question "did this client's trajectory shift, when, and by how much?". :func:`detect` finds,
for every client at once, the segmentation of the client's scores that minimises a penalised
cost, exactly (dynamic programming over all segmentations), and :func:`amoc` tests each client
for at most one change with a Monte Carlo p-value that is valid for short series, plus a
confidence set for the change session.

Four segment models:

``"mean"``
    Piecewise constant mean with Gaussian noise (mean shift).
``"linear"``
    Piecewise linear with a jump and a slope change at each change point ("discontinuous
    growth").
``"broken_stick"``
    Continuous piecewise linear: the slope changes at each change point, with no jump.
``"meanvar"``
    Piecewise constant mean *and* variance (R changepoint's ``cpt.meanvar``, Normal): a
    client whose scores became stable is found as well as one whose level shifted.

:func:`breakpoint` fits one continuous breakpoint per client anywhere between sessions
(exact least squares), with its SE, interval and Davies' test, as R's segmented.

Every client's series is its observed sessions only: missing sessions are not imputed, the
session numbers are the time axis of the linear models, and change points fall between
observed sessions. A change's ``session`` is the first session of the new segment. The cost
is scaled by the noise SD pooled over all clients (computed once, :mod:`toolkit.pooled`), and
a change is a breakthrough when its jump improves by at least the scores' reliable-change
criterion (:mod:`toolkit.criterion`), so each client's answer depends only on its own rows.

Examples
--------
>>> import toolkit
>>> from toolkit.changepoint import detect
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> cp = detect(scores)
>>> cp.settings["noise_sd"], round(cp.settings["noise_sd_value"], 2)
('pooled', 1.57)
"""

from __future__ import annotations

from typing import Any

from .._results import deprecated_name
from ._amoc import amoc
from ._breakpoint import breakpoint
from ._costs import MODELS
from ._detect import NOISE_SD, detect
from ._result import (
    AMOC_COLUMNS,
    BREAKPOINT_COLUMNS,
    BREAKPOINT_SUMMARY_COLUMNS,
    BY_GROUP_COLUMNS,
    CHANGE_COLUMNS,
    CLIENT_COLUMNS,
    CONFIDENCE_SET_COLUMNS,
    DAVIES_COLUMNS,
    SEGMENT_COLUMNS,
    SUMMARY_COLUMNS,
    AmocResult,
    BreakpointResult,
    ChangePointsResult,
)
from ._search import SEARCHES

__all__ = [
    "detect",
    "amoc",
    "breakpoint",
    "ChangePointsResult",
    "AmocResult",
    "BreakpointResult",
    "CHANGE_COLUMNS",
    "SEGMENT_COLUMNS",
    "CLIENT_COLUMNS",
    "AMOC_COLUMNS",
    "CONFIDENCE_SET_COLUMNS",
    "SUMMARY_COLUMNS",
    "BY_GROUP_COLUMNS",
    "BREAKPOINT_COLUMNS",
    "DAVIES_COLUMNS",
    "BREAKPOINT_SUMMARY_COLUMNS",
    "MODELS",
    "NOISE_SD",
    "SEARCHES",
]

_DEPRECATED = {"ChangePoints": ChangePointsResult, "AmocTest": AmocResult}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        return deprecated_name(name, _DEPRECATED[name], __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
