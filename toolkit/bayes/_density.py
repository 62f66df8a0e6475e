"""The hierarchical model's log posterior density and its gradient as one compiled function.

The PyMC model of :func:`toolkit.bayes.build_model` is the model's definition; sampling it
through PyMC's graph compilers costs 20-30 s of compilation on every call, whatever the
size of the data, which dominated fits of a few hundred clients. This module writes the
same density by hand: the population parameters on PyMC's unconstrained scale (the same
transforms, in the same order as ``model.value_vars``), their priors with the transforms'
Jacobians, and the marginal likelihood of :mod:`._algebra`, with the gradient by the chain
rule. It is compiled once and cached on disk, and releases the GIL so that chains run in
parallel threads. ``tests/test_bayes_density.py`` checks value and gradient against the
PyMC model's own ``logp`` and ``dlogp`` for every model option.

Transforms (PyMC's): ``log`` for the HalfNormal SDs, ``ordered`` for the jump components'
means (first value, then log differences), ``simplex`` for the component weights
(``w = softmax([x, -sum(x)])``), ``logodds`` for ``p_change`` and ``interval`` for the
pooled change location's mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

from ._algebra import kernel_layout, marginal_kernel
from ._design import Design
from ._model import (
    BETA_SD,
    HOLE_SD,
    MU_SD,
    SD_SD,
    SIGMA_SD,
    WEIGHT_A,
    Spec,
    effects_of,
    slab,
)

__all__ = ["Layout", "layout", "log_density", "constrained"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_marginal = marginal_kernel()

MODES = {"mixture": 0, "always": 1, "none": 2}


@dataclass(frozen=True)
class Block:
    """One free variable: its PyMC name, its size, and where it starts in the vector."""

    name: str
    size: int
    start: int


@dataclass(frozen=True, eq=False)
class Layout:
    """Where every population parameter sits in the unconstrained vector.

    ``mu_at``, ``sd_at`` and ``beta_at`` (J,) give, per effect, the position of its
    population mean, of its SD and of its first covariate coefficient (-1: none);
    ``mix_at`` is the start of the jump mixture (means, SDs, weights), ``sigma_at``,
    ``p_at`` and ``loc_at`` those of the noise SD, the share changing and the pooled
    change location (mean, SD).
    """

    blocks: tuple[Block, ...]
    n: int
    mu_at: np.ndarray
    sd_at: np.ndarray
    beta_at: np.ndarray
    mix_at: int
    sigma_at: int
    p_at: int
    loc_at: int
    loc_low: float
    loc_high: float
    loc_sd_scale: float
    components: int  # jump components the likelihood sums over (1 without a jump)

    def ints(self) -> np.ndarray:
        """The scalar positions as one int64 array, in the kernel's order."""
        return np.array(
            [self.mix_at, self.sigma_at, self.p_at, self.loc_at, self.components],
            dtype=np.int64,
        )


def layout(design: Design, spec: Spec) -> Layout:
    """The unconstrained parameter vector of the hierarchical model, in PyMC's order."""
    J = len(design.effects)
    P = 0 if design.X is None else design.X.shape[1]
    C = spec.n_components
    blocks: list[Block] = []
    mu_at, sd_at, beta_at = (np.full(J, -1, dtype=np.int64) for _ in range(3))
    mix_at = -1

    def add(name: str, size: int) -> int:
        start = blocks[-1].start + blocks[-1].size if blocks else 0
        blocks.append(Block(name, size, start))
        return start

    for name in effects_of(design, spec.change):
        j = design.effects.index(name)
        if name == "jump" and spec.free_components:
            mix_at = add("jump_component_mu_std", C)
            add("jump_component_sd_std", C)
            add("jump_component_weight", C - 1)
            if P:
                beta_at[j] = add("beta_jump_std", P)
            continue
        mu_at[j] = add(f"{name}_mu_std", 1)
        sd_at[j] = add(f"{name}_sd_std", 1)
        if P and name in ("baseline", "jump"):
            beta_at[j] = add(f"beta_{name}_std", P)
    sigma_at = add("sigma_std", 1)
    p_at = add("p_change", 1) if spec.change == "mixture" else -1
    loc_at, low, high = -1, 0.0, 1.0
    if spec.pooled_location:
        cand = design.candidate_sessions.astype(float)
        low, high = float(cand[0]), float(cand[-1])
        loc_at = add("change_session_mu", 1)
        add("change_session_sd", 1)
    with_jump = design.has_jump and spec.change != "none"
    return Layout(
        blocks=tuple(blocks),
        n=blocks[-1].start + blocks[-1].size,
        mu_at=mu_at,
        sd_at=sd_at,
        beta_at=beta_at,
        mix_at=mix_at,
        sigma_at=sigma_at,
        p_at=p_at,
        loc_at=loc_at,
        loc_low=low,
        loc_high=high,
        loc_sd_scale=design.span / 2,
        components=C if with_jump else 1,
    )


