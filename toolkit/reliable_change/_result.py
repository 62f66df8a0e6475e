"""The result of reliable change: per-client categories, counts, groups, breakthroughs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .._results import (
    BREAKTHROUGH_COLUMNS,
    Direction,
    Result,
    check_direction,
    empty_breakthroughs,
    keep_direction,
    skipped_sentence,
    with_skipped,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "ReliableChangeResult",
    "Cutoffs",
    "METHODS",
    "CATEGORIES",
    "TABLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "COEFFICIENT_COLUMNS",
    "method_key",
    "METHOD_ALIASES",
]

#: The RCI methods: canonical name -> the abbreviation used in the literature.
METHODS: dict[str, str] = {
    "jacobson_truax": "JT",
    "gulliksen_lord_novick": "GLN",
    "hsu_linn_lord": "HLL",
    "edwards_nunnally": "EN",
    "nunnally_kotsch": "NK",
    "hageman_arrindell": "HA",
    "hlm": "HLM",
}

#: The categories, from best to worst outcome (the order of :meth:`ReliableChangeResult.summary`).
CATEGORIES: tuple[str, ...] = (
    "recovered",
    "reliably improved",
    "unchanged",
    "reliably deteriorated",
    "harmed",
)

#: Columns of :attr:`ReliableChangeResult.table`, whatever the options.
TABLE_COLUMNS: list[str] = [
    "client",
    "pre_session",
    "post_session",
    "pre",
    "post",
    "change",
    "improvement",
    "rci",
    "reliable_improvement",
    "reliable_deterioration",
    "clinical_pre",
    "clinical_post",
    "category",
]

#: Columns of :meth:`ReliableChangeResult.summary`.
SUMMARY_COLUMNS: list[str] = ["category", "n", "share"]

#: Columns of :attr:`ReliableChangeResult.coefficients` (the HLM method only).
COEFFICIENT_COLUMNS: list[str] = ["client", "slope", "slope_se", "deviation", "deviation_se"]

_CUTOFF_TYPES = ("a", "b", "c", "instrument")
_HLM_MIN_OBSERVED = 3
_SHOW = 5


def method_key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


METHOD_ALIASES: dict[str, str] = {
    **{k: k for k in METHODS},
    **{method_key(v): k for k, v in METHODS.items()},
}


# --- Results --------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class ReliableChangeResult(Result):
    """Per-client reliable change and clinical significance. Built by :func:`reliable_change`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed client; columns :data:`TABLE_COLUMNS` (see
        :func:`reliable_change`, Returns).
    settings : dict
        Every argument as passed, the column roles, ``score_label``, the reliable-change
        keys and the toolkit version.
    skipped : pandas.DataFrame
        Clients not analysed: ``client``, ``reason``.
    warnings : tuple of str
        Problems met on the way (also raised as :class:`toolkit.errors.ToolkitWarning`).
    parameters : dict
        The numbers the classification used: ``method``, ``n_clients``, ``reliability``,
        ``reliability_post``, ``sd`` and ``sd_source``, the sample's ``mean_pre``,
        ``sd_pre``, ``mean_post``, ``sd_post`` and ``r_pre_post``, ``se_measurement``,
        ``s_diff``, ``se_prediction``, ``r_dd`` (Hageman-Arrindell), ``critical_value``,
        ``sided``, ``band`` (``(intercept, slope, half_width)`` of the no-reliable-change band
        in the pre/post plane, None for HLM), ``rc_points`` (Jacobson-Truax only: the smallest
        reliable change in score points), ``criterion`` (where ``rc_points`` comes from),
        ``clinical`` and ``functional`` (mean, SD) with their ``*_source``, ``cutoffs``
        (a, b, c), ``cutoff_type`` and ``cutoff`` (the value used, None without clinical
        significance), ``better``.
    coefficients : pandas.DataFrame or None
        HLM method only: per client ``client``, ``slope`` (empirical-Bayes estimate of the
        client's own slope, fixed + random part, score points per session), ``slope_se``,
        ``deviation`` (the random part alone) and ``deviation_se``.
    sm_result : statsmodels MixedLMResults or None
        HLM method only: the fitted growth model.
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    coefficients: pd.DataFrame | None = None
    sm_result: Any = None

    method_name = "reliable change"

    @property
    def computed(self) -> bool:
        """Whether the index could be computed (False without any reliable-change criterion)."""
        return bool(self.parameters.get("computed", True))

    def summary(self) -> pd.DataFrame:
        """Number and share of clients per category.

        Returns
        -------
        pandas.DataFrame
            One row per category in the order of :data:`CATEGORIES` (all five, also when
            empty): ``category``, ``n`` (clients) and ``share`` (of the analysed clients).
            Both are missing (not 0) when no reliable-change criterion was available.
        """
        if not self.computed:
            return pd.DataFrame(
                {
                    "category": list(CATEGORIES),
                    "n": pd.array([pd.NA] * len(CATEGORIES), dtype="Int64"),
                    "share": np.full(len(CATEGORIES), np.nan),
                }
            )
        counts = self.table["category"].value_counts(sort=False).reindex(list(CATEGORIES))
        n = counts.fillna(0).astype(np.int64).to_numpy()
        total = n.sum()
        return pd.DataFrame(
            {
                "category": list(CATEGORIES),
                "n": n,
                "share": n / total if total else np.full(len(n), np.nan),
            }
        )

    def summary_by(self, groups: str | pd.Series | Mapping[Any, Any]) -> pd.DataFrame:
        """:meth:`summary` within groups of clients (e.g. treatment arms).

        Parameters
        ----------
        groups : str, pandas.Series or dict
            The name of a client-level covariate carried by the scores (e.g. ``"arm"``), or
            the group of each client, indexed (keyed) by client id. Clients without a group
            form the group NaN.

        Returns
        -------
        pandas.DataFrame
            ``group``, ``category``, ``n``, ``share`` (within the group); every category for
            every group.

        Raises
        ------
        ValueError
            The grouping matches none of the analysed clients, or lists a client twice.

        Examples
        --------
        >>> import toolkit
        >>> from toolkit.reliable_change import reliable_change
        >>> claus = toolkit.datasets.load("claus2020")
        >>> result = reliable_change(claus, client="id", session="time", score="bdi",
        ...                          instrument="BDI-II", pre_session=1, post_session=4)
        >>> result.summary_by("treatment").query("category == 'recovered'")
          group   category  n     share
        0    PA  recovered  6  0.285714
        5   TAU  recovered  2  0.105263
        """
        if isinstance(groups, str):
            mapping = self._group_values(groups)
        else:
            mapping = pd.Series(groups) if not isinstance(groups, pd.Series) else groups
        if mapping.index.has_duplicates:
            raise ValueError("'groups' lists a client more than once; give one group per client.")
        clients = self.table["client"].to_numpy()
        if len(clients) and not mapping.index.isin(clients).any():
            raise ValueError(
                f"The grouping matches none of the {len(clients)} analysed clients (its index "
                f"starts {mapping.index.tolist()[:3]}, the clients {clients[:3].tolist()}). "
                "Fix: index the groups by client id, or name a carried covariate."
            )
        group = pd.Series(mapping.reindex(clients).to_numpy())
        codes, levels = pd.factorize(group, sort=True, use_na_sentinel=False)
        n_cat = len(CATEGORIES)
        # Every (group, category) cell, also the empty ones.
        cell = codes * n_cat + self.table["category"].cat.codes.to_numpy()
        n = np.bincount(
            cell[self.table["category"].cat.codes.to_numpy() >= 0], minlength=len(levels) * n_cat
        ).reshape(len(levels), n_cat)
        totals = n.sum(axis=1, keepdims=True)
        return pd.DataFrame(
            {
                "group": np.repeat(np.asarray(levels, dtype=object), n_cat),
                "category": np.tile(np.array(CATEGORIES, dtype=object), len(levels)),
                "n": n.reshape(-1).astype(np.int64),
                "share": (n / np.where(totals > 0, totals, np.nan)).reshape(-1),
            }
        )

    def client_view(self, **options: Any) -> pd.DataFrame:
        """Every validated client's reliable change, for the per-client table.

        ``rc_flag`` is a reliable improvement (reliably improved or recovered); ``rc_note``
        the client's category, or why it was not flagged or could not be analysed.
        """
        t = self.table
        p = self.parameters
        category = t["category"].astype(object).to_numpy()
        if not self.computed:
            note = np.full(len(t), "not computed: no reliable-change criterion", dtype=object)
        else:
            points = p.get("rc_points")
            small = (
                f"change too small for the {points:.4g}-point reliable-change criterion"
                if points is not None
                else f"index within the +/-{p['critical_value']:.3g} band"
            )
            known = pd.notna(category)
            note = np.where(known, category, "no change could be computed")
            note[known & (category == "unchanged")] = small
        view = pd.DataFrame(
            {
                "client": t["client"].to_numpy(),
                "rc_flag": t["reliable_improvement"].to_numpy(),
                "rc_category": category,
                "rc_rci": t["rci"].to_numpy(dtype=float),
                "rc_change": t["improvement"].to_numpy(dtype=float),
                "rc_note": note,
            }
        )
        return with_skipped(view, self.skipped, "rc_note")

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Clients with a reliable improvement (or deterioration), one row each.

        ``session`` is the post session (where the reliable change is seen) and ``size``
        the absolute change in points; see :data:`toolkit._results.BREAKTHROUGH_COLUMNS`.
        """
        check_direction(direction, "ReliableChangeResult.breakthroughs")
        if not self.computed:
            return empty_breakthroughs()
        t = self.table
        parts = []
        for name, column in (
            ("improvement", "reliable_improvement"),
            ("deterioration", "reliable_deterioration"),
        ):
            hit = t[t[column].fillna(False).astype(bool)]
            parts.append(
                pd.DataFrame(
                    {
                        "client": hit["client"].to_numpy(),
                        "session": hit["post_session"].to_numpy(),
                        "size": np.abs(hit["improvement"].to_numpy(dtype=float)),
                        "direction": name,
                        "method": self.method_name,
                    }
                )
            )
        return keep_direction(pd.concat(parts, ignore_index=True)[BREAKTHROUGH_COLUMNS], direction)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        p, s = self.parameters, self.settings
        name = {
            "jacobson_truax": "Jacobson and Truax's (1991) reliable change index",
            "gulliksen_lord_novick": "the Gulliksen-Lord-Novick index (Hsu, 1989)",
            "hsu_linn_lord": "the Hsu-Linn-Lord index (Hsu, 1989)",
            "edwards_nunnally": "the Edwards-Nunnally index (Speer, 1992)",
            "nunnally_kotsch": "the Nunnally-Kotsch index (Nunnally & Kotsch, 1983)",
            "hageman_arrindell": "the Hageman-Arrindell index (1999)",
            "hlm": "empirical-Bayes growth slopes (HLM method; Raudenbush & Bryk, 2002)",
        }.get(str(p.get("method")), str(p.get("method")))
        pre = (
            "each client's first observed score"
            if s.get("pre_session") is None
            else (f"session {s['pre_session']}")
        )
        post = (
            "the last observed score"
            if s.get("post_session") is None
            else (f"session {s['post_session']}")
        )
        text = (
            f"Reliable change from {pre} to {post} was assessed with {name}"
            f" for {p.get('n_clients', len(self.table))} clients"
        )
        if not self.computed:
            return (
                text + "; it could not be computed: no reliable-change criterion was "
                "available. " + super().methods_text()
            )
        if p.get("rc_points") is not None:
            text += (
                f"; a change of at least {p['rc_points']:.3g} points was reliable "
                f"({p.get('criterion', self._criterion_text())})"
            )
        if p.get("cutoff") is not None:
            text += (
                f". Clinically significant change used the cut-off "
                f"{p['cutoff']:.4g} ({p.get('cutoff_type')}); recovered = reliably "
                "improved and moved from the clinical into the functional range"
            )
        return text + ". " + skipped_sentence(len(self.skipped)) + " " + super().methods_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Jacobson-Truax plot; see :func:`toolkit.plots.jacobson_truax` (``client`` is
        highlighted)."""
        from ..plots.reliable_change import jacobson_truax

        return jacobson_truax(self, ax=ax, highlight=client, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<ReliableChangeResult {self.parameters.get('method', '?')}: "
            f"{len(self.table)} clients, {len(self.skipped)} skipped, "
            f"{len(self.warnings)} warnings>"
        )


class Cutoffs(NamedTuple):
    """Jacobson & Truax's (1991) clinical cut-offs, in score points (NaN when not computable).

    a : the clinical mean plus/minus two clinical SDs, towards the better end;
    b : the functional mean plus/minus two functional SDs, towards the worse end;
    c : the point between the two means weighted by their SDs.
    """

    a: float
    b: float
    c: float
