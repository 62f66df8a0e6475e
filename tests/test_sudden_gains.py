"""Sudden gains and losses: the published criteria, worked by hand, and the R reference.

References used below:
- Tang & DeRubeis (1999), J Consult Clin Psychol 67(6), 894-904: the three criteria.
- Lutz et al. (2013), Psychotherapy Research 23(1), 61-73: critical t for missing values.
- Wiedemann, Thew, Stott & Ehlers (2020), PLOS ONE 15(3) e0230276, and the tutorial of the
  suddengains R package (v0.7): worked ``check_interval`` examples and the published
  ``describe_sg`` / ``count_intervals`` results on the ``sgdata`` example data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toolkit
from toolkit import instruments
from toolkit.simulate import trajectories
from toolkit.sudden_gains import (
    DESCRIBE_COLUMNS,
    GAIN_COLUMNS,
    INTERVAL_COLUMNS,
    chance_baseline,
    critical_value,
    identify,
)

NAN = np.nan


def one_client(values, first_session=1, instrument=None):
    """Long frame of one client's scores at consecutive sessions."""
    return pd.DataFrame(
        {
            "id": 1,
            "s": np.arange(first_session, first_session + len(values)),
            "x": np.asarray(values, dtype=float),
        }
    )


def interval(result, pre_session, kind="gain"):
    table = result.intervals()
    row = table[(table["pre_session"] == pre_session) & (table["kind"] == kind)]
    assert len(row) == 1
    return row.iloc[0]


ROLES = dict(client="id", session="s", score="x", better="lower")


# --- the critical values ---------------------------------------------------------------------
def test_critical_values_of_lutz_2013_and_the_r_tutorial():
    # Two-sided t at .05 with 4, 3, 2 df: 2.776, 3.182, 4.303 (Lutz et al., 2013); at .01
    # with 4 and 2 df: 4.604 and 9.925 (suddengains tutorial, check_interval output).
    np.testing.assert_allclose(
        critical_value(np.array([6, 5, 4])), [2.776, 3.182, 4.303], atol=5e-4
    )
    np.testing.assert_allclose(
        critical_value(np.array([6, 4]), alpha=0.01), [4.604, 9.925], atol=5e-4
    )
    assert np.isnan(critical_value(2))  # no degrees of freedom left


# --- worked examples of the R tutorial (check_interval) --------------------------------------
def test_tutorial_example_complete_windows():
    # pre (32, 31, 33), post (5, 6, 7), cut-off 7: all three criteria met, critical 2.776,
    # means 32 and 6, SDs 1 and 1.
    r = identify(one_client([40, 32, 31, 33, 5, 6, 7, 8]), **ROLES, min_change=7)
    row = interval(r, 4)
    assert (row["crit1"], row["crit2"], row["crit3"], row["sudden"]) == (True, True, True, True)
    assert row["critical_value"] == pytest.approx(2.776, abs=5e-4)
    assert (row["mean_pre"], row["mean_post"]) == (32, 6)
    assert row["pooled_sd"] == pytest.approx(1.0)
    r01 = identify(one_client([40, 32, 31, 33, 5, 6, 7, 8]), **ROLES, min_change=7, alpha=0.01)
    assert interval(r01, 4)["critical_value"] == pytest.approx(4.604, abs=5e-4)


def test_tutorial_example_missing_values_only_criterion_3():
    # pre (NA, 31, 33), post (5, NA, 7), only criterion 3 at alpha .01: critical 9.925,
    # SDs 1.414; a gain.
    r = identify(
        one_client([40, NAN, 31, 33, 5, NAN, 7, 8]),
        **ROLES,
        min_change=None,
        proportion=None,
        alpha=0.01,
    )
    row = interval(r, 4)
    assert row["critical_value"] == pytest.approx(9.925, abs=5e-4)
    assert row["pooled_sd"] == pytest.approx(np.sqrt(2))
    assert row["sudden"] is True or row["sudden"] == True  # noqa: E712 (nullable boolean)
    assert pd.isna(row["crit1"]) and pd.isna(row["crit2"])  # switched off


