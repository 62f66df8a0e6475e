"""Memory-bounded computations give the very same numbers as the one-pass ones.

The report command on a registry-sized file steps the online monitor in blocks of clients,
forms a growth model's per-client moments over blocks of clients, skips copies of arrays
that are already what a copy would make, and drops cached intermediates between report
sections. Each is checked here against the unblocked computation, exactly (no tolerance).
"""

from __future__ import annotations

import warnings
from typing import Any

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
    plain = cohort.keep_covariates([])
    d = _build(plain, "score ~ time")
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


# --- growth models: one design for nested models, designs made without formula copies ----
def _growth_data(seed: int = 3) -> pd.DataFrame:
    df, _ = trajectories(80, 10, seed=seed, missing=0.2, dropout=0.1)
    df = df.drop(columns="true_score")
    rng = np.random.default_rng(seed)
    df["x"] = rng.normal(size=len(df))
    df.loc[df.index[:9], "x"] = np.nan  # a few observed scores are left out for it
    df["arm"] = np.where(df["client"] % 2, "cbt", "tau")
    return df


_KW: dict[str, Any] = dict(
    client="client", session="session", score="score", time_zero=1.0, progress=False
)


def _assert_same_fit(a: Any, b: Any, *, with_fitted: bool = True) -> None:
    for name in ("table", "variance_components", "random_effects", "fixed_cov"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    pd.testing.assert_frame_equal(a.summary(), b.summary(), check_exact=True)
    for name in ("loglik", "aic", "bic", "icc", "n_obs", "n_clients", "converged", "singular"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.settings == b.settings and a.warnings == b.warnings
    log_a, log_b = (m.optimizer_log.drop(columns="seconds") for m in (a, b))
    pd.testing.assert_frame_equal(log_a, log_b, check_exact=True)
    if with_fitted:
        pd.testing.assert_frame_equal(a.fitted, b.fitted, check_exact=True)
        pd.testing.assert_frame_equal(a.predict(level="client"), b.predict(level="client"))
        pd.testing.assert_frame_equal(a.curves(), b.curves(), check_exact=True)


@pytest.mark.parametrize(
    ("formula", "options"),
    [
        ("score ~ time", {}),
        ("score ~ time * x", {}),
        ("score ~ time * arm", {}),
        ("score ~ time", {"time": "quadratic", "method": "ml"}),
    ],
)
def test_growth_models_on_one_design_equal_separate_fits(formula, options):
    from toolkit.growth import compare, fit
    from toolkit.growth._fit import fit_each

    df = _growth_data()
    with pytest.warns(toolkit.ToolkitWarning) if "x" in formula else _no_warning():
        m0, m1 = fit_each(df, formula, random=("intercept", "slope"), **_KW, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        s0 = fit(df, formula, random="intercept", **_KW, **options)
        s1 = fit(df, formula, random="slope", **_KW, **options)
    _assert_same_fit(m0, s0)
    _assert_same_fit(m1, s1)
    # a lean model: the same likelihood and tables, no fitted rows, the same comparison
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.ToolkitWarning)
        lean, full = fit_each(df, formula, lean=("intercept",), **_KW, **options)
    _assert_same_fit(lean, s0, with_fitted=False)
    assert list(lean.fitted.columns) == list(s0.fitted.columns) and len(lean.fitted) == 0
    pd.testing.assert_frame_equal(compare(lean, full), compare(s0, s1), check_exact=True)


def test_fit_each_checks_its_arguments():
    from toolkit.growth._fit import fit_each

    df = _growth_data()
    with pytest.raises(OptionError, match="fit_each"):
        fit_each(df, random=("intercept", "~ time"), **_KW)
    with pytest.raises(TypeError, match="fit_each"):
        fit_each(df, **_KW, slopes=True)
    with pytest.raises(OptionError, match="method"):
        fit_each(df, **_KW, method="bayes")


class _no_warning:
    def __enter__(self):
        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("error", toolkit.ToolkitWarning)

    def __exit__(self, *exc):
        return self._c.__exit__(*exc)


def _build(scores: toolkit.LongScores, formula: str, **kw: Any) -> Any:
    from toolkit.growth._design import build

    args: dict[str, Any] = dict(
        time="linear",
        time_zero=1.0,
        random="slope",
        breakthroughs=None,
        breakthrough_client="client",
        breakthrough_session=None,
        knots=None,
    )
    args.update(kw)
    return build(scores, formula, **args)


@pytest.mark.parametrize(
    ("formula", "options", "direct"),
    [
        ("score ~ time", {}, True),
        ("score ~ 0 + time", {}, True),
        ("score ~ time * x", {}, True),  # a float covariate, NaN in a few rows
        ("score ~ x:time + time", {}, True),
        ("score ~ time", {"time": "quadratic"}, True),
        ("score ~ time", {"knots": [4]}, True),
        ("score ~ time * arm", {}, False),  # categories: formulaic
        ("score ~ center(time) + x", {}, False),  # a stateful transform: formulaic
        ("score ~ I(time ** 2)", {}, False),
    ],
)
def test_design_of_float_columns_equals_formulaics(formula, options, direct, monkeypatch):
    """The fixed-effects design made column by column equals formulaic's, to the bit and in
    its memory layout, as do the frame, the notes and the learnt ModelSpec's columns."""
    import formulaic

    from toolkit.growth import _design

    df = _growth_data()
    scores = toolkit.long_scores(df, client="client", session="session", score="score")
    seen: list = []
    original = _design._direct_design

    def spy(*args: Any) -> Any:
        seen.append(original(*args))
        return seen[-1]

    monkeypatch.setattr(_design, "_direct_design", spy)
    ours = _build(scores, formula, **options)
    assert (seen[-1] is not None) == direct
    monkeypatch.setattr(_design, "_direct_design", lambda *a: None)
    theirs = _build(scores, formula, **options)
    assert ours.terms == theirs.terms and ours.notes == theirs.notes
    assert np.array_equal(ours.x, theirs.x)
    assert ours.x.flags.f_contiguous == theirs.x.flags.f_contiguous
    pd.testing.assert_frame_equal(ours.frame, theirs.frame, check_exact=True)
    assert np.array_equal(ours.client_code, theirs.client_code)
    new = ours.frame.iloc[:30]
    a = ours.model_spec.get_model_matrix(new, na_action="ignore")
    b = formulaic.model_matrix(theirs.model_spec, new, na_action="ignore")
    assert list(a.columns) == list(b.columns)
    np.testing.assert_array_equal(np.asarray(a, float), np.asarray(b, float))


def test_layout_and_random_part_equal_the_row_by_row_definitions():
    from toolkit.growth import _design, fit

    df = _growth_data()
    df = df[df["x"].notna()]
    scores = toolkit.long_scores(df, client="client", session="session", score="score")
    d = _build(scores, "score ~ time * x")
    y, x, observed = _design.layout(d)
    want_y, want_x = np.zeros_like(y), np.zeros_like(x)
    want_obs = np.zeros_like(observed)
    for i in np.flatnonzero(d.usable):
        c, s = d.client_code[i], d.session_code[i]
        want_y[c, s], want_x[c, s], want_obs[c, s] = d.y[i], d.x[i], True
    assert np.array_equal(y, want_y) and np.array_equal(x, want_x)
    assert np.array_equal(observed, want_obs)
    # z: [1] and [1, time], made when asked for
    assert np.array_equal(d.z, np.column_stack([np.ones(len(d.time)), d.time]))
    one = _design.with_random(d, "intercept")
    assert one.random_names == ["intercept"] and np.array_equal(one.z, np.ones((len(d.y), 1)))
    assert one.x is d.x and one.frame is d.frame  # shared, not copied
    for random, design in (("slope", d), ("intercept", one)):
        m = fit(df, "score ~ time * x", random=random, **_KW)
        blups = m.random_effects["estimate"].to_numpy().reshape(m.n_clients, -1)
        fixed = design.x @ m._model["beta"]
        want = fixed + np.sum(design.z * blups[design.client_code], axis=1)
        assert np.array_equal(m.fitted["fitted"].to_numpy(), want)
        assert np.array_equal(m.fitted["fitted_fixed"].to_numpy(), fixed)


def test_settled_answer_keeps_the_report_and_recomputes_on_demand():
    sg = toolkit.datasets.load_scores("sgdata")
    ctx = Context(sg)
    full = ctx.answer
    text, settings = full.methods_text(), full.settings
    ctx.settle_answer()
    assert ctx._answer is None
    assert ctx.answer.methods_text() == text and ctx.answer.settings == settings
    again = ctx.answer.results  # anything else: the whole answer again
    for name, result in full.results.items():
        pd.testing.assert_frame_equal(again[name].table, result.table, check_exact=True)
    assert ctx._answer is not None

    settled = analyse(toolkit.datasets.load_scores("sgdata"), skip=["bayes"], progress=False)
    original = Context.settle_answer
    try:
        Context.settle_answer = lambda self: None
        kept = analyse(toolkit.datasets.load_scores("sgdata"), skip=["bayes"], progress=False)
    finally:
        Context.settle_answer = original
    assert [b.name for b in settled.blocks] == [b.name for b in kept.blocks]
    for a, b in zip(settled.blocks, kept.blocks):
        if a.kind == "table" and a.name != "provenance":
            pd.testing.assert_frame_equal(a.content, b.content, check_exact=True)
        elif a.kind == "text":
            assert a.content == b.content
