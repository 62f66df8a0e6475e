"""Tests of toolkit.changepoint: exact segmentation, penalties, the AMOC test, contracts."""

from __future__ import annotations

import itertools
import math
from contextlib import nullcontext

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolkit
from toolkit import changepoint as cpm
from toolkit.changepoint import amoc, detect
from toolkit.data import long_scores
from toolkit.evaluate import detection
from toolkit.simulate import trajectories

rpt = pytest.importorskip("ruptures")


# --- helpers -------------------------------------------------------------------------------
def frame(matrix, sessions=None) -> pd.DataFrame:
    """Long frame from a (clients x sessions) array (NaN = missing)."""
    matrix = np.asarray(matrix, dtype=float)
    n, t = matrix.shape
    sessions = np.arange(1, t + 1) if sessions is None else np.asarray(sessions)
    return pd.DataFrame(
        {"c": np.repeat(np.arange(n), t), "s": np.tile(sessions, n), "y": matrix.ravel()}
    )


def run(matrix, sessions=None, reliable_change=5.0, **kw):
    """detect() on a matrix; without an instrument, lower is better and 5 points is reliable."""
    kw.setdefault("progress", False)
    if "instrument" in kw:
        return detect(frame(matrix, sessions), client="c", session="s", score="y", **kw)
    scores = long_scores(
        frame(matrix, sessions),
        client="c",
        session="s",
        score="y",
        better=kw.pop("better", "lower"),
        reliable_change=reliable_change,
    )
    return detect(scores, **kw)


def change_lists(res, n_clients):
    """0-based positions of the changes per client (ruptures' breakpoints without n)."""
    out = {i: [] for i in range(n_clients)}
    for c, s in zip(res.table["client"], res.table["session"]):
        out[int(c)].append(int(s) - 1)
    return out


def l2_objective(y, bkps, pen):
    edges = [0, *bkps, len(y)]
    return sum(((y[a:b] - y[a:b].mean()) ** 2).sum() for a, b in zip(edges, edges[1:])) + pen * len(
        bkps
    )


@pytest.fixture(scope="module")
def series():
    """300 Gaussian series of 20 sessions, half with one shift of random size."""
    rng = np.random.default_rng(2024)
    n, t = 300, 20
    at = rng.integers(3, 17, size=(n, 1))
    size = rng.normal(0, 3, size=(n, 1)) * (rng.random((n, 1)) < 0.5)
    return rng.normal(size=(n, t)) + np.where(np.arange(t) >= at, size, 0.0)


@pytest.fixture(scope="module")
def sg():
    return toolkit.datasets.load_scores("sgdata")


# --- contracts -----------------------------------------------------------------------------
def test_exact_column_sets(sg):
    assert cpm.CHANGE_COLUMNS == [
        "client",
        "change",
        "session",
        "last_pre_session",
        "n_pre",
        "n_post",
        "pre_mean",
        "post_mean",
        "pre_slope",
        "post_slope",
        "pre_sd",
        "post_sd",
        "jump",
        "slope_change",
        "jump_sd",
        "jump_rci",
        "p_value",
        "breakthrough",
    ]
    assert cpm.SEGMENT_COLUMNS == [
        "client",
        "segment",
        "first_session",
        "last_session",
        "n",
        "mean",
        "slope",
        "sd",
        "fit_start",
        "fit_end",
    ]
    assert cpm.CLIENT_COLUMNS == [
        "client",
        "n_observed",
        "n_changes",
        "noise_sd",
        "residual_sd",
        "objective",
        "p_value",
    ]
    assert cpm.AMOC_COLUMNS == [
        "client",
        "session",
        "statistic",
        "p_value",
        "pre_mean",
        "post_mean",
        "jump",
        "ci_lower",
        "ci_upper",
        "n_in_set",
    ]
    assert cpm.CONFIDENCE_SET_COLUMNS == ["client", "session", "lr", "in_set"]
    for model in cpm.MODELS:
        for kw in ({}, {"max_changes": 1}, {"test": True, "n_boot": 19}):
            res = detect(sg, model=model, progress=False, seed=0, **kw)
            assert list(res.table.columns) == cpm.CHANGE_COLUMNS
            assert list(res.segments.columns) == cpm.SEGMENT_COLUMNS
            assert list(res.clients.columns) == cpm.CLIENT_COLUMNS
            assert list(res.skipped.columns) == ["client", "reason"]
            assert list(res.summary().columns) == [
                "model",
                "penalty",
                "noise_sd",
                "n_clients",
                "n_skipped",
                "n_with_change",
                "n_changes",
                "mean_changes",
                "n_breakthroughs",
                "n_clients_breakthrough",
            ]
        if model == "meanvar":  # detect(test=True) only: amoc() has no confidence set for it
            with pytest.raises(ValueError, match="'model' parameter of amoc must be one of"):
                amoc(sg, model=model, n_boot=19, seed=0, progress=False)
            continue
        a = amoc(sg, model=model, n_boot=19, seed=0, progress=False)
        assert list(a.table.columns) == cpm.AMOC_COLUMNS
        assert list(a.confidence_sets.columns) == cpm.CONFIDENCE_SET_COLUMNS
    # the same columns when every client is skipped
    empty = run([[1.0, 2.0, np.nan]])
    assert list(empty.table.columns) == cpm.CHANGE_COLUMNS and empty.table.empty
    assert list(empty.clients.columns) == cpm.CLIENT_COLUMNS
    a = amoc(frame([[1.0, 2.0, np.nan]]), client="c", session="s", score="y", progress=False)
    assert list(a.table.columns) == cpm.AMOC_COLUMNS and a.table.empty


