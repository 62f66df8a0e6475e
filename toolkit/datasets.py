"""Shipped datasets as long-format tables, with their data cards.

Five public datasets come with the toolkit (``sgdata``, ``btheb``, ``sleepstudy``,
``claus2020``, ``jacobson1989``), together with simulated benchmark sets whose true changes
are known (``sim_small``, ``sim_losses`` and, generated on demand, ``sim_large`` and
``sim_registry``). Every dataset is returned in long format, one row per client and session,
with missing scores kept as ``NaN`` rows, ready for :func:`toolkit.data.long_scores`.
:func:`roles` gives the matching keyword arguments and :func:`card` the documentation
(source, licence, citation, variables, preparation).

The data keep their own licences (see each card); the code is BSD-3-Clause.

Examples
--------
>>> from toolkit import datasets
>>> df = datasets.load("sgdata")
>>> df.shape
(559, 8)
>>> datasets.roles("sgdata")
{'client': 'id', 'session': 'session', 'score': 'bdi', 'instrument': 'BDI-II'}
>>> int(df.loc[(df["id"] == 1) & (df["session"] == 4), "bdi"].iloc[0])
23
"""

from __future__ import annotations

import builtins
import functools
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .errors import DataError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from .data import LongScores

# ``list`` is public (``datasets.list()``) but deliberately left out of ``__all__`` so that a
# star import cannot shadow the built-in ``list`` in the importing namespace.
__all__ = [
    "names",
    "load",
    "load_truth",
    "load_scores",
    "card",
    "roles",
    "path",
    "regenerate",
    "data_dir",
    "generated_dir",
    "NotGeneratedError",
]


class NotGeneratedError(FileNotFoundError):
    """A large simulated dataset has not been generated on this machine yet."""


# --- Where the files are ------------------------------------------------------------------
# A checkout (editable install) keeps the data in the top-level ``datasets/`` folder next to
# the ``toolkit/`` package; a built wheel carries the same files as package data in
# ``toolkit/_data/``. The marker files guard against an unrelated top-level ``datasets``
# package that may sit next to ``toolkit`` in site-packages.

_MARKERS = ("README.md", "PROVENANCE.md", "sgdata.csv")


def _checkout_dir(package_dir: Path | None = None) -> Path | None:
    package_dir = Path(__file__).resolve().parent if package_dir is None else package_dir
    folder = package_dir.parent / "datasets"
    if all((folder / m).is_file() for m in _MARKERS):
        return folder
    return None


def data_dir() -> Any:
    """The folder holding the shipped data files and cards.

    Returns
    -------
    pathlib.Path or importlib.resources.abc.Traversable
        The ``datasets/`` folder beside the ``toolkit`` package when it exists (a source
        checkout or editable install), otherwise the package data folder ``toolkit/_data``
        of an installed wheel.

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.data_dir().joinpath("sgdata.csv").is_file()
    True
    """
    checkout = _checkout_dir()
    if checkout is not None:
        return checkout
    return importlib.resources.files("toolkit").joinpath("_data")


def generated_dir() -> Path:
    """The folder where large simulated datasets are written (``datasets/generated/``).

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.generated_dir().name
    'generated'
    """
    checkout = _checkout_dir()
    if checkout is not None:
        return checkout / "generated"
    # Installed from a wheel: no checkout, so look beside the package data. The large sets
    # can also be built in memory with regenerate(name).
    return Path(str(importlib.resources.files("toolkit").joinpath("_data"))) / "generated"


# --- Reading helpers ----------------------------------------------------------------------


def _open(filename: str) -> IO[bytes]:
    resource = data_dir().joinpath(filename)
    if not resource.is_file():
        raise FileNotFoundError(
            f"Data file {filename!r} is missing from {data_dir()}; the installation is incomplete."
        )
    return resource.open("rb")


