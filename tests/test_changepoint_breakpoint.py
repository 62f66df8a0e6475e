"""Tests of toolkit.changepoint.breakpoint: one continuous breakpoint per client (broken
stick) by exact least squares, its delta-method SE and interval, and Davies' test.

Reference values: tests/reference/changepoint_segmented.json (R segmented 1.6-2 and an exact
grid search, written by tests/reference/changepoint_segmented.R for the 13 series of
tests/reference/data/changepoint_breakpoint_series.csv; see tests/reference/README.md).
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import toolkit
from toolkit._results import BREAKTHROUGH_COLUMNS
from toolkit.changepoint import BREAKPOINT_COLUMNS, DAVIES_COLUMNS, breakpoint
from toolkit.data import long_scores

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def segmented():
    series = pd.read_csv(REF / "data" / "changepoint_breakpoint_series.csv", comment="#")
    ref = {
        s["series"]: s
        for s in json.loads((REF / "changepoint_segmented.json").read_text())["series"]
    }
    scores = long_scores(series, client="series", session="session", score="score", better="lower")
    res = breakpoint(scores)
    return ref, series, res, res.table.set_index("client")


def one_sided_se(x, y, psi, strict):
    """The delta-method SE of psi with 1(x > psi) (strict) or 1(x >= psi)."""
    n = len(x)
    design = np.column_stack([np.ones(n), x, np.maximum(x - psi, 0)])
    b = np.linalg.lstsq(design, y, rcond=None)[0]
    rss = ((y - design @ b) ** 2).sum()
    ind = x > psi if strict else x >= psi
    jac = np.column_stack([design, -b[2] * ind])
    return math.sqrt(rss / (n - 4) * np.linalg.inv(jac.T @ jac)[3, 3])


# --- equal to R segmented and to the exact optimum -------------------------------------------
def test_breakpoint_is_the_exact_least_squares_optimum(segmented):
    """psi and RSS equal the exact optimum of the R script (Hudson's two-line solution,
    checked there against a 0.001 grid refined by optimize()) to 1e-9 on all 13 series."""
    ref, _, res, t = segmented
    assert len(t) == 13 and res.skipped.empty
    for name, r in ref.items():
        opt = r["optimum"]
        row = t.loc[name]
        assert row["breakpoint"] == pytest.approx(opt["psi"], abs=1e-9), name
        assert row["rss"] == pytest.approx(opt["rss"], abs=1e-9), name
        assert row["rss"] <= opt["grid_rss"] + 1e-9
        assert row["rss_linear"] == pytest.approx(opt["rss_linear"], abs=1e-9)
        assert row["slope_before"] == pytest.approx(opt["slope_before"], abs=1e-9)
        assert row["slope_after"] == pytest.approx(opt["slope_after"], abs=1e-9)
        assert bool(row["at_session"]) == opt["at_observed_session"]
        intercept = opt["intercept"] + opt["slope_before"] * opt["psi"]  # fit at psi
        assert row["fit_at_breakpoint"] == pytest.approx(intercept, abs=1e-9)


def test_breakpoint_equals_segmented(segmented):
    """Against segmented's fit (best of six starts): between sessions (10 series) psi agrees to
    1e-7; at an optimum exactly at a session (s03, s07, s08) segmented stops short by up to
    2e-5, on either side, with an RSS up to 1e-4 higher."""
    ref, _, _, t = segmented
    kinks = {n for n, r in ref.items() if r["optimum"]["at_observed_session"]}
    assert kinks == {"s03", "s07", "s08"}
    for name, r in ref.items():
        seg = r["segmented"]
        row = t.loc[name]
        tol = 5e-5 if name in kinks else 1e-7
        assert row["breakpoint"] == pytest.approx(seg["psi"], abs=tol), name
        assert row["rss"] <= seg["rss"] + 1e-12
        assert seg["rss"] - row["rss"] < (2e-4 if name in kinks else 1e-10)
        assert row["n_observed"] == r["n"]
    # s03: segmented's own start (the median session) ends on a local optimum at 8.29;
    # the exact search has no start and finds the global optimum at session 12.
    default = ref["s03"]["starts"][0]
    assert default["psi"] == pytest.approx(8.2933, abs=1e-3)
    assert t.loc["s03", "breakpoint"] == 12.0
    assert t.loc["s03", "rss"] < default["rss"] - 2


def test_standard_errors_and_intervals_equal_segmented(segmented):
    """Delta-method SE, t interval with n - 4 df, slopes and their SEs as segmented's
    summary/confint/slope: 1e-6 relative between sessions (segmented's own convergence is
    ~1e-8). At a session the SE depends on the side: segmented reports the side where it
    stopped, the toolkit the larger of the two."""
    ref, series, _, t = segmented
    for name, r in ref.items():
        seg = r["segmented"]
        row = t.loc[name]
        if not r["optimum"]["at_observed_session"]:
            assert row["breakpoint_se"] == pytest.approx(seg["psi_se"], rel=1e-6), name
            assert row["ci_lower"] == pytest.approx(seg["ci"]["lower"], abs=1e-6), name
            assert row["ci_upper"] == pytest.approx(seg["ci"]["upper"], abs=1e-6), name
            assert row["slope_before_se"] == pytest.approx(seg["slopes"]["before_se"], rel=1e-6)
            assert row["slope_after_se"] == pytest.approx(seg["slopes"]["after_se"], rel=1e-6)
            assert row["slope_before"] == pytest.approx(seg["slopes"]["before"], rel=1e-6)
            assert row["slope_after"] == pytest.approx(seg["slopes"]["after"], rel=1e-6)
        else:
            g = series[series["series"] == name]
            x, y = g["session"].to_numpy(float), g["score"].to_numpy(float)
            sides = [one_sided_se(x, y, row["breakpoint"], s) for s in (True, False)]
            assert row["breakpoint_se"] == pytest.approx(max(sides), rel=1e-12)
            assert min(abs(s / seg["psi_se"] - 1) for s in sides) < 1e-4, name
        q = stats.t.ppf(0.975, r["n"] - 4)
        assert row["ci_upper"] - row["breakpoint"] == pytest.approx(q * row["breakpoint_se"])
        assert seg["ci"]["df_residual"] == r["n"] - 4
        assert row["residual_sd"] == pytest.approx(math.sqrt(row["rss"] / (r["n"] - 4)))


def test_davies_test_equals_segmented(segmented):
    """davies.test(lm(score ~ session), seg.Z = ~session) with its defaults (k = 10,
    two-sided): p-values to 1e-9 relative, the statistic at every evaluated psi to 1e-9."""
    ref, _, res, t = segmented
    for name, r in ref.items():
        dv = r["davies"]
        row = t.loc[name]
        assert row["p_value"] == pytest.approx(dv["p_value"], rel=1e-9), name
        assert row["davies_best"] == pytest.approx(dv["best_at"], abs=1e-9)
        proc = res.davies[res.davies["client"] == name]
        assert proc["psi"].tolist() == pytest.approx(dv["psi_values"], abs=1e-9)
        assert proc["statistic"].tolist() == pytest.approx(dv["stat_values"], abs=1e-9)
        assert row["davies_statistic"] == pytest.approx(max(abs(v) for v in dv["stat_values"]))
    assert t.loc["s09", "p_value"] < 0.01 and t.loc["s12", "p_value"] > 0.2


# --- exactness on other data ----------------------------------------------------------------
def test_exact_optimum_against_a_fine_grid():
    """Random series with missed sessions: no psi on a 0.0005 grid over [x_2, x_(n-1)] has a
    smaller RSS, and the grid's best is within one step of the toolkit's psi."""
    rng = np.random.default_rng(12)
    rows = []
    for c in range(25):
        x = np.sort(rng.choice(np.arange(0, 16), size=int(rng.integers(6, 14)), replace=False))
        psi = rng.uniform(x[1], x[-2])
        y = 25 - 0.3 * x - rng.uniform(0.5, 3) * np.maximum(x - psi, 0) + rng.normal(0, 1, len(x))
        rows.append(pd.DataFrame({"c": c, "s": x, "y": y}))
    df = pd.concat(rows, ignore_index=True)
    res = breakpoint(df, client="c", session="s", score="y", better="lower")
    assert np.isfinite(res.table["breakpoint_se"]).all()  # also at x_2 or x_(n-1)
    for c, g in df.groupby("c"):
        x, y = g["s"].to_numpy(float), g["y"].to_numpy(float)
        grid = np.arange(x[1], x[-2] + 1e-12, 0.0005)
        design = np.stack(
            [
                np.ones((len(grid), len(x))),
                np.broadcast_to(x, (len(grid), len(x))),
                np.maximum(x[None, :] - grid[:, None], 0),
            ],
            axis=2,
        )
        gram = np.einsum("gnp,gnq->gpq", design, design)
        coef = np.linalg.solve(gram, np.einsum("gnp,n->gp", design, y)[..., None])[..., 0]
        rss = ((y[None, :] - np.einsum("gnp,gp->gn", design, coef)) ** 2).sum(axis=1)
        row = res.table[res.table["client"] == c].iloc[0]
        assert row["rss"] <= min(rss) + 1e-9
        assert abs(grid[int(np.argmin(rss))] - row["breakpoint"]) <= 0.0005 + 1e-9 or (
            min(rss) - row["rss"] < 1e-6
        )


def test_perfect_broken_stick_and_invariance():
    # flat at 10 to session 4, then down 2 per session: psi = 4, RSS 0, SE 0, p = 0
    df = pd.DataFrame({"id": 1, "s": range(1, 9), "y": [10, 10, 10, 10, 8, 6, 4, 2.0]})
    row = breakpoint(df, client="id", session="s", score="y", better="lower").table.iloc[0]
    assert row["breakpoint"] == pytest.approx(4) and row["rss"] == pytest.approx(0, abs=1e-20)
    assert row["slope_before"] == pytest.approx(0, abs=1e-9)
    assert row["slope_after"] == pytest.approx(-2)
    assert row["session"] == 4 and bool(row["at_session"])
    assert row["p_value"] < 1e-3  # Davies' grid (2, 2.56, ..., 7) misses 4 itself
    # a client's answer does not depend on the other clients, on shifts or on rescaling
    rng = np.random.default_rng(4)
    y = 20 - np.maximum(np.arange(12) - 5.3, 0) * 1.5 + rng.normal(0, 1, (30, 12))
    frame = pd.DataFrame(
        {"c": np.repeat(np.arange(30), 12), "s": np.tile(np.arange(12), 30), "y": y.ravel()}
    )
    kw = dict(client="c", session="s", score="y", better="lower")
    all_ = breakpoint(frame, **kw).table
    alone = breakpoint(frame[frame["c"] == 7], **kw).table
    pd.testing.assert_frame_equal(all_[all_["client"] == 7].reset_index(drop=True), alone)
    moved = breakpoint(frame.assign(y=frame["y"] * 3 + 10), **kw).table
    assert moved["breakpoint"].to_numpy() == pytest.approx(all_["breakpoint"].to_numpy())
    assert moved["p_value"].to_numpy() == pytest.approx(all_["p_value"].to_numpy())
    assert moved["slope_after"].to_numpy() == pytest.approx(3 * all_["slope_after"].to_numpy())


# --- contract -------------------------------------------------------------------------------
def test_contract_skips_and_errors(segmented):
    _, _, res, _ = segmented
    assert list(res.table.columns) == BREAKPOINT_COLUMNS
    assert list(res.davies.columns) == DAVIES_COLUMNS
    assert list(res.summary().columns) == toolkit.changepoint.BREAKPOINT_SUMMARY_COLUMNS
    assert res.summary()["n_significant"].iloc[0] == int((res.table["p_value"] < 0.05).sum())
    assert res.table["session"].dtype == np.int64 and res.table["at_session"].dtype == bool
    bt = res.breakthroughs(direction="both")
    assert list(bt.columns) == BREAKTHROUGH_COLUMNS and bt.empty
    with pytest.raises(ValueError, match="'direction' parameter"):
        res.breakthroughs(direction="up")
    text = res.methods_text()
    for ref in (
        "Davies, R. B. (1987)",
        "Davies, R. B. (2002)",
        "Hudson, D. J. (1966)",
        "Muggeo, V. M. R. (2003)",
        "Muggeo, V. M. R. (2008)",
    ):
        assert ref in text
    back = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(back.table, res.table)
    for key in ("toolkit_version", "seed", "reliable_change_points", "level", "n_points"):
        assert key in res.settings
    df = pd.DataFrame(
        {
            "c": np.repeat([1, 2, 3, 4], 6),
            "s": np.tile(np.arange(6), 4),
            "y": [5, 5, 5, 5, 5, 5]  # constant
            + [1, 2, 3, 4, 5, 6]  # a straight line
            + [3, 1, 4, np.nan, np.nan, 2]  # 4 observed
            + [9, 7, 8, 4, 2, 1],
        }
    )
    out = breakpoint(df, client="c", session="s", score="y", better="lower")
    reasons = dict(zip(out.skipped["client"], out.skipped["reason"]))
    assert set(reasons) == {1, 2, 3} and out.table["client"].tolist() == [4]
    assert "constant series" in reasons[1]
    assert "straight line" in reasons[2]
    assert "4 observed score(s)" in reasons[3] and "needs at least 5" in reasons[3]
    for kw, match in (
        ({"level": 1.0}, "'level' parameter of breakpoint"),
        ({"alpha": 0}, "'alpha' parameter of breakpoint"),
        ({"n_points": 1}, "'n_points' parameter of breakpoint"),
    ):
        with pytest.raises(ValueError, match=match):
            breakpoint(df, client="c", session="s", score="y", better="lower", **kw)


def test_plot(segmented):
    _, _, res, t = segmented
    fig, ax = plt.subplots()
    assert res.plot(client="s01", ax=ax) is ax
    assert ax.get_xlabel() == "Session" and "Davies p" in ax.get_title()
    assert len(ax.get_lines()) == 3  # observed, broken stick, breakpoint
    assert res.plot(ax=ax) is ax  # default: the smallest p-value
    with pytest.raises(ValueError, match="has no breakpoint"):
        res.plot(client="nobody")
    plt.close("all")
