"""One contract over every result class, and the layering of the package.

Every analysis result: its class name ends in ``Result``; its table's columns are pinned;
``summary()`` is a DataFrame; ``plot(ax=ax)`` draws on and returns that Axes; it pickles;
``settings`` carries the toolkit version, the seed and the reliable-change keys;
``breakthroughs()`` has one shape; ``methods_text()`` names the toolkit.
"""

from __future__ import annotations

import ast
import inspect
import pickle
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import toolkit
from toolkit import changepoint, datasets, evaluate, growth, reliable_change, sudden_gains
from toolkit._results import BREAKTHROUGH_COLUMNS, Result
from toolkit.errors import ToolkitWarning

SETTINGS_KEYS = {"toolkit_version", "seed", "reliable_change_points", "reliable_change_source"}


@pytest.fixture(scope="module")
def sg():
    return datasets.load_scores("sgdata")


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)  # each result's own checks test them
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def results(sg, bayes_hierarchical):
    """One result of every class, on shipped or simulated data."""
    from toolkit.simulate import trajectories

    df, truth = trajectories(60, 12, gain_share=0.5, seed=3)
    sim = toolkit.long_scores(
        df, client="client", session="session", score="score", instrument="BDI-II"
    )
    gains = sudden_gains.identify(sg)
    return {
        "reliable_change": (reliable_change.reliable_change(sg), reliable_change.TABLE_COLUMNS),
        "sudden_gains": (gains, sudden_gains.GAIN_COLUMNS),
        "chance": (
            sudden_gains.chance_baseline(sg, n_replicates=5, seed=1, progress=False),
            sudden_gains.CHANCE_COLUMNS,
        ),
        "changepoint": (
            changepoint.detect(sg, test=True, n_boot=19, seed=2),
            changepoint.CHANGE_COLUMNS,
        ),
        "amoc": (changepoint.amoc(sg, n_boot=19, seed=2), changepoint.AMOC_COLUMNS),
        "growth": (_quiet(growth.fit, sg, breakthroughs=gains), growth.FIXED_COLUMNS),
        "bayes": (bayes_hierarchical[0], toolkit.bayes.TABLE_COLUMNS),
        "detection": (
            evaluate.detection(truth, sudden_gains.identify(sim), kinds=["gain"]),
            evaluate.SUMMARY_COLUMNS,
        ),
    }


NAMES = [
    "reliable_change",
    "sudden_gains",
    "chance",
    "changepoint",
    "amoc",
    "growth",
    "bayes",
    "detection",
]


@pytest.mark.parametrize("name", NAMES)
def test_result_contract(results, name):
    result, columns = results[name]
    assert isinstance(result, Result) and type(result).__name__.endswith("Result")
    assert list(result.table.columns) == columns
    assert isinstance(result.summary(), pd.DataFrame)
    assert SETTINGS_KEYS <= set(result.settings)
    fig, ax = plt.subplots()
    assert result.plot(ax=ax) is ax
    plt.close(fig)
    text = result.methods_text()
    assert isinstance(text, str) and f"version {toolkit.__version__}" in text
    back = pickle.loads(pickle.dumps(result))
    assert type(back) is type(result)
    pd.testing.assert_frame_equal(back.table, result.table)
    assert back.settings == result.settings
    try:
        found = result.breakthroughs()
    except NotImplementedError:
        assert name in ("chance", "detection")
    else:
        assert list(found.columns) == BREAKTHROUGH_COLUMNS
        assert set(found["direction"]) <= {"improvement"}
        both = result.breakthroughs(direction="both")
        assert len(both) >= len(found)
        with pytest.raises(ValueError, match="'direction' parameter"):
            result.breakthroughs(direction="up")


@pytest.mark.parametrize(
    "name", ["reliable_change", "sudden_gains", "changepoint", "growth", "bayes"]
)
def test_every_result_states_the_one_criterion(results, sg, name):
    result, _ = results[name]
    assert result.settings["reliable_change_points"] == sg.reliable_change.points
    assert result.settings["reliable_change_source"] == sg.reliable_change.source == "norms"


def test_one_criterion_for_every_method_and_a_given_one_everywhere():
    raw = datasets.load("sgdata")
    roles = datasets.roles("sgdata")
    six = toolkit.long_scores(raw, **roles, reliable_change=6)
    rc = reliable_change.reliable_change(six)
    gains = sudden_gains.identify(six)
    cp = changepoint.detect(six)
    for result in (rc, gains, cp):
        assert result.settings["reliable_change_points"] == 6
        assert result.settings["reliable_change_source"] == "given"
    assert rc.parameters["rc_points"] == 6 and gains.settings["min_change_value"] == 6
    big = cp.table["breakthrough"].fillna(False).astype(bool)
    assert (cp.table.loc[big, "jump"].abs() >= 6).all()


