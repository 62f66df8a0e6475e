"""Tests of toolkit.bayes: closed forms against brute force, recovery, contracts and errors.

Sampled models come from session-scoped fixtures in conftest.py (each sampled once); exact
fits (``pooling="none"``) are computed where they are used (milliseconds).
"""

from __future__ import annotations

import functools
import pickle
import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import halfnorm, multivariate_normal, norm

matplotlib.use("Agg")

from toolkit import bayes
from toolkit.bayes import _algebra, _design, _fit, _idata, _loo, _model, _posterior
from toolkit.data import long_scores
from toolkit.errors import (
    DataError,
    EmptyDataError,
    MissingColumnError,
    OptionError,
    ToolkitDeprecationWarning,
    ToolkitWarning,
)

ROLES = {"client": "client", "session": "session", "score": "score", "instrument": "BDI-II"}
TINY_SCORES = [
    [30, 29, 31, 18, 17, 16, 18],
    [25, np.nan, 24, 23, 22, 23, 21],
    [40, 38, 39, 37, 25, 26, 24],
]


def tiny_scores():
    """3 clients x 7 sessions, one missing score (clear changes: client 1 at session 4,
    client 3 at session 5)."""
    df = pd.DataFrame(
        {
            "client": np.repeat([1, 2, 3], 7),
            "session": np.tile(np.arange(1, 8), 3),
            "score": np.concatenate(TINY_SCORES).astype(float),
        }
    )
    return df, long_scores(df, **ROLES)


# --- brute force: every change session enumerated, effects integrated densely --------------
def dense_rows(shape, u, k):
    """Regression rows written out session by session (independent of _design)."""
    if k is None:
        return np.ones((len(u), 1)) if shape == "mean" else np.column_stack([np.ones_like(u), u])
    after = (np.arange(len(u)) >= k).astype(float)
    if shape == "mean":
        return np.column_stack([np.ones_like(u), after])
    cols = [np.ones_like(u), np.minimum(u, u[k])]
    if shape == "linear":
        cols.append(after)
    cols.append(after * (u - u[k]))
    return np.column_stack(cols)


def brute_client(y, u, shape, mean, var, s2, prior_k, components=None):
    """log p(y | no change), log p(y | change at k) (summed over jump components), and the
    posterior mean of the jump given k. ``components``: [(log weight, mean, var)] of the
    jump (effect index 2 for "linear", 1 for "mean")."""
    seen = ~np.isnan(y)
    yo = y[seen]

    def loglik(X, m, v):
        cov = s2 * np.eye(seen.sum()) + X[seen] @ np.diag(v) @ X[seen].T
        r = yo - X[seen] @ m
        logdet = np.linalg.slogdet(2 * np.pi * cov)[1]
        return -0.5 * (logdet + r @ np.linalg.solve(cov, r))

    def jump_mean(X, m, v):
        S = np.diag(v)
        C = s2 * np.eye(seen.sum()) + X[seen] @ S @ X[seen].T
        return (m + S @ X[seen].T @ np.linalg.solve(C, yo - X[seen] @ m))[ji]

    X0 = dense_rows(shape, u, None)
    none = loglik(X0, mean[: X0.shape[1]], var[: X0.shape[1]])
    ji = {"mean": 1, "linear": 2}.get(shape)
    per_k, jumps = [], []
    for k in range(len(u)):
        if prior_k[k] == 0:
            per_k.append(-np.inf)
            jumps.append(np.nan)
            continue
        X = dense_rows(shape, u, k)
        if components is None:
            per_k.append(loglik(X, mean, var))
            jumps.append(jump_mean(X, mean, var) if ji is not None else np.nan)
            continue
        parts, js = [], []
        for lw, cm, cv in components:
            m, v = mean.copy(), var.copy()
            m[ji], v[ji] = cm, cv
            parts.append(lw + loglik(X, m, v))
            js.append(jump_mean(X, m, v))
        parts = np.array(parts)
        per_k.append(logsumexp(parts))
        jumps.append(float(np.exp(parts - logsumexp(parts)) @ np.array(js)))
    return none, np.array(per_k), np.array(jumps)


def valid_sessions(y):
    seen = ~np.isnan(y)
    return np.array([k > 0 and seen[:k].sum() >= 2 and seen[k:].sum() >= 2 for k in range(len(y))])


def make_hyper(design, spec, mean, var, s2, pi, components=None, loc=None):
    """Population parameters as the post-processing takes them (one draw)."""
    n = len(design.clients)
    mean_l = [np.full((1, n, 1), m) for m in mean]
    var_l = [np.full((1, 1, 1), v) for v in var]
    log_weight = np.zeros((1, 1, 1))
    if components is not None:
        ji = design.jump_index
        C = len(components)
        mean_l[ji] = np.broadcast_to(np.array([c[1] for c in components]), (1, n, C)).copy()
        var_l[ji] = np.array([c[2] for c in components])[None, None, :]
        log_weight = np.array([c[0] for c in components])[None, None, :]
    return SimpleNamespace(
        mean=mean_l,
        var=var_l,
        log_weight=log_weight,
        sigma2=np.full((1, 1, 1), s2),
        pi=None if pi is None else np.full((1, 1), pi),
        log_prior=design.stats.log_prior[None],
        loc=None if loc is None else np.array(loc, dtype=float).reshape(1, 2, 1),
        valid=design.stats.valid,
        sessions=design.candidate_sessions.astype(float),
        n_draws=1,
    )


def heavy_components(mu, var):
    """jumps="heavy" written out as components (log weight, mean, variance)."""
    return [(np.log(w), mu, var * v) for w, v in zip(_model.HEAVY_WEIGHTS, _model.HEAVY_SCALES)]


def nonlocal_components(mu, var):
    """jumps="nonlocal" as signed components (log absolute weight, mean, variance); the
    second half is subtracted (worked out by hand, independently of ``_model.hole``)."""
    t2 = _model.HOLE_SD**2
    out_plus, out_minus = [], []
    for lw, m, v in heavy_components(mu, var):
        kappa = np.sqrt(t2 / (v + t2)) * np.exp(-(m**2) / (2 * (v + t2)))
        out_plus.append((lw - np.log1p(-kappa), m, v))
        out_minus.append(
            (lw + np.log(kappa) - np.log1p(-kappa), m * t2 / (v + t2), v * t2 / (v + t2))
        )
    return out_plus + out_minus


def nonlocal_density(d, mu, var):
    """The non-local slab's density: each of the heavy slab's normals times
    1 - exp(-d^2 / (2 t^2)), normalised by numerical integration, mixed with its weight."""
    total = 0.0
    for lw, m, v in heavy_components(mu, var):

        def raw(x, m=m, v=v):
            return norm.pdf(x, m, np.sqrt(v)) * -np.expm1(-(x**2) / (2 * _model.HOLE_SD**2))

        width = 12 * np.sqrt(v)
        z = integrate.quad(raw, m - width, m + width, points=[0.0], limit=200)[0]
        total = total + np.exp(lw) * raw(d) / z
    return total


CASES = {
    "linear": dict(mean=[0.0, -0.05, -0.15, 0.02], var=[0.2, 0.1, 0.15, 0.1]),
    "mean": dict(mean=[0.0, -0.15], var=[0.2, 0.15]),
    "broken_stick": dict(mean=[0.0, -0.05, 0.02], var=[0.2, 0.1, 0.3]),
}


