"""The reliable-change criterion: how many points of change are beyond measurement error.

One number answers "is this change reliable?" for every method of the toolkit: the default
Jacobson-Truax classification of :func:`toolkit.reliable_change.reliable_change`, sudden-gain
criterion 1, the breakthrough flag of change points, P(breakthrough) of the Bayesian models
and the breakthroughs of growth models. It is resolved once, when scores are validated
(:func:`toolkit.long_scores`), lives on the validated scores (``scores.reliable_change``),
and every result's ``settings`` carries ``reliable_change_points`` and
``reliable_change_source``.

Resolution order (``reliable_change=None``, the default):

1. the instrument's **published fixed criterion**, where services or the instrument's authors
   use one (PHQ-9: 6 points and GAD-7: 4 points in NHS Talking Therapies; CORE-10: 6; OQ-45:
   14), source ``"published"``;
2. the instrument's **clinical SD and reliability**:
   ``1.96 * sqrt(2) * SD * sqrt(1 - r)`` (Jacobson & Truax, 1991), source ``"norms"``;
3. the **sample's pre-treatment SD** (each client's first observed score, pooled over all
   clients, see :mod:`toolkit.pooled`) with the instrument's reliability, source
   ``"sample"``, announced once in a :class:`~toolkit.errors.ToolkitWarning`;
4. otherwise **none**: every method that needs the criterion says "not computed" (its
   columns are missing, never 0), source ``"none"``.

``reliable_change=<points>`` gives the criterion directly (source ``"given"``);
``"instrument"`` asks for steps 1-2 only and ``"sample"`` for step 3 only, raising a clear
error when they are not possible. The reliability is the instrument's internal consistency
(Cronbach's alpha), else its test-retest reliability. A change is reliable when it is *at
least* the criterion (``>=``), the way the published fixed criteria are stated.

References
----------
Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to defining
meaningful change in psychotherapy research. Journal of Consulting and Clinical Psychology,
59(1), 12-19.

Examples
--------
>>> from toolkit import criterion, instruments
>>> criterion.resolve(None, instruments.get("PHQ-9")).points
6.0
>>> bdi = criterion.resolve(None, instruments.get("BDI-II"))
>>> round(bdi.points, 3), bdi.source
(9.996, 'norms')
>>> criterion.resolve(7, instruments.get("BDI-II")).source
'given'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from .errors import OptionError, warn
from .instruments import Instrument

__all__ = ["ReliableChangeCriterion", "resolve", "Z_95", "SOURCES", "NotComputedError"]

#: Two-sided 5% critical value of the standard normal distribution.
Z_95 = 1.959963984540054
#: The sources a criterion can have.
SOURCES = ("given", "published", "norms", "sample", "none")


class NotComputedError(ValueError):
    """Something that needs the reliable-change criterion was asked for, and there is none."""


@dataclass(frozen=True)
class ReliableChangeCriterion:
    """The smallest reliable change in score points, with where each number came from.

    Attributes
    ----------
    points : float or None
        A change of at least this many points is reliable; None when not available.
    source : str
        One of :data:`SOURCES` (see the module docstring).
    description : str
        One sentence naming the numbers and their sources, for reports and methods text.
    sd, reliability : float or None
        The SD and reliability behind ``points`` (None for a given or published criterion).
    sd_source, reliability_source : str or None
        Where they come from.
    z : float
        The critical value behind a computed criterion (1.96).
    citation : str
        The reference of a published criterion or of the instrument's facts.
    """

    points: float | None
    source: str
    description: str
    sd: float | None = None
    sd_source: str | None = None
    reliability: float | None = None
    reliability_source: str | None = None
    z: float = Z_95
    citation: str = ""

    @property
    def available(self) -> bool:
        """Whether there is a criterion at all."""
        return self.points is not None

    @property
    def s_diff(self) -> float | None:
        """The standard error of a difference the criterion implies: ``points / z``."""
        return None if self.points is None else self.points / self.z

    def settings(self) -> dict[str, Any]:
        """``reliable_change_points`` and ``reliable_change_source``, for a result's settings."""
        return {"reliable_change_points": self.points, "reliable_change_source": self.source}

    def require(self, what: str) -> float:
        """The points, or a :class:`NotComputedError` saying what could not be computed."""
        if self.points is None:
            raise NotComputedError(f"{what} needs the reliable-change criterion, and {self}")
        return self.points

    def __str__(self) -> str:
        return self.description


def _reliability(inst: Instrument) -> tuple[float | None, str | None]:
    if inst.reliability is not None:
        return inst.reliability, f"{inst.name} internal consistency"
    if inst.test_retest is not None:
        return inst.test_retest, f"{inst.name} test-retest reliability"
    return None, None


def _computed(
    points_sd: float, sd_source: str, r: float, r_source: str, source: str, citation: str
) -> ReliableChangeCriterion:
    points = Z_95 * math.sqrt(2.0) * points_sd * math.sqrt(1.0 - r)
    text = (
        f"{points:.4g} points = 1.96 x sqrt(2) x SD {points_sd:.4g} ({sd_source}) x "
        f"sqrt(1 - {r:.3g}) ({r_source}), Jacobson & Truax (1991)"
    )
    return ReliableChangeCriterion(
        points, source, text, points_sd, sd_source, r, r_source, Z_95, citation
    )


