"""At most one change: the Monte Carlo test, the confidence set of the change session."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import _checks, _random
from .._options import progress_bar
from .._results import base_settings
from ..data import LongScores, as_scores
from ..instruments import Instrument
from ._costs import Stats
from ._detect import check_common, line_rows, resolve_seed, screen, seg_mean, sorted_skipped
from ._packed import Packed, pack
from ._result import AMOC_COLUMNS, CONFIDENCE_SET_COLUMNS, AmocResult
from ._search import broken_stick_fit, chunks

__all__ = ["amoc", "amoc_core"]


def _single_change_profile(
    p: Packed, model: str, min_size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """RSS without a change (N,), RSS with one change at each position (N, L+1; inf where
    not allowed), and the number of parameters of the one-change model."""
    n_rows, length = len(p.n), p.length
    k = np.arange(length + 1)
    allowed = (k[None, :] >= min_size) & (k[None, :] <= (p.n - min_size)[:, None])
    if model == "broken_stick":
        valid = (np.arange(length)[None, :] < p.n[:, None]).astype(float)
        scale = np.maximum(np.abs(p.t).max(axis=1, keepdims=True), 1.0)
        tt = p.t / scale
        base = np.stack([valid, tt * valid], axis=2)  # (N, L, 2)
        g0 = np.einsum("nlp,nlq->npq", base, base) + 1e-10 * np.eye(2)
        b0 = np.einsum("nlp,nl->np", base, p.y)
        yy = (p.y * p.y * valid).sum(axis=1)
        rss0 = yy - (np.linalg.solve(g0, b0[..., None])[..., 0] * b0).sum(axis=1)
        kk = np.minimum(k, length - 1)
        h = np.maximum(tt[:, None, :] - tt[:, kk][:, :, None], 0.0) * valid[:, None, :]
        # Gram of [1, t, h] for each knot: (N, K, 3, 3)
        g = np.zeros((n_rows, length + 1, 3, 3))
        g[:, :, :2, :2] = g0[:, None]
        g[:, :, 0, 2] = g[:, :, 2, 0] = h.sum(axis=2)
        g[:, :, 1, 2] = g[:, :, 2, 1] = (h * tt[:, None, :]).sum(axis=2)
        g[:, :, 2, 2] = (h * h).sum(axis=2) + 1e-10
        g[:, :, :2, :2] += 1e-10 * np.eye(2)
        rhs = np.concatenate(
            [
                np.broadcast_to(b0[:, None], (n_rows, length + 1, 2)),
                (h * p.y[:, None, :]).sum(axis=2)[..., None],
            ],
            axis=2,
        )
        g[~allowed] = np.eye(3)
        coef = np.linalg.solve(g, rhs[..., None])[..., 0]
        rss1 = yy[:, None] - (coef * rhs).sum(axis=2)
        n_par = 4  # intercept, slope, slope change, location
    else:
        stats = Stats(p, model)
        zero = np.zeros((n_rows, 1), dtype=np.int64)
        end = p.n[:, None].astype(np.int64)
        rss0 = stats.rss(zero, end, per_client=True)[:, 0]
        kk = np.broadcast_to(k, (n_rows, length + 1))
        rss1 = stats.rss(np.broadcast_to(zero, kk.shape), kk, per_client=True) + stats.rss(
            kk, np.broadcast_to(end, kk.shape), per_client=True
        )
        n_par = 3 if model == "mean" else 5
    rss1 = np.where(allowed, np.maximum(rss1, 0.0), np.inf)
    return np.maximum(rss0, 0.0), rss1, n_par


def _amoc_statistic(rss0: np.ndarray, rss1: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - rss1.min(axis=1) / rss0


def _meanvar_profile(
    p: Packed, min_size: int, var_floor: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Statistic and best position of the single change in mean and variance: the
    likelihood ratio per observation, ``(C_0 - min_k C_1(k)) / n`` with C the Gaussian
    -2 log-likelihood at each segment's own mean and variance (``meanvar``)."""
    n_rows, length = len(p.n), p.length
    floor = np.zeros(n_rows) if var_floor is None else var_floor
    stats = Stats(p, "meanvar")
    k = np.arange(length + 1)
    allowed = (k[None, :] >= min_size) & (k[None, :] <= (p.n - min_size)[:, None])
    zero = np.zeros((n_rows, 1), dtype=np.int64)
    end = p.n[:, None].astype(np.int64)
    c0 = stats.meanvar_cost(zero, end, floor, per_client=True)[:, 0]
    kk = np.broadcast_to(k, (n_rows, length + 1))
    c1 = stats.meanvar_cost(
        np.broadcast_to(zero, kk.shape), kk, floor, per_client=True
    ) + stats.meanvar_cost(kk, np.broadcast_to(end, kk.shape), floor, per_client=True)
    c1 = np.where(allowed, c1, np.inf)
    return (c0 - c1.min(axis=1)) / p.n, np.argmin(c1, axis=1)