def test_input_not_mutated(sg):
    df = toolkit.datasets.load("sgdata")
    before = df.copy()
    detect(df, **toolkit.datasets.roles("sgdata"), progress=False)
    amoc(df, **toolkit.datasets.roles("sgdata"), n_boot=19, progress=False)
    pd.testing.assert_frame_equal(df, before)


def test_settings_record_every_argument(sg):
    res = detect(sg, penalty=5.0, noise_sd="unit", min_size=3, max_changes=2, progress=False)
    for key, value in {
        "model": "mean",
        "penalty": 5.0,
        "noise_sd": "unit",
        "min_size": 3,
        "max_changes": 2,
        "test": False,
        "client": "id",
    }.items():
        assert res.settings[key] == value
    assert "toolkit_version" in res.settings


# --- hand-worked costs ---------------------------------------------------------------------
def test_mean_cost_hand_worked():
    # [0,0,0,10,10,10], sigma 1, MBIC: no change costs RSS 150 + log 6; one change at 4
    # costs 0 + log 3 + log 3 + 3 log 6 (one change, d = 1: (1 + 2) log n).
    res = run([[0, 0, 0, 10, 10, 10]], noise_sd=1.0, min_size=1)
    assert res.table["session"].tolist() == [4]
    assert res.clients["objective"].iloc[0] == pytest.approx(2 * math.log(3) + 3 * math.log(6))
    row = res.table.iloc[0]
    assert (row.pre_mean, row.post_mean, row.jump, row.n_pre, row.n_post) == (0, 10, 10, 3, 3)
    # BIC with a penalty above the RSS saving: no change, objective = RSS
    res = run([[0, 0, 0, 1, 1, 1]], noise_sd=1.0, penalty="BIC", min_size=1)
    assert res.table.empty  # saving 1.5 < 2 log 6
    assert res.clients["objective"].iloc[0] == pytest.approx(1.5)
    # sigma scales the cost: RSS / sigma^2
    res = run([[0, 0, 0, 1, 1, 1]], noise_sd=0.1, penalty="BIC", min_size=1)
    assert res.table["session"].tolist() == [4]
    assert res.clients["objective"].iloc[0] == pytest.approx(2 * math.log(6))


def test_linear_cost_hand_worked():
    # Two perfect lines (slope 1) with a jump of 5 at session 5: RSS 0, BIC (2 + 1) log 8.
    y = [[1, 2, 3, 4, 10, 11, 12, 13]]
    res = run(y, model="linear", noise_sd=1.0, penalty="BIC")
    row = res.table.iloc[0]
    assert row.session == 5 and row.last_pre_session == 4
    assert row.pre_slope == pytest.approx(1) and row.post_slope == pytest.approx(1)
    assert row.jump == pytest.approx(5)  # 10 minus the pre line extrapolated to session 5
    assert (row.pre_mean, row.post_mean) == (2.5, 11.5)
    assert res.clients["objective"].iloc[0] == pytest.approx(3 * math.log(8), abs=1e-9)
    seg = res.segments
    assert seg["fit_start"].tolist() == pytest.approx([1, 10])
    assert seg["fit_end"].tolist() == pytest.approx([4, 13])


