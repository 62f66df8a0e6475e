"""Plots for every analysis. Each function takes ``ax=`` and returns the matplotlib Axes.

Colours come from one colour-blind-safe palette (:data:`PALETTE`) and score axes are
labelled with the instrument's name, so figures from different analyses read as one family.

Each plot module loads on first use (``toolkit.plots.spaghetti`` loads matplotlib and the
trajectory plots only), so drawing one figure does not import every method's plotting code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from ._style import CYCLE, PALETTE, get_axes
    from .bayes import bayes_trajectory, breakthrough_probabilities
    from .changepoint import amoc_profile, breakpoint_fit, detection_accuracy
    from .changepoint import segments as changepoint_segments
    from .classes import class_curves, enumeration_criteria, membership_odds
    from .growth import caterpillar, fitted_trajectories
    from .monitoring import (
        alarm_report,
        cohort_chart,
        expected_curves,
        monitoring_chart,
        online_evaluation_chart,
        service_outcomes_chart,
    )
    from .per_client import breakthrough_tiles
    from .reliable_change import jacobson_truax
    from .sudden_gains import around_gains, chance_histogram
    from .trajectories import client_trajectory, spaghetti

#: public name -> (module, name in that module)
_LAZY: dict[str, tuple[str, str]] = {
    "PALETTE": ("_style", "PALETTE"),
    "CYCLE": ("_style", "CYCLE"),
    "get_axes": ("_style", "get_axes"),
    "spaghetti": ("trajectories", "spaghetti"),
    "client_trajectory": ("trajectories", "client_trajectory"),
    "around_gains": ("sudden_gains", "around_gains"),
    "chance_histogram": ("sudden_gains", "chance_histogram"),
    "jacobson_truax": ("reliable_change", "jacobson_truax"),
    "changepoint_segments": ("changepoint", "segments"),
    "detection_accuracy": ("changepoint", "detection_accuracy"),
    "amoc_profile": ("changepoint", "amoc_profile"),
    "breakpoint_fit": ("changepoint", "breakpoint_fit"),
    "fitted_trajectories": ("growth", "fitted_trajectories"),
    "caterpillar": ("growth", "caterpillar"),
    "bayes_trajectory": ("bayes", "bayes_trajectory"),
    "breakthrough_probabilities": ("bayes", "breakthrough_probabilities"),
    "breakthrough_tiles": ("per_client", "breakthrough_tiles"),
    "monitoring_chart": ("monitoring", "monitoring_chart"),
    "expected_curves": ("monitoring", "expected_curves"),
    "cohort_chart": ("monitoring", "cohort_chart"),
    "alarm_report": ("monitoring", "alarm_report"),
    "service_outcomes_chart": ("monitoring", "service_outcomes_chart"),
    "online_evaluation_chart": ("monitoring", "online_evaluation_chart"),
    "class_curves": ("classes", "class_curves"),
    "enumeration_criteria": ("classes", "enumeration_criteria"),
    "membership_odds": ("classes", "membership_odds"),
}
_MODULES = (
    "bayes",
    "changepoint",
    "classes",
    "growth",
    "monitoring",
    "per_client",
    "reliable_change",
    "sudden_gains",
    "trajectories",
)

__all__ = [
    "PALETTE",
    "CYCLE",
    "get_axes",
    "spaghetti",
    "client_trajectory",
    "around_gains",
    "chance_histogram",
    "jacobson_truax",
    "changepoint_segments",
    "detection_accuracy",
    "amoc_profile",
    "breakpoint_fit",
    "fitted_trajectories",
    "caterpillar",
    "bayes_trajectory",
    "breakthrough_probabilities",
    "breakthrough_tiles",
    "monitoring_chart",
    "expected_curves",
    "cohort_chart",
    "alarm_report",
    "service_outcomes_chart",
    "online_evaluation_chart",
    "class_curves",
    "enumeration_criteria",
    "membership_odds",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'toolkit.plots' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_MODULES))
