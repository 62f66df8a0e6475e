"""Scoring detected changes against known truth: precision, recall, F1 and location error.

:func:`detection` compares any table of detected change sessions (change points, sudden
gains, Bayesian jumps) with a table of true changes, such as the truth returned by
:func:`toolkit.simulate.trajectories`. A detection matches a true change of the same client
when their sessions differ by at most ``tolerance``; each true change and each detection is
used at most once.

Examples
--------
>>> import pandas as pd
>>> from toolkit.evaluate import detection
>>> truth = pd.DataFrame({"client": [1, 2], "kind": "gain", "session": [5, 7]})
>>> found = pd.DataFrame({"client": [1, 3], "session": [6, 4]})
>>> detection(truth, found).summary()[["precision", "recall", "f1"]]
   precision  recall   f1
0        0.5     0.5  0.5

A result of the toolkit can be scored directly: its ``breakthroughs()`` are the detections.
:func:`compare_methods` scores every method of :func:`toolkit.breakthroughs` side by side,
per client and per session, so that what each method is good at shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ._results import Result, deprecated_name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "detection",
    "DetectionResult",
    "compare_methods",
    "ComparisonResult",
    "SUMMARY_COLUMNS",
    "MATCH_COLUMNS",
    "COMPARISON_COLUMNS",
]

#: Columns of :attr:`Detection.summary`.
SUMMARY_COLUMNS = [
    "n_true",
    "n_detected",
    "true_positives",
    "false_positives",
    "false_negatives",
    "precision",
    "recall",
    "f1",
    "mean_abs_error",
    "mean_error",
    "exact_share",
    "tolerance",
]
#: Columns of :attr:`Detection.matches`.
MATCH_COLUMNS = ["client", "true_session", "detected_session", "error"]


@dataclass(frozen=True, repr=False)
class DetectionResult(Result):
    """Scores of a detection method; returned by :func:`detection`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row; columns :data:`SUMMARY_COLUMNS` (see :func:`detection`); also
        ``summary()``.
    matches : pandas.DataFrame
        One row per matched pair; columns :data:`MATCH_COLUMNS`.
    """

    matches: pd.DataFrame = field(default_factory=pd.DataFrame)

    method_name = "evaluation against truth"

    def summary(self) -> pd.DataFrame:
        """The one-row table of precision, recall, F1 and location error."""
        return self.table

    def breakthroughs(self, direction: Any = "improvement") -> pd.DataFrame:
        """An evaluation finds no breakthroughs; the detections are those of the method."""
        raise NotImplementedError("detection() scores another method's breakthroughs.")

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Bars of precision, recall and F1 (``client`` is not used)."""
        from .plots._style import PALETTE, get_axes

        ax = get_axes(ax)
        s = self.table.iloc[0]
        names = ["precision", "recall", "f1"]
        ax.bar(names, [s[n] for n in names], color=PALETTE["blue"], **kwargs)
        ax.set_ylim(0, 1)
        ax.set_ylabel("Share")
        ax.set_title(f"Detection within {s['tolerance']:g} session(s) of the truth")
        return ax

    def methods_text(self) -> str:
        """The methods paragraph for this evaluation."""
        s = self.table.iloc[0]
        return (
            f"Detections were matched one-to-one to true changes of the same client within "
            f"{s['tolerance']:g} session(s), maximising the number of matches and then "
            "minimising the total location error (an assignment problem). " + super().methods_text()
        )

    def __repr__(self) -> str:
        s = self.table.iloc[0]
        return (
            f"<DetectionResult: precision {s['precision']:.3f}, recall {s['recall']:.3f}, "
            f"F1 {s['f1']:.3f}, {int(s['true_positives'])} matched>"
        )

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)


