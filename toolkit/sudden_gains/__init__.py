"""Sudden gains and sudden losses with the published criteria, for every client at once.

A *sudden gain* is a large, stable improvement between two consecutive sessions N and N+1.
Tang & DeRubeis (1999) defined it by three criteria, stated here for a measure where lower
scores are better (everything mirrors for higher-is-better measures):

1. the gain is large in absolute terms: ``x[N] - x[N+1] >= min_change`` (by default the
   reliable-change criterion every method shares, ``scores.reliable_change``);
2. the gain is large relative to the pre-gain score: ``x[N] - x[N+1] >= 0.25 * x[N]``;
3. the gain is large relative to the fluctuation around it: with the pre-gain window
   ``x[N-2], x[N-1], x[N]`` and the post-gain window ``x[N+1], x[N+2], x[N+3]`` (the values
   available in each),
   ``M_pre - M_post > t * sqrt(((n1 - 1) s1**2 + (n2 - 1) s2**2) / (n1 + n2 - 2))``
   where ``t`` is the two-sided critical value of Student's t at ``alpha`` for
   ``n1 + n2 - 2`` degrees of freedom: 2.776, 3.182 or 4.303 for 6, 5 or 4 available
   values (the missing-data adjustment of Lutz et al., 2013). Fewer than 2 values in either
   window make the criterion *missing*, not false.

:func:`identify` evaluates every interval of every client on the (clients x sessions)
matrix without a per-client loop (a client's sequence comes from its own session numbers)
and returns a :class:`SuddenGainsResult`: one row per gain
(``.table``, also ``.gains``), one row per client (``.by_client()``), the per-interval
criteria (``.intervals()``), counts (``.describe()``, ``.interval_counts()``) and the average
trajectory around the gains (``.plot()``). :func:`chance_baseline` estimates how many
"gains" these criteria find in the same data when nothing sudden happens.

Examples
--------
>>> import toolkit
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> sg = identify(scores, min_change=7)
>>> sg.describe()[["n_gains", "n_clients_with_gains", "n_reversals"]]
   n_gains  n_clients_with_gains  n_reversals
0       26                    17            4
"""

from __future__ import annotations

from ._chance import CHANCE_COLUMNS, ChanceResult, chance_baseline
from ._criteria import DESCRIBE_COLUMNS, GAIN_COLUMNS, INTERVAL_COLUMNS, critical_value
from ._identify import identify
from ._result import BY_GROUP_COLUMNS, SuddenGainsResult

__all__ = [
    "identify",
    "chance_baseline",
    "SuddenGainsResult",
    "ChanceResult",
    "GAIN_COLUMNS",
    "INTERVAL_COLUMNS",
    "DESCRIBE_COLUMNS",
    "CHANCE_COLUMNS",
    "BY_GROUP_COLUMNS",
    "critical_value",
]
