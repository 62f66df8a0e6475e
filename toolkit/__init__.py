"""toolkit: breakthroughs in psychotherapy outcome data.

Validated long-format repeated scores (:mod:`toolkit.data`), facts about measures
(:mod:`toolkit.instruments`), reliable change (:mod:`toolkit.reliable_change`), sudden gains
and losses (:mod:`toolkit.sudden_gains`), change points (:mod:`toolkit.changepoint`),
growth models (:mod:`toolkit.growth`), Bayesian change points (:mod:`toolkit.bayes`),
simulated trajectories with known truth (:mod:`toolkit.simulate`), shipped datasets
(:mod:`toolkit.datasets`), plots (:mod:`toolkit.plots`) and the report command
(``python -m toolkit``).
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import (
    bayes,
    changepoint,
    data,
    datasets,
    evaluate,
    growth,
    instruments,
    plots,
    reliable_change,
    simulate,
    sudden_gains,
)
from .data import LongScores, from_wide, long_scores

__all__ = [
    "__version__",
    "data",
    "datasets",
    "instruments",
    "simulate",
    "sudden_gains",
    "reliable_change",
    "changepoint",
    "evaluate",
    "growth",
    "bayes",
    "plots",
    "long_scores",
    "from_wide",
    "LongScores",
]
