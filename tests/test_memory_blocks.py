"""Memory-bounded computations give the very same numbers as the one-pass ones.

The report command on a registry-sized file steps the online monitor in blocks of clients,
forms a growth model's per-client moments over blocks of clients, skips copies of arrays
that are already what a copy would make, and drops cached intermediates between report
sections. Each is checked here against the unblocked computation, exactly (no tolerance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import monitoring
from toolkit.errors import OptionError
from toolkit.growth import _engines, _fastpath, _nested
from toolkit.monitoring import _online
from toolkit.report import Context, analyse
from toolkit.report._context import release
from toolkit.simulate import trajectories


@pytest.fixture(scope="module")
def cohort() -> toolkit.LongScores:
    """Clients with missed sessions, drop-out and late starts (so that the run lengths of a
    block differ from the cohort's)."""
    df, _ = trajectories(60, 12, seed=5, missing=0.2, dropout=0.1)
    df = df.drop(columns="true_score")
    late = df["client"] % 4 == 0
    df.loc[late, "session"] += 3  # a quarter of the clients start at session 4
    return toolkit.long_scores(
        df, client="client", session="session", score="score", instrument="BDI-II"
    )


def _run_online(
    scores: toolkit.LongScores, block: int, monkeypatch: pytest.MonkeyPatch
) -> monitoring.OnlineMonitor:
    monkeypatch.setattr(_online, "_BLOCK", block)
    return monitoring.online(scores, keep_posterior=True)


@pytest.mark.parametrize("block", [1, 7, 25])
def test_online_in_blocks_equals_one_pass(cohort, block, monkeypatch):
    whole = _run_online(cohort, 10**9, monkeypatch)
    parts = _run_online(cohort, block, monkeypatch)
    assert parts.result is not None and whole.result is not None
    assert parts.result.posterior is not None and whole.result.posterior is not None
    pd.testing.assert_frame_equal(parts.result.table, whole.result.table, check_exact=True)
    assert np.array_equal(parts.result.posterior, whole.result.posterior, equal_nan=True)
    for name, value in vars(whole.state.arrays).items():
        assert np.array_equal(vars(parts.state.arrays)[name], value, equal_nan=True), name
    # and the monitor goes on the same way
    new = pd.DataFrame({"client": [0, 1], "session": [20, 20], "score": [10.0, 30.0]})
    a = whole.update(new, client="client", session="session", score="score").table
    b = parts.update(new, client="client", session="session", score="score").table
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_online_step_with_the_cohorts_columns_equals_the_cohort_step():
    """A block stepped with the cohort's number of run-length columns gives the numbers of
    the cohort's step; with its own (fewer) columns the sums are grouped differently."""
    from toolkit.monitoring._bocpd import Arrays, Prior, step

    rng = np.random.default_rng(3)
    prior = Prior(mu0=25.0, kappa0=0.2, alpha0=3.0, beta0=50.0)
    n, sessions = 40, 15
    x = rng.normal(25, 6, size=(n, sessions))
    start = np.where(np.arange(n) < n // 2, 0, 9)  # the second half starts late
    whole, part = Arrays.empty(n, sessions + 1, 3, prior), Arrays.empty(n, sessions + 1, 3, prior)
    late = part.block(n // 2, n)
    naive = Arrays.empty(n - n // 2, sessions + 1, 3, prior)
    differ = 0
    for j in range(sessions):
        rows = np.flatnonzero(start <= j)
        k = int((j - start[rows]).max()) + 1
        a = step(whole, rows, x[rows, j], prior, 0.1, 3, 5.0, 1, 0.0)
        own = rows[rows >= n // 2] - n // 2
        if len(own) == 0:
            continue
        b = step(late, own, x[own + n // 2, j], prior, 0.1, 3, 5.0, 1, 0.0, k=k)
        c = step(naive, own, x[own + n // 2, j], prior, 0.1, 3, 5.0, 1, 0.0)
        for name, value in b.items():
            assert np.array_equal(value, a[name][rows >= n // 2], equal_nan=True), name
            differ += int((c[name] != value).sum())
    assert differ > 0  # so the block's own columns would not do
    for name, value in vars(whole).items():
        assert np.array_equal(vars(part)[name][n // 2 :], value[n // 2 :], equal_nan=True)


def test_growth_moments_in_client_blocks_equal_one_pass(cohort, monkeypatch):
    from toolkit.growth._design import build

    plain = cohort.keep_covariates([])

    d = build(
        plain,
        "score ~ time",
        time="linear",
        time_zero=1.0,
        random="slope",
        breakthroughs=None,
        breakthrough_client="client",
        breakthrough_session=None,
        knots=None,
    )
    monkeypatch.setattr(_nested, "_CLIENTS", 10**9)
    whole = _engines.nested_model(d)
    # the moments also equal a per-client sum written out
    rows = d.usable
    code, t, x, y = d.client_code[rows], d.time[rows], d.x[rows], d.y[rows]
    for c in (0, 17, len(d.clients) - 1):
        mine = code == c
        z = np.column_stack([np.ones(mine.sum()), t[mine]])
        assert np.allclose(whole.g[c], z.T @ z, rtol=1e-12)
        assert np.allclose(whole.r[c], z.T @ x[mine], rtol=1e-12)
        assert np.allclose(whole.s[c], z.T @ y[mine], rtol=1e-12)
    for size in (1, 4, 13):
        monkeypatch.setattr(_nested, "_CLIENTS", size)
        part = _engines.nested_model(d)
        for name in ("g", "r", "s", "xtx", "xty"):
            assert np.array_equal(getattr(part, name), getattr(whole, name)), (size, name)
        assert part.yty == whole.yty


def test_growth_moments_of_unsorted_rows_take_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    code = rng.integers(0, 30, size=200)
    x = np.column_stack([np.ones(200), rng.normal(size=200)])
    basis = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = rng.normal(size=200)
    monkeypatch.setattr(_nested, "_CLIENTS", 10**9)
    whole = _nested.build_nested(x, y, basis, code, 30, (0, 1))
    monkeypatch.setattr(_nested, "_CLIENTS", 4)
    part = _nested.build_nested(x, y, basis, code, 30, (0, 1))
    assert np.array_equal(part.g, whole.g) and np.array_equal(part.s, whole.s)


def test_fast_path_blocks_ignore_unobserved_cells_without_a_copy():
    rng = np.random.default_rng(1)
    observed = rng.random((50, 8)) > 0.2
    y = np.where(observed, rng.normal(20, 5, size=(50, 8)), 0.0)
    x = np.where(observed[:, :, None], rng.normal(size=(50, 8, 2)), 0.0)
    t = np.arange(8.0)
    assert _fastpath._zero_outside(y, observed) is y
    noisy_y = np.where(observed, y, np.nan)  # garbage outside: a masked copy
    noisy_x = np.where(observed[:, :, None], x, -7.0)
    assert _fastpath._zero_outside(noisy_y, observed) is not noisy_y
    a = _fastpath.blocks(y, x, t, observed, 2)
    b = _fastpath.blocks(noisy_y, noisy_x, t, observed, 2)
    for name in ("ztz", "ztx", "zty", "xtx", "xty", "start"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.yty == b.yty
    assert np.isnan(noisy_y[~observed]).all()  # the caller's arrays are left as they were


def test_release_drops_caches_and_the_report_is_unchanged(tmp_path):
    sg = toolkit.datasets.load_scores("sgdata")
    ctx = Context(sg)
    result = ctx.answer.results["sudden_gains"]
    counts = result.interval_counts()
    assert "_criteria" in vars(result)
    _ = sg.data
    ctx.release()
    assert "_criteria" not in vars(result) and "data" not in vars(sg)
    pd.testing.assert_frame_equal(result.interval_counts(), counts, check_exact=True)
    release(object())  # nothing cached: nothing to do

    kept = analyse(toolkit.datasets.load_scores("sgdata"), skip=["bayes"], progress=False)
    tables = {b.name: b.content for b in kept.blocks if b.kind == "table"}
    original = Context.release
    try:
        Context.release = lambda self: None  # type: ignore[method-assign]
        plain = analyse(toolkit.datasets.load_scores("sgdata"), skip=["bayes"], progress=False)
    finally:
        Context.release = original  # type: ignore[method-assign]
    for block in plain.blocks:
        if block.kind == "table" and block.name != "provenance":
            pd.testing.assert_frame_equal(tables[block.name], block.content, check_exact=True)


@pytest.mark.parametrize("block", [1, 9])
def test_online_by_block_hands_over_the_online_table_in_pieces(cohort, block, monkeypatch):
    whole = _run_online(cohort, 10**9, monkeypatch).result
    assert whole is not None
    monkeypatch.setattr(_online, "_BLOCK", block)
    pieces: list = []
    _online.online_by_block(cohort, pieces.append)
    assert len(pieces) == -(-cohort.n_clients // block)
    table = pd.concat([p.table for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(table, whole.table, check_exact=True)
    found = pd.concat([p.breakthroughs() for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(found, whole.breakthroughs(), check_exact=True)
    assert pieces[0].settings == whole.settings
    with pytest.raises(OptionError, match="hazzard"):
        _online.online_by_block(cohort, pieces.append, hazzard=3)