def _read_csv(filename: str, dtypes: dict[str, Any]) -> pd.DataFrame:
    """Read a shipped CSV with fixed dtypes; only empty fields count as missing."""
    with _open(filename) as fh:
        df = pd.read_csv(
            fh,
            dtype={c: (object if _is_factor(t) else t) for c, t in dtypes.items()},
            na_values=[""],
            keep_default_na=False,
        )
    if builtins.list(df.columns) != builtins.list(dtypes):
        raise DataError(
            f"{filename}: expected columns {builtins.list(dtypes)}, found "
            f"{builtins.list(df.columns)}. The shipped file has been changed."
        )
    for column, dtype in dtypes.items():
        if _is_factor(dtype):
            df[column] = _as_factor(df[column], dtype, column, filename)
    return df


def _is_factor(dtype: Any) -> bool:
    return isinstance(dtype, pd.CategoricalDtype)


def _as_factor(
    values: pd.Series, dtype: pd.CategoricalDtype, column: str, filename: str
) -> pd.Series:
    # Converting straight to a categorical would silently turn unknown labels into NaN.
    unknown = sorted(set(values.dropna()) - set(dtype.categories))
    if unknown or values.isna().any():
        raise DataError(
            f"{filename}, column {column!r}: unexpected values {unknown or ['<missing>']}; "
            f"expected only {builtins.list(dtype.categories)}."
        )
    return values.astype(dtype)


def _unique_clients(wide: pd.DataFrame, column: str, filename: str) -> pd.DataFrame:
    repeated = wide[column][wide[column].duplicated()].unique().tolist()
    if repeated:
        raise DataError(f"{filename}: {column} values {repeated} occur on more than one row.")
    return wide


def _factor(*levels: str) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(categories=builtins.list(levels), ordered=False)


def _scores(*columns: str) -> dict[str, str]:
    return {c: "float64" for c in columns}


# --- Long-format builders (one per real dataset) --------------------------------------------

_SG_SESSIONS = tuple(range(13))


def _long_sgdata() -> pd.DataFrame:
    wave = [f"s{i}" for i in _SG_SESSIONS] + ["fu1", "fu2"]
    dtypes = {"id": "int64"}
    dtypes |= _scores(*(f"bdi_{w}" for w in wave))
    dtypes |= _scores(*(f"rq_{w}" for w in wave))
    wide = _unique_clients(_read_csv("sgdata.csv", dtypes), "id", "sgdata.csv")
    n_sessions = len(_SG_SESSIONS)
    out = pd.DataFrame(
        {
            "id": np.repeat(wide["id"].to_numpy(), n_sessions),
            "session": np.tile(np.asarray(_SG_SESSIONS, dtype="int64"), len(wide)),
        }
    )
    for measure in ("bdi", "rq"):
        block = wide[[f"{measure}_s{i}" for i in _SG_SESSIONS]].to_numpy(dtype="float64")
        out[measure] = block.ravel()  # row-major: client 1 sessions 0..12, then client 2 ...
    for measure in ("bdi", "rq"):
        for fu in ("fu1", "fu2"):
            out[f"{measure}_{fu}"] = np.repeat(
                wide[f"{measure}_{fu}"].to_numpy(dtype="float64"), n_sessions
            )
    out = out[["id", "session", "bdi", "rq", "bdi_fu1", "bdi_fu2", "rq_fu1", "rq_fu2"]]
    return out.sort_values(["id", "session"], kind="stable").reset_index(drop=True)


_BTHEB_TIMES = {"bdi.2m": 2, "bdi.3m": 3, "bdi.5m": 5, "bdi.8m": 8}


def _long_btheb() -> pd.DataFrame:
    dtypes: dict[str, Any] = {
        "subject": "int64",
        "drug": _factor("No", "Yes"),
        "length": _factor("<6m", ">6m"),
        "treatment": _factor("TAU", "BtheB"),
    }
    dtypes |= _scores("bdi.pre", *_BTHEB_TIMES)
    wide = _unique_clients(_read_csv("BtheB.csv", dtypes), "subject", "BtheB.csv")
    n_times = len(_BTHEB_TIMES)
    out = pd.DataFrame(
        {
            "subject": np.repeat(wide["subject"].to_numpy(), n_times),
            "drug": wide["drug"].repeat(n_times).to_numpy(),
            "length": wide["length"].repeat(n_times).to_numpy(),
            "treatment": wide["treatment"].repeat(n_times).to_numpy(),
            "bdi_pre": np.repeat(wide["bdi.pre"].to_numpy(dtype="float64"), n_times),
            "time": np.tile(np.asarray(builtins.list(_BTHEB_TIMES.values()), "int64"), len(wide)),
            "bdi": wide[builtins.list(_BTHEB_TIMES)].to_numpy(dtype="float64").ravel(),
        }
    )
    for column in ("drug", "length", "treatment"):
        out[column] = out[column].astype(dtypes[column])
    return out.sort_values(["subject", "time"], kind="stable").reset_index(drop=True)


