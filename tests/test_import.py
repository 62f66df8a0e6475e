"""``import toolkit`` stays lean: submodules and heavy dependencies load on first use.

Each check runs in a fresh interpreter, so what the test session already imported does not
count. Speed itself is measured by ``benchmarks/bench_import.py``, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import toolkit

#: Third-party packages that ``import toolkit`` alone must not load.
HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "statsmodels",
    "pymc",
    "pytensor",
    "arviz",
    "numba",
    "xarray",
    "formulaic",
    "pyarrow",
    "tqdm",
    "dask",
    "seaborn",
)


def _loaded(code: str) -> set[str]:
    """Top-level names of the modules loaded after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_import_toolkit_loads_no_heavy_dependency() -> None:
    loaded = _loaded("import toolkit")
    heavy = sorted(_top(loaded) & set(HEAVY))
    assert not heavy, f"import toolkit loaded {heavy}"
    inner = sorted(m for m in loaded if m.startswith("toolkit."))
    assert inner == ["toolkit._options", "toolkit._version"], inner


def test_version_and_options_need_no_submodule() -> None:
    loaded = _loaded(
        "import toolkit\ntoolkit.__version__\ntoolkit.set_options(progress=True)\ndir(toolkit)"
    )
    assert not _top(loaded) & set(HEAVY)


@pytest.mark.parametrize(
    ("code", "needed", "not_needed"),
    [
        # validating scores needs pandas, not the Bayesian or plotting stack
        (
            "import toolkit\ntoolkit.long_scores",
            {"pandas"},
            {"pymc", "pytensor", "arviz", "matplotlib"},
        ),
        # the Bayesian module loads PyMC only when a model is built or fitted
        ("import toolkit.bayes", {"pandas"}, {"pymc", "pytensor", "matplotlib"}),
        ("from toolkit import breakthroughs", {"pandas"}, {"pymc", "pytensor", "matplotlib"}),
        ("from toolkit import errors", set(), {"pandas", "numpy", "scipy", "matplotlib"}),
        ("import toolkit.plots", set(), {"matplotlib", "pandas", "pymc", "pytensor"}),
        # one plot function loads its own module, not every method's plotting code
        ("import toolkit; toolkit.plots.spaghetti", {"matplotlib"}, {"scipy", "pymc"}),
    ],
)
def test_submodules_load_only_what_they_need(
    code: str, needed: set[str], not_needed: set[str]
) -> None:
    top = _top(_loaded(code))
    assert needed <= top, f"{code!r} did not load {sorted(needed - top)}"
    assert not top & not_needed, f"{code!r} loaded {sorted(top & not_needed)}"


def test_lazy_names_resolve_and_are_listed() -> None:
    assert set(toolkit.__all__) <= set(dir(toolkit))
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name
    from toolkit import DataError, LongScores, ToolkitWarning, breakthroughs, long_scores

    assert callable(breakthroughs) and callable(long_scores)
    assert issubclass(DataError, ValueError)
    assert issubclass(ToolkitWarning, Warning)
    assert LongScores.__name__ == "LongScores"
    assert toolkit.sudden_gains.__name__ == "toolkit.sudden_gains"


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        toolkit.nonexistent
    with pytest.raises(ImportError):
        from toolkit import nonexistent  # noqa: F401


def test_every_plot_function_is_listed_and_loads() -> None:
    plots = toolkit.plots
    assert set(plots.__all__) == set(plots._LAZY), "list each new plot in __all__ and _LAZY"
    for name in plots.__all__:
        assert getattr(plots, name) is not None, name
    assert plots.changepoint_segments is plots.changepoint.segments
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        plots.nonexistent
