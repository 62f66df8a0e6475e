"""The per-client answer across methods: who had a breakthrough, by which method, and why not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._results import (
    BREAKTHROUGH_COLUMNS,
    Direction,
    Result,
    check_direction,
    keep_direction,
    toolkit_citation,
)
from ._agreement import agreement, disagreements
from ._statistics import wilson_interval
from ._table import BLOCKS, LABELS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["BreakthroughsResult", "SUMMARY_COLUMNS", "BY_GROUP_COLUMNS"]

#: Columns of :meth:`BreakthroughsResult.summary`: one row per method.
SUMMARY_COLUMNS = [
    "method",
    "n_clients",
    "n_analysed",
    "n_flagged",
    "share",
    "share_lower",
    "share_upper",
]
#: Columns of :meth:`BreakthroughsResult.summary_by`: one row per group and method.
BY_GROUP_COLUMNS = ["group", *SUMMARY_COLUMNS]


def _counts(table: pd.DataFrame, methods: list[str], level: float) -> pd.DataFrame:
    rows = []
    for m in methods:
        flag = table[BLOCKS[m][0]]
        n, k = int(flag.notna().sum()), int(flag.fillna(False).astype(bool).sum())
        lo, hi = wilson_interval(k, n, level)
        rows.append(
            {
                "method": LABELS[m],
                "n_clients": len(table),
                "n_analysed": n,
                "n_flagged": k,
                "share": k / n if n else np.nan,
                "share_lower": float(lo),
                "share_upper": float(hi),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dataclass(frozen=True, repr=False)
class BreakthroughsResult(Result):
    """Who had a breakthrough: one row per validated client, every method side by side.

    Built by :func:`toolkit.breakthroughs`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per validated client (none lost); columns :data:`TABLE_COLUMNS` followed
        by the client-level covariates the scores carry. Each method's block of columns
        (``rc_``, ``sg_``, ``cp_``, ``bayes_``) comes from that method's result; its
        ``*_flag`` is missing for clients the method could not analyse, and its ``*_note``
        says why, or why a client was not flagged ("not run" when the method was left out).
    results : dict
        The method results the table was built from, by method name.
    methods : tuple of str
        The methods that were run, in table order.
    """

    results: dict[str, Result] = field(default_factory=dict)
    methods: tuple[str, ...] = ()

    method_name = "breakthroughs across methods"

    @property
    def level(self) -> float:
        return float(self.settings.get("level", 0.95))

    def summary(self) -> pd.DataFrame:
        """Clients flagged by each method, with Wilson intervals of the share.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SUMMARY_COLUMNS`: per method the clients, the clients analysed,
            those flagged, their share of the analysed clients and its Wilson interval at
            ``settings["level"]``.
        """
        return _counts(self.table, list(self.methods), self.level)

    def summary_by(self, covariate: str) -> pd.DataFrame:
        """:meth:`summary` within groups of a carried client-level covariate (e.g. an arm).

        Raises
        ------
        ValueError
            The covariate is not carried, varies within clients, or matches no client.
        """
        groups = self._group_values(covariate)
        if groups.notna().sum() == 0:
            raise ValueError(
                f"The covariate {covariate!r} is missing for every client, so no "
                "client falls into a group."
            )
        table = self.table.assign(_group=groups.reindex(self.table["client"]).to_numpy())
        parts = []
        for group, part in table.groupby("_group", sort=True, dropna=False):
            counts = _counts(part, list(self.methods), self.level)
            counts.insert(0, "group", group)
            parts.append(counts)
        return pd.concat(parts, ignore_index=True)[BY_GROUP_COLUMNS]

    def agreement(self) -> pd.DataFrame:
        """For every pair of methods: both / only one / neither, agreement and Cohen's kappa.

        Returns
        -------
        pandas.DataFrame
            Columns ``method_a``, ``method_b``, ``n_clients`` (analysed by both), ``both``,
            ``only_a``, ``only_b``, ``neither``, ``agreement`` (share agreeing) and
            ``kappa`` (Cohen, 1960; NaN when either method flags everyone or no one).
        """
        return agreement(self.table, list(self.methods))

    def disagreements(self) -> pd.DataFrame:
        """Every client on which two methods disagree, with the reason in words.

        Returns
        -------
        pandas.DataFrame
            Columns ``client``, ``method_a``, ``method_b``, ``flagged_by`` (the method that
            flagged the client), ``other_analysed`` (False when the other method could not
            analyse the client: such rows are not disagreements among clients both
            analysed, so they are not in :meth:`agreement`'s ``only_a`` / ``only_b``) and
            ``reason`` (e.g. "sudden gains: no session-to-session drop reached the 6-point
            reliable-change criterion (criterion 1)").
        """
        return disagreements(self.table, list(self.methods))

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Every included method's breakthroughs, one row each (``method`` tells which)."""
        check_direction(direction, "BreakthroughsResult.breakthroughs")
        parts = [r.breakthroughs(direction=direction) for r in self.results.values()]
        if not parts:
            return keep_direction(pd.DataFrame(columns=BREAKTHROUGH_COLUMNS), direction)
        return keep_direction(pd.concat(parts, ignore_index=True), direction)

    def methods_text(self) -> str:
        """A methods paragraph for a paper: every method, then how they were compared."""
        paragraphs = []
        for r in self.results.values():
            text = r.methods_text()
            cut = text.find(" Analysed with toolkit")
            paragraphs.append(text[:cut] if cut > 0 else text)
        agree = self.agreement()
        if len(agree):
            pairs = "; ".join(
                f"{a} and {b}: kappa {k:.2f}"
                for a, b, k in zip(agree["method_a"], agree["method_b"], agree["kappa"])
            )
            paragraphs.append(
                "Agreement between methods on which clients had a breakthrough was summarised "
                f"by Cohen's (1960) kappa ({pairs}); shares of clients are given with Wilson "
                f"(1927) {self.level:.0%} intervals."
            )
        if "reliable_change" in self.results:
            # The reliable-change paragraph already states the criterion and its source.
            paragraphs.append(f"Analysed with {toolkit_citation()}.")
        else:
            paragraphs.append(super().methods_text())
        return " ".join(paragraphs)

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Which clients each method flags: a tile chart (see
        :func:`toolkit.plots.breakthrough_tiles`)."""
        from ..plots.per_client import breakthrough_tiles

        return breakthrough_tiles(self, ax=ax, highlight=client, **kwargs)

    def __repr__(self) -> str:
        flagged = {
            LABELS[m]: int(self.table[BLOCKS[m][0]].fillna(False).astype(bool).sum())
            for m in self.methods
        }
        return f"<BreakthroughsResult: {len(self.table)} clients; flagged {flagged}>"
