"""toolkit.monitoring: expected response, flags, alarm reports, online change points, CUSUM.

Evidence: the curve model against the mixed model fitted directly (toolkit.growth) and a dense
GLS computation; neighbours against a hand-worked case; cross-fitting against its promise (a
client's own scores never move its curve); the online posteriors against brute-force
enumeration of every change-point configuration; session-by-session updates against a
whole-series run; alarm reports, CUSUM and detection scores against plain per-client loops;
recovery on simulated truth; and the contract of every result.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import pickle
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln

import toolkit
from toolkit import growth, monitoring
from toolkit._results import BREAKTHROUGH_COLUMNS, Result
from toolkit.errors import DataError, OptionError, ToolkitWarning
from toolkit.monitoring._bocpd import Prior
from toolkit.monitoring._neighbours import column_quantiles
from toolkit.simulate import trajectories

SETTINGS_KEYS = {"toolkit_version", "seed", "reliable_change_points", "reliable_change_source"}


def validated(df, instrument="PHQ-9", **kwargs):
    return toolkit.long_scores(
        df, client="client", session="session", score="score", instrument=instrument, **kwargs
    )


@pytest.fixture(scope="module")
def sg():
    return toolkit.datasets.load_scores("sgdata")


@pytest.fixture(scope="module")
def cohort():
    """600 PHQ-9 clients x 12 sessions with deteriorators and late responders."""
    df, truth = trajectories(
        600,
        12,
        instrument="PHQ-9",
        seed=11,
        shape="log",
        deteriorator_share=0.15,
        late_responder_share=0.15,
        missing=0.08,
    )
    return validated(df, covariates=[]), truth


@pytest.fixture(scope="module")
def split(cohort):
    scores, _ = cohort
    ref = scores.subset(list(range(1, 301)))
    mon = scores.subset(list(range(301, 601)))
    return ref, mon


@pytest.fixture(scope="module")
def curve(split):
    return monitoring.expected_response(split[0], seed=3)


# --- the curve model ---------------------------------------------------------------------
def test_curve_equals_the_mixed_model_fitted_directly(split, curve):
    ref, _ = split
    used = curve.table[curve.table["used"]]
    x = ref.to_matrix()
    intake = x[:, 0]
    centre = float(np.mean(intake[ref.clients.get_indexer(used["client"])]))
    long = ref.data[ref.data["session"] > 1].copy()
    long["intake_c"] = intake[ref.clients.get_indexer(long["client"])] - centre
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        g = growth.fit(
            long,
            "score ~ time * intake_c",
            client="client",
            session="session",
            score="score",
            time="log",
            time_zero=0.0,  # log(session) = log(1 + sessions since intake at session 1)
            random="slope",
        )
    theirs = g.table.set_index("term")
    ours = curve.coefficients.set_index(["part", "term"])
    pairs = {
        ("level", "intercept"): "Intercept",
        ("level", "intake"): "intake_c",
        ("rate", "intercept"): "time",
        ("rate", "intake"): "time:intake_c",
    }
    for key, term in pairs.items():
        assert ours.loc[key, "estimate"] == pytest.approx(theirs.loc[term, "estimate"], abs=1e-5)
        assert ours.loc[key, "se"] == pytest.approx(theirs.loc[term, "se"], rel=1e-4)
    vc_ours = curve.variance_components.set_index("component")["variance"]
    vc_theirs = g.variance_components.set_index("component")["variance"]
    for comp in ("intercept", "time", "intercept:time", "residual"):
        assert vc_ours[comp] == pytest.approx(vc_theirs[comp], rel=1e-4, abs=1e-6)
    # Expected scores of a new client from the growth model's fixed effects.
    b = theirs["estimate"]
    pred = curve.curve(12.0)
    t = np.log1p(pred["session"] - 1)
    manual = (b["Intercept"] + b["intake_c"] * (12 - centre)) + (
        b["time"] + b["time:intake_c"] * (12 - centre)
    ) * t
    np.testing.assert_allclose(pred["expected"], manual, atol=1e-4)


def test_curve_band_is_the_dense_gls_prediction_interval():
    df, _ = trajectories(40, 6, instrument="PHQ-9", seed=5, missing=0.15, shape="log")
    ref = validated(df)
    ex = monitoring.expected_response(ref, folds=None, random="slope")
    m = ex.fitted.models[0]
    x = ref.to_matrix()
    intake, post = x[:, 0], x[:, 1:]
    t = np.log1p(np.arange(1, 6.0))
    c = intake - m.centre[0]
    blocks_x, blocks_y, blocks_v = [], [], []
    for i in range(ref.n_clients):
        seen = ~np.isnan(post[i])
        if not seen.any():
            continue
        ti = t[seen]
        xi = np.column_stack([np.ones(len(ti)), np.full(len(ti), c[i]), ti, ti * c[i]])
        zi = np.column_stack([np.ones(len(ti)), ti])
        blocks_x.append(xi)
        blocks_y.append(post[i, seen])
        blocks_v.append(zi @ m.cov_re @ zi.T + m.sigma2 * np.eye(len(ti)))
    xtvx = sum(xi.T @ np.linalg.solve(v, xi) for xi, v in zip(blocks_x, blocks_v))
    xtvy = sum(xi.T @ np.linalg.solve(v, yi) for xi, yi, v in zip(blocks_x, blocks_y, blocks_v))
    beta = np.linalg.solve(xtvx, xtvy)
    cov = np.linalg.inv(xtvx)
    order = [0, 1, 2, 3]  # (level: 1, intake), (rate: 1, intake) in both
    np.testing.assert_allclose(m.beta, beta[order], rtol=1e-8)
    np.testing.assert_allclose(m.cov_beta, cov, rtol=1e-7)
    # A new client with intake 15 at elapsed session 3.
    pred = ex.curve(15.0, level=0.9)
    row = pred.iloc[2]
    xn = np.array([1, 15 - m.centre[0], t[2], t[2] * (15 - m.centre[0])])
    zn = np.array([1, t[2]])
    sd = np.sqrt(xn @ cov @ xn + zn @ m.cov_re @ zn + m.sigma2)
    assert row["expected"] == pytest.approx(xn @ beta, abs=1e-8)
    assert row["sd"] == pytest.approx(sd, rel=1e-8)
    assert row["upper"] - row["expected"] == pytest.approx(stats.norm.ppf(0.95) * sd, rel=1e-8)
    assert (ex.curve(0.0, level=0.99)["lower"] >= 0).all()  # clipped at the PHQ-9 floor


# --- neighbours --------------------------------------------------------------------------
REFERENCE = {  # intake, then sessions 1-3
    1: [10, 9, 8, 7],
    2: [12, 12, 10, 9],
    3: [16, 15, np.nan, 12],
    4: [20, 18, 17, 15],
    5: [21, 20, 19, 18],
    6: [30, 28, 27, 26],
}


def small_frame(rows):
    return pd.DataFrame(
        [
            {"client": c, "session": s, "score": v}
            for c, values in rows.items()
            for s, v in enumerate(values)
        ]
    )


def test_neighbours_against_a_hand_worked_case():
    ref = small_frame(REFERENCE)
    ex = monitoring.expected_response(
        ref,
        method="neighbours",
        k=3,
        min_observed=1,
        folds=None,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
    )
    new = small_frame({100: [14, 13, 11, 10]})
    got = ex.predict(new, level=0.5, client="client", session="session", score="score").table
    # Intake 14: distances |14 - intake| = 4, 2, 2, 6, 7, 16 -> clients 2, 3 and 1.
    # Session 1: 9, 12, 15 -> mean 12, quartiles 10.5 and 13.5 (linear), SD 3.
    # Session 2: 8, 10 (client 3 missed it) -> mean 9, quartiles 8.5 and 9.5.
    # Session 3: 7, 9, 12 -> mean 28/3, quartiles 8 and 10.5.
    np.testing.assert_allclose(got["expected"], [12, 9, 28 / 3])
    np.testing.assert_allclose(got["lower"], [10.5, 8.5, 8.0])
    np.testing.assert_allclose(got["upper"], [13.5, 9.5, 10.5])
    np.testing.assert_allclose(got["sd"], [3.0, np.sqrt(2), np.std([7, 9, 12], ddof=1)])
    # Ties at the k-th distance go to the earlier reference client: intake 14, k = 1 picks
    # client 2 (12) over client 3 (16).
    one = monitoring.expected_response(
        ref,
        method="neighbours",
        k=1,
        min_observed=1,
        folds=None,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
    )
    got1 = one.predict(new, client="client", session="session", score="score").table
    np.testing.assert_allclose(got1["expected"], [12, 10, 9])
    # Too few observed neighbours at a session: no expected score there.
    strict = monitoring.expected_response(
        ref,
        method="neighbours",
        k=3,
        min_observed=3,
        folds=None,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
    )
    got3 = strict.predict(new, client="client", session="session", score="score").table
    assert np.isnan(got3["expected"].iloc[1]) and not np.isnan(got3["expected"].iloc[0])


def test_quantiles_equal_numpy_with_missing_values():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(7, 9, 5))
    v[rng.random(v.shape) < 0.3] = np.nan
    v[0, :, 0] = np.nan  # a column with no value
    lo, hi = column_quantiles(v, (0.1, 0.9))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's all-NaN slice
        ref_lo = np.nanpercentile(v, 10, axis=1)
        ref_hi = np.nanpercentile(v, 90, axis=1)
    np.testing.assert_allclose(lo, ref_lo, equal_nan=True)
    np.testing.assert_allclose(hi, ref_hi, equal_nan=True)


# --- cross-fitting -----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["curve", "neighbours"])
def test_cross_fitting_never_uses_a_clients_own_scores(method):
    df, _ = trajectories(90, 8, instrument="PHQ-9", seed=21, shape="log")
    scores = validated(df)
    kw = dict(method=method, folds=3, seed=9, k=15, min_observed=3)
    base = monitoring.expected_response(scores, **kw).flag(scores).table
    moved = df.copy()
    target = 17
    later = (moved["client"] == target) & (moved["session"] > 1)
    moved.loc[later, "score"] = np.clip(moved.loc[later, "score"] + 9, 0, 27)
    again = monitoring.expected_response(validated(moved), **kw).flag(validated(moved)).table
    cols = ["expected", "lower", "upper", "sd"]
    mine = base["client"] == target
    pd.testing.assert_frame_equal(
        base.loc[mine, cols].reset_index(drop=True),
        again.loc[mine, cols].reset_index(drop=True),
        rtol=1e-9,
    )
    assert not np.allclose(
        base.loc[~mine, "expected"], again.loc[~mine, "expected"], equal_nan=True
    )  # its scores did move the other folds' curves
    assert (base["fold"].notna()).all()


def test_folds_are_keyed_by_client_and_needed_for_reference_clients(cohort):
    scores, _ = cohort
    full = monitoring.expected_response(scores, seed=4, folds=5)
    part = monitoring.expected_response(scores.subset(list(range(1, 201))), seed=4, folds=5)
    a = full.table.set_index("client")["fold"]
    b = part.table.set_index("client")["fold"]
    pd.testing.assert_series_equal(a.loc[b.index], b)
    assert set(a.dropna()) == {0, 1, 2, 3, 4}
    single = monitoring.expected_response(scores.subset(list(range(1, 201))), folds=None)
    with pytest.raises(OptionError, match="their expected curves would come from their own"):
        single.flag(scores)
    flags = single.flag(scores.subset(list(range(201, 301))))  # new clients: fine
    assert flags.table["fold"].isna().all()


# --- flags -------------------------------------------------------------------------------
def test_flags_are_scores_beyond_the_worse_edge(split, curve):
    _, mon = split
    flags = curve.flag(mon, level=0.8)
    t = flags.table
    both = t["score"].notna() & t["upper"].notna()
    np.testing.assert_array_equal(
        t.loc[both, "not_on_track"].to_numpy(bool), (t["score"] > t["upper"])[both].to_numpy()
    )
    assert t.loc[~both, "not_on_track"].isna().all()
    np.testing.assert_allclose(t["residual"], t["score"] - t["expected"])
    np.testing.assert_allclose(t["z"], t["residual"] / t["sd"])
    first = t[t["not_on_track"].fillna(False)].groupby("client")["session"].min()
    got = flags.clients.set_index("client")["first_flag_session"].dropna().astype(int)
    pd.testing.assert_series_equal(got, first, check_names=False)
    # Every row lies between the session after intake and the client's last row.
    assert t["session"].min() == 2 and t["session"].max() <= 12
    assert list(t.columns) == monitoring.FLAG_COLUMNS


def test_flags_on_a_higher_is_better_measure():
    df, _ = trajectories(120, 8, instrument="WHO-5", seed=2)
    scores = validated(df, instrument="WHO-5")
    flags = monitoring.expected_response(scores, seed=1).flag(scores, level=0.6)
    t = flags.table.dropna(subset=["score", "lower"])
    np.testing.assert_array_equal(
        t["not_on_track"].to_numpy(bool), (t["score"] < t["lower"]).to_numpy()
    )
    assert t["not_on_track"].any()


def test_a_wider_band_flags_fewer_sessions(split, curve):
    _, mon = split
    few = curve.flag(mon, level=0.95).table["not_on_track"].sum()
    many = curve.flag(mon, level=0.6).table["not_on_track"].sum()
    assert few < many


def test_dose_aware_curves_use_the_course_length():
    df, _ = trajectories(400, 14, instrument="PHQ-9", seed=8, course_length=(5, 14), shape="log")
    scores = validated(df)
    ex = monitoring.expected_response(scores, dose="observed", seed=2)
    assert "course_length" in ex.coefficients["term"].tolist()
    lengths = ex.table.set_index("client")["course_length"]
    last = scores.data.dropna(subset=["score"]).groupby("client")["session"].max() - 1
    pd.testing.assert_series_equal(lengths, last.astype(float), check_names=False)
    short = ex.curve(18, course_length=5)["expected"].iloc[3]
    long = ex.curve(18, course_length=14)["expected"].iloc[3]
    assert short != long
    nb = monitoring.expected_response(scores, method="neighbours", dose="observed", seed=2)
    assert nb.settings["feature_names"] == ["intake", "course_length"]


# --- the alarm report --------------------------------------------------------------------
def hand_report(flags, scores, outcome, window=None):
    """Sensitivity, specificity, PPV, lead time and alarms per client by plain loops."""
    crit = scores.reliable_change.points
    x = scores.to_matrix()
    rows = []
    table = flags.table
    for client, part in table.groupby("client", sort=False):
        i = scores.clients.get_loc(client)
        obs = np.flatnonzero(~np.isnan(x[i, 1:]))
        if len(obs) == 0:
            continue
        last_session = int(scores.sessions[1 + obs[-1]])
        improvement = x[i, 0] - x[i, 1 + obs[-1]]
        y = improvement <= -crit if outcome == "deterioration" else improvement < crit
        ok = part["score"].notna() & (part["session"] < last_session)
        if window is not None:
            ok &= part["session"] <= window
        alarm = part["not_on_track"].fillna(False) & ok
        first = part.loc[alarm, "session"].min() if alarm.any() else np.nan
        rows.append((y, alarm.any(), int(alarm.sum()), last_session - first))
    y, f, n, lead = (np.array(v) for v in zip(*rows))
    return {
        "sensitivity": f[y].mean(),
        "specificity": (~f[~y]).mean(),
        "ppv": y[f].mean(),
        "median_lead_time": np.median(lead[f & y]),
        "alarms_per_client": n.mean(),
        "n_clients": len(y),
        "n_outcome": y.sum(),
    }


@pytest.mark.parametrize("outcome, window", [("deterioration", None), ("no_improvement", 6)])
def test_alarm_report_equals_a_per_client_count(split, curve, outcome, window):
    _, mon = split
    flags = curve.flag(mon)
    rep = monitoring.evaluate_alarms(
        flags, outcome, window="penultimate" if window is None else window
    )
    row = rep.table.set_index("rule").loc["not on track"]
    hand = hand_report(flags, mon, outcome, window)
    for key, value in hand.items():
        assert row[key] == pytest.approx(value), key
    lo, hi = row["sensitivity_lower"], row["sensitivity_upper"]
    assert lo < row["sensitivity"] < hi or row["sensitivity"] in (0, 1)


def test_alarm_report_baselines(split, curve):
    _, mon = split
    rep = monitoring.evaluate_alarms(curve.flag(mon), window=["penultimate", 5])
    t = rep.table.set_index(["window", "rule"])
    always = t.loc[("penultimate", "always flag")]
    prevalence = always["n_outcome"] / always["n_clients"]
    assert always["specificity"] == 0 and always["sensitivity"] == 1
    assert always["ppv"] == pytest.approx(prevalence, abs=0.01)  # a few cannot be flagged
    intake = t.loc[("penultimate", "intake score only")]
    method = t.loc[("penultimate", "not on track")]
    assert intake["n_flagged"] >= method["n_flagged"]
    assert rep.table["window"].tolist() == ["penultimate"] * 3 + ["by session 5"] * 3
    assert list(rep.table.columns) == monitoring.ALARM_COLUMNS


def test_wilson_interval_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    from toolkit.monitoring._alarms import wilson

    for k, n in ((3, 10), (0, 7), (50, 50), (171, 400)):
        lo, hi = wilson(k, n)
        ref = proportion_confint(k, n, method="wilson")
        assert (lo, hi) == pytest.approx(ref)


def test_outcome_needs_the_criterion():
    df, _ = trajectories(40, 6, instrument="PHQ-9", seed=3)
    df["score"] = df["score"] * 3  # beyond PHQ-9: validate without an instrument
    scores = toolkit.long_scores(
        df, client="client", session="session", score="score", better="lower"
    )
    assert scores.reliable_change.points is None
    ex = monitoring.expected_response(scores, seed=1)
    with pytest.raises(ValueError, match="needs the reliable-change criterion"):
        monitoring.evaluate_alarms(ex.flag(scores))
    given = pd.Series(True, index=scores.clients)
    assert monitoring.evaluate_alarms(ex.flag(scores), given).table["n_outcome"].iloc[0] == 40


# --- CUSUM -------------------------------------------------------------------------------
def test_cusum_equals_the_recursion_by_hand(split, curve):
    _, mon = split
    pred = curve.predict(mon)
    for direction, d in (("deterioration", 1.0), ("improvement", -1.0)):
        res = monitoring.cusum(pred, direction=direction, allowance=0.4, threshold=2.5)
        for client, part in res.table.groupby("client"):
            s, values, alarms = 0.0, [], []
            for z in part["z"]:
                if not np.isnan(z):
                    s = max(0.0, s + d * z - 0.4)
                values.append(s)
                alarms.append(not np.isnan(z) and s >= 2.5)
            np.testing.assert_allclose(part["cusum"], values)
            assert part["alarm"].tolist() == alarms
            if client > 320:
                break
    assert list(res.table.columns) == monitoring.CUSUM_COLUMNS


# --- online change points: brute force ---------------------------------------------------
def ng_marginal(xs, prior):
    xs = np.asarray([v for v in xs if not np.isnan(v)])
    n = len(xs)
    if n == 0:
        return 0.0
    k0, m0, a0, b0 = prior.kappa0, prior.mu0, prior.alpha0, prior.beta0
    xb = xs.mean()
    kn, an = k0 + n, a0 + n / 2
    bn = b0 + 0.5 * ((xs - xb) ** 2).sum() + k0 * n * (xb - m0) ** 2 / (2 * kn)
    return (
        gammaln(an)
        - gammaln(a0)
        + a0 * np.log(b0)
        - an * np.log(bn)
        + 0.5 * np.log(k0 / kn)
        - n / 2 * np.log(2 * np.pi)
    )


def ng_posterior(xs, prior):
    """Posterior mean and variance of a segment's level, and its predictive variance."""
    xs = np.asarray([v for v in xs if not np.isnan(v)])
    n = len(xs)
    k0, m0, a0, b0 = prior.kappa0, prior.mu0, prior.alpha0, prior.beta0
    if n == 0:
        return m0, prior.level_var, prior.predictive_var
    xb = xs.mean()
    kn, an = k0 + n, a0 + n / 2
    bn = b0 + 0.5 * ((xs - xb) ** 2).sum() + k0 * n * (xb - m0) ** 2 / (2 * kn)
    return (k0 * m0 + n * xb) / kn, bn / (kn * (an - 1)), bn * (kn + 1) / (kn * (an - 1))


