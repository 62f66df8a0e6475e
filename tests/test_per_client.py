"""toolkit.breakthroughs: one row per client across methods, agreement, reasons, counts.

Independent checks: Cohen's kappa and the agreement counts on a 2 x 2 table worked by hand,
Wilson intervals against Newcombe's (1998) published values, and every per-method column
against the method's own result computed separately.
"""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import datasets, simulate
from toolkit.changepoint import detect
from toolkit.data import long_scores
from toolkit.per_client import (
    AGREEMENT_COLUMNS,
    DISAGREEMENT_COLUMNS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    BreakthroughsResult,
    cohen_kappa,
    wilson_interval,
)
from toolkit.per_client._agreement import agreement, disagreements
from toolkit.reliable_change import reliable_change
from toolkit.sudden_gains import identify

QUIET = {"changepoint": {"progress": False}}


def answer(scores, **kw):
    kw.setdefault("options", QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        return toolkit.breakthroughs(scores, **kw)


@pytest.fixture(scope="module")
def sgdata():
    return datasets.load_scores("sgdata")


@pytest.fixture(scope="module")
def sg_answer(sgdata):
    return answer(sgdata, n_boot=99)


# --- hand-worked statistics ----------------------------------------------------------------


def test_cohen_kappa_by_hand():
    # both 2, only a 1, only b 1, neither 1: p_o = 3/5; both raters say yes to 3 of 5, so
    # p_e = 0.6 * 0.6 + 0.4 * 0.4 = 0.52 and kappa = (0.6 - 0.52) / 0.48 = 1/6.
    assert cohen_kappa(2, 1, 1, 1) == pytest.approx(1 / 6)
    # Perfect agreement, chance agreement, and the undefined cases.
    assert cohen_kappa(3, 0, 0, 7) == pytest.approx(1.0)
    assert cohen_kappa(1, 1, 1, 1) == pytest.approx(0.0)
    assert math.isnan(cohen_kappa(4, 0, 0, 0))  # both rate everyone yes: p_e = 1
    assert math.isnan(cohen_kappa(0, 0, 0, 0))


def test_agreement_counts_by_hand_and_unanalysed_clients_left_out():
    table = pd.DataFrame(
        {
            "client": list("abcdef"),
            "rc_flag": pd.array([True, True, False, False, True, pd.NA], dtype="boolean"),
            "rc_note": ["x"] * 6,
            "sg_flag": pd.array([True, False, False, True, True, True], dtype="boolean"),
            "sg_note": ["gain", "no drop", "no drop", "gain", "gain", "gain"],
        }
    )
    got = agreement(table, ["reliable_change", "sudden_gains"])
    assert list(got.columns) == AGREEMENT_COLUMNS
    row = got.iloc[0]
    assert (row["n_clients"], row["both"], row["only_a"], row["only_b"], row["neither"]) == (
        5,
        2,
        1,
        1,
        1,
    )
    assert row["agreement"] == pytest.approx(3 / 5)
    assert row["kappa"] == pytest.approx(1 / 6)
    why = disagreements(table, ["reliable_change", "sudden_gains"])
    assert list(why.columns) == DISAGREEMENT_COLUMNS
    # b: flagged by reliable change only, the reason is sudden gains' note; d: the reverse;
    # f: sudden gains flags a client reliable change could not analyse.
    assert set(why["client"]) == {"b", "d", "f"}
    b = why.set_index("client").loc["b"]
    assert b["flagged_by"] == "reliable change" and "sudden gains: no drop" in b["reason"]


def test_wilson_interval_against_newcombe_1998():
    # Newcombe (1998), Table I: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605;
    # 0/20 -> 0-0.1611; 1/29 -> 0.0061-0.1718.
    lo, hi = wilson_interval(np.array([81, 15, 0, 1]), np.array([263, 148, 20, 29]))
    np.testing.assert_allclose(lo, [0.2553, 0.0624, 0.0, 0.0061], atol=6e-5)
    np.testing.assert_allclose(hi, [0.3662, 0.1605, 0.1611, 0.1718], atol=6e-5)
    lo0, hi0 = wilson_interval(0, 0)
    assert np.isnan(lo0) and np.isnan(hi0)


# --- the table -------------------------------------------------------------------------------


def test_table_has_one_row_per_client_with_every_block(sg_answer, sgdata):
    t = sg_answer.table
    assert isinstance(sg_answer, BreakthroughsResult)
    assert list(t.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    assert len(t) == sgdata.n_clients and t["client"].is_unique
    assert list(t["client"]) == list(sgdata.clients)
    # The Bayesian block is there but not run.
    assert t["bayes_flag"].isna().all() and (t["bayes_note"] == "not run").all()
    # Carried client-level covariates.
    assert {"bdi_fu1", "bdi_fu2"} <= set(t.columns)
    for column in ("rc_flag", "sg_flag", "cp_flag", "bayes_flag"):
        assert str(t[column].dtype) == "boolean"
    assert (t["rc_note"].notna() & t["sg_note"].notna() & t["cp_note"].notna()).all()


def test_columns_equal_the_methods_own_results(sg_answer, sgdata):
    t = sg_answer.table.set_index("client")
    rc = reliable_change(sgdata).table.set_index("client")
    assert (t["rc_category"] == rc["category"].astype(object)).all()
    np.testing.assert_allclose(t["rc_rci"], rc["rci"])
    assert (t["rc_flag"] == rc["reliable_improvement"]).all()

    sg = identify(sgdata).by_client("first", kind="gain").set_index("client")
    analysed = sg["n_gains_client"].notna()
    assert (t.loc[analysed, "sg_flag"] == (sg.loc[analysed, "n_gains_client"] > 0)).all()
    assert t.loc[~analysed, "sg_flag"].isna().all()
    np.testing.assert_array_equal(t["sg_session"], sg["gain_session"].astype(float))
    np.testing.assert_array_equal(t["sg_magnitude"], sg["magnitude"])

    cp = detect(sgdata, test=True, n_boot=99, seed=0, progress=False)
    clients = cp.clients.set_index("client")
    np.testing.assert_array_equal(
        t.loc[clients.index, "cp_n_changes"], clients["n_changes"].astype(float)
    )
    np.testing.assert_allclose(t.loc[clients.index, "cp_p_value"], clients["p_value"])
    improving = set(cp.breakthroughs("improvement")["client"])
    assert set(t.index[t["cp_flag"].fillna(False).astype(bool)]) == improving
    first = cp.breakthroughs("improvement").drop_duplicates("client").set_index("client")
    np.testing.assert_array_equal(t.loc[first.index, "cp_session"], first["session"])
    # n_methods counts the flags.
    flags = t[["rc_flag", "sg_flag", "cp_flag"]].fillna(False).astype(int).sum(axis=1)
    assert (t["n_methods"] == flags).all()


def test_reasons_name_the_criterion_that_stopped_a_client(sg_answer):
    t = sg_answer.table.set_index("client")
    points = sg_answer.scores.reliable_change.points
    no_gain = t["sg_flag"].eq(False).fillna(False)
    notes = set(t.loc[no_gain, "sg_note"])
    assert any("criterion 3" in n for n in notes)
    assert any("reliable-change criterion (criterion 1)" in n for n in notes)
    # A client with a reversed first gain says so.
    reversed_ = t["sg_reversed"].fillna(False).astype(bool)
    assert reversed_.any()
    assert (t.loc[reversed_, "sg_note"] == "sudden gain, later reversed").all()
    # Clients the change-point search could not analyse have a missing flag and the reason.
    skipped = t["cp_flag"].isna()
    assert skipped.any() and t.loc[skipped, "cp_note"].str.contains("observed score").all()
    # A change too small for the criterion is named as such.
    small = t["cp_flag"].eq(False).fillna(False) & (t["cp_jump"] < 0)
    assert small.any()
    assert (-t.loc[small, "cp_jump"] < points).all()
    assert t.loc[small, "cp_note"].str.contains("too small").all()


def test_crafted_clients_get_the_reason_in_words():
    # a: one big drop that holds (a gain); b: the same drop, reversed four sessions later;
    # c: a steady decline of 2 points a session (reliable overall, never sudden);
    # d: three scores only (sudden gains cannot examine any interval).
    rows = {
        "a": [24, 25, 24, 23, 8, 8, 7, 8, 8, 7],
        "b": [24, 25, 24, 23, 8, 8, 7, 8, 22, 23, 24, 23],
        "c": [24, 22, 20, 18, 16, 14, 12, 10, 8, 6],
        "d": [24, 23, 8],
    }
    df = pd.DataFrame(
        [(c, s + 1, v) for c, vals in rows.items() for s, v in enumerate(vals)],
        columns=["id", "session", "score"],
    )
    scores = long_scores(df, client="id", session="session", score="score", instrument="PHQ-9")
    t = answer(scores, n_boot=99).table.set_index("client")
    assert t.loc["a", "sg_note"] == "sudden gain" and bool(t.loc["a", "sg_flag"])
    assert t.loc["b", "sg_note"] == "sudden gain, later reversed"
    assert "criterion 1" in t.loc["c", "sg_note"] and not t.loc["c", "sg_flag"]
    assert bool(t.loc["c", "rc_flag"])
    assert pd.isna(t.loc["d", "sg_flag"]) and "no interval" in t.loc["d", "sg_note"]
    assert t.loc["b", "rc_note"] == "change too small for the 6-point reliable-change criterion"


@pytest.mark.parametrize("name", datasets.names())
def test_one_row_per_client_on_every_shipped_dataset(name):
    try:
        scores = datasets.load_scores(name)
    except datasets.NotGeneratedError:
        pytest.skip(f"{name} is generated by `make datasets`")
    if scores.n_clients > 20_000:
        pytest.skip("the 100,000-client registry has its own test")
    result = answer(scores, test=False)
    t = result.table
    assert len(t) == scores.n_clients and list(t["client"]) == list(scores.clients)
    summary = result.summary()
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert (summary["n_clients"] == scores.n_clients).all()


def test_one_row_per_client_on_a_simulated_registry_of_100k():
    df, _ = simulate.trajectories(100_000, 20, instrument="PHQ-9", missing=0.1, seed=11)
    scores = long_scores(df, client="client", session="session", score="score", instrument="PHQ-9")
    result = answer(scores, test=False)
    t = result.table
    assert len(t) == 100_000 and t["client"].is_unique
    sg = identify(scores)
    n_with_gain = int((sg.by_client("first", kind="gain")["n_gains_client"] > 0).sum())
    assert int(t["sg_flag"].fillna(False).sum()) == n_with_gain
    assert result.summary()["n_analysed"].iloc[0] == int(t["rc_flag"].notna().sum())


def test_a_method_result_can_be_passed_in_and_must_share_the_scores(sgdata):
    sg = identify(sgdata, min_change=7)
    result = answer(sgdata, methods=["reliable_change", sg], test=False)
    assert result.methods == ("reliable_change", "sudden_gains")
    assert result.table["cp_note"].eq("not run").all()
    other = datasets.load_scores("claus2020")
    with pytest.raises(ValueError, match="other scores"):
        answer(sgdata, methods=[identify(other)])
    with pytest.raises(ValueError, match="methods"):
        answer(sgdata, methods=["tea_leaves"])
    with pytest.raises(ValueError, match="unknown method"):
        answer(sgdata, options={"tea_leaves": {}})


def test_bayes_block_from_a_fitted_model(bayes_data, bayes_hierarchical):
    fitted = bayes_hierarchical[0]
    result = answer(fitted.scores, methods=["reliable_change", fitted], bayes_threshold=0.5)
    t = result.table.set_index("client")
    own = fitted.table.set_index("client")
    np.testing.assert_allclose(t.loc[own.index, "bayes_p_breakthrough"], own["p_breakthrough"])
    assert (t.loc[own.index, "bayes_flag"] == (own["p_breakthrough"] > 0.5)).all()
    np.testing.assert_array_equal(
        t.loc[own.index, "bayes_session"], own["change_session_mode"].astype(float)
    )
    skipped = set(fitted.skipped["client"])
    assert skipped and t.loc[list(skipped), "bayes_flag"].isna().all()


# --- summaries, plot, text -----------------------------------------------------------------


def test_summary_counts_and_wilson_intervals(sg_answer):
    s = sg_answer.summary().set_index("method")
    t = sg_answer.table
    k, n = int(t["sg_flag"].fillna(False).sum()), int(t["sg_flag"].notna().sum())
    assert (s.loc["sudden gains", "n_flagged"], s.loc["sudden gains", "n_analysed"]) == (k, n)
    lo, hi = wilson_interval(k, n)
    assert s.loc["sudden gains", "share_lower"] == pytest.approx(float(lo))
    assert s.loc["sudden gains", "share_upper"] == pytest.approx(float(hi))


def test_summary_by_a_group_adds_up():
    scores = datasets.load_scores("claus2020")
    result = answer(scores, test=False)
    group = next(c for c in result.table.columns[len(TABLE_COLUMNS) :])
    by = result.summary_by(group)
    total = result.summary().set_index("method")
    for method, part in by.groupby("method"):
        assert part["n_flagged"].sum() == total.loc[method, "n_flagged"]
        assert part["n_analysed"].sum() == total.loc[method, "n_analysed"]
    with pytest.raises(ValueError):
        result.summary_by("no_such_column")


def test_plot_tiles_and_combinations(sg_answer):
    ax = sg_answer.plot(client=sg_answer.table["client"].iloc[3])
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "reliable change",
        "sudden gains",
        "change points",
    ]
    plt.close("all")
    ax = toolkit.plots.breakthrough_tiles(sg_answer, max_clients=10)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) == set(sg_answer.table["methods"])
    plt.close("all")