def __getattr__(name: str) -> Any:
    if name == "Detection":
        return deprecated_name("Detection", DetectionResult, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _column(df: pd.DataFrame, name: str, what: str) -> None:
    if name not in df.columns:
        raise ValueError(
            f"The {what} table has no column {name!r}; its columns are {list(df.columns)}. "
            f"Fix: rename the column or pass the {what}'s column name."
        )


def detection(
    truth: pd.DataFrame,
    detected: pd.DataFrame | Result,
    tolerance: float = 1,
    *,
    client: str = "client",
    truth_session: str = "session",
    detected_session: str = "session",
    kinds: Sequence[str] | None = None,
    kind: str = "kind",
    direction: str = "improvement",
) -> DetectionResult:
    """Precision, recall, F1 and location error of detected changes against the truth.

    Parameters
    ----------
    truth : pandas.DataFrame
        True changes, one row each, with a client column and a session column (e.g. the
        truth table of :func:`toolkit.simulate.trajectories`: ``client``, ``kind``,
        ``session``, ``magnitude``, ``reverses_session``). Not modified.
    detected : pandas.DataFrame or result
        Detected changes, one row each, with a client column and a session column; or a
        result of the toolkit, whose ``breakthroughs(direction)`` are used (then ``client``
        and ``detected_session`` are its own columns). Not modified.
    tolerance : int, default 1
        Largest difference in sessions for a detection to count as finding a true change.
    client : str, default "client"
        Client column of both tables.
    truth_session, detected_session : str, default "session"
        Session columns: the first session at the new level in both tables.
    kinds : sequence of str, optional
        Keep only true changes of these kinds (e.g. ``["gain"]``); default all.
    kind : str, default "kind"
        Column of ``truth`` holding the kind (used only with ``kinds``).
    direction : {"improvement", "deterioration", "both"}, default "improvement"
        Which breakthroughs of a result count as detections.

    Returns
    -------
    DetectionResult
        ``table`` (also ``summary()``), one row:

        - ``n_true``, ``n_detected``: rows compared.
        - ``true_positives``: matched pairs; ``false_positives``: unmatched detections;
          ``false_negatives``: unmatched true changes.
        - ``precision`` = TP / n_detected (NaN with no detections), ``recall`` = TP / n_true
          (NaN with no true changes), ``f1`` = 2 TP / (n_true + n_detected) (NaN when both
          are 0).
        - ``mean_abs_error``, ``mean_error``: mean ``|detected - true|`` and mean
          (detected - true) session over matched pairs (NaN without matches).
        - ``exact_share``: share of matched pairs at exactly the true session.
        - ``tolerance``.

        ``matches``: ``client``, ``true_session``, ``detected_session``, ``error``
        (detected minus true).

    Raises
    ------
    ValueError
        A named column is missing, or ``tolerance`` is negative.

    Notes
    -----
    Within each client, pairs closer than ``tolerance`` are matched one-to-one so that the
    number of matches is as large as possible and, among such matchings, the total
    absolute error is smallest (an assignment problem, solved exactly; clients without
    competing candidates are matched directly). Detections of clients absent from the
    truth are false positives.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"client": [1, 1], "session": [4, 9]})
    >>> found = pd.DataFrame({"client": [1, 1], "gain_session": [5, 12]})
    >>> res = detection(truth, found, detected_session="gain_session")
    >>> res.summary()[["true_positives", "false_positives", "false_negatives", "mean_error"]]
       true_positives  false_positives  false_negatives  mean_error
    0               1                1                1         1.0
    """
    from . import _checks

    tolerance = _checks.number(tolerance, "tolerance", "detection", low=0.0)
    settings = {
        "tolerance": tolerance,
        "client": client,
        "truth_session": truth_session,
        "detected_session": detected_session,
        "kinds": None if kinds is None else list(kinds),
        "direction": direction,
    }
    if isinstance(detected, Result):
        settings.update(
            {
                k: v
                for k, v in detected.settings.items()
                if k.startswith("reliable_change") or k in ("seed", "toolkit_version")
            }
        )
        detected = detected.breakthroughs(direction=direction)  # type: ignore[arg-type]
        detected_session = "session"
        if client != "client":
            detected = detected.rename(columns={"client": client})
    for df, what, cols in (
        (truth, "truth", [client, truth_session]),
        (detected, "detected", [client, detected_session]),
    ):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"The {what} table must be a pandas DataFrame; got {type(df).__name__}."
            )
        for c in cols:
            _column(df, c, what)
    if kinds is not None:
        _column(truth, kind, "truth")
        truth = truth[truth[kind].isin(list(kinds))]
    t = pd.DataFrame(
        {"client": truth[client].to_numpy(), "t": truth[truth_session].to_numpy(dtype=float)}
    )
    d = pd.DataFrame(
        {
            "client": detected[client].to_numpy(),
            "d": detected[detected_session].to_numpy(dtype=float),
        }
    )
    t = t[~np.isnan(t["t"])].reset_index(drop=True)
    d = d[~np.isnan(d["d"])].reset_index(drop=True)
    t["ti"], d["di"] = np.arange(len(t)), np.arange(len(d))
    pairs = t.merge(d, on="client")
    pairs = pairs[np.abs(pairs["d"] - pairs["t"]) <= tolerance].reset_index(drop=True)
    chosen = _match(pairs)
    m = pairs.loc[chosen].sort_values(["ti"], kind="stable")
    matches = pd.DataFrame(
        {
            "client": m["client"].to_numpy(),
            "true_session": m["t"].to_numpy(),
            "detected_session": m["d"].to_numpy(),
            "error": (m["d"] - m["t"]).to_numpy(),
        }
    )
    for c in ("true_session", "detected_session"):
        if len(matches) and np.all(matches[c] == np.round(matches[c])):
            matches[c] = matches[c].astype(np.int64)
    tp, n_t, n_d = len(matches), len(t), len(d)
    err = matches["error"].to_numpy(dtype=float)
    summary = pd.DataFrame(
        {
            "n_true": [n_t],
            "n_detected": [n_d],
            "true_positives": [tp],
            "false_positives": [n_d - tp],
            "false_negatives": [n_t - tp],
            "precision": [tp / n_d if n_d else np.nan],
            "recall": [tp / n_t if n_t else np.nan],
            "f1": [2 * tp / (n_t + n_d) if n_t + n_d else np.nan],
            "mean_abs_error": [np.abs(err).mean() if tp else np.nan],
            "mean_error": [err.mean() if tp else np.nan],
            "exact_share": [(err == 0).mean() if tp else np.nan],
            "tolerance": [tolerance],
        }
    )
    from ._version import __version__

    settings.setdefault("reliable_change_points", None)
    settings.setdefault("reliable_change_source", None)
    settings.setdefault("seed", None)
    settings.setdefault("toolkit_version", __version__)
    return DetectionResult(
        table=summary[SUMMARY_COLUMNS], settings=settings, matches=matches[MATCH_COLUMNS]
    )