def brute_force(x, prior, h, window, crit, sign):
    """Every quantity of the monitor after each session, by enumerating every configuration
    of change points (a change or none before each session)."""
    out, levels = [], {}
    ml = {
        (a, b): ng_marginal(x[a:b], prior) for a in range(len(x)) for b in range(a + 1, len(x) + 1)
    }
    post = {(a, b): ng_posterior(x[a:b], prior) for a, b in ml}
    for t in range(1, len(x) + 1):
        logs, starts_all = [], []
        for c in itertools.product([0, 1], repeat=t - 1):
            starts = [0] + [i + 1 for i, ci in enumerate(c) if ci]
            lp = sum(np.log(h) if ci else np.log1p(-h) for ci in c)
            bounds = [*starts, t]
            lp += sum(ml[bounds[j], bounds[j + 1]] for j in range(len(starts)))
            logs.append(lp)
            starts_all.append(starts[-1])
        p = np.exp(np.array(logs) - max(logs))
        p /= p.sum()
        run = np.zeros(t)
        m = s2 = pc = pb = pd_ = nm = ns = 0.0
        for pi, start in zip(p, starts_all):
            r = t - start
            run[r - 1] += pi
            mu, v, pv = post[start, t]
            m += pi * mu
            s2 += pi * (v + mu * mu)
            nm += (1 - h) * pi * mu
            ns += (1 - h) * pi * (pv + mu * mu)
            if r <= min(window, t - 1):
                om, ov = levels[t - r]
                sd = np.sqrt(ov + v)
                pc += pi
                pb += pi * stats.norm.cdf((sign * (om - mu) - crit) / sd)
                pd_ += pi * stats.norm.cdf((sign * (mu - om) - crit) / sd)
        levels[t] = (m, s2 - m * m)
        nm += h * prior.mu0
        ns += h * (prior.predictive_var + prior.mu0**2)
        out.append(
            {
                "run": run,
                "p_change": pc,
                "p_breakthrough": pb,
                "p_deterioration": pd_,
                "level": m,
                "level_sd": np.sqrt(max(s2 - m * m, 0.0)),
                "next_mean": nm,
                "next_sd": np.sqrt(ns - nm * nm),
            }
        )
    return out


