"""One measure's published facts, and the one answer to "which direction is better?"."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import DirectionError

__all__ = ["Instrument", "Threshold", "direction_sign"]

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Threshold:
    """A named score threshold with its source, e.g. a service's caseness cut-off.

    Parameters
    ----------
    name : str
        What the threshold is called where it is used, e.g. ``"NHS Talking Therapies
        caseness"``.
    value : float
        The threshold in score points. A score *at or beyond* it in the worse direction is
        on the clinical side (at or above it when lower scores are better).
    citation : str
        The published definition.
    notes : str
        How it differs from the instrument's own cut-off, or anything else a user should know.
    """

    name: str
    value: float
    citation: str
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        if not math.isfinite(self.value):
            raise ValueError(f"Threshold {self.name!r}: value must be finite; got {self.value}.")


@dataclass(frozen=True)
class Instrument:
    """Published facts about one measure.

    Parameters
    ----------
    name : str
        Short name used as the registry key, e.g. ``"PHQ-9"``.
    full_name : str
        Full name of the measure.
    min_score, max_score : float
        Lowest and highest possible total score.
    better : {"lower", "higher"}
        Which direction means improvement.
    citation : str
        Where the facts come from (one or more references).
    reliability : float, optional
        Internal consistency (Cronbach's alpha) from the cited source; the reliability of
        the reliable-change criterion.
    test_retest : float, optional
        Test-retest reliability from the cited source.
    clinical_mean, clinical_sd : float, optional
        Mean and SD of a clinical (treatment-seeking) sample, for reliable change and cut-offs.
    functional_mean, functional_sd : float, optional
        Mean and SD of a non-clinical (community) sample, for clinical-significance cut-offs.
    cutoff : float, optional
        Conventional clinical cut-off: a score at or beyond it (in the worse direction) counts
        as the clinical range.
    reliable_change : float, optional
        A published fixed reliable-change criterion in score points (a change of at least
        this many points is reliable), where services or the instrument's authors use one
        (e.g. 6 points on the PHQ-9 in NHS Talking Therapies). It takes precedence over a
        criterion computed from SD and reliability; see :mod:`toolkit.criterion`.
    reliable_change_citation : str
        Where ``reliable_change`` is published.
    thresholds : tuple of Threshold
        Named, cited alternatives to ``cutoff`` used by services or studies (e.g. NHS
        Talking Therapies caseness on the GAD-7 is 8, while Spitzer et al.'s cut-off is 10).
    integer_scores : bool
        Whether totals are whole numbers (False for mean-item scores such as CORE-OM).
    aliases : tuple of str
        Other names the registry accepts.
    notes : str
        Anything a user should know when using these facts (sample, version, scoring).
    """

    name: str
    full_name: str
    min_score: float
    max_score: float
    better: Better
    citation: str
    reliability: float | None = None
    test_retest: float | None = None
    clinical_mean: float | None = None
    clinical_sd: float | None = None
    functional_mean: float | None = None
    functional_sd: float | None = None
    cutoff: float | None = None
    reliable_change: float | None = None
    reliable_change_citation: str = ""
    thresholds: tuple[Threshold, ...] = ()
    integer_scores: bool = True
    aliases: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_score", float(self.min_score))
        object.__setattr__(self, "max_score", float(self.max_score))
        if not self.min_score < self.max_score:
            raise ValueError(
                f"Instrument {self.name!r}: min_score ({self.min_score}) must be below "
                f"max_score ({self.max_score})."
            )
        if self.better not in ("lower", "higher"):
            raise ValueError(
                f"The 'better' parameter of Instrument must be one of {{'lower', 'higher'}}. "
                f"Got {self.better!r} instead."
            )
        for name in ("reliability", "test_retest"):
            r = getattr(self, name)
            if r is not None and not 0 < r < 1:
                raise ValueError(f"Instrument {self.name!r}: {name} must lie in (0, 1); got {r}.")
        for name in ("clinical_sd", "functional_sd", "reliable_change"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"Instrument {self.name!r}: {name} must be a positive number; got {value}."
                )
        span = self.max_score - self.min_score
        if self.reliable_change is not None and self.reliable_change > span:
            raise ValueError(
                f"Instrument {self.name!r}: reliable_change ({self.reliable_change:g}) is larger "
                f"than the whole score range ({span:g})."
            )
        if self.reliable_change is not None and not self.reliable_change_citation:
            raise ValueError(
                f"Instrument {self.name!r}: a fixed reliable_change needs its "
                "reliable_change_citation (where the criterion is published)."
            )
        for t in self.thresholds:
            if not isinstance(t, Threshold):
                raise TypeError(f"Instrument {self.name!r}: thresholds must be Threshold objects.")

    @property
    def sign(self) -> int:
        """+1 when higher scores are worse, -1 when higher scores are better.

        ``sign * (pre - post)`` is positive for improvement whatever the direction.
        """
        return 1 if self.better == "lower" else -1

    def threshold(self, name: str) -> Threshold:
        """The named alternative threshold (see ``thresholds``).

        Raises
        ------
        KeyError
            No threshold of that name; the message lists the names there are.
        """
        for t in self.thresholds:
            if t.name.lower() == str(name).lower():
                return t
        names = [t.name for t in self.thresholds]
        raise KeyError(f"{self.name} has no threshold named {name!r}; it has {names}.")

    def to_dict(self) -> dict[str, Any]:
        """All facts as a plain dict (for tables and reports); thresholds as ``name: value``."""
        out = dataclasses.asdict(self)
        out["thresholds"] = {t.name: t.value for t in self.thresholds}
        return out


def direction_sign(instrument: Instrument | None, better: str | None) -> int | None:
    """+1 when lower scores are better, -1 when higher ones are; None when unknown.

    The one place where the direction of improvement is decided: the instrument's, or the
    caller's ``better`` when there is no instrument. A ``better`` that contradicts the
    instrument is an error.

    Raises
    ------
    DirectionError
        ``better`` is not ``"lower"``/``"higher"``, or contradicts the instrument.

    Examples
    --------
    >>> from toolkit import instruments
    >>> direction_sign(instruments.get("WHO-5"), None), direction_sign(None, "lower")
    (-1, 1)
    """
    if better is not None and better not in ("lower", "higher"):
        raise DirectionError(
            f"The 'better' parameter must be one of {{'lower', 'higher'}}. Got {better!r} instead."
        )
    if instrument is not None:
        if better is not None and better != instrument.better:
            raise DirectionError(
                f"better={better!r} contradicts the instrument {instrument.name}, for which "
                f"{instrument.better} scores are better. Fix: drop better= (the instrument "
                "decides)."
            )
        return instrument.sign
    if better is None:
        return None
    return 1 if better == "lower" else -1
