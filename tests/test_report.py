"""The report package: every section on shipped data, the page, and the one criterion."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from toolkit import datasets, instruments
from toolkit.data import long_scores
from toolkit.report import Context, Report, analyse
from toolkit.report._format import csv_safe, format_value, label
from toolkit.report.sections import SECTIONS
from toolkit.report.sections.bayes import bayes_section
from toolkit.report.sections.changepoint import changepoint_section
from toolkit.report.sections.growth import growth_section
from toolkit.report.sections.reliable_change import reliable_change_section


@pytest.fixture(scope="module")
def sg():
    return datasets.load_scores("sgdata")


def test_reliable_change_section_adds_table_and_figure(sg):
    report = Report("test")
    reliable_change_section(report, Context(sg))
    kinds = [(b.kind, b.name) for b in report.blocks]
    assert ("table", "reliable_change_summary") in kinds
    assert ("figure", "jacobson_truax") in kinds
    table = next(b.content for b in report.blocks if b.name == "reliable_change_summary")
    assert table["n"].sum() == 43
    text = " ".join(b.content for b in report.blocks if b.kind == "text")
    assert f"{sg.reliable_change.points:.3g} points" in text
    plt.close("all")


def test_reliable_change_section_says_not_computed_without_a_criterion():
    mine = instruments.Instrument(
        name="NORELIABILITY",
        full_name="x",
        min_score=0,
        max_score=60,
        better="lower",
        citation="test",
    )
    no_r = long_scores(
        datasets.load("claus2020"), client="id", session="time", score="hamd", instrument=mine
    )
    report = Report("test")
    reliable_change_section(report, Context(no_r))  # the result's warnings become its text
    assert report.blocks[1].kind == "text" and "Not computed" in report.blocks[1].content
    assert "no published criterion" in report.blocks[1].content


def test_changepoint_section(sg):
    report = Report("test")
    changepoint_section(report, Context(sg))
    kinds = [b.kind for b in report.blocks]
    assert kinds[0] == "heading" and "figure" in kinds
    names = [b.name for b in report.blocks if b.kind == "table"]
    assert names == ["changepoint_summary", "changepoints", "changepoint_skipped"]
    plt.close("all")


def test_growth_section_adds_tables_and_a_figure(sg):
    report = Report("test")
    growth_section(report, Context(sg))
    kinds = [(b.kind, b.name) for b in report.blocks]
    assert report.sections == ["Growth model"]
    assert ("table", "growth_fixed_effects") in kinds and ("figure", "growth_fitted") in kinds
    assert ("table", "growth_compare") in kinds
    # Two scores per client: no random slope, so no comparison either.
    short = Report("test")
    growth_section(short, Context(datasets.load_scores("jacobson1989")))
    names = [b.name for b in short.blocks]
    assert "growth_fixed_effects" in names and "growth_compare" not in names
    assert "random intercept per client" in short.blocks[1].content
    plt.close("all")


@pytest.mark.slow
def test_bayes_section_adds_table_and_figure(bayes_data):
    df = bayes_data[0].query("client <= 6")
    scores = long_scores(df, client="client", session="session", score="score", instrument="BDI-II")
    report = Report("test")
    announced = []
    bayes_section(report, Context(scores, announce=announced.append))
    assert len(announced) == 1 and "about" in announced[0] and "--skip bayes" in announced[0]
    kinds = [b.kind for b in report.blocks]
    assert kinds[0] == "heading" and kinds.count("figure") == 1
    table = next(b for b in report.blocks if b.name == "bayes_breakthrough").content
    assert len(table) == 6 and table["p_breakthrough"].is_monotonic_decreasing
    plt.close("all")


def test_every_section_states_the_one_criterion(sg):
    report = analyse(sg, skip=["bayes", "trajectories"], progress=False)
    text = " ".join(str(b.content) for b in report.blocks if b.kind == "text")
    described = sg.reliable_change.description
    # data, reliable change, sudden gains and change points all name the same criterion
    assert text.count(described) >= 4


def test_sections_are_listed_in_order():
    assert [name for name, _ in SECTIONS] == [
        "data",
        "trajectories",
        "breakthroughs",
        "reliable-change",
        "sudden-gains",
        "change-points",
        "growth",
        "monitoring",
        "bayes",
    ]
    with pytest.raises(ValueError, match="Unknown report section"):
        analyse(datasets.load_scores("sgdata"), skip=["nope"], progress=False)


def test_page_opens_with_the_summary_and_closes_with_methods_and_provenance(sg, tmp_path):
    report = analyse(
        sg,
        skip=["bayes", "growth", "trajectories"],
        provenance={"command": "python -m toolkit --out r", "input SHA-256": "ab" * 32},
        progress=False,
    )
    assert report.sections[0] == "Summary"
    assert report.sections[-2:] == ["Methods", "Provenance"]
    page = report.write(tmp_path).read_text()
    # Table of contents with links to every section.
    for heading in report.sections:
        assert f">{heading}</a>" in page
    # The summary: counts per method with the Wilson interval, agreement in words.
    assert "Clients with a breakthrough by each method" in page
    assert "How far the methods agree" in page
    # Provenance values.
    assert "python -m toolkit --out r" in page and "ab" * 32 in page
    assert sg.settings["toolkit_version"] in page
    # Methods paragraph with references.
    assert "Tang, T. Z., &amp; DeRubeis" in page
    # No e-notation in ordinary cells.
    cells = re.findall(r"<td class='num'>([^<]*)</td>", page)
    assert cells and not [c for c in cells if re.search(r"\d[eE][+-]?\d", c)]
    # The full-precision CSV is linked from its table.
    assert "tables/breakthroughs_by_client.csv" in page


def test_summary_per_group_and_skip_names():
    claus = datasets.load_scores("claus2020")
    report = analyse(claus, skip=["bayes", "growth"], group="treatment", progress=False)
    by = next(b.content for b in report.blocks if b.name == "summary_by_group")
    assert set(by["group"]) == {"PA", "TAU"}
    # Old spellings of section names still work.
    analyse(claus, skip=["Bayes", "growth model".replace(" model", ""), "sudden gains"])
    with pytest.raises(ValueError, match="changes within client"):
        analyse(claus, group="shaps", skip=["bayes"], progress=False)


def test_numbers_are_formatted_for_people():
    assert format_value(1.2e-11, "p_value") == "< 0.001"
    assert format_value(0.04567, "p_value") == "0.046"
    assert format_value(123456.0) == "123,456"
    assert format_value(9.995816) == "9.996"
    assert format_value(0.1 + 0.2) == "0.300"
    assert format_value(2.5e-5) == "0.000"
    assert format_value(float("nan")) == "" and format_value(None) == ""
    assert format_value(True) == "yes"
    assert label("n_clients") == "Clients" and label("sg_magnitude") == "SG magnitude"


def test_csv_cells_cannot_run_as_formulas():
    import pandas as pd

    table = pd.DataFrame({"client": ["=HYPERLINK(1)", "+1", "a", "@x"], "score": [-1, 2, 3, 4]})
    safe = csv_safe(table)
    assert safe["client"].tolist() == ["'=HYPERLINK(1)", "'+1", "a", "'@x"]
    assert safe["score"].tolist() == [-1, 2, 3, 4]  # numbers untouched
    assert table["client"].iloc[0] == "=HYPERLINK(1)"  # the caller's table unchanged
    named = csv_safe(pd.DataFrame({"=cmd": ["a"], "-arm": ["b"], "score": [1]}))
    assert named.columns.tolist() == ["'=cmd", "'-arm", "score"]  # headers too


def test_report_writes_a_folder(sg, tmp_path):
    report = analyse(sg.subset(list(np.arange(1, 11))), skip=["bayes"], progress=False)
    path = report.write(tmp_path)
    assert path.name == "index.html" and (tmp_path / "tables" / "data_summary.csv").is_file()
    plt.close("all")
