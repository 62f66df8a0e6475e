"""Tests for toolkit.datasets: shipped data, long layouts, cards, roles and simulated sets.

Expected values are checked against the source CSV files in ``datasets/``, read here with the
standard ``csv`` module, independently of the loader.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit import datasets
from toolkit.errors import UnknownNameError

DATA = Path(__file__).resolve().parent.parent / "datasets"

REAL = ("sgdata", "btheb", "sleepstudy", "claus2020", "jacobson1989")
SMALL_SIM = ("sim_small", "sim_losses")
LARGE_SIM = ("sim_large", "sim_registry")

# name -> (columns, rows, clients)
LAYOUT = {
    "sgdata": (["id", "session", "bdi", "rq", "bdi_fu1", "bdi_fu2", "rq_fu1", "rq_fu2"], 559, 43),
    "btheb": (["subject", "drug", "length", "treatment", "bdi_pre", "time", "bdi"], 400, 100),
    "sleepstudy": (["subject", "days", "reaction"], 180, 18),
    "claus2020": (
        ["id", "age", "sex", "treatment", "time", "bdi", "shaps", "who", "hamd"],
        172,
        43,
    ),
    "jacobson1989": (["subject", "session", "time", "das", "gds"], 60, 30),
    "sim_small": (["client", "session", "score", "true_score"], 4000, 200),
    "sim_losses": (["client", "session", "score", "true_score"], 3000, 200),
}


def read_rows(filename: str) -> list[dict[str, str]]:
    with open(DATA / filename, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def cell(value: str) -> float:
    """A CSV field as a number; an empty field is missing."""
    return math.nan if value == "" else float(value)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def count_empty(rows: list[dict[str, str]], columns: list[str]) -> int:
    return sum(row[c] == "" for row in rows for c in columns)


# --- Shapes, columns, dtypes --------------------------------------------------------------


@pytest.mark.parametrize("name", REAL + SMALL_SIM)
def test_layout(name):
    columns, n_rows, n_clients = LAYOUT[name]
    df = datasets.load(name)
    assert list(df.columns) == columns
    assert len(df) == n_rows
    client = datasets.roles(name)["client"]
    assert df[client].nunique() == n_clients
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0


@pytest.mark.parametrize("name", REAL + SMALL_SIM)
def test_one_row_per_client_and_session(name):
    r = datasets.roles(name)
    df = datasets.load(name)
    assert not df.duplicated([r["client"], r["session"]]).any()
    assert df[r["session"]].dtype == np.int64
    assert df[r["score"]].dtype == np.float64
    # every client has the full schedule of sessions (missing scores are rows, not gaps)
    per_client = df.groupby(r["client"])[r["session"]].apply(tuple)
    assert per_client.nunique() == 1
    assert df.equals(df.sort_values([r["client"], r["session"]]).reset_index(drop=True))


def test_sessions_and_times():
    assert datasets.load("sgdata")["session"].unique().tolist() == list(range(13))
    assert datasets.load("btheb")["time"].unique().tolist() == [2, 3, 5, 8]
    assert datasets.load("sleepstudy")["days"].unique().tolist() == list(range(10))
    assert datasets.load("claus2020")["time"].unique().tolist() == [1, 2, 3, 4]
    j = datasets.load("jacobson1989")
    assert j["session"].unique().tolist() == [1, 2]
    assert (j["time"].astype(str) == j["session"].map({1: "pre", 2: "post"})).all()


def test_factor_levels():
    b = datasets.load("btheb")
    assert list(b["drug"].cat.categories) == ["No", "Yes"]
    assert list(b["length"].cat.categories) == ["<6m", ">6m"]
    assert list(b["treatment"].cat.categories) == ["TAU", "BtheB"]
    c = datasets.load("claus2020")
    assert list(c["treatment"].cat.categories) == ["TAU", "PA"]
    assert c.drop_duplicates("id")["treatment"].value_counts().to_dict() == {"PA": 23, "TAU": 20}
    assert b.drop_duplicates("subject")["treatment"].value_counts().to_dict() == {
        "BtheB": 52,
        "TAU": 48,
    }


# --- Missing scores are kept, counted against the wide source files -------------------------


def test_missing_sgdata():
    rows = read_rows("sgdata.csv")
    df = datasets.load("sgdata")
    for measure, expected in (("bdi", 73), ("rq", 49)):
        in_source = count_empty(rows, [f"{measure}_s{i}" for i in range(13)])
        assert in_source == expected
        assert int(df[measure].isna().sum()) == in_source
    for column in ("bdi_fu1", "bdi_fu2", "rq_fu1", "rq_fu2"):
        assert int(df[column].isna().sum()) == 13 * count_empty(rows, [column])
    assert count_empty(rows, ["bdi_fu1"]) == 7


def test_missing_btheb():
    rows = read_rows("BtheB.csv")
    in_source = count_empty(rows, ["bdi.2m", "bdi.3m", "bdi.5m", "bdi.8m"])
    assert in_source == 120
    df = datasets.load("btheb")
    assert int(df["bdi"].isna().sum()) == in_source
    assert int(df["bdi_pre"].isna().sum()) == 0
    assert df.groupby("time")["bdi"].apply(lambda s: int(s.isna().sum())).to_dict() == {
        2: 3,
        3: 27,
        5: 42,
        8: 48,
    }


def test_missing_claus_jacobson_sleepstudy():
    rows = read_rows("claus_2020.csv")
    claus = datasets.load("claus2020")
    expected = {"bdi": 9, "shaps": 10, "who": 9, "hamd": 8}
    for column, n in expected.items():
        assert count_empty(rows, [column]) == n
        assert int(claus[column].isna().sum()) == n
    rows = read_rows("jacobson_1989.csv")
    jac = datasets.load("jacobson1989")
    assert count_empty(rows, ["gds"]) == int(jac["gds"].isna().sum()) == 4
    assert int(jac["das"].isna().sum()) == 0
    assert int(datasets.load("sleepstudy").isna().sum().sum()) == 0


# --- Every value matches the source ----------------------------------------------------------


def test_spot_values():
    sg = datasets.load("sgdata").set_index(["id", "session"])
    assert sg.loc[(1, 4), "bdi"] == 23
    assert sg.loc[(1, 0), "bdi"] == 33 and sg.loc[(1, 0), "rq"] == 33
    assert math.isnan(sg.loc[(2, 2), "bdi"])  # the documented example of a missing value
    assert sg.loc[(3, 12), "bdi_fu2"] == 14
    bt = datasets.load("btheb").set_index(["subject", "time"])
    assert bt.loc[(2, 8), "bdi"] == 20 and bt.loc[(2, 8), "bdi_pre"] == 32
    assert math.isnan(bt.loc[(1, 5), "bdi"])
    sl = datasets.load("sleepstudy").set_index(["subject", "days"])
    assert sl.loc[(308, 0), "reaction"] == 249.56
    cl = datasets.load("claus2020").set_index(["id", "time"])
    assert cl.loc[(1, 2), "hamd"] == 17 and cl.loc[(1, 1), "age"] == 54
    ja = datasets.load("jacobson1989").set_index(["subject", "session"])
    assert ja.loc[(1, 1), "das"] == 90.5 and ja.loc[(1, 2), "gds"] == 62.5


def test_sgdata_all_values_match_source():
    df = datasets.load("sgdata").set_index(["id", "session"])
    for row in read_rows("sgdata.csv"):
        client = int(row["id"])
        for i in range(13):
            for measure in ("bdi", "rq"):
                assert same(df.loc[(client, i), measure], cell(row[f"{measure}_s{i}"]))
            for fu in ("bdi_fu1", "bdi_fu2", "rq_fu1", "rq_fu2"):
                assert same(df.loc[(client, i), fu], cell(row[fu]))


def test_btheb_matches_source_and_hsaur3_long_format():
    df = datasets.load("btheb")
    indexed = df.set_index(["subject", "time"])
    for row in read_rows("BtheB.csv"):
        subject = int(row["subject"])
        for months in (2, 3, 5, 8):
            assert same(indexed.loc[(subject, months), "bdi"], cell(row[f"bdi.{months}m"]))
            assert indexed.loc[(subject, months), "bdi_pre"] == cell(row["bdi.pre"])
            assert indexed.loc[(subject, months), "treatment"] == row["treatment"]
    # The shipped HSAUR3 long file, dots renamed to underscores, is the same table.
    long_rows = read_rows("BtheB_long.csv")
    assert len(long_rows) == len(df)
    for got, want in zip(df.itertuples(index=False), long_rows):
        assert got.subject == int(want["subject"])
        assert got.time == int(want["time"])
        assert (got.drug, got.length, got.treatment) == (
            want["drug"],
            want["length"],
            want["treatment"],
        )
        assert got.bdi_pre == cell(want["bdi.pre"])
        assert same(got.bdi, cell(want["bdi"]))


@pytest.mark.parametrize(
    ("name", "filename", "key", "columns"),
    [
        ("claus2020", "claus_2020.csv", ("id", "time"), ["age", "bdi", "shaps", "who", "hamd"]),
        ("sleepstudy", "sleepstudy.csv", ("Subject", "Days"), ["Reaction"]),
    ],
)
def test_long_sources_match(name, filename, key, columns):
    df = datasets.load(name)
    r = datasets.roles(name)
    indexed = df.set_index([r["client"], r["session"]])
    rows = read_rows(filename)
    assert len(rows) == len(df)
    for row in rows:
        where = (int(row[key[0]]), int(row[key[1]]))
        for column in columns:
            assert same(indexed.loc[where, column.lower()], cell(row[column]))


def test_jacobson_matches_source():
    df = datasets.load("jacobson1989").set_index(["subject", "time"])
    for row in read_rows("jacobson_1989.csv"):
        where = (int(row["subject"]), row["time"])
        assert same(df.loc[where, "das"], cell(row["das"]))
        assert same(df.loc[where, "gds"], cell(row["gds"]))


def test_shipped_files_are_the_originals():
    # The data files are copies of the exports recorded in PROVENANCE.md, never rewritten.
    provenance = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    for filename in (
        "sgdata.csv",
        "BtheB.csv",
        "BtheB_long.csv",
        "sleepstudy.csv",
        "claus_2020.csv",
        "jacobson_1989.csv",
    ):
        assert f"`{filename}`" in provenance
        assert (DATA / filename).read_bytes().startswith(b'"')  # R write.csv quotes the header


# --- Roles, cards, catalogue -----------------------------------------------------------------


@pytest.mark.parametrize("name", REAL + SMALL_SIM)
def test_roles_name_columns(name):
    r = datasets.roles(name)
    assert (
        {"client", "session", "score", "instrument"}
        <= set(r)
        <= {
            "client",
            "session",
            "score",
            "instrument",
            "better",
        }
    )
    # A dataset without a registered instrument says which direction is better.
    assert r["instrument"] is not None or r["better"] in ("lower", "higher")
    df = datasets.load(name)
    for role in ("client", "session", "score"):
        assert r[role] in df.columns
    assert len({r["client"], r["session"], r["score"]}) == 3


def test_roles_values():
    assert datasets.roles("sgdata") == {
        "client": "id",
        "session": "session",
        "score": "bdi",
        "instrument": "BDI-II",
    }
    assert datasets.roles("btheb")["session"] == "time"
    assert datasets.roles("btheb")["score"] == "bdi"
    assert datasets.roles("sleepstudy")["instrument"] is None
    assert datasets.roles("claus2020")["score"] == "bdi"
    assert datasets.roles("jacobson1989")["instrument"] is None
    # a copy: editing it does not change the catalogue
    r = datasets.roles("sgdata")
    r["score"] = "rq"
    assert datasets.roles("sgdata")["score"] == "bdi"


def test_registered_instruments_exist():
    from toolkit import instruments

    for name in datasets.names():
        inst = datasets.roles(name)["instrument"]
        if inst is not None:
            assert instruments.get(inst).name == inst


CARD_FACTS = {
    "sgdata": (
        "MIT",
        ["Wiedemann", "2020", "e964e74ef00883fed881583ca1392dbf323c7946", "sgdata_bad"],
    ),
    "btheb": (
        "GPL-2",
        [
            "Proudfoot",
            "2003",
            "2004",
            "Hothorn",
            "Everitt",
            "1.0-13",
            "Beck Depression Inventory II",
        ],
    ),
    "sleepstudy": ("GPL (>= 2)", ["Belenky", "2003", "lme4", "1.1-31", "milliseconds"]),
    "claus2020": (
        "GPL (>= 3)",
        [
            "Claus",
            "2020",
            "cacaca1642773596b5daf94ddc1a5ffbef618cce",
            "BDI-II",
            "SHAPS",
            "WHO-Five",
            "Hamilton",
        ],
    ),
    "jacobson1989": (
        "GPL (>= 3)",
        ["Jacobson", "1989", "Truax", "1991", "Dyadic Adjustment Scale", "Global Distress Scale"],
    ),
    "sim_small": ("BSD-3-Clause", ["Tang", "1999", "20240101"]),
    "sim_losses": ("BSD-3-Clause", ["Tang", "1999", "20240102"]),
    "sim_large": ("BSD-3-Clause", ["make datasets", "20240103"]),
    "sim_registry": ("BSD-3-Clause", ["make datasets", "20240104"]),
}


@pytest.mark.parametrize("name", list(CARD_FACTS))
def test_cards_mention_licence_and_citation(name):
    licence, facts = CARD_FACTS[name]
    text = datasets.card(name)
    assert text.startswith(f"# {name}:")
    assert "## Licence" in text and licence in text
    assert "## Citation" in text
    assert "## How it was prepared" in text
    for fact in facts:
        assert fact in text, fact
    listed = datasets.list().set_index("name")
    assert listed.loc[name, "licence"] == licence


def test_readme_indexes_every_dataset():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in datasets.names():
        assert f"[`{name}`]({name}.md)" in readme


def test_list_has_one_row_per_dataset():
    table = datasets.list()
    assert table["name"].tolist() == list(datasets.names())
    assert set(REAL + SMALL_SIM + LARGE_SIM) == set(datasets.names())
    assert {
        "name",
        "title",
        "n_clients",
        "n_rows",
        "instrument",
        "licence",
        "client",
        "session",
        "score",
        "description",
    } <= set(table.columns)
    indexed = table.set_index("name")
    for name in REAL + SMALL_SIM:
        df = datasets.load(name)
        r = datasets.roles(name)
        assert indexed.loc[name, "n_rows"] == len(df)
        assert indexed.loc[name, "n_clients"] == df[r["client"]].nunique()
        assert indexed.loc[name, "available"]
        for role in ("client", "session", "score", "instrument"):
            assert indexed.loc[name, role] == r[role]
    assert indexed.loc["sim_registry", "n_rows"] == 20_000_000
    assert indexed.loc["sleepstudy", "instrument"] is None


def test_unknown_name():
    with pytest.raises(UnknownNameError, match="Available datasets: sgdata, btheb") as info:
        datasets.load("sgdta")
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)
    for function in (datasets.roles, datasets.card, datasets.load_truth, datasets.path):
        with pytest.raises(UnknownNameError, match="jacobson1989"):
            function("nope")
    with pytest.raises(UnknownNameError, match="no known truth"):
        datasets.load_truth("sgdata")
    with pytest.raises(UnknownNameError, match="not a simulated dataset"):
        datasets.regenerate("btheb")


def test_names_are_case_insensitive():
    assert datasets.load("SGData").equals(datasets.load("sgdata"))


@pytest.mark.parametrize("name", REAL + SMALL_SIM)
def test_fresh_copy_each_call(name):
    r = datasets.roles(name)
    first = datasets.load(name)
    reference = first.copy(deep=True)
    first[r["score"]] = -1.0
    first.pop(r["client"])
    first["extra"] = 1
    second = datasets.load(name)
    pd.testing.assert_frame_equal(second, reference)
    assert datasets.load(name) is not second


def test_truth_is_a_fresh_copy():
    truth = datasets.load_truth("sim_small")
    truth["magnitude"] = 0.0
    assert (datasets.load_truth("sim_small")["magnitude"] > 0).all()


# --- Validation by toolkit.data.long_scores ----------------------------------------------------


@pytest.mark.parametrize("name", REAL + SMALL_SIM)
def test_validates_with_long_scores(name):
    data = pytest.importorskip("toolkit.data")
    _, n_rows, n_clients = LAYOUT[name]
    df = datasets.load(name)
    scores = data.long_scores(df, **datasets.roles(name))
    assert scores.n_clients == n_clients
    assert len(scores.data) == n_rows  # nothing dropped, missing scores included
    missing = int(df[datasets.roles(name)["score"]].isna().sum())
    assert int(scores.data["score"].isna().sum()) == missing


# --- Where the files are found -------------------------------------------------------------------


def test_checkout_folder_is_used():
    assert Path(str(datasets.data_dir())) == DATA
    assert datasets.path("jacobson1989") == DATA / "jacobson_1989.csv"


def test_unrelated_datasets_folder_is_ignored(tmp_path):
    # e.g. another distribution's top-level ``datasets`` package next to ``toolkit``
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "__init__.py").write_text("")
    (tmp_path / "toolkit").mkdir()
    assert datasets._checkout_dir(tmp_path / "toolkit") is None
    assert datasets._checkout_dir(DATA.parent / "toolkit") == DATA


def test_falls_back_to_package_data(monkeypatch):
    monkeypatch.setattr(datasets, "_checkout_dir", lambda package_dir=None: None)
    folder = datasets.data_dir()
    assert Path(str(folder)).parts[-2:] == ("toolkit", "_data")


# --- Simulated sets -------------------------------------------------------------------------------


def _make_simulated():
    spec = importlib.util.spec_from_file_location(
        "make_simulated", DATA / "scripts" / "make_simulated.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SMALL_SIM)
def test_committed_simulations_equal_regeneration(name):
    scores, truth = datasets.regenerate(name)
    pd.testing.assert_frame_equal(datasets.load(name), scores, check_exact=True)
    pd.testing.assert_frame_equal(datasets.load_truth(name), truth, check_exact=True)


def test_simulation_script_is_byte_identical(tmp_path):
    script = _make_simulated()
    assert script.main(["--small", "--outdir", str(tmp_path / "a")]) == 0
    assert script.main(["--only", "sim_small", "--outdir", str(tmp_path / "b")]) == 0
    for name in SMALL_SIM:
        for suffix in (".csv", "_truth.csv"):
            written = (tmp_path / "a" / f"{name}{suffix}").read_bytes()
            assert written == (DATA / f"{name}{suffix}").read_bytes(), f"{name}{suffix}"
    assert (tmp_path / "b" / "sim_small.csv").read_bytes() == (DATA / "sim_small.csv").read_bytes()
    assert not (tmp_path / "b" / "sim_losses.csv").exists()


def test_simulated_truth():
    small = datasets.load_truth("sim_small")
    assert set(small["kind"]) == {"gain"}
    assert (small["magnitude"] > 0).all()
    assert small["client"].between(1, 200).all()
    losses = datasets.load_truth("sim_losses")
    assert {"gain", "loss", "reversal"} == set(losses["kind"])
    assert int(datasets.load("sim_losses")["score"].isna().sum()) > 0
    assert int(datasets.load("sim_small")["score"].isna().sum()) == 0


def test_large_set_not_generated(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "generated_dir", lambda: tmp_path / "generated")
    for name in LARGE_SIM:
        with pytest.raises(datasets.NotGeneratedError, match="make datasets"):
            datasets.load(name)
        with pytest.raises(FileNotFoundError, match=name):
            datasets.load_truth(name)
    table = datasets.list().set_index("name")
    assert not table.loc["sim_large", "available"]


def test_large_set_round_trip(monkeypatch, tmp_path):
    # Write sim_large with the script into a temporary folder and load it from there.
    monkeypatch.setattr(datasets, "generated_dir", lambda: tmp_path)
    script = _make_simulated()
    assert script.main(["--only", "sim_large", "--outdir", str(tmp_path)]) == 0
    scores = datasets.load("sim_large")
    assert scores.shape == (2_000_000, 4)
    assert scores["client"].nunique() == 100_000
    assert datasets.load_truth("sim_large")["kind"].isin(["gain", "loss", "reversal"]).all()


def test_wheel_packaging_carries_the_data():
    """pyproject.toml maps datasets/ to toolkit._data and lists every subpackage."""
    import tomllib

    config = tomllib.loads((DATA.parent / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools_cfg = config.get("tool", {}).get("setuptools", {})
    packages = setuptools_cfg.get("packages")
    if not isinstance(packages, list):
        pytest.skip("pyproject.toml does not yet map datasets/ into the wheel (toolkit._data)")
    assert setuptools_cfg.get("package-dir", {}).get("toolkit._data") == "datasets"
    globs = setuptools_cfg.get("package-data", {}).get("toolkit._data", [])
    assert {"*.csv", "*.md"} <= set(globs)
    # An explicit list must name every subpackage, or the wheel silently lacks it.
    root = DATA.parent / "toolkit"
    found = {
        ".".join(p.parent.relative_to(root.parent).parts)
        for p in root.rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    missing = sorted(found - set(packages))
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
