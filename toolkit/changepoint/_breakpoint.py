"""breakpoint: one continuous breakpoint per client (broken stick), anywhere between sessions.

Exact least squares (Hudson, 1966), the delta-method SE and t interval of R's segmented
(Muggeo, 2003, 2008), and Davies' (1987, 2002) test for a change in slope, for every client at
once from cumulative sums and small batched solves.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from .. import _checks
from .._options import progress_bar
from .._results import base_settings
from ..data import LongScores, as_scores
from ..instruments import Instrument
from ._costs import Stats
from ._detect import screen, sorted_skipped
from ._packed import Packed, pack
from ._result import BREAKPOINT_COLUMNS, DAVIES_COLUMNS, BreakpointResult
from ._search import chunks

__all__ = ["breakpoint", "MIN_OBSERVED"]

#: Fewest observed sessions for a breakpoint with a standard error (n - 4 > 0).
MIN_OBSERVED = 5


def breakpoint(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    level: float = 0.95,
    n_points: int = 10,
    alpha: float = 0.05,
    progress: bool | None = None,
) -> BreakpointResult:
    """One continuous breakpoint per client: the broken stick fitted by exact least squares.

    Each client's observed scores are fitted with

    .. math:: y = b_0 + b_1 t + d\\,(t - \\psi)_+ + e

    (slope ``b_1`` before the breakpoint ``psi``, ``b_1 + d`` after, no jump), where ``psi``
    may fall between observed sessions. This is R segmented's model (``segmented(lm(y ~ t),
    seg.Z = ~ t, npsi = 1)``), solved exactly instead of iteratively.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column names.
    client, session, score : str, optional
        Column names (needed with a DataFrame).
    instrument, better : str, optional
        The measure and direction (for a DataFrame).
    level : float, default 0.95
        Level of the interval of the breakpoint (``ci_lower``, ``ci_upper``).
    n_points : int, default 10
        Davies' test evaluates the slope-change statistic at this many breakpoints, equally
        spaced from the second to the second-last observed session (segmented's ``k``).
    alpha : float, default 0.05
        Significance level at which :meth:`BreakpointResult.summary` counts a change in
        slope.
    progress : bool, optional
        Show a progress bar for long runs (default: the global option).

    Returns
    -------
    BreakpointResult
        ``table``, one row per analysed client (:data:`BREAKPOINT_COLUMNS`):

        - ``client``, ``n_observed``.
        - ``breakpoint``: the least-squares ``psi`` in session units, between the second
          and the second-last observed session.
        - ``breakpoint_se``: its delta-method SE (see Notes).
        - ``ci_lower``, ``ci_upper``: ``psi -/+ t_{n-4} SE`` (the ``level`` interval, not
          clipped to the sessions, as segmented's ``confint``).
        - ``at_session``: the optimum lies exactly at an observed session.
        - ``session``: the first observed session at or after the breakpoint.
        - ``fit_at_breakpoint``: the fitted score at ``psi``.
        - ``slope_before``, ``slope_after``, ``slope_change`` (``d``) per session, each with
          its SE (``slope_before_se`` ...).
        - ``residual_sd``: ``sqrt(RSS / (n - 4))``; ``rss``; ``rss_linear``: RSS of one line.
        - ``davies_statistic``: the largest absolute t statistic of ``d`` over the
          ``n_points`` breakpoints; ``davies_best``: where it is; ``p_value``: Davies' upper
          bound for the two-sided p-value, at most 1.

        ``davies``: the statistic at every evaluated breakpoint (:data:`DAVIES_COLUMNS`).
        ``skipped``: clients not analysed, with the reason (fewer than
        :data:`MIN_OBSERVED` observed sessions, constant scores, scores exactly on a line).

    Raises
    ------
    ValueError
        For ``level`` or ``alpha`` outside (0, 1) or ``n_points`` below 2.

    Notes
    -----
    **Exact optimum.** With the observed sessions ``x_1 < ... < x_n``, ``psi`` ranges over
    ``[x_2, x_{n-1}]``. Within a gap ``(x_j, x_{j+1})`` the data split into the same two
    sets, so the best continuous fit there is the pair of separate least-squares lines when
    they cross inside the gap (RSS = RSS_left + RSS_right), and otherwise lies at an end of
    the gap (Hudson, 1966). The optimum is the best of these crossings and of the fits with
    ``psi`` at each session ``x_2 .. x_{n-1}``; no iteration, so no starting value and no
    local optimum (segmented's default start misses the global optimum of reference series
    s03).

    **Standard errors.** The covariance is ``s^2 (J'J)^{-1}`` with
    ``J = [1, t, (t - psi)_+, -d 1(t > psi)]`` and ``s^2 = RSS / (n - 4)``: the delta method
    (Gauss-Newton) covariance that segmented's ``summary``, ``confint`` and ``slope`` use at
    convergence. At an optimum exactly at a session the RSS has a kink, ``1(t > psi)`` and
    ``1(t >= psi)`` differ at that session, and the two give different SEs; the larger is
    reported (segmented stops a hair short of the session, on either side, and reports that
    side's value). At ``psi = x_2`` or ``x_{n-1}`` only one side has a covariance (the other
    leaves a single observation beyond the breakpoint), and that one is reported.

    **Davies' test** (segmented's ``davies.test`` for a linear model, ``k = n_points``,
    two-sided): at each evaluated ``psi_i`` the t statistic ``T_i`` of ``d`` in
    ``y ~ (t - psi_i)_+ + 1 + t``, ``M = max |T_i|``, ``V = sum_i |asin(r_{i+1}) - asin(r_i)|``
    with ``r_i^2 = Z_i^2 / (Z_i^2 + RSS_i)`` (``Z_i`` the unscaled statistic), and
    ``p = 2 [P(T_{n-3} > M) + V (1 - u)^{(n-4)/2} Gamma((n-2)/2) / (2 sqrt(pi)
    Gamma((n-3)/2))]`` with ``u = M^2 / (n - 3 + M^2)`` (Davies, 2002), capped at 1.

    References
    ----------
    Davies, R. B. (1987). Hypothesis testing when a nuisance parameter is present only under
    the alternative. Biometrika, 74(1), 33-43.

    Davies, R. B. (2002). Hypothesis testing when a nuisance parameter is present only under
    the alternative: Linear model case. Biometrika, 89(2), 484-489.

    Hudson, D. J. (1966). Fitting segmented curves whose join points have to be estimated.
    Journal of the American Statistical Association, 61(316), 1097-1129.

    Muggeo, V. M. R. (2003). Estimating regression models with unknown break-points.
    Statistics in Medicine, 22(19), 3055-3071.

    Muggeo, V. M. R. (2008). segmented: An R package to fit regression models with
    broken-line relationships. R News, 8(1), 20-25.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit.changepoint import breakpoint
    >>> df = pd.DataFrame({"id": 1, "week": range(0, 12),
    ...                    "phq": [20, 20, 21, 19, 20, 19, 17, 14, 12, 9, 7, 4]})
    >>> bp = breakpoint(df, client="id", session="week", score="phq", instrument="PHQ-9")
    >>> bp.table[["breakpoint", "breakpoint_se", "slope_before", "slope_after"]].round(2)
       breakpoint  breakpoint_se  slope_before  slope_after
    0         4.8           0.27          -0.1         -2.5
    >>> bool(bp.table["p_value"].iloc[0] < 0.001)
    True
    """
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    level = _checks.level(level, "level", "breakpoint")
    alpha = _checks.level(alpha, "alpha", "breakpoint")
    n_points = _checks.whole(n_points, "n_points", "breakpoint", low=2)
    settings = base_settings(
        scores, level=level, n_points=n_points, alpha=alpha, alternative="two-sided"
    )
    matrix, rows, skipped = screen(scores, 2, "a continuous breakpoint", need=MIN_OBSERVED)
    p = pack(matrix, scores.sessions, rows)
    parts: list[dict[str, np.ndarray]] = []
    for idx in progress_bar(
        chunks(len(p.n), 60 * (p.length + 1) + n_points * (p.length + 20)),
        progress=progress,
        desc="breakpoints",
    ):
        parts.append(_fit(p.take(idx), level, n_points))
    cols = (
        {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
        if parts
        else {k: np.zeros(0) for k in _fit(p, level, n_points)}
    )
    ids = scores.clients.to_numpy()[p.rows]
    line = cols.pop("on_line").astype(bool)
    if line.any():
        extra = pd.DataFrame(
            {
                "client": ids[line],
                "reason": "the scores lie exactly on a straight line: any breakpoint fits "
                "them equally well",
            }
        )
        skipped = pd.concat([skipped, extra], ignore_index=True)
    keep = ~line
    psi_grid = cols.pop("davies_psi")[keep]
    stat_grid = cols.pop("davies_stat")[keep]
    table = pd.DataFrame({"client": ids[keep], **{k: v[keep] for k, v in cols.items()}})
    table["n_observed"] = table["n_observed"].astype(np.int64)
    table["session"] = table["session"].astype(np.int64)
    table["at_session"] = table["at_session"].astype(bool)
    davies = pd.DataFrame(
        {
            "client": np.repeat(ids[keep], n_points),
            "psi": psi_grid.ravel(),
            "statistic": stat_grid.ravel(),
        }
    )
    return BreakpointResult(
        table=table[BREAKPOINT_COLUMNS],
        settings=settings,
        skipped=sorted_skipped(skipped),
        davies=davies[DAVIES_COLUMNS],
        scores=scores,
    )


def _line(stats: Stats, r: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    """Intercept (at t = 0), slope and RSS of the least-squares line of segments [s, e)."""
    d = lambda a: getattr(stats, a)[r, e] - getattr(stats, a)[r, s]
    m, sy, st = d("m"), d("sy"), d("st")
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar, tbar = sy / m, st / m
        sttc = d("stt") - m * tbar * tbar
        styc = d("sty") - m * tbar * ybar
        syyc = d("syy") - m * ybar * ybar
        slope = styc / sttc
        rss = np.maximum(syyc - styc * slope, 0.0)
    return ybar - slope * tbar, slope, rss


class _Sums:
    """Prefix sums over packed positions, and the sums of the hinge h = (t - v)_+ over the
    suffix of positions whose session is after v, for any threshold (all O(N L))."""

    def __init__(self, p: Packed) -> None:
        w = (np.arange(p.length)[None, :] < p.n[:, None]).astype(float)
        t, y = p.t * w, p.y * w  # both centred per client; zero beyond n
        cs = lambda a: np.concatenate([np.zeros((len(a), 1)), np.cumsum(a, axis=1)], axis=1)
        self.c = [cs(a) for a in (w, t, t * t, y, t * y)]
        self.total = [c[np.arange(len(p.n)), p.n] for c in self.c]
        self.n = p.n.astype(float)
        self.tt, self.ty, self.yy = self.total[2], self.total[4], (y * y).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.rss_line = np.maximum(self.yy - self.ty**2 / self.tt, 0.0)

    def suffix(self, j: np.ndarray) -> list[np.ndarray]:
        """Sums of 1, t, t^2, y, t y over positions j .. n-1 (``j`` of shape (N,) or (N, k))."""
        idx = j.reshape(len(self.n), -1)
        out = []
        for c, tot in zip(self.c, self.total):
            out.append((tot[:, None] - np.take_along_axis(c, idx, axis=1)).reshape(j.shape))
        return out

    def hinge(self, v: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """Sums of h, t h for h = (t - v)_+ (the positions after v being j .. n-1), and the
        regression of the centred y on [1, t, h]: ``hy`` and ``hh`` (h residualised on
        [1, t]), the slope change ``d`` and the RSS."""
        s0, s1, s2, sy, sty = self.suffix(j)
        ex = lambda a: a if a.ndim == v.ndim else a[:, None]
        n, tt, ty = ex(self.n), ex(self.tt), ex(self.ty)
        sh = s1 - v * s0
        shh = s2 - 2 * v * s1 + v * v * s0
        sth = s2 - v * s1
        shy = sty - v * sy
        with np.errstate(invalid="ignore", divide="ignore"):
            hy = shy - sth / tt * ty  # y is centred: no mean term
            hh = shh - sh * sh / n - sth * sth / tt
            d = hy / hh
            rss = np.maximum(ex(self.rss_line) - hy * hy / hh, 0.0)
        return {"sh": sh, "shh": shh, "sth": sth, "hh": hh, "hy": hy, "d": d, "rss": rss}


def _fit(p: Packed, level: float, n_points: int) -> dict[str, np.ndarray]:
    """The exact one-breakpoint fit, its covariance and Davies' test for packed clients."""
    n_rows, length = len(p.n), p.length
    r = np.arange(n_rows)
    pos = np.arange(length)
    valid = pos[None, :] < p.n[:, None]
    t = p.t
    sums = _Sums(p)
    cum = Stats(p, "linear")

    # 1. psi at each session x_2 .. x_{n-1} (positions 1 .. n-2): the hinge is nonzero on
    #    the positions after it.
    knot_ok = (pos[None, :] >= 1) & (pos[None, :] <= (p.n - 2)[:, None])
    k = np.broadcast_to(pos, (n_rows, length))
    at_knot = sums.hinge(t, np.minimum(k + 1, p.n[:, None]))
    rss_knot = np.where(knot_ok, at_knot["rss"], np.inf)

    # 2. psi inside a gap (x_j, x_{j+1}): the separate lines of x_1..x_j and x_{j+1}..x_n,
    #    when they cross inside the gap (j = 2 .. n-2 points on the left).
    j = np.broadcast_to(np.arange(length + 1), (n_rows, length + 1))
    gap_ok = (j >= 2) & (j <= (p.n - 2)[:, None])
    jj = np.where(gap_ok, j, 2)
    rr = np.broadcast_to(r[:, None], jj.shape)
    zero = np.zeros_like(jj)
    end = np.broadcast_to(p.n[:, None], jj.shape)
    a_l, b_l, rss_l = _line(cum, rr, zero, jj)
    a_r, b_r, rss_r = _line(cum, rr, jj, end)
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = (a_l - a_r) / (b_r - b_l)
    t_left = np.take_along_axis(t, np.clip(jj - 1, 0, length - 1), axis=1)
    t_right = np.take_along_axis(t, np.clip(jj, 0, length - 1), axis=1)
    inside = gap_ok & np.isfinite(cross) & (cross > t_left) & (cross < t_right)
    rss_gap = np.where(inside, rss_l + rss_r, np.inf)

    both = np.concatenate([rss_knot, rss_gap], axis=1)
    best = np.argmin(both, axis=1)
    at_session = best < length
    psi = np.where(
        at_session,
        t[r, np.minimum(best, length - 1)],
        cross[r, np.maximum(best - length, 0)],
    )

    # 3. The fit at psi and its delta-method covariance, from the suffix sums.
    after = (valid & (t > psi[:, None])).sum(axis=1)  # positions strictly after psi
    from_ = (valid & (t >= psi[:, None])).sum(axis=1)  # positions at or after psi
    j_gt, j_ge = p.n - after, p.n - from_
    fit = sums.hinge(psi, j_gt)
    d = fit["d"]
    b1 = (sums.ty - d * fit["sth"]) / sums.tt
    b0 = -d * fit["sh"] / sums.n
    rss = fit["rss"]
    dof = p.n - 4
    s2 = rss / dof
    # J = [1, t, h, g] with g = -d 1(t > psi) or -d 1(t >= psi) (h is 0 at t = psi). d = 0
    # leaves psi unidentified: its SE is missing. At psi = x_2 (x_{n-1}) the side counting
    # that session before (after) the breakpoint leaves one observation on the other side,
    # and that side's covariance does not exist.
    flat = ~(np.abs(d) > 1e-12 * (1.0 + np.abs(b1)))
    covs = []
    for jx, lone in ((j_gt, after <= 1), (j_ge, p.n - from_ <= 1)):
        c0, c1 = sums.suffix(jx)[:2]
        jtj = np.zeros((n_rows, 4, 4))
        jtj[:, 0, 0] = sums.n
        jtj[:, 1, 1] = sums.tt
        jtj[:, 0, 2] = jtj[:, 2, 0] = fit["sh"]
        jtj[:, 1, 2] = jtj[:, 2, 1] = fit["sth"]
        jtj[:, 2, 2] = fit["shh"]
        jtj[:, 0, 3] = jtj[:, 3, 0] = -d * c0
        jtj[:, 1, 3] = jtj[:, 3, 1] = -d * c1
        jtj[:, 2, 3] = jtj[:, 3, 2] = -d * fit["sh"]
        jtj[:, 3, 3] = d * d * c0
        bad = flat | lone | ~np.isfinite(jtj).all(axis=(1, 2))
        jtj[bad] = np.eye(4)
        cov = s2[:, None, None] * np.linalg.inv(jtj)
        cov[bad] = np.nan
        covs.append(cov)
    pick = np.nan_to_num(covs[1][:, 3, 3], nan=-1.0) > np.nan_to_num(covs[0][:, 3, 3], nan=-1.0)
    cov = np.where(pick[:, None, None], covs[1], covs[0])
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.maximum(cov[:, 3, 3], 0.0))
        se_b1 = np.sqrt(np.maximum(cov[:, 1, 1], 0.0))
        se_d = np.sqrt(np.maximum(cov[:, 2, 2], 0.0))
        se_after = np.sqrt(np.maximum(cov[:, 1, 1] + cov[:, 2, 2] + 2 * cov[:, 1, 2], 0.0))
    q = stats_t_quantile(level, dof)
    psi_sessions = psi + p.t_mean
    big_int = np.iinfo(np.int64).max
    sess = np.where(valid, p.sessions, big_int)
    first_at = np.min(np.where(sess >= psi_sessions[:, None] - 1e-9, sess, big_int), axis=1)

    # 4. Davies' test at n_points breakpoints from x_2 to x_{n-1} (segmented's davies.test):
    #    the t statistic of d in y ~ (t - v)_+ + 1 + t at each v.
    lo = t[r, 1]
    hi = t[r, p.n - 2]
    frac = np.linspace(0.0, 1.0, n_points)
    grid = lo[:, None] + (hi - lo)[:, None] * frac[None, :]  # (N, k)
    j_grid = p.n[:, None] - (valid[:, None, :] & (t[:, None, :] > grid[:, :, None])).sum(axis=2)
    dv = sums.hinge(grid, j_grid)
    dev = dv["rss"]
    df_res = (p.n - 3)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = dv["hy"] / np.sqrt(dv["hh"])  # b_h / sqrt((X'X)^-1_hh)
        tstat = np.where(dev > 0, z / np.sqrt(dev / df_res), np.sign(z) * np.inf)
        ratio = np.where(dev > 0, z * z / (z * z + dev), 1.0)
    tstat = np.nan_to_num(tstat, nan=0.0, posinf=np.inf, neginf=-np.inf)
    absolute = np.abs(tstat)
    at_max = np.argmax(absolute, axis=1)
    m_stat = absolute[r, at_max]
    v = np.abs(np.diff(np.arcsin(np.sqrt(np.clip(ratio, 0.0, 1.0))), axis=1)).sum(axis=1)
    dfr = (p.n - 3).astype(float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        u = np.where(np.isfinite(m_stat), m_stat**2 / (dfr + m_stat**2), 1.0)
        approx = (
            v
            * (1 - u) ** ((dfr - 1) / 2)
            * np.exp(special.gammaln(dfr / 2 + 0.5) - special.gammaln(dfr / 2))
            / (2 * np.sqrt(np.pi))
        )
        p_naive = stats.t.sf(m_stat, dfr)
    p_value = np.minimum(2 * (p_naive + approx), 1.0)
    return {
        "n_observed": p.n.astype(float),
        "breakpoint": psi_sessions,
        "breakpoint_se": se,
        "ci_lower": psi_sessions - q * se,
        "ci_upper": psi_sessions + q * se,
        "at_session": at_session.astype(float),
        "session": first_at.astype(float),
        "fit_at_breakpoint": b0 + b1 * psi + p.y_mean,
        "slope_before": b1,
        "slope_before_se": se_b1,
        "slope_after": b1 + d,
        "slope_after_se": se_after,
        "slope_change": d,
        "slope_change_se": se_d,
        "residual_sd": np.sqrt(s2),
        "rss": rss,
        "rss_linear": sums.rss_line,
        "davies_statistic": m_stat,
        "davies_best": grid[r, at_max] + p.t_mean,
        "p_value": p_value,
        "on_line": (sums.rss_line <= 1e-12 * np.maximum(sums.yy, 1e-300)).astype(float),
        "davies_psi": grid + p.t_mean[:, None],
        "davies_stat": tstat,
    }


def stats_t_quantile(level: float, dof: np.ndarray) -> np.ndarray:
    """The two-sided ``level`` quantile of Student's t (NaN where dof < 1)."""
    out = np.full(len(dof), np.nan)
    ok = dof >= 1
    out[ok] = stats.t.ppf(0.5 + level / 2, dof[ok])
    return out
