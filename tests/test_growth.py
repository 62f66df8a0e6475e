"""Growth models: published fits (lme4, HSAUR), an independent GLS, statsmodels, simulated truth."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import growth
from toolkit.errors import DataError, MissingColumnError, ToolkitWarning
from toolkit.growth import _engines, _fastpath
from toolkit.plots.growth import caterpillar, fitted_trajectories
from toolkit.simulate import trajectories

SLEEP = dict(client="subject", session="days", score="reaction")
BTHEB = dict(client="subject", session="time", score="bdi")
BTHEB_FORMULA = "bdi ~ bdi_pre + time + treatment + drug + length"


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


def simulate(
    n,
    s,
    *,
    seed,
    missing=0.0,
    cov=((16.0, -1.0), (-1.0, 0.5)),
    sigma=3.0,
    beta=(20.0, -1.0, 2.0, -0.3, 1.5),
    return_effects=False,
):
    """Gaussian growth data with known truth: arm, baseline covariate, random intercept+slope.

    score = b0 + b2*arm + b4*base + (b1 + b3*arm + u1) * session + u0 + e, session 0..s-1,
    arm = 1 for "cbt". With ``return_effects`` also the true (u0, u1), one row per client.
    """
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    base = rng.normal(0, 1, n)
    u = rng.multivariate_normal([0, 0], cov, size=n)
    t = np.arange(s, dtype=float)
    mu = (
        beta[0]
        + beta[2] * arm[:, None]
        + beta[4] * base[:, None]
        + u[:, [0]]
        + (beta[1] + beta[3] * arm[:, None] + u[:, [1]]) * t
    )
    y = mu + rng.normal(0, sigma, (n, s))
    gone = rng.random((n, s)) < missing
    gone[:, 0] = False
    y[gone] = np.nan
    df = pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n + 1), s),
            "session": np.tile(np.arange(s), n),
            "score": y.ravel(),
            "arm": np.repeat(np.where(arm == 1, "cbt", "tau"), s),
            "base": np.repeat(base, s),
        }
    )
    return (df, u) if return_effects else df


def simulate_issue(n, s=10, seed=1):
    """The issue's random intercept + slope model: Var 25 and 1, covariance -1, residual SD 3."""
    rng = np.random.default_rng(seed)
    t = np.arange(s, dtype=float)
    b = rng.standard_normal((n, 2)) @ np.linalg.cholesky(np.array([[25.0, -1.0], [-1.0, 1.0]])).T
    y = 30 + b[:, [0]] + (-1.5 + b[:, [1]]) * t + rng.normal(0, 3, (n, s))
    return pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n + 1), s),
            "session": np.tile(np.arange(s), n),
            "score": y.ravel(),
        }
    )


ROLES = dict(client="client", session="session", score="score")


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        return growth.fit(*args, **kwargs)


@pytest.fixture(scope="module")
def sleep_fit():
    return growth.fit(
        toolkit.datasets.load("sleepstudy"), "reaction ~ time", random="slope", **SLEEP
    )


@pytest.fixture(scope="module")
def btheb_ml():
    bt = toolkit.datasets.load("btheb")
    return (
        growth.fit(bt, BTHEB_FORMULA, random="intercept", method="ml", **BTHEB),
        growth.fit(bt, BTHEB_FORMULA, random="slope", method="ml", **BTHEB),
    )


# --- Published results ----------------------------------------------------------------------
def test_sleepstudy_reml_matches_lme4(sleep_fit):
    # Bates, Maechler, Bolker & Walker (2015), J. Stat. Softw. 67(1), the fm1 fit
    # Reaction ~ Days + (Days | Subject), REML: fixed 251.405 (SE 6.825) and 10.467 (1.546);
    # SDs 24.74 and 5.92, correlation 0.07; residual SD 25.59.
    est = sleep_fit.table.set_index("term")
    assert sig3(est.loc["Intercept", "estimate"]) == 251.0
    assert round(est.loc["Intercept", "estimate"], 3) == 251.405
    assert round(est.loc["time", "estimate"], 3) == 10.467
    assert round(est.loc["Intercept", "se"], 3) == 6.825
    assert round(est.loc["time", "se"], 3) == 1.546
    vc = sleep_fit.variance_components.set_index("component")
    assert sig3(vc.loc["intercept", "sd"]) == 24.7 and round(vc.loc["intercept", "sd"], 2) == 24.74
    assert sig3(vc.loc["time", "sd"]) == 5.92
    assert round(vc.loc["intercept:time", "corr"], 2) == 0.07
    assert sig3(vc.loc["residual", "sd"]) == 25.6 and round(vc.loc["residual", "sd"], 2) == 25.59
    assert round(-2 * sleep_fit.loglik, 1) == 1743.6  # REML criterion at convergence
    assert sleep_fit.converged and not sleep_fit.singular and sleep_fit.engine == "fast"