def constrained(lay: Layout, x: np.ndarray) -> dict[str, np.ndarray]:
    """The free variables on their own scale (PyMC's names) from unconstrained vectors.

    ``x`` is (..., n); returns arrays (...) or (..., size) for vector-valued variables.
    """
    out: dict[str, np.ndarray] = {}
    for b in lay.blocks:
        v = x[..., b.start : b.start + b.size]
        if b.name == "jump_component_mu_std":
            v = np.cumsum(np.concatenate([v[..., :1], np.exp(v[..., 1:])], axis=-1), axis=-1)
        elif b.name == "jump_component_weight":
            z = np.concatenate([v, -v.sum(axis=-1, keepdims=True)], axis=-1)
            z = np.exp(z - z.max(axis=-1, keepdims=True))
            v = z / z.sum(axis=-1, keepdims=True)
        elif b.name.endswith("_sd_std") or b.name in ("sigma_std", "change_session_sd"):
            v = np.exp(v)
        elif b.name == "p_change":
            v = 1.0 / (1.0 + np.exp(-v))
        elif b.name == "change_session_mu":
            v = lay.loc_low + (lay.loc_high - lay.loc_low) / (1.0 + np.exp(-v))
        vector = _vector(b.name)
        out[b.name] = v if vector else v[..., 0]
    return out