def test_tutorial_example_sudden_loss():
    # pre (5, NA, 7), post (16, 12, 14), cut-off 7: a sudden loss, critical 3.182,
    # means 6 and 14, SDs 1.414 and 2.
    r = identify(one_client([4, 5, NAN, 7, 16, 12, 14, 15]), **ROLES, min_change=7, kind="losses")
    row = interval(r, 4, kind="loss")
    assert row["critical_value"] == pytest.approx(3.182, abs=5e-4)
    assert (row["mean_pre"], row["mean_post"]) == (6, 14)
    # Pooled SD with (n - 1) weights: sqrt((1 * 2 + 2 * 4) / 3).
    assert row["pooled_sd"] == pytest.approx(np.sqrt(10 / 3))
    assert row["sudden"] == True  # noqa: E712
    assert r.table["kind"].tolist() == ["loss"]
    assert r.table["magnitude"].iloc[0] == 9  # 7 -> 16


# --- cases that hinge on the adjusted critical value, to the second decimal ------------------
def five_values(post_mean):
    # Sessions 1..8: pre window (s2 missing, 10, 12), post window around post_mean (+-1).
    # pooled SD = sqrt((2 + 2) / 3) = 1.1547; threshold 3.182 * 1.1547 = 3.6743, so the gain
    # needs 11 - post_mean > 3.6743, i.e. post_mean < 7.3257.
    return one_client([15, NAN, 10, 12, post_mean - 1, post_mean, post_mean + 1, 6])


@pytest.mark.parametrize(("post_mean", "expected"), [(7.32, True), (7.33, False)])
def test_five_values_use_3182(post_mean, expected):
    r = identify(five_values(post_mean), **ROLES, min_change=5)
    row = interval(r, 4)
    assert (row["n_pre"], row["n_post"]) == (2, 3)
    assert row["critical_value"] == pytest.approx(3.182, abs=5e-4)
    assert bool(row["crit3"]) is expected
    assert bool(row["sudden"]) is expected
    # Without the adjustment, 2.776 is used and both pass (ratio 3.18 > 2.776).
    assert (
        bool(
            interval(
                identify(
                    five_values(post_mean), **ROLES, min_change=5, adjust_critical_value=False
                ),
                4,
            )["sudden"]
        )
        is True
    )


def four_values(post_mean):
    # Pre (10, 12) and post (post_mean - 1, post_mean + 1) with one missing on each side:
    # pooled SD = sqrt((2 + 2) / 2) = 1.4142; threshold 4.303 * 1.4142 = 6.0853, so the
    # gain needs post_mean < 11 - 6.0853 = 4.9147.
    return one_client([15, NAN, 10, 12, post_mean - 1, NAN, post_mean + 1, 3])


@pytest.mark.parametrize(("post_mean", "expected"), [(4.91, True), (4.92, False)])
def test_four_values_use_4303(post_mean, expected):
    row = interval(identify(four_values(post_mean), **ROLES, min_change=5), 4)
    assert (row["n_pre"], row["n_post"]) == (2, 2)
    assert row["critical_value"] == pytest.approx(4.303, abs=5e-4)
    assert bool(row["sudden"]) is expected


def test_six_values_use_2776():
    # pre (11, 9, 10) -> mean 10, ss 2; post (x-1, x, x+1) -> ss 2: pooled SD 1, threshold
    # 2.776: x = 7.22 passes (diff 2.78), x = 7.23 fails (diff 2.77).
    passes = interval(
        identify(
            one_client([12, 11, 9, 10, 6.22, 7.22, 8.22, 7]),
            **ROLES,
            min_change=None,
            proportion=None,
        ),
        4,
    )
    fails = interval(
        identify(
            one_client([12, 11, 9, 10, 6.23, 7.23, 8.23, 7]),
            **ROLES,
            min_change=None,
            proportion=None,
        ),
        4,
    )
    assert passes["critical_value"] == pytest.approx(2.776, abs=5e-4)
    assert bool(passes["sudden"]) and not bool(fails["sudden"])


