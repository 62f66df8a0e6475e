"""Tests of toolkit.bayes: closed forms against brute force, recovery, contracts and errors.

Fitted models come from session-scoped fixtures in conftest.py (each sampled once).
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

matplotlib.use("Agg")

from toolkit import bayes
from toolkit.bayes import _algebra, _design, _fit, _model
from toolkit.data import long_scores
from toolkit.errors import DataError, EmptyDataError, MissingColumnError, ToolkitWarning

ROLES = {"client": "client", "session": "session", "score": "score", "instrument": "BDI-II"}


# --- a tiny case worked by brute force ----------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    """3 clients x 7 sessions, one missing score, fixed population parameters."""
    df = pd.DataFrame(
        {
            "client": np.repeat([1, 2, 3], 7),
            "session": np.tile(np.arange(1, 8), 3),
            "score": [
                30,
                29,
                31,
                18,
                17,
                16,
                18,
                25,
                np.nan,
                24,
                23,
                22,
                23,
                21,
                40,
                38,
                39,
                37,
                25,
                26,
                24,
            ],
        }
    )
    scores = long_scores(df, client="client", session="session", score="score", instrument="BDI-II")
    design = _design.design(scores, model="hierarchical", covariates=None, better=None)
    # Standardised population parameters (prior means, variances, noise, share changing).
    mean = np.array([0.0, -0.05, -0.15, 0.02])
    var = np.array([0.2, 0.1, 0.15, 0.1]) ** 2
    hyper = SimpleNamespace(
        mean=[np.full((1, 3, 1), m) for m in mean],
        var=[np.full((1, 1, 1), v) for v in var],
        sigma2=np.full((1, 1, 1), 0.04**2),
        pi=np.full((1, 1), 0.4),
        n_draws=1,
    )
    return SimpleNamespace(design=design, mean=mean, var=var, sigma=0.04, pi=0.4, hyper=hyper)


def brute_force(tiny):
    """Enumerate every change session; integrate the effects with a dense normal density.

    For each client and candidate k, y_obs ~ N(X_k m, sigma^2 I + X_k S X_k') exactly, with
    X_k the regression rows written out session by session.
    """
    d = tiny.design
    u, cand = d.u, d.candidates
    out = []
    for i in range(len(d.clients)):
        y = (d.matrix[i] - d.mid) / d.scale
        seen = ~np.isnan(y)
        t = np.arange(len(u))

        def loglik(X):
            cov = (
                tiny.sigma**2 * np.eye(seen.sum())
                + X[seen] @ np.diag(tiny.var[: X.shape[1]]) @ X[seen].T
            )
            return multivariate_normal(X[seen] @ tiny.mean[: X.shape[1]], cov).logpdf(y[seen])

        none = loglik(np.column_stack([np.ones_like(u), u]))
        per_k = []
        for k in cand:
            # valid: 2 observed sessions before k and 2 from k on
            if seen[:k].sum() < 2 or seen[k:].sum() < 2:
                per_k.append(-np.inf)
                continue
            after = (t >= k).astype(float)
            X = np.column_stack([np.ones_like(u), np.minimum(u, u[k]), after, after * (u - u[k])])
            per_k.append(loglik(X))
        per_k = np.array(per_k)
        valid = np.isfinite(per_k)
        change = logsumexp(per_k[valid]) - np.log(valid.sum())
        marginal = np.logaddexp(np.log1p(-tiny.pi) + none, np.log(tiny.pi) + change)
        q = np.where(valid, np.exp(per_k - logsumexp(per_k[valid])), 0.0)
        out.append((marginal, np.exp(np.log(tiny.pi) + change - marginal), q))
    return out


def test_marginal_posterior_matches_brute_force_enumeration(tiny):
    draws = _fit._posterior_draws(
        tiny.design,
        tiny.hyper,
        tiny.design.stats,
        "mixture",
        10.0,
        np.random.default_rng(0),
        detail=True,
    )
    for i, (marginal, p_change, q) in enumerate(brute_force(tiny)):
        assert draws["loglik"][0, i] == pytest.approx(marginal, rel=1e-10)
        assert draws["w"][0, i] == pytest.approx(p_change, rel=1e-9)
        np.testing.assert_allclose(draws["q"][0, i], q, atol=1e-12)
    # The clear changes are found where they are: client 1 at session 4, client 3 at 5.
    assert draws["q"][0, 0].argmax() == list(tiny.design.candidates).index(3)
    assert draws["q"][0, 2].argmax() == list(tiny.design.candidates).index(4)


def test_model_potential_equals_brute_force_total(tiny):
    """The sampled model's likelihood term (compiled kernel) equals the enumeration."""
    pm_model = _model.build(tiny.design, "mixture")
    point = {
        "baseline_mu_std": tiny.mean[0],
        "pre_slope_mu_std": tiny.mean[1],
        "jump_mu_std": tiny.mean[2],
        "post_slope_mu_std": tiny.mean[3],
        "sigma_std_log__": np.log(tiny.sigma),
        "p_change_logodds__": np.log(0.4 / 0.6),
    }
    for name, v in zip(tiny.design.effects, tiny.var):
        point[f"{name}_sd_std_log__"] = 0.5 * np.log(v)
    with _model.quiet():
        term = pm_model.replace_rvs_by_values([pm_model.potentials[0]])[0]
        value = pm_model.compile_fn(term, inputs=pm_model.value_vars)(point)
    assert float(value) == pytest.approx(sum(b[0] for b in brute_force(tiny)), rel=1e-10)


def test_kernel_value_and_gradient_match_numpy_and_finite_differences(tiny):
    st = tiny.design.stats
    run = _algebra.kernel()
    N, K, J = st.h.shape
    rng = np.random.default_rng(1)
    mean = rng.normal(0, 0.1, (N, J))
    var, sigma2 = tiny.var.copy(), np.full(N, 0.05**2)

    def ev_of(mean, var, sigma2):
        ev, jm, jv, js = (
            np.empty((N, K)),
            np.empty((N, K, J)),
            np.empty((N, K, J)),
            np.empty((N, K)),
        )
        run(st.G, st.h, st.yy, st.n, mean, var, sigma2, ev, jm, jv, js)
        return ev, jm, jv, js

    ev, jm, jv, js = ev_of(mean, var, sigma2)
    numpy_ev = _algebra.evidence(
        st.G, st.h, st.yy, st.n, [mean[:, j, None] for j in range(J)], list(var), sigma2[:, None]
    )
    np.testing.assert_allclose(ev, numpy_ev, rtol=1e-12)
    for x, jac, index in ((mean, jm, (1, 2)), (var, jv, (3,)), (sigma2, js, (0,))):
        h = 1e-6 * abs(x[index])
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        args = lambda z: (
            (z, var, sigma2) if x is mean else ((mean, z, sigma2) if x is var else (mean, var, z))
        )
        numeric = (ev_of(*args(up))[0] - ev_of(*args(down))[0]) / (2 * h)
        if x is mean:
            analytic = np.zeros((N, K))
            analytic[index[0]] = jac[index[0], :, index[1]]
        elif x is var:
            analytic = jac[:, :, index[0]]
        else:
            analytic = np.zeros((N, K))
            analytic[index[0]] = jac[index[0]]
        np.testing.assert_allclose(numeric, analytic, rtol=1e-5, atol=1e-6)


def test_conditional_jump_mean_matches_dense_linear_algebra(tiny):
    """Posterior mean of the effects given change at k: m + S X'(sigma^2 I + X S X')^-1 r."""
    d = tiny.design
    _, _, theta = _algebra.evidence(
        d.stats.G,
        d.stats.h,
        d.stats.yy,
        d.stats.n,
        [m[0] for m in tiny.hyper.mean],
        list(tiny.var),
        tiny.sigma**2,
        moments=True,
    )
    i, k = 0, 1
    y = (d.matrix[i] - d.mid) / d.scale
    X = d.rows[k][~np.isnan(y)]
    S = np.diag(tiny.var)
    C = tiny.sigma**2 * np.eye(len(X)) + X @ S @ X.T
    expected = tiny.mean + S @ X.T @ np.linalg.solve(C, y[~np.isnan(y)] - X @ tiny.mean)
    np.testing.assert_allclose([t[i, k] for t in theta], expected, rtol=1e-9)


def test_weighted_hdi_equals_brute_force_on_repeated_draws():
    """Integer weights are repeated draws: the HDI is the narrowest window of ceil(0.9 n)."""
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, size=(500, 3))
    w = rng.integers(1, 4, size=x.shape).astype(float)
    mean, lower, upper = _fit._weighted_summary(x, w, 0.9)
    for j in range(3):
        rep = np.sort(np.repeat(x[:, j], w[:, j].astype(int)))
        k = int(np.ceil(0.9 * len(rep)))
        widths = rep[k - 1 :] - rep[: len(rep) - k + 1]
        best = np.argmin(widths)
        assert (lower[j], upper[j]) == (rep[best], rep[best + k - 1])
        assert mean[j] == pytest.approx(rep.mean())