@pytest.mark.parametrize(
    "shape, jumps, location",
    [
        ("linear", "normal", "uniform"),
        ("mean", "normal", "uniform"),
        ("broken_stick", "normal", "uniform"),
        ("linear", "mixture", "uniform"),
        ("linear", "heavy", "uniform"),
        ("linear", "normal", "pooled"),
        ("mean", "mixture", "pooled"),
        ("mean", "heavy", "pooled"),
    ],
)
def test_marginal_posterior_matches_brute_force_enumeration(shape, jumps, location):
    """Every model's closed form (effects integrated, session and jump component summed)
    equals brute-force enumeration with dense normal densities."""
    _, scores = tiny_scores()
    spec = _model.Spec(shape=shape, jumps=jumps, location=location)
    design = _design.design(
        scores, shape=shape, pooling="hierarchical", covariates=None, better=None
    )
    mean, var = np.array(CASES[shape]["mean"]), np.array(CASES[shape]["var"]) ** 2
    s2, pi = 0.04**2, 0.4
    comps = None
    if spec.free_components:
        comps = [(np.log(0.7), -0.05, 0.03**2), (np.log(0.3), -0.3, 0.1**2)]
    elif spec.n_components > 1:
        comps = heavy_components(mean[design.jump_index], var[design.jump_index])
    loc = (4.6, 1.3) if location == "pooled" else None
    hyper = make_hyper(design, spec, mean, var, s2, pi, comps, loc)
    out = _posterior.posterior_draws(
        design, spec, hyper, design.stats, 10.0, np.random.default_rng(0), detail=True
    )
    T = len(design.sessions)
    for i in range(3):
        y = (design.matrix[i] - design.mid) / design.scale
        valid = valid_sessions(y)
        sessions = design.sessions.astype(float)
        if loc is None:
            prior_k = valid / valid.sum()
        else:
            dens = np.where(valid, norm.pdf(sessions, loc[0], loc[1]), 0.0)
            prior_k = dens / dens.sum()
        none, per_k, jump_k = brute_client(y, design.u, shape, mean, var, s2, prior_k, comps)
        with np.errstate(divide="ignore"):
            change = logsumexp(per_k + np.log(prior_k))
        marginal = np.logaddexp(np.log1p(-pi) + none, np.log(pi) + change)
        post_k = np.exp(per_k + np.log(np.where(prior_k > 0, prior_k, 1)) - change) * (prior_k > 0)
        assert out["loglik"][0, i] == pytest.approx(marginal, rel=1e-10)
        assert out["w"][0, i] == pytest.approx(np.exp(np.log(pi) + change - marginal), rel=1e-9)
        full = np.zeros(T)
        full[design.candidates] = out["q_session"][0, i]
        np.testing.assert_allclose(full, post_k, atol=1e-12)
        if shape != "broken_stick":
            expected = np.nansum(post_k * np.nan_to_num(jump_k))
            assert out["jump_c"][0, i] == pytest.approx(expected, rel=1e-8, abs=1e-12)
    if shape == "linear" and location == "uniform":
        # The clear changes are found where they are: client 1 at session 4, client 3 at 5.
        assert design.candidate_sessions[out["q_session"][0, 0].argmax()] == 4
        assert design.candidate_sessions[out["q_session"][0, 2].argmax()] == 5


def test_nonlocal_slab_matches_quadrature():
    """jumps="nonlocal": the likelihood, session posterior, jump posterior (mean, and the
    mean of its rejection draws) and P(breakthrough) equal numerical integration over the
    jump with the slab's density written out directly."""
    _, scores = tiny_scores()
    spec = _model.Spec(shape="linear", jumps="nonlocal")
    design = _design.design(
        scores, shape="linear", pooling="hierarchical", covariates=None, better=None
    )
    mean, var = np.array(CASES["linear"]["mean"]), np.array(CASES["linear"]["var"]) ** 2
    mean[2], var[2] = -0.08, 0.12**2  # a slab with real mass inside the hole
    s2, pi, ji = 0.04**2, 0.4, 2
    comps = nonlocal_components(mean[ji], var[ji])
    D = 4000
    hyper = make_hyper(design, spec, mean, var, s2, pi, comps)
    hyper.mean = [np.repeat(m, D, axis=0) for m in hyper.mean]
    hyper.n_draws = D
    out = _posterior.posterior_draws(
        design, spec, hyper, design.stats, 10.0, np.random.default_rng(5)
    )
    grid = np.linspace(-1.2, 1.0, 44001)
    f = nonlocal_density(grid, mean[ji], var[ji])
    for i in range(3):
        y = (design.matrix[i] - design.mid) / design.scale
        seen = ~np.isnan(y)
        valid = valid_sessions(y)
        prior_k = valid / valid.sum()
        none, _, _ = brute_client(y, design.u, "linear", mean, var, s2, prior_k)
        like_k, mean_k, tail_k = [], [], []
        # improvement of at least the cutoff (10 points): a jump of -cutoff / scale or less
        improved = -design.sign * grid * design.scale >= 10.0
        for k in np.flatnonzero(valid):
            X = dense_rows("linear", design.u, k)[seen]
            rest = [j for j in range(4) if j != ji]
            cov = s2 * np.eye(seen.sum()) + X[:, rest] @ np.diag(var[rest]) @ X[:, rest].T
            r = y[seen][None, :] - X[:, rest] @ mean[rest] - grid[:, None] * X[:, ji]
            ll = multivariate_normal(np.zeros(seen.sum()), cov).logpdf(r)
            like_k.append(integrate.trapezoid(np.exp(ll) * f, grid))
            mean_k.append(integrate.trapezoid(grid * np.exp(ll) * f, grid))
            tail_k.append(integrate.trapezoid(np.where(improved, np.exp(ll) * f, 0.0), grid))
        like_k, mean_k, tail_k = np.array(like_k), np.array(mean_k), np.array(tail_k)
        p_k = prior_k[valid]
        change = np.log(p_k @ like_k)
        marginal = np.logaddexp(np.log1p(-pi) + none, np.log(pi) + change)
        assert out["loglik"][0, i] == pytest.approx(marginal, rel=1e-7)
        full = np.zeros(len(design.sessions))
        full[design.candidates] = out["q_session"][0, i]
        np.testing.assert_allclose(full[valid], p_k * like_k / (p_k @ like_k), atol=1e-7)
        jump = (p_k @ mean_k) / (p_k @ like_k)
        assert out["jump_c"][0, i] == pytest.approx(jump, rel=1e-6, abs=1e-9)
        w = np.exp(np.log(pi) + change - marginal)
        p_bt = w * (p_k @ tail_k) / (p_k @ like_k)
        assert out["p_bt"][0, i] == pytest.approx(p_bt, rel=5e-4, abs=1e-6)  # grid step at the cut
        draws = out["draw_c_jump"][:, i]
        assert np.mean(draws) == pytest.approx(jump, abs=4 * np.std(draws) / np.sqrt(D))