def test_sleepstudy_statsmodels_engine_and_custom_random_formula_agree(sleep_fit):
    sleep = toolkit.datasets.load("sleepstudy")
    sm = growth.fit(sleep, "reaction ~ time", engine="statsmodels", progress=False, **SLEEP)
    custom = growth.fit(sleep, "reaction ~ time", random="~ time", progress=False, **SLEEP)
    assert sm.engine == custom.engine == "statsmodels" and sm.sm_result is not None
    assert sleep_fit.sm_result is None
    for other in (sm, custom):
        np.testing.assert_allclose(other.table["estimate"], sleep_fit.table["estimate"], rtol=1e-5)
        np.testing.assert_allclose(
            other.variance_components["variance"],
            sleep_fit.variance_components["variance"],
            rtol=5e-4,
        )
        assert other.converged
    # BLUPs: lme4's ranef() of this fit, as widely printed (e.g. in lme4 tutorials):
    # 308 (2.2585654, 9.1989719), 309 (-40.3985770, -8.6197032), 335 (-0.3336959, -10.7521591).
    re = sleep_fit.random_effects.set_index(["client", "effect"])["estimate"]
    lme4 = {
        (308, "intercept"): 2.2585654,
        (308, "time"): 9.1989719,
        (309, "intercept"): -40.3985770,
        (309, "time"): -8.6197032,
        (335, "intercept"): -0.3336959,
        (335, "time"): -10.7521591,
    }
    for key, value in lme4.items():
        assert sig3(re[key]) == sig3(value), key
    np.testing.assert_allclose(
        custom.random_effects["estimate"],
        sleep_fit.random_effects["estimate"],
        rtol=1e-3,
        atol=1e-3,
    )


def test_btheb_ml_matches_hsaur_table(btheb_ml):
    # Everitt & Hothorn, A Handbook of Statistical Analyses Using R (2nd ed.), chapter
    # "Analysing Longitudinal Data I", BtheB_lmer1: lmer(bdi ~ bdi.pre + time + treatment +
    # drug + length + (1 | subject), REML = FALSE). Output stored with the package:
    # cran/HSAUR2, tests/Ch_analysing_longitudinal_dataI.Rout.save.
    m1, m2 = btheb_ml
    published = pd.DataFrame(
        {
            "estimate": [5.59244, 0.63967, -0.70477, -2.32912, -2.82497, 0.19712],
            "se": [2.24232, 0.07789, 0.14639, 1.67026, 1.72674, 1.63823],
        },
        index=[
            "Intercept",
            "bdi_pre",
            "time",
            "treatment[T.BtheB]",
            "drug[T.Yes]",
            "length[T.>6m]",
        ],
    )
    ours = m1.table.set_index("term").loc[published.index]
    for col in ("estimate", "se"):
        assert [sig3(v) for v in ours[col]] == [sig3(v) for v in published[col]], col
    vc = m1.variance_components.set_index("component")
    assert sig3(vc.loc["intercept", "variance"]) == sig3(48.777)
    assert sig3(vc.loc["residual", "variance"]) == sig3(25.140)
    assert round(vc.loc["intercept", "sd"], 3) == 6.984
    assert round(vc.loc["residual", "sd"], 3) == 5.014
    assert m1.n_obs == 280 and m1.n_clients == 97
    assert list(m1.skipped["client"]) == [91, 97, 100]  # no follow-up score at all
    assert m1.icc == pytest.approx(48.777 / (48.777 + 25.140), abs=1e-3)
    # anova(BtheB_lmer1, BtheB_lmer2): AIC 1887.49 / 1891.04, BIC 1916.57 / 1927.39,
    # logLik -935.75 / -935.52, Chisq 0.4542 on 2 df, p 0.7969.
    cmp = growth.compare(m1, m2)
    assert [round(v, 2) for v in cmp["aic"]] == [1887.49, 1891.04]
    assert [round(v, 2) for v in cmp["bic"]] == [1916.57, 1927.39]
    assert [round(v, 2) for v in cmp["loglik"]] == [-935.75, -935.52]
    assert round(cmp.loc[1, "chisq"], 4) == 0.4542 and cmp.loc[1, "df"] == 2
    assert round(cmp.loc[1, "p_value"], 4) == 0.7969
    assert not cmp["refit_ml"].any()


def test_btheb_reml_equals_closed_form_gls_at_its_variance_components():
    # Independent computation: with the variance components fixed at the fit's values,
    # beta = (X'V^-1 X)^-1 X'V^-1 y with V_i = s2_b J + s2_e I built client by client, and
    # Cov(beta) = (X'V^-1 X)^-1 (Laird & Ware, 1982).
    bt = toolkit.datasets.load("btheb")
    m = growth.fit(bt, BTHEB_FORMULA, random="intercept", **BTHEB)
    vc = m.variance_components.set_index("component")["variance"]
    d = bt.dropna(subset=["bdi"])
    x = np.column_stack(
        [
            np.ones(len(d)),
            d["bdi_pre"],
            d["time"],
            (d["treatment"] == "BtheB"),
            (d["drug"] == "Yes"),
            (d["length"] == ">6m"),
        ]
    ).astype(float)
    xtvx = np.zeros((6, 6))
    xtvy = np.zeros(6)
    for _, rows in d.groupby("subject").groups.items():
        idx = d.index.get_indexer(rows)
        k = len(idx)
        v_inv = np.linalg.inv(vc["intercept"] * np.ones((k, k)) + vc["residual"] * np.eye(k))
        xtvx += x[idx].T @ v_inv @ x[idx]
        xtvy += x[idx].T @ v_inv @ d["bdi"].to_numpy()[idx]
    beta = np.linalg.solve(xtvx, xtvy)
    np.testing.assert_allclose(m.table["estimate"], beta, rtol=1e-9)
    np.testing.assert_allclose(m.table["se"], np.sqrt(np.diag(np.linalg.inv(xtvx))), rtol=1e-9)