def amoc_core(
    p: Packed,
    model: str,
    min_size: int,
    method: str,
    n_boot: int,
    level: float,
    seed: int,
    clients: pd.Index,
    progress: bool | None,
    confidence: bool = True,
    var_floor: np.ndarray | None = None,
) -> dict[str, Any]:
    """p-values (and confidence sets) for every packed client.

    Random draws are keyed by the seed and the observation pattern (the null law of the
    statistic depends on nothing else) or by the seed and the client, so that a client's
    p-value and set are the same in any subset of clients. ``meanvar`` (p-values only, for
    ``detect(test=True)``) uses the likelihood ratio of one change in mean and variance.
    """
    if model == "meanvar":
        stat, k_hat = _meanvar_profile(p, min_size, var_floor)
        rss1 = np.zeros((len(p.n), p.length + 1))
        n_par = 4
    else:
        rss0, rss1, n_par = _single_change_profile(p, model, min_size)
        stat = _amoc_statistic(rss0, rss1)
        k_hat = np.argmin(rss1, axis=1)
    exceed = np.zeros(len(p.n))
    ckeys = _random.client_keys(clients.take(p.rows))
    if method == "bootstrap":
        # The statistic is invariant to location, scale (and, for the linear models, trend),
        # so under Gaussian noise its null law depends only on the observation pattern.
        if model in ("mean", "meanvar"):
            key = p.n[:, None]
        else:
            rel = np.where(p.sessions >= 0, p.sessions - p.sessions[:, :1], -1)
            key = np.column_stack([p.n, rel])
        uniq, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for g in progress_bar(range(len(uniq)), progress=progress, desc="null distributions"):
            members = np.flatnonzero(inverse == g)
            first = p.take(members[:1])
            pattern = [int(v) for v in uniq[g] if v >= 0]
            pattern_key = _random.key_of(f"{model}:{min_size}:{pattern}")
            null = _null_stats(first, model, min_size, n_boot, seed, pattern_key)
            null.sort()
            exceed[members] = n_boot - np.searchsorted(null, stat[members] - 1e-12, side="left")
    else:  # permutation of each client's own scores (mean model)
        for idx in progress_bar(
            chunks(len(p.n), n_boot * (p.length + 1)), progress=progress, desc="permutations"
        ):
            sub = p.take(idx)
            rep = _repeat(sub, n_boot)
            streams = _random.stream_keys(seed, ckeys[idx], "amoc permutation")
            keys = _random.uniform(_random.pair_keys(streams, n_boot), rep.length)
            keys[np.arange(rep.length)[None, :] >= rep.n[:, None]] = 2.0
            rep.y = np.take_along_axis(rep.y, np.argsort(keys, axis=1), axis=1)
            s0, s1, _ = _single_change_profile(rep, model, min_size)
            null = _amoc_statistic(s0, s1).reshape(len(idx), n_boot)
            exceed[idx] = (null >= stat[idx, None] - 1e-12).sum(axis=1)
    p_value = (1.0 + exceed) / (n_boot + 1.0)
    out = {"statistic": stat, "p_value": p_value, "k_hat": k_hat, "rss1": rss1}
    if confidence:
        out["in_set"], out["lr"] = _confidence_sets(
            p, model, min_size, rss1, k_hat, n_par, n_boot, level, seed, ckeys, progress
        )
    return out