def test_draws_outside_the_hole_follow_the_nonlocal_density():
    """Prior draws of a jump (simulation, clients without a change): the mean and the share
    within t of zero equal quadrature over N(m, sd) (1 - exp(-d^2 / (2 t^2))), normalised."""
    t, m, sd, n = _model.HOLE_SD, -0.04, 0.08, 200_000
    draws = _model.draw_outside_hole(np.full(n, m), np.full(n, sd), np.random.default_rng(3))

    def raw(x):
        return norm.pdf(x, m, sd) * -np.expm1(-(x**2) / (2 * t**2))

    lo, hi = m - 12 * sd, m + 12 * sd
    z = integrate.quad(raw, lo, hi, points=[0.0], limit=200)[0]
    mean = integrate.quad(lambda x: x * raw(x), lo, hi, points=[0.0], limit=200)[0] / z
    near = integrate.quad(raw, -t, t, points=[0.0])[0] / z
    assert np.mean(draws) == pytest.approx(mean, abs=4 * np.std(draws) / np.sqrt(n))
    share = np.mean(np.abs(draws) < t)
    assert share == pytest.approx(near, abs=4 * np.sqrt(near * (1 - near) / n))
    assert near < 0.5 * (norm.cdf(t, m, sd) - norm.cdf(-t, m, sd))  # the hole is felt


@pytest.mark.parametrize(
    "jumps, location",
    [("normal", "uniform"), ("heavy", "uniform"), ("mixture", "pooled"), ("nonlocal", "uniform")],
)
def test_model_potential_equals_numpy_marginal(jumps, location):
    """The sampled model's likelihood term (compiled kernel) equals the NumPy closed form,
    which the test above equals brute force."""
    _, scores = tiny_scores()
    spec = _model.Spec(shape="linear", jumps=jumps, location=location)
    design = _design.design(
        scores, shape="linear", pooling="hierarchical", covariates=None, better=None
    )
    mean, var = np.array(CASES["linear"]["mean"]), np.array(CASES["linear"]["var"]) ** 2
    sigma, pi = 0.04, 0.4
    point = {
        "baseline_mu_std": mean[0],
        "pre_slope_mu_std": mean[1],
        "post_slope_mu_std": mean[3],
        "sigma_std_log__": np.log(sigma),
        "p_change_logodds__": np.log(pi / (1 - pi)),
    }
    for name, v in zip(design.effects, var):
        if name != "jump":
            point[f"{name}_sd_std_log__"] = 0.5 * np.log(v)
    comps, loc = None, None
    if jumps in ("normal", "heavy", "nonlocal"):
        point["jump_mu_std"], point["jump_sd_std_log__"] = mean[2], 0.5 * np.log(var[2])
        if jumps == "heavy":
            comps = heavy_components(mean[2], var[2])
        elif jumps == "nonlocal":
            comps = nonlocal_components(mean[2], var[2])
    else:
        comps = [(np.log(0.7), -0.3, 0.1**2), (np.log(0.3), -0.05, 0.03**2)]
        # Ordered means: the first component is the more negative one.
        point["jump_component_mu_std_ordered__"] = np.array([-0.3, np.log(0.25)])
        point["jump_component_sd_std_log__"] = np.log([0.1, 0.03])
        # Sum-to-zero log-ratio: softmax([a, -a]) = (0.7, 0.3).
        point["jump_component_weight_simplex__"] = np.array([0.5 * np.log(0.7 / 0.3)])
    if location == "pooled":
        loc = (4.6, 1.3)
        lo, hi = design.candidate_sessions[[0, -1]].astype(float)
        z = (loc[0] - lo) / (hi - lo)
        point["change_session_mu_interval__"] = np.log(z / (1 - z))
        point["change_session_sd_log__"] = np.log(loc[1])
    pm_model = _model.build(design, spec)
    assert {v.name for v in pm_model.value_vars} == set(point)
    with _model.quiet():
        term = pm_model.replace_rvs_by_values([pm_model.potentials[0]])[0]
        fn = pm_model.compile_fn(term, inputs=pm_model.value_vars, point_fn=True)
        value = fn({k: np.asarray(v, dtype=float) for k, v in point.items()})
    hyper = make_hyper(design, spec, mean, var, sigma**2 + design.floor2, pi, comps, loc)
    out = _posterior.posterior_draws(design, spec, hyper, design.stats, 10.0, None)
    assert float(value) == pytest.approx(out["loglik"].sum(), rel=1e-10)


@pytest.mark.parametrize("signed", [False, True])
def test_kernel_gradient_matches_finite_differences(signed):
    """The compiled kernel's derivatives equal finite differences, with added components
    and with a subtracted one (the non-local slab's form)."""
    _, scores = tiny_scores()
    design = _design.design(
        scores, shape="linear", pooling="hierarchical", covariates=None, better=None
    )
    st = design.stats
    N, K, J = st.h.shape
    C = 2
    run = _algebra.marginal_kernel()
    rng = np.random.default_rng(1)
    base = dict(
        mean=rng.normal(0, 0.1, (N, J)),
        jmean=np.array([[-0.3, -0.05]] * N),
        var=np.array([0.2, 0.1, 0.15, 0.1]) ** 2,
        jvar=np.array([0.1, 0.03]) ** 2,
        sigma2=np.full(N, 0.05**2),
        logw=np.log([[0.7, 0.3]] * N),
        pi=np.array([0.4]),
        loc=np.array([4.6, 1.3]),
    )
    sign = np.ones(C)
    if signed:  # N(-0.3, 0.1^2) / 0.7 minus 0.3 / 0.7 of a narrower normal inside it
        base["jmean"] = np.array([[-0.3, -0.28]] * N)
        base["jvar"] = np.array([0.1, 0.05]) ** 2
        base["logw"] = np.log([[1 / 0.7, 0.3 / 0.7 * 0.5]] * N)
        sign = np.array([1.0, -1.0])

    def call(p):
        outs = [np.empty(N), np.empty((N, J)), np.empty((N, C)), np.empty((N, J))]
        outs += [np.empty((N, C)), np.empty(N), np.empty((N, C)), np.empty(N), np.empty((N, 2))]
        run(
            *_algebra.kernel_layout(st), st.yy, st.n, st.log_prior,
            design.candidate_sessions.astype(float), st.valid,
            p["mean"], p["jmean"], p["var"], p["jvar"], p["sigma2"], p["logw"], sign,
            p["pi"], p["loc"], 0, True, design.jump_index, design.n_none, *outs,
        )  # fmt: skip
        return outs

    outs = call(base)
    names = ["mean", "jmean", "var", "jvar", "sigma2", "logw", "pi", "loc"]
    grads = dict(zip(names, outs[1:]))
    for name, index in [
        ("mean", (1, 0)), ("mean", (2, 3)), ("jmean", (0, 1)), ("var", (2,)),
        ("jvar", (0,)), ("jvar", (1,)), ("sigma2", (1,)), ("logw", (2, 1)), ("pi", (0,)),
        ("loc", (0,)), ("loc", (1,)),
    ]:  # fmt: skip
        x = base[name]
        h = 1e-6 * max(abs(x[index]), 1e-2)
        up, down = dict(base), dict(base)
        up[name], down[name] = x.copy(), x.copy()
        up[name][index] += h
        down[name][index] -= h
        numeric = (call(up)[0] - call(down)[0]) / (2 * h)  # (N,) per client
        g = grads[name]
        if name in ("mean", "jmean", "sigma2", "logw"):  # per-client inputs: one client moves
            analytic = np.zeros(N)
            analytic[index[0]] = g[index] if g.ndim == 2 else g[index[0]]
        else:  # shared inputs: every client's derivative
            analytic = g[:, index[0]] if g.ndim == 2 else g
        np.testing.assert_allclose(numeric, analytic, rtol=1e-5, atol=1e-6)