@numba.njit(**_JIT)
def _forward(  # pragma: no cover - compiled
    x, grad, N, J, X, mu_at, sd_at, beta_at, ints, loc_low, loc_high, loc_sd_scale, floor2, ji,
    scales, logw0, t2,
):  # fmt: skip
    """Priors with the transforms' Jacobians at ``x`` (their gradient into ``grad``), and
    the marginal likelihood's inputs from the parameters. ``scales`` and ``logw0`` are the
    fixed variance multipliers and log weights of the jump's components when the jump has
    one population mean and SD; ``t2 > 0`` cuts the non-local slab's hole of variance
    ``t2`` into them (``_model.hole``: components ``C0 + c`` are subtracted)."""
    P = X.shape[1]
    mix_at, sigma_at, p_at, loc_at, C = ints[0], ints[1], ints[2], ints[3], ints[4]
    C0 = C // 2 if t2 > 0.0 else C  # components before the hole
    log2pi = np.log(2.0 * np.pi)
    half_log_2_over_pi = 0.5 * np.log(2.0 / np.pi)
    for q in range(x.shape[0]):
        grad[q] = 0.0
    lp = 0.0

    def normal(v, s):
        return -0.5 * (v / s) ** 2 - np.log(s) - 0.5 * log2pi

    def half_normal_log(u, s):  # value exp(u) with the log transform's Jacobian
        v = np.exp(u)
        return half_log_2_over_pi - np.log(s) - 0.5 * (v / s) ** 2 + u

    # -- the likelihood's inputs from the parameters -------------------------------------
    mean = np.zeros((N, J))
    var = np.ones(J)
    jmean = np.zeros((N, C))
    jvar = np.ones(C)
    logw = np.zeros((N, C))
    w = np.ones(C)
    mix_mu = np.zeros(C)
    for j in range(J):
        if mu_at[j] < 0:
            continue
        mu = x[mu_at[j]]
        sd = np.exp(x[sd_at[j]])
        lp += normal(mu, MU_SD) + half_normal_log(x[sd_at[j]], SD_SD)
        grad[mu_at[j]] += -mu / MU_SD**2
        grad[sd_at[j]] += 1.0 - (sd / SD_SD) ** 2
        if j == ji:
            for c in range(C0):
                for i in range(N):
                    jmean[i, c] = mu
                    logw[i, c] = logw0[c]
                jvar[c] = sd * sd * scales[c]
        else:
            for i in range(N):
                mean[i, j] = mu
            var[j] = sd * sd
    if mix_at >= 0:
        acc = x[mix_at]
        for c in range(C):
            if c > 0:
                acc += np.exp(x[mix_at + c])
                lp += x[mix_at + c]
                grad[mix_at + c] += 1.0
            mix_mu[c] = acc
            lp += normal(acc, MU_SD)
            sd = np.exp(x[mix_at + C + c])
            lp += half_normal_log(x[mix_at + C + c], SD_SD)
            grad[mix_at + C + c] += 1.0 - (sd / SD_SD) ** 2
            jvar[c] = sd * sd
        # weights: z = [x, -sum(x)], w = softmax(z)
        total = 0.0
        for c in range(C - 1):
            total += x[mix_at + 2 * C + c]
        top = -total
        for c in range(C - 1):
            if x[mix_at + 2 * C + c] > top:
                top = x[mix_at + 2 * C + c]
        norm = 0.0
        for c in range(C):
            z = x[mix_at + 2 * C + c] if c < C - 1 else -total
            norm += np.exp(z - top)
        log_norm = top + np.log(norm)
        sum_log_w = 0.0
        for c in range(C):
            z = x[mix_at + 2 * C + c] if c < C - 1 else -total
            lwc = z - log_norm
            for i in range(N):
                logw[i, c] = lwc
            w[c] = np.exp(lwc)
            sum_log_w += lwc
        lp += math.lgamma(C * WEIGHT_A) - C * math.lgamma(WEIGHT_A)
        lp += (WEIGHT_A - 1.0) * sum_log_w  # Dirichlet
        lp += np.log(float(C)) + sum_log_w  # the simplex transform's Jacobian
        for i in range(N):
            for c in range(C):
                jmean[i, c] = mix_mu[c]
    for j in range(J):
        if beta_at[j] < 0:
            continue
        for p in range(P):
            b = x[beta_at[j] + p]
            lp += normal(b, BETA_SD)
            grad[beta_at[j] + p] += -b / BETA_SD**2
            for i in range(N):
                if j == ji:
                    for c in range(C0):
                        jmean[i, c] += X[i, p] * b
                else:
                    mean[i, j] += X[i, p] * b
    if t2 > 0.0:  # the non-local slab: each component minus its narrower partner
        for c in range(C0):
            tot = jvar[c] + t2
            jvar[C0 + c] = jvar[c] * t2 / tot
            for i in range(N):
                a = jmean[i, c]
                log_k = 0.5 * np.log(t2 / tot) - a * a / (2.0 * tot)
                log_z = np.log1p(-np.exp(log_k))
                jmean[i, C0 + c] = a * t2 / tot
                logw[i, C0 + c] = logw[i, c] + log_k - log_z
                logw[i, c] -= log_z
    sig = np.exp(x[sigma_at])
    lp += half_normal_log(x[sigma_at], SIGMA_SD)
    grad[sigma_at] += 1.0 - (sig / SIGMA_SD) ** 2
    sigma2 = np.full(N, sig * sig + floor2)
    pi = np.full(1, 0.5)
    if p_at >= 0:
        u = x[p_at]
        pr = 1.0 / (1.0 + np.exp(-u))
        pi[0] = pr
        # Beta(1, 1) is flat; the log-odds Jacobian is log p + log(1 - p)
        lp += -np.log1p(np.exp(-u)) - np.log1p(np.exp(u)) if abs(u) < 30 else -abs(u)
        grad[p_at] += 1.0 - 2.0 * pr
    loc = np.zeros(2)
    loc[1] = 1.0
    if loc_at >= 0:
        u = x[loc_at]
        sg = 1.0 / (1.0 + np.exp(-u))
        width = loc_high - loc_low
        loc[0] = loc_low + width * sg
        # Uniform density 1 / width times the interval Jacobian width * sg * (1 - sg)
        lp += np.log(sg) + np.log1p(-sg)
        grad[loc_at] += 1.0 - 2.0 * sg
        loc[1] = np.exp(x[loc_at + 1])
        lp += half_normal_log(x[loc_at + 1], loc_sd_scale)
        grad[loc_at + 1] += 1.0 - (loc[1] / loc_sd_scale) ** 2
    return lp, mean, jmean, var, jvar, sigma2, logw, pi, loc, w, mix_mu, sig