# --- Fast path against statsmodels ---------------------------------------------------------
@pytest.mark.parametrize("missing", [0.0, 0.25])
@pytest.mark.parametrize("random", ["intercept", "slope"])
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_fast_path_equals_statsmodels_optimum(missing, random, method):
    from statsmodels.regression.mixed_linear_model import MixedLM

    for seed in range(3):
        df = simulate(120, 8, seed=seed, missing=missing)
        m = growth.fit(
            df, "score ~ time * arm + base", random=random, method=method, engine="fast", **ROLES
        )
        d = df.dropna(subset=["score"])
        x = np.column_stack(
            [
                np.ones(len(d)),
                d["session"],
                d["arm"] == "tau",
                d["base"],
                d["session"] * (d["arm"] == "tau"),
            ]
        ).astype(float)
        z = x[:, :1] if random == "intercept" else x[:, :2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = MixedLM(d["score"].to_numpy(), x, groups=d["client"].to_numpy(), exog_re=z).fit(
                reml=method == "reml", method="lbfgs"
            )
        cov = np.asarray(r.cov_re)
        theirs = np.r_[r.fe_params, np.diag(cov), cov[0, 1:], r.scale]
        ours = np.r_[m.table["estimate"], m.variance_components["variance"]]
        # 4 significant digits (the covariance may be near 0: judged on its scale).
        scale = np.r_[np.abs(theirs[:-1]), abs(theirs[-1])]
        if random == "slope":
            scale[-2] = max(scale[-2], np.sqrt(cov[0, 0] * cov[1, 1]))
        assert np.max(np.abs(ours - theirs) / scale) < 5e-4, (seed, ours, theirs)
        assert m.loglik >= r.llf - 1e-6  # never a worse optimum than statsmodels'
        assert m.converged


# --- Recovery on simulated truth -------------------------------------------------------------
def test_recovers_fixed_effects_and_variance_components():
    df, u = simulate(4000, 8, seed=11, missing=0.2, return_effects=True)
    m = growth.fit(df, "score ~ time * arm + base", **ROLES)
    # Reference level of arm is "cbt" (alphabetical): the "tau" contrasts flip sign.
    truth = {
        "Intercept": 22.0,
        "time": -1.3,
        "arm[T.tau]": -2.0,
        "base": 1.5,
        "time:arm[T.tau]": 0.3,
    }
    est = m.table.set_index("term")
    for term, value in truth.items():
        assert abs(est.loc[term, "estimate"] - value) < 4 * est.loc[term, "se"], term
    vc = m.variance_components.set_index("component")
    assert vc.loc["intercept", "variance"] == pytest.approx(16.0, rel=0.1)
    assert vc.loc["time", "variance"] == pytest.approx(0.5, rel=0.15)  # about 4 SEs
    assert vc.loc["intercept:time", "variance"] == pytest.approx(-1.0, abs=0.2)
    assert vc.loc["residual", "sd"] == pytest.approx(3.0, rel=0.03)
    assert m.icc == pytest.approx(16 / 25, abs=0.05)
    # BLUPs track the true random effects; shrinkage makes them less variable than the truth.
    re = m.random_effects.pivot(index="client", columns="effect", values="estimate")
    assert np.corrcoef(re["intercept"], u[:, 0])[0, 1] > 0.85  # about 0.9 expected
    assert np.corrcoef(re["time"], u[:, 1])[0, 1] > 0.7
    assert re["time"].var() < np.var(u[:, 1])


def test_confidence_intervals_cover_the_true_slope():
    hits = []
    for seed in range(100):
        df = simulate(60, 6, seed=1000 + seed, beta=(20.0, -1.0, 2.0, 0.0, 1.5))
        m = quiet_fit(df, "score ~ time", **ROLES)
        row = m.table.set_index("term").loc["time"]
        hits.append(row["ci_lower"] <= -1.0 <= row["ci_upper"])  # the true average slope
    assert 0.88 <= np.mean(hits) <= 0.995


def test_time_codings_log_quadratic_and_time_zero():
    rng = np.random.default_rng(5)
    n, s = 400, 10
    sess = np.arange(1, s + 1)
    u = rng.normal(0, 2, (n, 1))
    y_log = 30 + u - 4 * np.log(sess) + rng.normal(0, 1, (n, s))
    y_quad = 30 + u - 2 * sess + 0.1 * sess**2 + rng.normal(0, 1, (n, s))
    df = pd.DataFrame(
        {
            "client": np.repeat(np.arange(n), s),
            "session": np.tile(sess, n),
            "log_y": y_log.ravel(),
            "quad_y": y_quad.ravel(),
        }
    )
    m = growth.fit(
        df,
        "score ~ time",
        time="log",
        random="intercept",
        client="client",
        session="session",
        score="log_y",
    )
    assert m.table.set_index("term").loc["time", "estimate"] == pytest.approx(-4, abs=0.1)
    q = growth.fit(
        df,
        "quad_y ~ time",
        time="quadratic",
        random="intercept",
        client="client",
        session="session",
        score="quad_y",
    )
    est = q.table.set_index("term")["estimate"]
    assert list(est.index) == ["Intercept", "time", "time_sq"]
    assert est["time"] == pytest.approx(-2, abs=0.05)
    assert est["time_sq"] == pytest.approx(0.1, abs=0.005)
    # Moving time zero moves the intercept along the line and leaves the slope alone.
    lin0 = growth.fit(
        df, "quad_y ~ time", random="intercept", client="client", session="session", score="quad_y"
    )
    lin5 = growth.fit(
        df,
        "quad_y ~ time",
        random="intercept",
        time_zero=5,
        client="client",
        session="session",
        score="quad_y",
    )
    e0, e5 = (x.table.set_index("term")["estimate"] for x in (lin0, lin5))
    assert e5["time"] == pytest.approx(e0["time"], rel=1e-8)
    assert e5["Intercept"] == pytest.approx(e0["Intercept"] + 5 * e0["time"], rel=1e-8)
    # Interactions with time get their quadratic copies.
    df["arm"] = np.repeat(rng.integers(0, 2, n), s)
    qa = growth.fit(
        df,
        "quad_y ~ time * arm",
        time="quadratic",
        random="intercept",
        client="client",
        session="session",
        score="quad_y",
    )
    assert set(qa.table["term"]) == {
        "Intercept",
        "time",
        "arm",
        "time_sq",
        "time:arm",
        "time_sq:arm",
    }


def test_log_time_needs_sessions_after_time_zero():
    with pytest.raises(DataError, match=r"time_zero=-1"):
        growth.fit(toolkit.datasets.load("sleepstudy"), time="log", **SLEEP)


def test_piecewise_growth_recovers_the_change_in_slope_at_a_knot():
    rng = np.random.default_rng(8)
    n, s = 300, 12
    sess = np.arange(1, s + 1)
    y = (
        25
        + rng.normal(0, 3, (n, 1))
        - 1.0 * sess
        + 0.8 * np.maximum(sess - 6, 0)
        + rng.normal(0, 1.5, (n, s))
    )
    df = pd.DataFrame(
        {"client": np.repeat(np.arange(n), s), "session": np.tile(sess, n), "score": y.ravel()}
    )
    m = growth.fit(df, knots=[6], random="intercept", **ROLES)
    est = m.table.set_index("term")
    assert list(est.index) == ["Intercept", "time", "time_after_6"]
    assert abs(est.loc["time_after_6", "estimate"] - 0.8) < 4 * est.loc["time_after_6", "se"]
    assert abs(est.loc["time", "estimate"] + 1.0) < 4 * est.loc["time", "se"]


# --- Discontinuous growth around each client's own breakthrough -----------------------------
def test_discontinuous_model_recovers_the_jump_at_each_clients_own_gain():
    # Baseline well above the floor, so that no step is clipped at 0.
    scores, truth = trajectories(
        500,
        12,
        instrument="BDI-II",
        gain_share=0.5,
        baseline=40,
        baseline_sd=6,
        nonresponder_share=0.0,
        round_scores=False,
        seed=21,
    )
    gains = truth[truth["kind"] == "gain"]
    assert gains["session"].nunique() > 3  # breakthroughs at clients' own, different sessions
    m = growth.fit(scores, breakthroughs=gains, **ROLES)
    est = m.table.set_index("term")
    jump = est.loc["post_breakthrough"]
    # BDI-II: lower is better, so a gain of size g is a drop of g points.
    expected = -gains["magnitude"].mean()
    assert abs(jump["estimate"] - expected) < 3 * jump["se"]
    assert abs(jump["estimate"] - expected) < 0.05 * abs(expected)
    slope_change = est.loc["time_since_breakthrough"]  # no change of slope was simulated
    assert abs(slope_change["estimate"]) < 3 * slope_change["se"]
    assert m.n_clients == 500  # clients without a gain stay in the model
    assert m.settings["n_breakthrough_clients"] == len(gains)
    # Without the breakthrough terms, the gains are smeared into the slope.
    plain = growth.fit(scores, **ROLES)
    assert plain.loglik < m.loglik - 100


def test_breakthrough_predictors_from_a_sudden_gains_style_table():
    # Noise-free trajectories except a little noise: the coefficients are recovered exactly,
    # which pins the predictors (1 from the breakthrough session on; sessions since it).
    rng = np.random.default_rng(2)
    n, s = 60, 8
    sess = np.arange(1, s + 1)
    at = rng.integers(3, 7, n).astype(float)
    at[::3] = np.nan  # a third without a breakthrough
    post = np.where(sess[None, :] >= at[:, None], 1.0, 0.0)
    since = np.where(np.isnan(at)[:, None], 0.0, np.maximum(sess[None, :] - at[:, None], 0))
    y = (
        20
        + rng.normal(0, 2, (n, 1))
        - 0.5 * sess
        - 6 * post
        - 0.7 * since
        + rng.normal(0, 0.01, (n, s))
    )
    df = pd.DataFrame(
        {"client": np.repeat(np.arange(n), s), "session": np.tile(sess, n), "score": y.ravel()}
    )
    table = pd.DataFrame({"client": np.arange(n), "gain_session": at})  # NaN: no gain
    with pytest.raises(toolkit.errors.MissingColumnError, match="no session column 'session'"):
        growth.fit(df, breakthroughs=table, random="intercept", **ROLES)  # no guessing
    m = growth.fit(
        df, breakthroughs=table, breakthrough_session="gain_session", random="intercept", **ROLES
    )
    est = m.table.set_index("term")["estimate"]
    np.testing.assert_allclose(
        est[["time", "post_breakthrough", "time_since_breakthrough"]], [-0.5, -6.0, -0.7], atol=0.01
    )
    assert m.settings["n_breakthrough_clients"] == int(np.sum(~np.isnan(at)))
    # Several breakthroughs per client: the first counts, and the user is told.
    extra = pd.DataFrame({"client": [1, 2], "gain_session": [7.0, 8.0]})
    with pytest.warns(ToolkitWarning, match="more than one breakthrough"):
        m2 = growth.fit(
            df,
            breakthroughs=pd.concat([table, extra]),
            random="intercept",
            breakthrough_session="gain_session",
            **ROLES,
        )
    np.testing.assert_allclose(m2.table["estimate"], m.table["estimate"], rtol=1e-10)
    # Clients unknown to the scores are ignored, with a warning.
    with pytest.warns(ToolkitWarning, match="not in the scores"):
        growth.fit(
            df,
            breakthroughs=pd.concat(
                [table, pd.DataFrame({"client": [999], "gain_session": [4.0]})]
            ),
            random="intercept",
            breakthrough_session="gain_session",
            **ROLES,
        )


def test_sudden_gains_result_as_breakthrough_table():
    from toolkit import sudden_gains

    scores = toolkit.datasets.load_scores("sgdata")
    sg = sudden_gains.identify(scores)
    with pytest.warns(ToolkitWarning) as caught:
        m = growth.fit(scores, breakthroughs=sg)  # the result itself, or sg.table
    messages = [str(w.message) for w in caught]
    assert any("more than one breakthrough" in m for m in messages)
    assert any("could not be examined for breakthroughs" in m for m in messages)
    assert all(w.filename == __file__ for w in caught)  # they point at the caller's line
    assert m.settings["breakthrough_session"] == "session"  # of sg.breakthroughs()
    assert m.settings["n_breakthrough_clients"] == sg.table["client"].nunique()
    assert m.breakthroughs()["client"].tolist() == sorted(sg.table["client"].unique())
    assert m.n_clients == scores.n_clients  # clients without a gain stay in
    jump = m.table.set_index("term").loc["post_breakthrough"]
    assert jump["ci_upper"] < 0  # BDI-II drops at the gain, beyond gradual change


def test_formula_transforms_and_contrasts():
    df = simulate(200, 6, seed=9)
    a = growth.fit(df, "score ~ time * arm + base", random="intercept", **ROLES)
    b = growth.fit(
        df,
        "score ~ time * C(arm, contr.treatment('tau')) + center(base)",
        random="intercept",
        **ROLES,
    )
    ea, eb = (m.table.set_index("term")["estimate"] for m in (a, b))
    assert eb.filter(like="C(arm").iloc[0] == pytest.approx(-ea["arm[T.tau]"], rel=1e-8)
    assert eb["center(base)"] == pytest.approx(ea["base"], rel=1e-8)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)


