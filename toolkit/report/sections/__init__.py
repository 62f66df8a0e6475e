"""The report's sections, in order: each a function ``section(report, context)``."""

from __future__ import annotations

from collections.abc import Callable

from .._context import Context
from .._page import Report
from .bayes import bayes_section
from .breakthroughs import breakthroughs_section
from .changepoint import changepoint_section
from .data import data_section, trajectory_section
from .growth import growth_section
from .monitoring import monitoring_section
from .reliable_change import reliable_change_section
from .sudden_gains import sudden_gains_section
from .summary import methods_section, provenance_section, summary_section

__all__ = ["SECTIONS", "summary_section", "methods_section", "provenance_section"]


#: The sections between the summary (always first) and the methods and provenance (always
#: last), in order: (name, function(report, context)). ``--skip NAME`` leaves one out.
SECTIONS: list[tuple[str, Callable[[Report, Context], None]]] = [
    ("data", data_section),
    ("trajectories", trajectory_section),
    ("breakthroughs", breakthroughs_section),
    ("reliable-change", reliable_change_section),
    ("sudden-gains", sudden_gains_section),
    ("change-points", changepoint_section),
    ("growth", growth_section),
    ("monitoring", monitoring_section),
    ("bayes", bayes_section),
]
