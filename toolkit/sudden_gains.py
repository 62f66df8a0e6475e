"""Sudden gains and sudden losses with the published criteria, for every client at once.

A *sudden gain* is a large, stable improvement between two consecutive sessions N and N+1.
Tang & DeRubeis (1999) defined it by three criteria, stated here for a measure where lower
scores are better (everything mirrors for higher-is-better measures):

1. the gain is large in absolute terms: ``x[N] - x[N+1] >= cutoff``;
2. the gain is large relative to the pre-gain score: ``x[N] - x[N+1] >= 0.25 * x[N]``;
3. the gain is large relative to the fluctuation around it: with the pre-gain window
   ``x[N-2], x[N-1], x[N]`` and the post-gain window ``x[N+1], x[N+2], x[N+3]`` (the values
   available in each),
   ``M_pre - M_post > t * sqrt(((n1 - 1) s1**2 + (n2 - 1) s2**2) / (n1 + n2 - 2))``
   where ``t`` is the two-sided critical value of Student's t at ``alpha`` for
   ``n1 + n2 - 2`` degrees of freedom: 2.776, 3.182 or 4.303 for 6, 5 or 4 available
   values (the missing-data adjustment of Lutz et al., 2013). Fewer than 2 values in either
   window make the criterion *missing*, not false.

:func:`identify` evaluates every interval of every client on the (clients x sessions)
matrix without a per-client loop and returns a :class:`SuddenGainsResult`: one row per gain
(``.table``, also ``.gains``), one row per client (``.by_client()``), the per-interval
criteria (``.intervals()``), counts (``.describe()``, ``.interval_counts()``) and the average
trajectory around the gains (``.plot()``). :func:`chance_baseline` estimates how many
"gains" these criteria find in the same data when nothing sudden happens.

Examples
--------
>>> import toolkit
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> sg = identify(scores, cutoff=7)
>>> sg.describe()[["n_gains", "n_clients_with_gains", "n_reversals"]]
   n_gains  n_clients_with_gains  n_reversals
0       26                    17            4
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from ._results import Result, empty_skipped
from .data import LongScores, as_scores, first_and_last
from .instruments import Instrument

__all__ = [
    "identify",
    "chance_baseline",
    "SuddenGainsResult",
    "ChanceResult",
    "GAIN_COLUMNS",
    "INTERVAL_COLUMNS",
    "DESCRIBE_COLUMNS",
    "critical_value",
]

#: Offsets of the values kept around each gain, relative to the pre-gain session N.
OFFSETS = (-2, -1, 0, 1, 2, 3)
_OFFSET_NAMES = ("nm2", "nm1", "n", "np1", "np2", "np3")

#: Columns of the by-gain table (``SuddenGainsResult.table``).
GAIN_COLUMNS = [
    "client", "kind", "gain_number", "n_gains_client", "pre_session", "gain_session",
    *(f"score_{o}" for o in _OFFSET_NAMES),
    "magnitude", "n_pre", "n_post", "critical_value",
    "change_total", "change_proportion", "reversal_value", "reversal", "reversal_session",
]

#: Columns of the per-interval table (``SuddenGainsResult.intervals()``).
INTERVAL_COLUMNS = [
    "client", "kind", "pre_session", "post_session", "score_n", "score_np1", "change",
    "n_pre", "n_post", "mean_pre", "mean_post", "pooled_sd", "critical_value",
    "crit1", "crit2", "crit3", "sudden",
]

#: Columns of ``SuddenGainsResult.describe()``.
DESCRIBE_COLUMNS = [
    "kind", "selection", "n_clients", "n_clients_analysed", "n_gains", "n_clients_with_gains",
    "share_clients_with_gains", "n_clients_multiple", "share_clients_multiple", "n_reversals",
    "share_reversals", "magnitude_mean", "magnitude_sd",
]

_KINDS = {"gains": ("gain",), "losses": ("loss",), "both": ("gain", "loss")}
_SELECT = ("first", "last", "largest", "smallest")


def critical_value(n_available: int | np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Two-sided critical t for criterion 3 with ``n_available - 2`` degrees of freedom.

    Examples
    --------
    >>> critical_value(np.array([6, 5, 4])).round(3)
    array([2.776, 3.182, 4.303])
    """
    n = np.asarray(n_available)
    # Look the few possible values up rather than evaluate the t quantile per interval.
    table = np.full(max(int(n.max(initial=0)) + 1, 3), np.nan)
    df = np.arange(len(table)) - 2
    table[df >= 1] = stats.t.ppf(1 - alpha / 2, df[df >= 1])
    return table[np.clip(n, 0, None).astype(np.int64)]


