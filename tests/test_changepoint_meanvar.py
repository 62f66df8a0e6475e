"""Tests of the mean-and-variance change-point model (``detect(model="meanvar")``), the PELT
search of R's changepoint, and the difference between ``max_changes=1`` and R's AMOC rule.

Reference values: tests/reference/changepoint_meanvar.json, written by
tests/reference/changepoint_meanvar.R from the series of changepoint_meanvar_make_series.py
(see tests/reference/changepoint_meanvar.md).
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit.changepoint import detect
from toolkit.changepoint._detect import resolution
from toolkit.changepoint._packed import pack
from toolkit.data import long_scores

REF = Path(__file__).parent / "reference"
LOG_2PI = math.log(2 * math.pi)


# --- helpers -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    series = pd.read_csv(REF / "data" / "changepoint_meanvar_series.csv", comment="#")
    ref = json.loads((REF / "changepoint_meanvar.json").read_text())
    scores = long_scores(
        series,
        client="series",
        session="position",
        score="score",
        better="lower",
        reliable_change=5.0,
    )
    values = {k: g["score"].to_numpy(float) for k, g in series.groupby("series")}
    return {s["series"]: s for s in ref["series"]}, ref, scores, values


def frame(matrix) -> pd.DataFrame:
    matrix = np.asarray(matrix, dtype=float)
    n, t = matrix.shape
    return pd.DataFrame(
        {"c": np.repeat(np.arange(n), t), "s": np.tile(np.arange(1, t + 1), n), "y": matrix.ravel()}
    )


def run(matrix, reliable_change=5.0, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("model", "meanvar")
    scores = long_scores(
        frame(matrix),
        client="c",
        session="s",
        score="y",
        better="lower",
        reliable_change=reliable_change,
    )
    return detect(scores, **kw)


def positions(res, clients):
    """R's change points (last position before each change, 1-based) per client."""
    out = {c: [] for c in clients}
    for c, s in zip(res.table["client"], res.table["session"]):
        out[c].append(int(s) - 1)
    return out


def seg_cost(y, a, b, *, mbic=True, min_var=0.0, mean_only=False):
    """R changepoint's segment cost written out (two-pass variance, numpy only)."""
    seg = y[a:b]
    n = b - a
    if mean_only:  # cpt.mean: unit variance
        return ((seg - seg.mean()) ** 2).sum() + (math.log(n) if mbic else 0.0)
    v = float(np.var(seg))
    v = v if v > 0 else 1e-11
    v = max(v, min_var)
    return n * (LOG_2PI + math.log(v) + 1) + (math.log(n) if mbic else 0.0)


def criterion(y, cpts, pen, **kw):
    """Penalised cost of the segmentation with changes after positions ``cpts`` (1-based)."""
    edges = [0, *cpts, len(y)]
    return sum(seg_cost(y, a, b, **kw) for a, b in zip(edges, edges[1:])) + pen * len(cpts)


