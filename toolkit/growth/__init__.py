"""Mixed-effects growth models for repeated scores: linear, piecewise and discontinuous growth.

:func:`fit` models session-by-session scores with a multilevel growth model: fixed effects
from a formula researchers know (``"score ~ time * arm + baseline"``), time coded as the
session (linear), log(session) or a quadratic, and a random intercept or a correlated random
intercept and slope per client, fitted by REML (default) or ML. Piecewise growth takes known
``knots``; discontinuous growth around each client's *own* breakthrough takes a table of
breakthroughs (a sudden-gain or change-point result) and adds a post-breakthrough indicator
(the jump) and the sessions since the breakthrough (the change in slope), so one call answers
"is there a lasting shift at the breakthrough beyond gradual change?". A result passed as
``breakthroughs=`` is read through its ``breakthroughs()``, the same improvements of at least
the reliable-change criterion that every method reports. :func:`compare` runs
the likelihood-ratio test between nested models, refitting by ML when the fixed effects
differ.

Fitting is honest: optimisers run in a fixed order from two starts, the best optimum found
is returned and verified (gradient, Newton step), and every attempt is in
``result.optimizer_log``. The common models run on an exact profiled-likelihood fast path over
the (clients x sessions) layout; statsmodels' ``MixedLM`` is the general engine.

Examples
--------
>>> import toolkit
>>> from toolkit import growth
>>> sleep = toolkit.datasets.load("sleepstudy")
>>> m = growth.fit(sleep, "reaction ~ time", client="subject", session="days",
...                score="reaction", random="slope")
>>> m.table[["term", "estimate"]].round(3)
        term  estimate
0  Intercept   251.405
1       time    10.467
>>> m.variance_components.round(2)
      group       component  variance     sd  corr
0    client       intercept    612.09  24.74   NaN
1    client            time     35.07   5.92   NaN
2    client  intercept:time      9.60    NaN  0.07
3  residual        residual    654.94  25.59   NaN
"""

from __future__ import annotations

from ._compare import compare
from ._engines import LOG_COLUMNS
from ._fit import fit
from ._result import (
    COMPARE_COLUMNS,
    CURVE_COLUMNS,
    FITTED_COLUMNS,
    FIXED_COLUMNS,
    ICC_COLUMNS,
    PREDICT_COLUMNS,
    RANDOM_COLUMNS,
    SUMMARY_COLUMNS,
    THERAPIST_COLUMNS,
    VARIANCE_COLUMNS,
    GrowthResult,
)

__all__ = [
    "fit",
    "compare",
    "GrowthResult",
    "FIXED_COLUMNS",
    "VARIANCE_COLUMNS",
    "RANDOM_COLUMNS",
    "THERAPIST_COLUMNS",
    "FITTED_COLUMNS",
    "LOG_COLUMNS",
    "COMPARE_COLUMNS",
    "SUMMARY_COLUMNS",
    "PREDICT_COLUMNS",
    "CURVE_COLUMNS",
    "ICC_COLUMNS",
]