# --- the criteria on the matrix ------------------------------------------------------------
@dataclass(frozen=True)
class _Criteria:
    """Every interval's criteria for one kind: arrays shaped (clients, sessions - 1).

    Interval k runs from matrix column k (session N) to k + 1 (session N+1). Each criterion
    is ``value`` (bool) where ``valid`` and missing elsewhere.
    """

    crit: dict[int, np.ndarray]
    valid: dict[int, np.ndarray]
    change: np.ndarray  # improvement (gains) or worsening (losses) from N to N+1
    n_pre: np.ndarray
    n_post: np.ndarray
    mean_pre: np.ndarray
    mean_post: np.ndarray
    pooled_sd: np.ndarray
    critical: np.ndarray
    examined: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        out = np.zeros_like(self.examined)
        for v in self.valid.values():
            out |= ~v
        return out

    @property
    def sudden(self) -> np.ndarray:
        """True where every switched-on criterion is met (and none is missing)."""
        out = self.examined.copy()
        for k in self.crit:
            out &= self.crit[k] & self.valid[k]
        return out


@dataclass(frozen=True)
class _Windows:
    """Pre- and post-gain window statistics of every interval (kind-independent)."""

    n_pre: np.ndarray
    n_post: np.ndarray
    mean_pre: np.ndarray
    mean_post: np.ndarray
    pooled_sd: np.ndarray