def test_breakthrough_table_errors():
    df = simulate(30, 6, seed=1)
    with pytest.raises(MissingColumnError, match="breakthrough_session"):
        growth.fit(df, breakthroughs=pd.DataFrame({"client": [1], "when": [3]}), **ROLES)
    with pytest.raises(MissingColumnError, match="breakthrough_client"):
        growth.fit(df, breakthroughs=pd.DataFrame({"id": [1], "session": [3]}), **ROLES)
    with pytest.raises(TypeError, match="breakthroughs must be a DataFrame"):
        growth.fit(df, breakthroughs=[(1, 3)], **ROLES)
    # A breakthrough after every client's last session: the jump cannot be estimated.
    with pytest.raises(DataError, match="post_breakthrough"):
        growth.fit(df, breakthroughs=pd.DataFrame({"client": [1, 2], "session": [99, 99]}), **ROLES)


# --- Honest optimum --------------------------------------------------------------------------
def test_honest_optimum_on_5000_clients_x_10_sessions():
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

    df = simulate_issue(5000)
    fast = growth.fit(df, **ROLES)
    log = fast.optimizer_log
    assert fast.converged and log["reached_best"].sum() >= 2
    assert list(log["optimizer"][:2]) == ["trust-exact", "BFGS"]
    assert log.loc[log["chosen"], "max_gradient"].iloc[0] < 0.05
    # statsmodels engine: lbfgs from its default start, then from the exact optimum.
    sm = growth.fit(df, engine="statsmodels", progress=False, **ROLES)
    assert sm.converged and sm.loglik == pytest.approx(fast.loglik, abs=1e-3)
    np.testing.assert_allclose(
        sm.variance_components["variance"], fast.variance_components["variance"], rtol=5e-4
    )
    # No better log-likelihood elsewhere: statsmodels' own likelihood at the toolkit's
    # estimates is at least that of its own optimum.
    model = sm.sm_result.model
    vc = fast.variance_components.set_index("component")["variance"]
    cov_re = np.array([[vc["intercept"], vc["intercept:time"]], [vc["intercept:time"], vc["time"]]])
    params = MixedLMParams.from_components(
        fe_params=fast.table["estimate"].to_numpy(), cov_re=cov_re / vc["residual"]
    )
    assert isinstance(model, MixedLM)
    assert model.loglike(params, profile_fe=True) >= sm.sm_result.llf - 1e-6
    # And the truth is recovered.
    assert vc["intercept"] == pytest.approx(25, rel=0.05)
    assert vc["time"] == pytest.approx(1, rel=0.05)
    assert np.sqrt(vc["residual"]) == pytest.approx(3, rel=0.01)