def test_phq9_defaults_run_and_use_the_published_criterion():
    from toolkit.simulate import trajectories

    df, _ = trajectories(80, 10, instrument="PHQ-9", gain_share=0.4, seed=8)
    scores = toolkit.long_scores(
        df, client="client", session="session", score="score", instrument="PHQ-9"
    )
    rc = reliable_change.reliable_change(scores)  # raised before: no clinical SD for PHQ-9
    gains = sudden_gains.identify(scores)
    cp = changepoint.detect(scores)
    for result in (rc, gains, cp):
        assert result.settings["reliable_change_points"] == 6
        assert result.settings["reliable_change_source"] == "published"
    improved = rc.table["reliable_improvement"].astype(bool)
    assert (rc.table.loc[improved, "improvement"] >= 6).all()
    assert (rc.table.loc[~improved, "improvement"] < 6).all()


@pytest.mark.parametrize("name", sorted(i for i in toolkit.instruments.available()["name"]))
def test_defaults_run_on_every_registered_instrument(name):
    inst = toolkit.instruments.get(name)
    rng = np.random.default_rng(0)
    lo, hi = inst.min_score, inst.max_score
    mid, span = (lo + hi) / 2, hi - lo
    n, t = 12, 8
    y = mid + rng.normal(0, 0.08 * span, (n, t))
    y[: n // 2, t // 2 :] -= inst.sign * 0.3 * span  # a sudden improvement for half
    y = np.clip(np.round(y) if inst.integer_scores else y, lo, hi)
    df = pd.DataFrame(
        {"c": np.repeat(np.arange(n), t), "s": np.tile(np.arange(t), n), "y": y.ravel()}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = toolkit.long_scores(df, client="c", session="s", score="y", instrument=inst)
        results = [
            reliable_change.reliable_change(scores),
            sudden_gains.identify(scores),
            changepoint.detect(scores),
        ]
    source = scores.reliable_change.source
    for result in results:
        assert result.settings["reliable_change_source"] == source
    if source == "none":  # no reliability anywhere: said, never 0
        assert not results[0].computed
        assert any("not" in str(w.message) for w in caught)
    else:
        assert results[0].computed


@pytest.mark.parametrize(
    "value, match",
    [
        (-1, r"'reliable_change' parameter of long_scores must be a number of points of BDI-II"),
        (0, "'reliable_change' parameter of long_scores must be a number of points"),
        ("big", r"of BDI-II in \(0, 63\], 'instrument', 'sample', None or a Reliable"),
        (True, "'reliable_change' parameter of long_scores must be a number of points"),
        (float("nan"), "'reliable_change' parameter of long_scores must be a number of points"),
        (70, "larger than the whole range would make no change reliable"),
    ],
)
def test_bad_reliable_change_options_list_the_choices(value, match):
    with pytest.raises(ValueError, match=match):
        toolkit.long_scores(
            datasets.load("sgdata"), **datasets.roles("sgdata"), reliable_change=value
        )


def test_instrument_and_sample_choices_raise_when_they_cannot_be_met():
    raw = datasets.load("sgdata")
    roles = {**datasets.roles("sgdata"), "instrument": None, "better": "lower"}
    with pytest.raises(ValueError, match="reliable_change='instrument' needs"):
        toolkit.long_scores(raw, **roles, reliable_change="instrument")
    with pytest.raises(ValueError, match="reliable_change='sample' needs the instrument"):
        toolkit.long_scores(raw, **roles, reliable_change="sample")
    sample = toolkit.long_scores(raw, **datasets.roles("sgdata"), reliable_change="sample")
    first = sample.to_matrix()[
        np.arange(sample.n_clients), np.argmax(~np.isnan(sample.to_matrix()), axis=1)
    ]
    sd = np.std(first, ddof=1)
    assert sample.reliable_change.points == pytest.approx(
        1.959964 * np.sqrt(2) * sd * np.sqrt(1 - 0.92)
    )
    assert sample.reliable_change.source == "sample"


def test_summary_by_a_carried_covariate_and_an_unknown_one():
    claus = datasets.load("claus2020")
    scores = toolkit.long_scores(
        claus, client="id", session="time", score="bdi", instrument="BDI-II"
    )
    rc = reliable_change.reliable_change(scores)
    by = rc.summary_by("treatment")
    assert set(by["group"]) == {"PA", "TAU"}
    with pytest.raises(toolkit.errors.MissingColumnError, match="no covariate 'arm'"):
        rc.summary_by("arm")
    with pytest.raises(ValueError, match="matches none of the"):
        rc.summary_by(pd.Series({"x": "a", "y": "b"}))
    gains = sudden_gains.identify(scores)
    assert set(gains.summary_by("treatment")["group"]) == {"PA", "TAU"}
    assert rc.table_with("treatment")["treatment"].notna().all()


def test_tables_merge_onto_the_callers_frame_without_renaming():
    raw = datasets.load("sgdata")
    gains = sudden_gains.identify(raw, **datasets.roles("sgdata"))
    merged = raw.merge(
        gains.table_as_input()[["id", "magnitude"]].drop_duplicates("id"), on="id", how="left"
    )
    assert len(merged) == len(raw) and merged["magnitude"].notna().any()


# --- the package layering ----------------------------------------------------------------
TOOLKIT = Path(toolkit.__file__).parent
BOTTOM = {
    "errors",
    "_checks",
    "_options",
    "_random",
    "_version",
    "instruments",
    "criterion",
    "pooled",
    "data",
}
METHODS = {
    "reliable_change",
    "sudden_gains",
    "changepoint",
    "growth",
    "bayes",
    "simulate",
    "evaluate",
    "datasets",
    "classes",
    "monitoring",
    "per_client",
    "files",
}
TOP = {"report", "cli", "__main__", "scale"}


def _imports(path: Path) -> set[str]:
    """The first-level toolkit modules a file imports at run time (relative imports
    resolved; imports for type checkers only do not count)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    rel = path.relative_to(TOOLKIT).with_suffix("").parts
    package = list(rel[:-1]) if rel[-1] != "__init__" else list(rel[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [a.name for a in node.names]
                if not parts:
                    names = [a.name for a in node.names]
                found.update(names)
            elif node.module and node.module.startswith("toolkit"):
                bits = node.module.split(".")
                found.add(bits[1] if len(bits) > 1 else node.names[0].name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("toolkit."):
                    found.add(a.name.split(".")[1])
    return found


def _module_of(path: Path) -> str:
    return path.relative_to(TOOLKIT).parts[0].removesuffix(".py")


def test_layering_bottom_methods_top():
    problems = []
    for path in TOOLKIT.rglob("*.py"):
        module = _module_of(path)
        if module == "__init__.py" or path == TOOLKIT / "__init__.py":
            continue
        used = _imports(path) - {module}
        if module in BOTTOM:
            bad = used & (METHODS | TOP | {"plots", "_results"})
        elif module in METHODS:
            bad = used & TOP
        elif module == "plots":
            bad = used & (METHODS | TOP)
        else:
            bad = set()
        if bad:
            problems.append(f"{path.relative_to(TOOLKIT)} imports {sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_package_inits_only_list_names():
    """A package's __init__ imports names and defines nothing but __all__ (and __getattr__
    and __dir__, for deprecated names and for names loaded on first use)."""
    for init in TOOLKIT.rglob("__init__.py"):
        if init.parent in (TOOLKIT, TOOLKIT / "instruments"):
            continue  # the top level loads lazily; the registry fills itself
        tree = ast.parse(init.read_text())
        defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert set(defined) <= {"__getattr__", "__dir__", "analyse"}, (init, defined)


def test_public_functions_are_fully_typed():
    import importlib

    missing = []
    for name in [
        "data",
        "criterion",
        "pooled",
        "instruments",
        "reliable_change",
        "sudden_gains",
        "changepoint",
        "growth",
        "bayes",
        "classes",
        "monitoring",
        "per_client",
        "files",
        "simulate",
        "evaluate",
        "plots",
        "scale",
        "report",
        "datasets",
    ]:
        module = importlib.import_module(f"toolkit.{name}")
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if not inspect.isfunction(obj):
                continue
            sig = inspect.signature(obj)
            if sig.return_annotation is inspect.Signature.empty:
                missing.append(f"{name}.{attr} -> return")
            for p in sig.parameters.values():
                if p.annotation is inspect.Parameter.empty and p.kind not in (
                    p.VAR_POSITIONAL,
                    p.VAR_KEYWORD,
                ):
                    missing.append(f"{name}.{attr}({p.name})")
    assert not missing, missing