def _windows(x: np.ndarray) -> _Windows:
    n_int = x.shape[1] - 1
    # Two missing columns before and three after, so every window is a plain slice.
    padded = np.pad(x, ((0, 0), (2, 3)), constant_values=np.nan)
    seen = ~np.isnan(padded)
    zero = np.where(seen, padded, 0.0)
    pre = [slice(i, i + n_int) for i in (0, 1, 2)]  # x[N-2], x[N-1], x[N]
    post = [slice(i, i + n_int) for i in (3, 4, 5)]  # x[N+1], x[N+2], x[N+3]

    def stats_of(parts):
        n = sum(seen[:, p].astype(np.int8) for p in parts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sum(zero[:, p] for p in parts) / n
            ss = sum(np.where(seen[:, p], (zero[:, p] - mean) ** 2, 0.0) for p in parts)
        return n, mean, ss

    n_pre, mean_pre, ss_pre = stats_of(pre)
    n_post, mean_post, ss_post = stats_of(post)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt((ss_pre + ss_post) / (n_pre + n_post - 2))
    return _Windows(n_pre, n_post, mean_pre, mean_post, pooled)


def _criteria(
    x: np.ndarray,
    windows: _Windows,
    examined: np.ndarray,
    *,
    kind: str,
    sign: int,
    cutoff: float | None,
    proportion: float | None,
    crit3: bool,
    alpha: float,
    adjust: bool,
    loss_criterion2: str,
) -> _Criteria:
    x_n, x_np1 = x[:, :-1], x[:, 1:]
    improvement = sign * (x_n - x_np1)
    # A loss is a gain in the other direction.
    change = improvement if kind == "gain" else -improvement
    pair = ~(np.isnan(x_n) | np.isnan(x_np1))
    crit, valid = {}, {}
    with np.errstate(invalid="ignore"):
        if cutoff is not None:
            crit[1], valid[1] = change >= cutoff, pair
        if proportion is not None:
            if kind == "loss" and loss_criterion2 == "reference":
                # The reference implementation compares the signed change the gain way
                # round, so the criterion holds for every loss (kept for reproduction only).
                crit[2] = improvement <= proportion * x_n
            else:
                crit[2] = change >= proportion * x_n
            valid[2] = pair
        if crit3:
            n_avail = windows.n_pre + windows.n_post
            critical = (critical_value(n_avail, alpha) if adjust
                        else np.full(n_avail.shape, critical_value(6, alpha)[()]))
            diff = sign * (windows.mean_pre - windows.mean_post)
            diff = diff if kind == "gain" else -diff
            crit[3] = diff > critical * windows.pooled_sd
            valid[3] = (windows.n_pre >= 2) & (windows.n_post >= 2)
        else:
            critical = np.full(change.shape, np.nan)
    return _Criteria(crit, valid, change, windows.n_pre, windows.n_post, windows.mean_pre,
                     windows.mean_post, windows.pooled_sd, critical, examined)


def _examined(first: np.ndarray, last: np.ndarray, n_int: int, first_interval: bool) -> np.ndarray:
    """Intervals N -> N+1 examined for each client: from its 2nd session (or 1st) as N up to
    its third-last, so the first and the last interval of its sequence are left out."""
    k = np.arange(n_int)[None, :]
    lo = first + (0 if first_interval else 1)
    return (k >= lo[:, None]) & (k <= (last - 2)[:, None])


# --- the result ---------------------------------------------------------------------------
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
    """

    scores: LongScores | None = None

    @functools.cached_property
    def _criteria(self) -> dict[str, _Criteria]:
        """Every interval's criteria per kind, recomputed on demand for the audit tables."""
        x = self.scores.to_matrix()
        examined = _examined(*self.scores.sequence_bounds(), x.shape[1] - 1,
                             self.settings["first_interval"])
        windows = _windows(x)
        options = _options(self.scores, self.settings)
        return {k: _criteria(x, windows, examined, kind=k, **options)
                for k in self.settings["kinds"]}

    @property
    def gains(self) -> pd.DataFrame:
        """The by-gain table (same as ``table``)."""
        return self.table

    def by_client(self, select: Literal["first", "last", "largest", "smallest"] = "first",
                  kind: Literal["gain", "loss"] | None = None) -> pd.DataFrame:
        """One row per client: its number of gains and the selected one (ties: the earliest).

        Every validated client is listed; clients without gains have ``n_gains_client`` 0
        and missing gain columns; clients that could not be analysed have it missing.

        Returns
        -------
        pandas.DataFrame
            Column ``client`` followed by the :data:`GAIN_COLUMNS` of the selected gain.
        """
        if select not in _SELECT:
            raise ValueError(f"The 'select' parameter of by_client must be one of {_SELECT}. "
                             f"Got {select!r} instead.")
        kind = self._one_kind(kind)
        gains = self.table[self.table["kind"] == kind]
        if select in ("first", "last"):
            order = gains.sort_values(["client", "gain_session"],
                                      ascending=[True, select == "first"], kind="stable")
        else:
            # Earliest gain among equal magnitudes: sort by session first, stably.
            order = gains.sort_values("gain_session", kind="stable").sort_values(
                ["client", "magnitude"], ascending=[True, select == "smallest"], kind="stable")
        chosen = order.drop_duplicates("client").set_index("client")
        clients = pd.Index(self.scores.clients, name="client")
        out = chosen.reindex(clients).reset_index()
        out["kind"] = kind
        analysed = ~clients.isin(self.skipped["client"])
        out["n_gains_client"] = pd.array(
            np.where(analysed, out["n_gains_client"].fillna(0), np.nan), dtype="Int64")
        out["reversal"] = out["reversal"].astype("boolean")
        for name in ("gain_number", "pre_session", "gain_session", "n_pre", "n_post"):
            out[name] = out[name].astype("Int64")
        return out[GAIN_COLUMNS]

    def describe(self, select: Literal["first", "last", "largest", "smallest"] | None = None
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
        n_all = self.scores.n_clients
        n_analysed = n_all - len(self.skipped)
        for kind in self.settings["kinds"]:
            gains = self.table[self.table["kind"] == kind]
            per_client = gains.groupby("client").size()
            described = gains if select is None else self.by_client(select, kind).dropna(
                subset=["gain_session"])
            rows.append({
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
                "share_reversals": (described["reversal"].mean() if len(described)
                                    else np.nan),
                "magnitude_mean": described["magnitude"].mean(),
                "magnitude_sd": described["magnitude"].std(),
            })
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
        x = self.scores.to_matrix()
        parts = []
        for kind, c in self._criteria.items():
            rows, ks = np.nonzero(c.examined)
            col = {}
            for i in (1, 2, 3):
                if i in c.crit:
                    col[f"crit{i}"] = pd.array(np.where(c.valid[i][rows, ks],
                                                        c.crit[i][rows, ks], False),
                                               dtype="boolean")
                    col[f"crit{i}"][~c.valid[i][rows, ks]] = pd.NA
                else:
                    col[f"crit{i}"] = pd.array([pd.NA] * len(rows), dtype="boolean")
            sudden = pd.array(c.sudden[rows, ks], dtype="boolean")
            sudden[c.missing[rows, ks]] = pd.NA
            parts.append(pd.DataFrame({
                "client": self.scores.clients.take(rows),
                "kind": kind,
                "pre_session": self.scores.sessions[ks],
                "post_session": self.scores.sessions[ks + 1],
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
            }))
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["client", "pre_session", "kind"], kind="stable",
                               ignore_index=True)[INTERVAL_COLUMNS]

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
        first, last = self.scores.sequence_bounds()
        analysed = ~self.scores.clients.isin(self.skipped["client"])
        rows = []
        for kind, c in self._criteria.items():
            available = c.examined & ~c.missing
            rows.append({
                "kind": kind,
                "n_clients": int(analysed.sum()),
                "n_intervals": int((last - first)[analysed].sum()),
                "n_examined": int(c.examined[analysed].sum()),
                "n_available": int(available[analysed].sum()),
                "n_not_available": int((c.examined & c.missing)[analysed].sum()),
            })
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
        x = self.scores.to_matrix(value)
        rows = self.scores.clients.get_indexer(self.table["client"])
        ks = np.searchsorted(self.scores.sessions, self.table["pre_session"].to_numpy())
        values = _values_around(x, rows, ks)
        out = self.table[["client", "kind", "gain_session"]].reset_index(drop=True)
        for name, v in zip(_OFFSET_NAMES, values.T):
            out[name] = v
        return out

    def plot(self, ax=None, *, value: str = "score", kind: str | None = None):
        """Average scores around the gains with 95% CIs; see
        :func:`toolkit.plots.around_gains`."""
        from .plots.sudden_gains import around_gains

        return around_gains(self, ax=ax, value=value, kind=kind)

    def _one_kind(self, kind: str | None) -> str:
        kinds = self.settings["kinds"]
        if kind is None:
            if len(kinds) > 1:
                raise ValueError("This result holds gains and losses: pass kind='gain' or "
                                 "kind='loss'.")
            return kinds[0]
        if kind not in kinds:
            raise ValueError(f"kind must be one of {list(kinds)}; got {kind!r}.")
        return kind


def _values_around(x: np.ndarray, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Values at columns N-2 .. N+3 (NaN outside the matrix), shape (len(rows), 6)."""
    padded = np.pad(x, ((0, 0), (2, 3)), constant_values=np.nan)
    cols = ks[:, None] + 2 + np.array(OFFSETS)[None, :]
    return padded[rows[:, None], cols]


# --- the public entry point ------------------------------------------------------------------
def identify(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    kind: Literal["gains", "losses", "both"] = "gains",
    cutoff: float | Literal["rci"] | None = "rci",
    proportion: float | None = 0.25,
    crit3: bool = True,
    alpha: float = 0.05,
    adjust_critical_value: bool = True,
    first_interval: bool = False,
    reversal_start: int = 2,
    loss_criterion2: Literal["published", "reference"] = "published",
    sd: float | None = None,
    reliability: float | None = None,
) -> SuddenGainsResult:
    """Find sudden gains (or losses) in every client's sequence of scores.

    Parameters
    ----------
    data : DataFrame or LongScores
        Long-format scores; a DataFrame needs ``client``, ``session`` and ``score``.
    client, session, score, instrument : str, optional
        Column roles and measure, for a DataFrame (see :func:`toolkit.data.long_scores`).
        The instrument gives the direction of improvement (lower is better if none).
    kind : {"gains", "losses", "both"}, default "gains"
    cutoff : float, "rci" or None, default "rci"
        Criterion 1: the minimum change in score points. ``"rci"`` uses the reliable-change
        value 1.96 * sqrt(2) * SD * sqrt(1 - r) (:func:`toolkit.reliable_change.rci_cutoff`)
        with SD and r from ``sd``/``reliability`` or the instrument. None switches it off.
    proportion : float or None, default 0.25
        Criterion 2: the minimum change as a share of the pre-gain score. None: off.
    crit3 : bool, default True
        Criterion 3 (see the module docstring).
    alpha : float, default 0.05
        Two-sided level of the critical t in criterion 3.
    adjust_critical_value : bool, default True
        Use the critical t for the values available (2.776 / 3.182 / 4.303); False uses
        the value for six values (2.776) whatever is missing.
    first_interval : bool, default False
        Also examine each client's first interval. By default intervals N -> N+1 run from
        the client's 2nd to its third-last session as N (Tang & DeRubeis examined neither
        the first nor the last interval). Include a baseline session (e.g. session 0) in the
        data to examine the interval from session 1 to 2 with the baseline in its pre-gain
        window.
    reversal_start : int, default 2
        A gain is *reversed* when a score at session N + ``reversal_start`` or later (within
        the client's sequence) lies beyond the reversal value, the midpoint of x[N] and
        x[N+1], back towards the pre-gain level. The default, 2, looks at every session
        after the gain session.
    loss_criterion2 : {"published", "reference"}, default "published"
        ``"published"`` mirrors criterion 2 for losses (worsening >= proportion * x[N]).
        ``"reference"`` reproduces the reference R implementation (suddengains 0.7), in
        which the loss version of criterion 2 holds for every loss.
    sd, reliability : float, optional
        For ``cutoff="rci"``, instead of the instrument's clinical SD and reliability.

    Returns
    -------
    SuddenGainsResult
        ``table`` has one row per gain/loss with columns:
        ``client``; ``kind`` ("gain"/"loss"); ``gain_number`` (1, 2, ... within client and
        kind); ``n_gains_client``; ``pre_session`` (N); ``gain_session`` (N+1, the first
        session at the new level); ``score_nm2`` .. ``score_np3`` (scores at N-2 .. N+3);
        ``magnitude`` (size of the change from N to N+1, positive, in score points);
        ``n_pre``, ``n_post`` (values in the windows); ``critical_value`` (criterion 3's
        t); ``change_total`` (improvement from the client's first to last observed score);
        ``change_proportion`` (the improvement made in this interval as a share of
        ``change_total``; negative for losses; NaN when the total change is 0);
        ``reversal_value``; ``reversal`` (bool); ``reversal_session`` (first session
        beyond the reversal value, NaN if none).

    Raises
    ------
    ValueError
        Bad arguments (unknown option, no criterion switched on, no SD or reliability for
        ``cutoff="rci"``); invalid data (see :func:`toolkit.data.long_scores`).

    Notes
    -----
    Missing values: each criterion is missing when its values are (criteria 1 and 2 need
    x[N] and x[N+1]; criterion 3 needs two values in each window), and an interval whose
    switched-on criteria include a missing one is missing too, even if another criterion
    fails (so a failing criterion with a missing one is missing, not false). Only intervals
    with every criterion met are gains. Clients with no interval that can be evaluated are
    listed in ``skipped``. Differences from the reference R implementation (suddengains
    0.7): criterion 2 for losses is applied (``loss_criterion2``), the "largest" loss is the
    loss of largest magnitude, the reversal window starts at N+2 in every numbering mode
    (``reversal_start``; its default mode starts at N+3), and a zero total change gives a
    missing rather than infinite proportion.

    References
    ----------
    Tang, T. Z., & DeRubeis, R. J. (1999). Sudden gains and critical sessions in
    cognitive-behavioral therapy for depression. Journal of Consulting and Clinical
    Psychology, 67(6), 894-904.
    Lutz, W., et al. (2013). Sudden gains in the outpatient psychotherapy of depression.
    Psychotherapy Research, 23(1), 61-73.
    Wiedemann, M., Thew, G. R., Stott, R., & Ehlers, A. (2020). suddengains: An R package
    to identify sudden gains in longitudinal data. PLOS ONE, 15(3), e0230276.

    Examples
    --------
    >>> import toolkit
    >>> sg = identify(toolkit.datasets.load_scores("sgdata"), cutoff=7)
    >>> sg.table[["client", "pre_session", "gain_session", "magnitude"]].head(3)
       client  pre_session  gain_session  magnitude
    0       1            3             4       11.0
    1       1            7             8       12.0
    2       3            8             9        9.0
    """
    scores = as_scores(data, client=client, session=session, score=score,
                       instrument=instrument)
    _check_options(kind, proportion, crit3, cutoff, alpha, reversal_start, loss_criterion2)
    cutoff_value = _cutoff(cutoff, scores.instrument, sd, reliability)
    settings = {
        **scores.roles, "instrument": scores.score_label if scores.instrument else None,
        "kind": kind, "kinds": _KINDS[kind], "cutoff": cutoff, "cutoff_value": cutoff_value,
        "proportion": proportion, "crit3": crit3, "alpha": alpha,
        "adjust_critical_value": adjust_critical_value, "first_interval": first_interval,
        "reversal_start": reversal_start, "loss_criterion2": loss_criterion2, "sd": sd,
        "reliability": reliability, "toolkit_version": scores.settings["toolkit_version"],
    }
    x = scores.to_matrix()
    first, last = scores.sequence_bounds()
    found, available = _scan(x, first, last, settings, _options(scores, settings))
    table = pd.concat(
        [_gain_table(scores, x, last, hits, k, reversal_start) for k, hits in found.items()],
        ignore_index=True)
    table = table.sort_values(["client", "gain_session", "kind"], kind="stable",
                              ignore_index=True)
    return SuddenGainsResult(table=table[GAIN_COLUMNS], settings=settings,
                             skipped=_skipped(scores, ~available), scores=scores)


def _options(scores: LongScores, settings: dict) -> dict:
    """Keyword arguments of :func:`_criteria` from a result's settings."""
    return dict(sign=scores.instrument.sign if scores.instrument is not None else 1,
                cutoff=settings["cutoff_value"], proportion=settings["proportion"],
                crit3=settings["crit3"], alpha=settings["alpha"],
                adjust=settings["adjust_critical_value"],
                loss_criterion2=settings["loss_criterion2"])


@dataclass(frozen=True)
class _Hits:
    """The sudden intervals of one kind: matrix positions and the values the table needs."""

    rows: np.ndarray
    ks: np.ndarray
    change: np.ndarray
    n_pre: np.ndarray
    n_post: np.ndarray
    critical: np.ndarray


_BLOCK_CELLS = 1_000_000  # rows per block x intervals: temporaries stay small and in cache


def _scan(x, first, last, settings, options) -> tuple[dict[str, _Hits], np.ndarray]:
    """Evaluate every interval block by block of clients; return the hits per kind and
    which clients had at least one interval that could be evaluated."""
    n, t = x.shape
    step = max(1, _BLOCK_CELLS // max(t, 1))
    available = np.zeros(n, dtype=bool)
    parts = {k: [] for k in settings["kinds"]}
    for lo in range(0, n, step):
        block = slice(lo, min(n, lo + step))
        xb = x[block]
        examined = _examined(first[block], last[block], t - 1, settings["first_interval"])
        windows = _windows(xb)
        for k in settings["kinds"]:
            c = _criteria(xb, windows, examined, kind=k, **options)
            available[block] |= (examined & ~c.missing).any(axis=1)
            rows, ks = np.nonzero(c.sudden)
            parts[k].append(_Hits(rows + lo, ks, c.change[rows, ks], c.n_pre[rows, ks],
                                  c.n_post[rows, ks], c.critical[rows, ks]))
    found = {k: _Hits(*(np.concatenate([getattr(h, f.name) for h in hits])
                        for f in dataclasses.fields(_Hits)))
             for k, hits in parts.items()}
    return found, available




def _check_options(kind, proportion, crit3, cutoff, alpha, reversal_start, loss_criterion2):
    if kind not in _KINDS:
        raise ValueError(f"The 'kind' parameter of identify must be one of "
                         f"{set(_KINDS)}. Got {kind!r} instead.")
    if loss_criterion2 not in ("published", "reference"):
        raise ValueError("The 'loss_criterion2' parameter of identify must be one of "
                         f"{{'published', 'reference'}}. Got {loss_criterion2!r} instead.")
    if cutoff is None and proportion is None and not crit3:
        raise ValueError("Every criterion is switched off (cutoff=None, proportion=None, "
                         "crit3=False): switch at least one on.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}.")
    if proportion is not None and not proportion > 0:
        raise ValueError(f"proportion must be positive (e.g. 0.25); got {proportion!r}.")
    if int(reversal_start) != reversal_start or reversal_start < 2:
        raise ValueError(f"reversal_start must be a whole number >= 2 (sessions after the "
                         f"gain session); got {reversal_start!r}.")


def _cutoff(cutoff, instrument, sd, reliability) -> float | None:
    if cutoff is None:
        return None
    if isinstance(cutoff, str):
        if cutoff != "rci":
            raise ValueError("The 'cutoff' parameter of identify must be a number, 'rci' or "
                             f"None. Got {cutoff!r} instead.")
        from .reliable_change import rci_cutoff

        return float(rci_cutoff(instrument, sd=sd, reliability=reliability))
    cutoff = float(cutoff)
    if not cutoff > 0:
        raise ValueError(f"cutoff is a size in score points and must be positive; got "
                         f"{cutoff!r}. (Losses use the same positive cut-off.)")
    return cutoff


def _skipped(scores: LongScores, mask: np.ndarray) -> pd.DataFrame:
    if not mask.any():
        return empty_skipped()
    n_obs = scores.n_observed().to_numpy()[mask]
    return pd.DataFrame({
        "client": scores.clients[mask],
        "reason": [f"no interval can be evaluated with {k} observed score(s): each needs "
                   "x[N], x[N+1] and enough values in its windows" for k in n_obs],
    })


def _gain_table(scores, x, last, hits: _Hits, kind, reversal_start):
    rows, ks = hits.rows, hits.ks
    sign = scores.instrument.sign if scores.instrument is not None else 1
    values = _values_around(x, rows, ks)
    n_c = np.bincount(rows, minlength=x.shape[0])
    # Running number of each gain within its client (rows come sorted by client, session).
    starts = np.cumsum(n_c) - n_c
    number = np.arange(len(rows)) - starts[rows] + 1
    total = _total_change(x, sign)[rows]
    step = hits.change if kind == "gain" else -hits.change
    with np.errstate(invalid="ignore", divide="ignore"):
        proportion = np.where(total != 0, step / total, np.nan)
    reversal_value = (x[rows, ks] + x[rows, ks + 1]) / 2
    rev_session = _reversal_session(x, scores.sessions, rows, ks, last, reversal_value,
                                    sign if kind == "gain" else -sign, reversal_start)
    table = pd.DataFrame({
        "client": scores.clients.take(rows),
        "kind": kind,
        "gain_number": number.astype(np.int64),
        "n_gains_client": n_c[rows].astype(np.int64),
        "pre_session": scores.sessions[ks],
        "gain_session": scores.sessions[ks + 1],
    })
    for name, v in zip(_OFFSET_NAMES, values.T):
        table[f"score_{name}"] = v
    table["magnitude"] = hits.change
    table["n_pre"] = hits.n_pre.astype(np.int64)
    table["n_post"] = hits.n_post.astype(np.int64)
    table["critical_value"] = hits.critical
    table["change_total"] = total
    table["change_proportion"] = proportion
    table["reversal_value"] = reversal_value
    table["reversal"] = ~np.isnan(rev_session)
    table["reversal_session"] = rev_session
    return table


def _total_change(x: np.ndarray, sign: int) -> np.ndarray:
    """Improvement from each client's first to last observed score."""
    seen = ~np.isnan(x)
    has = seen.any(axis=1)
    first, last = first_and_last(seen)
    rows = np.arange(x.shape[0])
    return np.where(has, sign * (x[rows, first] - x[rows, last]), np.nan)


def _reversal_session(x, sessions, rows, ks, last, value, towards_worse, start):
    """First session from N + start (within the client's sequence) beyond the reversal value."""
    if len(rows) == 0:
        return np.array([], dtype=float)
    later = x[rows]  # (gains, sessions)
    col = np.arange(x.shape[1])[None, :]
    window = (col >= (ks + start)[:, None]) & (col <= last[rows][:, None])
    with np.errstate(invalid="ignore"):
        beyond = window & (towards_worse * (later - value[:, None]) > 0)
    hit = beyond.any(axis=1)
    return np.where(hit, sessions[np.argmax(beyond, axis=1)], np.nan).astype(float)


# --- chance baseline ------------------------------------------------------------------------
#: Columns of ``ChanceResult.table``.
CHANCE_COLUMNS = [
    "method", "n_replicates", "observed_gains", "expected_gains", "expected_sd",
    "ci_lower", "ci_upper", "excess_gains", "p_value", "observed_rate", "expected_rate",
]


@dataclass(frozen=True, repr=False)
class ChanceResult(Result):
    """Expected number of sudden gains when nothing sudden happens; see :func:`chance_baseline`.

    ``replicates`` holds the number of gains found in each replicate, per method.
    """

    replicates: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> pd.DataFrame:
        return self.table

    def plot(self, ax=None):
        """Histogram of gains per replicate with the observed count marked."""
        from .plots.sudden_gains import chance_histogram

        return chance_histogram(self, ax=ax)


def chance_baseline(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    method: Literal["shuffle", "gradual", "both"] = "both",
    n_replicates: int = 200,
    seed: int | np.random.Generator | None = 0,
    progress: bool = True,
    **criteria,
) -> ChanceResult:
    """How many sudden gains would the criteria find if nothing sudden happened?

    Two reference worlds, each replicated ``n_replicates`` times on the same clients and
    the same missing-data pattern:

    - ``"shuffle"``: each client's observed scores in a random order (no temporal structure
      at all; the client's level and spread are kept);
    - ``"gradual"``: each client's straight-line trend (least squares over its observed
      sessions) plus normal noise with the client's residual SD, rounded and clipped as the
      instrument's scores are (smooth change only).

    The gradual world is the stricter comparison: gains counted beyond it are evidence of
    change that a straight line with noise does not produce. A real sudden gain inflates the
    client's residual SD, which makes this baseline conservative.

    Parameters
    ----------
    data, client, session, score, instrument
        As for :func:`identify`.
    method : {"shuffle", "gradual", "both"}, default "both"
    n_replicates : int, default 200
    seed : int or numpy.random.Generator, default 0
    progress : bool, default True
        Show a progress bar over replicates.
    **criteria
        Options of :func:`identify` (``cutoff``, ``proportion``, ``crit3``, ...), applied
        identically to the data and to every replicate.

    Returns
    -------
    ChanceResult
        ``table``: one row per method with ``observed_gains`` (in the data),
        ``expected_gains`` and ``expected_sd`` (mean and SD over replicates), ``ci_lower``
        and ``ci_upper`` (2.5% and 97.5% of replicates), ``excess_gains`` (observed minus
        expected), ``p_value`` (share of replicates with at least as many gains, with the
        +1 correction), and ``observed_rate`` / ``expected_rate`` (gains per available
        interval).

    Examples
    --------
    >>> import toolkit
    >>> chance = chance_baseline(toolkit.datasets.load_scores("sgdata"), cutoff=7,
    ...                          n_replicates=20, progress=False)
    >>> list(chance.table["method"])
    ['shuffle', 'gradual']
    """
    scores = as_scores(data, client=client, session=session, score=score,
                       instrument=instrument)
    if criteria.get("kind", "gains") != "gains":
        raise ValueError("chance_baseline counts gains; pass kind='gains' (the default).")
    if method not in ("shuffle", "gradual", "both"):
        raise ValueError("The 'method' parameter of chance_baseline must be one of "
                         f"{{'shuffle', 'gradual', 'both'}}. Got {method!r} instead.")
    if int(n_replicates) != n_replicates or n_replicates < 1:
        raise ValueError(f"n_replicates must be a positive whole number; got {n_replicates!r}.")
    observed = identify(scores, **criteria)
    settings = observed.settings
    x = scores.to_matrix()
    first, last = scores.sequence_bounds()
    examined = _examined(first, last, x.shape[1] - 1, settings["first_interval"])
    options = _options(scores, settings)

    def count(matrix):
        c = _criteria(matrix, _windows(matrix), examined, kind="gain", **options)
        return int(c.sudden.sum()), int((c.examined & ~c.missing).sum())

    n_obs, n_avail = count(x)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    methods = ("shuffle", "gradual") if method == "both" else (method,)
    make = {"shuffle": _shuffled, "gradual": _gradual_world(x, scores.instrument)}
    rows, reps = [], []
    for m in methods:
        counts = np.empty(n_replicates, dtype=np.int64)
        avail = np.empty(n_replicates, dtype=np.int64)
        for r in tqdm(range(n_replicates), desc=f"chance ({m})", disable=not progress):
            counts[r], avail[r] = count(make[m](x, rng))
        reps.append(pd.DataFrame({"method": m, "replicate": np.arange(n_replicates),
                                  "n_gains": counts}))
        rows.append({
            "method": m, "n_replicates": n_replicates, "observed_gains": n_obs,
            "expected_gains": counts.mean(), "expected_sd": counts.std(ddof=1)
            if n_replicates > 1 else np.nan,
            "ci_lower": np.quantile(counts, 0.025), "ci_upper": np.quantile(counts, 0.975),
            "excess_gains": n_obs - counts.mean(),
            "p_value": (1 + (counts >= n_obs).sum()) / (n_replicates + 1),
            "observed_rate": n_obs / n_avail if n_avail else np.nan,
            "expected_rate": (counts / np.maximum(avail, 1)).mean(),
        })
    settings = {**settings, "method": method, "n_replicates": n_replicates, "seed": seed}
    return ChanceResult(table=pd.DataFrame(rows, columns=CHANCE_COLUMNS), settings=settings,
                        skipped=observed.skipped, replicates=pd.concat(reps, ignore_index=True))


def _shuffled(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's observed values in random order over the same observed columns."""
    seen = ~np.isnan(x)
    keys = np.where(seen, rng.random(x.shape), np.inf)
    source = np.argsort(keys, axis=1)  # observed columns first, in random order
    target = np.argsort(np.where(seen, np.arange(x.shape[1]), np.inf), axis=1, kind="stable")
    out = np.full_like(x, np.nan)
    np.put_along_axis(out, target, np.take_along_axis(x, source, axis=1), axis=1)
    return out


def _gradual_world(x: np.ndarray, instrument: Instrument | None):
    """A maker of straight-line-plus-noise replicates fitted to each client of ``x``."""
    seen = ~np.isnan(x)
    t = np.broadcast_to(np.arange(x.shape[1], dtype=float), x.shape)
    n = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(seen, t, 0).sum(axis=1) / n
        x_mean = np.where(seen, x, 0).sum(axis=1) / n
        dt = np.where(seen, t - t_mean[:, None], 0)
        dx = np.where(seen, x - x_mean[:, None], 0)
        sxx = (dt**2).sum(axis=1)
        slope = np.where(sxx > 0, (dt * dx).sum(axis=1) / sxx, 0.0)
        line = x_mean[:, None] + slope[:, None] * (t - t_mean[:, None])
        resid = np.where(seen, x - line, 0)
        sd = np.sqrt((resid**2).sum(axis=1) / (n - 2))
    pooled = np.sqrt(np.nansum(np.where(n > 2, sd**2 * (n - 2), 0)) / max(np.sum(n[n > 2] - 2), 1))
    sd = np.where((n > 2) & np.isfinite(sd), sd, pooled)
    integer = instrument is None or instrument.integer_scores

    def make(_x, rng):
        sim = line + rng.normal(size=x.shape) * sd[:, None]
        if integer:
            sim = np.round(sim)
        if instrument is not None:
            sim = np.clip(sim, instrument.min_score, instrument.max_score)
        return np.where(seen, sim, np.nan)

    return make


def report_section(report, scores: LongScores) -> None:
    """Sudden gains for the analysis report: counts, the by-gain table and the average gain."""
    import matplotlib.pyplot as plt

    report.heading("Sudden gains")
    try:
        result = identify(scores)
        how = "reliable-change cut-off from the instrument"
    except ValueError:
        result = identify(scores, cutoff=None)
        how = "criteria 2 and 3 only (no reliability known for criterion 1)"
    report.text(f"Tang & DeRubeis (1999) criteria with the missing-data adjustment of "
                f"Lutz et al. (2013); criterion 1: {how} "
                + (f"(cut-off {result.settings['cutoff_value']:.2f} points)."
                   if result.settings["cutoff_value"] else "(off)."))
    report.table("sudden_gains_summary", result.describe(), "Sudden gains: counts")
    report.table("sudden_gains_by_gain", result.table, "One row per sudden gain")
    report.table("sudden_gains_intervals", result.interval_counts(),
                 "Intervals examined and available")
    if len(result.table):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        result.plot(ax=ax)
        report.figure("sudden_gains_average", fig,
                      "Average scores around the sudden gains (sessions N-2 to N+3), with 95% CIs.")
