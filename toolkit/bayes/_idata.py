"""InferenceData and DataTree by group name: the one interface the fitting code uses.

ArviZ before 1.0 returns ``arviz.InferenceData``; ArviZ 1.x works on ``xarray.DataTree``.
Both answer ``container[group]``; everything else (listing groups, adding one, building a
container) goes through these helpers, which accept either.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["group", "group_list", "make", "prefers_datatree"]


def prefers_datatree() -> bool:
    """Whether the installed ArviZ works on DataTree (1.x) rather than InferenceData."""
    try:
        import arviz as az
    except ImportError:  # pragma: no cover - ArviZ is a dependency
        return True
    return not hasattr(az, "InferenceData")


def _is_datatree(obj: Any) -> bool:
    return type(obj).__name__ == "DataTree"


def group_list(idata: Any) -> list[str]:
    """Names of the groups of an InferenceData or DataTree."""
    if _is_datatree(idata):
        return [str(k) for k in idata.children]
    return [str(g) for g in idata.groups()]


def group(idata: Any, name: str) -> Any:
    """One group as an ``xarray.Dataset`` (None when absent)."""
    if name not in group_list(idata):
        return None
    node = idata[name]
    return node.to_dataset() if _is_datatree(node) else node


def make(groups: Mapping[str, Any], like: Any = None) -> Any:
    """A container of ``groups`` (name -> Dataset): the type of ``like``, else the one the
    installed ArviZ prefers."""
    use_tree = _is_datatree(like) if like is not None else prefers_datatree()
    if use_tree:
        import xarray as xr

        return xr.DataTree.from_dict({f"/{k}": v for k, v in groups.items()})
    import arviz as az

    with warnings.catch_warnings():
        # ArviZ notes variables without chain/draw dims (observed data) and similar; the
        # groups here follow its schema, so the notices are not the user's concern.
        warnings.simplefilter("ignore", UserWarning)
        return az.InferenceData(**dict(groups))