def test_a_worse_optimum_claiming_convergence_is_never_returned(monkeypatch):
    from statsmodels.regression.mixed_linear_model import MixedLM

    df = simulate_issue(500)
    best = growth.fit(df, **ROLES).loglik
    # The trap the issue describes: statsmodels' default fit() (bfgs, then lbfgs from where
    # bfgs stopped) claims convergence about 88 log-likelihood units below the optimum.
    x = np.column_stack([np.ones(len(df)), df["session"].to_numpy(float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trapped = MixedLM(
            df["score"].to_numpy(), x, groups=df["client"].to_numpy(), exog_re=x
        ).fit()
    assert trapped.converged and trapped.llf < best - 50
    # Put bfgs first in the toolkit's order to walk into the trap on purpose.
    monkeypatch.setattr(_engines, "SM_OPTIMIZERS", ("bfgs", "lbfgs", "cg", "powell", "nm"))
    with pytest.warns(ToolkitWarning, match="below the best one found"):
        m = growth.fit(df, engine="statsmodels", progress=False, **ROLES)
    log = m.optimizer_log
    first = log.iloc[0]
    assert first["optimizer"] == "bfgs" and first["start"] == "default"
    assert first["loglik"] < best - 50
    assert not first["chosen"] and not first["reached_best"]
    assert m.loglik == pytest.approx(best, abs=1e-3) and m.converged
    assert log["reached_best"].sum() >= 2


def test_unverified_optimum_is_marked_not_converged(monkeypatch):
    real = _fastpath.optimise

    def stops_early(blocks, reml):
        theta, log = real(blocks, reml)
        bad = theta * 1.5
        return bad, [dict(log[0], theta=bad, deviance=_fastpath.deviance(bad, blocks, reml))]

    monkeypatch.setattr(_fastpath, "optimise", stops_early)
    with pytest.warns(ToolkitWarning, match="may not be at the optimum"):
        m = growth.fit(toolkit.datasets.load("sleepstudy"), **SLEEP)
    assert not m.converged
    assert "NOT converged" in repr(m)


def test_singular_fit_is_reported_in_plain_words():
    rng = np.random.default_rng(3)
    n, s = 200, 6
    y = 10 + rng.normal(0, 2, (n, 1)) + 0.5 * np.arange(s) + rng.normal(0, 1, (n, s))
    df = pd.DataFrame(
        {
            "client": np.repeat(np.arange(n), s),
            "session": np.tile(np.arange(s), n),
            "score": y.ravel(),
        }
    )
    with pytest.warns(ToolkitWarning, match=r"Singular \(boundary\) fit.*random='intercept'"):
        m = growth.fit(df, **ROLES)
    assert m.singular and m.converged
    assert any("Singular" in w for w in m.warnings)
    assert m.variance_components.set_index("component").loc["time", "sd"] < 0.05


# --- Model comparison ------------------------------------------------------------------------
def test_compare_refits_by_ml_when_fixed_effects_differ():
    df = simulate(300, 6, seed=4)
    m0 = growth.fit(df, "score ~ time", random="intercept", **ROLES)
    m1 = growth.fit(df, "score ~ time * arm", random="intercept", **ROLES)
    cmp = growth.compare(m0, m1)
    assert list(cmp.columns) == growth.COMPARE_COLUMNS
    assert cmp["refit_ml"].all() and list(cmp["method"]) == ["ml", "ml"]
    ml0 = growth.fit(df, "score ~ time", random="intercept", method="ml", **ROLES)
    ml1 = growth.fit(df, "score ~ time * arm", random="intercept", method="ml", **ROLES)
    assert cmp["loglik"].tolist() == pytest.approx([ml0.loglik, ml1.loglik], rel=1e-9)
    assert cmp.loc[1, "df"] == 2
    assert cmp.loc[1, "chisq"] == pytest.approx(2 * (ml1.loglik - ml0.loglik))
    assert np.isnan(cmp.loc[1, "p_value_boundary"])


def test_compare_random_slope_uses_reml_and_the_boundary_mixture(sleep_fit):
    m0 = growth.fit(
        toolkit.datasets.load("sleepstudy"), "reaction ~ time", random="intercept", **SLEEP
    )
    cmp = growth.compare(m0, sleep_fit)
    assert not cmp["refit_ml"].any() and list(cmp["method"]) == ["reml", "reml"]
    chisq = cmp.loc[1, "chisq"]
    # Stram & Lee (1994): 50:50 mixture of chi2(1) and chi2(2).
    from scipy import stats

    assert cmp.loc[1, "p_value_boundary"] == pytest.approx(
        0.5 * stats.chi2.sf(chisq, 1) + 0.5 * stats.chi2.sf(chisq, 2)
    )
    assert cmp.loc[1, "p_value_boundary"] < cmp.loc[1, "p_value"]


def test_compare_errors(sleep_fit):
    sleep = toolkit.datasets.load("sleepstudy")
    m0 = growth.fit(sleep, "reaction ~ time", random="intercept", **SLEEP)
    with pytest.raises(ValueError, match="nested"):
        growth.compare(sleep_fit, m0)
    with pytest.raises(ValueError, match="nested"):
        growth.compare(sleep_fit, sleep_fit)
    other = growth.fit(sleep[sleep["subject"] != 308], "reaction ~ time", **SLEEP)
    with pytest.raises(ValueError, match="different data"):
        growth.compare(m0, other)
    with pytest.raises(TypeError, match="GrowthResult"):
        growth.compare(m0, "m1")


# --- Contract ---------------------------------------------------------------------------------
def test_exact_columns_of_every_output(sleep_fit):
    assert (
        list(sleep_fit.table.columns)
        == growth.FIXED_COLUMNS
        == ["term", "estimate", "se", "df", "statistic", "ci_lower", "ci_upper", "p_value"]
    )
    assert list(sleep_fit.variance_components.columns) == [
        "group",
        "component",
        "variance",
        "sd",
        "corr",
    ]
    assert list(sleep_fit.random_effects.columns) == ["client", "effect", "estimate", "se"]
    assert list(sleep_fit.fitted.columns) == [
        "client",
        "session",
        "time",
        "score",
        "fitted",
        "fitted_fixed",
        "residual",
    ]
    assert list(sleep_fit.optimizer_log.columns) == [
        "engine",
        "optimizer",
        "start",
        "loglik",
        "max_gradient",
        "optimizer_converged",
        "reached_best",
        "chosen",
        "seconds",
        "message",
    ]
    assert list(sleep_fit.summary().columns) == [
        "part",
        "term",
        "estimate",
        "se",
        "df",
        "ci_lower",
        "ci_upper",
        "p_value",
    ]
    assert (
        list(sleep_fit.therapist_effects.columns)
        == growth.THERAPIST_COLUMNS
        == [
            "therapist",
            "effect",
            "estimate",
            "se",
            "n_clients",
            "n_obs",
        ]
    )
    assert sleep_fit.therapist_effects.empty and sleep_fit.n_therapists == 0
    assert (
        list(sleep_fit.fixed_cov.index)
        == list(sleep_fit.fixed_cov.columns)
        == [
            "Intercept",
            "time",
        ]
    )
    assert list(sleep_fit.skipped.columns) == ["client", "reason"]
    # Same columns whatever the options.
    m = growth.fit(
        toolkit.datasets.load("sleepstudy"),
        random="intercept",
        method="ml",
        engine="statsmodels",
        progress=False,
        **SLEEP,
    )
    for name in (
        "table",
        "variance_components",
        "random_effects",
        "therapist_effects",
        "fitted",
        "optimizer_log",
    ):
        assert list(getattr(m, name).columns) == list(getattr(sleep_fit, name).columns)
    assert len(sleep_fit.random_effects) == 36 and len(sleep_fit.fitted) == 180
    assert sleep_fit.settings["engine_used"] == "fast"
    assert sleep_fit.settings["toolkit_version"] == toolkit.__version__


def test_fitted_values_and_residuals_add_up(sleep_fit):
    f = sleep_fit.fitted
    np.testing.assert_allclose(f["score"] - f["fitted"], f["residual"])
    est = sleep_fit.table["estimate"].to_numpy()
    np.testing.assert_allclose(f["fitted_fixed"], est[0] + est[1] * f["time"])
    re = sleep_fit.random_effects.pivot(index="client", columns="effect", values="estimate")
    one = f[f["client"] == 308]
    np.testing.assert_allclose(
        one["fitted"],
        one["fitted_fixed"] + re.loc[308, "intercept"] + re.loc[308, "time"] * one["time"],
    )


def test_input_not_mutated_and_categorical_levels_kept():
    bt = toolkit.datasets.load("btheb")
    before = bt.copy()
    m = growth.fit(bt, BTHEB_FORMULA, random="intercept", **BTHEB)
    pd.testing.assert_frame_equal(bt, before)
    assert "treatment[T.BtheB]" in set(m.table["term"])  # TAU is the reference, as in HSAUR


def test_missing_covariates_leave_rows_out_with_a_warning():
    df = simulate(50, 6, seed=2)
    df.loc[df["client"] == 3, "base"] = np.nan
    df.loc[(df["client"] == 4) & (df["session"] > 2), "base"] = np.nan
    with pytest.warns(ToolkitWarning, match=r"9 observed score\(s\) of 2 client\(s\).*'base'"):
        m = growth.fit(df, "score ~ time + base", **ROLES)
    assert m.n_obs == 300 - 9
    assert list(m.skipped["client"]) == [3]
    assert m.skipped["reason"].str.contains("complete covariates").all()
    # A model that does not use the covariate keeps every score.
    assert growth.fit(df, "score ~ time", **ROLES).n_obs == 300


def test_longscores_input_and_score_column_name_in_formula():
    scores = toolkit.datasets.load_scores("sgdata")
    a = quiet_fit(scores, "score ~ time", random="intercept")
    b = quiet_fit(
        toolkit.datasets.load("sgdata"),
        "bdi ~ session",
        random="intercept",
        client="id",
        session="session",
        score="bdi",
    )
    np.testing.assert_allclose(a.table["estimate"], b.table["estimate"])
    assert a.scores.score_label == "BDI-II"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(time="cubic"), ValueError, r"'time' parameter of growth.fit must be one of"),
        (dict(random="slopes"), ValueError, r"'random' parameter"),
        (dict(method="REML"), ValueError, r"'method' parameter"),
        (dict(engine="lme4"), ValueError, r"'engine' parameter"),
        (dict(level=95), ValueError, r"'level' parameter of growth.fit must be a number in"),
        (dict(formula="reaction ~ time + (time | subject)"), ValueError, r"Random effects are not"),
        (dict(formula="rt ~ time"), ValueError, r"left-hand side .* must be the score"),
        (dict(formula="reaction time"), ValueError, r"one '~'"),
        (dict(formula="reaction ~ tme"), MissingColumnError, r"'tme'.*Did you mean"),
        (dict(random="~ time", engine="fast"), ValueError, r"engine='statsmodels'"),
        (dict(knots=[9]), ValueError, r"Knot 9 is not inside the sessions \(0 to 9\)"),
        (dict(knots=[3, 3]), ValueError, r"distinct"),
    ],
)
def test_argument_errors_name_the_problem_and_the_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        growth.fit(toolkit.datasets.load("sleepstudy"), **{**SLEEP, **kwargs})