def _long_sleepstudy() -> pd.DataFrame:
    raw = _read_csv("sleepstudy.csv", {"Reaction": "float64", "Days": "int64", "Subject": "int64"})
    out = pd.DataFrame(
        {"subject": raw["Subject"], "days": raw["Days"], "reaction": raw["Reaction"]}
    )
    return out.sort_values(["subject", "days"], kind="stable").reset_index(drop=True)


def _long_claus2020() -> pd.DataFrame:
    dtypes: dict[str, Any] = {
        "id": "int64",
        "age": "int64",
        "sex": _factor("Female", "Male"),
        "treatment": _factor("TAU", "PA"),
        "time": "int64",
    }
    dtypes |= _scores("bdi", "shaps", "who", "hamd")
    out = _read_csv("claus_2020.csv", dtypes)
    return out.sort_values(["id", "time"], kind="stable").reset_index(drop=True)


_JACOBSON_SESSION = {"pre": 1, "post": 2}


def _long_jacobson1989() -> pd.DataFrame:
    dtypes: dict[str, Any] = {"subject": "int64", "time": _factor("pre", "post")}
    dtypes |= _scores("das", "gds")
    raw = _read_csv("jacobson_1989.csv", dtypes)
    session = raw["time"].astype(str).map(_JACOBSON_SESSION).astype("int64")
    out = pd.DataFrame(
        {
            "subject": raw["subject"],
            "session": session,
            "time": raw["time"],
            "das": raw["das"],
            "gds": raw["gds"],
        }
    )
    return out.sort_values(["subject", "session"], kind="stable").reset_index(drop=True)


# --- Simulated benchmark sets ---------------------------------------------------------------
# The seeds and settings live here so that ``datasets/scripts/make_simulated.py`` (which writes the
# files) and the tests (which regenerate them in memory) use the very same recipe.


@dataclass(frozen=True)
class _SimRecipe:
    n_clients: int
    n_sessions: int
    seed: int
    options: dict[str, Any] = field(default_factory=dict)
    large: bool = False  # large sets are generated on demand, as parquet, never committed

    @property
    def scores_file(self) -> str:
        return "{name}.parquet" if self.large else "{name}.csv"

    @property
    def truth_file(self) -> str:
        return "{name}_truth.parquet" if self.large else "{name}_truth.csv"


_SIM_RECIPES: dict[str, _SimRecipe] = {
    # Sudden gains only, complete data: the cleanest benchmark for gain detection.
    "sim_small": _SimRecipe(
        n_clients=200,
        n_sessions=20,
        seed=20240101,
        options={"gain_share": 0.3, "loss_share": 0.0},
    ),
    # Gains, losses and partial reversals of gains, with sessions missing at random.
    "sim_losses": _SimRecipe(
        n_clients=200,
        n_sessions=15,
        seed=20240102,
        options={"gain_share": 0.3, "loss_share": 0.2, "reversal_share": 0.3, "missing": 0.05},
    ),
    # Speed and memory benchmarks: everything at once, including dropout.
    "sim_large": _SimRecipe(
        n_clients=100_000,
        n_sessions=20,
        seed=20240103,
        options={
            "gain_share": 0.3,
            "loss_share": 0.1,
            "reversal_share": 0.2,
            "missing": 0.05,
            "dropout": 0.01,
        },
        large=True,
    ),
    "sim_registry": _SimRecipe(
        n_clients=1_000_000,
        n_sessions=20,
        seed=20240104,
        options={
            "gain_share": 0.3,
            "loss_share": 0.1,
            "reversal_share": 0.2,
            "missing": 0.05,
            "dropout": 0.01,
        },
        large=True,
    ),
}


