"""The report package: every section on shipped data, the page, and the one criterion."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from toolkit import datasets, instruments
from toolkit.data import long_scores
from toolkit.report import Report, analyse
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
    reliable_change_section(report, sg)
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
    reliable_change_section(report, no_r)  # the section's warnings become its text
    assert report.blocks[1].kind == "text" and "Not computed" in report.blocks[1].content
    assert "no published criterion" in report.blocks[1].content


def test_changepoint_section(sg):
    report = Report("test")
    changepoint_section(report, sg)
    kinds = [b.kind for b in report.blocks]
    assert kinds[0] == "heading" and "figure" in kinds
    names = [b.name for b in report.blocks if b.kind == "table"]
    assert names == ["changepoint_summary", "changepoints", "changepoint_skipped"]
    plt.close("all")


def test_growth_section_adds_tables_and_a_figure(sg):
    report = Report("test")
    growth_section(report, sg)
    kinds = [(b.kind, b.name) for b in report.blocks]
    assert kinds[0] == ("heading", "Growth model")
    assert ("table", "growth_fixed_effects") in kinds and ("figure", "growth_fitted") in kinds
    assert ("table", "growth_compare") in kinds
    # Two scores per client: no random slope, so no comparison either.
    short = Report("test")
    growth_section(short, datasets.load_scores("jacobson1989"))
    names = [b.name for b in short.blocks]
    assert "growth_fixed_effects" in names and "growth_compare" not in names
    assert "random intercept per client" in short.blocks[1].content
    plt.close("all")


@pytest.mark.slow
def test_bayes_section_adds_table_and_figure(bayes_data):
    df = bayes_data[0].query("client <= 6")
    scores = long_scores(df, client="client", session="session", score="score", instrument="BDI-II")
    report = Report("test")
    bayes_section(report, scores)
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
        "reliable change",
        "sudden gains",
        "change points",
        "growth model",
        "bayes",
    ]
    with pytest.raises(ValueError, match="Unknown report section"):
        analyse(datasets.load_scores("sgdata"), skip=["nope"], progress=False)


def test_report_writes_a_folder(sg, tmp_path):
    report = analyse(sg.subset(list(np.arange(1, 11))), skip=["bayes"], progress=False)
    path = report.write(tmp_path)
    assert path.name == "index.html" and (tmp_path / "tables" / "data_summary.csv").is_file()
    plt.close("all")