# --- missing-value logic ----------------------------------------------------------------------
def test_failing_criterion_with_a_missing_one_is_missing_not_false():
    # Interval 2 -> 3: criterion 1 fails (drop 2 < 7) but the pre window has one value, so
    # criterion 3 is missing and the interval is missing (as the reference implementation's
    # product of criteria gives NA).
    r = identify(
        one_client([NAN, 20, 18, 17, 16, 15, 14], first_session=1),
        **ROLES,
        min_change=7,
        first_interval=True,
    )
    row = interval(r, 2)
    assert row["crit1"] == False  # noqa: E712
    assert pd.isna(row["crit3"]) and pd.isna(row["sudden"])
    # With criterion 3 switched off the same interval is a plain "no".
    row = interval(
        identify(
            one_client([NAN, 20, 18, 17, 16, 15, 14]),
            **ROLES,
            min_change=7,
            crit3=False,
            first_interval=True,
        ),
        2,
    )
    assert row["sudden"] == False  # noqa: E712


def test_missing_pre_gain_score_makes_criteria_1_and_2_missing():
    r = identify(one_client([30, 31, 29, NAN, 10, 11, 9, 10]), **ROLES, min_change=7)
    row = interval(r, 4)
    assert pd.isna(row["crit1"]) and pd.isna(row["crit2"]) and pd.isna(row["sudden"])
    assert r.table.empty


def test_first_and_last_intervals_are_not_examined_by_default():
    # A huge drop in the first interval (1 -> 2) and the last (7 -> 8) is not examined.
    values = [40, 10, 10, 11, 10, 11, 40, 10]
    r = identify(one_client(values), **ROLES, min_change=7, crit3=False)
    pre = r.intervals()["pre_session"].tolist()
    assert pre == [2, 3, 4, 5, 6]
    examined_first = identify(
        one_client(values), **ROLES, min_change=7, crit3=False, first_interval=True
    )
    assert examined_first.intervals()["pre_session"].tolist() == [1, 2, 3, 4, 5, 6]
    assert examined_first.table["gain_session"].tolist() == [2]


def test_sequence_is_each_clients_own():
    # Client 2 starts at session 3: its first interval is 3 -> 4, which is not examined.
    df = pd.concat([one_client([20] * 8), one_client([40, 10, 11, 10, 11, 12], 3).assign(id=2)])
    r = identify(df, **ROLES, min_change=7, crit3=False)
    two = r.intervals().query("client == 2")
    assert two["pre_session"].tolist() == [4, 5, 6]


def test_clients_with_no_evaluable_interval_are_skipped_with_reason():
    df = pd.concat(
        [
            one_client([30, 29, 20, 18, 17, 16, 15]),
            one_client([30, NAN, NAN, 20, NAN, NAN, 10]).assign(id=2),
        ]
    )
    r = identify(df, **ROLES, min_change=7)
    assert r.skipped["client"].tolist() == [2]
    assert "no interval can be evaluated with 3 observed score(s)" in r.skipped["reason"][0]
    by_client = r.by_client()
    assert by_client["client"].tolist() == [1, 2]
    assert pd.isna(by_client["n_gains_client"].iloc[1])


# --- losses, direction and the reference implementation's loss criterion 2 -------------------
def test_loss_criterion_2_published_and_reference():
    # A worsening of 7 from a pre-gain score of 40 is 17.5%: not a loss under the published
    # criterion 2 (needs 25%), but a loss under the reference implementation, in which the
    # loss version of criterion 2 holds for every worsening.
    values = [40, 41, 39, 40, 47, 48, 47, 48]
    published = identify(one_client(values), **ROLES, min_change=5, kind="losses")
    reference = identify(
        one_client(values), **ROLES, min_change=5, kind="losses", loss_criterion2="reference"
    )
    assert published.table.empty
    assert reference.table["gain_session"].tolist() == [5]


