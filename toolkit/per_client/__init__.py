"""Who had a breakthrough? The per-client answer across methods.

:func:`breakthroughs` runs reliable change, sudden gains and change points (and, when asked,
the Bayesian model) once on the same validated scores, so that all of them use the one
reliable-change criterion, and returns a :class:`BreakthroughsResult`: one row per client
with every method's answer side by side, how far the methods agree (counts and Cohen's
kappa for every pair), why they disagree on a client, in words, and the counts with Wilson
intervals overall and per group. Also available as ``toolkit.breakthroughs``.
"""

from __future__ import annotations

from ._agreement import AGREEMENT_COLUMNS, DISAGREEMENT_COLUMNS
from ._compute import breakthroughs
from ._result import BY_GROUP_COLUMNS, SUMMARY_COLUMNS, BreakthroughsResult
from ._statistics import cohen_kappa, wilson_interval
from ._table import BLOCKS, DEFAULT_METHODS, LABELS, METHODS, TABLE_COLUMNS

__all__ = [
    "breakthroughs",
    "BreakthroughsResult",
    "TABLE_COLUMNS",
    "BLOCKS",
    "SUMMARY_COLUMNS",
    "BY_GROUP_COLUMNS",
    "AGREEMENT_COLUMNS",
    "DISAGREEMENT_COLUMNS",
    "METHODS",
    "DEFAULT_METHODS",
    "LABELS",
    "wilson_interval",
    "cohen_kappa",
]
