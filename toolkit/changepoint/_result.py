"""The results of change-point detection and of the at-most-one-change test."""

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
    skipped_sentence,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "ChangePointsResult",
    "AmocResult",
    "CHANGE_COLUMNS",
    "SEGMENT_COLUMNS",
    "CLIENT_COLUMNS",
    "AMOC_COLUMNS",
    "CONFIDENCE_SET_COLUMNS",
    "SUMMARY_COLUMNS",
    "BY_GROUP_COLUMNS",
    "BreakpointResult",
    "BREAKPOINT_COLUMNS",
    "DAVIES_COLUMNS",
    "BREAKPOINT_SUMMARY_COLUMNS",
]

#: Columns of :attr:`ChangePointsResult.table` (one row per detected change).
CHANGE_COLUMNS = [
    "client",
    "change",
    "session",
    "last_pre_session",
    "n_pre",
    "n_post",
    "pre_mean",
    "post_mean",
    "pre_slope",
    "post_slope",
    "pre_sd",
    "post_sd",
    "jump",
    "slope_change",
    "jump_sd",
    "jump_rci",
    "p_value",
    "breakthrough",
]
#: Columns of :attr:`ChangePointsResult.segments` (one row per fitted segment).
SEGMENT_COLUMNS = [
    "client",
    "segment",
    "first_session",
    "last_session",
    "n",
    "mean",
    "slope",
    "sd",
    "fit_start",
    "fit_end",
]
#: Columns of :attr:`ChangePointsResult.clients` (one row per analysed client).
CLIENT_COLUMNS = [
    "client",
    "n_observed",
    "n_changes",
    "noise_sd",
    "residual_sd",
    "objective",
    "p_value",
]
#: Columns of :attr:`AmocResult.table` (one row per tested client).
AMOC_COLUMNS = [
    "client",
    "session",
    "statistic",
    "p_value",
    "pre_mean",
    "post_mean",
    "jump",
    "ci_lower",
    "ci_upper",
    "n_in_set",
]
#: Columns of :attr:`AmocResult.confidence_sets` (one row per client and candidate session).
CONFIDENCE_SET_COLUMNS = ["client", "session", "lr", "in_set"]

#: Columns of :attr:`BreakpointResult.table` (one row per analysed client).
BREAKPOINT_COLUMNS = [
    "client",
    "n_observed",
    "breakpoint",
    "breakpoint_se",
    "ci_lower",
    "ci_upper",
    "at_session",
    "session",
    "fit_at_breakpoint",
    "slope_before",
    "slope_before_se",
    "slope_after",
    "slope_after_se",
    "slope_change",
    "slope_change_se",
    "residual_sd",
    "rss",
    "rss_linear",
    "davies_statistic",
    "davies_best",
    "p_value",
]
#: Columns of :attr:`BreakpointResult.davies` (one row per client and evaluated breakpoint).
DAVIES_COLUMNS = ["client", "psi", "statistic"]
#: Columns of :meth:`BreakpointResult.summary`.
BREAKPOINT_SUMMARY_COLUMNS = [
    "n_clients",
    "n_skipped",
    "n_significant",
    "median_breakpoint",
    "median_slope_before",
    "median_slope_after",
]

#: Columns of :meth:`ChangePointsResult.summary`.
SUMMARY_COLUMNS = [
    "model",
    "penalty",
    "noise_sd",
    "n_clients",
    "n_skipped",
    "n_with_change",
    "n_changes",
    "mean_changes",
    "n_breakthroughs",
    "n_clients_breakthrough",
]
#: Columns of :meth:`ChangePointsResult.summary_by`.
BY_GROUP_COLUMNS = [
    "group",
    "n_clients",
    "n_analysed",
    "n_with_change",
    "n_clients_breakthrough",
    "share_clients_breakthrough",
]