def _match(pairs: pd.DataFrame) -> np.ndarray:
    """Row labels of ``pairs`` forming a maximum matching with least total |error|."""
    if pairs.empty:
        return np.array([], dtype=np.int64)
    t_count = pairs.groupby("ti")["ti"].transform("size").to_numpy()
    d_count = pairs.groupby("di")["di"].transform("size").to_numpy()
    simple = (t_count == 1) & (d_count == 1)
    keep = list(np.flatnonzero(simple))
    rest = pairs[~simple]
    # Competing candidates: solve each connected client's small assignment problem exactly.
    big = 1.0 + 2.0 * float(np.max(np.abs(rest["d"] - rest["t"]).to_numpy(), initial=0.0)) * (
        len(rest) + 1
    )
    for _, g in rest.groupby("client", sort=False):
        ts, ti = np.unique(g["ti"].to_numpy(), return_inverse=True)
        ds, di = np.unique(g["di"].to_numpy(), return_inverse=True)
        cost = np.full((len(ts), len(ds)), big)
        cost[ti, di] = np.abs(g["d"].to_numpy() - g["t"].to_numpy())
        rows, cols = linear_sum_assignment(cost)
        ok = cost[rows, cols] < big
        lookup = {(a, b): lab for a, b, lab in zip(ti, di, g.index)}
        keep += [lookup[(a, b)] for a, b in zip(rows[ok], cols[ok])]
    return np.sort(np.asarray(keep, dtype=np.int64))


#: Columns of :attr:`ComparisonResult.table`: one row per method.
COMPARISON_COLUMNS = [
    "method",
    "n_analysed",
    "n_true",
    "n_flagged",
    "precision",
    "recall",
    "f1",
    "session_precision",
    "session_recall",
    "session_f1",
    "mean_abs_error",
]


@dataclass(frozen=True, repr=False)
class ComparisonResult(Result):
    """Every method's precision and recall for the true breakthroughs, side by side.

    Returned by :func:`compare_methods`; ``table`` has one row per method (columns
    :data:`COMPARISON_COLUMNS`).
    """

    method_name = "methods against truth"

    def summary(self) -> pd.DataFrame:
        """The table: one row per method."""
        return self.table

    def breakthroughs(self, direction: Any = "improvement") -> pd.DataFrame:
        """A comparison finds no breakthroughs; see the compared result's."""
        raise NotImplementedError("compare_methods() scores other results' breakthroughs.")

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Grouped bars: each method's precision and recall for breakthrough clients."""
        from .plots._style import PALETTE, get_axes

        ax = get_axes(ax, figsize=(7, 4))
        t = self.table
        x = np.arange(len(t))
        for offset, name, colour in (
            (-0.2, "precision", PALETTE["blue"]),
            (0.2, "recall", PALETTE["orange"]),
        ):
            ax.bar(x + offset, t[name], width=0.4, label=name, color=colour, **kwargs)
        ax.set_xticks(x, t["method"].tolist())
        ax.set_ylim(0, 1)
        ax.set_ylabel("Share of clients")
        ax.set_title("Finding the clients with a true breakthrough")
        ax.legend(frameon=False)
        return ax

    def methods_text(self) -> str:
        """The methods paragraph for this comparison."""
        tol = self.settings["tolerance"]
        return (
            "Each method was scored against the simulated truth: at the client level "
            "(precision, the share of flagged clients who had a true breakthrough; recall, "
            "the share of clients with a true breakthrough who were flagged; among the "
            "clients the method analysed) and at the session level (breakthroughs matched "
            f"one-to-one to true changes within {tol:g} session(s)). " + super().methods_text()
        )


