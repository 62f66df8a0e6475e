"""The registry: look up an instrument by any of its names, add your own."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from ..errors import UnknownNameError
from ._instrument import Instrument

__all__ = ["register", "unregister", "get", "available"]


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
    """All registered instruments as a tidy table, one row per instrument.

    Columns are the :class:`Instrument` fields; ``thresholds`` holds a dict of the named
    alternative thresholds.
    """
    rows = [i.to_dict() for i in _REGISTRY.values()]
    # Explicit columns keep the table well-formed even when the registry is empty.
    columns = [f.name for f in dataclasses.fields(Instrument)]
    return pd.DataFrame(rows, columns=columns).sort_values("name", ignore_index=True)
