"""Tests of toolkit.evaluate.detection: hand-worked counts, matching, contracts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit.evaluate import MATCH_COLUMNS, SUMMARY_COLUMNS, detection
from toolkit.simulate import trajectories


def tables(true_rows, found_rows, session="session"):
    truth = pd.DataFrame(true_rows, columns=["client", "session"]).assign(kind="gain")
    found = pd.DataFrame(found_rows, columns=["client", session])
    return truth, found


def test_exact_columns():
    assert SUMMARY_COLUMNS == [
        "n_true",
        "n_detected",
        "true_positives",
        "false_positives",
        "false_negatives",
        "precision",
        "recall",
        "f1",
        "mean_abs_error",
        "mean_error",
        "exact_share",
        "tolerance",
    ]
    assert MATCH_COLUMNS == ["client", "true_session", "detected_session", "error"]
    res = detection(*tables([(1, 5)], [(1, 5)]))
    assert list(res.summary().columns) == SUMMARY_COLUMNS and len(res.summary()) == 1
    assert list(res.matches.columns) == MATCH_COLUMNS
    empty = detection(*tables([], []))
    assert list(empty.summary().columns) == SUMMARY_COLUMNS
    assert list(empty.matches.columns) == MATCH_COLUMNS and empty.matches.empty


def test_hand_worked_counts():
    # client 1: truth 5, found 6 (match, error +1); client 2: truth 7, nothing found (FN);
    # client 3: nothing true, found 4 (FP); client 4: truth 3, found 6 (too far: FN + FP).
    truth, found = tables([(1, 5), (2, 7), (4, 3)], [(1, 6), (3, 4), (4, 6)])
    s = detection(truth, found, tolerance=1).summary().iloc[0]
    assert (s.n_true, s.n_detected, s.true_positives, s.false_positives, s.false_negatives) == (
        3,
        3,
        1,
        2,
        2,
    )
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 3)
    assert s.f1 == pytest.approx(2 * 1 / (3 + 3))
    assert (s.mean_abs_error, s.mean_error, s.exact_share) == (1.0, 1.0, 0.0)
    # a wider tolerance matches client 4 too
    s = detection(truth, found, tolerance=3).summary().iloc[0]
    assert s.true_positives == 2 and s.mean_error == pytest.approx((1 + 3) / 2)


def test_tolerance_boundary_and_exact():
    truth, found = tables([(1, 5), (2, 5)], [(1, 5), (2, 7)])
    assert detection(truth, found, tolerance=2).summary().loc[0, "true_positives"] == 2
    assert detection(truth, found, tolerance=1).summary().loc[0, "true_positives"] == 1
    s = detection(truth, found, tolerance=0).summary().iloc[0]
    assert s.true_positives == 1 and s.exact_share == 1.0


def test_one_to_one_matching():
    # two detections near one true change: one match, one false positive
    s = detection(*tables([(1, 5)], [(1, 4), (1, 5)])).summary().iloc[0]
    assert (s.true_positives, s.false_positives, s.mean_abs_error) == (1, 1, 0.0)


def test_maximum_matching_beats_greedy():
    # truth 2, 3; found 3, 4: greedy on the exact pair (3, 3) would match only one;
    # the maximum matching pairs (2, 3) and (3, 4).
    res = detection(*tables([(1, 2), (1, 3)], [(1, 3), (1, 4)]))
    assert res.summary().loc[0, "true_positives"] == 2
    assert res.matches[["true_session", "detected_session"]].values.tolist() == [[2, 3], [3, 4]]


def test_least_error_among_maximum_matchings():
    # truth 4, 8; found 5, 8: both matchings pairwise valid with tolerance 4? (4,5)+(8,8)
    # has total error 1; (4,8)+(8,5) has 7. The first must be chosen.
    res = detection(*tables([(1, 4), (1, 8)], [(1, 5), (1, 8)]), tolerance=4)
    assert res.matches["error"].abs().sum() == 1


def brute_force_tp(t, d, tol):
    """Largest number of one-to-one pairs within tolerance (all assignments tried)."""
    best = 0
    for k in range(min(len(t), len(d)), 0, -1):
        for ts in itertools.combinations(range(len(t)), k):
            for ds in itertools.permutations(range(len(d)), k):
                if all(abs(t[a] - d[b]) <= tol for a, b in zip(ts, ds)):
                    return k
    return best


def test_against_brute_force_oracle():
    rng = np.random.default_rng(0)
    for _ in range(150):
        t = sorted(rng.choice(np.arange(1, 12), size=rng.integers(0, 4), replace=False))
        d = sorted(rng.choice(np.arange(1, 12), size=rng.integers(0, 4), replace=False))
        tol = int(rng.integers(0, 3))
        res = detection(*tables([(1, x) for x in t], [(1, x) for x in d]), tolerance=tol)
        assert res.summary().loc[0, "true_positives"] == brute_force_tp(t, d, tol)
        assert (res.matches["error"].abs() <= tol).all()


def test_kinds_filter_and_session_columns():
    truth = pd.DataFrame(
        {"client": [1, 1, 2], "kind": ["gain", "loss", "gain"], "session": [4, 9, 6]}
    )
    found = pd.DataFrame({"client": [1, 1, 2], "gain_session": [4, 9, 6]})
    all_kinds = detection(truth, found, detected_session="gain_session").summary().iloc[0]
    gains = (
        detection(truth, found, detected_session="gain_session", kinds=["gain"]).summary().iloc[0]
    )
    assert (all_kinds.true_positives, all_kinds.false_positives) == (3, 0)
    assert (gains.n_true, gains.true_positives, gains.false_positives) == (2, 2, 1)


def test_undefined_ratios_are_missing():
    s = detection(*tables([(1, 5)], [])).summary().iloc[0]
    assert np.isnan(s.precision) and s.recall == 0 and s.f1 == 0
    s = detection(*tables([], [(1, 5)])).summary().iloc[0]
    assert s.precision == 0 and np.isnan(s.recall)
    s = detection(*tables([], [])).summary().iloc[0]
    assert np.isnan(s.f1) and np.isnan(s.mean_abs_error)


def test_simulator_truth_table_and_inputs_unchanged():
    _, truth = trajectories(50, 12, gain_share=0.5, loss_share=0.2, seed=2)
    detected = truth[truth["kind"] == "gain"][["client", "session"]].copy()
    detected["session"] += 1
    before_t, before_d = truth.copy(), detected.copy()
    s = detection(truth, detected, kinds=["gain"]).summary().iloc[0]
    assert s.precision == 1 and s.recall == 1 and s.mean_error == 1
    pd.testing.assert_frame_equal(truth, before_t)
    pd.testing.assert_frame_equal(detected, before_d)


def test_errors():
    truth, found = tables([(1, 5)], [(1, 5)])
    with pytest.raises(ValueError, match="detected table has no column 'gain_session'"):
        detection(truth, found, detected_session="gain_session")
    with pytest.raises(ValueError, match="truth table has no column 'id'"):
        detection(truth, found, client="id")
    with pytest.raises(ValueError, match="'tolerance' parameter of detection must be a number"):
        detection(truth, found, tolerance=-1)
    with pytest.raises(ValueError, match="no column 'type'"):
        detection(truth, found, kinds=["gain"], kind="type")


def test_a_result_is_scored_through_its_breakthroughs():
    df, truth = trajectories(
        120,
        14,
        instrument="BDI-II",
        gain_share=0.5,
        gradual=0.0,
        gradual_sd=0.0,
        gain_size=(18.0, 1.0),
        seed=4,
    )
    scores = toolkit.long_scores(
        df, client="client", session="session", score="score", instrument="BDI-II"
    )
    sg = toolkit.sudden_gains.identify(scores)
    by_result = detection(truth, sg, kinds=["gain"])
    by_table = detection(truth, sg.breakthroughs(), kinds=["gain"])
    pd.testing.assert_frame_equal(by_result.summary(), by_table.summary())
    assert by_result.settings["reliable_change_points"] == scores.reliable_change.points
    assert by_result.summary().loc[0, "recall"] > 0.8
