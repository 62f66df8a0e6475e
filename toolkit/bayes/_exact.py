"""Clients analysed alone (``pooling="none"``): the posterior computed exactly, not sampled.

With fixed priors on a client's effects, the only continuous parameter left after the
effects are integrated out in closed form is the client's noise SD ``sigma``: one
dimension, integrated by quadrature. The change session (and status) is discrete and summed
out as in the hierarchical model, so every probability, mean and credible set is exact to
the quadrature's precision (relative error below 1e-9 on the likelihood), and a client takes
milliseconds. Independent draws from the exact posterior fill the InferenceData.

The quadrature: ``sigma = c sinh(t)`` with ``c`` the standardised rounding SD (at least
0.001), so that the nodes are evenly spaced in ``log sigma`` above ``c`` and in ``sigma``
below it; the integrand is an even, smooth function of ``t`` (``sigma`` enters only through
``sigma^2`` and the half-normal prior), so the trapezoidal rule with a half weight at 0
converges geometrically (Trefethen & Weideman, 2014). The spacing shrinks with the number of
observed scores, as the posterior of ``log sigma`` narrows like ``1 / sqrt(2 n)``.

References
----------
Trefethen, L. N., & Weideman, J. A. C. (2014). The exponentially convergent trapezoidal rule.
SIAM Review, 56(3), 385-458.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ._design import Design
from ._model import ALONE_SD, NO_POOLING_P_CHANGE, SIGMA_SD, Spec, effects_of
from ._posterior import mixture_hdi, posterior_draws

_CHUNK = 400_000  # nodes (or draws) x clients x candidates per block


def sigma_nodes(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Standardised noise variances at the quadrature nodes and the log weights.

    ``exp(log_weight)`` includes the trapezoidal weight, the half-normal prior density
    of ``sigma`` and the Jacobian ``d sigma / d t``; the noise variance at a node is
    ``sigma^2 + delta^2 / 12`` (see :func:`toolkit.bayes.build_model`).
    """
    c0 = max(float(np.sqrt(design.floor2)), 1e-3)
    n_max = float(design.stats.n.max())
    h = min(0.08, 0.6 / np.sqrt(2.0 * n_max))
    top = np.arcsinh(8.0 * SIGMA_SD / c0)
    t = np.arange(0.0, top + h / 2, h)
    sigma = c0 * np.sinh(t)
    weight = np.full(len(t), h)
    weight[0] = h / 2
    log_prior = np.log(2.0) - 0.5 * np.log(2 * np.pi) - np.log(SIGMA_SD)
    log_prior = log_prior - 0.5 * (sigma / SIGMA_SD) ** 2
    log_weight = np.log(weight) + log_prior + np.log(c0 * np.cosh(t))
    return sigma**2 + design.floor2, log_weight


def node_hyper(
    design: Design, spec: Spec, sigma2: np.ndarray, n: int, valid: np.ndarray, log_prior: Any
) -> SimpleNamespace:
    """Hyperparameters at given noise variances: ``sigma2`` (S,) shared by the clients, or
    (S, n) one per client and draw."""
    effects = effects_of(design, spec.change)
    sigma2 = sigma2[:, None, None] if sigma2.ndim == 1 else sigma2[..., None]
    S = len(sigma2)
    return SimpleNamespace(
        mean=[np.zeros((1, n, 1)) for _ in effects],
        var=[np.full((1, 1, 1), ALONE_SD**2) for _ in effects],
        log_weight=np.zeros((1, 1, 1)),
        sigma2=sigma2,
        pi=np.full((S, 1), NO_POOLING_P_CHANGE) if spec.change == "mixture" else None,
        log_prior=log_prior[None],
        loc=None,
        valid=valid,
        sessions=design.candidate_sessions.astype(float),
        n_draws=S,
    )


