"""The result of sudden gains: by gain, by client, every interval, counts, groups."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from .._checks import choice
from .._results import (
    BREAKTHROUGH_COLUMNS,
    Direction,
    Result,
    check_direction,
    keep_direction,
    skipped_sentence,
)
from ..data import first_and_last
from ._criteria import (
    DESCRIBE_COLUMNS,
    GAIN_COLUMNS,
    INTERVAL_COLUMNS,
    OFFSET_NAMES,
    OTHER,
    SELECT,
    Criteria,
    criteria,
    examined,
    reason_texts,
    values_around,
    windows,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["SuddenGainsResult", "BY_GROUP_COLUMNS"]

#: Columns of :meth:`SuddenGainsResult.summary_by`.
BY_GROUP_COLUMNS = [
    "group",
    "kind",
    "n_clients",
    "n_clients_analysed",
    "n_clients_with_gains",
    "share_clients_with_gains",
    "n_gains",
]


@dataclass(frozen=True, repr=False)
class SuddenGainsResult(Result):
    """Sudden gains (and/or losses) found by :func:`identify`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per gain or loss, columns :data:`GAIN_COLUMNS` (see :func:`identify`).
    settings : dict
        Every argument, the cut-off actually used, column roles and toolkit version.
    skipped : pandas.DataFrame
        Clients with no interval that could be evaluated, with the reason.
    scores : LongScores
        The validated data the gains were found in.
    reasons : dict
        Per kind, each client's reason for having none (codes of
        :func:`~toolkit.sudden_gains._criteria.why_not`) and the session concerned; read
        through :meth:`client_view`.
    """

    reasons: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    method_name = "sudden gains"

    @functools.cached_property
    def _sequences(self) -> tuple[np.ndarray, np.ndarray]:
        return self._scores.sequence_matrix()

    @functools.cached_property
    def _criteria(self) -> dict[str, Criteria]:
        """Every interval's criteria per kind, recomputed on demand for the audit tables."""
        from ._identify import criteria_options

        x, labels = self._sequences
        first, last = first_and_last(labels >= 0)
        exam = examined(first, last, x.shape[1] - 1, self.settings["first_interval"])
        win = windows(x)
        options = criteria_options(self._scores.sign, self.settings)
        return {k: criteria(x, win, exam, kind=k, **options) for k in self.settings["kinds"]}

    @property
    def gains(self) -> pd.DataFrame:
        """The by-gain table (same as ``table``)."""
        return self.table

    def by_client(
        self,
        select: Literal["first", "last", "largest", "smallest"] = "first",
        kind: Literal["gain", "loss"] | None = None,
    ) -> pd.DataFrame:
        """One row per client: its number of gains and the selected one (ties: the earliest).

        Every validated client is listed; clients without gains have ``n_gains_client`` 0
        and missing gain columns; clients that could not be analysed have it missing.

        Returns
        -------
        pandas.DataFrame
            Column ``client`` followed by the :data:`GAIN_COLUMNS` of the selected gain.
        """
        choice(select, "select", "by_client", SELECT)
        kind = self._one_kind(kind)
        gains = self.table[self.table["kind"] == kind]
        if select in ("first", "last"):
            order = gains.sort_values(
                ["client", "gain_session"], ascending=[True, select == "first"], kind="stable"
            )
        else:
            # Earliest gain among equal magnitudes: sort by session first, stably.
            order = gains.sort_values("gain_session", kind="stable").sort_values(
                ["client", "magnitude"], ascending=[True, select == "smallest"], kind="stable"
            )
        chosen = order.drop_duplicates("client").set_index("client")
        clients = pd.Index(self._scores.clients, name="client")
        out = chosen.reindex(clients).reset_index()
        out["kind"] = kind
        analysed = ~clients.isin(self.skipped["client"])
        out["n_gains_client"] = pd.array(
            np.where(analysed, out["n_gains_client"].fillna(0), np.nan), dtype="Int64"
        )
        out["reversal"] = out["reversal"].astype("boolean")
        for name in ("gain_number", "pre_session", "gain_session", "n_pre", "n_post"):
            out[name] = out[name].astype("Int64")
        return out[GAIN_COLUMNS]

    def describe(
        self, select: Literal["first", "last", "largest", "smallest"] | None = None
    ) -> pd.DataFrame:
        """Counts and magnitudes, one row per kind, as the sudden-gains literature reports them.

        Parameters
        ----------
        select : {"first", "last", "largest", "smallest"}, optional
            Describe one gain per client (as in a by-client table) instead of every gain.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`DESCRIBE_COLUMNS`. Shares of clients are of all validated clients;
            ``share_reversals`` is of the gains described.
        """
        rows = []
        n_all = self._scores.n_clients
        n_analysed = n_all - len(self.skipped)
        for kind in self.settings["kinds"]:
            gains = self.table[self.table["kind"] == kind]
            per_client = gains.groupby("client").size()
            described = (
                gains
                if select is None
                else self.by_client(select, kind).dropna(subset=["gain_session"])
            )
            rows.append(
                {
                    "kind": kind,
                    "selection": select or "all",
                    "n_clients": n_all,
                    "n_clients_analysed": n_analysed,
                    "n_gains": len(gains),
                    "n_clients_with_gains": len(per_client),
                    "share_clients_with_gains": len(per_client) / n_all,
                    "n_clients_multiple": int((per_client > 1).sum()),
                    "share_clients_multiple": int((per_client > 1).sum()) / n_all,
                    "n_reversals": int(described["reversal"].sum()),
                    "share_reversals": (described["reversal"].mean() if len(described) else np.nan),
                    "magnitude_mean": described["magnitude"].mean(),
                    "magnitude_sd": described["magnitude"].std(),
                }
            )
        return pd.DataFrame(rows, columns=DESCRIBE_COLUMNS)

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`describe`."""
        return self.describe()

    def intervals(self) -> pd.DataFrame:
        """Every examined interval of every analysed client with each criterion's value.

        Criteria are nullable booleans: ``<NA>`` where the data do not allow the criterion
        (or it is switched off); ``sudden`` is missing when any switched-on criterion is.
        For teaching and auditing; on very large data prefer :meth:`interval_counts`.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`INTERVAL_COLUMNS`.
        """
        x, labels = self._sequences
        parts = []
        for kind, c in self._criteria.items():
            rows, ks = np.nonzero(c.examined)
            col = {}
            for i in (1, 2, 3):
                if i in c.crit:
                    col[f"crit{i}"] = pd.array(
                        np.where(c.valid[i][rows, ks], c.crit[i][rows, ks], False), dtype="boolean"
                    )
                    col[f"crit{i}"][~c.valid[i][rows, ks]] = pd.NA
                else:
                    col[f"crit{i}"] = pd.array([pd.NA] * len(rows), dtype="boolean")
            sudden = pd.array(c.sudden[rows, ks], dtype="boolean")
            sudden[c.missing[rows, ks]] = pd.NA
            parts.append(
                pd.DataFrame(
                    {
                        "client": self._scores.clients.take(rows),
                        "kind": kind,
                        "pre_session": labels[rows, ks],
                        "post_session": labels[rows, ks + 1],
                        "score_n": x[rows, ks],
                        "score_np1": x[rows, ks + 1],
                        "change": c.change[rows, ks],
                        "n_pre": c.n_pre[rows, ks].astype(np.int64),
                        "n_post": c.n_post[rows, ks].astype(np.int64),
                        "mean_pre": c.mean_pre[rows, ks],
                        "mean_post": c.mean_post[rows, ks],
                        "pooled_sd": c.pooled_sd[rows, ks],
                        "critical_value": c.critical[rows, ks],
                        **col,
                        "sudden": sudden,
                    }
                )
            )
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["client", "pre_session", "kind"], kind="stable", ignore_index=True)[
            INTERVAL_COLUMNS
        ]

    def interval_counts(self) -> pd.DataFrame:
        """How many intervals exist, were examined and could be evaluated, per kind.

        Returns
        -------
        pandas.DataFrame
            Columns ``kind``, ``n_clients``, ``n_intervals`` (every consecutive pair in the
            clients' sequences), ``n_examined`` (without the first and last of each
            sequence, unless ``first_interval``), ``n_available`` (examined intervals whose
            criteria are not missing), ``n_not_available``.
        """
        first, last = first_and_last(self._sequences[1] >= 0)
        analysed = ~self._scores.clients.isin(self.skipped["client"])
        rows = []
        for kind, c in self._criteria.items():
            available = c.examined & ~c.missing
            rows.append(
                {
                    "kind": kind,
                    "n_clients": int(analysed.sum()),
                    "n_intervals": int((last - first)[analysed].sum()),
                    "n_examined": int(c.examined[analysed].sum()),
                    "n_available": int(available[analysed].sum()),
                    "n_not_available": int((c.examined & c.missing)[analysed].sum()),
                }
            )
        return pd.DataFrame(rows)

    def around(self, value: str = "score") -> pd.DataFrame:
        """Values of a measure at sessions N-2 .. N+3 around each gain (e.g. a process measure).

        Parameters
        ----------
        value : str, default "score"
            ``"score"`` or a numeric covariate of the validated data.

        Returns
        -------
        pandas.DataFrame
            Columns ``client``, ``kind``, ``gain_session`` and ``nm2``, ``nm1``, ``n``,
            ``np1``, ``np2``, ``np3``; one row per gain, in the order of ``table``.
        """
        x, labels = self._scores.sequence_matrix(value)
        rows = self._scores.clients.get_indexer(self.table["client"])
        # The column of each gain's pre-gain session in its client's sequence.
        hit = labels[rows] == self.table["pre_session"].to_numpy()[:, None]
        ks = np.argmax(hit, axis=1) if len(rows) else np.zeros(0, dtype=np.int64)
        values = values_around(x, rows, ks)
        out = self.table[["client", "kind", "gain_session"]].reset_index(drop=True)
        for name, v in zip(OFFSET_NAMES, values.T):
            out[name] = v
        return out

    def client_view(self, **options: Any) -> pd.DataFrame:
        """Every validated client's sudden gains, for the per-client table.

        ``sg_flag``: at least one sudden gain; ``sg_n_gains``, ``sg_session``,
        ``sg_magnitude`` and ``sg_reversed`` describe the first. ``sg_note`` says, for a
        client without a gain, which criterion stopped its most promising interval
        (:func:`toolkit.sudden_gains._criteria.why_not`), or why it was not analysed.
        """
        clients = pd.Index(self._scores.clients, name="client")
        if "gain" not in self.settings["kinds"]:
            return pd.DataFrame(
                {
                    "client": clients,
                    "sg_flag": pd.array([pd.NA] * len(clients), dtype="boolean"),
                    "sg_note": "only sudden losses were searched",
                }
            )
        first = self.by_client("first", kind="gain")
        analysed = ~clients.isin(self.skipped["client"])
        has = first["n_gains_client"].fillna(0).to_numpy(dtype=float) > 0
        reversed_ = first["reversal"].fillna(False).to_numpy(dtype=bool)
        code = self.reasons["gain"][0] if "gain" in self.reasons else np.full(len(has), OTHER)
        st = self.settings
        texts = reason_texts("gain", st["min_change_value"], st["min_change"] == "reliable_change")
        words = np.array([*texts, "sudden gain", "sudden gain, later reversed"], dtype=object)
        chosen = np.where(has, np.where(reversed_, len(texts) + 1, len(texts)), code)
        note = words[chosen]
        if (~analysed).any():
            reasons = self.skipped.set_index("client")["reason"]
            note[~analysed] = reasons.reindex(clients[~analysed]).to_numpy()
        flag = pd.array(has, dtype="boolean")
        flag[~analysed] = pd.NA
        return pd.DataFrame(
            {
                "client": clients,
                "sg_flag": flag,
                "sg_n_gains": first["n_gains_client"].to_numpy(dtype=float, na_value=np.nan),
                "sg_session": first["gain_session"].to_numpy(dtype=float, na_value=np.nan),
                "sg_magnitude": first["magnitude"].to_numpy(dtype=float),
                "sg_reversed": first["reversal"].astype("boolean").to_numpy(),
                "sg_note": note,
            }
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Sudden gains (improvements) and sudden losses (deteriorations), one row each.

        ``session`` is the gain session (N+1, the first session at the new level) and
        ``size`` the magnitude; see :data:`toolkit._results.BREAKTHROUGH_COLUMNS`.
        """
        check_direction(direction, "SuddenGainsResult.breakthroughs")
        t = self.table
        frame = pd.DataFrame(
            {
                "client": t["client"].to_numpy(),
                "session": t["gain_session"].to_numpy(),
                "size": t["magnitude"].to_numpy(dtype=float),
                "direction": np.where(t["kind"] == "gain", "improvement", "deterioration"),
                "method": self.method_name,
            }
        )
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def summary_by(self, covariate: str) -> pd.DataFrame:
        """Clients with gains (and losses) within groups of a carried client-level covariate.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`BY_GROUP_COLUMNS`: per group and kind, the clients, the clients
            analysed, the clients with at least one gain, their share of the group's clients
            and the number of gains.

        Raises
        ------
        ValueError
            The covariate is not carried, or varies within clients.
        """
        groups = self._group_values(covariate)
        analysed = ~groups.index.isin(self.skipped["client"])
        rows = []
        for kind in self.settings["kinds"]:
            gains = self.table[self.table["kind"] == kind]
            with_gain = groups.index.isin(gains["client"])
            n_gains = gains.groupby("client").size().reindex(groups.index, fill_value=0)
            frame = pd.DataFrame(
                {
                    "group": groups.to_numpy(),
                    "analysed": analysed,
                    "with": with_gain,
                    "n": n_gains.to_numpy(),
                }
            )
            for group, part in frame.groupby("group", sort=True, dropna=False):
                rows.append(
                    {
                        "group": group,
                        "kind": kind,
                        "n_clients": len(part),
                        "n_clients_analysed": int(part["analysed"].sum()),
                        "n_clients_with_gains": int(part["with"].sum()),
                        "share_clients_with_gains": float(part["with"].mean()),
                        "n_gains": int(part["n"].sum()),
                    }
                )
        return pd.DataFrame(rows, columns=BY_GROUP_COLUMNS)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        kinds = " and ".join(
            {"gain": "sudden gains", "loss": "sudden losses"}[k] for k in st["kinds"]
        )
        parts = []
        if st["min_change_value"] is not None:
            shared = st["min_change"] == "reliable_change" and st["min_change_source"] != "per call"
            source = "the reliable-change criterion" if shared else st["min_change_source"]
            parts.append(f"(1) a change of at least {st['min_change_value']:.3g} points ({source})")
        elif st["min_change_source"] == "not computed":
            parts.append("(1) not applied, because no reliable-change criterion was available")
        if st["proportion"] is not None:
            parts.append(f"(2) at least {st['proportion']:.0%} of the pre-gain score")
        if st["crit3"]:
            parts.append(
                "(3) a pre-gain and post-gain mean difference beyond the critical t "
                f"(two-sided alpha {st['alpha']}"
                + (
                    ", adjusted for missing values as in Lutz et al., 2013)"
                    if st["adjust_critical_value"]
                    else ")"
                )
            )
        text = (
            f"{kinds.capitalize()} were identified with the criteria of Tang and DeRubeis "
            f"(1999): {'; '.join(parts)}. Sessions were each client's own session numbers"
            + (
                " read as consecutive positions"
                if st.get("sequence") == "positions"
                else ", a gap being a missed session"
            )
            + ". "
            + skipped_sentence(len(self.skipped), "had no interval that could be evaluated")
            + " "
        )
        return text + super().methods_text()

    def plot(
        self,
        client: Any = None,
        *,
        ax: Axes | None = None,
        value: str = "score",
        kind: str | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Average scores around the gains with 95% CIs (:func:`toolkit.plots.around_gains`),
        or one client's scores with its gains marked (:func:`toolkit.plots.client_trajectory`).
        """
        if client is not None:
            from ..plots.trajectories import client_trajectory

            return client_trajectory(self._scores, client, gains=self, ax=ax, **kwargs)
        from ..plots.sudden_gains import around_gains

        return around_gains(self, ax=ax, value=value, kind=kind, **kwargs)

    def _one_kind(self, kind: str | None) -> Literal["gain", "loss"]:
        kinds = self.settings["kinds"]
        if kind is None:
            if len(kinds) > 1:
                raise ValueError(
                    "This result holds gains and losses: pass kind='gain' or kind='loss'."
                )
            return kinds[0]
        kind = {"gains": "gain", "losses": "loss"}.get(kind, kind)
        if kind not in kinds:
            raise ValueError(f"kind must be one of {list(kinds)}; got {kind!r}.")
        return cast(Literal["gain", "loss"], kind)  # one of settings["kinds"]
