"""Not making progress: expected response, not-on-track flags, service outcomes, online
breakthrough monitoring.

While therapy is running: is this client on track, is a breakthrough happening now, and which
clients are not making progress?

- :func:`expected_response` learns what to expect of clients like this one from a reference
  cohort (an expected recovery curve from a growth model conditional on the intake score, or
  the courses of the nearest neighbours), with cross-fitting when the reference cohort is the
  monitored one; its ``predict`` and ``flag`` give each client's expected score, band and
  not-on-track flags.
- :func:`evaluate_alarms` says honestly what the flags are worth: sensitivity, specificity,
  positive predictive value, lead time and alarms per client, next to baselines.
- :func:`service_outcomes` computes the NHS Talking Therapies outcome measures from paired
  depression and anxiety scores.
- :func:`online` monitors every client session by session with Bayesian online change-point
  detection (P(breakthrough) after each session; ``update`` takes the newest session);
  :func:`cusum` is a simple alternative on the residuals from the expected curve, and
  :func:`evaluate_online` scores both on simulated truth.

No licensed instrument's norms or coefficients are shipped: every expected curve is learnt
from the user's own reference data.

Examples
--------
>>> import toolkit
>>> from toolkit import monitoring
>>> sg = toolkit.datasets.load_scores("sgdata")
>>> flags = monitoring.expected_response(sg, seed=3).flag(sg)
>>> report = monitoring.evaluate_alarms(flags, outcome="no_improvement")
>>> report.table["rule"].tolist()
['not on track', 'always flag', 'intake score only']
"""

from __future__ import annotations

from ._alarms import evaluate_alarms, evaluate_online
from ._cusum import cusum
from ._expected import DEFAULT_LEVEL, DISTANCES, METHODS, TIME_CODINGS, expected_response
from ._online import OnlineMonitor, OnlineState, online
from ._result import (
    ALARM_COLUMNS,
    CUSUM_CLIENT_COLUMNS,
    CUSUM_COLUMNS,
    EXPECTED_SUMMARY_COLUMNS,
    FLAG_CLIENT_COLUMNS,
    FLAG_COLUMNS,
    ONLINE_COLUMNS,
    ONLINE_EVALUATION_COLUMNS,
    PREDICTION_COLUMNS,
    REFERENCE_COLUMNS,
    SERVICE_COLUMNS,
    SERVICE_SUMMARY_COLUMNS,
    AlarmReportResult,
    CusumResult,
    ExpectedResponseResult,
    FlagsResult,
    OnlineEvaluationResult,
    OnlineResult,
    PredictionResult,
    ServiceOutcomesResult,
)
from ._service import service_outcomes

__all__ = [
    "expected_response",
    "evaluate_alarms",
    "service_outcomes",
    "online",
    "cusum",
    "evaluate_online",
    "OnlineMonitor",
    "OnlineState",
    "ExpectedResponseResult",
    "PredictionResult",
    "FlagsResult",
    "AlarmReportResult",
    "ServiceOutcomesResult",
    "OnlineResult",
    "CusumResult",
    "OnlineEvaluationResult",
    "REFERENCE_COLUMNS",
    "EXPECTED_SUMMARY_COLUMNS",
    "PREDICTION_COLUMNS",
    "FLAG_COLUMNS",
    "FLAG_CLIENT_COLUMNS",
    "ALARM_COLUMNS",
    "SERVICE_COLUMNS",
    "SERVICE_SUMMARY_COLUMNS",
    "ONLINE_COLUMNS",
    "CUSUM_COLUMNS",
    "CUSUM_CLIENT_COLUMNS",
    "ONLINE_EVALUATION_COLUMNS",
    "METHODS",
    "TIME_CODINGS",
    "DISTANCES",
    "DEFAULT_LEVEL",
]