def exact_posterior(
    design: Design, spec: Spec, cutoff: float, level: float, n_draws: int, seed: Any
) -> dict[str, Any]:
    """Every client's exact posterior summaries and ``n_draws`` independent draws.

    Returns per-client arrays (standardised where the name says so): ``loglik``
    (log p(y_i), standardised scale), ``p_change``, ``p_bt``, ``cond`` (N, K) P(k | change),
    ``jump_c``, ``jump_lower``, ``jump_upper`` (standardised), ``level_before_c``,
    ``level_after_c``, ``post_slope_c`` (given a change), ``baseline``, ``pre_slope``
    (overall), ``sigma`` (posterior mean noise SD, standardised); and ``draws``: a dict of
    (n_draws, N) joint draws (``change``, ``k``, ``draw_<effect>``, ``draw_level_before``,
    ``draw_level_after``, ``sigma2``) and ``draw_loglik`` (log p(y_i | sigma_i) per draw).
    """
    sigma2, log_w = sigma_nodes(design)
    S = len(sigma2)
    st_all = design.stats
    N, K = st_all.log_prior.shape
    C = spec.n_components
    rng = np.random.default_rng([int(seed), 2])
    names = [
        "loglik",
        "p_change",
        "p_bt",
        "jump_c",
        "jump_lower",
        "jump_upper",
        "level_before_c",
        "level_after_c",
        "post_slope_c",
        "baseline",
        "pre_slope",
        "sigma",
    ]
    res: dict[str, Any] = {n: np.full(N, np.nan) for n in names}
    res["cond"] = np.full((N, K), np.nan)
    draws: dict[str, list] = {}
    step = max(1, _CHUNK // max(S * K * C, 1))
    for start in range(0, N, step):
        rows = np.arange(start, min(start + step, N))
        st = st_all.take(rows)
        hyper = node_hyper(design, spec, sigma2, len(rows), st.valid, st.log_prior)
        out = posterior_draws(design, spec, hyper, st, cutoff, None, detail=True)
        joint = log_w[:, None] + out["loglik"]  # (S, n)
        lpy = logsumexp(joint, axis=0)
        W = np.exp(joint - lpy)
        res["loglik"][rows] = lpy
        res["sigma"][rows] = (W * np.sqrt(sigma2)[:, None]).sum(axis=0)
        ww = W * out["w"]
        pc = ww.sum(axis=0)
        res["p_change"][rows] = pc
        for name in effects_of(design, spec.change)[: design.n_none]:
            res[name][rows] = (W * out[name]).sum(axis=0)
        if spec.change != "none":
            with np.errstate(invalid="ignore", divide="ignore"):
                res["cond"][rows] = np.einsum("sn,snk->nk", ww, out["q_session"]) / pc[:, None]
                for name in ("level_before_c", "level_after_c", "jump_c", "post_slope_c"):
                    if name in out:
                        res[name][rows] = (ww * out[name]).sum(axis=0) / pc
            res["p_bt"][rows] = (W * out["p_bt"]).sum(axis=0)
            if design.has_jump:
                parts = (ww[..., None] * out["q"]).transpose(1, 0, 2).reshape(len(rows), -1)
                means = out[f"meank_{design.jump_index}"].transpose(1, 0, 2).reshape(len(rows), -1)
                sds = out["jump_sd_k"].transpose(1, 0, 2).reshape(len(rows), -1)
                lo, hi = mixture_hdi(parts, means, sds, level)
                res["jump_lower"][rows], res["jump_upper"][rows] = lo, hi
        # Independent draws: a node per draw and client, then the exact conditional draws.
        cum = np.cumsum(W, axis=0)
        pick = (rng.random((n_draws, len(rows), 1)) > cum.T[None]).sum(axis=-1)
        pick = np.minimum(pick, S - 1)
        per = max(1, _CHUNK // max(len(rows) * K * C, 1))
        for d0 in range(0, n_draws, per):
            s2 = sigma2[pick[d0 : d0 + per]]  # (d, n)
            h2 = node_hyper(design, spec, s2, len(rows), st.valid, st.log_prior)
            part = posterior_draws(design, spec, h2, st, cutoff, rng)
            part["sigma2"] = s2
            part["draw_loglik"] = part.pop("loglik")
            for key, value in part.items():
                if key == "change" or key == "k" or key.startswith("draw_") or key == "sigma2":
                    draws.setdefault(key, []).append((start, d0, value))
    res["draws"] = _assemble(draws, n_draws, N)
    return res


def _assemble(blocks: dict[str, list], n_draws: int, N: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, parts in blocks.items():
        first = parts[0][2]
        full = np.zeros((n_draws, N), dtype=first.dtype)
        for start, d0, value in parts:
            full[d0 : d0 + value.shape[0], start : start + value.shape[1]] = value
        out[key] = full
    return out