def test_broken_stick_hand_worked():
    # Flat at 10 to session 4, then down 2 per session: a knot at session 4 fits exactly.
    y = np.array([[10, 10, 10, 10, 8, 6, 4, 2]], dtype=float)
    res = run(y, model="broken_stick", noise_sd=1.0, penalty="BIC")
    row = res.table.iloc[0]
    assert row.session == 4
    assert row.pre_slope == pytest.approx(0, abs=1e-6)
    assert row.post_slope == pytest.approx(-2, abs=1e-6)
    assert row.jump == 0.0
    # objective = 2 log 8 (d = 1) as RSS is 0; the straight line (oracle: polyfit) is worse
    assert res.clients["objective"].iloc[0] == pytest.approx(2 * math.log(8), abs=1e-6)
    x = np.arange(1, 9)
    rss_line = ((np.polyval(np.polyfit(x, y[0], 1), x) - y[0]) ** 2).sum()
    assert rss_line > 2 * math.log(8)


def test_broken_stick_is_continuous_and_matches_least_squares():
    rng = np.random.default_rng(3)
    x = np.arange(1, 13, dtype=float)
    y = 20 - np.where(x > 6, 1.5 * (x - 6), 0) + rng.normal(0, 0.3, 12)
    res = run([y], model="broken_stick", noise_sd=0.3)
    knot = int(res.table["session"].iloc[0])
    # oracle: ordinary least squares on [1, x, (x - knot)+]
    design = np.column_stack([np.ones(12), x, np.maximum(x - knot, 0)])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    seg = res.segments
    assert seg["slope"].tolist() == pytest.approx([beta[1], beta[1] + beta[2]], abs=1e-6)
    assert seg["fit_start"].iloc[1] == pytest.approx(design[knot - 1] @ beta, abs=1e-6)
    assert abs(knot - 7) <= 1


# --- MBIC as in R's changepoint ------------------------------------------------------------
def test_mbic_penalty_written_out():
    """R changepoint's MBIC for a change in mean (Zhang & Siegmund, 2007, as implemented in
    rkillick/changepoint: R/penalty_decision.R gives pen = (diffparam + 2) log n with
    diffparam = 1, and src/cost_general_functions.c `mbic_mean` adds log(segment length) to
    each segment's cost x2 - x^2/n). The criterion minimised is therefore

        sum_j RSS_j / sigma^2 + 3 m log n + sum_j log n_j.

    Brute force over every segmentation must agree with detect()."""
    rng = np.random.default_rng(11)
    n = 9
    for _ in range(25):
        y = rng.normal(size=n) + np.where(np.arange(n) >= rng.integers(2, 8), 2.5, 0.0)
        best, best_cp = np.inf, None
        for m in range(n):
            for cps in itertools.combinations(range(1, n), m):
                edges = [0, *cps, n]
                crit = sum(
                    ((y[a:b] - y[a:b].mean()) ** 2).sum() + math.log(b - a)
                    for a, b in zip(edges, edges[1:])
                ) + 3 * m * math.log(n)
                if crit < best - 1e-12:
                    best, best_cp = crit, list(cps)
        res = run([y], noise_sd="unit", penalty="MBIC", min_size=1)
        assert [s - 1 for s in res.table["session"]] == best_cp
        assert res.clients["objective"].iloc[0] == pytest.approx(best)
        # R's form differs from Zhang & Siegmund's published 3 m log n + sum log(n_j / n)
        # by (m + 1) log n: one more log n per change.
        zs = sum(
            ((y[a:b] - y[a:b].mean()) ** 2).sum() + math.log((b - a) / n)
            for a, b in zip([0, *best_cp], [*best_cp, n])
        ) + 3 * len(best_cp) * math.log(n)
        assert best - zs == pytest.approx((len(best_cp) + 1) * math.log(n))


def test_bic_and_aic_penalties():
    # One change with RSS saving S is kept iff S > penalty: BIC (d+1) log n, AIC 2 (d+1).
    n = 10
    saving = lambda h: h * h * 25 / 10
    for h in (1.3, 1.4, 1.7, 1.8):
        y = [[0] * 5 + [h] * 5]
        bic = run(y, noise_sd=1.0, penalty="BIC", min_size=1)
        aic = run(y, noise_sd=1.0, penalty="AIC", min_size=1)
        assert (len(bic.table) == 1) == (saving(h) > 2 * math.log(n))
        assert (len(aic.table) == 1) == (saving(h) > 4)
    # linear: two flat pieces fit exactly, so the saving is the single line's RSS (oracle:
    # numpy.polyfit); the change is kept iff that saving exceeds the penalty.
    y = np.array([0, 0, 0, 0, 0, 2, 2, 2, 2, 2.0])
    x = np.arange(1, 11)
    saving_line = ((np.polyval(np.polyfit(x, y, 1), x) - y) ** 2).sum()
    lin = run([y], model="linear", noise_sd=1.0, penalty=saving_line - 0.01)
    assert lin.table["session"].tolist() == [6]
    lin = run([y], model="linear", noise_sd=1.0, penalty=saving_line + 0.01)
    assert lin.table.empty