def test_breakthrough_cutoff_is_reliable_change_by_hand(bayes_hierarchical):
    """Jacobson & Truax (1991): z * sqrt(2) * SD * sqrt(1 - r) with z = 1.959964 (the 97.5%
    normal quantile, "1.96"); BDI-II SD 12.75, r .92: the criterion every method shares."""
    s = bayes_hierarchical[0].settings
    assert s["breakthrough"] == pytest.approx(1.959964 * 2**0.5 * 12.75 * 0.08**0.5)
    assert s["breakthrough"] == pytest.approx(9.996, abs=1e-3)
    assert s["breakthrough_source"] == "norms"
    assert s["reliable_change_points"] == s["breakthrough"]


# --- recovery on simulated truth ----------------------------------------------------------
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


def test_mixture_beats_no_change_by_loo(bayes_hierarchical, bayes_no_change):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)  # Pareto k with 10 clients
        table = bayes.compare({"change": bayes_hierarchical[0], "no change": bayes_no_change})
    assert table["model"].tolist()[0] == "change"
    assert table.loc[1, "elpd_diff"] > 2 * table.loc[1, "dse"]


def test_mean_shift_finds_the_large_gains(bayes_data, bayes_mean_shift):
    _, truth = bayes_data
    t = bayes_mean_shift.table.set_index("client")
    gains = truth.loc[truth["kind"] == "gain", "client"]
    assert (t.loc[gains, "p_change"] > 0.75).all()
    assert (t.loc[t.index.difference(gains), "p_change"] < 0.25).all()
    assert t[["pre_slope_mean", "post_slope_mean"]].isna().all().all()


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
                "baseline_mean",
                "pre_slope_mean",
                "post_slope_mean",
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
    assert list(bayes_hierarchical[0].trajectory(1).columns) == [
        "session",
        "score",
        "mean",
        "lower",
        "upper",
    ]