def test_design_errors():
    df = simulate(40, 5, seed=3)
    df["constant"] = 1.0
    with pytest.raises(DataError, match=r"not identifiable: \['constant'\]"):
        growth.fit(df, "score ~ time + constant", **ROLES)
    df["time"] = 1.0  # a data column named like the model's own variable
    with pytest.raises(DataError, match=r"column 'time'.*rename"):
        growth.fit(df, "score ~ time", **ROLES)
    with pytest.raises(ValueError, match="column roles"):
        growth.fit(df)


# --- Plots and report -------------------------------------------------------------------------
def test_plots_honour_ax_and_draw_the_expected_artists(sleep_fit):
    fig, ax = plt.subplots()
    out = fitted_trajectories(sleep_fit, n=4, ax=ax)
    # 4 clients' lines and points, the mean curve and its confidence band.
    assert out is ax and len(ax.lines) == 5 and len(ax.collections) == 5
    assert ax.get_ylabel() == "reaction"
    ax2 = sleep_fit.plot(kind="caterpillar", effect="time", ax=plt.subplots()[1])
    assert len(ax2.collections[1].get_offsets()) == 18
    ax3 = sleep_fit.plot(ax=plt.subplots()[1], clients=[308, 309], mean=False)
    assert len(ax3.lines) == 2
    with pytest.raises(ValueError, match="'effect' parameter of caterpillar"):
        caterpillar(sleep_fit, effect="slope")
    with pytest.raises(ValueError, match="Unknown client"):
        fitted_trajectories(sleep_fit, clients=[1])
    with pytest.raises(ValueError, match="'kind' parameter"):
        sleep_fit.plot(kind="spaghetti")
    plt.close("all")