SERIES = {
    1: [18, 19, 17, 18, 9, 8, 10, 9, 8, 9, 7, 8],  # a breakthrough at session 5
    2: [15, 16, np.nan, 17, 16, 15, 24, 25, 24, np.nan, 25],  # missed sessions; a loss
    3: [12, 12, 13, 11, 12, 12],  # no change
}


@pytest.mark.parametrize("instrument, sign", [("PHQ-9", 1), ("WHO-5", -1)])
def test_online_posteriors_equal_brute_force_enumeration(instrument, sign):
    rows = [
        {"client": c, "session": s + 1, "score": v}
        for c, values in SERIES.items()
        for s, v in enumerate(values)
    ]
    df = pd.DataFrame(rows)
    scores = validated(df, instrument=instrument, reliable_change=6)
    monitor = monitoring.online(scores, hazard=6, window=3, prune=0.0, keep_posterior=True)
    res = monitor.result
    st = res.settings
    prior = monitor.state.prior
    crit = scores.reliable_change.points
    z = stats.norm.ppf(0.5 + st["level"] / 2)
    for c, values in SERIES.items():
        x = np.asarray(values, float)
        want = brute_force(x, prior, 1 / 6, 3, crit, sign)
        part = res.table[res.table["client"] == c]
        post = res.posterior[(res.table["client"] == c).to_numpy()]
        assert len(part) == len(x)
        for t, (row, exp) in enumerate(zip(part.itertuples(), want), start=1):
            np.testing.assert_allclose(post[t - 1, :t], exp["run"], atol=1e-10)
            assert not post[t - 1, t:].any()
            for key in ("p_change", "p_breakthrough", "p_deterioration", "level", "level_sd"):
                assert getattr(row, key) == pytest.approx(exp[key], abs=1e-10), (c, t, key)
            assert row.next_mean == pytest.approx(exp["next_mean"], abs=1e-10)
            top = min(exp["next_mean"] + z * exp["next_sd"], scores.instrument.max_score)
            assert row.next_upper == pytest.approx(top, abs=1e-9)
    # The breakthrough of client 1 is found at or right after session 5.
    found = res.breakthroughs()
    if sign == 1:
        assert found.loc[found["client"] == 1, "session"].tolist()[0] in (5, 6, 7)
        assert found.loc[found["client"] == 1, "size"].iloc[0] > crit
        lost = res.breakthroughs("deterioration")
        assert 2 in set(lost["client"]) and 3 not in set(found["client"])


