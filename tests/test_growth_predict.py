"""Predictions, mean curves and their plots: the fitting data, hand computations, R's vcov."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import toolkit
from toolkit import growth
from toolkit.errors import DataError, MissingColumnError, OptionError, ToolkitWarning

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "growth_lmer.json").read_text(encoding="utf-8")
)["models"]
SLEEP = dict(client="subject", session="days", score="reaction")
BTHEB = dict(client="subject", session="time", score="bdi", instrument="BDI-II")


@pytest.fixture(scope="module")
def sleep_fit():
    return growth.fit(toolkit.datasets.load("sleepstudy"), "reaction ~ time", **SLEEP)


@pytest.fixture(scope="module")
def btheb_fit():
    bt = toolkit.datasets.load("btheb")
    return growth.fit(bt, "bdi ~ bdi_pre + time * treatment", random="intercept", **BTHEB)


def test_predictions_on_the_fitting_data_equal_the_fitted_values(sleep_fit, btheb_fit):
    for m in (sleep_fit, btheb_fit):
        client = m.predict(level="client")
        assert list(client.columns) == growth.PREDICT_COLUMNS
        np.testing.assert_allclose(client["estimate"], m.fitted["fitted"], atol=1e-9)
        np.testing.assert_allclose(m.predict()["estimate"], m.fitted["fitted_fixed"], atol=1e-9)
        assert (client["ci_lower"] < client["estimate"]).all()
        assert (client["estimate"] < client["ci_upper"]).all()
    # The same through new data naming the same rows (the caller's column names).
    bt = toolkit.datasets.load("btheb").dropna(subset=["bdi"])
    again = btheb_fit.predict(bt, level="client")
    np.testing.assert_allclose(
        again["estimate"].to_numpy(),
        btheb_fit.fitted.dropna(subset=["score"])["fitted"].to_numpy(),
        atol=1e-9,
    )
    assert again.index.equals(bt.index)


def test_population_predictions_on_new_data_by_hand_and_with_lme4s_vcov(sleep_fit):
    new = pd.DataFrame({"days": [0, 4.5, 12]}, index=["a", "b", "c"])
    out = sleep_fit.predict(new)
    b = sleep_fit.table.set_index("term")["estimate"]
    x = np.column_stack([np.ones(3), new["days"]])
    np.testing.assert_allclose(out["estimate"], x @ b.to_numpy())
    vcov = pd.DataFrame(REFERENCE["sleepstudy_slope_reml"]["vcov"]).to_numpy(dtype=float)
    se = np.sqrt(np.einsum("ni,ij,nj->n", x, vcov, x))
    np.testing.assert_allclose(out["se"], se, rtol=1e-4)
    # The Satterthwaite df of each contrast (here 17, as every contrast of this design).
    np.testing.assert_allclose(out["df"], 17.0, rtol=1e-4)
    half = stats.t.ppf(0.975, out["df"]) * out["se"]
    np.testing.assert_allclose(out["ci_upper"] - out["estimate"], half)
    assert list(out.index) == ["a", "b", "c"] and out["client"].isna().all()
    # A prediction interval for a new subject's score adds z'Dz + sigma^2.
    pi = sleep_fit.predict(new, interval="prediction", interval_level=0.9)
    vc = sleep_fit.variance_components.set_index("component")["variance"]
    d = np.array([[vc["intercept"], vc["intercept:time"]], [vc["intercept:time"], vc["time"]]])
    var = se**2 + np.einsum("ni,ij,nj->n", x, d, x) + vc["residual"]
    np.testing.assert_allclose(pi["se"], np.sqrt(var), rtol=1e-4)
    np.testing.assert_allclose(
        pi["ci_upper"] - pi["estimate"], stats.t.ppf(0.95, pi["df"]) * pi["se"]
    )


def test_client_predictions_on_new_sessions_equal_hendersons_equations(sleep_fit):
    # Henderson (1975): with C the inverse of the mixed-model equations' matrix, the
    # prediction error variance of x'b + z'u is [x; z]' C [x; z] sigma^2, built densely here.
    sleep = toolkit.datasets.load("sleepstudy")
    subjects = np.sort(sleep["subject"].unique())
    n, q = len(sleep), 2 * len(subjects)
    x = np.column_stack([np.ones(n), sleep["days"]])
    z = np.zeros((n, q))
    k = np.searchsorted(subjects, sleep["subject"])
    z[np.arange(n), 2 * k] = 1.0
    z[np.arange(n), 2 * k + 1] = sleep["days"]
    vc = sleep_fit.variance_components.set_index("component")["variance"]
    d = np.array([[vc["intercept"], vc["intercept:time"]], [vc["intercept:time"], vc["time"]]])
    s2 = vc["residual"]
    g_inv = np.kron(np.eye(len(subjects)), np.linalg.inv(d))
    mme = np.block([[x.T @ x, x.T @ z], [z.T @ x, z.T @ z + s2 * g_inv]])
    rhs = np.r_[x.T @ sleep["reaction"], z.T @ sleep["reaction"]]
    sol = np.linalg.solve(mme, rhs)
    cinv = np.linalg.inv(mme) * s2
    new = pd.DataFrame({"subject": [308, 308, 335], "days": [12, 15, 11]})
    rows = np.zeros((3, 2 + q))
    rows[:, 0] = 1
    rows[:, 1] = new["days"]
    for r, (s, t) in enumerate(zip(new["subject"], new["days"])):
        j = int(np.searchsorted(subjects, s))
        rows[r, 2 + 2 * j] = 1
        rows[r, 3 + 2 * j] = t
    out = sleep_fit.predict(new, level="client")
    np.testing.assert_allclose(out["estimate"], rows @ sol, rtol=1e-6)
    np.testing.assert_allclose(
        out["se"], np.sqrt(np.einsum("ni,ij,nj->n", rows, cinv, rows)), rtol=1e-4
    )
    assert out["client"].tolist() == [308, 308, 335]
    pi = sleep_fit.predict(new, level="client", interval="prediction")
    np.testing.assert_allclose(pi["se"] ** 2, out["se"] ** 2 + s2, rtol=1e-6)


def test_prediction_errors(sleep_fit, btheb_fit):
    with pytest.raises(OptionError, match=r"'level' parameter of GrowthResult.predict"):
        sleep_fit.predict(level="subject")
    with pytest.raises(OptionError, match=r"'interval' parameter"):
        sleep_fit.predict(interval="credible")
    with pytest.raises(ValueError, match="therapist level"):
        sleep_fit.predict(level="therapist")
    with pytest.raises(MissingColumnError, match="session column 'days'"):
        sleep_fit.predict(pd.DataFrame({"day": [1]}))
    with pytest.raises(MissingColumnError, match="client column 'subject'"):
        sleep_fit.predict(pd.DataFrame({"days": [1]}), level="client")
    with pytest.raises(DataError, match=r"not in the model.*level='population'"):
        sleep_fit.predict(pd.DataFrame({"subject": [1], "days": [1]}), level="client")
    with pytest.raises(DataError, match="cannot be coded"):
        btheb_fit.predict(pd.DataFrame({"time": [2], "treatment": ["TAU"]}))  # no bdi_pre


def test_curves_are_group_means_of_the_fixed_effects_with_a_band(btheb_fit):
    c = btheb_fit.curves(by="treatment")
    assert list(c.columns) == growth.CURVE_COLUMNS
    assert list(dict.fromkeys(c["group"])) == ["TAU", "BtheB"]  # the factor's own order
    bt = toolkit.datasets.load("btheb")
    used = btheb_fit.fitted["client"].unique()
    patients = bt.drop_duplicates("subject").set_index("subject").loc[used]
    b = btheb_fit.table.set_index("term")["estimate"]
    cov = btheb_fit.fixed_cov.to_numpy()
    for arm, part in c.groupby("group"):
        group = patients[patients["treatment"] == arm]
        assert (part["n_clients"] == len(group)).all()
        is_b = float(arm == "BtheB")
        for row in part.itertuples():
            xbar = np.array([1, group["bdi_pre"].mean(), row.time, is_b, row.time * is_b])
            assert row.estimate == pytest.approx(xbar @ b.to_numpy(), rel=1e-10)
            assert row.se == pytest.approx(np.sqrt(xbar @ cov @ xbar), rel=1e-8)
            assert row.ci_lower < row.estimate < row.ci_upper
    one = btheb_fit.curves()
    assert set(one["group"]) == {"all"} and (one["n_clients"] == len(used)).all()
    assert list(one["session"]) == list(range(2, 9))


def test_discontinuous_model_curves_use_each_clients_breakthrough():
    scores = toolkit.datasets.load_scores("sgdata")
    gains = toolkit.sudden_gains.identify(scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        m = growth.fit(scores, breakthroughs=gains, random="intercept")
    c = m.curves()
    f = m.fitted
    # At a session every client attended, the curve is the average fixed-effects fit.
    for s in (1, 2):
        rows = f[f["session"] == s]
        if len(rows) == m.n_clients:
            assert c.set_index("session").loc[s, "estimate"] == pytest.approx(
                rows["fitted_fixed"].mean()
            )
    # A client's predictions on new sessions carry its own jump.
    client = m.breakthroughs()["client"].iloc[0]
    at = int(m.breakthroughs()["session"].iloc[0])
    new = pd.DataFrame({"id": [client, client], "session": [at - 1, at]})
    jump = m.table.set_index("term").loc["post_breakthrough", "estimate"]
    slope = m.table.set_index("term").loc["time", "estimate"]
    out = m.predict(new)
    assert out["estimate"].diff().iloc[1] == pytest.approx(slope + jump)


def test_plot_by_group_draws_one_mean_curve_per_group_and_clips(btheb_fit):
    fig, ax = plt.subplots()
    out = btheb_fit.plot(n=None, by="treatment", ax=ax)
    assert out is ax
    n_clients = btheb_fit.n_clients
    assert len(ax.lines) == n_clients + 2  # each client's line and one curve per arm
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "treatment = TAU: mean curve" in labels and "treatment = BtheB: mean curve" in labels
    # Client lines run over each client's observed months only, within 0..63.
    f = btheb_fit.fitted.dropna(subset=["score"])
    span = f.groupby("client")["session"].agg(["min", "max"])
    lines = ax.lines[:n_clients]
    spans = sorted((float(ln.get_xdata().min()), float(ln.get_xdata().max())) for ln in lines)
    assert spans == sorted(zip(span["min"].astype(float), span["max"].astype(float)))
    for ln in ax.lines:
        y = np.asarray(ln.get_ydata(), dtype=float)
        assert y.min() >= 0 and y.max() <= 63
    ax2 = btheb_fit.plot(kind="curves", by="treatment", ax=plt.subplots()[1])
    assert len(ax2.lines) == 2 and len(ax2.collections) == 2
    plt.close("all")


def test_fitted_lines_are_clipped_to_the_instruments_range():
    # PHQ-9 (0-27): a steep, straight improvement whose fitted line would dip below 0.
    rng = np.random.default_rng(4)
    n, s = 40, 8
    y = np.clip(24 - 3.6 * np.arange(s) + rng.normal(0, 1.5, (n, s)), 0, 27).round()
    df = pd.DataFrame(
        {
            "client": np.repeat(np.arange(n), s),
            "session": np.tile(np.arange(s), n),
            "phq": y.ravel(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        m = growth.fit(df, client="client", session="session", score="phq", instrument="PHQ-9")
    assert m.fitted["fitted"].min() < 0  # the model's own line leaves the range
    ax = m.plot(n=None, mean=True, ax=plt.subplots()[1])
    for ln in ax.lines:
        assert np.asarray(ln.get_ydata(), dtype=float).min() >= 0
    plt.close("all")


def test_report_section_draws_one_mean_curve_per_group_within_the_sessions():
    from toolkit.report._context import Context
    from toolkit.report._page import Report
    from toolkit.report.sections.growth import growth_section

    class Keeping(Report):  # keeps the figure's lines before the page closes the figure
        def figure(self, name, fig, caption=""):
            self.kept = (fig.axes[0], caption)
            super().figure(name, fig, caption)

    claus = toolkit.datasets.load_scores("claus2020")
    report = Keeping("test")
    growth_section(report, Context(claus, group="treatment"))
    ax, caption = report.kept
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"treatment = PA: mean curve", "treatment = TAU: mean curve"} <= set(labels)
    assert len(ax.collections) >= 2  # a band per group
    lo, hi = float(claus.sessions.min()), float(claus.sessions.max())
    for ln in ax.lines:  # client lines and mean curves alike
        x = np.asarray(ln.get_xdata(), dtype=float)
        assert lo <= x.min() and x.max() <= hi
    assert "fitted curves of each treatment" in caption
    plt.close("all")
