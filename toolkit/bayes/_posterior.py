"""The exact posterior of every client given the population parameters, and its summaries.

Given one draw of the population parameters (or, for clients analysed alone, one node of the
noise SD's quadrature), each client's posterior over change status, change session, jump
component and effects is exact: :func:`posterior_draws` computes it for a block of draws at
once, as arrays of (draws x clients x candidates). The summaries turn weighted draws into
means, highest-density intervals and credible sets.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy.special import ndtr

from . import _algebra
from ._design import Design, Stats
from ._model import (
    Spec,
    combine,
    draw_outside_hole,
    in_hole,
    location_log_prior,
    signed_logsumexp,
)


def expand(design: Design, spec: Spec, hyper: SimpleNamespace, st: Stats) -> SimpleNamespace:
    """The candidates crossed with the jump components, component-major (``c * K + k``).

    Returns the tiled sums ``G``, ``h``, the prior means and variances of every effect
    broadcasting against (D, N, C K), the log prior ``log_prior`` of each (candidate,
    component; log absolute weights), their signs ``sign`` (C K,) and ``C``, ``K``.
    """
    C, K = spec.n_components, st.log_prior.shape[-1]
    lp = location_log_prior(hyper)
    if C == 1:
        return SimpleNamespace(
            G=st.G, h=st.h, mean=hyper.mean, var=hyper.var, log_prior=lp, C=1, K=K,
            sign=np.ones(K),
        )  # fmt: skip
    mean = [np.repeat(m, K, axis=-1) if m.shape[-1] == C else m for m in hyper.mean]
    var = [np.repeat(v, K, axis=-1) if v.shape[-1] == C else v for v in hyper.var]
    log_prior = np.tile(lp, (1, 1, C)) + np.repeat(hyper.log_weight, K, axis=-1)
    return SimpleNamespace(
        G=np.tile(st.G, (1, C, 1, 1)),
        h=np.tile(st.h, (1, C, 1)),
        mean=mean,
        var=var,
        log_prior=log_prior,
        sign=np.repeat(spec.signs, K),
        C=C,
        K=K,
    )


def posterior_draws(
    design: Design,
    spec: Spec,
    hyper: SimpleNamespace,
    st: Stats,
    cutoff: float,
    rng: np.random.Generator | None,
    *,
    detail: bool = False,
) -> dict[str, np.ndarray]:
    """Everything per (draw, client), exact given each draw's population parameters.

    Arrays of shape (D, N): ``loglik`` (change status, session and component summed out;
    standardised scale), ``w`` = P(change | hyper, y), ``p_bt`` = P(breakthrough | hyper,
    y), conditional means given a change (``jump_c``, ``post_slope_c``, ``level_before_c``,
    ``level_after_c``) and overall (``baseline``, ``pre_slope``); the (D, N, K) session
    posterior given a change ``q_session``. With ``rng`` also one joint draw per (draw,
    client): ``change``, ``k`` (candidate index), ``draw_<effect>`` (from the joint
    posterior), ``draw_c_<effect>``, ``draw_level_before`` and ``draw_level_after`` (given a
    change). With ``detail`` also ``q`` (D, N, C K), the conditional means ``mean0_<j>``
    (D, N) and ``meank_<j>`` (D, N, C K) and the jump's conditional SD ``jump_sd_k``.
    """
    J0 = design.n_none
    change = spec.change
    mean0_in, var0_in = hyper.mean[:J0], hyper.var[:J0]
    ev0, L0, mean0 = _algebra.evidence(
        st.G0, st.h0, st.yy, st.n, mean0_in, var0_in, hyper.sigma2, moments=True
    )
    ev0 = ev0[..., 0]
    D, N = ev0.shape
    out: dict[str, np.ndarray] = {}
    draw0 = None
    if rng is not None:
        eps0 = [rng.standard_normal((D, N, 1)) for _ in range(J0)]
        draw0 = [m + e for m, e in zip(mean0, _algebra.backward(L0, eps0))]
    if detail:
        out.update({f"mean0_{j}": m[..., 0] for j, m in enumerate(mean0)})
    if change == "none":
        out["loglik"] = ev0
        out["w"] = np.zeros((D, N))
        for j, name in enumerate(design.effects[:J0]):
            out[name] = mean0[j][..., 0]
            if draw0 is not None:
                out[f"draw_{name}"] = draw0[j][..., 0]
        if draw0 is not None:
            out["change"] = np.zeros((D, N), dtype=bool)
        return out
    ex = expand(design, spec, hyper, st)
    evk, L, meank = _algebra.evidence(
        ex.G, ex.h, st.yy, st.n, ex.mean, ex.var, hyper.sigma2, moments=True
    )
    logp = combine(ev0, evk, ex.log_prior, hyper.pi, change, ex.sign)
    out["loglik"] = logp
    scored = evk + ex.log_prior
    lse = signed_logsumexp(scored, ex.sign)
    # P(k, c | change, hyper, y); the non-local slab's subtracted components get negative
    # terms, and every sum below (session, level, jump, tail) stays exact
    with np.errstate(invalid="ignore"):
        q = ex.sign * np.exp(scored - lse[..., None])
    q = np.nan_to_num(q, nan=0.0)
    w = np.ones((D, N)) if change == "always" else np.exp(np.log(hyper.pi) + lse - logp)
    out["w"] = w
    C, K = ex.C, ex.K
    out["q_session"] = q.reshape(D, N, C, K).sum(axis=2)
    level_rows = np.tile(design.level_rows, (C, 1))  # (C K, J)
    J = len(design.effects)
    before = sum(level_rows[:, j] * meank[j] for j in range(J))  # (D, N, C K)
    out["level_before_c"] = (q * before).sum(axis=-1)
    jump_k = meank[design.jump_index] if design.has_jump else np.zeros_like(q)
    out["level_after_c"] = out["level_before_c"] + (q * jump_k).sum(axis=-1)
    if design.has_jump:
        ji, unit = design.jump_index, design.unit("jump")
        e = [np.zeros_like(q) for _ in meank]
        e[ji] = np.ones_like(q)
        # Conditional SD of the jump: (P^-1)_jj = |L^-1 e_j|^2.
        jump_sd = np.sqrt(sum(x * x for x in _algebra.forward(L, e)))
        improvement = -design.sign * meank[ji] * unit
        with np.errstate(invalid="ignore"):
            tail = ndtr((improvement - cutoff) / (jump_sd * unit))
        out["p_bt"] = w * (q * tail).sum(axis=-1)
        out["jump_c"] = (q * meank[ji]).sum(axis=-1)
        if detail:
            out["jump_sd_k"] = jump_sd
    else:
        out["p_bt"] = np.full((D, N), np.nan)
    if "post_slope" in design.effects:
        out["post_slope_c"] = (q * meank[design.effects.index("post_slope")]).sum(axis=-1)
    for j, name in enumerate(design.effects[:J0]):
        out[name] = (1 - w) * mean0[j][..., 0] + w * (q * meank[j]).sum(axis=-1)
    if detail:
        out["q"] = q
        out.update({f"meank_{j}": m for j, m in enumerate(meank)})
    if rng is None or draw0 is None:
        return out
    # One joint draw per (draw, client): change status, then (component, session), effects.
    nonlocal_slab = spec.jump_population == "nonlocal"
    pick_q = q
    if nonlocal_slab:  # each normal component with its subtracted partner: weights >= 0
        half = q.shape[-1] // 2
        pick_q = np.maximum(q[..., :half] + q[..., half:], 0.0)
        pick_q = pick_q / np.where(
            pick_q.sum(-1, keepdims=True) > 0, pick_q.sum(-1, keepdims=True), 1.0
        )
    kc = (rng.random((D, N, 1)) > np.cumsum(pick_q, axis=-1)).sum(axis=-1, keepdims=True)
    kc = np.minimum(kc, pick_q.shape[-1] - 1)
    Lk = [[np.take_along_axis(x, kc, axis=-1) for x in row] for row in L]
    mk = [np.take_along_axis(m, kc, axis=-1)[..., 0] for m in meank]

    def joint_draw() -> tuple[list[np.ndarray], list[np.ndarray]]:
        eps = [rng.standard_normal((D, N, 1)) for _ in meank]
        return [m + s[..., 0] for m, s in zip(mk, _algebra.backward(Lk, eps))], eps

    draw_c, eps = joint_draw()
    if nonlocal_slab:
        # the posterior is the normal one times the hole's 1 - exp(-d^2 / (2 t^2)) (in the
        # jump only), so a joint normal draw is kept with that probability
        draw_c = _outside_hole(draw_c, design.jump_index, joint_draw, rng)
    changed = rng.random((D, N)) < w
    k = kc[..., 0] % K
    out["change"] = changed
    out["k"] = k
    lb = sum(design.level_rows[k, j] * draw_c[j] for j in range(J))
    out["draw_level_before"] = lb
    out["draw_level_after"] = lb + (draw_c[design.jump_index] if design.has_jump else 0.0)
    comp = kc[..., 0] // K
    for j, name in enumerate(design.effects):
        out[f"draw_c_{name}"] = draw_c[j]
        if j < J0:
            other = draw0[j][..., 0]
        else:  # without a change, a change-only effect keeps its population distribution
            m = np.broadcast_to(hyper.mean[j], (D, N, hyper.mean[j].shape[-1]))
            v = np.broadcast_to(hyper.var[j], (D, N, hyper.var[j].shape[-1]))
            pick = np.minimum(comp, m.shape[-1] - 1)[..., None]
            mc = np.take_along_axis(m, pick, axis=-1)[..., 0]
            vc = np.take_along_axis(v, pick, axis=-1)[..., 0]
            if nonlocal_slab and j == design.jump_index:
                other = draw_outside_hole(mc, np.sqrt(vc), rng)
            else:
                other = mc + np.sqrt(vc) * eps[j][..., 0]
        out[f"draw_{name}"] = np.where(changed, draw_c[j], other)
    return out


def _outside_hole(
    draw: list[np.ndarray],
    ji: int,
    redraw: Any,
    rng: np.random.Generator,
    max_rounds: int = 200,
) -> list[np.ndarray]:
    """Rejection step of the non-local slab for joint draws of the effects.

    A draw whose jump :func:`._model.in_hole` rejects is redrawn, all effects together;
    entries still rejected after ``max_rounds`` keep their last draw (only where nearly all
    of the normal posterior lies inside the hole).
    """
    draw = [d.copy() for d in draw]
    todo = in_hole(draw[ji], rng)
    for _ in range(max_rounds):
        if not todo.any():
            break
        fresh, _ = redraw()
        for d, f in zip(draw, fresh):
            d[todo] = f[todo]
        todo &= in_hole(draw[ji], rng)
    return draw


# --- summaries ----------------------------------------------------------------------------
def session_summaries(
    cond: np.ndarray, cand: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mode, mean and highest-probability credible set of the change session per client."""
    N, K = cond.shape
    undefined = np.isnan(cond).any(axis=1) | ~(cond.sum(axis=1) > 0)  # no mass on a change
    cond = np.where(undefined[:, None], 0.0, cond)
    mode = np.where(undefined, np.nan, cand[np.argmax(cond, axis=1)])
    mean = np.where(undefined, np.nan, cond @ cand)
    order = np.argsort(-cond, axis=1, kind="stable")
    sorted_p = np.take_along_axis(cond, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p
    in_set = np.zeros((N, K), dtype=bool)
    np.put_along_axis(in_set, order, before < level - 1e-12, axis=1)  # add until >= level
    in_set[undefined] = False
    return mode, mean, in_set


def weighted_summary(
    values: np.ndarray, weights: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean and highest-density interval of each column (draws x columns).

    The HDI is the narrowest interval between two draws holding at least ``level`` of the
    weight.
    """
    D, N = values.shape
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weights * values).sum(axis=0) / total
        wn = weights / total
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    wn = np.take_along_axis(wn, order, axis=0)
    cw = np.cumsum(wn, axis=0)
    start = cw - wn
    # One search over all columns at once: column j's cumulative weights lie in [2j, 2j + 1].
    offset = 2.0 * np.arange(N)[None, :]
    flat = (cw + offset).T.ravel()
    target = (start + level - 1e-9 + offset).T.ravel()
    end = np.searchsorted(flat, target, side="left").reshape(N, D).T - np.arange(N) * D
    ok = (end < D) & (wn > 0)
    end = np.minimum(end, D - 1)
    width = np.where(ok, np.take_along_axis(v, end, axis=0) - v, np.inf)
    best = np.argmin(width, axis=0)
    cols = np.arange(N)
    lower, upper = v[best, cols], v[end[best, cols], cols]
    bad = ~np.isfinite(width[best, cols]) | ~(total > 0)
    lower[bad], upper[bad] = np.nan, np.nan
    mean[~(total > 0)] = np.nan
    return mean, lower, upper


GRID = 256  # points of the CDF grid that starts the search for a normal mixture's HDI


def _mixture(x: np.ndarray, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple:
    """CDF, density and its derivative of normal mixtures at points x (rows x points)."""
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    phi = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    cdf = (w[:, None, :] * ndtr(z)).sum(axis=-1)
    pdf = (w[:, None, :] * phi / s[:, None, :]).sum(axis=-1)
    slope = (w[:, None, :] * (-z * phi) / s[:, None, :] ** 2).sum(axis=-1)
    return cdf, pdf, slope


def mixture_hdi(
    weights: np.ndarray, means: np.ndarray, sds: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Narrowest interval holding ``level`` of a normal mixture, per row (clients x parts).

    A grid search over the mixture's exact CDF (:data:`GRID` points spanning every part
    with weight, 7 SDs either side) finds the narrowest interval to within a grid step;
    Newton's method then solves the two conditions of the optimum, ``F(b) - F(a) = level``
    and ``f(a) = f(b)``, to machine precision (kept only when it converges to an interval
    no wider than the grid's). The lightest parts holding 1e-10 of a row's weight are dropped.
    Rows without weight give NaN.
    """
    N = len(weights)
    lower, upper = np.full(N, np.nan), np.full(N, np.nan)
    total = weights.sum(axis=1)
    ok = total > 0
    if not ok.any():
        return lower, upper
    w_all = np.where(ok[:, None], weights / np.where(ok, total, 1.0)[:, None], 0.0)
    order = np.argsort(-w_all, axis=1, kind="stable")
    w = np.take_along_axis(w_all, order, axis=1)
    # Keep the heaviest parts holding all but 1e-10 of each row's weight.
    alive = (np.cumsum(w, axis=1) - w) < 1 - 1e-10
    width_max = int(alive.sum(axis=1).max())
    order, w, alive = order[:, :width_max], w[:, :width_max], alive[:, :width_max]
    m = np.take_along_axis(means, order, axis=1)
    s = np.take_along_axis(sds, order, axis=1)
    w = np.where(alive, w, 0.0)
    m = np.where(alive, m, 0.0)
    s = np.where(alive, s, 1.0)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    big = np.where(alive, m + 7 * s, -np.inf).max(axis=1)
    small = np.where(alive, m - 7 * s, np.inf).min(axis=1)
    step = max(1, 2_000_000 // max(GRID * width_max, 1))
    for start in range(0, N, step):
        rows = np.arange(start, min(start + step, N))
        rows = rows[ok[rows]]
        if not len(rows):
            continue
        W, M, S = w[rows], m[rows], s[rows]
        grid = np.linspace(small[rows], big[rows], GRID, axis=1)  # (n, G)
        z = (grid[..., None] - M[:, None, :]) / S[:, None, :]
        cdf = np.maximum.accumulate((W[:, None, :] * ndtr(z)).sum(axis=-1), axis=1)
        hi = np.full((len(rows), GRID), np.inf)
        for r in range(len(rows)):
            hi[r] = np.interp(cdf[r] + level, cdf[r], grid[r], right=np.inf)
        width = hi - grid
        best = np.argmin(width, axis=1)
        idx = np.arange(len(rows))
        a, b = grid[idx, best], hi[idx, best]
        a0, b0 = a.copy(), b.copy()
        for _ in range(30):
            F, f, df = _mixture(np.stack([a, b], axis=1), W, M, S)
            g1 = F[:, 1] - F[:, 0] - level
            g2 = f[:, 1] - f[:, 0]
            det = -f[:, 0] * df[:, 1] + f[:, 1] * df[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                da = (df[:, 1] * g1 - f[:, 1] * g2) / det
                db = (df[:, 0] * g1 - f[:, 0] * g2) / det
            good = np.isfinite(da) & np.isfinite(db)
            a = np.where(good, a - da, a)
            b = np.where(good, b - db, b)
            if np.all(np.abs(np.where(good, da, 0)) + np.abs(np.where(good, db, 0)) < 1e-13):
                break
        F = _mixture(np.stack([a, b], axis=1), W, M, S)[0]
        spacing = (big[rows] - small[rows]) / (GRID - 1)
        keep = (
            np.isfinite(a)
            & np.isfinite(b)
            & (np.abs(F[:, 1] - F[:, 0] - level) < 1e-9)
            & (b - a <= b0 - a0 + 1e-9)
            & (np.abs(a - a0) <= 2 * spacing)
        )
        lower[rows] = np.where(keep, a, a0)
        upper[rows] = np.where(keep, b, b0)
    return lower, upper


def count_summary(p: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Mean, SD and the narrowest ``level`` interval of a sum of independent Bernoullis.

    The number of clients with a change (or a breakthrough) when clients are independent
    a posteriori: its distribution (Poisson-binomial) is computed exactly by convolution.
    """
    p = p[np.isfinite(p)]
    pmf = _poisson_binomial(p)
    values = np.arange(len(pmf))
    mean = float(p.sum())
    sd = float(np.sqrt((p * (1 - p)).sum()))
    cdf = np.cumsum(pmf)
    start = cdf - pmf
    best = (np.inf, 0.0, 0.0)
    for i in np.flatnonzero(pmf > 0):
        j = int(np.searchsorted(cdf, start[i] + level - 1e-12, side="left"))
        if j < len(values) and values[j] - values[i] < best[0]:
            best = (values[j] - values[i], float(values[i]), float(values[j]))
    return mean, sd, best[1], best[2]


def _poisson_binomial(p: np.ndarray) -> np.ndarray:
    """P(sum = 0, 1, ..., n) of independent Bernoullis, by a tree of convolutions."""
    from scipy.signal import fftconvolve

    parts = [np.array([1 - x, x]) for x in p] or [np.ones(1)]
    while len(parts) > 1:
        merged = []
        for a, b in zip(parts[::2], parts[1::2]):
            c = fftconvolve(a, b) if min(len(a), len(b)) > 64 else np.convolve(a, b)
            merged.append(np.clip(c, 0.0, None))
        if len(parts) % 2:
            merged.append(parts[-1])
        parts = merged
    pmf = parts[0]
    return pmf / pmf.sum()
