"""Facts about outcome measures: score range, direction, reliability, norms and cut-offs.

Every method that needs to know "is a lower score better?", "what scores are possible?" or
"what is this measure's reliability?" asks this registry. Pass a registered name
(case, spaces and hyphens are ignored: ``"phq9"`` finds ``"PHQ-9"``) or an
:class:`Instrument` anywhere an instrument is accepted.

Examples
--------
>>> from toolkit import instruments
>>> bdi = instruments.get("bdi-ii")
>>> bdi.min_score, bdi.max_score, bdi.better
(0.0, 63.0, 'lower')
>>> mine = instruments.Instrument(name="MYSCALE", full_name="My scale", min_score=0,
...                               max_score=10, better="higher", citation="In-house.")
>>> instruments.register(mine)
>>> instruments.get("myscale") is mine
True
>>> instruments.unregister("MYSCALE")
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from .errors import UnknownNameError

__all__ = ["Instrument", "get", "register", "unregister", "available"]


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
        Internal consistency (Cronbach's alpha) from the cited source; used by default for
        reliable change.
    test_retest : float, optional
        Test-retest reliability from the cited source.
    clinical_mean, clinical_sd : float, optional
        Mean and SD of a clinical (treatment-seeking) sample, for reliable change and cut-offs.
    functional_mean, functional_sd : float, optional
        Mean and SD of a non-clinical (community) sample, for clinical-significance cut-offs.
    cutoff : float, optional
        Conventional clinical cut-off: a score at or beyond it (in the worse direction) counts
        as the clinical range.
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
    better: Literal["lower", "higher"]
    citation: str
    reliability: float | None = None
    test_retest: float | None = None
    clinical_mean: float | None = None
    clinical_sd: float | None = None
    functional_mean: float | None = None
    functional_sd: float | None = None
    cutoff: float | None = None
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
        for field in ("reliability", "test_retest"):
            r = getattr(self, field)
            if r is not None and not 0 < r < 1:
                raise ValueError(f"Instrument {self.name!r}: {field} must lie in (0, 1); got {r}.")
        for field in ("clinical_sd", "functional_sd"):
            sd = getattr(self, field)
            if sd is not None and not (math.isfinite(sd) and sd > 0):
                raise ValueError(f"Instrument {self.name!r}: {field} must be positive; got {sd}.")

    @property
    def sign(self) -> int:
        """+1 when higher scores are worse, -1 when higher scores are better.

        ``sign * (pre - post)`` is positive for improvement whatever the direction.
        """
        return 1 if self.better == "lower" else -1

    def to_dict(self) -> dict:
        """All facts as a plain dict (for tables and reports)."""
        return dataclasses.asdict(self)


def _key(name: str) -> str:
    # "PHQ-9", "phq9" and "PHQ 9" are the same measure to a user.
    return re.sub(r"[\s\-_.()]", "", str(name)).lower()


_REGISTRY: dict[str, Instrument] = {}
_ALIASES: dict[str, str] = {}


def register(instrument: Instrument, *, overwrite: bool = False) -> None:
    """Add an instrument to the registry so that its name (and aliases) can be used anywhere.

    Parameters
    ----------
    instrument : Instrument
        The measure to register.
    overwrite : bool, default False
        Replace an instrument already registered under the same name or alias.

    Raises
    ------
    ValueError
        If the name or an alias is taken and ``overwrite`` is False.
    """
    if not isinstance(instrument, Instrument):
        raise TypeError(f"register() takes an Instrument; got {type(instrument).__name__}.")
    keys = [_key(instrument.name), *(_key(a) for a in instrument.aliases)]
    taken = [k for k in keys if k in _ALIASES and _ALIASES[k] != _key(instrument.name)]
    if _key(instrument.name) in _REGISTRY and not overwrite:
        taken.insert(0, _key(instrument.name))
    if taken and not overwrite:
        raise ValueError(
            f"Instrument name(s) already registered: {taken}. "
            "Fix: choose another name, or pass overwrite=True to replace them."
        )
    _REGISTRY[keys[0]] = instrument
    for k in keys:
        _ALIASES[k] = keys[0]


def unregister(name: str) -> None:
    """Remove an instrument (and its aliases) from the registry."""
    main = _ALIASES.get(_key(name))
    if main is None:
        raise UnknownNameError(f"No instrument named {name!r} is registered.")
    del _REGISTRY[main]
    for k in [k for k, v in _ALIASES.items() if v == main]:
        del _ALIASES[k]


def get(instrument: str | Instrument) -> Instrument:
    """Return the :class:`Instrument` for a registered name, or the instrument itself.

    Raises
    ------
    UnknownNameError
        If the name is not registered (the message lists the registered names).
    """
    if isinstance(instrument, Instrument):
        return instrument
    main = _ALIASES.get(_key(instrument))
    if main is None:
        names = sorted(i.name for i in _REGISTRY.values())
        raise UnknownNameError(
            f"Unknown instrument {instrument!r}. Registered instruments: {names}. "
            "Fix: use one of these names, or create an Instrument and register() it."
        )
    return _REGISTRY[main]


def available() -> pd.DataFrame:
    """All registered instruments as a tidy table, one row per instrument."""
    rows = [i.to_dict() for i in _REGISTRY.values()]
    return pd.DataFrame(rows).sort_values("name", ignore_index=True)


# --- The catalogue of published measures -------------------------------------------------
# Each entry cites where its numbers come from; keep numbers and citation together.

_CATALOGUE: tuple[Instrument, ...] = (
    Instrument(
        name="BDI-II",
        full_name="Beck Depression Inventory, Second Edition",
        min_score=0,
        max_score=63,
        better="lower",
        reliability=0.92,
        test_retest=0.93,
        clinical_mean=22.45,
        clinical_sd=12.75,
        functional_mean=12.56,
        functional_sd=9.93,
        cutoff=14,
        aliases=("BDI2", "BDI-2"),
        citation=(
            "Beck, A. T., Steer, R. A., & Brown, G. K. (1996). Manual for the Beck Depression "
            "Inventory-II. San Antonio, TX: Psychological Corporation."
        ),
        notes="Norms: 500 outpatients (clinical) and 120 college students (functional).",
    ),
)

for _instrument in _CATALOGUE:
    register(_instrument)