# --- ruptures as an oracle -----------------------------------------------------------------
@pytest.mark.parametrize("pen", [1.0, 4.0, 12.0])
def test_identical_to_ruptures_pelt(series, pen):
    """l2 cost, same penalty, min_size 1 (where ruptures' PELT pruning is exact)."""
    res = run(series, noise_sd="unit", penalty=pen, min_size=1)
    ours = change_lists(res, len(series))
    for i, y in enumerate(series):
        assert ours[i] == rpt.Pelt(model="l2", min_size=1, jump=1).fit(y).predict(pen=pen)[:-1]


@pytest.mark.parametrize("min_size", [1, 2, 3])
def test_identical_to_ruptures_dynp(series, min_size):
    """Exactly k changes (penalty 0, max_changes k) = ruptures' exact Dynp."""
    for k in (1, 3):
        res = run(series[:120], noise_sd="unit", penalty=0, max_changes=k, min_size=min_size)
        ours = change_lists(res, 120)
        for i, y in enumerate(series[:120]):
            algo = rpt.Dynp(model="l2", min_size=min_size, jump=1).fit(y)
            assert ours[i] == algo.predict(n_bkps=k)[:-1]


@pytest.mark.parametrize("min_size", [2, 3])
def test_penalised_optimum_matches_ruptures(series, min_size):
    """With min_size >= 2: the penalised optimum from ruptures' exact Dynp (best k of
    cost_k + k * pen) is ours; ruptures' PELT agrees except where its pruning misses the
    optimum (deepcharles/ruptures PR #383), and then our objective is strictly lower."""
    pen = 3.0
    sub = series[:150]
    ours = change_lists(run(sub, noise_sd="unit", penalty=pen, min_size=min_size), len(sub))
    pelt_misses = 0
    for i, y in enumerate(sub):
        algo = rpt.Dynp(model="l2", min_size=min_size, jump=1).fit(y)
        cands = [[]] + [algo.predict(n_bkps=k)[:-1] for k in range(1, 6)]
        best = min(cands, key=lambda b: l2_objective(y, b, pen))
        assert l2_objective(y, ours[i], pen) == pytest.approx(l2_objective(y, best, pen))
        pelt = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(y).predict(pen=pen)[:-1]
        if pelt != ours[i]:
            pelt_misses += 1
            assert l2_objective(y, ours[i], pen) < l2_objective(y, pelt, pen)
    assert pelt_misses <= 0.03 * len(sub)


def test_ruptures_pelt_pruning_example():
    # deepcharles/ruptures PR #383: [0, 1, 0, 0, 1], min_size 2, pen 0.1 -> PELT gives a
    # change at 2 (objective 19/15); the optimum is no change (objective 6/5).
    y = np.array([0, 1, 0, 0, 1], dtype=float)
    res = run([y], noise_sd="unit", penalty=0.1, min_size=2)
    assert res.table.empty
    assert res.clients["objective"].iloc[0] == pytest.approx(6 / 5)
    assert l2_objective(y, [2], 0.1) == pytest.approx(19 / 15)


# --- missing sessions ----------------------------------------------------------------------
def test_missing_sessions_use_observed_scores_and_session_numbers():
    rng = np.random.default_rng(8)
    y = rng.normal(size=16) + np.where(np.arange(16) >= 8, 4.0, 0.0)
    gappy = y.copy()
    gappy[[2, 7, 11]] = np.nan
    res = run([gappy], noise_sd=1.0, penalty=3.0, min_size=1)
    observed = y[~np.isnan(gappy)]
    sessions = np.arange(1, 17)[~np.isnan(gappy)]
    bk = rpt.Pelt(model="l2", min_size=1, jump=1).fit(observed).predict(pen=3.0)[:-1]
    assert res.table["session"].tolist() == sessions[bk].tolist()
    assert res.table["session"].isin(sessions).all()
    # A perfect line over irregular sessions has no change: time = session number.
    line = run(
        [[1, 2, 3, 7, 8, 9.0]],
        sessions=[1, 2, 3, 7, 8, 9],
        model="linear",
        noise_sd=1.0,
        min_size=2,
    )
    # objective: RSS 0 plus MBIC's log(segment length) for the single segment
    assert line.table.empty
    assert line.clients["objective"].iloc[0] == pytest.approx(math.log(6), abs=1e-9)