@numba.njit(**_JIT)
def _backward(  # pragma: no cover - compiled
    x, grad, X, mu_at, sd_at, beta_at, ints, loc_low, loc_high, ji,
    var, jvar, w, mix_mu, pi, loc, sig, jmean, t2,
    d_mean, d_jmean, d_var, d_jvar, d_sigma2, d_logw, d_pi, d_loc,
):  # fmt: skip
    """Add the likelihood's gradient, from its per-client derivatives, to ``grad``."""
    N, J = d_mean.shape
    P = X.shape[1]
    mix_at, sigma_at, p_at, loc_at, C = ints[0], ints[1], ints[2], ints[3], ints[4]
    C0 = C // 2 if t2 > 0.0 else C
    if t2 > 0.0:
        _through_hole(jmean, jvar, t2, C0, d_jmean, d_jvar, d_logw)
    # -- chain rule back to the unconstrained parameters ----------------------------------
    for j in range(J):
        if mu_at[j] < 0:
            continue
        dm, dv = 0.0, 0.0
        if j == ji:  # every component's variance is the population's times a constant
            for c in range(C0):
                dvc = 0.0
                for i in range(N):
                    dm += d_jmean[i, c]
                    dvc += d_jvar[i, c]
                dv += dvc * 2.0 * jvar[c]
        else:
            for i in range(N):
                dm += d_mean[i, j]
                dv += d_var[i, j]
            dv *= 2.0 * var[j]
        grad[mu_at[j]] += dm
        grad[sd_at[j]] += dv
    if mix_at >= 0:
        g_mu = np.zeros(C)
        g_logw = np.zeros(C)
        for c in range(C):
            dv = 0.0
            for i in range(N):
                g_mu[c] += d_jmean[i, c]
                dv += d_jvar[i, c]
                g_logw[c] += d_logw[i, c]
            grad[mix_at + C + c] += dv * 2.0 * jvar[c]
        # prior of the ordered means, then back through the cumulative sum
        for c in range(C):
            g_mu[c] += -mix_mu[c] / MU_SD**2
        tail = 0.0
        for c in range(C - 1, -1, -1):
            tail += g_mu[c]
            if c > 0:
                grad[mix_at + c] += tail * np.exp(x[mix_at + c])
            else:
                grad[mix_at] += tail
        # weights: likelihood through log w, Dirichlet prior and Jacobian through z
        g_total = 0.0
        for c in range(C):
            g_total += g_logw[c]
        g_z = np.empty(C)
        for c in range(C):
            g_z[c] = g_logw[c] - w[c] * g_total + WEIGHT_A * (1.0 - C * w[c])
        for c in range(C - 1):
            grad[mix_at + 2 * C + c] += g_z[c] - g_z[C - 1]
    for j in range(J):
        if beta_at[j] < 0:
            continue
        for p in range(P):
            acc = 0.0
            for i in range(N):
                if j == ji:
                    for c in range(C0):
                        acc += d_jmean[i, c] * X[i, p]
                else:
                    acc += d_mean[i, j] * X[i, p]
            grad[beta_at[j] + p] += acc
    ds = 0.0
    for i in range(N):
        ds += d_sigma2[i]
    grad[sigma_at] += ds * 2.0 * sig * sig
    if p_at >= 0:
        dp = 0.0
        for i in range(N):
            dp += d_pi[i]
        grad[p_at] += dp * pi[0] * (1.0 - pi[0])
    if loc_at >= 0:
        d0, d1 = 0.0, 0.0
        for i in range(N):
            d0 += d_loc[i, 0]
            d1 += d_loc[i, 1]
        sg = (loc[0] - loc_low) / (loc_high - loc_low)
        grad[loc_at] += d0 * (loc_high - loc_low) * sg * (1.0 - sg)
        grad[loc_at + 1] += d1 * loc[1]


