"""Plots for every analysis. Each function takes ``ax=`` and returns the matplotlib Axes.

Colours come from one colour-blind-safe palette (:data:`PALETTE`) and score axes are
labelled with the instrument's name, so figures from different analyses read as one family.
"""

from __future__ import annotations

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