def test_prior_is_scaled_from_the_instrument(sg):
    monitor = monitoring.online(sg)
    st = monitor.result.settings
    bdi = sg.instrument
    assert st["prior_mean"] == (bdi.min_score + bdi.max_score) / 2
    assert st["prior_sd"] == (bdi.max_score - bdi.min_score) / 4
    assert st["noise_sd"] == pytest.approx(sg.reliable_change.points / (1.959964 * np.sqrt(2)))
    prior = monitor.state.prior
    assert prior.level_var == pytest.approx(st["prior_sd"] ** 2)
    assert prior.beta0 / (prior.alpha0 - 1) == pytest.approx(st["noise_sd"] ** 2)
    assert isinstance(Prior.scaled(10, 5, 2, 6), Prior)


# --- online change points: updates -------------------------------------------------------
@pytest.fixture(scope="module")
def stream():
    df, truth = trajectories(
        80, 10, instrument="PHQ-9", seed=6, gain_share=0.4, gain_size=(9, 1), missing=0.1
    )
    rng = np.random.default_rng(3)
    df = df[rng.random(len(df)) > 0.1]  # rows missing altogether: gaps
    late = df["client"] % 7 == 0
    df = df[~late | (df["session"] >= 4)]  # clients that start later
    return df.reset_index(drop=True)


