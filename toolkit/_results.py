"""The shape every analysis result shares: one vocabulary across modules.

An analysis function takes validated scores (:class:`toolkit.data.LongScores`) plus
keyword-only options and returns a small frozen result whose class name ends in ``Result``:

- ``table``: tidy, snake_case, numeric, unrounded; its columns never change with options;
- ``settings``: every argument, the column roles, the toolkit version, the seed and the
  reliable-change keys ``reliable_change_points`` and ``reliable_change_source``;
- ``skipped``: clients not analysed, with a ``reason``; ``warnings``: plain-language messages,
  also raised as :class:`toolkit.errors.ToolkitWarning`;
- ``summary()`` returning a DataFrame, ``plot(client=None, *, ax=None, **kwargs)`` returning
  the Axes, ``methods_text()`` returning a paragraph for a paper, and an HTML view;
- ``breakthroughs(direction=...)``: the result's breakthroughs in one shape
  (:data:`BREAKTHROUGH_COLUMNS`), so that no module reads another module's columns;
- ``summary_by(covariate)`` for results that classify clients, and
  ``table_as_input()`` for merging onto the caller's own frame without renaming.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._checks import choice
from ._references import with_references
from .errors import ToolkitDeprecationWarning, warn

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .data import LongScores

__all__ = [
    "Result",
    "SKIPPED_COLUMNS",
    "BREAKTHROUGH_COLUMNS",
    "DIRECTIONS",
    "empty_skipped",
    "empty_breakthroughs",
    "warn",
    "base_settings",
    "deprecated_option",
    "deprecated_name",
    "toolkit_citation",
]

#: Columns of every result's ``skipped`` table.
SKIPPED_COLUMNS = ["client", "reason"]
#: Columns of every result's ``breakthroughs()``: one row per breakthrough. ``session`` is the
#: first session at the new level, ``size`` the change in points (positive), ``direction``
#: ``"improvement"`` or ``"deterioration"``, ``method`` the analysis that found it.
BREAKTHROUGH_COLUMNS = ["client", "session", "size", "direction", "method"]
#: Values of ``direction`` in :meth:`Result.breakthroughs`.
DIRECTIONS = ("improvement", "deterioration", "both")

Direction = Literal["improvement", "deterioration", "both"]


def empty_skipped() -> pd.DataFrame:
    """A ``skipped`` table with no rows."""
    return pd.DataFrame({"client": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def empty_breakthroughs() -> pd.DataFrame:
    """A ``breakthroughs()`` table with no rows."""
    return pd.DataFrame(
        {
            "client": pd.Series(dtype=object),
            "session": pd.Series(dtype=np.int64),
            "size": pd.Series(dtype=float),
            "direction": pd.Series(dtype=object),
            "method": pd.Series(dtype=object),
        }
    )


def base_settings(scores: LongScores, *, seed: Any = None, **options: Any) -> dict[str, Any]:
    """The settings every result carries: roles, instrument, options, seed, criterion, version.

    ``reliable_change_points`` and ``reliable_change_source`` come from the scores unless
    the call overrode them (pass them in ``options``).
    """
    from ._version import __version__

    out: dict[str, Any] = {
        **scores.roles,
        "instrument": scores.instrument.name if scores.instrument is not None else None,
        "better": scores.better,
        "sequence": scores.sequence,
        **scores.reliable_change.settings(),
    }
    out.update(options)
    out["seed"] = seed
    out["toolkit_version"] = __version__
    return out


def deprecated_option(old: str, new: str, function: str, value: Any) -> Any:
    """Warn that ``old=`` is deprecated in favour of ``new=`` and hand the value on."""
    warn(
        f"The '{old}' parameter of {function} is deprecated and will be removed in a later "
        f"release; use '{new}' instead.",
        ToolkitDeprecationWarning,
        stacklevel=4,
    )
    return value


def deprecated_name(old: str, new: Any, module: str) -> Any:
    """Warn that ``module.old`` is deprecated in favour of ``new`` and return ``new``."""
    warn(
        f"{module}.{old} is deprecated and will be removed in a later release; use "
        f"{module}.{new.__name__} instead.",
        ToolkitDeprecationWarning,
        stacklevel=4,
    )
    return new


def toolkit_citation() -> str:
    """How to cite the toolkit in a methods section."""
    from ._references import TOOLKIT_AUTHOR, TOOLKIT_YEAR
    from ._version import __version__

    return (
        f"toolkit (therapy-breakthroughs, version {__version__}; {TOOLKIT_AUTHOR}, "
        f"{TOOLKIT_YEAR}), a Python library for psychotherapy outcome data"
    )


@dataclass(frozen=True, repr=False)
class Result:
    """Base class of analysis results; see the module docstring for the contract."""

    table: pd.DataFrame
    settings: dict[str, Any]
    skipped: pd.DataFrame = field(default_factory=empty_skipped)
    warnings: tuple[str, ...] = ()
    scores: LongScores | None = field(default=None, repr=False)

    #: The method's name as ``breakthroughs()`` reports it.
    method_name = "analysis"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every methods paragraph ends with the full references of the works it cites and
        # of the library itself, so a subclass writes only its paragraph (see
        # toolkit._references).
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("methods_text")
        if own is not None:

            @functools.wraps(own)
            def methods_text(self: Any) -> str:
                return with_references(own(self), cite_toolkit=True)

            cls.methods_text = methods_text  # type: ignore[method-assign]

    @property
    def _scores(self) -> LongScores:
        """The validated scores (every method's result keeps them)."""
        if self.scores is None:
            raise ValueError(f"This {type(self).__name__} keeps no scores.")
        return self.scores

    def summary(self) -> pd.DataFrame:
        """Key figures as a DataFrame (subclasses say which)."""
        return self.table.describe(include="all")

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """The result's plot on ``ax`` (a new figure when None); returns the Axes."""
        raise NotImplementedError(f"{type(self).__name__} has no plot.")

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """The breakthroughs this result found, one row each (:data:`BREAKTHROUGH_COLUMNS`).

        Parameters
        ----------
        direction : {"improvement", "deterioration", "both"}, default "improvement"
            Breakthroughs (improvements), their mirror image (deteriorations), or both.
        """
        raise NotImplementedError(f"{type(self).__name__} reports no breakthroughs.")

    def client_view(self, **options: Any) -> pd.DataFrame:
        """This method's answer for every validated client, for the per-client table.

        One row per client of the scores, with ``client`` and the method's block of
        columns (see :data:`toolkit.per_client.BLOCKS`): its flag (missing where the client
        could not be analysed), what it found, and a note saying why a client was not
        flagged or not analysed.
        """
        raise NotImplementedError(f"{type(self).__name__} has no per-client view.")

    def methods_text(self) -> str:
        """A paragraph describing the analysis, for the methods section of a paper."""
        return (
            f"Analysed with {toolkit_citation()}. Reliable-change criterion: "
            f"{self._criterion_text()}."
        )

    def _criterion_text(self) -> str:
        points = self.settings.get("reliable_change_points")
        source = self.settings.get("reliable_change_source")
        if self.scores is not None and points == self.scores.reliable_change.points:
            return self.scores.reliable_change.description
        if points is None or (isinstance(points, float) and math.isnan(points)):
            return "not available"
        return f"{points:.4g} points ({source})"

    def table_with(self, *covariates: str) -> pd.DataFrame:
        """``table`` with client-level covariates of the scores as extra columns.

        Parameters
        ----------
        *covariates : str
            Names of covariates carried by the validated scores (e.g. ``"arm"``); each
            must be constant within a client.

        Examples
        --------
        >>> import toolkit
        >>> from toolkit import reliable_change
        >>> claus = toolkit.datasets.load("claus2020")
        >>> rc = reliable_change.reliable_change(claus, client="id", session="time",
        ...                                      score="bdi", instrument="BDI-II")
        >>> rc.table_with("treatment").columns[-1]
        'treatment'
        """
        out = self.table.copy()
        for name in covariates:
            values = self._group_values(name)
            if name in out.columns:
                raise ValueError(f"table_with(): {name!r} is already a column of the table.")
            out[name] = values.reindex(out["client"].to_numpy()).to_numpy()
        return out

    def table_as_input(self) -> pd.DataFrame:
        """``table`` with the caller's column names for client (and session), for merging.

        Examples
        --------
        >>> import toolkit
        >>> from toolkit import sudden_gains
        >>> sg = sudden_gains.identify(toolkit.datasets.load_scores("sgdata"))
        >>> sg.table_as_input().columns[:2].tolist()
        ['id', 'kind']
        """
        roles = self.scores.roles if self.scores is not None else {}
        names = {"client": roles.get("client", "client")}
        dates = self.scores is not None and self.scores.settings.get("sessions_from_dates")
        if "session" in self.table.columns and not dates and "session" in roles:
            names["session"] = roles["session"]
        clash = [n for n in names.values() if n in self.table.columns and n not in names]
        if clash:
            raise ValueError(
                f"table_as_input(): the input name(s) {clash} are already columns "
                "of the table; merge on 'client' instead."
            )
        return self.table.rename(columns=names)

    def _group_values(self, covariate: str) -> pd.Series:
        """One group per validated client from a carried client-level covariate."""
        if self.scores is None:
            raise ValueError(f"{type(self).__name__} keeps no scores to group by.")
        return self.scores.client_values(covariate)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: {len(self.table)} rows, {len(self.skipped)} clients "
            f"skipped, {len(self.warnings)} warnings>"
        )

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{type(self).__name__}</b></p>", self.summary().to_html()]
        if len(self.skipped):
            parts.append(
                f"<p>{len(self.skipped)} client(s) skipped; see <code>.skipped</code>.</p>"
            )
        parts += [f"<p>Warning: {w}</p>" for w in self.warnings]
        return "".join(parts)