def _none(reason: str) -> ReliableChangeCriterion:
    return ReliableChangeCriterion(
        None,
        "none",
        f"not available: {reason}. Fix: pass reliable_change=<points> when validating "
        "(toolkit.long_scores), or an instrument with a reliability.",
    )


def resolve(
    spec: Any,
    instrument: Instrument | None,
    *,
    sample: Callable[[], tuple[float, int]] | None = None,
    announce: bool = True,
    function: str = "long_scores",
) -> ReliableChangeCriterion:
    """Resolve the reliable-change criterion (see the module docstring for the order).

    Parameters
    ----------
    spec : None, float, {"instrument", "sample"} or ReliableChangeCriterion
        What the caller asked for; a criterion object is returned as it is.
    instrument : Instrument or None
        The measure.
    sample : callable, optional
        Returns ``(sd, n)``: the SD of the clients' first observed scores and how many
        clients it comes from (for ``"sample"`` and step 3). Called only when needed.
    announce : bool, default True
        Raise the one warning that announces a criterion from the sample's SD.
    function : str, default "long_scores"
        The public function whose ``reliable_change`` option ``spec`` is (for messages).

    Raises
    ------
    OptionError
        ``spec`` is not a valid choice (the message lists them), or the choice cannot be
        met (e.g. ``"instrument"`` for an instrument without the facts it needs).
    """
    if isinstance(spec, ReliableChangeCriterion):
        return spec
    name = instrument.name if instrument is not None else "the scores"
    if spec is None:
        found = _from_instrument(instrument)
        if found is not None:
            return found
        return _from_sample(instrument, sample, announce, required=False)
    if isinstance(spec, str):
        if spec == "instrument":
            found = _from_instrument(instrument)
            if found is None:
                raise OptionError(
                    f"reliable_change='instrument' needs a published criterion or a clinical "
                    f"SD and reliability, and {name} has neither. Fix: pass "
                    "reliable_change='sample' (the SD of the clients' first scores with the "
                    "instrument's reliability) or reliable_change=<points>."
                )
            return found
        if spec == "sample":
            return _from_sample(instrument, sample, announce, required=True)
        raise _bad_spec(spec, instrument, function)
    if (
        isinstance(spec, (bool, np.bool_))
        or not isinstance(spec, Real)
        or not math.isfinite(float(spec))
        or float(spec) <= 0
    ):
        raise _bad_spec(spec, instrument, function)
    points = float(spec)
    if instrument is not None and points > instrument.max_score - instrument.min_score:
        raise _bad_spec(
            spec,
            instrument,
            function,
            " (a criterion larger than the whole range would make no change reliable)",
        )
    return ReliableChangeCriterion(points, "given", f"{points:g} points (given)")


def _bad_spec(spec: Any, inst: Instrument | None, function: str, why: str = "") -> OptionError:
    span = "inf)" if inst is None else f"{inst.max_score - inst.min_score:g}]"
    unit = "" if inst is None else f" of {inst.name}"
    return OptionError(
        f"The 'reliable_change' parameter of {function} must be a number of points{unit} in "
        f"(0, {span}, 'instrument', 'sample', None or a ReliableChangeCriterion{why}. "
        f"Got {spec!r} instead."
    )


def _from_instrument(inst: Instrument | None) -> ReliableChangeCriterion | None:
    if inst is None:
        return None
    if inst.reliable_change is not None:
        return ReliableChangeCriterion(
            float(inst.reliable_change),
            "published",
            f"{inst.reliable_change:g} points, the published criterion for {inst.name}",
            citation=inst.reliable_change_citation,
        )
    r, r_source = _reliability(inst)
    if inst.clinical_sd is not None and r is not None:
        return _computed(
            inst.clinical_sd, f"{inst.name} clinical norm", r, str(r_source), "norms", inst.citation
        )
    return None


def _from_sample(
    inst: Instrument | None,
    sample: Callable[[], tuple[float, int]] | None,
    announce: bool,
    *,
    required: bool,
) -> ReliableChangeCriterion:
    r, r_source = _reliability(inst) if inst is not None else (None, None)
    if r is None:
        reason = (
            "no instrument was named, so no reliability is known"
            if inst is None
            else f"{inst.name} has no published criterion, no clinical SD and no reliability"
        )
        if required:
            raise OptionError(
                f"reliable_change='sample' needs the instrument's reliability: "
                f"{reason}. Fix: pass reliable_change=<points>."
            )
        return _none(reason)
    sample_sd, n_sample = sample() if sample is not None else (None, 0)
    if sample_sd is None or not (math.isfinite(sample_sd) and sample_sd > 0):
        reason = (
            f"{inst.name if inst else 'the instrument'} has no clinical SD, and the "
            f"clients' first scores have no spread to take one from (SD {sample_sd})"
        )
        if required:
            raise OptionError(
                f"reliable_change='sample' cannot be computed: {reason}. Fix: "
                "pass reliable_change=<points>."
            )
        return _none(reason)
    found = _computed(
        sample_sd,
        f"sample: first observed score of {n_sample} clients",
        r,
        str(r_source),
        "sample",
        inst.citation if inst else "",
    )
    if announce and not required:
        warn(
            f"No published reliable-change criterion or clinical SD for "
            f"{inst.name if inst else 'these scores'}: the criterion is {found.description}. "
            "Every method uses it. Fix: pass reliable_change=<points> (e.g. a published "
            "value) when validating to use another.",
            stacklevel=5,
        )
    return found