def test_update_session_by_session_equals_the_whole_series(stream):
    whole = monitoring.online(validated(stream), hazard=8).result.table
    first = stream[stream["session"] == 1]
    monitor = monitoring.online(validated(first), hazard=8)
    parts = [monitor.result.table]
    for s in range(2, 11):
        parts.append(monitor.update(validated(stream[stream["session"] == s])).table)
    pieces = pd.concat(parts).sort_values(["client", "session"], ignore_index=True)
    pd.testing.assert_frame_equal(pieces, whole, rtol=1e-12, atol=1e-12)
    assert monitor.state.last_session.max() == 10


def test_state_saves_and_loads(stream, tmp_path):
    early = stream[stream["session"] <= 5]
    monitor = monitoring.online(validated(early), hazard=8)
    kept = monitor.state
    path = monitor.save(tmp_path / "monitor.pkl")
    loaded = monitoring.OnlineMonitor.load(path)
    new = validated(stream[stream["session"] == 6])
    a = monitor.update(new).table
    b = loaded.update(new).table
    pd.testing.assert_frame_equal(a, b)
    assert monitor.state is not kept and kept.last_session.max() == 5  # the old state stays
    back = pickle.loads(pickle.dumps(kept))
    np.testing.assert_array_equal(back.arrays.w, kept.arrays.w)
    post = loaded.run_length_posterior()
    assert post.groupby("client")["probability"].sum().round(12).eq(1).all()


