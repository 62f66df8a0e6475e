"""One schema for repeated scores: validate long-format data once, then share one matrix.

Every method in the toolkit starts from :func:`long_scores`, which checks a long DataFrame
(one row per client and session) and returns a :class:`LongScores`: the rows in canonical
order with canonical column names (``client``, ``session``, ``score``, plus ``date`` when
sessions were dates, plus covariates under their own names), an account of anything excluded,
the facts every method shares (direction, the reliable-change criterion, pooled statistics),
and :meth:`LongScores.to_matrix`, the (clients x sessions) float array with NaN for missing
sessions that all vectorised methods work on. Its columns are every session number from the
first to the last, so a client's missed session is a gap whoever else attended it.

Missing scores are kept as missing sessions; nothing is dropped silently. The caller's
DataFrame is never modified. The data layer draws nothing: plots are in :mod:`toolkit.plots`.

Examples
--------
>>> import pandas as pd
>>> from toolkit.data import long_scores
>>> df = pd.DataFrame({"id": [2, 1, 1, 2], "week": [1, 2, 1, 2], "phq": [20, 12, 15, None]})
>>> scores = long_scores(df, client="id", session="week", score="phq", instrument="PHQ-9")
>>> scores.to_matrix()
array([[15., 12.],
       [20., nan]])
>>> scores.clients.tolist(), scores.sessions.tolist()
([1, 2], [1, 2])
>>> scores.reliable_change.points, scores.reliable_change.source
(6.0, 'published')
"""

from __future__ import annotations

from ._helpers import MAGNITUDE, first_and_last
from ._scores import SEQUENCES, LongScores
from ._validate import EXCLUDED_COLUMNS, as_scores, long_scores
from ._wide import from_wide

__all__ = [
    "LongScores",
    "long_scores",
    "as_scores",
    "from_wide",
    "EXCLUDED_COLUMNS",
    "SEQUENCES",
    "MAGNITUDE",
    "first_and_last",
]