def test_higher_is_better_instrument_mirrors_the_criteria():
    wellbeing = instruments.Instrument(
        name="TEST-UP",
        full_name="t",
        min_score=0,
        max_score=63,
        better="higher",
        citation="Test fixture (2024).",
    )
    lower = toolkit.datasets.load_scores("sgdata")
    mirrored = lower.data.assign(score=63 - lower.data["score"])
    higher = toolkit.long_scores(
        mirrored,
        client="client",
        session="session",
        score="score",
        instrument=wellbeing,
        covariates=[],
    )
    a = identify(lower, min_change=7, proportion=None)
    b = identify(higher, min_change=7, proportion=None)
    cols = ["client", "pre_session", "gain_session", "magnitude", "reversal", "change_total"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])


def test_flipping_direction_turns_gains_into_losses():
    scores = toolkit.datasets.load_scores("sgdata")
    flipped_instrument = instruments.Instrument(
        name="BDI-FLIP",
        full_name="BDI-II read as higher-is-better",
        min_score=0,
        max_score=63,
        better="higher",
        citation="Test fixture (2024).",
    )
    flipped = toolkit.long_scores(
        scores.data,
        client="client",
        session="session",
        score="score",
        instrument=flipped_instrument,
        covariates=[],
    )
    gains = identify(scores, min_change=7)
    losses = identify(flipped, min_change=7, kind="losses")
    cols = ["client", "pre_session", "gain_session", "magnitude", "reversal_value", "reversal"]
    assert len(gains.table) == 26
    pd.testing.assert_frame_equal(gains.table[cols], losses.table[cols])


# --- the reference R package's published results on its example data -----------------------
@pytest.fixture(scope="module")
def sgdata_1_to_12():
    # The tutorial uses sessions 1..12 (bdi_s1 ... bdi_s12), cut-off 7, defaults otherwise.
    raw = toolkit.datasets.load("sgdata")
    return toolkit.long_scores(
        raw[raw["session"] >= 1], client="id", session="session", score="bdi", instrument="BDI-II"
    )


def test_reference_describe_bysg(sgdata_1_to_12):
    # describe_sg(bysg): 24 gains, 4 reversals (16.67%), magnitude mean 11, SD 3.43. The
    # reference's default numbering looks for reversals from N+3: reversal_start=3.
    r = identify(sgdata_1_to_12, min_change=7, reversal_start=3)
    d = r.describe().iloc[0]
    assert d["n_gains"] == 24
    assert d["n_reversals"] == 4
    assert round(100 * d["share_reversals"], 2) == 16.67
    assert round(d["magnitude_mean"], 2) == 11.00
    assert round(d["magnitude_sd"], 2) == 3.43


def test_reference_describe_byperson_first(sgdata_1_to_12):
    # describe_sg(byperson_first): 43 cases, 15 with gains (34.88%), 8 with multiple gains
    # (18.6%), 3 reversals (20%), magnitude 11.4 (SD 3.98).
    r = identify(sgdata_1_to_12, min_change=7, reversal_start=3)
    d = r.describe("first").iloc[0]
    assert d["n_clients"] == 43
    assert d["n_clients_with_gains"] == 15
    assert round(100 * d["share_clients_with_gains"], 2) == 34.88
    assert d["n_clients_multiple"] == 8
    assert round(100 * d["share_clients_multiple"], 2) == 18.60
    assert d["n_reversals"] == 3 and d["share_reversals"] == pytest.approx(0.2)
    assert round(d["magnitude_mean"], 2) == 11.40
    assert round(d["magnitude_sd"], 2) == 3.98


def test_reference_count_intervals(sgdata_1_to_12):
    # count_intervals on the 39 cases selected by pattern: 429 intervals, 351 examined for
    # gains, 298 available, 53 not available. Our skipped clients are exactly the cases the
    # pattern selection leaves out.
    r = identify(sgdata_1_to_12, min_change=7)
    counts = r.interval_counts().iloc[0]
    assert (
        counts["n_clients"],
        counts["n_intervals"],
        counts["n_examined"],
        counts["n_available"],
        counts["n_not_available"],
    ) == (39, 429, 351, 298, 53)
    assert len(r.skipped) == 4