def test_update_errors_name_the_clients(stream):
    monitor = monitoring.online(validated(stream[stream["session"] <= 5]))
    two = validated(stream[stream["session"].isin([6, 7])])
    with pytest.raises(DataError, match="one new session per client"):
        monitor.update(two)
    with pytest.raises(DataError, match="not after the last one monitored"):
        monitor.update(validated(stream[stream["session"] == 5]))
    gad = stream[stream["session"] == 6].assign(score=lambda d: d["score"].clip(0, 21))
    with pytest.raises(DataError, match="do not match the monitor"):
        monitor.update(validated(gad, instrument="GAD-7"))


def test_online_detects_breakthroughs_on_simulated_truth():
    df, truth = trajectories(
        400,
        14,
        instrument="PHQ-9",
        seed=12,
        gain_share=0.5,
        gain_size=(12, 1.5),
        gradual=0.0,
        gradual_sd=0.0,
    )
    res = monitoring.online(validated(df)).result
    ev = monitoring.evaluate_online(res, truth, threshold=0.5)
    row = ev.table.set_index("method").loc["online change point"]
    assert row["share_detected"] > 0.8
    assert row["median_delay"] <= 2
    assert row["share_courses_false_alarm"] < 0.1
    base = ev.table.set_index("method")
    assert base.loc["always fire", "median_delay"] == 0
    assert base.loc["never fire", "share_detected"] == 0
    # Against a plain per-client count.
    alarm = res.table["p_breakthrough"] >= 0.5
    change = truth[truth["kind"] == "gain"].groupby("client")["session"].min()
    delays, false = [], []
    for client, part in res.table.assign(alarm=alarm).groupby("client"):
        if client in change.index:
            hits = part.loc[part["alarm"] & (part["session"] >= change[client]), "session"]
            if len(hits):
                delays.append(hits.iloc[0] - change[client])
        else:
            on = part["alarm"].to_numpy()
            false.append(int(np.sum(on & ~np.r_[False, on[:-1]])))
    assert row["median_delay"] == np.median(delays)
    assert row["share_detected"] == pytest.approx(len(delays) / len(change))
    assert row["false_alarms_per_course"] == pytest.approx(np.mean(false))


def test_evaluate_online_takes_a_cusum_in_the_same_direction(split, curve):
    _, mon = split
    pred = curve.predict(mon)
    truth = pd.DataFrame({"client": [301, 302], "kind": "gain", "session": [5, 6]})
    c = monitoring.cusum(pred, direction="improvement")
    ev = monitoring.evaluate_online({"CUSUM": c}, truth)
    assert ev.table["method"].tolist() == ["CUSUM", "always fire", "never fire"]
    with pytest.raises(OptionError, match="monitors deterioration"):
        monitoring.evaluate_online(monitoring.cusum(pred), truth)


