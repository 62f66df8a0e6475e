"""The compiled density nutpie samples equals the PyMC model's, value and gradient."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.bayes import _density
from toolkit.bayes._design import design as make_design
from toolkit.bayes._model import build, resolve_spec

ROLES = {"client": "client", "session": "session", "score": "score"}

CASES = [
    # (shape, change, jumps, change_location, covariates)
    ("linear", "mixture", "heavy", "uniform", None),
    ("linear", "mixture", "mixture", "uniform", None),
    ("linear", "mixture", "normal", "pooled", None),
    ("mean", "mixture", "heavy", "pooled", ["age"]),
    ("mean", "always", "mixture", "pooled", None),
    ("broken_stick", "mixture", None, "uniform", None),
    ("linear", "none", None, "uniform", None),
    ("linear", "mixture", "mixture", "uniform", ["arm", "age"]),
    ("mean", "mixture", "normal", "pooled", ["age"]),
    ("linear", "mixture", "nonlocal", "uniform", None),
    ("mean", "mixture", "nonlocal", "pooled", ["age"]),
    ("linear", "always", "nonlocal", "uniform", ["arm"]),
]


@pytest.fixture(scope="module")
def scores(bayes_data):
    from toolkit.data import as_scores

    df = bayes_data[0].copy()
    df["age"] = 20.0 + 3.0 * (df["client"] % 7)
    return as_scores(df, **ROLES, instrument="BDI-II")


def _pymc_names(model) -> list[str]:
    return [v.name for v in model.value_vars]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(x) for x in c))
def test_value_and_gradient_equal_the_pymc_model(scores, case):
    shape, change, jumps, location, covariates = case
    spec = resolve_spec("test", shape, "hierarchical", change, jumps, location)
    d = make_design(scores, shape=shape, pooling="hierarchical", covariates=covariates, better=None)
    model = build(d, spec)
    lay, f = _density.density(d, spec)
    # the same variables in the same order as PyMC's unconstrained vector
    assert [b.name for b in lay.blocks] == [n.split("_log__")[0].split("_ordered__")[0]
        .split("_simplex__")[0].split("_logodds__")[0].split("_interval__")[0]
        for n in _pymc_names(model)]  # fmt: skip
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    start = model.initial_point()
    rng = np.random.default_rng(11)
    values, pymc_values = [], []
    for _ in range(4):
        point = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in start.items()}
        x = np.concatenate([np.atleast_1d(point[n]) for n in _pymc_names(model)])
        value, grad = f(x)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-8, atol=1e-8)
        values.append(value)
        pymc_values.append(float(logp(point)))
    # equal up to one constant (PyMC folds a few constants differently)
    diffs = np.subtract(values, pymc_values)
    np.testing.assert_allclose(diffs - diffs[0], 0.0, atol=1e-6)
    assert abs(diffs[0]) < 1e-4


def test_constrained_values_equal_pymc_transforms(scores):
    spec = resolve_spec("test", "linear", "hierarchical", "mixture", "mixture", "pooled")
    d = make_design(scores, shape="linear", pooling="hierarchical", covariates=None, better=None)
    model = build(d, spec)
    lay = _density.layout(d, spec)
    point = {k: v + 0.3 for k, v in model.initial_point().items()}
    x = np.concatenate([np.atleast_1d(point[n]) for n in _pymc_names(model)])
    ours = _density.constrained(lay, x)
    free = model.replace_rvs_by_values([model[name] for name in ours])
    theirs = model.compile_fn(free, inputs=model.value_vars, point_fn=True)(point)
    for name, value in zip(ours, theirs):
        np.testing.assert_allclose(ours[name], value, rtol=1e-12, err_msg=name)
    w = ours["jump_component_weight"]
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(ours["jump_component_mu_std"]) > 0)


def test_initial_points_are_seeded_and_jittered(scores):
    spec = resolve_spec("test", "linear", "hierarchical", "mixture", "mixture", "uniform")
    d = make_design(scores, shape="linear", pooling="hierarchical", covariates=None, better=None)
    lay = _density.layout(d, spec)
    a, b = _density.initial_point(lay, 1), _density.initial_point(lay, 2)
    np.testing.assert_array_equal(a, _density.initial_point(lay, 1))
    assert not np.allclose(a, b) and np.all(np.abs(a - b) < 2.0)
    _, f = _density.density(d, spec)
    assert np.isfinite(f(a)[0])