def test_reference_largest_gain_of_id_5(sgdata_1_to_12):
    # Tutorial: "The first gain experienced by ID 5 is from session 3 to 4, whereas the
    # largest gain was experienced from session 8 to 9."
    r = identify(sgdata_1_to_12, min_change=7)
    first = r.by_client("first").set_index("client").loc[5]
    largest = r.by_client("largest").set_index("client").loc[5]
    assert (first["pre_session"], first["gain_session"]) == (3, 4)
    assert (largest["pre_session"], largest["gain_session"]) == (8, 9)


def test_by_gain_values_for_client_1_by_hand(sgdata_1_to_12):
    # Client 1, BDI s1..s12: 35 37 34 23 24 21 29 17 11 11 10 7. Gain 3 -> 4: 34 -> 23.
    # criterion 2: 11 >= 8.5; criterion 3: pre (35, 37, 34) mean 35.33, post (23, 24, 21)
    # mean 22.67, pooled SD sqrt((2*2.3333 + 2*2.3333)/4) = 1.5275; 12.67 > 2.776 * 1.5275.
    r = identify(sgdata_1_to_12, min_change=7)
    g = r.table[(r.table["client"] == 1)].iloc[0]
    assert (g["pre_session"], g["gain_session"], g["magnitude"]) == (3, 4, 11)
    assert [g[f"score_{o}"] for o in ("nm2", "nm1", "n", "np1", "np2", "np3")] == [
        35,
        37,
        34,
        23,
        24,
        21,
    ]
    assert g["change_total"] == 35 - 7
    assert g["change_proportion"] == pytest.approx(11 / 28)
    assert g["reversal_value"] == 28.5  # 23 + 11 / 2
    # Session 7's 29 is beyond 28.5: reversed at session 7.
    assert bool(g["reversal"]) and g["reversal_session"] == 7
    # Second gain 7 -> 8 (29 -> 17); the pre window includes session 7's 29.
    assert r.table[r.table["client"] == 1]["gain_session"].tolist() == [4, 8]
    assert r.table[r.table["client"] == 1]["gain_number"].tolist() == [1, 2]


def test_values_of_another_measure_around_gains(sgdata_1_to_12):
    r = identify(sgdata_1_to_12, min_change=7)
    rq = r.around("rq")
    raw = toolkit.datasets.load("sgdata").set_index(["id", "session"])["rq"]
    g = r.table.iloc[0]
    expected = [raw.get((g["client"], g["pre_session"] + o), np.nan) for o in range(-2, 4)]
    np.testing.assert_array_equal(
        rq.iloc[0][["nm2", "nm1", "n", "np1", "np2", "np3"]].to_numpy(dtype=float),
        np.asarray(expected, dtype=float),
    )


# --- selection of one gain per client ------------------------------------------------------
def test_by_client_selection_and_ties():
    # Gains at 3->4 (8 points), 6->7 (10), 9->10 (8): largest is the second, smallest ties
    # between the first and third and takes the earliest.
    values = [50, 50, 50, 42, 42, 42, 32, 32, 32, 24, 24, 24]
    r = identify(one_client(values), **ROLES, min_change=7, proportion=0.1)
    assert r.table["gain_session"].tolist() == [4, 7, 10]
    pick = {
        s: int(r.by_client(s)["gain_session"].iloc[0])
        for s in ("first", "last", "largest", "smallest")
    }
    assert pick == {"first": 4, "last": 10, "largest": 7, "smallest": 4}
    with pytest.raises(ValueError, match="must be one of"):
        r.by_client("biggest")


def test_output_columns_are_pinned():
    r = identify(toolkit.datasets.load_scores("sgdata"), min_change=7, kind="both")
    assert list(r.table.columns) == GAIN_COLUMNS
    assert list(r.intervals().columns) == INTERVAL_COLUMNS
    assert list(r.describe().columns) == DESCRIBE_COLUMNS
    assert list(r.by_client(kind="loss").columns) == GAIN_COLUMNS
    assert set(r.table["kind"]) <= {"gain", "loss"}
    assert r.describe()["kind"].tolist() == ["gain", "loss"]
    with pytest.raises(ValueError, match="pass kind='gain' or kind='loss'"):
        r.by_client()