@dataclass(frozen=True, repr=False)
class ChangePointsResult(Result):
    """Change points of every client; returned by :func:`detect`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per detected change; columns :data:`CHANGE_COLUMNS` (see :func:`detect`).
    segments : pandas.DataFrame
        One row per fitted segment; columns :data:`SEGMENT_COLUMNS`.
    clients : pandas.DataFrame
        One row per analysed client; columns :data:`CLIENT_COLUMNS`.
    skipped : pandas.DataFrame
        Clients not analysed (``client``, ``reason``).
    settings : dict
        Every argument, the noise SD used, the reliable-change keys, the column roles and
        the toolkit version.
    warnings : tuple of str
        Problems met during the fit.
    scores : LongScores
        The validated data (for plots).
    """

    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    clients: pd.DataFrame = field(default_factory=pd.DataFrame)

    method_name = "change points"

    def summary(self) -> pd.DataFrame:
        """One row: model, penalty, noise SD, clients analysed/skipped, clients with changes,
        changes, breakthroughs.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SUMMARY_COLUMNS`. ``n_breakthroughs`` (changes) and
            ``n_clients_breakthrough`` (clients with at least one) are missing, not 0, when
            there is no reliable-change criterion.
        """
        c = self.clients
        flags = self.table["breakthrough"]
        known = self.settings.get("reliable_change_points") is not None
        n_bt: Any = int(flags.fillna(False).sum()) if known else pd.NA
        n_cl: Any = (
            int(self.table.loc[flags.fillna(False).astype(bool), "client"].nunique())
            if known
            else pd.NA
        )
        return pd.DataFrame(
            {
                "model": [self.settings["model"]],
                "penalty": [str(self.settings["penalty"])],
                "noise_sd": [
                    "per segment"
                    if self.settings["model"] == "meanvar"
                    else str(self.settings["noise_sd"])
                ],
                "n_clients": [len(c)],
                "n_skipped": [len(self.skipped)],
                "n_with_change": [int((c["n_changes"] > 0).sum())],
                "n_changes": [int(c["n_changes"].sum())],
                "mean_changes": [float(c["n_changes"].mean()) if len(c) else np.nan],
                "n_breakthroughs": pd.array([n_bt], dtype="Int64"),
                "n_clients_breakthrough": pd.array([n_cl], dtype="Int64"),
            }
        )[SUMMARY_COLUMNS]

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Changes whose jump is at least the reliable-change criterion, one row each.

        A jump in the improving direction is an improvement (a breakthrough), one in the
        worsening direction a deterioration; ``size`` is the absolute jump. Empty when there
        is no criterion (see ``settings["reliable_change_source"]``).
        """
        check_direction(direction, "ChangePointsResult.breakthroughs")
        points = self.settings.get("reliable_change_points")
        t = self.table
        if points is None or self.scores is None:
            big = np.zeros(len(t), dtype=bool)
        else:
            big = np.abs(t["jump"].to_numpy(dtype=float)) >= points
        sign = self.scores.sign if self.scores is not None and self.scores.better else 1
        improving = -sign * t["jump"].to_numpy(dtype=float) > 0
        hit = t[big]
        frame = pd.DataFrame(
            {
                "client": hit["client"].to_numpy(),
                "session": hit["session"].to_numpy(),
                "size": np.abs(hit["jump"].to_numpy(dtype=float)),
                "direction": np.where(improving[big], "improvement", "deterioration"),
                "method": self.method_name,
            }
        )
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def client_view(self, **options: Any) -> pd.DataFrame:
        """Every validated client's change points, for the per-client table.

        ``cp_flag``: at least one change whose jump improves by the reliable-change
        criterion or more (missing without a criterion). ``cp_session`` and ``cp_jump``
        (as in ``table``: post minus pre, in score points) describe the first such change;
        for a client without one, its most improving change, else its largest worsening
        one. ``cp_p_value`` is the client's at-most-one-change test (``test=True``).
        """
        scores = self._scores
        clients = pd.Index(scores.clients, name="client")
        n = len(clients)
        t = self.table
        row = clients.get_indexer(t["client"])
        jump = t["jump"].to_numpy(dtype=float)
        improvement = -(scores.sign if scores.better else 1) * jump
        points = self.settings.get("reliable_change_points")
        known = points is not None and not (isinstance(points, float) and np.isnan(points))
        reliable = improvement >= points if known else np.zeros(len(t), dtype=bool)
        # One change per client: its first reliable improvement, else its most improving.
        within = np.where(reliable, t["session"].to_numpy(dtype=float), -improvement)
        order = np.lexsort((within, ~reliable, row))
        pick = order[np.r_[True, row[order][1:] != row[order][:-1]]] if len(t) else order
        chosen = np.full(n, -1)
        chosen[row[pick]] = pick
        has = chosen >= 0
        # Padded by one row so that clients without a change (chosen -1) index something.
        reliable = np.append(reliable, False)
        improvement = np.append(improvement, np.nan)
        jump = np.append(jump, np.nan)
        session = np.append(t["session"].to_numpy(dtype=float), np.nan)
        safe = chosen  # -1 reads the padding
        flag_row = has & reliable[safe]
        n_changes = (
            self.clients.set_index("client")["n_changes"].reindex(clients).to_numpy(dtype=float)
        )
        p_value = self.clients.set_index("client")["p_value"].reindex(clients).to_numpy(float)
        words = np.array(
            [
                "reliable improvement at a change point",
                f"no change point under the {self.settings['penalty']} penalty",
                f"change too small for the {points:.4g}-point reliable-change criterion"
                if known
                else "reliable-change criterion not available",
                "only worsening changes",
            ],
            dtype=object,
        )
        code = np.where(flag_row, 0, np.where(~has, 1, np.where(improvement[safe] > 0, 2, 3)))
        note = words[code]
        if not known:
            note[has] = words[2]
        flag = pd.array(flag_row, dtype="boolean")
        if not known:
            flag[:] = pd.NA
        analysed = clients.isin(self.clients["client"])
        if (~analysed).any():
            flag[~analysed] = pd.NA
            reasons = self.skipped.set_index("client")["reason"]
            note[~analysed] = reasons.reindex(clients[~analysed]).to_numpy()
        return pd.DataFrame(
            {
                "client": clients,
                "cp_flag": flag,
                "cp_n_changes": n_changes,
                "cp_session": session[safe],
                "cp_jump": jump[safe],
                "cp_p_value": p_value,
                "cp_note": note,
            }
        )

    def summary_by(self, covariate: str) -> pd.DataFrame:
        """Clients with a change and with a breakthrough within groups of a carried
        client-level covariate; columns :data:`BY_GROUP_COLUMNS`."""
        groups = self._group_values(covariate)
        analysed = groups.index.isin(self.clients["client"])
        changed = groups.index.isin(self.clients.loc[self.clients["n_changes"] > 0, "client"])
        bt = groups.index.isin(self.breakthroughs()["client"])
        frame = pd.DataFrame(
            {"group": groups.to_numpy(), "analysed": analysed, "changed": changed, "bt": bt}
        )
        rows = []
        for group, part in frame.groupby("group", sort=True, dropna=False):
            rows.append(
                {
                    "group": group,
                    "n_clients": len(part),
                    "n_analysed": int(part["analysed"].sum()),
                    "n_with_change": int(part["changed"].sum()),
                    "n_clients_breakthrough": int(part["bt"].sum()),
                    "share_clients_breakthrough": float(part["bt"].mean()),
                }
            )
        return pd.DataFrame(rows, columns=BY_GROUP_COLUMNS)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        model = {
            "mean": "a piecewise constant mean (mean shift)",
            "linear": "piecewise linear segments with a jump and a slope change at each "
            "change (discontinuous growth)",
            "broken_stick": "a continuous piecewise linear trend (broken stick)",
            "meanvar": "segments with their own mean and variance (a Gaussian change in mean "
            "and variance, so that a client whose scores became stable is found as well as "
            "one whose level shifted)",
        }[st["model"]]
        noise = st.get("noise_sd_value")
        min_sd = st.get("min_sd")
        noise_text = (
            (
                "each segment's variance estimated by maximum likelihood, at least the "
                "variance of the rounding error of the recorded scores (resolution^2 / 12; "
                "Sheppard, 1898)"
                if min_sd == "resolution"
                else "each segment's variance estimated by maximum likelihood (a zero "
                "variance replaced by 1e-11, as in R's changepoint)"
                if not min_sd
                else f"each segment's SD estimated by maximum likelihood and at least {min_sd:g}"
            )
            if st["model"] == "meanvar"
            else f"the noise SD pooled over all clients ({noise:.3g}, robust: MAD of "
            "successive differences)"
            if st["noise_sd"] == "pooled"
            else "each client's own robust noise SD"
            if st["noise_sd"] == "client"
            else f"a noise SD of {st['noise_sd']}"
        )
        k = st.get("max_changes")
        how = (
            "with R changepoint's PELT search"
            if st.get("search") == "pelt"
            else f"by an exhaustive search over sets of at most {k} knots"
            if st["model"] == "broken_stick"
            else "by exact optimal segmentation (optimal partitioning; Jackson et al., 2005)"
            if k is None
            else f"by exact optimal segmentation with at most {k} change(s) (segment "
            "neighbourhood; Auger & Lawrence, 1989)"
        )
        mbic = (
            " (the modified BIC of Zhang & Siegmund, 2007, in the form R's changepoint uses)"
            if st["penalty"] == "MBIC"
            else ""
        )
        text = (
            f"Change points were located {how} of each client's observed scores into "
            f"{model}, with the {st['penalty']} penalty{mbic} as in R's changepoint package "
            f"(Killick et al., 2012) and {noise_text}. "
            f"A change was a breakthrough when its jump improved by at least the "
            f"reliable-change criterion. {skipped_sentence(len(self.skipped))} "
        )
        if st.get("test"):
            text += (
                f"Each client was tested for at most one change with a Monte Carlo "
                f"p-value ({st['n_boot']} replicates, seed {st['seed']}). "
            )
        return text + super().methods_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """The fitted segments over one client's scores; see
        :func:`toolkit.plots.changepoint_segments`."""
        from ..plots.changepoint import segments

        return segments(self, client=client, ax=ax, **kwargs)


@dataclass(frozen=True, repr=False)
class AmocResult(Result):
    """At-most-one-change test of every client; returned by :func:`amoc`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per tested client; columns :data:`AMOC_COLUMNS` (see :func:`amoc`).
    confidence_sets : pandas.DataFrame
        One row per client and candidate change session; columns
        :data:`CONFIDENCE_SET_COLUMNS`.
    """

    confidence_sets: pd.DataFrame = field(default_factory=pd.DataFrame)

    method_name = "at-most-one-change test"

    def summary(self) -> pd.DataFrame:
        """One row: clients tested and skipped, clients with p < 0.05, median set size.

        Returns
        -------
        pandas.DataFrame
            Columns ``model``, ``n_clients``, ``n_skipped``, ``n_significant_05``,
            ``median_set_size``.
        """
        t = self.table
        return pd.DataFrame(
            {
                "model": [self.settings["model"]],
                "n_clients": [len(t)],
                "n_skipped": [len(self.skipped)],
                "n_significant_05": [int((t["p_value"] < 0.05).sum())],
                "median_set_size": [float(t["n_in_set"].median()) if len(t) else np.nan],
            }
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Clients whose single change is significant (p < ``alpha``) and at least the
        reliable-change criterion, one row each."""
        check_direction(direction, "AmocResult.breakthroughs")
        points = self.settings.get("reliable_change_points")
        t = self.table
        alpha = float(self.settings.get("alpha", 0.05))
        jump = t["jump"].to_numpy(dtype=float)
        big = (np.abs(jump) >= points) if points is not None else np.zeros(len(t), bool)
        hit = big & (t["p_value"].to_numpy() < alpha)
        sign = self.scores.sign if self.scores is not None and self.scores.better else 1
        frame = pd.DataFrame(
            {
                "client": t["client"].to_numpy()[hit],
                "session": t["session"].to_numpy()[hit],
                "size": np.abs(jump[hit]),
                "direction": np.where(-sign * jump[hit] > 0, "improvement", "deterioration"),
                "method": self.method_name,
            }
        )
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        text = (
            f"Each client was tested for at most one change ({st['model']} model) with a "
            f"Monte Carlo likelihood-ratio test ({st['method']}, {st['n_boot']} replicates, "
            f"seed {st['seed']}; Barnard, 1963), and a {st['level']:.0%} confidence set for "
            "the change session was calibrated by a parametric bootstrap (Siegmund, 1988). "
        )
        return text + super().methods_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's likelihood-ratio profile over candidate change sessions, with its
        confidence set (``client`` defaults to the one with the smallest p-value)."""
        from ..plots.changepoint import amoc_profile

        return amoc_profile(self, client=client, ax=ax, **kwargs)


@dataclass(frozen=True, repr=False)
class BreakpointResult(Result):
    """One continuous breakpoint per client; returned by :func:`breakpoint`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed client; columns :data:`BREAKPOINT_COLUMNS` (see
        :func:`breakpoint`).
    davies : pandas.DataFrame
        Davies' statistic at every evaluated breakpoint; columns :data:`DAVIES_COLUMNS`.
    """

    davies: pd.DataFrame = field(default_factory=pd.DataFrame)

    method_name = "continuous breakpoint"

    def summary(self) -> pd.DataFrame:
        """One row: clients analysed and skipped, clients whose slope changes (Davies'
        p < ``alpha``), median breakpoint and slopes.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`BREAKPOINT_SUMMARY_COLUMNS`.
        """
        t = self.table
        alpha = float(self.settings.get("alpha", 0.05))
        med = lambda c: float(t[c].median()) if len(t) else np.nan
        return pd.DataFrame(
            {
                "n_clients": [len(t)],
                "n_skipped": [len(self.skipped)],
                "n_significant": [int((t["p_value"] < alpha).sum())],
                "median_breakpoint": [med("breakpoint")],
                "median_slope_before": [med("slope_before")],
                "median_slope_after": [med("slope_after")],
            }
        )[BREAKPOINT_SUMMARY_COLUMNS]

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """No rows: a continuous breakpoint changes the slope, with no jump in level, so it
        is never a sudden breakthrough (the columns are :data:`BREAKTHROUGH_COLUMNS`)."""
        check_direction(direction, "BreakpointResult.breakthroughs")
        frame = pd.DataFrame(
            {
                "client": pd.Series(dtype=object),
                "session": pd.Series(dtype=np.int64),
                "size": pd.Series(dtype=float),
                "direction": pd.Series(dtype=object),
                "method": pd.Series(dtype=object),
            }
        )
        return keep_direction(frame, direction)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        text = (
            "Each client's observed scores were fitted with a continuous broken-stick "
            "regression (one breakpoint where the slope changes without a jump; Muggeo, "
            "2003) by exact least squares: the breakpoint minimises the residual sum of "
            "squares over every value between the second and the second-last observed "
            "session, found from the two separate least-squares lines of each gap between "
            "sessions and from the fits with the breakpoint at each session (Hudson, 1966). "
            "Standard errors of the breakpoint and the slopes are the delta-method ones of R's "
            f"segmented package (Muggeo, 2008), with {st['level']:.0%} intervals from the t "
            "distribution with n - 4 degrees of freedom. The change in slope was tested with "
            f"Davies' test (Davies, 1987, 2002) over {st['n_points']} equally spaced "
            "breakpoints, two-sided, as segmented's davies.test. "
            f"{skipped_sentence(len(self.skipped))} "
        )
        return text + super().methods_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's scores with the fitted broken stick and the breakpoint's interval;
        see :func:`toolkit.plots.changepoint.breakpoint_fit`."""
        from ..plots.changepoint import breakpoint_fit

        return breakpoint_fit(self, client=client, ax=ax, **kwargs)