@numba.njit(**_JIT)
def _through_hole(jmean, jvar, t2, C0, d_jmean, d_jvar, d_logw):  # pragma: no cover - compiled
    """Fold the derivatives with respect to the non-local slab's components (``C0 + c``
    subtracted from ``c``; see ``_model.hole``) into those of the components before the
    hole: their mean ``a`` per client and variance ``v``, in ``d_jmean[:, c]`` and
    ``d_jvar[:, c]``."""
    N = jmean.shape[0]
    for c in range(C0):
        v = jvar[c]
        tot = v + t2
        for i in range(N):
            a = jmean[i, c]
            log_k = 0.5 * np.log(t2 / tot) - a * a / (2.0 * tot)
            kappa = np.exp(log_k)
            odds = kappa / (1.0 - kappa)
            dk_da = -a / tot
            dk_dv = -0.5 / tot + a * a / (2.0 * tot * tot)
            gp, gm = d_logw[i, c], d_logw[i, C0 + c]
            # log w+ = log w - log Z, log w- = log w + log kappa - log Z, log Z = log(1 - kappa)
            g_k = gm + (gp + gm) * odds
            d_a = d_jmean[i, c] + d_jmean[i, C0 + c] * t2 / tot + g_k * dk_da
            d_v = (
                d_jvar[i, c]
                + d_jvar[i, C0 + c] * (t2 / tot) ** 2
                - d_jmean[i, C0 + c] * a * t2 / (tot * tot)
                + g_k * dk_dv
            )
            d_jmean[i, c] = d_a
            d_jvar[i, c] = d_v


def log_density(x: np.ndarray, grad: np.ndarray, *args: Any) -> float:
    """Log posterior density (up to a constant) at ``x``; fills ``grad`` with its gradient.

    ``x`` is the unconstrained vector of :func:`layout`, ``args`` those of
    :func:`_arguments`. Three compiled steps, each cached on disk on its own (a compiled
    function that called another would keep a stale copy of it in its cache when only the
    other one's module changed): the priors and the likelihood's inputs, the likelihood
    (:mod:`._algebra`), and the chain rule.
    """
    (G, h, G0, h0, yy, n, logprior0, sessions, valid, X, mu_at, sd_at, beta_at, ints,
     loc_low, loc_high, loc_sd_scale, floor2, mode, ji, J0, scales, logw0, sign,
     t2) = args  # fmt: skip
    _, J, N = h.shape
    lp, mean, jmean, var, jvar, sigma2, logw, pi, loc, w, mix_mu, sig = _forward(
        x, grad, N, J, X, mu_at, sd_at, beta_at, ints, loc_low, loc_high, loc_sd_scale,
        floor2, ji, scales, logw0, t2,
    )  # fmt: skip
    C = jmean.shape[1]
    shapes = (N, (N, J), (N, C), (N, J), (N, C), N, (N, C), N, (N, 2))
    out = tuple(np.empty(shape) for shape in shapes)
    _marginal(G, h, G0, h0, yy, n, logprior0, sessions, valid, mean, jmean, var, jvar,
              sigma2, logw, sign, pi, loc, mode, ints[3] >= 0, ji, J0, *out)  # fmt: skip
    _backward(x, grad, X, mu_at, sd_at, beta_at, ints, loc_low, loc_high, ji,
              var, jvar, w, mix_mu, pi, loc, sig, jmean, t2, *out[1:])  # fmt: skip
    return float(lp + out[0].sum())


def _arguments(design: Design, spec: Spec, lay: Layout) -> tuple:
    """The data and layout arguments of :func:`log_density` after ``x`` and ``grad``."""
    st = design.stats
    N = len(design.clients)
    X = np.zeros((N, 0)) if design.X is None else np.ascontiguousarray(design.X, dtype=float)
    return (
        *kernel_layout(st),
        np.ascontiguousarray(st.yy, dtype=float),
        np.ascontiguousarray(st.n, dtype=float),
        np.ascontiguousarray(st.log_prior, dtype=float),
        np.ascontiguousarray(design.candidate_sessions, dtype=float),
        np.ascontiguousarray(st.valid),
        X,
        lay.mu_at,
        lay.sd_at,
        lay.beta_at,
        lay.ints(),
        lay.loc_low,
        lay.loc_high,
        lay.loc_sd_scale,
        float(design.floor2),
        MODES[spec.change],
        design.jump_index if design.has_jump else -1,
        design.n_none,
        *(np.ascontiguousarray(a, dtype=float) for a in slab(spec)),
        np.ascontiguousarray(spec.signs, dtype=float),
        HOLE_SD**2 if spec.jump_population == "nonlocal" else 0.0,
    )