def _sim_names(*, large: bool | None = None) -> tuple[str, ...]:
    return tuple(n for n, r in _SIM_RECIPES.items() if large is None or r.large == large)


def _sim_options(name: str) -> dict[str, Any]:
    recipe = _SIM_RECIPES[name]
    return {"instrument": "BDI-II", "seed": recipe.seed, **recipe.options}


def regenerate(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a benchmark dataset afresh from its fixed seed.

    Parameters
    ----------
    name : str
        A simulated dataset: ``"sim_small"``, ``"sim_losses"``, ``"sim_large"`` or
        ``"sim_registry"``.

    Returns
    -------
    scores, truth : pandas.DataFrame
        The long scores (``client, session, score, true_score``) and the true changes, exactly
        as written by ``datasets/scripts/make_simulated.py``.

    Raises
    ------
    toolkit.errors.UnknownNameError
        If ``name`` is not a simulated dataset.

    Examples
    --------
    >>> from toolkit import datasets
    >>> scores, truth = datasets.regenerate("sim_small")
    >>> scores.equals(datasets.load("sim_small"))
    True
    """
    key = _check_name(name)
    if key not in _SIM_RECIPES:
        raise UnknownNameError(
            f"{name!r} is not a simulated dataset; simulated datasets: {', '.join(_SIM_RECIPES)}."
        )
    from . import simulate  # imported late: only needed to (re)generate

    recipe = _SIM_RECIPES[key]
    scores, truth = simulate.trajectories(recipe.n_clients, recipe.n_sessions, **_sim_options(key))
    return _tidy_scores(scores), _tidy_truth(truth)


def _tidy_scores(scores: pd.DataFrame) -> pd.DataFrame:
    out = scores.sort_values(["client", "session"], kind="stable").reset_index(drop=True)
    out["client"] = out["client"].astype("int64")
    out["session"] = out["session"].astype("int64")
    for column in out.columns.drop(["client", "session"]):
        if pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype("float64")
    return out


def _tidy_truth(truth: pd.DataFrame) -> pd.DataFrame:
    out = truth.sort_values(["client", "session"], kind="stable").reset_index(drop=True)
    for column in ("client", "session"):
        if column in out:
            out[column] = out[column].astype("int64")
    if "kind" in out:
        out["kind"] = out["kind"].astype(object)
    return out


# Floats are written in their shortest exact form; read them back exactly. pandas 3 parses
# exactly by default (and deprecates the option); pandas 2 needs "round_trip".
_EXACT_FLOATS: dict[str, str] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


def _read_sim(name: str, *, truth: bool) -> pd.DataFrame:
    recipe = _SIM_RECIPES[name]
    filename = (recipe.truth_file if truth else recipe.scores_file).format(name=name)
    if recipe.large:
        file = generated_dir() / filename
        if not file.is_file():
            raise NotGeneratedError(
                f"The simulated dataset {name!r} ({recipe.n_clients:,} clients x "
                f"{recipe.n_sessions} sessions) is generated on demand and has not been "
                "generated yet: run `make datasets` (or `python "
                f"datasets/scripts/make_simulated.py --only {name}`) in the project folder, or "
                "build it in memory with "
                f"toolkit.datasets.regenerate({name!r}). Expected file: {file}"
            )
        return pd.read_parquet(file)
    with _open(filename) as fh:
        df = pd.read_csv(fh, na_values=[""], keep_default_na=False, **_EXACT_FLOATS)
    return _tidy_truth(df) if truth else _tidy_scores(df)


# --- The catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str
    title: str
    kind: Literal["real", "simulated"]
    files: tuple[str, ...]
    roles: dict[str, Any]
    n_clients: int
    n_rows: int
    licence: str
    description: str
    builder: Callable[[], pd.DataFrame] | None = None


_CATALOGUE: dict[str, _Entry] = {
    e.name: e
    for e in (
        _Entry(
            name="sgdata",
            title="Sudden-gains example data (suddengains R package)",
            kind="real",
            files=("sgdata.csv",),
            roles={"client": "id", "session": "session", "score": "bdi", "instrument": "BDI-II"},
            n_clients=43,
            n_rows=559,
            licence="MIT",
            description=(
                "43 clients, depression (bdi) and rumination (rq) at baseline (session 0) "
                "and 12 weekly therapy sessions; two follow-ups as client-level columns."
            ),
            builder=_long_sgdata,
        ),
        _Entry(
            name="btheb",
            title="Beat the Blues trial (HSAUR3 BtheB)",
            kind="real",
            files=("BtheB.csv", "BtheB_long.csv"),
            roles={"client": "subject", "session": "time", "score": "bdi", "instrument": "BDI-II"},
            n_clients=100,
            n_rows=400,
            licence="GPL-2",
            description=(
                "100 primary-care patients randomised to computerised CBT (Beat the Blues) or "
                "treatment as usual; depression at 2, 3, 5 and 8 months, baseline as bdi_pre."
            ),
            builder=_long_btheb,
        ),
        _Entry(
            name="sleepstudy",
            title="Reaction times under sleep restriction (lme4 sleepstudy)",
            kind="real",
            files=("sleepstudy.csv",),
            roles={
                "client": "subject",
                "session": "days",
                "score": "reaction",
                "instrument": None,
                "better": "lower",
            },
            n_clients=18,
            n_rows=180,
            licence="GPL (>= 2)",
            description=(
                "18 subjects x 10 days (0-9) of average reaction time in ms; not a "
                "questionnaire, a complete-data benchmark."
            ),
            builder=_long_sleepstudy,
        ),
        _Entry(
            name="claus2020",
            title="Placebo amplification for inpatient depression (Claus et al. 2020)",
            kind="real",
            files=("claus_2020.csv",),
            roles={"client": "id", "session": "time", "score": "bdi", "instrument": "BDI-II"},
            n_clients=43,
            n_rows=172,
            licence="GPL (>= 3)",
            description=(
                "43 depressed inpatients, treatment as usual vs placebo amplification; four "
                "measurements (time 1-4) of BDI-II, SHAPS, WHO-5 and HAM-D."
            ),
            builder=_long_claus2020,
        ),
        _Entry(
            name="jacobson1989",
            title="Behavioural marital therapy, pre/post (Jacobson et al. 1989)",
            kind="real",
            files=("jacobson_1989.csv",),
            roles={
                "client": "subject",
                "session": "session",
                "score": "das",
                "instrument": None,
                "better": "higher",
            },
            n_clients=30,
            n_rows=60,
            licence="GPL (>= 3)",
            description=(
                "30 subjects before and after marital therapy: Dyadic Adjustment Scale (das, "
                "higher is better) and Global Distress Scale (gds, lower is better)."
            ),
            builder=_long_jacobson1989,
        ),
        _Entry(
            name="sim_small",
            title="Simulated BDI-II trajectories with sudden gains (200 x 20)",
            kind="simulated",
            files=("sim_small.csv", "sim_small_truth.csv"),
            roles={
                "client": "client",
                "session": "session",
                "score": "score",
                "instrument": "BDI-II",
            },
            n_clients=200,
            n_rows=4000,
            licence="BSD-3-Clause",
            description=(
                "200 simulated clients x 20 sessions, a share with sudden gains; the true "
                "changes are in load_truth('sim_small')."
            ),
        ),
        _Entry(
            name="sim_losses",
            title="Simulated BDI-II trajectories with gains, losses and reversals (200 x 15)",
            kind="simulated",
            files=("sim_losses.csv", "sim_losses_truth.csv"),
            roles={
                "client": "client",
                "session": "session",
                "score": "score",
                "instrument": "BDI-II",
            },
            n_clients=200,
            n_rows=3000,
            licence="BSD-3-Clause",
            description=(
                "200 simulated clients x 15 sessions with sudden gains, sudden losses and "
                "reversals; the true changes are in load_truth('sim_losses')."
            ),
        ),
        _Entry(
            name="sim_large",
            title="Simulated BDI-II trajectories, large (100,000 x 20; generated on demand)",
            kind="simulated",
            files=("generated/sim_large.parquet", "generated/sim_large_truth.parquet"),
            roles={
                "client": "client",
                "session": "session",
                "score": "score",
                "instrument": "BDI-II",
            },
            n_clients=100_000,
            n_rows=2_000_000,
            licence="BSD-3-Clause",
            description=(
                "100,000 simulated clients x 20 sessions for speed benchmarks; written to "
                "datasets/generated/ by `make datasets`."
            ),
        ),
        _Entry(
            name="sim_registry",
            title="Simulated BDI-II registry (1,000,000 x 20; generated on demand)",
            kind="simulated",
            files=("generated/sim_registry.parquet", "generated/sim_registry_truth.parquet"),
            roles={
                "client": "client",
                "session": "session",
                "score": "score",
                "instrument": "BDI-II",
            },
            n_clients=1_000_000,
            n_rows=20_000_000,
            licence="BSD-3-Clause",
            description=(
                "1,000,000 simulated clients x 20 sessions, registry scale; written to "
                "datasets/generated/ by `make datasets`."
            ),
        ),
    )
}


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _CATALOGUE:
        raise UnknownNameError(
            f"Unknown dataset {name!r}. Available datasets: {', '.join(_CATALOGUE)}."
        )
    return key


@functools.cache
def _cached(name: str) -> pd.DataFrame:
    # Only small frames are cached; callers always receive a deep copy.
    entry = _CATALOGUE[name]
    if entry.builder is not None:
        return entry.builder()
    return _read_sim(name, truth=False)


@functools.cache
def _cached_truth(name: str) -> pd.DataFrame:
    return _read_sim(name, truth=True)


# --- Public API -----------------------------------------------------------------------------


def names() -> tuple[str, ...]:
    """Names of all datasets, in catalogue order.

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.names()[:3]
    ('sgdata', 'btheb', 'sleepstudy')
    """
    return tuple(_CATALOGUE)


def load(name: str) -> pd.DataFrame:
    """Load a dataset in long format, one row per client and session.

    Missing scores are kept as ``NaN`` rows (never dropped), so every client has the full
    schedule of sessions. Each call returns a new copy that the caller may modify freely.

    Parameters
    ----------
    name : str
        One of :func:`names` (case-insensitive), e.g. ``"sgdata"`` or ``"btheb"``.

    Returns
    -------
    pandas.DataFrame
        The long table; :func:`roles` names its client, session and score columns and
        :func:`card` documents every column.

    Raises
    ------
    toolkit.errors.UnknownNameError
        If ``name`` is not a shipped dataset (the message lists the available names).
    NotGeneratedError
        If ``name`` is a large simulated set that has not been generated yet
        (run ``make datasets``).

    Examples
    --------
    >>> from toolkit import datasets
    >>> df = datasets.load("btheb")
    >>> df.columns.tolist()
    ['subject', 'drug', 'length', 'treatment', 'bdi_pre', 'time', 'bdi']
    >>> len(df), int(df["bdi"].isna().sum())
    (400, 120)
    """
    key = _check_name(name)
    recipe = _SIM_RECIPES.get(key)
    if recipe is not None and recipe.large:
        return _tidy_scores(_read_sim(key, truth=False))  # too big to keep a cached copy
    return _cached(key).copy(deep=True)


def load_truth(name: str) -> pd.DataFrame:
    """The true changes built into a simulated dataset, one row per change.

    Parameters
    ----------
    name : str
        A simulated dataset, e.g. ``"sim_small"``.

    Returns
    -------
    pandas.DataFrame
        One row per true change with at least ``client``, ``session``, ``magnitude`` and
        ``kind`` (for example ``"gain"`` or ``"loss"``).

    Raises
    ------
    toolkit.errors.UnknownNameError
        If ``name`` is unknown or is a real dataset (which has no known truth).
    NotGeneratedError
        If a large simulated set has not been generated yet.

    Examples
    --------
    >>> from toolkit import datasets
    >>> truth = datasets.load_truth("sim_small")
    >>> {"client", "session", "magnitude", "kind"} <= set(truth.columns)
    True
    """
    key = _check_name(name)
    recipe = _SIM_RECIPES.get(key)
    if recipe is None:
        raise UnknownNameError(
            f"{name!r} is real data and has no known truth; simulated datasets: "
            f"{', '.join(_SIM_RECIPES)}."
        )
    if recipe.large:
        return _tidy_truth(_read_sim(key, truth=True))
    return _cached_truth(key).copy(deep=True)


def roles(name: str) -> dict[str, Any]:
    """Keyword arguments telling the validator which column plays which role.

    Parameters
    ----------
    name : str
        A dataset name.

    Returns
    -------
    dict
        ``client``, ``session`` and ``score`` column names and the registered
        ``instrument`` name (``None`` when the score is not a registered questionnaire).

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.roles("btheb")
    {'client': 'subject', 'session': 'time', 'score': 'bdi', 'instrument': 'BDI-II'}
    >>> from toolkit.data import long_scores
    >>> scores = long_scores(datasets.load("btheb"), **datasets.roles("btheb"))
    """
    return dict(_CATALOGUE[_check_name(name)].roles)


def card(name: str) -> str:
    """The data card (Markdown): source, licence, citations, variables and preparation.

    Examples
    --------
    >>> from toolkit import datasets
    >>> print(datasets.card("sleepstudy").splitlines()[0])
    # sleepstudy: reaction times under sleep restriction
    """
    key = _check_name(name)
    resource = data_dir().joinpath(f"{key}.md")
    if not resource.is_file():
        raise FileNotFoundError(f"The data card {key}.md is missing from {data_dir()}.")
    return resource.read_text(encoding="utf-8")


def path(name: str) -> Any:
    """Location of a dataset's scores file (the source CSV for real data).

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.path("jacobson1989").name
    'jacobson_1989.csv'
    """
    key = _check_name(name)
    recipe = _SIM_RECIPES.get(key)
    if recipe is not None and recipe.large:
        return generated_dir() / recipe.scores_file.format(name=key)
    return data_dir().joinpath(_CATALOGUE[key].files[0])


def list() -> pd.DataFrame:
    """One row per dataset: what it is, its size, instrument, licence and column roles.

    Sizes come from the catalogue, so large simulated sets are listed even before they are
    generated (see the ``available`` column).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, title, kind, n_clients, n_rows, instrument, licence, client, session,
        score, available, description``.

    Examples
    --------
    >>> from toolkit import datasets
    >>> table = datasets.list()
    >>> table.loc[table["name"] == "btheb", ["n_clients", "n_rows"]].values.tolist()
    [[100, 400]]
    """
    rows = []
    for key, entry in _CATALOGUE.items():
        target = path(key)
        rows.append(
            {
                "name": key,
                "title": entry.title,
                "kind": entry.kind,
                "n_clients": entry.n_clients,
                "n_rows": entry.n_rows,
                "instrument": entry.roles["instrument"],
                "licence": entry.licence,
                "client": entry.roles["client"],
                "session": entry.roles["session"],
                "score": entry.roles["score"],
                "available": bool(target.is_file()),
                "description": entry.description,
            }
        )
    table = pd.DataFrame(rows)
    table = table.astype({"n_clients": "int64", "n_rows": "int64", "available": "bool"})
    # Keep None (not NaN) for "no registered instrument", as roles() does.
    table["instrument"] = pd.Series([r["instrument"] for r in rows], dtype=object)
    return table


def load_scores(name: str) -> LongScores:
    """A shipped dataset, validated: ``long_scores(load(name), **roles(name))``.

    Examples
    --------
    >>> from toolkit import datasets
    >>> datasets.load_scores("sgdata")  # doctest: +NORMALIZE_WHITESPACE
    <LongScores BDI-II: 43 clients x 13 sessions, 559 rows, 73 missing scores, 0 excluded
    rows; reliable change: 9.996 points (norms)>
    """
    from .data import long_scores

    return long_scores(load(name), **roles(name))