def test_weighted_hdi_equals_brute_force_on_repeated_draws():
    """Integer weights are repeated draws: the HDI is the narrowest window of ceil(0.9 n)."""
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, size=(500, 3))
    w = rng.integers(1, 4, size=x.shape).astype(float)
    mean, lower, upper = _posterior.weighted_summary(x, w, 0.9)
    for j in range(3):
        rep = np.sort(np.repeat(x[:, j], w[:, j].astype(int)))
        k = int(np.ceil(0.9 * len(rep)))
        widths = rep[k - 1 :] - rep[: len(rep) - k + 1]
        best = np.argmin(widths)
        assert (lower[j], upper[j]) == (rep[best], rep[best + k - 1])
        assert mean[j] == pytest.approx(rep.mean())


# --- exact fits of clients alone: against numerical integration ---------------------------
@pytest.mark.parametrize("shape", ["mean", "linear", "broken_stick"])
def test_exact_fit_equals_brute_force_integration(shape):
    """pooling="none": effects integrated densely, sessions enumerated, the noise SD
    integrated by adaptive quadrature (scipy) against its half-normal prior."""
    df, scores = tiny_scores()
    res = bayes.fit(df, **ROLES, model=shape, pooling="none", breakthrough=5.0, seed=1)
    design = res._design
    R = design.scale
    J = len(_design.EFFECTS[shape])
    mean, var = np.zeros(J), np.full(J, _model.ALONE_SD**2)
    for i in range(3):
        y = (design.matrix[i] - design.mid) / design.scale
        valid = valid_sessions(y)
        prior_k = valid / valid.sum()

        @functools.cache
        def parts(sigma):
            s2 = sigma**2 + design.floor2
            none, per_k, jump_k = brute_client(y, design.u, shape, mean, var, s2, prior_k)
            log_prior = halfnorm.logpdf(sigma, scale=_model.SIGMA_SD)
            with np.errstate(divide="ignore"):
                lk = per_k + np.log(prior_k)
            return log_prior, none, lk, jump_k

        ref = parts(0.05)[1]  # a constant keeping exp() in range

        def integrand(sigma, what):
            lp, none, lk, jump_k = parts(sigma)
            if what == "none":
                return np.exp(lp + np.log(0.5) + none - ref)
            k = int(what) if what not in ("change", "jump") else None
            if what == "jump":
                fin = np.isfinite(lk)
                top = lk[fin].max()
                weighted = np.exp(lk[fin] - top) @ jump_k[fin]
                return np.exp(lp + np.log(0.5) + top - ref) * weighted
            if k is None:
                return np.exp(lp + np.log(0.5) + logsumexp(lk) - ref)
            return np.exp(lp + np.log(0.5) + lk[k] - ref)

        def quad(what):
            options = dict(epsabs=0, epsrel=1e-11, limit=400, points=[0.02, 0.05, 0.1])
            return integrate.quad(integrand, 0, 1.5, args=(what,), **options)[0]

        p_none, p_change = quad("none"), quad("change")
        total = p_none + p_change
        row = res.table.iloc[i]
        loglik_score = np.log(total) + ref - design.stats.n[i] * np.log(R)
        assert res._exact["loglik_score"][i] == pytest.approx(loglik_score, rel=1e-7)
        assert row["p_change"] == pytest.approx(p_change / total, rel=1e-7, abs=1e-12)
        probs = res.change_posterior.query("client == @row.client")
        for s, p in zip(probs["session"], probs["probability"]):
            k = int(np.flatnonzero(design.sessions == s)[0])
            expected = quad(str(k)) / p_change if valid[k] else 0.0
            assert p == pytest.approx(expected, rel=1e-6, abs=1e-12)
        if shape != "broken_stick":
            assert row["jump_mean"] == pytest.approx(quad("jump") / p_change * R, rel=1e-6)


def test_exact_fit_recovers_simulated_changes(bayes_data):
    """Clients alone (no sampling): large simulated gains found, dated and sized."""
    df, truth = bayes_data
    res = bayes.fit(df, **ROLES, model="mean", pooling="none", seed=1)
    t = res.table.set_index("client")
    gains = truth.loc[truth["kind"] == "gain"].set_index("client")
    assert (t.loc[gains.index, "p_change"] > 0.75).all()
    assert (t.loc[t.index.difference(gains.index), "p_change"] < 0.5).all()
    in_set = [s in t.loc[c, "change_session_set"] for c, s in gains["session"].items()]
    assert np.mean(in_set) >= 0.8
    assert t[["pre_slope_mean", "post_slope_mean"]].isna().all().all()
    assert res.diagnostics.empty and res.settings["sampler_used"] == "exact"


def test_broken_stick_dates_a_gradual_turn_without_inventing_a_jump():
    """A decline that steepens at session 6 without a jump: the broken stick dates it and
    beats the level-shift model by exact leave-one-client-out."""
    rng = np.random.default_rng(11)
    sessions = np.arange(1, 15)
    rows = []
    for c in range(8):
        mu = 30 - 0.3 * (sessions - 1) - 2.2 * np.maximum(sessions - 6, 0)
        rows.append(
            pd.DataFrame({"client": c, "session": sessions, "score": mu + rng.normal(0, 1.0, 14)})
        )
    df = pd.concat(rows, ignore_index=True)
    stick = bayes.fit(df, **ROLES, model="broken_stick", pooling="none", seed=1)
    linear = bayes.fit(df, **ROLES, model="linear", pooling="none", seed=1)
    t = stick.table
    assert (t["p_change"] > 0.9).all()
    assert (t["change_session_mean"] - 6).abs().median() <= 1.0
    assert t["post_slope_mean"].median() == pytest.approx(-2.5, abs=0.6)
    assert t["jump_mean"].isna().all() and t["p_breakthrough"].isna().all()
    assert (t["level_before_mean"] == t["level_after_mean"]).all()
    table = bayes.compare({"broken stick": stick, "linear": linear})
    assert table["model"].iloc[0] == "broken stick"


# --- sampled hierarchical model ------------------------------------------------------------
def test_breakthrough_cutoff_is_reliable_change_by_hand(bayes_hierarchical):
    """Jacobson & Truax (1991): z * sqrt(2) * SD * sqrt(1 - r) with z = 1.959964 (the 97.5%
    normal quantile, "1.96"); BDI-II SD 12.75, r .92: the criterion every method shares."""
    s = bayes_hierarchical[0].settings
    assert s["breakthrough"] == pytest.approx(1.959964 * 2**0.5 * 12.75 * 0.08**0.5)
    assert s["breakthrough"] == pytest.approx(9.996, abs=1e-3)
    assert s["breakthrough_source"] == "norms"
    assert s["reliable_change_points"] == s["breakthrough"]


