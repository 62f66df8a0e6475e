"""Reliable change and clinical significance: published formulas, published results, contracts."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from toolkit import datasets, instruments
from toolkit.errors import (
    DuplicateSessionError,
    EmptyDataError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
    UnknownNameError,
)
from toolkit.errors import ToolkitWarning as toolkit_warning
from toolkit.reliable_change import (
    CATEGORIES,
    COEFFICIENT_COLUMNS,
    METHODS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    cutoffs,
    from_prepost,
    rci_cutoff,
    reliable_change,
)
from toolkit.simulate import trajectories

# Three clients, two sessions, with round sample statistics (lower is better):
#   pre  = 20, 30, 40  -> M1 = 30, s1 = 10
#   post = 30, 10, 38  -> M2 = 26, s2^2 = (16 + 256 + 144) / 2 = 208, cov = (-40 + 0 + 120)/2 = 40
HAND = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3], "t": [1, 2] * 3, "y": [20.0, 30, 30, 10, 40, 38]})
HAND_ARGS = dict(client="id", session="t", score="y", better="lower", reliability=0.8, cutoff=None)


def hand_rci(method: str, **options) -> np.ndarray:
    return reliable_change(HAND, method=method, **{**HAND_ARGS, **options}).table["rci"].to_numpy()


# --- hand-worked formulas -------------------------------------------------------------------
def test_jacobson_truax_by_hand():
    # Jacobson & Truax (1991): SE = s1 sqrt(1 - r) = 10 sqrt(0.2) = 4.47214,
    # S_diff = sqrt(2) SE = sqrt(40) = 6.32456, RCI = (x2 - x1) / S_diff.
    s_diff = math.sqrt(2 * 10**2 * (1 - 0.8))
    assert s_diff == pytest.approx(6.324555)
    expected = [10 / s_diff, -20 / s_diff, -2 / s_diff]  # 1.58114, -3.16228, -0.31623
    np.testing.assert_allclose(hand_rci("jacobson_truax"), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [1.581139, -3.162278, -0.316228], atol=1e-6)


def test_jacobson_truax_with_a_given_sd_and_critical_band():
    # SD 10, r = .84: SE = 10 * 0.4 = 4, S_diff = 5.65685; a drop of 12 gives RCI = -2.12132,
    # beyond -1.96, so reliable improvement on a lower-is-better scale; 1.96 * S_diff = 11.087.
    result = reliable_change(HAND, **{**HAND_ARGS, "reliability": 0.84}, sd=10.0)
    p = result.parameters
    assert p["se_measurement"] == pytest.approx(4.0)
    assert p["s_diff"] == pytest.approx(5.656854)
    assert p["rc_points"] == pytest.approx(1.959964 * 5.656854, rel=1e-6)
    df = pd.DataFrame({"id": [1, 1], "t": [1, 2], "y": [30.0, 18]})
    one = reliable_change(df, **{**HAND_ARGS, "reliability": 0.84}, sd=10.0).table.iloc[0]
    assert one["rci"] == pytest.approx(-2.121320)
    assert one["reliable_improvement"] and one["category"] == "reliably improved"


def test_gulliksen_lord_novick_by_hand():
    # Hsu (1989, 1995): RCI = [(x2 - M1) - r (x1 - M1)] / (s1 sqrt(1 - r^2)); s1 sqrt(.36) = 6.
    expected = [
        ((30 - 30) - 0.8 * (20 - 30)) / 6,  # 8/6   = 1.33333
        ((10 - 30) - 0.8 * (30 - 30)) / 6,  # -20/6 = -3.33333
        ((38 - 30) - 0.8 * (40 - 30)) / 6,
    ]  # 0
    np.testing.assert_allclose(hand_rci("gulliksen_lord_novick"), expected, atol=1e-12)


def test_hsu_linn_lord_by_hand():
    # Hsu (1989): RCI = [(x2 - M2) - r (x1 - M1)] / (s1 sqrt(1 - r^2)), M2 = 26.
    expected = [
        ((30 - 26) - 0.8 * (20 - 30)) / 6,  # 12/6 = 2
        ((10 - 26) - 0.8 * (30 - 30)) / 6,  # -16/6 = -2.66667
        ((38 - 26) - 0.8 * (40 - 30)) / 6,
    ]  # 4/6 = 0.66667
    np.testing.assert_allclose(hand_rci("HLL"), expected, atol=1e-12)


def test_edwards_nunnally_by_hand():
    # Speer (1992): estimated true pre score r (x1 - M1) + M1 = 22, 30, 38; SE = 4.47214;
    # RCI = (x2 - true pre) / SE.
    se = 10 * math.sqrt(0.2)
    expected = [(30 - 22) / se, (10 - 30) / se, (38 - 38) / se]  # 1.78885, -4.47214, 0
    np.testing.assert_allclose(hand_rci("edwards_nunnally"), expected, atol=1e-12)


def test_edwards_nunnally_speer_two_se_interval_through_alpha():
    # Speer (1992) used +/- 2 SE: alpha = 2 * P(Z > 2) = 0.0455 gives the critical value 2.
    result = reliable_change(HAND, method="EN", alpha=2 * norm.sf(2), **HAND_ARGS)
    assert result.parameters["critical_value"] == pytest.approx(2.0)


def test_nunnally_kotsch_by_hand():
    # Nunnally & Kotsch (1983): denominator sqrt(r1^2 s^2 (1 - r1) + s^2 (1 - r2)) with
    # r1 = .8, r2 = .7: sqrt(0.64 * 100 * 0.2 + 100 * 0.3) = sqrt(42.8) = 6.54217.
    d = math.sqrt(0.64 * 100 * 0.2 + 100 * 0.3)
    expected = [(30 - 22) / d, (10 - 30) / d, 0.0]  # 1.22284, -3.05709, 0
    np.testing.assert_allclose(
        hand_rci("nunnally_kotsch", reliability_post=0.7), expected, atol=1e-12
    )
    # Without reliability_post the post reliability equals the pre reliability.
    d_same = math.sqrt(0.64 * 100 * 0.2 + 100 * 0.2)
    np.testing.assert_allclose(hand_rci("NK")[0], 8 / d_same)


def test_hageman_arrindell_by_hand():
    # Hageman & Arrindell (1999): SE^2 = 20; r_xx1 = 1 - 20/100 = .8, r_xx2 = 1 - 20/208;
    # s1 s2 r12 = cov = 40. r_DD = (100*.8 + 208*(1 - 20/208) - 2*40) / (100 + 208 - 80)
    #                           = (80 + 188 - 80) / 228 = 0.824561.
    r_dd = 188 / 228
    denom = math.sqrt(r_dd) * math.sqrt(2 * 20)  # 0.908054 * 6.324555 = 5.743030
    expected = [
        (10 * r_dd + (26 - 30) * (1 - r_dd)) / denom,  # 7.543860 / 5.743030 = 1.31357
        (-20 * r_dd + (26 - 30) * (1 - r_dd)) / denom,  # -17.192982 / 5.743030 = -2.99371
        (-2 * r_dd + (26 - 30) * (1 - r_dd)) / denom,
    ]
    result = reliable_change(HAND, method="hageman_arrindell", **HAND_ARGS)
    np.testing.assert_allclose(result.table["rci"], expected, atol=1e-12)
    np.testing.assert_allclose(expected[:2], [1.313567, -2.993710], atol=1e-5)
    assert result.parameters["r_dd"] == pytest.approx(r_dd)
    # One-sided criterion: 1.645 at alpha = .05 (Hageman & Arrindell's 1.65).
    assert result.parameters["critical_value"] == pytest.approx(1.644854, abs=1e-6)
    assert result.parameters["sided"] == "one"


def test_rci_cutoff_by_hand():
    # BDI-II manual: clinical SD 12.75, alpha .92: 1.96 * sqrt(2) * 12.75 * sqrt(.08) = 9.996.
    assert rci_cutoff("BDI-II") == pytest.approx(9.996, abs=5e-4)
    assert 1.96 * math.sqrt(2) * 12.75 * math.sqrt(1 - 0.92) == pytest.approx(9.996, abs=5e-4)
    # Explicit numbers override the registry: 1.959964 * sqrt(2) * 7.5 * sqrt(.19) = 9.0615
    # (1.959964 = the 97.5% normal quantile that "1.96" rounds).
    assert rci_cutoff(sd=7.5, reliability=0.81) == pytest.approx(
        1.959964 * math.sqrt(2) * 7.5 * math.sqrt(0.19)
    )
    assert rci_cutoff("BDI-II", z=1.645) == pytest.approx(9.996 * 1.645 / 1.96, abs=1e-3)


def test_rci_cutoff_errors_say_what_to_pass():
    with pytest.raises(ValueError, match=r"registry has no sd for PHQ-9.*pass sd=\.\.\."):
        rci_cutoff("PHQ-9")
    with pytest.raises(ValueError, match=r"no instrument was given.*sd=\.\.\. and reliability"):
        rci_cutoff()
    with pytest.raises(
        ValueError, match=r"'reliability' parameter of rci_cutoff must be a number in \(0, 1\)"
    ):
        rci_cutoff(sd=5, reliability=1.2)


def test_cutoffs_by_hand_and_direction():
    # Jacobson & Truax (1991) with the BDI-II manual norms (clinical 22.45/12.75, functional
    # 12.56/9.93): a = 22.45 - 2*12.75 = -3.05; b = 12.56 + 2*9.93 = 32.42;
    # c = (12.75*12.56 + 9.93*22.45) / (12.75 + 9.93) = 383.0685 / 22.68 = 16.89014.
    a, b, c = cutoffs("BDI-II")
    assert (a, b) == (pytest.approx(-3.05), pytest.approx(32.42))
    assert c == pytest.approx(383.0685 / 22.68)
    # The variant with the clinical SD in b: 12.56 + 2*12.75 = 38.06.
    assert cutoffs("BDI-II", b_uses_clinical_sd=True).b == pytest.approx(38.06)
    # Higher is better: a = 30 + 2*10 = 50, b = 70 - 2*5 = 60, c = (10*70 + 5*30)/15 = 56.667.
    high = cutoffs(clinical=(30, 10), functional=(70, 5), better="higher")
    assert high == (pytest.approx(50.0), pytest.approx(60.0), pytest.approx(850 / 15))
    # Without functional norms only a is defined.
    only_a = cutoffs(clinical=(30, 10), better="lower")
    assert only_a.a == pytest.approx(10.0) and math.isnan(only_a.b) and math.isnan(only_a.c)
    with pytest.raises(ValueError, match=r"registry has none for PHQ-9.*clinical=\(mean, sd\)"):
        cutoffs("PHQ-9")


# --- published results of the R package clinicalsignificance --------------------------------
# Counts printed by pedscience/clinicalsignificance (version 2.x) in
# tests/testthat/_snaps/cs_distribution.md and tests/testthat/_snaps/cs_combined.md (commit
# 1b6fd9a5a393da401f4d947f841c6b5c2e7d6752), for claus_2020, outcome hamd, pre = 1, post = 4,
# reliability = 0.80 (NK: reliability_post = 0.5); the combined approach uses the clinical
# population = the sample's pre scores, functional mean 8 and SD 8, cut-off c. The same JT, HA
# and HLM counts are printed in articles/distribution-based-approach.html (commit 44aa6260).
CLAUS = dict(client="id", session="time", pre_session=1, post_session=4)
R_DISTRIBUTION = {  # improved, unchanged, deteriorated
    "JT": (29, 10, 1),
    "EN": (32, 5, 3),
    "HLL": (12, 16, 12),
    "GLN": (29, 10, 1),
    "NK": (28, 11, 1),
    "HA": (32, 7, 1),
}
R_COMBINED = {  # recovered, improved, unchanged, deteriorated, harmed
    "JT": (26, 3, 10, 1, 0),
    "EN": (26, 6, 5, 3, 0),
    "HLL": (12, 0, 16, 11, 1),
    "GLN": (26, 3, 10, 1, 0),
    "NK": (26, 2, 11, 1, 0),
}


@pytest.fixture(scope="module")
def claus() -> pd.DataFrame:
    return datasets.load("claus2020")


@pytest.mark.parametrize("method", list(R_DISTRIBUTION))
def test_claus2020_hamd_matches_clinicalsignificance(claus, method):
    result = reliable_change(
        claus,
        score="hamd",
        better="lower",
        method=method,
        reliability=0.8,
        reliability_post=0.5 if method == "NK" else None,
        clinical="sample",
        functional=(8, 8),
        cutoff="c",
        **CLAUS,
    )
    t = result.table
    assert len(t) == 40 and len(result.skipped) == 3  # "43 ... of which 40 (93%)"
    improved, unchanged, deteriorated = R_DISTRIBUTION[method]
    assert int(t["reliable_improvement"].sum()) == improved
    assert int(t["reliable_deterioration"].sum()) == deteriorated
    assert int((t["category"] == "unchanged").sum()) == unchanged
    if method in R_COMBINED:
        assert tuple(result.summary()["n"]) == R_COMBINED[method]
    # The combined approach's cut-off c from the sample's pre mean and SD.
    m, s = t["pre"].mean(), t["pre"].std()
    assert result.parameters["cutoff"] == pytest.approx((s * 8 + 8 * m) / (s + 8))


def test_claus2020_bdi_matches_clinicalsignificance_summary(claus):
    # tests/testthat/_snaps/clinical_significance.md
    # (commit 471b20bbbdfc31f131919d54abddc9ad0a37210f, version 1.x): claus_2020 bdi, pre 1,
    # post 4, reliability .8, clinical = sample (M 35.48, SD 8.16), cut-off a = 19.16 and
    # c (functional 8/8) = 21.6: 10/8/22/0/0 both.
    for cut, value in (("a", 19.16), ("c", 21.6)):
        result = reliable_change(
            claus,
            score="bdi",
            instrument="BDI-II",
            reliability=0.8,
            clinical="sample",
            functional=(8, 8),
            cutoff=cut,
            **CLAUS,
        )
        assert result.parameters["clinical"] == (
            pytest.approx(35.475),
            pytest.approx(8.1586, abs=1e-4),
        )
        assert result.parameters["cutoff"] == pytest.approx(value, abs=0.005)
        assert tuple(result.summary()["n"]) == (10, 8, 22, 0, 0)
    # README.md (commit 3ecc58ac9d066443c909b9c173b4958382cdc807): reliability .81, cut-off c.
    readme = reliable_change(
        claus,
        score="bdi",
        instrument="BDI-II",
        reliability=0.81,
        clinical="sample",
        functional=(8, 8),
        **CLAUS,
    )
    assert tuple(readme.summary()["n"]) == (10, 9, 21, 0, 0)
    # The same snapshot, grouped by treatment: TAU 3/2/14/0/0, PA 7/6/8/0/0.
    grouped = reliable_change(
        claus,
        score="bdi",
        instrument="BDI-II",
        reliability=0.8,
        clinical="sample",
        cutoff="a",
        **CLAUS,
    )
    arm = claus.groupby("id")["treatment"].first()
    by = grouped.summary_by(arm)
    assert list(by.columns) == ["group", "category", "n", "share"]
    assert by.loc[by["group"] == "TAU", "n"].tolist() == [3, 2, 14, 0, 0]
    assert by.loc[by["group"] == "PA", "n"].tolist() == [7, 6, 8, 0, 0]


def test_claus2020_who_higher_is_better_matches_clinicalsignificance(claus):
    # articles/distribution-based-approach.html: WHO-5, reliability .85, better_is = "higher":
    # improved 21, unchanged 18, deteriorated 1.
    result = reliable_change(
        claus, score="who", instrument="WHO-5", reliability=0.85, cutoff=None, **CLAUS
    )
    t = result.table
    assert (
        int(t["reliable_improvement"].sum()),
        int((t["category"] == "unchanged").sum()),
        int(t["reliable_deterioration"].sum()),
    ) == (21, 18, 1)


@pytest.mark.parametrize(
    "method, expected",
    [
        ("JT", (10, 4, 12, 0, 0)),
        ("GLN", (12, 4, 10, 0, 0)),
        ("HLL", (7, 0, 11, 8, 0)),
        ("EN", (12, 5, 9, 0, 0)),
        ("NK", (12, 4, 10, 0, 0)),
    ],
)
def test_jacobson1989_gds_matches_clinicalsignificance(method, expected):
    # tests/testthat/_snaps/clinical_significance.md (commit 471b20bb...): jacobson_1989, gds,
    # reliability .8, pre = "pre"; cut-off a from the sample (26 couples with both scores).
    result = reliable_change(
        datasets.load("jacobson1989"),
        client="subject",
        session="session",
        score="gds",
        better="lower",
        method=method,
        reliability=0.8,
        clinical="sample",
        cutoff="a",
    )
    assert len(result.table) == 26
    assert sorted(result.skipped["client"]) == [27, 28, 29, 30]
    assert tuple(result.summary()["n"]) == expected


def test_jacobson1989_gds_hageman_arrindell_reliable_change_matches():
    # Same snapshot, HA: 7 recovered + 10 improved = 17 reliably improved, none deteriorated
    # (its recovered/improved split uses HA's own cut-off, which is not implemented here).
    result = reliable_change(
        datasets.load("jacobson1989"),
        client="subject",
        session="session",
        score="gds",
        better="lower",
        method="HA",
        reliability=0.8,
        cutoff=None,
    )
    assert int(result.table["reliable_improvement"].sum()) == 17
    assert int(result.table["reliable_deterioration"].sum()) == 0


def test_jacobson1989_das_independent_check():
    # DAS (higher is better), reliability .9: an independent computation of the JT counts.
    raw = datasets.load("jacobson1989")
    wide = raw.pivot(index="subject", columns="session", values="das")
    pre, post = wide[1].to_numpy(), wide[2].to_numpy()
    s_diff = np.std(pre, ddof=1) * math.sqrt(2 * (1 - 0.9))
    rci = (post - pre) / s_diff
    result = reliable_change(
        raw,
        client="subject",
        session="session",
        score="das",
        better="higher",
        reliability=0.9,
        cutoff=None,
    )
    np.testing.assert_allclose(result.table["rci"], rci)
    assert int(result.table["reliable_improvement"].sum()) == int((rci > 1.959964).sum())
    assert int(result.table["reliable_deterioration"].sum()) == int((rci < -1.959964).sum())
    assert (result.table["improvement"] == post - pre).all()


# --- the HLM method -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def claus_complete(claus) -> pd.DataFrame:
    hamd = claus[["id", "time", "hamd"]].dropna()
    return hamd[hamd.groupby("id")["hamd"].transform("size") == 4]


def test_hlm_deviation_reproduces_clinicalsignificance(claus_complete):
    # _snaps/cs_distribution.md: HLM on claus_2020 hamd (the package keeps the 40 patients with
    # all four measurements): improved 11, unchanged 20, deteriorated 9. That package tests
    # the random-slope deviation, hlm_slope="deviation".
    result = reliable_change(
        claus_complete,
        score="hamd",
        client="id",
        session="time",
        better="lower",
        method="HLM",
        hlm_slope="deviation",
        cutoff=None,
    )
    t = result.table
    assert (
        int(t["reliable_improvement"].sum()),
        int((t["category"] == "unchanged").sum()),
        int(t["reliable_deterioration"].sum()),
    ) == (11, 20, 9)
    # Testing the client's own slope instead: nobody deteriorates in this improving sample.
    total = reliable_change(
        claus_complete,
        score="hamd",
        client="id",
        session="time",
        better="lower",
        method="HLM",
        cutoff=None,
    )
    assert int(total.table["reliable_deterioration"].sum()) == 0
    assert int(total.table["reliable_improvement"].sum()) > 11


def test_hlm_empirical_bayes_matches_statsmodels_and_mixed_model_equations(claus_complete):
    result = reliable_change(
        claus_complete,
        score="hamd",
        client="id",
        session="time",
        better="lower",
        method="HLM",
        cutoff=None,
    )
    fit = result.sm_result
    coef = result.coefficients
    assert list(coef.columns) == COEFFICIENT_COLUMNS
    # The deviation and its conditional SD as statsmodels computes them, group by group.
    groups = sorted(fit.random_effects)
    dev = np.array([fit.random_effects[g].iloc[1] for g in groups])
    dev_sd = np.array([math.sqrt(fit.random_effects_cov[g].iloc[1, 1]) for g in groups])
    np.testing.assert_allclose(coef["deviation"], dev, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(coef["deviation_se"], dev_sd, rtol=1e-6)
    # The total slope's prediction error variance from the inverse of Henderson's full
    # mixed-model-equation matrix, built densely (independent of the per-client shortcut).
    data = claus_complete.sort_values(["id", "time"])
    t = data["time"].to_numpy(float)
    t = t - t.mean()
    ids = pd.factorize(data["id"], sort=True)[0]
    n, q = len(t), ids.max() + 1
    x = np.column_stack([np.ones(n), t])
    z = np.zeros((n, 2 * q))
    z[np.arange(n), 2 * ids] = 1
    z[np.arange(n), 2 * ids + 1] = t
    g = np.asarray(fit.cov_re)
    s2 = fit.scale
    lhs = np.block(
        [[x.T @ x, x.T @ z], [z.T @ x, z.T @ z + s2 * np.kron(np.eye(q), np.linalg.inv(g))]]
    )
    c = np.linalg.inv(lhs) * s2
    sel = np.zeros((q, 2 + 2 * q))
    sel[:, 1] = 1
    sel[np.arange(q), 2 + 2 * np.arange(q) + 1] = 1
    pev = np.einsum("ij,jk,ik->i", sel, c, sel)
    np.testing.assert_allclose(coef["slope_se"], np.sqrt(pev), rtol=1e-4)
    np.testing.assert_allclose(coef["slope"], fit.fe_params[1] + dev, rtol=1e-6, atol=1e-6)


def test_hlm_recovers_simulated_change():
    # Half the clients improve by 2 clinical SDs over 8 sessions, half not at all: the HLM
    # index should flag most true improvers and few of the others.
    scores, _ = trajectories(
        160,
        8,
        instrument="BDI-II",
        gain_share=0.0,
        nonresponder_share=0.5,
        gradual=25.0,
        gradual_sd=2.0,
        seed=11,
    )
    true_change = scores.groupby("client")["true_score"].agg(lambda s: s.iloc[0] - s.iloc[-1])
    result = reliable_change(
        scores.drop(columns="true_score"),
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
        method="hlm",
        cutoff=None,
    )
    flagged = result.table.set_index("client")["reliable_improvement"]
    large = true_change.reindex(flagged.index) > 15
    assert flagged[large].mean() > 0.9
    assert flagged[~large].mean() < 0.2
    assert not result.table["reliable_deterioration"][~large.to_numpy()].mean() > 0.1


def test_hlm_needs_three_observed_scores():
    df = pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
            "t": [1, 2, 3] * 4,
            "y": [30, 25, 20, 28, np.nan, 18, 31, 30, 29, 26, 20, 15.0],
        }
    )
    result = reliable_change(
        df, client="id", session="t", score="y", instrument="BDI-II", method="hlm", cutoff=None
    )
    assert result.skipped["client"].tolist() == [2]
    assert "HLM method needs at least 3" in result.skipped["reason"].iloc[0]
    with pytest.raises(ValueError, match="HLM method fits a growth curve"):
        from_prepost(
            pd.DataFrame({"c": [1], "a": [1.0], "b": [2.0]}),
            client="c",
            pre="a",
            post="b",
            instrument="BDI-II",
            method="hlm",
        )


# --- direction, alpha, pre/post choice -----------------------------------------------------
MIRROR = instruments.Instrument(
    name="TEST-BDI-MIRROR",
    full_name="BDI-II scored upside down",
    min_score=0,
    max_score=63,
    better="higher",
    reliability=0.92,
    clinical_mean=63 - 22.45,
    clinical_sd=12.75,
    functional_mean=63 - 12.56,
    functional_sd=9.93,
    citation="Test fixture.",
)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "hlm"])
def test_higher_is_better_mirrors_every_category(claus, method):
    bdi = claus[["id", "time", "bdi"]].copy()
    flipped = bdi.assign(bdi=63 - bdi["bdi"])
    low = reliable_change(bdi, score="bdi", instrument="BDI-II", method=method, **CLAUS)
    high = reliable_change(flipped, score="bdi", instrument=MIRROR, method=method, **CLAUS)
    assert (low.table["category"] == high.table["category"]).all()
    assert set(low.table["category"]) >= {"recovered", "unchanged"}
    np.testing.assert_allclose(low.table["rci"], -high.table["rci"], atol=1e-12)
    np.testing.assert_allclose(low.table["improvement"], high.table["improvement"])
    assert low.parameters["cutoff"] == pytest.approx(63 - high.parameters["cutoff"])
    assert (low.table["clinical_pre"] == high.table["clinical_pre"]).all()


def test_alpha_sets_the_critical_value(claus):
    base = dict(score="bdi", instrument="BDI-II", cutoff=None, **CLAUS)
    strict = reliable_change(claus, alpha=0.01, **base)
    usual = reliable_change(claus, **base)
    loose = reliable_change(claus, alpha=0.10, **base)
    assert strict.parameters["critical_value"] == pytest.approx(norm.ppf(0.995))  # 2.5758
    assert usual.parameters["critical_value"] == pytest.approx(1.959964, abs=1e-6)
    assert loose.parameters["critical_value"] == pytest.approx(1.644854, abs=1e-6)
    z = -usual.table["rci"]  # lower is better: improvement = falling scores
    for result, crit in ((strict, norm.ppf(0.995)), (loose, norm.ppf(0.95))):
        assert (result.table["reliable_improvement"] == (z > crit)).all()
    n = [int(r.table["reliable_improvement"].sum()) for r in (strict, usual, loose)]
    assert n[0] < n[1] < n[2]


def test_default_pre_post_are_first_and_last_observed():
    df = pd.DataFrame(
        {
            "id": [1, 1, 1, 1, 2, 2, 2, 3, 3],
            "t": [0, 1, 2, 3, 1, 2, 3, 0, 3],
            "y": [np.nan, 30, 20, np.nan, 28, np.nan, 27, 40, np.nan],
        }
    )
    result = reliable_change(
        df, client="id", session="t", score="y", instrument="BDI-II", cutoff=None
    )
    t = result.table
    assert t[["client", "pre_session", "post_session", "pre", "post"]].values.tolist() == [
        [1, 1, 2, 30.0, 20.0],
        [2, 1, 3, 28.0, 27.0],
    ]
    assert result.skipped.to_dict("list") == {
        "client": [3],
        "reason": ["1 observed score(s); reliable change needs at least 2"],
    }


def test_chosen_sessions_skip_clients_without_them_with_the_reason():
    df = pd.DataFrame(
        {
            "id": [1, 1, 1, 2, 2, 3, 3, 3],
            "t": [1, 2, 3, 2, 3, 1, 2, 3],
            "y": [30, 25, 20, 28, 22, 31, 29, np.nan],
        }
    )
    kw = dict(client="id", session="t", score="y", instrument="BDI-II", cutoff=None, sd=10.0)
    result = reliable_change(df, pre_session=1, post_session=3, **kw)
    assert result.table["client"].tolist() == [1]
    assert dict(zip(result.skipped["client"], result.skipped["reason"])) == {
        2: "no observed score at pre_session 1",
        3: "no observed score at post_session 3",
    }
    # Only pre given: post is the last observed session after it.
    later = reliable_change(df, pre_session=2, **kw)
    assert later.table["post_session"].tolist() == [3, 3]
    assert later.skipped.to_dict("list") == {
        "client": [3],
        "reason": ["no observed score after pre_session 2"],
    }
    with pytest.raises(SessionError, match=r"pre_session=7 is not a session.*\[1, 2, 3\]"):
        reliable_change(df, pre_session=7, **kw)
    with pytest.raises(ValueError, match="must come before post_session"):
        reliable_change(df, pre_session=3, post_session=1, **kw)


# --- contracts ------------------------------------------------------------------------------
def test_exact_columns_and_types(claus):
    result = reliable_change(claus, score="bdi", instrument="BDI-II", **CLAUS)
    assert list(result.table.columns) == TABLE_COLUMNS
    assert list(result.summary().columns) == SUMMARY_COLUMNS
    assert result.summary()["category"].tolist() == list(CATEGORIES)
    assert list(result.skipped.columns) == ["client", "reason"]
    assert list(result.table["category"].cat.categories) == list(CATEGORIES)
    # Same columns without a cut-off; the clinical columns are then missing.
    plain = reliable_change(claus, score="bdi", instrument="BDI-II", cutoff=None, **CLAUS)
    assert list(plain.table.columns) == TABLE_COLUMNS
    assert plain.table["clinical_pre"].isna().all()
    assert not plain.table["category"].isin(["recovered", "harmed"]).any()
    assert result.summary()["share"].sum() == pytest.approx(1.0)
    assert "<ReliableChangeResult jacobson_truax: 40 clients, 3 skipped" in repr(result)
    assert "<table" in result._repr_html_()


def test_categories_follow_their_definitions(claus):
    # Recovered = reliably improved and clinical -> not clinical; harmed = reliably
    # deteriorated and not clinical -> clinical.
    result = reliable_change(claus, score="bdi", instrument="BDI-II", cutoff=25.0, **CLAUS)
    t = result.table
    pre_c, post_c = t["clinical_pre"].astype(bool), t["clinical_post"].astype(bool)
    assert (pre_c == (t["pre"] >= 25)).all() and (post_c == (t["post"] >= 25)).all()
    recovered = t["reliable_improvement"] & pre_c & ~post_c
    harmed = t["reliable_deterioration"] & ~pre_c & post_c
    assert ((t["category"] == "recovered") == recovered).all()
    assert ((t["category"] == "harmed") == harmed).all()
    improved_only = t["reliable_improvement"] & ~recovered
    assert ((t["category"] == "reliably improved") == improved_only).all()
    assert (
        (t["category"] == "unchanged") == ~(t["reliable_improvement"] | t["reliable_deterioration"])
    ).all()
    # A client who starts well and ends reliably worse in the clinical range is harmed.
    df = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3], "t": [1, 2] * 3, "y": [5.0, 30, 30, 10, 22, 21]})
    harm = reliable_change(df, client="id", session="t", score="y", instrument="BDI-II", sd=5.0)
    assert harm.table["category"].tolist() == ["harmed", "recovered", "unchanged"]


def test_input_is_not_mutated(claus):
    before = claus.copy(deep=True)
    reliable_change(claus, score="bdi", instrument="BDI-II", **CLAUS)
    pd.testing.assert_frame_equal(claus, before)
    df = pd.DataFrame({"id": [1, 2, 3], "a": [30.0, 25, 20], "b": [12.0, 24, 22]})
    copy = df.copy()
    from_prepost(df, client="id", pre="a", post="b", instrument="BDI-II")
    pd.testing.assert_frame_equal(df, copy)


def test_from_prepost_agrees_with_long_input(claus):
    wide = claus.pivot(index="id", columns="time", values="bdi").reset_index()
    wide.columns = ["id", "t1", "t2", "t3", "t4"]
    a = from_prepost(wide, client="id", pre="t1", post="t4", instrument="BDI-II", method="GLN")
    b = reliable_change(claus, score="bdi", instrument="BDI-II", method="GLN", **CLAUS)
    cols = [c for c in TABLE_COLUMNS if c not in ("pre_session", "post_session")]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])
    assert a.table["pre_session"].eq(1).all() and a.table["post_session"].eq(2).all()
    assert a.skipped["reason"].tolist() == ["missing post score ('t4')"] * 3


def test_from_prepost_bad_input():
    ok = pd.DataFrame({"c": [1, 2], "a": [20.0, 30], "b": [10.0, 25]})
    kw = dict(client="c", pre="a", post="b", instrument="BDI-II")
    with pytest.raises(MissingColumnError, match="no column 'x'"):
        from_prepost(ok, client="c", pre="x", post="b", instrument="BDI-II")
    with pytest.raises(DuplicateSessionError, match=r"'c'.*\[1\]"):
        from_prepost(pd.concat([ok, ok.iloc[:1]]), **kw)
    with pytest.raises(NonNumericError, match=r"Column 'a'.*'x'"):
        from_prepost(ok.assign(a=["x", 3]), **kw)
    with pytest.raises(ScoreRangeError, match=r"Column 'b'.*BDI-II range"):
        from_prepost(ok.assign(b=[99.0, 3]), **kw)
    with pytest.raises(EmptyDataError, match="missing pre score"):
        from_prepost(ok.assign(a=np.nan), **kw)


def test_bad_input_messages(claus):
    phq = claus[["id", "time", "bdi"]].rename(columns={"bdi": "y"}).assign(y=lambda d: d.y / 3)
    kw = dict(client="id", session="time", score="y")
    no_r = instruments.Instrument(
        name="NORELIAB", full_name="x", min_score=0, max_score=30, better="lower", citation="test"
    )
    # Without any criterion the default says "not computed" (missing, never 0) ...
    with pytest.warns(toolkit_warning, match="not computed.*no published criterion"):
        nothing = reliable_change(phq, instrument=no_r, cutoff=None, **kw)
    assert not nothing.computed and nothing.table["rci"].isna().all()
    assert nothing.table["reliable_improvement"].isna().all()
    assert nothing.summary()["n"].isna().all()
    with pytest.warns(toolkit_warning, match="no instrument was named"):
        reliable_change(phq, better="lower", cutoff=None, **kw)
    # ... and a method that needs a reliability says what to pass.
    with pytest.raises(ValueError, match=r"no reliability for NORELIAB.*pass reliability=\.\.\."):
        reliable_change(phq, instrument=no_r, method="GLN", cutoff=None, **kw)
    with pytest.raises(ValueError, match=r"no instrument was given for 'y'.*reliability="):
        reliable_change(phq, better="lower", method="EN", cutoff=None, **kw)
    with pytest.raises(
        UnknownNameError,
        match=r"Unknown reliable change method 'JTX'.*"
        r"'jacobson_truax'.*'hlm'",
    ):
        reliable_change(phq, instrument="PHQ-9", method="JTX", **kw)
    with pytest.raises(ValueError, match=r"Which direction is improvement\?.*better='lower'"):
        reliable_change(phq, reliability=0.8, cutoff=None, **kw)
    with pytest.raises(ValueError, match="contradicts the instrument PHQ-9"):
        reliable_change(phq, instrument="PHQ-9", better="higher", **kw)
    with pytest.raises(ValueError, match=r"functional population.*PHQ-9.*cutoff='instrument'"):
        reliable_change(phq, instrument="PHQ-9", clinical="sample", cutoff="c", **kw)
    with pytest.raises(ValueError, match=r"clinical population.*clinical='sample'"):
        reliable_change(phq, instrument="PHQ-9", cutoff="a", **kw)
    with pytest.raises(ValueError, match=r"'alpha' parameter of reliable_change must be a number"):
        reliable_change(phq, instrument="PHQ-9", alpha=5, cutoff=None, **kw)
    with pytest.raises(ValueError, match="sd='norm' needs the clinical norm's SD"):
        reliable_change(phq, instrument="PHQ-9", sd="norm", cutoff=None, **kw)
    with pytest.raises(ValueError, match="reliability_post is used only by the Nunnally"):
        reliable_change(phq, instrument="PHQ-9", reliability_post=0.7, cutoff=None, **kw)
    with pytest.raises(ValueError, match="'cutoff' parameter of reliable_change must be one of"):
        reliable_change(phq, instrument="PHQ-9", cutoff="d", **kw)
    with pytest.raises(EmptyDataError, match="No client can be analysed"):
        reliable_change(phq[phq["time"] == 1], instrument="PHQ-9", cutoff=None, **kw)
    # The conventional cut-off of the registry works where norms are missing.
    ok = reliable_change(phq, instrument="PHQ-9", cutoff="instrument", **kw)
    assert ok.parameters["cutoff"] == 10.0


def test_sd_and_clinical_sources(claus):
    kw = dict(score="bdi", instrument="BDI-II", cutoff="c", **CLAUS)
    shared = reliable_change(claus, **kw)
    sample = reliable_change(claus, sd="sample", **kw)
    normed = reliable_change(claus, sd="norm", **kw)
    given = reliable_change(claus, sd=12.75, **kw)
    # The default is the scores' criterion, the one every method uses (BDI-II: norms).
    assert shared.parameters["rc_points"] == shared.scores.reliable_change.points
    assert shared.settings["reliable_change_source"] == "norms"
    np.testing.assert_allclose(shared.table["rci"], normed.table["rci"])
    assert sample.settings["reliable_change_source"] == "per call"
    assert sample.parameters["sd"] == pytest.approx(sample.table["pre"].std())
    assert normed.parameters["sd"] == 12.75 and normed.parameters["sd_source"] == "norm"
    np.testing.assert_allclose(normed.table["rci"], given.table["rci"])
    assert sample.parameters["clinical_source"] == "norm"
    assert sample.parameters["cutoff"] == pytest.approx(cutoffs("BDI-II").c)
    assert sample.settings["sd"] == "sample" and sample.settings["method"] == "jacobson_truax"


def test_plot_draws_the_jacobson_truax_elements(claus):
    result = reliable_change(claus, score="bdi", instrument="BDI-II", **CLAUS)
    fig, ax = plt.subplots()
    out = result.plot(ax=ax)
    assert out is ax
    assert ax.get_xlabel() == "Pre score (BDI-II)" and ax.get_ylabel() == "Post score (BDI-II)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "no change" in labels and "no reliable change" in labels
    assert any(label.startswith("cut-off c = 16.89") for label in labels)
    counts = result.summary().set_index("category")["n"]
    for name in CATEGORIES:
        assert f"{name} (n = {counts[name]})" in labels
    assert sum(len(c.get_offsets()) for c in ax.collections[1:]) == len(result.table)
    # The band edges: post = pre +/- 1.96 * S_diff.
    half = result.parameters["band"][2]
    edges = [
        line.get_ydata() - line.get_xdata() for line in ax.lines if line.get_linestyle() == ":"
    ]
    np.testing.assert_allclose(sorted(e[0] for e in edges), [-half, half])
    plt.close(fig)


def test_plot_samples_large_cohorts_but_counts_everyone():
    scores, _ = trajectories(3000, 6, seed=2)
    result = reliable_change(
        scores, client="client", session="session", score="score", instrument="BDI-II"
    )
    fig, ax = plt.subplots()
    result.plot(ax=ax, max_points=500)
    drawn = sum(
        len(c.get_offsets())
        for c in ax.collections
        if hasattr(c, "get_offsets")
        and len(c.get_offsets())
        and c.get_label() != "no reliable change"
    )
    assert drawn == 500
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    total = sum(int(lab.split("n = ")[1].rstrip(")")) for lab in labels if "n = " in lab)
    assert total == len(result.table) == 3000
    plt.close(fig)


def test_no_warnings_on_clean_data(claus):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = reliable_change(claus, score="bdi", instrument="BDI-II", **CLAUS)
    assert result.warnings == ()