# --- invariances (property tests) -----------------------------------------------------------
@st.composite
def cohorts(draw):
    n = draw(st.integers(1, 5))
    t = draw(st.integers(4, 10))
    values = draw(
        st.lists(st.one_of(st.none(), st.integers(0, 63)), min_size=n * t, max_size=n * t)
    )
    x = np.array([np.nan if v is None else v for v in values], dtype=float)
    return pd.DataFrame(
        {"id": np.repeat(np.arange(1, n + 1), t), "s": np.tile(np.arange(t), n), "x": x}
    )


@settings(max_examples=50, deadline=None)
@given(df=cohorts(), offset=st.integers(0, 50), seed=st.integers(0, 10_000))
def test_client_order_and_session_offset_do_not_change_results(df, offset, seed):
    base = identify(df, **ROLES, min_change=5, kind="both")
    moved = df.assign(s=df["s"] + offset, id=df["id"] * 7).sample(frac=1, random_state=seed)
    other = identify(moved, **ROLES, min_change=5, kind="both")
    a = base.table.drop(columns=["pre_session", "gain_session", "reversal_session"])
    b = other.table.drop(columns=["pre_session", "gain_session", "reversal_session"])
    b = b.assign(client=b["client"] // 7)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(base.table["gain_session"] + offset, other.table["gain_session"])


# --- recovery on simulated truth and the chance baseline -----------------------------------
def test_gains_found_at_simulated_gain_sessions():
    # Gains of about 14 points against noise of SD 3.4 (the BDI-II's standard error): most
    # true gains are found at their exact session, and few intervals of clients without a
    # gain are flagged. (Adjacent-session hits count as misses here.)
    scores, truth = trajectories(
        2000, 16, seed=21, gain_share=0.5, gain_size=(14, 2), baseline=35, baseline_sd=4
    )
    r = identify(
        scores, client="client", session="session", score="score", instrument="BDI-II", min_change=7
    )
    found = set(zip(r.table["client"], r.table["gain_session"]))
    true = set(zip(truth["client"], truth["session"]))
    assert len(found & true) / len(found) > 0.8  # precision
    assert len(found & true) / len(true) > 0.8  # recall
    no_gain = ~r.scores.clients.isin(truth["client"])
    false_alarms = r.table["client"].isin(r.scores.clients[no_gain]).sum()
    examined = r._criteria["gain"].examined[no_gain].sum()
    assert false_alarms / examined < 0.01


def test_chance_baseline_without_sudden_change_is_not_exceeded():
    scores, _ = trajectories(300, 14, seed=5, gain_share=0.0)
    chance = chance_baseline(
        scores,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
        min_change=7,
        n_replicates=60,
        seed=1,
        progress=False,
        method="gradual",
    )
    row = chance.table.iloc[0]
    assert row["p_value"] > 0.05
    assert row["ci_lower"] <= row["observed_gains"] <= row["ci_upper"] + 2


def test_chance_baseline_with_many_gains_finds_an_excess():
    scores, _ = trajectories(300, 14, seed=6, gain_share=0.6, gain_size=(14, 2), baseline=35)
    chance = chance_baseline(
        scores,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
        min_change=7,
        n_replicates=60,
        seed=2,
        progress=False,
    )
    assert list(chance.table["method"]) == ["shuffle", "gradual"]
    assert (chance.table["excess_gains"] > 30).all()
    assert (chance.table["p_value"] < 0.05).all()
    again = chance_baseline(
        scores,
        client="client",
        session="session",
        score="score",
        instrument="BDI-II",
        min_change=7,
        n_replicates=60,
        seed=2,
        progress=False,
    )
    pd.testing.assert_frame_equal(chance.table, again.table)


def test_shuffle_keeps_each_clients_values_and_missing_pattern():
    from toolkit import _random
    from toolkit.sudden_gains._chance import _shuffled

    x = np.array([[1.0, np.nan, 3, 4], [np.nan, 7, 8, np.nan]])
    out = _shuffled(x, _random.stream_keys(0, _random.client_keys(np.arange(2)), "test"))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    for a, b in zip(x, out):
        assert sorted(a[~np.isnan(a)]) == sorted(b[~np.isnan(b)])


# --- plots and bad input -------------------------------------------------------------------
def test_plot_draws_the_means_around_the_gain():
    import matplotlib.pyplot as plt

    r = identify(toolkit.datasets.load_scores("sgdata"), min_change=7)
    fig, ax = plt.subplots()
    assert r.plot(ax=ax) is ax
    line = ax.lines[0]
    expected = r.around().loc[:, ["nm2", "nm1", "n", "np1", "np2", "np3"]].mean().to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert ax.get_ylabel() == "BDI-II"
    plt.close(fig)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="gainz"), "'kind' parameter of identify must be one of"),
        (dict(min_change=None, proportion=None, crit3=False), "Every criterion is switched off"),
        (dict(min_change=-7), r"'min_change' parameter of identify must be a number in \(0, 63\]"),
        (dict(min_change=float("inf")), "'min_change' parameter of identify must be a number"),
        (dict(min_change=True), "'min_change' parameter of identify must be a number"),
        (dict(min_change="big"), "must be a positive number of points, 'reliable_change' or None"),
        (dict(alpha=1.5), r"'alpha' parameter of identify must be a number in \(0, 1\)"),
        (dict(reversal_start=1), r"'reversal_start' parameter of identify must be a whole number"),
        (dict(proportion=2), r"'proportion' parameter of identify must be a number in \(0, 1\]"),
        (dict(loss_criterion2="r"), "'loss_criterion2' parameter"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        identify(toolkit.datasets.load_scores("sgdata"), **{"min_change": 7, **kwargs})


def test_dataframe_needs_roles_and_input_is_not_mutated():
    raw = toolkit.datasets.load("sgdata")
    before = raw.copy()
    with pytest.raises(ValueError, match="pass client=..., session=..., score=..."):
        identify(raw, min_change=7)
    identify(raw, client="id", session="session", score="bdi", instrument="BDI-II", min_change=7)
    pd.testing.assert_frame_equal(raw, before)


def test_default_min_change_is_the_shared_reliable_change_criterion():
    # 1.959964 * sqrt(2) * 12.75 * sqrt(1 - .92) = 9.996 BDI-II points (clinical SD and
    # internal consistency of the manual, as the sudden-gains literature computes it).
    scores = toolkit.datasets.load_scores("sgdata")
    r = identify(scores)
    assert r.settings["min_change_value"] == pytest.approx(
        1.959964 * np.sqrt(2) * 12.75 * np.sqrt(0.08)
    )
    assert r.settings["min_change_value"] == scores.reliable_change.points
    assert r.settings["reliable_change_source"] == "norms"
    assert (r.table["magnitude"] >= 9.996).all()
    own = identify(scores, sd=10.5, reliability=0.931)
    assert own.settings["min_change_value"] == pytest.approx(
        1.959964 * np.sqrt(2) * 10.5 * np.sqrt(0.069)
    )
    assert own.settings["reliable_change_source"] == "per call"
    # PHQ-9 has a published criterion: 6 points, so a drop of exactly 6 counts.
    phq = one_client([20, 21, 20, 14, 13, 14, 13])
    res = identify(phq, client="id", session="s", score="x", instrument="PHQ-9")
    assert res.settings["min_change_value"] == 6 and len(res.table) == 1
    # No criterion at all: criterion 1 is not applied, and a warning says so.
    with pytest.warns(toolkit.errors.ToolkitWarning, match="criterion 1 not applied"):
        plain = identify(one_client([30, 29, 20, 18, 17, 16, 15]), **ROLES)
    assert plain.settings["min_change_value"] is None
    assert plain.settings["min_change_source"] == "not computed"


def test_cutoff_is_a_deprecated_alias_of_min_change():
    scores = toolkit.datasets.load_scores("sgdata")
    with pytest.warns(toolkit.errors.ToolkitDeprecationWarning, match="'cutoff' parameter"):
        old = identify(scores, cutoff=7)
    pd.testing.assert_frame_equal(old.table, identify(scores, min_change=7).table)
