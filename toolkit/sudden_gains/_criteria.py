"""The three criteria of Tang & DeRubeis (1999) on the (clients x sessions) matrix.

Every interval N -> N+1 of every client is evaluated at once, without a per-client loop;
each criterion is a boolean array where it can be evaluated and *missing* elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "OFFSETS",
    "OFFSET_NAMES",
    "GAIN_COLUMNS",
    "INTERVAL_COLUMNS",
    "DESCRIBE_COLUMNS",
    "KINDS",
    "SELECT",
    "critical_value",
    "ULPS",
    "slack",
    "Criteria",
    "Windows",
    "windows",
    "criteria",
    "examined",
    "values_around",
    "why_not",
    "reason_texts",
]

#: Offsets of the values kept around each gain, relative to the pre-gain session N.
OFFSETS = (-2, -1, 0, 1, 2, 3)
OFFSET_NAMES = ("nm2", "nm1", "n", "np1", "np2", "np3")

#: Columns of the by-gain table (``SuddenGainsResult.table``).
GAIN_COLUMNS = [
    "client",
    "kind",
    "gain_number",
    "n_gains_client",
    "pre_session",
    "gain_session",
    *(f"score_{o}" for o in OFFSET_NAMES),
    "magnitude",
    "n_pre",
    "n_post",
    "critical_value",
    "change_total",
    "change_proportion",
    "reversal_value",
    "reversal",
    "reversal_session",
]

#: Columns of the per-interval table (``SuddenGainsResult.intervals()``).
INTERVAL_COLUMNS = [
    "client",
    "kind",
    "pre_session",
    "post_session",
    "score_n",
    "score_np1",
    "change",
    "n_pre",
    "n_post",
    "mean_pre",
    "mean_post",
    "pooled_sd",
    "critical_value",
    "crit1",
    "crit2",
    "crit3",
    "sudden",
]

#: Columns of ``SuddenGainsResult.describe()``.
DESCRIBE_COLUMNS = [
    "kind",
    "selection",
    "n_clients",
    "n_clients_analysed",
    "n_gains",
    "n_clients_with_gains",
    "share_clients_with_gains",
    "n_clients_multiple",
    "share_clients_multiple",
    "n_reversals",
    "share_reversals",
    "magnitude_mean",
    "magnitude_sd",
]

#: ``kind`` values and the kinds they select ("gain" and "gains" both work).
KINDS = {
    "gains": ("gain",),
    "gain": ("gain",),
    "losses": ("loss",),
    "loss": ("loss",),
    "both": ("gain", "loss"),
}
SELECT = ("first", "last", "largest", "smallest")


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
class Criteria:
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
class Windows:
    """Pre- and post-gain window statistics of every interval (kind-independent)."""

    n_pre: np.ndarray
    n_post: np.ndarray
    mean_pre: np.ndarray
    mean_post: np.ndarray
    pooled_sd: np.ndarray


def windows(x: np.ndarray) -> Windows:
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
    return Windows(n_pre, n_post, mean_pre, mean_post, pooled)


#: Two numbers this close (relative to the operands) count as equal: a change of exactly
#: the criterion stays exactly the criterion when scores are rescaled (``0.1 * scores``
#: rounds ``x[N] - x[N+1]`` and ``min_change`` differently), so every comparison below
#: gives on ``c * scores`` the answer it gives on ``scores``.
ULPS = 16 * np.finfo(float).eps


def slack(*terms: np.ndarray | float) -> np.ndarray:
    """The rounding allowance of a comparison between sums and products of ``terms``."""
    return ULPS * sum(np.abs(np.asarray(t, dtype=float)) for t in terms)


def criteria(
    x: np.ndarray,
    win: Windows,
    examined: np.ndarray,
    *,
    kind: str,
    sign: int,
    min_change: float | None,
    proportion: float | None,
    crit3: bool,
    alpha: float,
    adjust: bool,
    loss_criterion2: str,
) -> Criteria:
    x_n, x_np1 = x[:, :-1], x[:, 1:]
    improvement = sign * (x_n - x_np1)
    # A loss is a gain in the other direction.
    change = improvement if kind == "gain" else -improvement
    pair = ~(np.isnan(x_n) | np.isnan(x_np1))
    crit, valid = {}, {}
    with np.errstate(invalid="ignore"):
        # Ties within rounding count as met (>=) or not beyond (>): see ULPS.
        tie = slack(x_n, x_np1)
        if min_change is not None:
            crit[1], valid[1] = change >= min_change - tie - slack(min_change), pair
        if proportion is not None:
            if kind == "loss" and loss_criterion2 == "reference":
                # The reference implementation compares the signed change the gain way
                # round, so the criterion holds for every loss (kept for reproduction only).
                crit[2] = improvement <= proportion * x_n + tie
            else:
                crit[2] = change >= proportion * x_n - tie
            valid[2] = pair
        if crit3:
            n_avail = win.n_pre + win.n_post
            critical = (
                critical_value(n_avail, alpha)
                if adjust
                else np.full(n_avail.shape, critical_value(6, alpha)[()])
            )
            diff = sign * (win.mean_pre - win.mean_post)
            diff = diff if kind == "gain" else -diff
            crit[3] = diff > critical * win.pooled_sd + slack(win.mean_pre, win.mean_post)
            valid[3] = (win.n_pre >= 2) & (win.n_post >= 2)
        else:
            critical = np.full(change.shape, np.nan)
    return Criteria(
        crit,
        valid,
        change,
        win.n_pre,
        win.n_post,
        win.mean_pre,
        win.mean_post,
        win.pooled_sd,
        critical,
        examined,
    )


def examined(first: np.ndarray, last: np.ndarray, n_int: int, first_interval: bool) -> np.ndarray:
    """Intervals N -> N+1 examined for each client: from its 2nd session (or 1st) as N up to
    its third-last, so the first and the last interval of its sequence are left out."""
    k = np.arange(n_int)[None, :]
    lo = first + (0 if first_interval else 1)
    return (k >= lo[:, None]) & (k <= (last - 2)[:, None])


def values_around(x: np.ndarray, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Values at columns N-2 .. N+3 (NaN outside the matrix), shape (len(rows), 6)."""
    padded = np.pad(x, ((0, 0), (2, 3)), constant_values=np.nan)
    cols = ks[:, None] + 2 + np.array(OFFSETS)[None, :]
    return padded[rows[:, None], cols]