def test_max_changes():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(50, 20)) + np.where(np.arange(20) % 10 >= 5, 5.0, 0.0)
    one = run(y, noise_sd=1.0, max_changes=1)
    assert one.clients["n_changes"].max() == 1
    free = run(y, noise_sd=1.0)
    many = run(y, noise_sd=1.0, max_changes=9)
    pd.testing.assert_frame_equal(free.table, many.table)
    pd.testing.assert_frame_equal(free.clients, many.clients)


# --- scale invariance and the unit-variance setting -----------------------------------------
def test_unit_variance_is_not_scale_invariant():
    """R's Normal mean cost assumes SD 1: on raw BDI-II scores it finds many spurious
    changes; the default (noise SD pooled over clients) and the per-client SD do not."""
    df, truth = trajectories(200, 16, instrument="BDI-II", gain_share=0.5, seed=5)
    kw = dict(
        client="client", session="session", score="score", instrument="BDI-II", progress=False
    )
    unit = detect(df, noise_sd="unit", min_size=1, **kw)
    default = detect(df, **kw)
    with pytest.warns(toolkit.errors.ToolkitWarning, match="median absolute deviation"):
        per_client = detect(df, noise_sd="client", **kw)
    per_client_truth = truth.groupby("client").size().reindex(range(1, 201), fill_value=0)
    assert per_client_truth.max() <= 1
    assert unit.clients["n_changes"].mean() > 4
    assert default.clients["n_changes"].mean() < 1.5
    assert per_client.clients["n_changes"].mean() < 1.5