def test_recovery_of_change_session_and_jump(bayes_data, bayes_hierarchical):
    _, truth = bayes_data
    table = bayes_hierarchical[0].table.set_index("client")
    gains = truth[truth["kind"] == "gain"].set_index("client")
    assert len(gains) >= 5
    in_set = [s in table.loc[c, "change_session_set"] for c, s in gains["session"].items()]
    # Jumps are signed like scores: a gain lowers BDI-II scores.
    in_hdi = [
        table.loc[c, "jump_lower"] <= -m <= table.loc[c, "jump_upper"]
        for c, m in gains["magnitude"].items()
    ]
    assert np.mean(in_set) >= 0.8
    assert np.mean(in_hdi) >= 0.8
    assert (table.loc[gains.index, "p_change"] > 0.5).all()
    assert (table.loc[gains.index, "p_change"] > 0.9).mean() >= 0.8
    assert (table.loc[gains.index, "p_breakthrough"] > 0.5).all()
    others = table.index.difference(gains.index)
    assert (table.loc[others, "p_breakthrough"] < 0.2).mean() >= 0.75
    # Segment levels: their difference is the jump.
    np.testing.assert_allclose(
        table["level_after_mean"] - table["level_before_mean"], table["jump_mean"], atol=1e-6
    )


def test_probabilities_are_coherent(bayes_hierarchical):
    r = bayes_hierarchical[0]
    t = r.table
    assert t["p_change"].between(0, 1).all()
    assert (t["p_breakthrough"] <= t["p_change"] + 1e-12).all()
    sums = r.change_posterior.groupby("client")["probability"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)
    held = (
        r.change_posterior[r.change_posterior["in_credible_set"]]
        .groupby("client")["probability"]
        .sum()
    )
    assert (held >= r.settings["level"] - 1e-9).all()
    assert (t["change_session_lower"] <= t["change_session_mode"]).all()
    assert (t["jump_lower"] <= t["jump_mean"]).all() and (t["jump_mean"] <= t["jump_upper"]).all()