def brute_force(y, pen, min_size=2, **kw):
    """Best segmentation over every segmentation (segments of at least ``min_size``)."""
    n = len(y)
    best, arg = math.inf, None
    for m in range(n // min_size):
        for cps in itertools.combinations(range(min_size, n - min_size + 1), m):
            edges = [0, *cps, n]
            if min(b - a for a, b in zip(edges, edges[1:])) < min_size:
                continue
            c = criterion(y, list(cps), pen, **kw)
            if c < best - 1e-12:
                best, arg = c, list(cps)
    return arg, best


CASES = {
    # key in the JSON: detect() options, the penalty per change, seg_cost options
    "meanvar_pelt_mbic": (dict(model="meanvar", search="pelt", min_sd=0), 4, {}),
    "meanvar_exact_mbic": (dict(model="meanvar", min_sd=0), 4, {}),
    "meanvar_pelt_bic": (
        dict(model="meanvar", search="pelt", min_sd=0, penalty="BIC"),
        3,
        {"mbic": False},
    ),
    "meanvar_exact_bic": (dict(model="meanvar", min_sd=0, penalty="BIC"), 3, {"mbic": False}),
    "mean_pelt_mbic": (
        dict(model="mean", search="pelt", noise_sd="unit", min_size=1),
        3,
        {"mean_only": True},
    ),
}


# --- equal to R changepoint -----------------------------------------------------------------
@pytest.mark.parametrize("key", list(CASES))
def test_equal_to_r_changepoint(reference, key):
    """cpt.meanvar / cpt.mean (PELT, and the exact optimum of the same criterion) on 506
    series. Objectives agree to 1e-5 (R sums raw scores, so a near-constant segment loses
    digits to cancellation: at most 5.5e-6 here); change points are the same except on exact
    ties of whole-point scores, which rounding breaks one way in R and the other here: there
    R's segmentation has our objective to 1e-9."""
    ref, _, scores, values = reference
    options, k, cost_kw = CASES[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)  # identical-score segments
        res = detect(scores, progress=False, **options)
    ours = positions(res, ref)
    objective = res.clients.set_index("client")["objective"]
    ties = 0
    for name, r in ref.items():
        expected = r[key]
        assert objective[name] == pytest.approx(expected["objective"], abs=1e-5), name
        if ours[name] != expected["cpts"]:
            y = values[name]
            pen = k * math.log(len(y))
            theirs = criterion(y, expected["cpts"], pen, **cost_kw)
            assert theirs == pytest.approx(objective[name], abs=1e-9), name
            ties += 1
    assert ties <= 3
    assert len(res.clients) == len(ref) and res.skipped.empty


def test_exact_search_is_the_minimum_where_pelt_misses_it(reference):
    """R's PELT with MBIC prunes with a rule the log(length) term breaks: on 24 of the 506
    series its segmentation costs more than the optimum, which search="exact" finds."""
    ref, meta, scores, _ = reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        exact = detect(scores, model="meanvar", min_sd=0, progress=False)
        pelt = detect(scores, model="meanvar", min_sd=0, search="pelt", progress=False)
    e = exact.clients.set_index("client")["objective"]
    p = pelt.clients.set_index("client")["objective"]
    missed = [
        k
        for k, r in ref.items()
        if r["meanvar_pelt_mbic"]["objective"] > r["meanvar_exact_mbic"]["objective"] + 1e-9
    ]
    assert len(missed) == meta["summary"]["pelt_mbic_above_exact"] == 24
    assert (e <= p + 1e-9).all()
    assert (p[missed] > e[missed] + 1e-3).all()
    assert ((p > e + 1e-9).sum()) == 24


@pytest.mark.parametrize("min_sd", [0.0, 0.5, "resolution"])
def test_brute_force_over_every_segmentation(min_sd):
    """Exact search = enumeration of all segmentations (segments >= 2), for R's variance rule,
    a floor in points and the default resolution floor, on Gaussian and whole-point data."""
    rng = np.random.default_rng(31)
    rows = []
    for i in range(40):
        n = int(rng.integers(6, 11))
        y = 20 + rng.normal(0, 3, n)
        k = int(rng.integers(2, n - 1))
        y[k:] = 14 + rng.normal(0, rng.choice([0.5, 3.0]), n - k)
        if i % 2:
            y = np.round(y)
        rows.append(np.r_[y, np.full(10 - n, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        res = run(np.array(rows), min_sd=min_sd)
    ours = positions(res, range(len(rows)))
    objective = res.clients.set_index("client")["objective"]
    for i, row in enumerate(rows):
        y = row[~np.isnan(row)]
        whole = np.allclose(y, np.round(y))
        floor = (1 / 12 if whole else 0.0) if min_sd == "resolution" else float(min_sd) ** 2
        cps, best = brute_force(y, 4 * math.log(len(y)), min_var=floor)
        assert ours[i] == cps, i
        assert objective[i] == pytest.approx(best, abs=1e-9)


# --- R's conventions: minimum segment length, zero variance ---------------------------------
def test_zero_variance_segment_hand_worked():
    """[5, 5, 9, 1, 7, 3, 8, 2, 6, 4]: with R's rule the two equal scores are a segment of
    variance 0, costed as 1e-11: 2 (log 2 pi + log 1e-11 + 1) + log 2, so R (series m0506 of
    the reference) puts a change after them. The resolution floor (whole points: variance
    1/12) removes that artefact."""
    y = [5.0, 5, 9, 1, 7, 3, 8, 2, 6, 4]
    with pytest.warns(toolkit.ToolkitWarning, match="segment of identical scores"):
        r_rule = run([y], min_sd=0)
    assert r_rule.table["session"].tolist() == [3]
    rest = np.array(y[2:])
    expected = (
        2 * (LOG_2PI + math.log(1e-11) + 1)
        + math.log(2)
        + 8 * (LOG_2PI + math.log(rest.var()) + 1)
        + math.log(8)
        + 4 * math.log(10)
    )
    assert r_rule.clients["objective"].iloc[0] == pytest.approx(expected)
    assert r_rule.table["pre_sd"].iloc[0] == 0.0
    assert r_rule.table["post_sd"].iloc[0] == pytest.approx(rest.std())
    with warnings.catch_warnings():
        warnings.simplefilter("error", toolkit.ToolkitWarning)
        default = run([y])
    assert default.table.empty
    assert default.settings["min_sd"] == "resolution"
    full = np.array(y)
    assert default.clients["objective"].iloc[0] == pytest.approx(
        10 * (LOG_2PI + math.log(full.var()) + 1) + math.log(10)
    )
    # a floor in points: a variance below min_sd^2 costs min_sd^2
    floored = run([y], min_sd=3.0)
    assert floored.table.empty
    assert floored.clients["objective"].iloc[0] == pytest.approx(
        10 * (LOG_2PI + math.log(max(full.var(), 9.0)) + 1) + math.log(10)
    )


def test_resolution_of_recorded_scores():
    sessions = np.arange(6)
    m = np.array(
        [
            [3, 4, 5, 6, 7, 8],  # whole points
            [3.1, 4.2, 5.0, 6.3, 7.1, 8.9],  # one decimal
            [3.25, 4.5, 5.75, 6, 7, 8],  # two decimals
            [math.pi, 2, 3, 4, 5, 6],  # full precision
            [1000, 2000, 3000, 4000, 5000, 6000],  # large whole numbers
        ],
        dtype=float,
    )
    p = pack(m, sessions, np.arange(5))
    assert resolution(p).tolist() == pytest.approx([1.0, 0.1, 0.01, 0.0, 1.0])


def test_min_size_convention():
    """R's cpt.meanvar needs minseglen >= 2 (it changes 1 to 2 with a warning); detect()
    does not change an argument silently: min_size=1 is an error, 2 the default."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=(30, 12)) * np.where(np.arange(12) >= 6, 0.2, 3.0)
    res = run(y)
    assert res.settings["min_size"] == 2
    assert (res.segments["n"] >= 2).all()
    with pytest.raises(ValueError, match="needs min_size >= 2"):
        run(y, min_size=1)
    three = run(y, min_size=3)
    assert (three.segments["n"] >= 3).all()
    # a client needs 2 * min_size observed sessions
    short = run([[1.0, 5.0, 2.0, np.nan, np.nan, np.nan]])
    assert "needs at least 4" in short.skipped["reason"].iloc[0]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"model": "meanvar", "noise_sd": "pooled"}, "takes no noise_sd"),
        ({"model": "meanvar", "noise_sd": 2.0}, "takes no noise_sd"),
        ({"model": "mean", "min_sd": 0.5}, "min_sd is the smallest segment SD"),
        ({"model": "meanvar", "min_sd": -1}, "'min_sd' parameter of detect must be a number"),
        ({"model": "meanvar", "min_sd": "rounding"}, "'min_sd' parameter of detect must be one"),
        ({"model": "meanvar", "min_sd": True}, "'min_sd' parameter of detect must be a number"),
        ({"search": "fast"}, "'search' parameter of detect must be one of"),
        ({"model": "linear", "search": "pelt"}, "'mean' and 'meanvar' models only"),
        ({"model": "meanvar", "search": "pelt", "max_changes": 1}, "no limit on the number"),
    ],
)
def test_bad_options(kw, match):
    sg = toolkit.datasets.load_scores("sgdata")
    with pytest.raises(ValueError, match=match):
        detect(sg, progress=False, **kw)


# --- tables, breakthroughs, the per-client view ---------------------------------------------
def test_tables_report_segment_sds_and_breakthroughs():
    rng = np.random.default_rng(5)
    stable = np.r_[20 + rng.normal(0, 4, 8), 20 + rng.normal(0, 0.4, 8)]  # became stable
    drop = np.r_[25 + rng.normal(0, 1, 8), 12 + rng.normal(0, 1, 8)]  # improved by 13
    worse = np.r_[12 + rng.normal(0, 1, 8), 25 + rng.normal(0, 1, 8)]  # deteriorated
    res = run([stable, drop, worse], reliable_change=6.0)
    t = res.table.set_index("client")
    assert list(res.table.columns) == toolkit.changepoint.CHANGE_COLUMNS
    assert set(t.index) == {0, 1, 2} and len(t) == 3
    assert t.loc[0, "session"] == 9 and t.loc[0, "pre_sd"] > 5 * t.loc[0, "post_sd"]
    for c, y in enumerate([stable, drop, worse]):
        k = int(t.loc[c, "session"]) - 1
        assert t.loc[c, "pre_sd"] == pytest.approx(y[:k].std())
        assert t.loc[c, "post_sd"] == pytest.approx(y[k:].std())
        assert t.loc[c, "jump"] == pytest.approx(y[k:].mean() - y[:k].mean())
        assert t.loc[c, "pre_slope"] == 0 and t.loc[c, "post_slope"] == 0
    data = [stable, drop, worse]
    for row in res.segments.itertuples():
        part = data[row.client][row.first_session - 1 : row.last_session]
        assert row.sd == pytest.approx(part.std()) and row.mean == pytest.approx(part.mean())
    # a breakthrough is an improving jump in the mean of at least the criterion
    assert t["breakthrough"].tolist() == [False, True, False]
    bt = res.breakthroughs(direction="both")
    assert bt["client"].tolist() == [1, 2]
    assert bt["direction"].tolist() == ["improvement", "deterioration"]
    view = res.client_view()
    assert view["cp_flag"].tolist() == [False, True, False]
    # the variance change has no reliable jump in the mean
    assert view.loc[0, "cp_note"] == (
        "only worsening changes"
        if t.loc[0, "jump"] > 0
        else "change too small for the 6-point reliable-change criterion"
    )
    assert view.loc[2, "cp_note"] == "only worsening changes"
    assert np.isnan(res.clients["noise_sd"]).all()
    assert res.summary()["noise_sd"].iloc[0] == "per segment"
    text = res.methods_text()
    assert "own mean and variance" in text and "Sheppard, W. F. (1898)" in text
    assert "Zhang, N. R., & Siegmund" in text and "Jackson, B." in text
    # the per-client table of toolkit.per_client runs on this result
    from toolkit.per_client import breakthroughs

    answer = breakthroughs(res.scores, methods=[res])
    assert answer.table["cp_flag"].tolist() == [False, True, False]


def test_at_most_one_change_p_values_for_meanvar():
    """detect(model="meanvar", test=True): a Monte Carlo likelihood-ratio p-value (Gaussian
    noise; the statistic is location- and scale-free), calibrated under no change and small
    for a client who became stable."""
    rng = np.random.default_rng(7)
    null = 20 + rng.normal(0, 3, (800, 10))
    res = run(null, test=True, n_boot=199, seed=4)
    share = (res.clients["p_value"] <= 0.05).mean()
    assert 0.025 < share < 0.085
    calm = np.r_[20 + rng.normal(0, 4, 8), 20 + rng.normal(0, 0.3, 8)]
    one = run([calm], test=True, n_boot=199, seed=4)
    assert one.clients["p_value"].iloc[0] < 0.02
    assert one.table["p_value"].notna().all()


def test_meanvar_is_invariant_to_location_and_scale_of_continuous_scores():
    rng = np.random.default_rng(3)
    y = 20 + rng.normal(0, 3, (40, 14)) * np.where(np.arange(14) >= 7, 0.3, 1.0)
    key = lambda r: r.table[["client", "session"]].reset_index(drop=True)
    base = run(y)
    pd.testing.assert_frame_equal(key(base), key(run(y * 2.5 - 7)))
    # and a client's answer does not depend on the other clients
    alone = run(y[[5]])
    mine = base.table[base.table["client"] == 5]["session"].tolist()
    assert alone.table["session"].tolist() == mine


# --- max_changes=1 is not R's AMOC ----------------------------------------------------------
def test_max_changes_1_is_not_r_amoc(reference):
    """R's cpt.meanvar / cpt.mean(method="AMOC", penalty="MBIC") use another MBIC (pen
    3 log n even for mean and variance; log(tau) + log(n - tau + 1) on the alternative only;
    tau up to n - minseglen + 1, so the last segment may be one session shorter than
    minseglen). detect(max_changes=1) is the best single change under the PELT criterion
    and is documented as not being that rule."""
    ref, _, scores, values = reference
    assert "not* R's" in detect.__doc__ and "AMOC" in detect.__doc__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        mv = detect(scores, model="meanvar", min_sd=0, max_changes=1, progress=False)
        mean = detect(scores, noise_sd="unit", min_size=1, max_changes=1, progress=False)
    disagree = {}
    for label, res, key in (
        ("meanvar", mv, "meanvar_amoc_mbic"),
        ("mean", mean, "mean_amoc_mbic"),
    ):
        ours = positions(res, ref)
        n_diff = 0
        for name, r in ref.items():
            amoc = r[key]
            n = r["n"]
            # R's AMOC decision, recomputed from its parts
            assert amoc["pen"] == pytest.approx(3 * math.log(n))
            assert (amoc["cpt"] is not None) == (amoc["null"] - amoc["alt"] >= amoc["pen"])
            theirs = [] if amoc["cpt"] is None else [amoc["cpt"]]
            if theirs != ours[name]:
                n_diff += 1
        disagree[label] = n_diff
    assert disagree["meanvar"] > 100 and disagree["mean"] > 20
    # Worked example, series m0001 (8 Gaussian scores, no true change): R's AMOC puts the
    # change at tau = 7, leaving one score after it, whose variance is 0 up to the rounding
    # of R's cumulative sums (a residue of about 2e-13 here; an exact 0 would be floored at
    # 1e-10): its log-variance, about -29, decides the change. max_changes=1 keeps segments
    # of at least 2 and finds tau = 2.
    r = ref["m0001"]["meanvar_amoc_mbic"]
    y = values["m0001"]
    assert r["cpt"] == 7 == len(y) - 1
    last_log_var = r["alt"] - 7 * math.log(y[:7].var()) - math.log(7) - math.log(8 - 7 + 1)
    assert last_log_var <= math.log(1e-10) + 1e-9
    assert r["null"] == pytest.approx(8 * math.log(y.var()))
    assert r["null"] - r["alt"] >= r["pen"]
    assert positions(mv, ref)["m0001"] == [2]


# --- plots ----------------------------------------------------------------------------------
def test_meanvar_segments_plot_draws_sd_bands():
    rng = np.random.default_rng(5)
    y = np.r_[20 + rng.normal(0, 4, 8), 20 + rng.normal(0, 0.4, 8)]
    res = run([y])
    fig, ax = plt.subplots()
    assert res.plot(client=0, ax=ax) is ax
    assert len(ax.collections) == 2  # one band per segment
    plt.close("all")