def test_methods_text_names_every_method_and_its_references(sg_answer):
    text = sg_answer.methods_text()
    for phrase in ("Jacobson and Truax", "Tang and DeRubeis", "MBIC", "kappa", "Wilson"):
        assert phrase in text
    refs = text.split("\n\nReferences\n", 1)[1].splitlines()
    assert any(r.startswith("Cohen, J. (1960)") for r in refs)
    assert refs == sorted(refs) and len(refs) == len(set(refs))
    # Each method's own paragraph ends with its references too.
    assert "References" in reliable_change(sg_answer.scores).methods_text()


def test_breakthroughs_lists_every_methods_rows(sg_answer):
    rows = sg_answer.breakthroughs()
    assert set(rows["method"]) <= {"reliable change", "sudden gains", "change points"}
    n_sg = len(sg_answer.results["sudden_gains"].breakthroughs())
    assert (rows["method"] == "sudden gains").sum() == n_sg


def test_compare_methods_scores_each_method_on_the_truth():
    from toolkit.evaluate import COMPARISON_COLUMNS, compare_methods

    df, truth = simulate.trajectories(
        400, 14, instrument="PHQ-9", gain_size=(9, 1), gain_share=0.4, seed=21
    )
    scores = long_scores(df, client="client", session="session", score="score", instrument="PHQ-9")
    result = answer(scores, test=False)
    got = compare_methods(truth, result).table.set_index("method")
    assert list(got.reset_index().columns) == COMPARISON_COLUMNS
    # Client level, from sets: flagged clients against clients with a true gain.
    true = set(truth.loc[truth["kind"] == "gain", "client"])
    t = result.table
    flagged = set(t.loc[t["sg_flag"].fillna(False).astype(bool), "client"])
    analysed = set(t.loc[t["sg_flag"].notna(), "client"])
    tp = len(flagged & true)
    assert got.loc["sudden gains", "precision"] == pytest.approx(tp / len(flagged))
    assert got.loc["sudden gains", "recall"] == pytest.approx(tp / len(true & analysed))
    # Large simulated gains are found by the sudden-gain and change-point searches.
    assert got.loc["change points", "session_recall"] > 0.8
    assert got.loc["sudden gains", "session_precision"] > 0.8
    assert np.isnan(got.loc["reliable change", "session_recall"])
    with pytest.raises(TypeError, match="breakthroughs"):
        compare_methods(truth, result.results["sudden_gains"])