@settings(max_examples=25, deadline=None)
@given(
    shift=st.floats(-50, 50, allow_nan=False),
    scale=st.floats(0.2, 20, allow_nan=False),
    seed=st.integers(0, 10_000),
    model=st.sampled_from(["mean", "linear"]),
)
def test_invariance(shift, scale, seed, model):
    """Adding a constant, rescaling (default sigma) or permuting clients leaves the change
    sessions unchanged."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(6, 12)) + np.where(
        np.arange(12) >= rng.integers(3, 9, (6, 1)), rng.normal(0, 4, (6, 1)), 0.0
    )
    base = run(y, model=model)
    moved = run(y * scale + shift, model=model)
    key = lambda r: r.table[["client", "session"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(key(base), key(moved))
    perm = rng.permutation(6)
    shuffled = run(y[perm], model=model)
    back = shuffled.table.assign(client=perm[shuffled.table["client"].to_numpy()])
    back = back.sort_values(["client", "session"], ignore_index=True)
    pd.testing.assert_frame_equal(key(base), back[["client", "session"]])


def test_robust_sigma_hand_worked():
    # successive differences of [0, 1, 3, 2, 6, 5]: 1, 2, -1, 4, -1; median 1;
    # |d - 1| = 0, 1, 2, 3, 2 -> MAD 2; SD = 1.4826 * 2 / sqrt(2).
    res = run([[0, 1, 3, 2, 6, 5]], noise_sd="client")
    assert res.clients["noise_sd"].iloc[0] == pytest.approx(1.4826 * 2 / math.sqrt(2))
    # MAD 0 (repeated identical steps): the mean absolute deviation is used, with a warning
    with pytest.warns(toolkit.errors.ToolkitWarning, match="mean absolute deviation"):
        res = run([[0, 0, 0, 0, 9, 9, 9, 9]], noise_sd="client")
    assert res.clients["noise_sd"].iloc[0] == pytest.approx(
        math.sqrt(math.pi / 2) * (9 / 7) / math.sqrt(2)
    )
    assert res.table["session"].tolist() == [5]
    pooled = run([[0, 1, 3, 2, 6, 5], [0, 2, 4, 6, 8, 11]], noise_sd="pooled")
    assert pooled.clients["noise_sd"].nunique() == 1
    # Pooled: the median of every client's |d - its median d|: 0, 1, 2, 3, 2 and, for
    # [0, 2, 4, 6, 8, 11] (d = 2, 2, 2, 2, 3; median 2), 0, 0, 0, 0, 1 -> median 0.5.
    assert pooled.settings["noise_sd_value"] == pytest.approx(1.4826 * 0.5 / math.sqrt(2), rel=1e-4)


# --- skipped clients and bad arguments ------------------------------------------------------
def test_skipped_clients_have_reasons():
    y = np.array(
        [
            [5, 5, 5, 5, 5, 5],  # constant
            [np.nan] * 6,  # all missing
            [1, 2, 3, np.nan, np.nan, np.nan],  # 3 observed < 2 * 2
            [1, 2, 3, 4, 5, 6],  # no noise: equal differences
            [3, 1, 4, 1, 5, 9],  # fine
        ]
    )
    res = run(y, noise_sd="client")
    reasons = dict(zip(res.skipped["client"], res.skipped["reason"]))
    assert set(reasons) == {0, 1, 2, 3}
    assert "constant series" in reasons[0]
    assert "every score is missing" in reasons[1]
    assert "3 observed score(s)" in reasons[2] and "needs at least 4" in reasons[2]
    assert "noise_sd=" in reasons[3]
    assert res.clients["client"].tolist() == [4]
    # with a given sigma the noiseless line is analysed
    assert 3 in run(y, noise_sd=1.0).clients["client"].tolist()
    a = amoc(frame(y), client="c", session="s", score="y", n_boot=9, progress=False)
    assert set(a.skipped["client"]) == {0, 1, 2}


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"model": "quadratic"}, "'model' parameter of detect must be one of"),
        ({"penalty": "HQ"}, "'penalty' parameter of detect must be one of"),
        ({"penalty": -1}, "'penalty' parameter of detect must be a number in"),
        ({"noise_sd": "sd"}, "'noise_sd' parameter of detect must be one of"),
        ({"noise_sd": 0}, "'noise_sd' parameter of detect must be a number in"),
        ({"min_size": 0}, "'min_size' parameter of detect must be a whole number"),
        ({"model": "linear", "min_size": 1}, "needs min_size >= 2"),
        ({"max_changes": -1}, "'max_changes' parameter of detect must be a whole number"),
        ({"n_boot": 0}, "'n_boot' parameter of detect must be a whole number"),
        ({"n_boot": True}, "'n_boot' parameter of detect must be a whole number"),
    ],
)
def test_bad_arguments(sg, kw, match):
    with pytest.raises(ValueError, match=match):
        detect(sg, progress=False, **kw)


def test_bad_amoc_arguments(sg):
    with pytest.raises(ValueError, match="'method' parameter of amoc must be one of"):
        amoc(sg, method="exact", progress=False)
    with pytest.raises(ValueError, match="needs exchangeable scores"):
        amoc(sg, model="linear", method="permutation", progress=False)
    with pytest.raises(ValueError, match="'level' parameter of amoc must be a number in"):
        amoc(sg, level=1.5, progress=False)
    with pytest.raises(ValueError, match="column roles"):
        detect(toolkit.datasets.load("sgdata"), progress=False)


# --- breakthroughs -------------------------------------------------------------------------
def test_breakthrough_uses_direction_and_reliable_change_cutoff():
    # BDI-II manual: SD 12.75, alpha .92; 1.959964 = the 97.5% normal quantile ("1.96")
    cutoff = 1.959964 * math.sqrt(2) * 12.75 * math.sqrt(1 - 0.92)
    from toolkit.reliable_change import rci_cutoff

    assert cutoff == pytest.approx(rci_cutoff("BDI-II"))
    assert cutoff == pytest.approx(
        toolkit.criterion.resolve(None, toolkit.instruments.get("BDI-II")).points
    )
    rows = [
        [
            30,
            31,
            29,
            30,
            31,
            30,
            30 - cutoff - 2,
            30 - cutoff - 1,
            30 - cutoff - 2,
            30 - cutoff - 1,
            30 - cutoff - 2,
            30 - cutoff - 1,
        ],  # big improvement
        [
            30,
            31,
            29,
            30,
            31,
            30,
            30 - cutoff + 3,
            30 - cutoff + 4,
            30 - cutoff + 3,
            30 - cutoff + 4,
            30 - cutoff + 3,
            30 - cutoff + 4,
        ],  # improvement < cut-off
        [10, 11, 9, 10, 11, 10, 40, 41, 40, 41, 40, 41],
    ]  # big worsening
    df = frame(rows)
    res = detect(
        df, client="c", session="s", score="y", instrument="BDI-II", noise_sd=1.0, progress=False
    )
    t = res.table.set_index("client")
    assert t.loc[0, "breakthrough"] and not t.loc[1, "breakthrough"]
    assert not t.loc[2, "breakthrough"]
    assert t.loc[0, "jump_rci"] == pytest.approx(t.loc[0, "jump"] / cutoff)
    assert str(res.table["breakthrough"].dtype) == "boolean"
    # without an instrument there is no cut-off: missing, not False
    with pytest.warns(toolkit.ToolkitWarning, match="reliable-change criterion is not available"):
        plain = run(rows, noise_sd=1.0, reliable_change=None)
    assert plain.table["breakthrough"].isna().all() and plain.table["jump_rci"].isna().all()
    # a measure where higher is better: the increase is the improvement
    up_is_good = toolkit.instruments.Instrument(
        name="UPGOOD",
        full_name="Higher is better",
        min_score=0,
        max_score=100,
        better="higher",
        reliability=0.9,
        clinical_sd=5.0,
        citation="test",
    )
    cut = 1.959964 * math.sqrt(2) * 5.0 * math.sqrt(0.1)
    up = detect(
        frame(
            [
                [40, 41, 40, 41, 40, 41, 60, 61, 60, 61, 60, 61],
                [60, 61, 60, 61, 60, 61, 40, 41, 40, 41, 40, 41],
            ]
        ),
        client="c",
        session="s",
        score="y",
        instrument=up_is_good,
        noise_sd=1.0,
        progress=False,
    )
    assert up.table["breakthrough"].tolist() == [True, False]
    assert up.table["jump_rci"].tolist() == pytest.approx([20 / cut, -20 / cut])


def test_jump_standardised_by_residual_sd():
    rng = np.random.default_rng(1)
    y = np.r_[rng.normal(20, 2, 8), rng.normal(10, 2, 8)]
    res = run([y])
    fitted = np.r_[np.full(8, y[:8].mean()), np.full(8, y[8:].mean())]
    sd = math.sqrt(((y - fitted) ** 2).sum() / (16 - 2))
    assert res.clients["residual_sd"].iloc[0] == pytest.approx(sd)
    assert res.table["jump_sd"].iloc[0] == pytest.approx((y[8:].mean() - y[:8].mean()) / sd)


# --- recovery on simulated truth ------------------------------------------------------------
def test_recovers_simulated_gains():
    """Single gains of 4 noise SDs, no gradual change: recall is high; the per-client
    robust SD (from ~15 integer differences) is noisy, so precision is lower than with the
    pooled SD."""
    df, truth = trajectories(
        300,
        16,
        instrument="BDI-II",
        gain_share=0.5,
        gradual=0.0,
        gradual_sd=0.0,
        gain_size=(4 * 3.37, 0.0),
        seed=21,
    )
    kw = dict(
        client="client", session="session", score="score", instrument="BDI-II", progress=False
    )
    expected = {
        ("mean", "client"): (0.95, 0.65),
        ("mean", "pooled"): (0.95, 0.88),
        ("linear", "pooled"): (0.7, 0.8),
    }
    for (model, sigma), (recall, precision) in expected.items():
        with pytest.warns(toolkit.errors.ToolkitWarning) if sigma == "client" else nullcontext():
            res = detect(df, model=model, noise_sd=sigma, **kw)
        score = detection(truth, res.table, tolerance=1).summary().iloc[0]
        assert score["recall"] > recall, (model, sigma)
        assert score["precision"] > precision, (model, sigma)


# --- at most one change ---------------------------------------------------------------------
def test_amoc_statistic_hand_worked():
    y = np.array([4.0, 6, 5, 5, 12, 10, 11, 11])
    a = amoc(frame([y]), client="c", session="s", score="y", n_boot=19, seed=0, progress=False)
    rss0 = ((y - y.mean()) ** 2).sum()
    rss1 = [
        ((y[:k] - y[:k].mean()) ** 2).sum() + ((y[k:] - y[k:].mean()) ** 2).sum()
        for k in range(2, 7)
    ]
    assert a.table["statistic"].iloc[0] == pytest.approx(1 - min(rss1) / rss0)
    assert a.table["session"].iloc[0] == 5
    assert a.table["jump"].iloc[0] == pytest.approx(11 - 5)


@pytest.mark.parametrize(
    "model, method", [("mean", "bootstrap"), ("mean", "permutation"), ("linear", "bootstrap")]
)
def test_amoc_null_calibration(model, method):
    """Under no change, P(p <= 0.05) is 0.05 (Monte Carlo tests are exact)."""
    rng = np.random.default_rng(17)
    y = 20 + rng.normal(0, 3, size=(1500, 10)) + (0.8 * np.arange(10) if model == "linear" else 0.0)
    missing = rng.random(y.shape) < 0.1
    missing[:, 0] = False
    y[missing] = np.nan
    a = amoc(
        frame(y),
        client="c",
        session="s",
        score="y",
        model=model,
        method=method,
        n_boot=299,
        seed=3,
        progress=False,
    )
    assert 0.025 < (a.table["p_value"] <= 0.05).mean() < 0.08
    assert 0.07 < (a.table["p_value"] <= 0.10).mean() < 0.14


def test_amoc_power_and_confidence_set_coverage():
    rng = np.random.default_rng(9)
    n, t = 400, 12
    k = rng.integers(4, 9, n)
    for jump, least in ((3.0, 0.9), (1.5, 0.83)):
        y = rng.normal(size=(n, t)) + np.where(np.arange(t)[None] >= k[:, None], jump, 0.0)
        a = amoc(
            frame(y),
            client="c",
            session="s",
            score="y",
            n_boot=199,
            level=0.95,
            seed=2,
            progress=False,
        )
        sets = a.confidence_sets
        truth = pd.DataFrame({"client": np.arange(n), "session": k + 1})
        covered = truth.merge(sets, on=["client", "session"], how="left")["in_set"]
        assert covered.fillna(False).mean() >= least
        if jump == 3.0:
            assert (a.table["p_value"] < 0.05).mean() > 0.9
            assert a.table["n_in_set"].mean() < 3
        t_ = a.table
        assert ((t_["ci_lower"] <= t_["session"]) & (t_["session"] <= t_["ci_upper"])).all()


def test_amoc_seeded_and_detect_p_values(sg):
    a1 = amoc(sg, n_boot=99, seed=5, progress=False)
    a2 = amoc(sg, n_boot=99, seed=5, progress=False)
    pd.testing.assert_frame_equal(a1.table, a2.table)
    res = detect(sg, test=True, n_boot=99, seed=5, progress=False)
    merged = res.clients.merge(a1.table, on="client", suffixes=("", "_amoc"))
    np.testing.assert_allclose(merged["p_value"], merged["p_value_amoc"])
    assert res.table["p_value"].notna().all()
    assert detect(sg, progress=False).table["p_value"].isna().all()


# --- plots and report -----------------------------------------------------------------------
def test_segments_plot(sg):
    res = detect(sg, progress=False)
    fig, ax = plt.subplots()
    out = res.plot(client=1, ax=ax)
    assert out is ax
    n_changes = int((res.table["client"] == 1).sum())
    n_segments = int((res.segments["client"] == 1).sum())
    # observed line + one line per segment + one dashed line per change
    assert len(ax.get_lines()) == 1 + n_segments + n_changes
    assert ax.get_ylabel() == "BDI-II" and ax.get_xlabel() == "Session"
    with pytest.raises(ValueError, match="no fitted segments"):
        res.plot(client=999)
    plt.close("all")


def test_segments_plot_skipped_client_names_reason():
    res = run([[5, 5, 5, 5, 5, 5], [3, 1, 4, 1, 5, 9]])
    with pytest.raises(ValueError, match="constant series"):
        res.plot(client=0)
    plt.close("all")


def test_detection_accuracy_plot():
    from toolkit.plots.changepoint import detection_accuracy

    t = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b", "b", "b"],
            "effect_size": [1, 2, 1, 2, 1, 2],
            "f1": [0.2, 0.6, 0.4, 0.8, 0.6, 1.0],
        }
    )
    fig, ax = plt.subplots()
    assert detection_accuracy(t, ax=ax) is ax
    lines = ax.get_lines()
    assert len(lines) == 2
    assert lines[1].get_ydata().tolist() == pytest.approx([0.5, 0.9])  # mean over rows
    with pytest.raises(ValueError, match="no column 'recall'"):
        detection_accuracy(t, y="recall")
    plt.close("all")


def test_detection_accuracy_colours_follow_the_given_order():
    import matplotlib.pyplot as plt

    from toolkit.plots import CYCLE, detection_accuracy

    t = pd.DataFrame(
        {"method": ["b", "b", "a", "a"], "effect_size": [1, 2, 1, 2], "f1": [0.4, 0.9, 0.2, 0.6]}
    )
    fig, ax = plt.subplots()
    detection_accuracy(t, order=["a", "b"], ax=ax)
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert ax.lines[0].get_color() == CYCLE[0]
    assert list(ax.lines[0].get_ydata()) == [0.2, 0.6]
    fig2, ax2 = plt.subplots()
    detection_accuracy(t, ax=ax2)  # default: order of appearance
    assert [line.get_label() for line in ax2.lines] == ["b", "a"]
    with pytest.raises(ValueError, match="not in the table"):
        detection_accuracy(t, order=["c"], ax=ax2)
    plt.close(fig)
    plt.close(fig2)