def density(design: Design, spec: Spec) -> tuple[Layout, Callable[[np.ndarray], tuple]]:
    """The layout and ``f(x) -> (log density, gradient)`` of the hierarchical model."""
    lay = layout(design, spec)
    args = _arguments(design, spec, lay)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        grad = np.empty_like(x)
        value = log_density(x, grad, *args)
        return float(value), grad

    return lay, f


def initial_point(lay: Layout, seed: int) -> np.ndarray:
    """A starting point: PyMC's default values jittered by U(-1, 1), as NUTS starts do."""
    x = np.zeros(lay.n)
    for b in lay.blocks:
        if b.name == "jump_component_mu_std":
            # PyMC's initval linspace(-0.1, 0.1, C) on the ordered scale
            C = b.size
            x[b.start] = -0.1
            x[b.start + 1 : b.start + C] = np.log(0.2 / max(C - 1, 1))
        elif b.name.endswith("_sd_std") or b.name == "sigma_std":
            x[b.start : b.start + b.size] = np.log(SD_SD)
        elif b.name == "change_session_sd":
            x[b.start] = np.log(lay.loc_sd_scale)
    rng = np.random.default_rng([seed, 7])
    return x + rng.uniform(-1.0, 1.0, lay.n)


def sample_nutpie(
    design: Design,
    spec: Spec,
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    target_accept: float,
    seed: int,
    progress: bool,
) -> Any:
    """NUTS (nutpie) on the compiled density; returns InferenceData like PyMC's samplers.

    The posterior holds the free variables on their own scale and the model's
    deterministics, computed from them by the PyMC model itself.
    """
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    lay, f = density(design, spec)
    start = initial_point(lay, seed)
    f(start)  # compiles (or loads) the kernel before the sampler's threads start
    names = [b.name for b in lay.blocks]
    shapes = [np.shape(v) for v in constrained(lay, start).values()]

    def make_logp() -> Callable:
        return lambda x, **_: f(x)

    def make_expand(seed1: int, seed2: int, chain: int) -> Callable:
        def expand(x: np.ndarray, **_: Any) -> dict[str, np.ndarray]:
            values = constrained(lay, np.asarray(x, dtype=np.float64))
            return {k: np.array(values[k], dtype=np.float64, order="C").reshape(s)
                    for k, s in zip(names, shapes)}  # fmt: skip

        return expand

    dims = {name: ("component",) for name in names if name.startswith("jump_component")}
    dims.update({name: ("covariate",) for name in names if name.startswith("beta_")})
    coords = {k: pd.Index(v) for k, v in model.coords.items() if k in ("component", "covariate")}
    compiled = from_pyfunc(
        lay.n,
        make_logp,
        make_expand,
        [np.dtype("float64")] * len(names),
        shapes,
        names,
        coords=coords,
        dims=dims,
        make_initial_point_fn=lambda s: initial_point(lay, int(s)),
    )
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        seed=seed,
        progress_bar=progress,
        target_accept=target_accept,
        save_warmup=False,
    )
    return _with_deterministics(idata, model)


def _vector(name: str) -> bool:
    return name.startswith(("jump_component", "beta_"))


def _with_deterministics(idata: Any, model: Any) -> Any:
    import pymc as pm

    from . import _idata

    post = _idata.group(idata, "posterior")
    free = [str(v) for v in post.data_vars if not str(v).endswith("__")]
    extra = pm.compute_deterministics(post[free], model=model, progressbar=False)
    groups = {g: _idata.group(idata, g) for g in _idata.group_list(idata)}
    groups["posterior"] = post.merge(extra)
    return _idata.make(groups, like=idata)