# --- bad input ---------------------------------------------------------------------------
def test_reference_without_the_intake_session(sg):
    with pytest.raises(DataError, match="no intake session 20"):
        monitoring.expected_response(sg, intake_session=20)
    later = sg.subset(query="session >= 3")
    ex = monitoring.expected_response(sg, seed=1)
    with pytest.raises(DataError, match="no intake session 0"):
        ex.flag(later)


def test_clients_without_an_intake_score_are_skipped(sg):
    raw = toolkit.datasets.load("sgdata")
    roles = toolkit.datasets.roles("sgdata")
    gone = raw.copy()
    gone.loc[(gone["id"] == 2) & (gone["session"] == 0), "bdi"] = np.nan
    scores = toolkit.long_scores(gone, **roles)
    ex = monitoring.expected_response(scores, seed=1)
    assert "no score at the intake session 0" in ex.skipped.set_index("client")["reason"][2]
    flags = ex.flag(scores)
    assert 2 in set(flags.skipped["client"]) and 2 not in set(flags.table["client"])
    no_intake = raw.assign(bdi=np.where(raw["session"] == 0, np.nan, raw["bdi"]))
    with pytest.raises(DataError, match="No reference client has a score at the intake"):
        monitoring.expected_response(toolkit.long_scores(no_intake, **roles))


def test_bad_options_give_the_standard_message(sg):
    with pytest.raises(OptionError, match="'method' parameter of monitoring.expected_response"):
        monitoring.expected_response(sg, method="knn")
    with pytest.raises(OptionError, match="'k' parameter"):
        monitoring.expected_response(sg, method="neighbours", k=0)
    with pytest.raises(OptionError, match="'hazard' parameter of monitoring.online"):
        monitoring.online(sg, hazard=0.5)
    with pytest.raises(OptionError, match="'level' parameter"):
        monitoring.expected_response(sg, seed=1).flag(sg, level=1.0)
    with pytest.raises(OptionError, match="'window' parameter"):
        monitoring.evaluate_alarms(monitoring.expected_response(sg, seed=1).flag(sg), window=[1.5])
    with pytest.raises(toolkit.errors.MissingColumnError, match="carry no covariate 'age'"):
        monitoring.expected_response(sg, covariates=["age"])


def test_covariates_enter_the_curve_and_the_match(sg):
    raw = toolkit.datasets.load("sgdata")
    raw["age"] = 20 + raw["id"] % 30
    scores = toolkit.long_scores(raw, **toolkit.datasets.roles("sgdata"))
    ex = monitoring.expected_response(scores, covariates=["age"], seed=2)
    assert ex.coefficients["term"].tolist().count("age") == 2
    nb = monitoring.expected_response(
        scores,
        method="neighbours",
        covariates=["age"],
        k=10,
        min_observed=3,
        seed=2,
        distance="mahalanobis",
    )
    assert nb.flag(scores).table["expected"].notna().any()


# --- the contract ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(sg):
    ex = monitoring.expected_response(sg, seed=1)
    flags = ex.flag(sg)
    pred = ex.predict(sg)
    df, truth = trajectories(60, 10, instrument="PHQ-9", gain_share=0.5, gain_size=(9, 1), seed=3)
    online = monitoring.online(validated(df)).result
    gad = df.assign(score=(df["score"] * 0.7).round())
    service = monitoring.service_outcomes(
        {"PHQ-9": df, "GAD-7": gad}, client="client", session="session", score="score"
    )
    return {
        "expected": (ex, monitoring.REFERENCE_COLUMNS),
        "neighbours": (
            monitoring.expected_response(sg, method="neighbours", k=10, seed=1),
            monitoring.REFERENCE_COLUMNS,
        ),
        "prediction": (pred, monitoring.PREDICTION_COLUMNS),
        "flags": (flags, monitoring.FLAG_COLUMNS),
        "alarms": (monitoring.evaluate_alarms(flags, "no_improvement"), monitoring.ALARM_COLUMNS),
        "cusum": (monitoring.cusum(pred), monitoring.CUSUM_COLUMNS),
        "online": (online, monitoring.ONLINE_COLUMNS),
        "service": (service, monitoring.SERVICE_COLUMNS),
        "online_evaluation": (
            monitoring.evaluate_online(online, truth),
            monitoring.ONLINE_EVALUATION_COLUMNS,
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "expected",
        "neighbours",
        "prediction",
        "flags",
        "alarms",
        "cusum",
        "online",
        "service",
        "online_evaluation",
    ],
)
def test_result_contract(results, name):
    result, columns = results[name]
    assert isinstance(result, Result) and type(result).__name__.endswith("Result")
    assert list(result.table.columns) == columns
    assert isinstance(result.summary(), pd.DataFrame)
    assert SETTINGS_KEYS <= set(result.settings)
    fig, ax = plt.subplots()
    assert result.plot(ax=ax) is ax
    plt.close(fig)
    text = result.methods_text()
    assert f"version {toolkit.__version__}" in text
    back = pickle.loads(pickle.dumps(result))
    pd.testing.assert_frame_equal(back.table, result.table)
    assert back.settings == result.settings
    assert "Result" in repr(result) and "<p><b>" in result._repr_html_()
    try:
        found = result.breakthroughs()
    except NotImplementedError:
        assert name not in ("online", "cusum", "service")
    else:
        assert list(found.columns) == BREAKTHROUGH_COLUMNS
        assert len(result.breakthroughs("both")) >= len(found)
        with pytest.raises(ValueError, match="'direction' parameter"):
            result.breakthroughs(direction="up")


