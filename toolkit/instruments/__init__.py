"""Facts about outcome measures: score range, direction, reliability, norms and cut-offs.

Every method that needs to know "is a lower score better?", "what scores are possible?" or
"what is this measure's reliability?" asks this registry, and the direction of improvement is
decided in one function, :func:`direction_sign`. The reliable-change criterion built from
these facts is resolved once per data set (see :mod:`toolkit.criterion`). Pass a registered
name (case, spaces and hyphens are ignored: ``"phq9"`` finds ``"PHQ-9"``) or an
:class:`Instrument` anywhere an instrument is accepted.

Examples
--------
>>> from toolkit import instruments
>>> bdi = instruments.get("bdi-ii")
>>> bdi.min_score, bdi.max_score, bdi.better
(0.0, 63.0, 'lower')
>>> instruments.get("GAD-7").threshold("NHS Talking Therapies caseness").value
8.0
>>> mine = instruments.Instrument(name="MYSCALE", full_name="My scale", min_score=0,
...                               max_score=10, better="higher", citation="In-house.")
>>> instruments.register(mine)
>>> instruments.get("myscale") is mine
True
>>> instruments.unregister("MYSCALE")
"""

from __future__ import annotations

from ._catalogue import CATALOGUE
from ._instrument import Instrument, Threshold, direction_sign
from ._registry import available, get, register, unregister

__all__ = [
    "Instrument",
    "Threshold",
    "get",
    "register",
    "unregister",
    "available",
    "direction_sign",
    "CATALOGUE",
]

for _instrument in CATALOGUE:
    register(_instrument)
del _instrument
