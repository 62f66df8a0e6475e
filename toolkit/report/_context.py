"""What every report section shares: the scores, the settings, and results computed once."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._memory import trim_heap
from ..data import LongScores
from ..errors import ToolkitWarning

__all__ = ["Context", "TEST_MAX_CLIENTS", "release"]

#: Largest cohort whose change-point p-values (a Monte Carlo test) the report computes.
TEST_MAX_CLIENTS = 5_000


@dataclass
class Context:
    """The report's shared state: the validated scores, the settings, and the per-client
    answer (:func:`toolkit.breakthroughs`), computed once and read by every section.

    Attributes
    ----------
    scores : LongScores
    group : str or None
        A client-level covariate to break results down by (``--group``).
    seed : int
        For every random step (change-point p-values, Bayesian sampling, cross-fitting).
    min_change : float or None
        Criterion 1 of the sudden gains, when not the reliable-change criterion.
    methods_text : list of str
        Paragraphs collected for the closing methods section.
    notes : list of str
        Warnings met, shown where they arose and listed in the provenance.
    announce : callable
        Tells the user what is about to take long (the command line prints it).
    """

    scores: LongScores
    group: str | None = None
    seed: int = 0
    min_change: float | None = None
    methods_text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    announce: Callable[[str], None] = field(default=lambda message: None)
    _answer: Any = None
    _facts: Any = None

    @property
    def answer(self) -> Any:
        """The per-client answer across reliable change, sudden gains and change points
        (after :meth:`settle_answer`, its methods text and settings; anything else computes
        it again)."""
        if self._answer is None and self._facts is not None:
            return self._facts
        return self._full_answer()

    def _full_answer(self) -> Any:
        if self._answer is None:
            from ..per_client import breakthroughs

            options: dict[str, dict[str, Any]] = {"changepoint": {"progress": False}}
            if self.min_change is not None:
                options["sudden_gains"] = {"min_change": self.min_change}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ToolkitWarning)
                self._answer = breakthroughs(
                    self.scores,
                    options=options,
                    test=self.scores.n_clients <= TEST_MAX_CLIENTS,
                    n_boot=499,
                    seed=self.seed,
                )
            self.note(str(w.message) for w in caught)
            self._facts = None
        return self._answer

    def settle_answer(self) -> None:
        """Keep only the per-client answer's methods text and settings (what the closing
        sections read) once the sections that read its per-client tables are done: the
        sections after it then run without the answer's tables in memory. Anything else
        asked of ``answer`` afterwards computes it again, to the same numbers."""
        if self._answer is not None:
            self._facts = _AnswerFacts(self, self._answer.methods_text(), self._answer.settings)
            self._answer = None

    def release(self) -> None:
        """Drop the intermediates cached on the scores and the per-client results (e.g. the
        canonical frame, the (clients x sessions) matrices of the sudden gains) between
        sections: they are recomputed, to the same numbers, by whoever asks again, and the
        report's memory stays that of one section at a time."""
        release(self.scores)
        if self._answer is not None:
            for result in self._answer.results.values():
                release(result)
        trim_heap()

    def note(self, messages: Any) -> list[str]:
        """Record warnings (once each); return the new ones."""
        new = [m for m in dict.fromkeys(messages) if m not in self.notes]
        self.notes.extend(new)
        return new


@dataclass(frozen=True)
class _AnswerFacts:
    """What the closing sections read of a settled per-client answer."""

    context: Context = field(repr=False)
    text: str
    settings: dict[str, Any]

    def methods_text(self) -> str:
        """The answer's methods paragraph."""
        return self.text

    def __getattr__(self, name: str) -> Any:
        # Anything else: the whole answer again (the same seed, so the same numbers).
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.context._full_answer(), name)


#: Cached values kept by :func:`release`: small, and costly to recompute.
_KEEP = frozenset({"pooled"})


def release(obj: Any) -> None:
    """Forget the values ``obj``'s cached properties hold (they are computed again on use).

    Examples
    --------
    >>> import toolkit
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> n = len(scores.data)
    >>> release(scores)
    >>> "data" in vars(scores), len(scores.data) == n
    (False, True)
    """
    cached = vars(obj) if hasattr(obj, "__dict__") else {}
    for klass in type(obj).__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, functools.cached_property) and name not in _KEEP:
                cached.pop(name, None)
