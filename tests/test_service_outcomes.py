"""NHS Talking Therapies outcome measures against 29 hand-worked clients.

Every client below was classified by hand from the published definitions (NHS Talking
Therapies Manual; Gyani, Shafran, Layard & Clark, 2013): caseness PHQ-9 >= 10 or GAD-7 >= 8,
a finished course has >= 2 sessions, reliable change PHQ-9 >= 6 and GAD-7 >= 4 points,
reliable improvement = a reliable decrease on at least one measure and no reliable increase
on the other, reliable deterioration its mirror image, recovery = caseness at the first and
not at the last session, reliable recovery = both. The middle sessions hold values that must
not matter. ``N`` = not applicable (<NA>).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import monitoring
from toolkit.errors import DataError, OptionError

N = None  # not applicable
nan = np.nan

# id: (PHQ-9 by session, GAD-7 by session), sessions 1, 2, ...; a value None = no row at all.
CLIENTS = {
    1: ([10, 20, 1, 4], [8, 20, 0, 3]),  # both exactly at caseness and exactly reliable
    2: ([9, 0, 27, 3], [7, 0, 21, 2]),  # not a case at the start
    3: ([15, 12, 11, 10], [5, 5, 5, 5]),  # PHQ 10 at the end: still a case; change 5 < 6
    4: ([16, 14, 12, 10], [9, 9, 9, 8]),  # PHQ change exactly 6; still a case at the end
    5: ([12, 11, 10, 9], [10, 9, 9, 8]),  # GAD exactly 8 at the end: still a case
    6: ([12, 11, 10, 9], [10, 9, 8, 7]),  # recovered without reliable change
    7: ([12, 10, 8, 6], [10, 11, 12, 14]),  # improvement on PHQ, deterioration on GAD
    8: ([5, 7, 9, 11], [4, 5, 6, 8]),  # both reliably worse (exactly 6 and 4)
    9: ([5, 7, 9, 10], [4, 5, 6, 8]),  # PHQ +5 (not reliable), GAD +4 (reliable)
    10: ([20, 18, 16, 14], [12, 13, 15, 16]),  # mixed again, from caseness
    11: ([14], [9]),  # a course of one session, at caseness
    12: ([5], [3]),  # a course of one session, not a case
    13: ([14, 12, 9, 6], [10, 9, 8, nan]),  # GAD missing at the last session
    14: ([nan, 12, 10, 8], [9, 7, 5, 3]),  # PHQ missing at the first session
    15: ([14, 12, nan], [9, 8, nan]),  # both missing at the last session
    16: ([14, 12, 10, 8, 6], [10, 9, 8, 7, None]),  # GAD has no row at session 5
    17: ([27, 25, 23, 21], [21, 21, 21, 21]),  # reliable improvement, still a case
    18: ([10, 10, 10, 10], [8, 8, 8, 8]),  # unchanged at both thresholds
    19: ([9, 9, 9, 9], [8, 8, 8, 7]),  # a case on GAD only; recovered, not reliably
    20: ([11, 9, 7, 5], [3, 5, 6, 7]),  # recovered, mixed change
    21: ([0, 0, 0, 0], [0, 0, 0, 0]),  # the floor
    22: ([14, 12, 10, 9], [11, 9, 8, 7]),  # GAD change exactly 4: reliable improvement
    23: ([14, 16, 18, 20], [11, 10, 9, 8]),  # PHQ +6: reliable deterioration
    24: ([14, 16, 17, 19], [11, 12, 13, 14]),  # +5 and +3: nothing reliable
    25: ([13, 7], [9, 5]),  # exactly two sessions: a finished course
    26: ([10, 10, 9, 9], [7, 6, 4, 3]),  # GAD -4 reliable, PHQ 10 -> 9
    27: ([9, 11, 13, 15], [7, 8, 10, 11]),  # not a case at start, both reliably worse
    28: ([22, 20, 18, 16], [15, 14, 12, 11]),  # both reliably better, PHQ still a case
    29: ([15, 10, 5], None),  # no GAD-7 at all
}

COLS = [
    "finished_course",
    "caseness_first",
    "caseness_last",
    "reliable_improvement",
    "reliable_deterioration",
    "moved_to_recovery",
    "reliable_recovery",
]
# Hand-worked, with missing="skip" and mixed="neither".
T, F = True, False
EXPECTED = {
    1: (T, T, F, T, F, T, T),
    2: (T, F, F, T, F, N, N),
    3: (T, T, T, F, F, F, F),
    4: (T, T, T, T, F, F, F),
    5: (T, T, T, F, F, F, F),
    6: (T, T, F, F, F, T, F),
    7: (T, T, T, F, F, F, F),
    8: (T, F, T, F, T, N, N),
    9: (T, F, T, F, T, N, N),
    10: (T, T, T, F, F, F, F),
    11: (F, T, N, N, N, N, N),
    12: (F, F, N, N, N, N, N),
    13: (T, N, N, N, N, N, N),
    14: (T, N, N, N, N, N, N),
    15: (T, N, N, N, N, N, N),
    16: (T, N, N, N, N, N, N),
    17: (T, T, T, T, F, F, F),
    18: (T, T, T, F, F, F, F),
    19: (T, T, F, F, F, T, F),
    20: (T, T, F, F, F, T, F),
    21: (T, F, F, F, F, N, N),
    22: (T, T, F, T, F, T, T),
    23: (T, T, T, F, T, F, F),
    24: (T, T, T, F, F, F, F),
    25: (T, T, F, T, F, T, T),
    26: (T, T, F, T, F, T, T),
    27: (T, F, T, F, T, N, N),
    28: (T, T, T, T, F, F, F),
    29: (T, N, N, N, N, N, N),
}
# With missing="available": the clients missing a measure, assessed on the other one.
AVAILABLE = {
    13: (T, T, F, T, F, T, T, "PHQ-9"),  # PHQ 14 -> 6
    14: (T, T, F, T, F, T, T, "GAD-7"),  # GAD 9 -> 3
    15: (T, N, N, N, N, N, N, "none"),
    16: (T, T, F, T, F, T, T, "PHQ-9"),  # PHQ 14 -> 6
    29: (T, T, F, T, F, T, T, "PHQ-9"),  # PHQ 15 -> 5
}


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = {"phq": [], "gad": []}
    for cid, (phq, gad) in CLIENTS.items():
        for key, values in (("phq", phq), ("gad", gad)):
            if values is None:
                continue
            for s, v in enumerate(values, start=1):
                if v is None:
                    continue
                rows[key].append({"id": cid, "week": s, "score": v})
    return pd.DataFrame(rows["phq"]), pd.DataFrame(rows["gad"])


def run(**kwargs):
    phq, gad = frames()
    return monitoring.service_outcomes(
        {"PHQ-9": phq, "GAD-7": gad}, client="id", session="week", score="score", **kwargs
    )


def as_plain(value):
    return None if value is pd.NA else bool(value)


def test_at_least_25_hand_worked_clients_cover_every_edge():
    assert len(EXPECTED) >= 25
    phq, gad = frames()
    firsts = phq.groupby("id")["score"].first()
    assert (firsts == 10).any() and (gad.groupby("id")["score"].first() == 8).any()


@pytest.mark.parametrize("cid", sorted(EXPECTED))
def test_each_client_matches_the_hand_classification(cid):
    res = run()
    row = res.table.set_index("client").loc[cid]
    got = tuple(as_plain(row[c]) for c in COLS)
    assert got == EXPECTED[cid]


@pytest.mark.parametrize("cid", sorted(AVAILABLE))
def test_missing_available_uses_the_measure_a_client_has(cid):
    res = run(missing="available")
    row = res.table.set_index("client").loc[cid]
    got = tuple(as_plain(row[c]) for c in COLS) + (row["measures_used"],)
    assert got == AVAILABLE[cid]


def test_mixed_deterioration_counts_opposite_reliable_changes_as_deterioration():
    t = run(mixed="deterioration").table.set_index("client")
    for cid in (7, 10):  # reliable improvement on PHQ-9, reliable deterioration on GAD-7
        assert t.loc[cid, "reliable_deterioration"] is True or t.loc[cid, "reliable_deterioration"]
        assert not t.loc[cid, "reliable_improvement"]
    neither = run().table.set_index("client")
    assert not neither.loc[7, "reliable_deterioration"]
    assert not neither.loc[20, "reliable_deterioration"]  # 20: +4 on GAD, -6 on PHQ


def test_scores_per_measure_and_sessions():
    t = run().table.set_index("client")
    assert t.loc[16, "n_sessions"] == 5 and t.loc[16, "last_session"] == 5
    assert t.loc[16, "depression_last"] == 6 and np.isnan(t.loc[16, "anxiety_last"])
    assert t.loc[11, "n_sessions"] == 1 and t.loc[25, "n_sessions"] == 2
    assert t.loc[1, "depression_reliable_improvement"] and t.loc[1, "anxiety_reliable_improvement"]
    assert t.loc[8, "depression_reliable_deterioration"]
    assert t.loc[9, "anxiety_reliable_deterioration"]
    assert not t.loc[9, "depression_reliable_deterioration"]
    assert t.loc[29, "measures_used"] == "none"
    assert list(run().table.columns) == monitoring.SERVICE_COLUMNS


def test_skipped_clients_are_reported_with_the_missing_measure_and_session():
    res = run()
    reasons = res.skipped.set_index("client")["reason"]
    assert set(reasons.index) == {13, 14, 15, 16, 29}
    assert "GAD-7 missing at the last session" in reasons[13]
    assert "PHQ-9 missing at the first session" in reasons[14]
    assert "GAD-7 missing at the last session" in reasons[16]  # different session sets
    assert "GAD-7 missing at the first session" in reasons[29]
    assert set(run(missing="available").skipped["client"]) == {15}


def test_summary_counts_equal_the_hand_counts():
    s = run().summary().set_index("metric")
    exp = pd.DataFrame(EXPECTED, index=COLS).T
    finished = exp["finished_course"]
    assert s.loc["clients", "n"] == 29
    assert s.loc["finished_course", "n"] == finished.sum() == 27
    case = exp["caseness_first"].eq(True) & finished
    for metric, among in (
        ("moved_to_recovery", case),
        ("reliable_recovery", case),
        ("reliable_improvement", finished),
        ("reliable_deterioration", finished),
    ):
        known = exp.loc[among, metric].notna()
        assert s.loc[metric, "n"] == exp.loc[among, metric][known].eq(True).sum()
        assert s.loc[metric, "denominator"] == known.sum()
        assert s.loc[metric, "percent"] == pytest.approx(
            100 * s.loc[metric, "n"] / s.loc[metric, "denominator"]
        )
    assert list(run().summary().columns) == monitoring.SERVICE_SUMMARY_COLUMNS
    # Moved to recovery: clients 1, 6, 19, 20, 22, 25, 26 of the 17 finished cases with paired
    # data (1, 3-7, 10, 17-20, 22-26, 28).
    assert s.loc["moved_to_recovery", "n"] == 7
    assert s.loc["moved_to_recovery", "denominator"] == 17


def test_thresholds_are_parameters_and_default_to_the_registry():
    res = run()
    phq = toolkit.instruments.get("PHQ-9").threshold("NHS Talking Therapies caseness").value
    gad = toolkit.instruments.get("GAD-7").threshold("NHS Talking Therapies caseness").value
    assert res.settings["caseness"] == {"PHQ-9": phq, "GAD-7": gad} == {"PHQ-9": 10, "GAD-7": 8}
    assert res.settings["reliable_change_points"] == {"PHQ-9": 6.0, "GAD-7": 4.0}
    # Caseness at PHQ-9 >= 11 turns client 1 (PHQ 10, GAD 8) into a case by GAD alone.
    t = run(caseness={"PHQ-9": 11}).table.set_index("client")
    assert t.loc[26, "caseness_first"] is False or not t.loc[26, "caseness_first"]  # PHQ 10
    # Another reliable-change criterion comes from validation, as everywhere else.
    phq_df, gad_df = frames()
    seven = toolkit.long_scores(
        phq_df, client="id", session="week", score="score", instrument="PHQ-9", reliable_change=7
    )
    t7 = monitoring.service_outcomes(
        {"PHQ-9": seven, "GAD-7": gad_df}, client="id", session="week", score="score"
    ).table.set_index("client")
    assert not t7.loc[1, "depression_reliable_improvement"]  # a change of 6 < 7


def test_finished_course_needs_min_sessions():
    t = run(min_sessions=3).table.set_index("client")
    assert not t.loc[25, "finished_course"] and t.loc[25, "moved_to_recovery"] is pd.NA


def test_bad_input_raises_clear_errors():
    phq, gad = frames()
    with pytest.raises(DataError, match=r"No scores for \['GAD-7'\]"):
        monitoring.service_outcomes({"PHQ-9": phq}, client="id", session="week", score="score")
    other = gad.assign(id=gad["id"] + 1000)
    with pytest.raises(DataError, match="share no client"):
        monitoring.service_outcomes(
            {"PHQ-9": phq, "GAD-7": other}, client="id", session="week", score="score"
        )
    with pytest.raises(OptionError, match="'missing' parameter"):
        run(missing="drop")
    bdi = toolkit.long_scores(
        phq.assign(score=phq["score"] * 2),
        client="id",
        session="week",
        score="score",
        instrument="BDI-II",
    )
    with pytest.raises(OptionError, match="no registered 'NHS Talking Therapies caseness'"):
        monitoring.service_outcomes(
            {"BDI-II": bdi, "GAD-7": gad},
            depression="BDI-II",
            client="id",
            session="week",
            score="score",
        )


def test_inputs_are_not_modified_and_breakthroughs_have_one_shape():
    phq, gad = frames()
    before = phq.copy()
    res = monitoring.service_outcomes(
        {"PHQ-9": phq, "GAD-7": gad}, client="id", session="week", score="score"
    )
    pd.testing.assert_frame_equal(phq, before)
    bt = res.breakthroughs("both")
    assert set(bt.loc[bt["direction"] == "improvement", "client"]) == {
        c for c, e in EXPECTED.items() if e[3]
    }
    assert set(bt.loc[bt["direction"] == "deterioration", "client"]) == {
        c for c, e in EXPECTED.items() if e[4]
    }
    assert "Gyani" in res.methods_text() and "PHQ-9 6 points" in res.methods_text()