def compare_methods(
    truth: pd.DataFrame,
    result: Any,
    *,
    tolerance: float = 1,
    kinds: Sequence[str] = ("gain",),
) -> ComparisonResult:
    """Each method's precision and recall for true breakthroughs, side by side.

    Parameters
    ----------
    truth : pandas.DataFrame
        True changes, one row each (``client``, ``kind``, ``session``), such as the truth of
        :func:`toolkit.simulate.trajectories`. Not modified.
    result : BreakthroughsResult
        From :func:`toolkit.breakthroughs` on the simulated scores.
    tolerance : int, default 1
        Largest session difference for a breakthrough to match a true change.
    kinds : sequence of str, default ("gain",)
        Kinds of true change that are breakthroughs.

    Returns
    -------
    ComparisonResult
        ``table``: one row per method with, among the clients the method analysed,
        ``n_analysed``, ``n_true`` (clients with a true breakthrough), ``n_flagged``,
        ``precision``, ``recall`` and ``f1`` per client; then ``session_precision``,
        ``session_recall``, ``session_f1`` and ``mean_abs_error`` from
        :func:`detection` on the method's breakthroughs (missing for reliable change, whose
        "session" is the last one rather than a moment of change).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import simulate
    >>> df, truth = simulate.trajectories(300, 12, instrument="PHQ-9", gain_size=(9, 1),
    ...                                   seed=4)
    >>> answer = toolkit.breakthroughs(toolkit.long_scores(df, client="client",
    ...     session="session", score="score", instrument="PHQ-9"), test=False)
    >>> compare_methods(truth, answer).table["method"].tolist()
    ['reliable change', 'sudden gains', 'change points']
    """
    from . import _checks

    tolerance = _checks.number(tolerance, "tolerance", "compare_methods", low=0.0)
    table = getattr(result, "table", None)
    if not hasattr(result, "results") or table is None:
        raise TypeError(
            "compare_methods() needs the result of toolkit.breakthroughs(); got "
            f"{type(result).__name__}. Fix: answer = toolkit.breakthroughs(scores)."
        )
    for c in ("client", "kind", "session"):
        _column(truth, c, "truth")
    true = truth[truth["kind"].isin(list(kinds))]
    has_true = table["client"].isin(true["client"]).to_numpy()
    from .per_client._table import BLOCKS, LABELS

    rows = []
    for name, method_result in result.results.items():
        flag = table[BLOCKS[name][0]]
        analysed = flag.notna().to_numpy()
        on = flag.fillna(False).to_numpy(dtype=bool) & analysed
        t_ = has_true & analysed
        tp, n_flag, n_true = int((on & t_).sum()), int(on.sum()), int(t_.sum())
        row: dict[str, Any] = {
            "method": LABELS[name],
            "n_analysed": int(analysed.sum()),
            "n_true": n_true,
            "n_flagged": n_flag,
            "precision": tp / n_flag if n_flag else np.nan,
            "recall": tp / n_true if n_true else np.nan,
            "f1": 2 * tp / (n_flag + n_true) if n_flag + n_true else np.nan,
        }
        if name == "reliable_change":
            row.update(
                session_precision=np.nan, session_recall=np.nan, session_f1=np.nan,
                mean_abs_error=np.nan,
            )  # fmt: skip
        else:
            kept = true[true["client"].isin(table["client"][analysed])]
            s = detection(kept, method_result, tolerance=tolerance).table.iloc[0]
            row.update(
                session_precision=s["precision"],
                session_recall=s["recall"],
                session_f1=s["f1"],
                mean_abs_error=s["mean_abs_error"],
            )
        rows.append(row)
    settings = dict(result.settings)
    settings.update(tolerance=tolerance, kinds=list(kinds))
    return ComparisonResult(
        table=pd.DataFrame(rows, columns=COMPARISON_COLUMNS),
        settings=settings,
        scores=getattr(result, "scores", None),
    )