def test_no_change_model_reports_zero(bayes_no_change):
    t = bayes_no_change.table
    assert (t["p_change"] == 0).all() and (t["p_breakthrough"] == 0).all()
    assert t["jump_mean"].isna().all() and bayes_no_change.change_posterior.empty


def test_client_with_three_scores_is_skipped_with_reason(bayes_hierarchical):
    r = bayes_hierarchical[0]
    assert r.skipped["client"].tolist() == [99]
    assert "3 observed score(s)" in r.skipped["reason"].iloc[0]
    assert 99 not in set(r.table["client"])


def test_idata_groups_and_population(bayes_hierarchical):
    r = bayes_hierarchical[0]
    post = r.idata["posterior"]
    for name in (
        "baseline",
        "pre_slope",
        "jump",
        "post_slope",
        "change",
        "change_session",
        "p_change",
        "jump_mu",
        "sigma",
    ):
        assert name in post
    assert r.idata["log_likelihood"]["score"].shape == (2, 200, 10)
    assert {"jump_mu", "jump_sd", "p_change", "n_changes", "n_breakthroughs"} <= set(
        r.population["parameter"]
    )
    # Six large gains simulated: the population's share changing should cover 0.6.
    row = r.population.set_index("parameter").loc["p_change"]
    assert row["lower"] < 0.6 < row["upper"]


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
        msgs = _fit._diagnostic_warnings(dg, 3, {"tune": 500, "draws": 500})
    assert len(msgs) == 3 == len(record)
    assert "jump_sd (R-hat 1.050)" in msgs[0] and "tune=1000" in msgs[0]
    assert "jump_sd (ESS 120)" in msgs[1] and "jump (" not in msgs[1]
    assert "3 divergent" in msgs[2] and "target_accept" in msgs[2]


