"""Reliable change and clinical significance: who changed beyond measurement error, who recovered.

:func:`reliable_change` takes repeated scores (long format), picks each client's pre and post
score (by default the first and the last observed session), and computes a reliable change
index (RCI) with one of seven published methods. By default it uses the one reliable-change
criterion of the validated scores (``scores.reliable_change``, see :mod:`toolkit.criterion`),
which every other method uses too. Combined with a clinical cut-off (Jacobson & Truax's a, b
or c, see :func:`cutoffs`) every client falls into one category:

- **recovered**: reliably improved and moved from the clinical into the functional range;
- **reliably improved**: reliably improved, but not recovered;
- **unchanged**: no reliable change;
- **reliably deteriorated**: reliably deteriorated, but not harmed;
- **harmed**: reliably deteriorated and moved from the functional into the clinical range.

:func:`from_prepost` does the same for a table with one row per client and a pre and a post
column. :func:`rci_cutoff` computes a criterion in score points from a chosen SD and
reliability.

Everything works on arrays over all clients at once; there is no loop over clients.

Examples
--------
>>> import toolkit
>>> from toolkit.reliable_change import reliable_change
>>> claus = toolkit.datasets.load("claus2020")
>>> result = reliable_change(claus, client="id", session="time", score="bdi",
...                          instrument="BDI-II", pre_session=1, post_session=4)
>>> result.settings["reliable_change_points"] == result.scores.reliable_change.points
True
>>> result.summary()
                category   n  share
0              recovered   8  0.200
1      reliably improved  11  0.275
2              unchanged  21  0.525
3  reliably deteriorated   0  0.000
4                 harmed   0  0.000
>>> len(result.skipped)  # no score at session 4
3
"""

from __future__ import annotations

from ._analysis import from_prepost, reliable_change
from ._norms import cutoffs, rci_cutoff
from ._result import (
    CATEGORIES,
    COEFFICIENT_COLUMNS,
    METHODS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    Cutoffs,
    ReliableChangeResult,
)

__all__ = [
    "reliable_change",
    "from_prepost",
    "cutoffs",
    "rci_cutoff",
    "ReliableChangeResult",
    "Cutoffs",
    "METHODS",
    "CATEGORIES",
    "TABLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "COEFFICIENT_COLUMNS",
]