def _repeat(p: Packed, b: int) -> Packed:
    return Packed(
        *(
            np.repeat(getattr(p, f), b, axis=0)
            for f in ("y", "t", "sessions", "n", "y_mean", "t_mean", "rows")
        )
    )


def _null_stats(
    p1: Packed, model: str, min_size: int, n_boot: int, seed: int, pattern_key: np.uint64
) -> np.ndarray:
    """Statistic of ``n_boot`` Gaussian white-noise series observed like client ``p1``."""
    rep = _repeat(p1, n_boot)
    streams = _random.replicate_keys(seed, pattern_key, n_boot, "amoc null")
    noise = _random.normal(streams, rep.length)
    rep.y = np.where(np.arange(rep.length)[None, :] < rep.n[:, None], noise, 0.0)
    if model == "meanvar":  # continuous noise: no segment of equal values, no floor
        return _meanvar_profile(rep, min_size, None)[0]
    s0, s1, _ = _single_change_profile(rep, model, min_size)
    return _amoc_statistic(s0, s1)


def _one_change_fit(p: Packed, model: str, k_hat: np.ndarray) -> np.ndarray:
    """Fitted values (N, L) of the best one-change model."""
    n_rows, length = len(p.n), p.length
    if model == "broken_stick":
        return broken_stick_fit(p, k_hat[:, None])
    stats = Stats(p, model)
    r = np.arange(n_rows)
    pos = np.arange(length)[None, :]
    fitted = np.zeros((n_rows, length))
    for s, e, in_seg in (
        (np.zeros(n_rows, np.int64), k_hat, pos < k_hat[:, None]),
        (k_hat, p.n, pos >= k_hat[:, None]),
    ):
        ybar, tbar, slope = line_rows(stats, r, s, e)
        line = ybar[:, None] + slope[:, None] * (p.t - tbar[:, None])
        fitted = np.where(in_seg, line, fitted)
    return np.where(pos < p.n[:, None], fitted, 0.0)