def test_repr_summary_and_html(sleep_fit):
    text = repr(sleep_fit)
    assert "(1 + time | client)" in text and "REML (fast)" in text and "converged" in text
    summary = sleep_fit.summary()
    assert list(summary["part"].unique()) == ["fixed", "random", "fit"]
    assert summary.set_index("term").loc["corr(intercept, time)", "estimate"] == pytest.approx(
        0.0656, abs=1e-3
    )
    assert "<table" in sleep_fit._repr_html_()
    assert sleep_fit.n_params == 6


def test_validated_scores_and_dataframe_give_the_same_fit():
    # The reference level of a categorical covariate (TAU for Beat the Blues) must survive
    # validation, so both entry points fit the same terms.
    raw = toolkit.datasets.load("btheb")
    roles = toolkit.datasets.roles("btheb")
    formula = "bdi ~ bdi_pre + time + treatment + drug + length"
    from_frame = growth.fit(raw, formula, **roles, random="intercept", method="ml", progress=False)
    from_scores = growth.fit(
        toolkit.long_scores(raw, **roles), formula, random="intercept", method="ml", progress=False
    )
    pd.testing.assert_frame_equal(from_frame.table, from_scores.table)
    assert "treatment[T.BtheB]" in set(from_scores.table["term"])


def test_breakthroughs_from_a_result_use_improvements_only_and_say_so():
    scores = toolkit.datasets.load_scores("sgdata")
    both = toolkit.sudden_gains.identify(scores, min_change=7, kind="both")
    gains = toolkit.sudden_gains.identify(scores, min_change=7)
    assert set(both.breakthroughs(direction="both")["direction"]) == {
        "improvement",
        "deterioration",
    }
    with pytest.warns(ToolkitWarning) as record:
        from_both = growth.fit(scores, breakthroughs=both, progress=False)
    messages = " ".join(str(w.message) for w in record)
    assert "could not be examined for breakthroughs" in messages  # skipped clients
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        from_gains = growth.fit(
            scores, breakthroughs=gains.gains, breakthrough_session="gain_session", progress=False
        )
    pd.testing.assert_frame_equal(from_both.table, from_gains.table)