def test_change_model_beats_no_change_by_loo_on_the_score_scale(
    bayes_hierarchical, bayes_no_change
):
    """A sampled hierarchical fit and an exact fit of clients alone are comparable: both
    log-likelihoods are on the score scale."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)  # Pareto k with 10 clients
        table = bayes.compare({"change": bayes_hierarchical[0], "no change": bayes_no_change})
    assert list(table.columns) == bayes.COMPARE_COLUMNS
    assert table["model"].tolist()[0] == "change"
    assert table.loc[1, "elpd_diff"] > 2 * table.loc[1, "dse"]


def test_exact_loglik_is_the_score_scale_normal_density(bayes_data):
    """With no change and the effects integrated, a client's marginal density of its raw
    scores is a normal density: checked by direct integration over the noise SD."""
    df = bayes_data[0].query("client in [1, 2]")
    r = bayes.fit(df, **ROLES, model="mean", pooling="none", change="none", seed=1)
    d = r._design
    for i in range(2):
        y = d.matrix[i][~np.isnan(d.matrix[i])]
        n = len(y)

        def dens(sigma):
            cov = (sigma**2 + d.floor2) * d.scale**2 * np.eye(n)
            cov += (_model.ALONE_SD * d.scale) ** 2
            log = multivariate_normal(np.full(n, d.mid), cov).logpdf(y)
            return np.exp(log + halfnorm.logpdf(sigma, scale=_model.SIGMA_SD) + 40)

        total = integrate.quad(dens, 0, 1.5, epsrel=1e-11, limit=400, points=[0.05, 0.1])[0]
        assert r.pareto_k()["elpd_loo"].iloc[i] == pytest.approx(np.log(total) - 40, rel=1e-7)


def test_psis_loo_agrees_with_arviz(bayes_hierarchical):
    """Pareto smoothing and the pointwise LOO density equal ArviZ's (same relative ESS)."""
    az = pytest.importorskip("arviz")
    r = bayes_hierarchical[0]
    draws = np.asarray(_idata.group(r.idata, "log_likelihood")["score"].values, dtype=float)
    flat = draws.reshape(-1, draws.shape[-1])
    reff = 0.7
    ours = []
    for i in range(flat.shape[1]):
        lw, k = _loo.psis(-flat[:, i], reff)
        ours.append((logsumexp(flat[:, i] + lw), k))
    container = az.from_dict(
        posterior={"x": np.zeros(draws.shape[:2])}, log_likelihood={"score": draws}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(container, pointwise=True, reff=reff)
    np.testing.assert_allclose([e for e, _ in ours], np.asarray(ref.loo_i), rtol=1e-9)
    np.testing.assert_allclose([k for _, k in ours], np.asarray(ref.pareto_k), atol=1e-9)
    # With per-client relative ESS: finite, and never above the in-sample density.
    full = _loo.psis_loo(draws)
    assert np.isfinite(full["elpd"]).all() and (full["elpd"] <= full["lppd"] + 1e-9).all()


# --- contracts ----------------------------------------------------------------------------
def test_exact_columns(bayes_hierarchical, bayes_mean_shift, bayes_no_change):
    for r in (bayes_hierarchical[0], bayes_mean_shift, bayes_no_change):
        assert (
            list(r.table.columns)
            == bayes.TABLE_COLUMNS
            == [
                "client",
                "n_observed",
                "p_change",
                "p_breakthrough",
                "change_session_mode",
                "change_session_mean",
                "change_session_lower",
                "change_session_upper",
                "change_session_set",
                "jump_mean",
                "jump_lower",
                "jump_upper",
                "level_before_mean",
                "level_after_mean",
                "baseline_mean",
                "pre_slope_mean",
                "post_slope_mean",
                "sigma_mean",
            ]
        )
        assert list(r.population.columns) == ["parameter", "mean", "sd", "lower", "upper"]
        assert list(r.diagnostics.columns) == [
            "parameter",
            "size",
            "r_hat",
            "ess_bulk",
            "ess_tail",
            "worst_client",
        ]
        assert list(r.change_posterior.columns) == [
            "client",
            "session",
            "probability",
            "in_credible_set",
        ]
        assert list(r.skipped.columns) == ["client", "reason"]
        assert list(r.summary().columns) == bayes.SUMMARY_COLUMNS
        assert list(r.pareto_k().columns) == bayes.PARETO_COLUMNS
    assert list(bayes_hierarchical[0].trajectory(1).columns) == bayes.TRAJECTORY_COLUMNS
    assert list(bayes_mean_shift.trajectory(1).columns) == bayes.TRAJECTORY_COLUMNS


def test_no_change_model_reports_zero(bayes_no_change):
    t = bayes_no_change.table
    assert (t["p_change"] == 0).all() and (t["p_breakthrough"] == 0).all()
    assert t["jump_mean"].isna().all() and bayes_no_change.change_posterior.empty


def test_client_with_three_scores_is_skipped_with_reason(bayes_hierarchical, bayes_mean_shift):
    for r in (bayes_hierarchical[0], bayes_mean_shift):
        assert r.skipped["client"].tolist() == [99]
        assert "3 observed score(s)" in r.skipped["reason"].iloc[0]
        assert 99 not in set(r.table["client"])


def test_idata_groups_score_scale_posterior_and_population(bayes_hierarchical):
    r = bayes_hierarchical[0]
    groups = set(_idata.group_list(r.idata))
    assert {"posterior", "log_likelihood", "observed_data", "prior", "sample_stats"} <= groups
    assert "posterior_predictive" not in groups  # only on request
    post = _idata.group(r.idata, "posterior")
    for name in (
        "baseline", "pre_slope", "jump", "post_slope", "level_before", "level_after",
        "change", "change_session", "p_change", "jump_mu", "sigma",
    ):  # fmt: skip
        assert name in post
    # Internals live elsewhere: nothing standardised or transformed in the posterior.
    assert not any(str(v).endswith(("_std", "__")) for v in post.data_vars)
    assert "sigma_std" in _idata.group(r.idata, "unconstrained_posterior")
    assert r.idata["log_likelihood"]["score"].shape == (2, 200, 10)
    obs = _idata.group(r.idata, "observed_data")["score"]
    np.testing.assert_array_equal(obs.values, r._design.matrix)
    assert "jump_mu" in _idata.group(r.idata, "prior")
    assert {"jump_mu", "jump_sd", "p_change", "n_changes", "n_breakthroughs"} <= set(
        r.population["parameter"]
    )
    assert {"level_before", "level_after"} <= set(r.population["parameter"])
    # jumps="nonlocal" (the default): one population mean and SD, no component parameters
    assert not r.population["parameter"].str.startswith("jump_component").any()
    # Six large gains simulated: the population's share changing should cover 0.6.
    row = r.population.set_index("parameter").loc["p_change"]
    assert row["lower"] < 0.6 < row["upper"]
    # The score-scale sigma is the standardised one times the range (with rounding).
    sig = float(post["sigma"].mean())
    raw = _idata.group(r.idata, "unconstrained_posterior")["sigma_std"].values
    assert sig == pytest.approx(
        float(np.mean(np.sqrt(raw**2 + r._design.floor2))) * r._design.scale, rel=1e-9
    )


def test_exact_idata_and_posterior_predictive_on_request(bayes_data):
    df = bayes_data[0]
    r = bayes.fit(
        df, **ROLES, model="mean", pooling="none", posterior_predictive=True, draws=300, seed=4
    )
    groups = set(_idata.group_list(r.idata))
    assert {
        "posterior",
        "log_likelihood",
        "observed_data",
        "prior",
        "posterior_predictive",
    } <= groups
    pp = _idata.group(r.idata, "posterior_predictive")["score"]
    assert pp.shape == (1, 300, len(r.table), len(r._design.sessions))
    # Independent exact draws: the drawn change indicator averages to P(change).
    change = _idata.group(r.idata, "posterior")["change"].values.mean(axis=(0, 1))
    np.testing.assert_allclose(change, r.table["p_change"], atol=4 * 0.5 / np.sqrt(300))
    # Predictive scores scatter around each client's observed mean.
    obs_mean = np.nanmean(r._design.matrix, axis=1)
    assert np.abs(pp.values.mean(axis=(0, 1, 3)) - obs_mean).max() < 3.0


def test_idata_helpers_accept_inferencedata_and_datatree():
    import xarray as xr

    ds = xr.Dataset({"x": (("chain", "draw"), np.zeros((1, 5)))})
    tree = _idata.make({"posterior": ds}, like=xr.DataTree())
    assert type(tree).__name__ == "DataTree"
    assert _idata.group_list(tree) == ["posterior"]
    assert "x" in _idata.group(tree, "posterior")
    assert _idata.group(tree, "prior") is None
    az = pytest.importorskip("arviz")
    if hasattr(az, "InferenceData"):
        idata = _idata.make({"posterior": ds}, like=az.InferenceData(posterior=ds))
        assert _idata.group_list(idata) == ["posterior"]
        assert "x" in _idata.group(idata, "posterior")


def test_results_pickle_save_and_load(tmp_path, bayes_hierarchical, bayes_mean_shift):
    for r in (bayes_hierarchical[0], bayes_mean_shift):
        path = r.save(tmp_path / "fit.pkl")
        back = bayes.load(path)
        pd.testing.assert_frame_equal(back.table, r.table)
        pd.testing.assert_frame_equal(back.population, r.population)
        assert back.settings == r.settings
        pd.testing.assert_frame_equal(back.trajectory(1), r.trajectory(1))
        assert pickle.loads(pickle.dumps(r)).table.equals(r.table)
    with pytest.raises(TypeError, match="not a BayesResult"):
        (tmp_path / "other.pkl").write_bytes(pickle.dumps({"a": 1}))
        bayes.load(tmp_path / "other.pkl")


def test_duration_estimate_before_fitting(bayes_data):
    df = bayes_data[0]
    exact = bayes.estimate_duration(df, **ROLES, pooling="none")
    assert exact.method == "exact" and exact.seconds < 1
    sampled = bayes.estimate_duration(df, **ROLES, chains=2, tune=200, draws=200, sampler="pymc")
    assert sampled.method == "NUTS (pymc)"
    assert sampled.lower < sampled.seconds < sampled.upper and float(sampled) == sampled.seconds
    longer = bayes.estimate_duration(df, **ROLES, chains=2, tune=2000, draws=2000, sampler="pymc")
    assert longer.seconds > sampled.seconds
    assert str(sampled).startswith("about ") and str(exact) == "under 1 s, exact"


def test_diagnostics_and_warnings_agree(bayes_hierarchical):
    r, caught = bayes_hierarchical
    dg = r.diagnostics
    assert {"p_change", "jump_mu", "jump"} <= set(dg["parameter"])
    assert dg.loc[dg["parameter"] == "jump", "size"].item() == 10
    ours = [str(w.message) for w in caught if issubclass(w.category, ToolkitWarning)]
    assert sorted(ours) == sorted(r.warnings)
    low = dg.loc[dg["ess_bulk"] < 400, "parameter"].tolist()
    if low:
        assert any(all(p in w for p in low) and "draws=" in w for w in r.warnings)
    assert r.divergences == 0
    # No third-party warning escapes (PyMC's log and the compiler's notice are handled).
    assert all(issubclass(w.category, ToolkitWarning) for w in caught)
    # Each warning points at the line that called fit() (the shared fixture), not inside it.
    assert all(w.filename.endswith("conftest.py") for w in caught)


def test_diagnostics_equal_arviz(bayes_hierarchical):
    # The fit's R-hat and ESS (many parameters at once) against ArviZ, one by one.
    import arviz as az

    r, _ = bayes_hierarchical
    post = r.idata.posterior
    for row in r.diagnostics.itertuples():
        v = post[row.parameter]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = (az.rhat(v), az.ess(v, method="bulk"), az.ess(v, method="tail"))
        for got, name, pick in zip(
            (row.r_hat, row.ess_bulk, row.ess_tail), ("rhat", "bulk", "tail"), ("max", "min", "min")
        ):
            values = np.asarray(ref[("rhat", "bulk", "tail").index(name)][v.name].values).ravel()
            expected = getattr(np, f"nan{pick}")(values) if np.isfinite(values).any() else np.nan
            np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=f"{row.parameter} {name}")