def _confidence_sets(
    p: Packed,
    model: str,
    min_size: int,
    rss1: np.ndarray,
    k_hat: np.ndarray,
    n_par: int,
    n_boot: int,
    level: float,
    seed: int,
    ckeys: np.ndarray,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood-ratio confidence set for the change position, calibrated by a parametric
    bootstrap from each client's fitted one-change model."""
    n_rows = len(p.n)
    dof = np.maximum(p.n - n_par + 1, 1)  # the location is not a linear parameter
    rss_min = rss1[np.arange(n_rows), k_hat]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = (rss1 - rss_min[:, None]) / (rss_min / dof)[:, None]
    crit = np.full(n_rows, np.inf)
    fitted = _one_change_fit(p, model, k_hat)
    sigma = np.sqrt(rss_min / dof)
    width = (p.length + 1) * (3 * p.length if model == "broken_stick" else 6)
    for idx in progress_bar(
        chunks(n_rows, n_boot * width), progress=progress, desc="confidence sets"
    ):
        sub = _repeat(p.take(idx), n_boot)
        streams = _random.stream_keys(seed, ckeys[idx], "amoc confidence set")
        noise = _random.normal(_random.pair_keys(streams, n_boot), sub.length)
        valid = np.arange(sub.length)[None, :] < sub.n[:, None]
        y = np.repeat(fitted[idx], n_boot, axis=0) + np.repeat(sigma[idx], n_boot)[:, None] * noise
        sub.y = np.where(valid, y - (np.where(valid, y, 0).sum(axis=1) / sub.n)[:, None], 0.0)
        _, s1, _ = _single_change_profile(sub, model, min_size)
        kh = np.repeat(k_hat[idx], n_boot)
        best = s1.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (s1[np.arange(len(kh)), kh] - best) / (best / np.repeat(dof[idx], n_boot))
        d = np.nan_to_num(d.reshape(len(idx), n_boot), nan=0.0, posinf=np.inf)
        crit[idx] = np.quantile(d, level, axis=1, method="higher")
    in_set = np.isfinite(rss1) & (lr <= crit[:, None] + 1e-9)
    in_set[np.arange(n_rows), k_hat] = True
    return in_set, lr


def amoc(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["mean", "linear", "broken_stick"] = "mean",
    min_size: int | None = None,
    method: Literal["bootstrap", "permutation"] = "bootstrap",
    n_boot: int = 999,
    level: float = 0.95,
    seed: int | None = None,
    progress: bool | None = None,
    better: Literal["lower", "higher"] | None = None,
    alpha: float = 0.05,
) -> AmocResult:
    """Test every client for at most one change, with a confidence set for its session.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column names.
    client, session, score, instrument : str, optional
        Column names and measure (as for :func:`detect`).
    model : {"mean", "linear", "broken_stick"}, default "mean"
        Model under the alternative; the null is the same model without a change.
    min_size : int, optional
        Fewest observed sessions on each side of the change (defaults as in :func:`detect`).
    method : {"bootstrap", "permutation"}, default "bootstrap"
        Null distribution: Monte Carlo from Gaussian white noise observed at the client's
        sessions (exact for Gaussian noise, because the statistic does not depend on the
        client's level, trend or SD), or permutations of the client's own scores (``mean``
        model only; exact for exchangeable noise of any distribution).
    n_boot : int, default 999
        Monte Carlo replicates (for the p-value and, separately, for the confidence set).
    level : float, default 0.95
        Confidence level of the set of change sessions.
    seed : int, optional
        Same seed, same p-values and sets; draws are keyed by (seed, client) or (seed,
        observation pattern), so a client's p-value and set are the same in any subset of
        clients or partition of a registry. None draws a seed, recorded in ``settings``.
    progress : bool, optional
        Show a progress bar for long runs (default: the global option).
    better : {"lower", "higher"}, optional
        Direction of improvement without an instrument (for ``breakthroughs()``).
    alpha : float, default 0.05
        Significance level at which ``breakthroughs()`` counts a single change.

    Returns
    -------
    AmocResult
        ``table``, one row per tested client:

        - ``client``.
        - ``session``: best single change session (first session of the new segment).
        - ``statistic``: ``1 - min_k RSS_1(k) / RSS_0``, the share of the no-change residual
          sum of squares that the best single change explains.
        - ``p_value``: ``(1 + #{null >= statistic}) / (n_boot + 1)``.
        - ``pre_mean``, ``post_mean``: mean observed score before and after ``session``.
        - ``jump``: post-change fit minus pre-change fit at ``session`` (0 for
          ``broken_stick``).
        - ``ci_lower``, ``ci_upper``: first and last session of the confidence set.
        - ``n_in_set``: number of sessions in the set (it need not be contiguous).

        ``confidence_sets``: ``client``, ``session`` (each allowed change session), ``lr``
        (likelihood-ratio distance from the best session) and ``in_set``. ``skipped``:
        clients not tested, with the reason.

    Raises
    ------
    ValueError
        For an unknown model or method, ``method="permutation"`` with a linear model, or
        ``level``/``n_boot`` out of range.

    Notes
    -----
    ``RSS_0`` is the residual sum of squares without a change and ``RSS_1(k)`` with one
    change at position k. The Monte Carlo p-value is valid in finite samples (Barnard,
    1963): the null draws share the client's observed sessions. The confidence set is
    ``{k : (RSS_1(k) - RSS_1(k_hat)) / s^2 <= c}`` with ``s^2 = RSS_1(k_hat) / (n - p)``
    and ``c`` the ``level`` quantile of the same quantity at the true change in parametric
    bootstrap samples from the client's fitted one-change model (Siegmund, 1988; Hinkley,
    1970).

    References
    ----------
    Barnard, G. A. (1963). Discussion of Professor Bartlett's paper. JRSS B, 25, 294.

    Hinkley, D. V. (1970). Inference about the change-point in a sequence of random
    variables. Biometrika, 57(1), 1-17.

    Siegmund, D. (1988). Confidence sets in change-point problems. International
    Statistical Review, 56(1), 31-48.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit.changepoint import amoc
    >>> res = amoc(toolkit.datasets.load_scores("sgdata"), n_boot=199, seed=1,
    ...            progress=False)
    >>> list(res.table.columns) == toolkit.changepoint.AMOC_COLUMNS
    True
    """
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    _checks.choice(model, "model", "amoc", ("mean", "linear", "broken_stick"))
    min_size = check_common(model, min_size, function="amoc")
    _checks.level(alpha, "alpha", "amoc")
    _checks.choice(method, "method", "amoc", ("bootstrap", "permutation"))
    if method == "permutation" and model != "mean":
        raise ValueError(
            f"method='permutation' needs exchangeable scores, which model="
            f"{model!r} does not assume. Fix: use method='bootstrap'."
        )
    n_boot = _checks.whole(n_boot, "n_boot", "amoc", low=1)
    level = _checks.level(level, "level", "amoc")
    seed = resolve_seed(seed, "amoc")
    settings = base_settings(
        scores,
        seed=seed,
        model=model,
        min_size=min_size,
        method=method,
        n_boot=n_boot,
        level=level,
        alpha=alpha,
    )
    matrix, rows, skipped = screen(scores, min_size, "the at-most-one-change test")
    p = pack(matrix, scores.sessions, rows)
    if len(p.n) == 0:
        table = pd.DataFrame({c: pd.Series(dtype=float) for c in AMOC_COLUMNS})
        sets = pd.DataFrame({c: pd.Series(dtype=float) for c in CONFIDENCE_SET_COLUMNS})
        return AmocResult(
            table=table,
            settings=settings,
            skipped=sorted_skipped(skipped),
            confidence_sets=sets,
            scores=scores,
        )
    out = amoc_core(p, model, min_size, method, n_boot, level, seed, scores.clients, progress)
    n_rows = len(p.n)
    r = np.arange(n_rows)
    k_hat = out["k_hat"]
    fitted = _one_change_fit(p, model, k_hat)
    pre_mean = seg_mean(p, r, np.zeros(n_rows, np.int64), k_hat) + p.y_mean
    post_mean = seg_mean(p, r, k_hat, p.n) + p.y_mean
    if model == "broken_stick":
        jump = np.zeros(n_rows)
    else:
        s2 = Stats(p, model)
        ybar, tbar, slope = line_rows(s2, r, np.zeros(n_rows, np.int64), k_hat)
        pre_at = ybar + slope * (p.t[r, k_hat] - tbar)
        jump = fitted[r, k_hat] - pre_at
    in_set = out["in_set"]
    sess = np.concatenate([p.sessions, np.full((n_rows, 1), -1)], axis=1)
    ids = scores.clients.to_numpy()[p.rows]
    set_sessions = np.where(in_set, sess, np.nan)
    table = pd.DataFrame(
        {
            "client": ids,
            "session": p.sessions[r, k_hat],
            "statistic": out["statistic"],
            "p_value": out["p_value"],
            "pre_mean": pre_mean,
            "post_mean": post_mean,
            "jump": jump,
            "ci_lower": np.nanmin(set_sessions, axis=1).astype(np.int64),
            "ci_upper": np.nanmax(set_sessions, axis=1).astype(np.int64),
            "n_in_set": in_set.sum(axis=1).astype(np.int64),
        }
    )
    allowed = np.isfinite(out["rss1"])
    cr, ck = np.nonzero(allowed)
    sets = pd.DataFrame(
        {
            "client": ids[cr],
            "session": sess[cr, ck].astype(np.int64),
            "lr": out["lr"][cr, ck],
            "in_set": in_set[cr, ck],
        }
    )
    return AmocResult(
        table=table[AMOC_COLUMNS],
        settings=settings,
        skipped=sorted_skipped(skipped),
        confidence_sets=sets,
        scores=scores,
    )
