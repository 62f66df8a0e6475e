"""The simulator: its truth table must describe its output exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit import instruments
from toolkit.data import long_scores
from toolkit.simulate import TRUTH_COLUMNS, trajectories

# Noise-free, no gradual change, unrounded: every change in the true score is a known step.
EXACT = dict(noise_sd=0.0, gradual=0.0, gradual_sd=0.0, round_scores=False, baseline_sd=0.0)

WELLBEING = instruments.Instrument(
    name="TEST-WB",
    full_name="A higher-is-better test scale",
    min_score=0,
    max_score=100,
    better="higher",
    clinical_mean=30,
    clinical_sd=10,
    reliability=0.9,
    citation="Test fixture (2024).",
)


def matrix(scores: pd.DataFrame, column: str = "score") -> np.ndarray:
    n_sessions = scores["session"].nunique()
    return scores[column].to_numpy().reshape(-1, n_sessions)


def test_layout_and_columns():
    scores, truth = trajectories(7, 9, seed=0)
    assert list(scores.columns) == ["client", "session", "score", "true_score"]
    assert list(truth.columns) == TRUTH_COLUMNS
    assert len(scores) == 63
    assert scores["client"].tolist()[:10] == [1] * 9 + [2]
    assert scores["session"].tolist()[:9] == list(range(1, 10))
    # Ready for the validator, as promised.
    validated = long_scores(
        scores, client="client", session="session", score="score", instrument="BDI-II"
    )
    assert validated.n_clients == 7 and validated.n_sessions == 9


def test_same_seed_same_data_and_other_seed_other_data():
    a = trajectories(50, 12, seed=42, loss_share=0.2, reversal_share=0.5, missing=0.1)
    b = trajectories(50, 12, seed=42, loss_share=0.2, reversal_share=0.5, missing=0.1)
    c = trajectories(50, 12, seed=43, loss_share=0.2, reversal_share=0.5, missing=0.1)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0]["score"].equals(c[0]["score"])
    # A Generator is accepted in place of a seed.
    d = trajectories(
        50, 12, seed=np.random.default_rng(42), loss_share=0.2, reversal_share=0.5, missing=0.1
    )
    pd.testing.assert_frame_equal(a[0], d[0])


def test_components_draw_from_independent_streams():
    base, _ = trajectories(200, 10, seed=5)
    with_missing, _ = trajectories(200, 10, seed=5, missing=0.3, dropout=0.1)
    np.testing.assert_array_equal(base["true_score"], with_missing["true_score"])
    seen = with_missing["score"].notna()
    np.testing.assert_array_equal(base["score"][seen], with_missing["score"][seen])


def test_gain_step_equals_its_magnitude_without_noise():
    scores, truth = trajectories(300, 12, seed=1, gain_share=0.5, baseline=45, **EXACT)
    true = matrix(scores, "true_score")
    steps = true[:, :-1] - true[:, 1:]  # improvement from session s-1 to s
    expected = np.zeros_like(steps)
    expected[truth["client"] - 1, truth["session"] - 2] = truth["magnitude"]
    np.testing.assert_allclose(steps, expected, atol=1e-9)
    assert 0.40 < truth["client"].nunique() / 300 < 0.60


def test_loss_and_reversal_steps_without_noise():
    scores, truth = trajectories(
        400,
        15,
        seed=2,
        gain_share=0.6,
        loss_share=0.3,
        reversal_share=0.7,
        baseline=31.5,
        gain_size=(8, 2),
        loss_size=(8, 2),
        **EXACT,
    )
    true = matrix(scores, "true_score")
    worsening = true[:, 1:] - true[:, :-1]
    expected = np.zeros_like(worsening)
    sign = truth["kind"].map({"gain": -1.0, "loss": 1.0, "reversal": 1.0}).to_numpy()
    np.add.at(expected, (truth["client"] - 1, truth["session"] - 2), sign * truth["magnitude"])
    np.testing.assert_allclose(worsening, expected, atol=1e-9)
    rev = truth[truth["kind"] == "reversal"]
    gains = truth[truth["kind"] == "gain"].set_index("client")
    assert len(rev) > 50
    # A reversal takes back 50-100% of the gain it reverses, at least two sessions later.
    ratio = rev["magnitude"].to_numpy() / gains.loc[rev["client"], "magnitude"].to_numpy()
    assert ratio.min() >= 0.5 and ratio.max() <= 1.0
    assert (rev["session"] >= rev["reverses_session"] + 2).all()


def test_observed_drop_at_gain_is_about_the_magnitude_with_noise():
    # With gradual change and noise switched on, the average observed drop across the gain
    # session is the average magnitude plus one session of gradual change.
    # Baseline high enough that the floor (0) never clips a step.
    scores, truth = trajectories(
        4000, 12, seed=3, gain_share=1.0, nonresponder_share=0.0, baseline=42
    )
    obs = matrix(scores)
    drop = (
        obs[truth["client"] - 1, truth["session"] - 2]
        - obs[truth["client"] - 1, truth["session"] - 1]
    )
    bdi = instruments.get("BDI-II")
    one_session_of_gradual = 0.5 * bdi.clinical_sd / 11
    assert drop.mean() == pytest.approx(
        truth["magnitude"].mean() + one_session_of_gradual, abs=0.25
    )
    assert truth["magnitude"].mean() == pytest.approx(0.9 * bdi.clinical_sd, rel=0.03)
    assert truth["magnitude"].std() == pytest.approx(0.3 * bdi.clinical_sd, rel=0.06)


def test_noise_sd_is_the_standard_error_of_measurement():
    scores, _ = trajectories(
        5000,
        10,
        seed=4,
        round_scores=False,
        baseline=31.5,
        baseline_sd=1.0,
        gradual=0.0,
        gain_share=0.0,
    )
    resid = scores["score"] - scores["true_score"]
    bdi = instruments.get("BDI-II")
    sem = bdi.clinical_sd * np.sqrt(1 - bdi.test_retest)  # Jacobson & Truax (1991), eq. SE
    assert resid.std() == pytest.approx(sem, rel=0.02)
    assert resid.mean() == pytest.approx(0.0, abs=0.05)


def test_gradual_change_linear_and_log_shapes():
    common = dict(
        seed=6,
        noise_sd=0.0,
        round_scores=False,
        gain_share=0.0,
        baseline_sd=0.0,
        nonresponder_share=0.0,
        gradual=8.0,
        gradual_sd=0.0,
        baseline=30.0,
    )
    lin = matrix(trajectories(3, 11, shape="linear", **common)[0], "true_score")
    log = matrix(trajectories(3, 11, shape="log", **common)[0], "true_score")
    np.testing.assert_allclose(lin[0], 30 - 8 * np.arange(11) / 10)
    np.testing.assert_allclose(log[0], 30 - 8 * np.log1p(np.arange(11)) / np.log(11))


def test_nonresponders_have_no_gradual_change():
    scores, _ = trajectories(
        5000, 6, seed=7, nonresponder_share=0.25, gain_share=0.0, noise_sd=0.0, round_scores=False
    )
    true = matrix(scores, "true_score")
    flat = np.isclose(true[:, 0], true[:, -1])
    assert flat.mean() == pytest.approx(0.25, abs=0.02)


def test_higher_is_better_gains_raise_scores():
    scores, truth = trajectories(200, 10, instrument=WELLBEING, seed=8, gain_share=1.0, **EXACT)
    true = matrix(scores, "true_score")
    rise = (
        true[truth["client"] - 1, truth["session"] - 1]
        - true[truth["client"] - 1, truth["session"] - 2]
    )
    np.testing.assert_allclose(rise, truth["magnitude"])
    assert true[:, 0].mean() == pytest.approx(30)


def test_default_change_window_leaves_three_sessions_each_side():
    _, truth = trajectories(3000, 10, seed=9, gain_share=1.0, first_session=0)
    assert truth["session"].min() == 3 and truth["session"].max() == 7
    _, truth = trajectories(500, 10, seed=9, gain_share=1.0, change_sessions=(2, 2))
    assert set(truth["session"]) == {2}


def test_several_gains_per_client_at_distinct_sessions():
    _, truth = trajectories(300, 20, seed=10, gain_share=1.0, gains_per_client=3, loss_share=0.5)
    per_client = truth[truth["kind"] == "gain"].groupby("client")["session"]
    assert (per_client.size() == 3).all()
    assert not truth.duplicated(["client", "session"]).any()


def test_scores_are_whole_numbers_inside_the_range():
    scores, _ = trajectories(2000, 10, seed=11, baseline=5, gain_share=1.0)  # near the floor
    observed = scores["score"]
    assert observed.min() == 0 and observed.max() <= 63
    assert (observed == np.round(observed)).all()
    assert not np.signbit(observed).any()  # no -0.0
    assert scores["true_score"].min() >= 0


def test_missing_sessions_completely_at_random():
    scores, _ = trajectories(5000, 11, seed=12, missing=0.2)
    miss = np.isnan(matrix(scores))
    assert not miss[:, 0].any()  # the baseline is always observed
    assert miss[:, 1:].mean() == pytest.approx(0.2, abs=0.01)


def test_dropout_is_monotone_with_the_given_hazard():
    scores, _ = trajectories(20000, 6, seed=13, dropout=0.1)
    miss = np.isnan(matrix(scores))
    assert (np.diff(miss.astype(int), axis=1) >= 0).all()  # once gone, gone
    # P(still present at elapsed session t) = 0.9 ** (t - 1) for t >= 1.
    present = 1 - miss.mean(axis=0)
    np.testing.assert_allclose(present, [1, 1, 0.9, 0.81, 0.729, 0.6561], atol=0.01)


def test_no_changes_gives_an_empty_truth_table_with_columns():
    _, truth = trajectories(10, 5, seed=0, gain_share=0.0)
    assert truth.empty and list(truth.columns) == TRUTH_COLUMNS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_clients=0, n_sessions=5), "'n_clients' parameter of trajectories must be a whole"),
        (dict(n_clients=5, n_sessions=1), "'n_sessions' parameter .* whole number in \\[2, "),
        (dict(n_clients=5, n_sessions=5, gain_share=1.5), "'gain_share' .* in \\[0, 1\\]"),
        (dict(n_clients=5, n_sessions=5, shape="cubic"), "must be one of {'linear', 'log'}"),
        (dict(n_clients=5, n_sessions=8, gain_share=1.0, gains_per_client=4), "Only 3 session"),
        (dict(n_clients=5, n_sessions=8, change_sessions=(1, 3)), "sessions within 2..8"),
        (dict(n_clients=5, n_sessions=8, gain_size=(-1, 1)), "'gain_size' .* \\(mean, sd\\)"),
        (dict(n_clients=5, n_sessions=8, reversal_fraction=(0.8, 0.2)), "reversal_fraction"),
        (dict(n_clients=5, n_sessions=8, instrument="NOPE"), "Unknown instrument"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        trajectories(**kwargs)


# --- monitoring additions: deteriorators, late responders, course length, paired measures ---
def test_new_options_off_leave_the_output_exactly_as_before():
    # A Generator passed twice in a row: the new streams must not be spawned unless used.
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    a = [trajectories(40, 8, seed=g1, loss_share=0.2) for _ in range(2)]
    b = [trajectories(40, 8, seed=g2, loss_share=0.2, deteriorator_share=0.0) for _ in range(2)]
    for (s1, t1), (s2, t2) in zip(a, b):
        pd.testing.assert_frame_equal(s1, s2)
        pd.testing.assert_frame_equal(t1, t2)


def test_deteriorators_get_worse_by_their_magnitude_without_noise():
    scores, truth = trajectories(
        2000,
        10,
        seed=2,
        deteriorator_share=0.3,
        deterioration=(8.0, 2.0),
        gain_share=0.0,
        noise_sd=0.0,
        round_scores=False,
        baseline=30.0,
        baseline_sd=0.0,
        gradual=4.0,
        gradual_sd=0.0,
    )
    true = matrix(scores, "true_score")
    det = truth[truth["kind"] == "deterioration"]
    assert 0.25 < len(det) / 2000 < 0.35
    assert (det["session"] == 2).all()
    worse = true[det["client"] - 1, -1] - true[det["client"] - 1, 0]  # BDI-II: up is worse
    np.testing.assert_allclose(worse, det["magnitude"], atol=1e-9)
    assert det["magnitude"].mean() == pytest.approx(8.0, abs=0.3)
    others = np.setdiff1d(np.arange(1, 2001), det["client"])
    assert (true[others - 1, -1] <= true[others - 1, 0] + 1e-9).all()  # they improve or stay


def test_late_responders_change_little_before_their_onset_then_fast():
    scores, truth = trajectories(
        1000,
        16,
        seed=4,
        late_responder_share=1.0,
        late_response=(9.0, 0.0),
        late_ramp=2,
        gain_share=0.0,
        noise_sd=0.0,
        round_scores=False,
        baseline=30.0,
        baseline_sd=0.0,
    )
    true = matrix(scores, "true_score")
    late = truth[truth["kind"] == "late response"].set_index("client")
    assert len(late) == 1000
    onset = late["session"].to_numpy()  # first session with improvement
    assert ((onset >= 1 + round(0.4 * 15)) & (onset <= 1 + round(0.6 * 15))).all()
    rows = np.arange(1000)
    before = true[rows, onset - 2]
    np.testing.assert_allclose(before, 30.0)  # no change until the onset
    np.testing.assert_allclose(true[rows, onset - 1], 30.0 - 4.5)  # half after one session
    np.testing.assert_allclose(true[:, -1], 21.0)  # all of it after the ramp


def test_course_lengths_vary_and_rows_after_a_course_are_left_out():
    scores, truth = trajectories(
        3000, 12, seed=5, course_length=(4, 12), gain_share=0.5, change_sessions=(2, 11)
    )
    n = scores.groupby("client").size()
    assert n.min() == 4 and n.max() == 12 and set(n) == set(range(4, 13))
    last = scores.groupby("client")["session"].max()
    assert (truth["session"].to_numpy() <= last.loc[truth["client"]].to_numpy()).all()
    assert list(scores.columns) == ["client", "session", "score", "true_score"]


def test_gradual_change_is_spread_over_each_clients_own_course():
    scores, _ = trajectories(
        500,
        12,
        seed=6,
        course_length=(4, 12),
        gradual=10.0,
        gradual_sd=0.0,
        nonresponder_share=0.0,
        gain_share=0.0,
        noise_sd=0.0,
        round_scores=False,
        baseline=30.0,
        baseline_sd=0.0,
    )
    end = scores.groupby("client")["true_score"].last()
    np.testing.assert_allclose(end, 20.0)  # the full 10 points by each course's end


def test_a_paired_measure_follows_the_primary_in_its_own_units():
    scores, _ = trajectories(
        4000,
        10,
        instrument="PHQ-9",
        seed=7,
        paired_instrument="GAD-7",
        missing=0.1,
        deteriorator_share=0.1,
        paired_coupling_sd=0.0,
        paired_baseline_correlation=1.0,
    )
    gad = instruments.get("GAD-7")
    assert {"paired_score", "paired_true_score"} <= set(scores.columns)
    assert scores["paired_score"].dropna().between(gad.min_score, gad.max_score).all()
    np.testing.assert_array_equal(scores["score"].isna(), scores["paired_score"].isna())
    phq_change = matrix(scores, "true_score")[:, -1] - matrix(scores, "true_score")[:, 0]
    gad_change = (
        matrix(scores, "paired_true_score")[:, -1] - matrix(scores, "paired_true_score")[:, 0]
    )
    inside = (matrix(scores, "true_score") > 0).all(1) & (
        matrix(scores, "paired_true_score") > 0
    ).all(1)
    # With coupling 1 for everyone, the GAD-7 change is the PHQ-9 change in GAD-7 units
    # (each a sixth of its range here): 21 / 27 of it.
    np.testing.assert_allclose(gad_change[inside], phq_change[inside] * 21 / 27, atol=1e-9)
    loose, _ = trajectories(4000, 10, instrument="PHQ-9", seed=7, paired_instrument="GAD-7")
    r = np.corrcoef(loose["score"], loose["paired_score"])[0, 1]
    assert 0.3 < r < 0.95


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(deteriorator_share=0.7, late_responder_share=0.5), "at most 1"),
        (dict(late_responder_share=-0.1), "'late_responder_share' .* in \\[0, 1\\]"),
        (dict(course_length=(1, 5)), "'course_length' .* \\(shortest, longest\\)"),
        (dict(course_length=(4, 20)), "'course_length' .* <= n_sessions \\(8\\)"),
        (dict(late_onset=(0.6, 0.4)), "late_onset"),
        (dict(late_ramp=0), "late_ramp"),
        (dict(deterioration=(-1.0, 1.0)), "'deterioration' .* \\(mean, sd\\) pair"),
        (dict(paired_baseline_correlation=2.0), "paired_baseline_correlation"),
    ],
)
def test_bad_monitoring_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        trajectories(10, 8, **kwargs)