def test_settings_record_arguments_and_cutoff(bayes_hierarchical):
    s = bayes_hierarchical[0].settings
    assert s["model"] == "hierarchical" and s["change"] == "mixture" and s["seed"] == 7
    assert s["client"] == "client" and s["instrument"] == "BDI-II" and s["level"] == 0.9


def test_input_not_mutated_and_same_seed_same_result(bayes_data, bayes_mean_shift):
    df = bayes_data[0].query("client <= 4")
    before = df.copy()
    kw = dict(
        model="mean_shift",
        seed=7,
        **ROLES,
        chains=1,
        tune=100,
        draws=100,
        progress=False,
        sampler="pymc",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        a = bayes.fit(df, **kw)
        b = bayes.fit(df, **kw)
    pd.testing.assert_frame_equal(df, before)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_covariates_enter_as_centred_contrasts(bayes_data):
    df = bayes_data[0]
    m = bayes.build_model(df, **ROLES, covariates=["arm"])
    assert m.coords["covariate"] == ("arm=usual",)
    assert {"beta_jump_std", "beta_baseline_std"} <= {v.name for v in m.free_RVs}


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


def test_nutpie_sampler_agrees_with_pymc(bayes_data, bayes_mean_shift):
    pytest.importorskip("nutpie")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        r = bayes.fit(
            bayes_data[0],
            **ROLES,
            model="mean_shift",
            sampler="nutpie",
            chains=2,
            tune=200,
            draws=200,
            seed=7,
            progress=False,
        )
    assert r.settings["sampler_used"] == "nutpie"
    np.testing.assert_allclose(r.table["p_change"], bayes_mean_shift.table["p_change"], atol=0.1)
    assert "sigma" in set(r.diagnostics["parameter"])
    assert not r.diagnostics["parameter"].str.endswith("__").any()  # no transformed copies


# --- plots --------------------------------------------------------------------------------
def test_plots_honour_ax_and_draw_the_parts(bayes_hierarchical):
    import matplotlib.pyplot as plt

    from toolkit.plots.bayes import bayes_trajectory, breakthrough_probabilities

    r = bayes_hierarchical[0]
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
    with pytest.raises(ValueError, match=r"'model' parameter must be one of .*'trends'"):
        bayes.build_model(df, **ROLES, model="trends")
    with pytest.raises(ValueError, match="need model='hierarchical'"):
        bayes.build_model(df, **ROLES, model="trend", covariates=["arm"])
    with pytest.raises(MissingColumnError, match="'group' is not in the data"):
        bayes.build_model(df, **ROLES, covariates=["group"])
    with pytest.raises(DataError, match="changes within client"):
        bayes.build_model(df, **ROLES, covariates=["true_score"])
    with pytest.raises(ValueError, match="better='lower'"):
        bayes.build_model(df, client="client", session="session", score="score")
    with pytest.raises(ValueError, match="contradicts the instrument"):
        bayes.build_model(df, **ROLES, better="higher")
    from toolkit.bayes._fit import _breakthrough_cutoff

    plain = long_scores(df, client="client", session="session", score="score", better="lower")
    with pytest.warns(ToolkitWarning, match=r"P\(breakthrough\) not computed"):
        assert np.isnan(_breakthrough_cutoff(plain, None, "mixture")[0])
    with pytest.raises(ValueError, match="'breakthrough' parameter of bayes.fit must be a"):
        bayes.fit(df, **ROLES, breakthrough=-1)
    with pytest.raises(ValueError, match="'sampler' parameter"):
        bayes.fit(df, **ROLES, sampler="stan")


def test_compare_rejects_mismatched_fits(bayes_hierarchical, bayes_data):
    with pytest.raises(ValueError, match="at least two"):
        bayes.compare({"a": bayes_hierarchical[0]})
    r = bayes_hierarchical[0]
    other = _fit.BayesResult(table=r.table.iloc[:3], settings=r.settings, idata=r.idata)
    with pytest.raises(ValueError, match="other clients"):
        bayes.compare({"a": r, "b": other})
    with pytest.raises(ValueError, match="not analysed.*skipped"):
        r.trajectory(99)
