"""Property tests: what must not change the answers, on many simulated data sets.

Row order and client order; relabelling the ids (only the labels change); a constant session
offset (only the session labels change); flipping the direction of the instrument (gains
become losses); rescaling the scores (sizes scale, nothing else changes); the same seed (the
same numbers, in any partitioning of the clients).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit
from toolkit import changepoint, reliable_change, simulate, sudden_gains
from toolkit.errors import ToolkitWarning

ROLES = dict(client="client", session="session", score="score")
PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cohort(seed: int, n_clients: int = 20, n_sessions: int = 10) -> pd.DataFrame:
    """Integer PHQ-9 totals (so ties at the criteria are common) with gains, losses,
    reversals and missing scores."""
    scores, _ = simulate.trajectories(
        n_clients,
        n_sessions,
        instrument="PHQ-9",
        baseline=18.0,
        gain_share=0.6,
        gain_size=(9.0, 1.5),
        loss_share=0.3,
        loss_size=(8.0, 1.5),
        reversal_share=0.3,
        missing=0.1,
        seed=seed,
    )
    return scores[["client", "session", "score"]]


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        warnings.simplefilter("error", RuntimeWarning)
        return call(*args, **kwargs)


def gains(df: pd.DataFrame, **options) -> pd.DataFrame:
    options = {"instrument": "PHQ-9", "kind": "both", **options}
    table = quiet(sudden_gains.identify, df, **ROLES, **options).table
    return table.sort_values(["client", "kind", "pre_session"]).reset_index(drop=True)


def categories(df: pd.DataFrame, **options) -> pd.DataFrame:
    options = {"instrument": "PHQ-9", **options}
    table = quiet(reliable_change.reliable_change, df, **ROLES, **options).table
    return table[["client", "rci", "category"]].sort_values("client").reset_index(drop=True)


def changes(df: pd.DataFrame, **options) -> pd.DataFrame:
    options = {"instrument": "PHQ-9", **options}
    table = quiet(changepoint.detect, df, **ROLES, **options).table
    return table.sort_values(list(table.columns[:2])).reset_index(drop=True)


seeds = st.integers(min_value=0, max_value=2**31 - 1)


@PROPERTY
@given(seed=seeds, shuffle=seeds)
def test_row_and_client_order_change_nothing(seed, shuffle):
    df = cohort(seed)
    rng = np.random.default_rng(shuffle)
    shuffled = df.iloc[rng.permutation(len(df))]
    assert not shuffled.index.equals(df.index)
    pd.testing.assert_frame_equal(gains(shuffled), gains(df))
    pd.testing.assert_frame_equal(categories(shuffled), categories(df))
    pd.testing.assert_frame_equal(changes(shuffled), changes(df))
    before = df.copy()
    toolkit.long_scores(shuffled, **ROLES, instrument="PHQ-9")
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched


@PROPERTY
@given(seed=seeds, relabel=seeds, text=st.booleans())
def test_relabelling_ids_changes_only_the_labels(seed, relabel, text):
    df = cohort(seed)
    ids = df["client"].unique()
    new = np.random.default_rng(relabel).permutation(len(ids)) * 7 + 1000
    mapping = dict(zip(ids, (f"id-{n}" for n in new) if text else new))
    back = {v: k for k, v in mapping.items()}
    relabelled = df.assign(client=df["client"].map(mapping))

    def restored(table):
        out = table.assign(client=table["client"].map(back)).astype({"client": ids.dtype})
        keys = [c for c in ("client", "kind", "pre_session", "session") if c in out]
        return out.sort_values(keys).reset_index(drop=True)

    pd.testing.assert_frame_equal(restored(gains(relabelled)), gains(df))
    pd.testing.assert_frame_equal(restored(categories(relabelled)), categories(df))
    pd.testing.assert_frame_equal(restored(changes(relabelled)), changes(df))


@PROPERTY
@given(seed=seeds, offset=st.integers(min_value=-1, max_value=40))
def test_a_session_offset_changes_only_the_session_labels(seed, offset):
    df = cohort(seed)  # sessions start at 1, so -1 gives an intake session 0
    moved = df.assign(session=df["session"] + offset)
    base, shifted = gains(df), gains(moved)
    session_columns = ["pre_session", "gain_session", "reversal_session"]
    for column in session_columns:
        shifted[column] = shifted[column] - offset
    pd.testing.assert_frame_equal(shifted, base, check_dtype=False)
    pd.testing.assert_frame_equal(categories(moved), categories(df))
    cp_base, cp_moved = changes(df), changes(moved)
    for column in [c for c in cp_moved.columns if c.endswith("session")]:
        cp_moved[column] = cp_moved[column] - offset
    assert len(cp_base) >= 1 or len(base) == 0
    pd.testing.assert_frame_equal(cp_moved, cp_base, check_dtype=False)


@PROPERTY
@given(seed=seeds)
def test_flipping_the_direction_maps_gains_to_losses(seed):
    df = cohort(seed)
    kw = dict(instrument=None, reliable_change=6.0)
    scores_lower = toolkit.long_scores(df, **ROLES, better="lower", **kw)
    scores_higher = toolkit.long_scores(df, **ROLES, better="higher", **kw)
    as_gains = gains(scores_lower, instrument=None, kind="gains")
    as_losses = gains(scores_higher, instrument=None, kind="losses")
    assert (as_losses["kind"] == "loss").all()
    # The same intervals, scores and windows; the total improvement changes sign.
    same = [c for c in as_gains.columns if c not in ("kind", "change_total")]
    pd.testing.assert_frame_equal(as_losses[same], as_gains[same])
    np.testing.assert_allclose(as_losses["change_total"], -as_gains["change_total"])
    # Mirrored scores (27 - x) keep the size of every change: without criterion 2 (a share
    # of the pre-gain score, which mirroring changes) gains of x are losses of 27 - x.
    mirrored = toolkit.long_scores(df.assign(score=27 - df["score"]), **ROLES, better="lower", **kw)
    plain = gains(scores_lower, instrument=None, proportion=None, kind="gains")
    flipped = gains(mirrored, instrument=None, proportion=None, kind="losses")
    assert len(plain) == len(flipped)
    pd.testing.assert_frame_equal(
        flipped[["client", "pre_session", "gain_session", "magnitude", "reversal"]],
        plain[["client", "pre_session", "gain_session", "magnitude", "reversal"]],
    )
    # Reliable change: the RCI (post minus pre, over its SE) is the same number, and
    # improved and deteriorated swap.
    rc_lower = categories(scores_lower, instrument=None, sd=5.0, reliability=0.8, cutoff=None)
    rc_higher = categories(scores_higher, instrument=None, sd=5.0, reliability=0.8, cutoff=None)
    np.testing.assert_allclose(rc_higher["rci"], rc_lower["rci"])
    swap = {
        "reliably improved": "reliably deteriorated",
        "reliably deteriorated": "reliably improved",
    }
    assert rc_higher["category"].tolist() == rc_lower["category"].replace(swap).tolist()


@PROPERTY
@given(seed=seeds, exponent=st.integers(min_value=-25, max_value=25), mantissa=st.floats(1, 9.9))
def test_rescaled_scores_give_the_same_gains_and_categories(seed, exponent, mantissa):
    df = cohort(seed)
    c = mantissa * 10.0**exponent

    def answers(factor):
        scores = toolkit.long_scores(
            df.assign(score=df["score"] * factor),
            **ROLES,
            better="lower",
            reliable_change=6 * factor,
        )
        sg = gains(scores, instrument=None)
        rc = categories(scores, instrument=None, sd=5 * factor, reliability=0.8)
        return sg, rc

    (sg1, rc1), (sgc, rcc) = answers(1.0), answers(c)
    keys = ["client", "kind", "pre_session", "gain_session", "reversal", "reversal_session"]
    pd.testing.assert_frame_equal(sgc[keys], sg1[keys])
    np.testing.assert_allclose(sgc["magnitude"] / c, sg1["magnitude"], rtol=1e-9)
    pd.testing.assert_series_equal(rcc["category"], rc1["category"])
    np.testing.assert_allclose(rcc["rci"], rc1["rci"], rtol=1e-9)


@settings(max_examples=6, deadline=None)
@given(seed=seeds, draw=seeds)
def test_the_same_seed_gives_the_same_numbers_in_any_partition(seed, draw):
    a = simulate.trajectories(10, 8, instrument="PHQ-9", gain_share=0.5, seed=draw)
    b = simulate.trajectories(10, 8, instrument="PHQ-9", gain_share=0.5, seed=draw)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])

    scores = toolkit.long_scores(cohort(seed), **ROLES, instrument="PHQ-9")
    kw = dict(n_boot=19, seed=draw)
    whole = quiet(changepoint.amoc, scores, **kw).table
    again = quiet(changepoint.amoc, scores, **kw).table
    pd.testing.assert_frame_equal(whole, again)
    part_ids = scores.clients[::2]
    part = quiet(changepoint.amoc, scores.subset(list(part_ids)), **kw).table
    pd.testing.assert_frame_equal(
        part.reset_index(drop=True),
        whole[whole["client"].isin(part_ids)].reset_index(drop=True),
    )

    chance = quiet(sudden_gains.chance_baseline, scores, n_replicates=5, seed=draw).table
    pd.testing.assert_frame_equal(
        chance, quiet(sudden_gains.chance_baseline, scores, n_replicates=5, seed=draw).table
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_the_cohort_has_what_the_properties_need(seed):
    """The properties are not vacuous: the simulated cohorts have gains, losses, reversals,
    several reliable-change categories and change points."""
    df = cohort(seed)
    table = gains(df)
    assert (table["kind"] == "gain").sum() >= 3 and (table["kind"] == "loss").sum() >= 1
    assert table["reversal"].any() or seed != 0
    assert categories(df)["category"].nunique() >= 2
    assert len(changes(df)) >= 2