@pytest.mark.parametrize("engine", ["fast", "statsmodels"])
def test_scores_without_residual_variation_are_an_error_naming_the_column(engine):
    sleep = toolkit.datasets.load("sleepstudy")
    constant = sleep.assign(reaction=250.0)
    # Exactly linear in time for everyone: the fixed effects leave nothing to model either.
    linear = sleep.assign(reaction=200.0 + 10.0 * sleep["days"])
    for data in (constant, linear):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no raw RuntimeWarning on the way
            with pytest.raises(DataError, match="'reaction' have no variation beyond"):
                growth.fit(data, "reaction ~ time", engine=engine, **SLEEP)
    # A tiny but genuine scale still fits (the check is relative to the scores' size), and
    # its t tests are those of the original unit: Satterthwaite df are free of the unit.
    tiny = sleep.assign(reaction=sleep["reaction"] * 1e-12)
    m = growth.fit(sleep, "reaction ~ time", engine=engine, **SLEEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = growth.fit(tiny, "reaction ~ time", engine=engine, **SLEEP)
    np.testing.assert_allclose(small.table["estimate"], m.table["estimate"] * 1e-12, rtol=1e-4)
    np.testing.assert_allclose(small.table["df"], m.table["df"], rtol=1e-4)
    np.testing.assert_allclose(small.table["p_value"], m.table["p_value"], rtol=1e-3)