#: Codes of :func:`why_not` (index into :func:`reason_texts`).
NO_INTERVAL, CRIT3_MISSING, CRIT3_FAILED, CRIT1_FAILED, CRIT2_FAILED, OTHER = range(6)


def reason_texts(kind: str, min_change: float | None, reliable_change: bool) -> list[str]:
    """The words for each code of :func:`why_not`, for gains or losses; ``reliable_change``
    says that criterion 1 is the scores' reliable-change criterion."""
    move = "drop" if kind == "gain" else "rise"
    if min_change is None:
        crit1 = f"no {move} large enough (criterion 1)"
    elif reliable_change:
        crit1 = (
            f"no session-to-session {move} reached the {min_change:.4g}-point "
            "reliable-change criterion (criterion 1)"
        )
    else:
        crit1 = f"no session-to-session {move} reached {min_change:.4g} points (criterion 1)"
    return [
        "too few sessions: no interval could be examined",
        "criterion 3 missing: too few sessions around the large " + move,
        f"the large {move} did not last: the means before and after do not differ (criterion 3)",
        crit1,
        f"the largest {move} was too small relative to the score before it (criterion 2)",
        "no interval met every criterion (missing scores)",
    ]


def why_not(c: Criteria) -> tuple[np.ndarray, np.ndarray]:
    """For each client (row), the criterion that stopped its most promising interval.

    The most promising interval is the first one that meets criteria 1 and 2 (then criterion
    3 decided), else the one with the largest change. Returns the code (int8, see
    :data:`NO_INTERVAL` ...) and the interval's column (-1 when none was examined); the
    code is meaningless for clients that do have a gain.
    """
    exam = c.examined
    n = exam.shape[0]
    met = {k: exam & c.valid[k] & c.crit[k] for k in c.crit}
    big = exam.copy()
    for k in (1, 2):
        if k in met:
            big &= met[k]
    size = np.where(exam & ~np.isnan(c.change), c.change, -np.inf)
    best = np.argmax(size, axis=1)
    rows = np.arange(n)
    has_big = big.any(axis=1) if 3 in c.crit else np.zeros(n, dtype=bool)
    first_big = np.argmax(big, axis=1)
    code = np.full(n, OTHER, dtype=np.int8)
    at = np.where(has_big, first_big, best)
    if 1 in c.crit:
        code[np.isfinite(size[rows, best]) & ~met[1][rows, best]] = CRIT1_FAILED
    if 2 in c.crit:
        stop2 = np.isfinite(size[rows, best]) & ~met[2][rows, best] & (code == OTHER)
        code[stop2] = CRIT2_FAILED
    if 3 in c.crit:
        missing3 = ~c.valid[3][rows, first_big]
        code[has_big] = np.where(missing3[has_big], CRIT3_MISSING, CRIT3_FAILED)
    none = ~exam.any(axis=1)
    code[none] = NO_INTERVAL
    at[none] = -1
    return code, at.astype(np.int64)