def test_columns_do_not_change_with_options(sg):
    a = monitoring.expected_response(sg, seed=1, time="linear", random="intercept").flag(sg)
    b = monitoring.expected_response(sg, seed=1, method="neighbours", k=8).flag(sg, level=0.5)
    assert list(a.table.columns) == list(b.table.columns) == monitoring.FLAG_COLUMNS
    assert list(a.clients.columns) == list(b.clients.columns)


def test_inputs_are_not_modified(sg):
    raw = toolkit.datasets.load("sgdata")
    before = raw.copy()
    roles = toolkit.datasets.roles("sgdata")
    ex = monitoring.expected_response(raw, seed=1, **roles)
    ex.flag(raw, client="id", session="session", score="bdi")
    monitoring.online(raw, **roles)
    pd.testing.assert_frame_equal(raw, before)


def test_a_clients_rows_do_not_depend_on_the_other_monitored_clients(split, curve):
    _, mon = split
    full = curve.flag(mon).table
    part = curve.flag(mon.subset([301, 350, 399])).table
    pd.testing.assert_frame_equal(
        full[full["client"].isin([301, 350, 399])].reset_index(drop=True), part
    )
    on_full = monitoring.online(mon).result.table
    on_part = monitoring.online(mon.subset([301, 350])).result.table
    pd.testing.assert_frame_equal(
        on_full[on_full["client"].isin([301, 350])].reset_index(drop=True), on_part
    )


def test_chart_draws_the_course_band_flags_and_probabilities(sg, results):
    flags = results["flags"][0]
    client = int(flags.clients.loc[flags.clients["flagged"], "client"].iloc[0])
    online = monitoring.online(sg).result
    fig, ax = plt.subplots()
    out = toolkit.plots.monitoring_chart(flags, client, ax=ax, online=online)
    assert out is ax
    labels = [line.get_label() for line in ax.lines]
    assert "observed" in labels and "expected" in labels
    strip = ax.monitoring_strip
    assert {line.get_label() for line in strip.lines} >= {"P(breakthrough)", "P(change)"}
    assert strip.get_ylim() == (0, 1)
    with pytest.raises(ValueError, match="Unknown client"):
        toolkit.plots.monitoring_chart(flags, 9999, ax=ax)
    plt.close(fig)


def test_monitoring_sits_below_the_report_and_is_fully_typed():
    root = Path(monitoring.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("report", "cli")), path
                assert "report" not in node.module.split(".") or node.level == 0, path
    missing = []
    for attr in monitoring.__all__:
        obj = getattr(monitoring, attr)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            if sig.return_annotation is inspect.Signature.empty:
                missing.append(attr)
            missing += [
                f"{attr}({p.name})"
                for p in sig.parameters.values()
                if p.annotation is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
    assert not missing


def test_simulated_deteriorators_are_flagged_far_more_than_the_rest(cohort):
    scores, truth = cohort
    det = set(truth.loc[truth["kind"] == "deterioration", "client"])
    ref = scores.subset([c for c in scores.clients if c % 2 == 0])
    mon = scores.subset([c for c in scores.clients if c % 2 == 1])
    flags = monitoring.expected_response(ref, seed=1, folds=None).flag(mon)
    outcome = pd.Series([c in det for c in mon.clients], index=mon.clients)
    row = monitoring.evaluate_alarms(flags, outcome).table.iloc[0]
    assert row["sensitivity"] > 0.85
    assert row["sensitivity"] > (1 - row["specificity"]) + 0.4


def test_report_section_writes_cross_fitted_flags_and_the_alarm_report(sg, tmp_path):
    from toolkit.report import Report
    from toolkit.report.sections.monitoring import monitoring_section

    report = Report("monitoring")
    monitoring_section(report, sg)
    names = [b.name for b in report.blocks if b.kind in ("table", "figure")]
    assert names == [
        "monitoring_flags_by_session",
        "monitoring_flags_by_client",
        "monitoring_alarms_deterioration",
        "monitoring_alarms_no_improvement",
        "monitoring_online_breakthroughs",
        "monitoring_chart",
    ]
    text = " ".join(b.content for b in report.blocks if b.kind == "text")
    assert "cross-fitted over 5 folds" in text
    assert report.write(tmp_path).exists()
    # Without a reliable-change criterion the alarm report says so.
    raw = toolkit.datasets.load("sgdata")
    plain = toolkit.long_scores(raw, client="id", session="session", score="bdi", better="lower")
    small = Report("plain")
    monitoring_section(small, plain)
    assert any("Alarm report not computed" in b.content for b in small.blocks if b.kind == "text")


def test_report_section_takes_the_report_context(sg):
    from toolkit.report import Report
    from toolkit.report._context import Context
    from toolkit.report.sections.monitoring import monitoring_section

    ctx = Context(scores=sg, seed=5)
    report = Report("monitoring")
    monitoring_section(report, ctx)
    assert any("(seed 5)" in b.content for b in report.blocks if b.kind == "text")
    assert any("Expected recovery curves" in t for t in ctx.methods_text)
