"""toolkit: breakthroughs in psychotherapy outcome data.

Validated long-format repeated scores (:mod:`toolkit.data`), facts about measures
(:mod:`toolkit.instruments`) and the one reliable-change criterion every method shares
(:mod:`toolkit.criterion`), reliable change (:mod:`toolkit.reliable_change`), sudden gains
and losses (:mod:`toolkit.sudden_gains`), change points (:mod:`toolkit.changepoint`), growth
models (:mod:`toolkit.growth`), Bayesian change points (:mod:`toolkit.bayes`), simulated
trajectories with known truth (:mod:`toolkit.simulate`), evaluation against the truth
(:mod:`toolkit.evaluate`), shipped datasets (:mod:`toolkit.datasets`), plots
(:mod:`toolkit.plots`), registry-scale runs (:mod:`toolkit.scale`) and the report command
(``python -m toolkit``).

Submodules load on first use, so ``import toolkit`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._options import get_options, set_options
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from . import (  # noqa: F401
        bayes,
        changepoint,
        classes,
        criterion,
        data,
        datasets,
        errors,
        evaluate,
        growth,
        instruments,
        monitoring,
        per_client,
        plots,
        pooled,
        reliable_change,
        report,
        scale,
        simulate,
        sudden_gains,
    )
    from .data import LongScores, from_wide, long_scores  # noqa: F401
    from .errors import DataError, ToolkitWarning
    from .per_client import breakthroughs

_SUBMODULES = (
    "bayes",
    "changepoint",
    "classes",
    "criterion",
    "data",
    "datasets",
    "errors",
    "evaluate",
    "growth",
    "instruments",
    "monitoring",
    "per_client",
    "plots",
    "pooled",
    "reliable_change",
    "report",
    "scale",
    "simulate",
    "sudden_gains",
)
_FROM_DATA = ("LongScores", "from_wide", "long_scores")
_FROM_ELSEWHERE = {
    "breakthroughs": "per_client",
    "ToolkitWarning": "errors",
    "DataError": "errors",
}

__all__ = [
    "__version__",
    "set_options",
    "get_options",
    *_SUBMODULES,
    *_FROM_DATA,
    "breakthroughs",
    "ToolkitWarning",
    "DataError",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    if name in _FROM_DATA or name in _FROM_ELSEWHERE:
        home = _FROM_ELSEWHERE.get(name, "data")
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