def skipped_sentence(n: int, reason: str = "could not be analysed") -> str:
    """The methods paragraph's sentence about skipped clients ("3 clients could not be
    analysed.", or that none was left out)."""
    if n == 0:
        return "No client was left out."
    return f"{n} client{'' if n == 1 else 's'} {reason}."


def with_skipped(view: pd.DataFrame, skipped: pd.DataFrame, note: str) -> pd.DataFrame:
    """A client view's analysed rows followed by one row per skipped client, whose ``note``
    column holds the reason it was not analysed (its other columns missing)."""
    if skipped.empty:
        return view
    extra = pd.DataFrame(
        {"client": skipped["client"].to_numpy(), note: skipped["reason"].to_numpy()}
    )
    return pd.concat([view, extra], ignore_index=True)


def check_direction(direction: str, function: str) -> str:
    """Validate a ``direction=`` argument of ``breakthroughs()``."""
    return choice(direction, "direction", function, DIRECTIONS)


def keep_direction(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Rows of a breakthroughs frame in the asked direction, sorted, with fresh index."""
    if direction != "both":
        frame = frame[frame["direction"] == direction]
    return frame.sort_values(["client", "session"], kind="stable", ignore_index=True)[
        BREAKTHROUGH_COLUMNS
    ]


def groups_summary(values: pd.Series, flags: pd.Series, labels: list[str]) -> pd.DataFrame:
    """Counts and shares of a per-client category within groups (for ``summary_by``)."""
    frame = pd.DataFrame({"group": values.to_numpy(), "category": flags.to_numpy()})
    rows = []
    for group, part in frame.groupby("group", sort=True, dropna=False):
        n = len(part)
        for label in labels:
            k = int((part["category"] == label).sum())
            rows.append(
                {"group": group, "category": label, "n": k, "share": k / n if n else np.nan}
            )
    return pd.DataFrame(rows, columns=["group", "category", "n", "share"])