@pytest.mark.parametrize(
    "case",
    ["autocorrelated", "stuck", "ties", "rare", "constant", "odd_draws", "one_chain", "missing"],
)
def test_convergence_statistics_equal_arviz_on_hard_cases(case):
    import arviz as az

    from toolkit.bayes._convergence import diagnose

    rng = np.random.default_rng(7)
    if case == "autocorrelated":
        e = rng.normal(size=(4, 400, 6))
        d = np.zeros_like(e)
        for t in range(1, 400):
            d[:, t] = 0.9 * d[:, t - 1] + e[:, t]
    elif case == "stuck":
        d = rng.normal(size=(4, 300, 5)) + np.array([0, 0, 0, 2.0])[:, None, None]
    elif case == "ties":
        d = rng.integers(3, 8, size=(4, 300, 5)).astype(float)
    elif case == "rare":
        d = (rng.random((4, 300, 5)) < 0.02).astype(float)
    elif case == "constant":
        d = np.full((4, 100, 2), 3.0)
    elif case == "odd_draws":
        d = rng.normal(size=(3, 101, 4))
    elif case == "one_chain":
        d = rng.normal(size=(1, 200, 3))
    else:
        d = rng.normal(size=(4, 100, 3))
        d[2, 7, 1] = np.nan
    got = diagnose(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(d.shape[2]):
            ref = (az.rhat(d[:, :, k]), az.ess(d[:, :, k], method="bulk"),
                   az.ess(d[:, :, k], method="tail"))  # fmt: skip
            np.testing.assert_allclose([g[k] for g in got], np.asarray(ref, dtype=float),
                                       rtol=1e-10, err_msg=f"{case} parameter {k}")  # fmt: skip


def test_warning_messages_name_parameters_and_fix():
    dg = pd.DataFrame(
        {
            "parameter": ["jump_sd", "jump"],
            "size": [1, 30],
            "r_hat": [1.05, 1.002],
            "ess_bulk": [120.0, 900.0],
            "ess_tail": [300.0, 800.0],
            "worst_client": [None, 17],
        }
    )
    with pytest.warns(ToolkitWarning) as record:
        msgs = _fit._diagnostic_warnings(dg, 3, {"tune": 500, "draws": 500, "chains": 4})
    assert len(msgs) == 3 == len(record)
    assert "jump_sd (R-hat 1.050)" in msgs[0] and "tune=1000" in msgs[0]
    assert "jump_sd (ESS 120)" in msgs[1] and "jump (" not in msgs[1]
    assert "3 divergent" in msgs[2] and "target_accept" in msgs[2]


def test_one_chain_warns_that_r_hat_cannot_be_computed():
    dg = pd.DataFrame(
        {
            "parameter": ["jump_sd"],
            "size": [1],
            "r_hat": [np.nan],
            "ess_bulk": [900.0],
            "ess_tail": [900.0],
            "worst_client": [None],
        }
    )
    with pytest.warns(ToolkitWarning, match="R-hat cannot be computed from one chain") as rec:
        msgs = _fit._diagnostic_warnings(dg, 0, {"tune": 500, "draws": 500, "chains": 1})
    assert len(msgs) == 1 == len(rec) and "chains=2" in msgs[0]
    assert not _fit._diagnostic_warnings(dg, 0, {"tune": 500, "draws": 500, "chains": 2})


def test_settings_record_arguments_and_cutoff(bayes_hierarchical):
    s = bayes_hierarchical[0].settings
    assert s["model"] == "linear" and s["pooling"] == "hierarchical" and s["seed"] == 7
    assert s["change"] == "mixture" and s["jumps"] == "nonlocal"
    assert s["client"] == "client" and s["instrument"] == "BDI-II" and s["level"] == 0.9


def test_methods_text_states_priors_and_cites_the_sampler(bayes_hierarchical, bayes_mean_shift):
    text = bayes_hierarchical[0].methods_text()
    assert "Hoffman & Gelman, 2014" in text and "PyMC" in text
    assert "Priors" in text and "half-normal" in text and "Beta(1, 1)" in text
    assert "Hoffman, M. D., & Gelman, A. (2014)" in text
    assert "1 - exp(-d^2 / (2 x 3.5^2))" in text  # the hole: 0.055 x 63 BDI-II points
    assert "Johnson, V. E., & Rossell, D. (2010)" in text
    alone = bayes_mean_shift.methods_text()
    assert "Nothing was sampled" in alone and "SD 18.9 points" in alone  # 0.3 x 63


def test_input_not_mutated_and_same_seed_same_result(bayes_data):
    df = bayes_data[0].query("client <= 4")
    before = df.copy()
    kw = dict(model="linear", pooling="none", seed=7, **ROLES)
    a = bayes.fit(df, **kw)
    b = bayes.fit(df, **kw)
    pd.testing.assert_frame_equal(df, before)
    pd.testing.assert_frame_equal(a.table, b.table)
    post_a = _idata.group(a.idata, "posterior")["jump"].values
    np.testing.assert_array_equal(post_a, _idata.group(b.idata, "posterior")["jump"].values)


def test_deprecated_model_names_still_work(bayes_data):
    df = bayes_data[0].query("client <= 4")
    with pytest.warns(ToolkitDeprecationWarning, match="model='mean', pooling='none'"):
        old = bayes.fit(df, **ROLES, model="mean_shift", seed=3)
    new = bayes.fit(df, **ROLES, model="mean", pooling="none", seed=3)
    pd.testing.assert_frame_equal(old.table, new.table)
    with pytest.raises(OptionError, match="already means pooling='none'"):
        bayes.fit(df, **ROLES, model="trend", pooling="hierarchical")


def test_covariates_enter_as_centred_contrasts(bayes_data):
    df = bayes_data[0]
    m = bayes.build_model(df, **ROLES, covariates=["arm"])
    assert m.coords["covariate"] == ("arm=usual",)
    assert {"beta_jump_std", "beta_baseline_std"} <= {v.name for v in m.free_RVs}


def test_without_a_change_there_is_no_jump_population():
    """change="none": no jump enters the likelihood, so no slab is summed over and the
    methods paragraph describes none (the default slab for that option is "heavy")."""
    _, scores = tiny_scores()
    spec = _model.resolve_spec("f", "linear", None, "none", None, "uniform")
    assert spec.jumps == "heavy" and spec.jump_population == "normal"
    assert spec.n_components == 1 and list(spec.signs) == [1.0]
    design = _design.design(
        scores, shape="linear", pooling="hierarchical", covariates=None, better=None
    )
    text = _fit.prior_text(SimpleNamespace(_design=design, _spec=spec))
    assert "jumps" not in text and "change session" not in text
    with_change = _model.resolve_spec("f", "linear", None, "mixture", None, "uniform")
    assert "heavy-tailed" in _fit.prior_text(SimpleNamespace(_design=design, _spec=with_change))


def test_model_family_free_variables(bayes_data):
    df = bayes_data[0]
    names = lambda **kw: {v.name for v in bayes.build_model(df, **ROLES, **kw).free_RVs}
    assert {"jump_component_mu_std", "jump_component_weight"} <= names(jumps="mixture")
    assert "jump_mu_std" in names(jumps="normal")
    for jumps in ("nonlocal", "heavy"):  # one population mean and SD, fixed components
        fixed = names(jumps=jumps)
        assert {"jump_mu_std", "jump_sd_std"} <= fixed
        assert not any("component" in n for n in fixed)
    # The default slab has the hole only where there is a no-change spike to separate.
    default = lambda change: _model.resolve_spec("f", "linear", None, change, None, "uniform")
    assert default("mixture").jumps == "nonlocal" and default("always").jumps == "heavy"
    stick = names(model="broken_stick")
    assert not any("jump" in n for n in stick) and "post_slope_mu_std" in stick
    pooled = names(change_location="pooled")
    assert {"change_session_mu", "change_session_sd"} <= pooled
    alone = bayes.build_model(df, **ROLES, pooling="none")
    assert [v.name for v in alone.free_RVs] == ["sigma_std"]


def test_prior_predictive_contract_and_seed(bayes_data):
    df = bayes_data[0]
    a = bayes.prior_predictive(df, **ROLES, draws=30, seed=3)
    b = bayes.prior_predictive(df, **ROLES, draws=30, seed=3)
    assert list(a.columns) == bayes.PRIOR_PREDICTIVE_COLUMNS
    pd.testing.assert_frame_equal(a, b)
    assert a["jump"].isna().eq(~a["change"]).all()
    assert 0.15 < a.groupby(["draw", "client"])["change"].first().mean() < 0.85
    # Weakly informative: most simulated scores stay within one range of the 0-63 scale.
    assert a["score"].between(-63, 126).mean() > 0.95
    stick = bayes.prior_predictive(df, **ROLES, model="broken_stick", draws=10, seed=3)
    assert stick["jump"].isna().all()


@pytest.mark.slow  # samples twice as long as the fixtures
def test_nutpie_sampler_agrees_with_pymc(bayes_data, bayes_hierarchical):
    pytest.importorskip("nutpie")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        r = bayes.fit(
            bayes_data[0],
            **ROLES,
            sampler="nutpie",
            chains=2,
            tune=200,
            draws=200,
            seed=7,
            progress=False,
        )
    assert r.settings["sampler_used"] == "nutpie"
    np.testing.assert_allclose(
        r.table["p_change"], bayes_hierarchical[0].table["p_change"], atol=0.15
    )
    assert "sigma" in set(r.diagnostics["parameter"])
    assert not r.diagnostics["parameter"].str.endswith("__").any()  # no transformed copies


# --- plots --------------------------------------------------------------------------------
def test_plots_honour_ax_and_draw_the_parts(bayes_hierarchical, bayes_mean_shift):
    import matplotlib.pyplot as plt

    from toolkit.plots.bayes import bayes_trajectory, breakthrough_probabilities

    for r in (bayes_hierarchical[0], bayes_mean_shift):
        fig, (ax1, ax2) = plt.subplots(1, 2)
        out = bayes_trajectory(r, 1, ax=ax1)
        assert out is ax1 and ax1.get_ylabel() == "BDI-II"
        assert len(ax1.lines) == 2 and len(ax1.collections) == 1  # data, mean; band
        assert len(out.twin_axes[0].patches) == len(r.change_posterior.query("client == 1"))
        assert breakthrough_probabilities(r, ax=ax2) is ax2
        assert [line.get_label() for line in ax2.lines] == ["P(change)", "P(breakthrough)"]
        assert r.plot().get_title().startswith("client ")
        plt.close("all")


# --- bad input ----------------------------------------------------------------------------
def test_errors_name_the_problem_and_the_fix(bayes_data):
    df = bayes_data[0]
    with pytest.raises(EmptyDataError, match="Every BDI-II score is missing"):
        bayes.build_model(df.assign(score=np.nan), **ROLES)
    with pytest.raises(DataError, match="equal 20.*constant data"):
        bayes.build_model(df.assign(score=20.0), **ROLES)
    with pytest.raises(EmptyDataError, match="No client has at least 4"):
        bayes.build_model(df[df["session"] <= 3], **ROLES)
    with pytest.raises(ValueError, match=r"'model' parameter .* must be one of .*'trends'"):
        bayes.build_model(df, **ROLES, model="trends")
    with pytest.raises(ValueError, match="need pooling='hierarchical'"):
        bayes.build_model(df, **ROLES, pooling="none", covariates=["arm"])
    with pytest.raises(OptionError, match="needs pooling='hierarchical'"):
        bayes.build_model(df, **ROLES, pooling="none", change_location="pooled")
    with pytest.raises(OptionError, match="model='broken_stick' has no jump"):
        bayes.build_model(df, **ROLES, model="broken_stick", jumps="mixture")
    with pytest.raises(MissingColumnError, match="'group' is not in the data"):
        bayes.build_model(df, **ROLES, covariates=["group"])
    with pytest.raises(DataError, match="changes within client"):
        bayes.build_model(df, **ROLES, covariates=["true_score"])
    with pytest.raises(ValueError, match="better='lower'"):
        bayes.build_model(df, client="client", session="session", score="score")
    with pytest.raises(ValueError, match="contradicts the instrument"):
        bayes.build_model(df, **ROLES, better="higher")
    plain = long_scores(df, client="client", session="session", score="score", better="lower")
    with pytest.warns(ToolkitWarning, match=r"P\(breakthrough\) not computed"):
        assert np.isnan(_fit._breakthrough_cutoff(plain, None, _model.Spec())[0])
    with pytest.raises(ValueError, match="'breakthrough' parameter of bayes.fit must be a"):
        bayes.fit(df, **ROLES, breakthrough=-1)
    with pytest.raises(ValueError, match="'sampler' parameter"):
        bayes.fit(df, **ROLES, sampler="stan")
    with pytest.raises(ValueError, match="'posterior_predictive' parameter"):
        bayes.fit(df, **ROLES, posterior_predictive="yes")


def test_compare_rejects_mismatched_fits(bayes_hierarchical, bayes_mean_shift, bayes_data):
    with pytest.raises(ValueError, match="at least two"):
        bayes.compare({"a": bayes_hierarchical[0]})
    r = bayes_hierarchical[0]
    fewer = bayes.fit(bayes_data[0].query("client <= 5"), **ROLES, pooling="none", seed=1)
    with pytest.raises(ValueError, match="other clients"):
        bayes.compare({"a": r, "b": fewer})
    shifted = bayes.fit(
        bayes_data[0].assign(score=lambda d: d["score"] + 1), **ROLES, pooling="none", seed=1
    )
    with pytest.raises(ValueError, match="other scores"):
        bayes.compare({"a": bayes_mean_shift, "b": shifted})
    with pytest.raises(ValueError, match="not analysed.*skipped"):
        r.trajectory(99)


def test_mixture_jumps_report_their_components(bayes_data):
    """jumps="mixture" samples and reports its components; the default has none to report."""
    df = bayes_data[0]
    r = bayes.fit(
        df, **ROLES, jumps="mixture", chains=2, tune=200, draws=200,
        sampler="nutpie", progress=False, seed=3,
    )  # fmt: skip
    params = set(r.population["parameter"])
    assert {"jump_component_mu[1]", "jump_component_sd[2]", "jump_component_weight[1]"} <= params
    post = _idata.group(r.idata, "posterior")
    assert post["jump_component_weight"].sum("component").values == pytest.approx(1.0)
    mu = post["jump_component_mu"].values
    assert np.all(mu[..., 0] < mu[..., 1])  # ordered means
    assert "Dirichlet" in r.methods_text()
