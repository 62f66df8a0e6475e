"""The sudden-gains section of the report."""

from __future__ import annotations

from .._context import Context
from .._page import Report

__all__ = ["sudden_gains_section"]


def sudden_gains_section(report: Report, ctx: Context) -> None:
    """Counts, the by-gain table, intervals and the average course around the gains."""
    import matplotlib.pyplot as plt

    report.heading("Sudden gains")
    scores = ctx.scores
    result = ctx.answer.results["sudden_gains"]
    value = result.settings["min_change_value"]
    how = (
        f"a change of at least {value:.3g} points, the reliable-change criterion "
        f"({scores.reliable_change.description})"
        if value is not None
        else "not applied: no reliable-change criterion is available"
    )
    report.text(
        f"Tang & DeRubeis (1999) criteria with the missing-data adjustment of "
        f"Lutz et al. (2013); criterion 1: {how}."
    )
    for w in result.warnings:
        report.text(f"Note: {w}")
    report.table("sudden_gains_summary", result.describe(), "Sudden gains: counts")
    report.table("sudden_gains_by_gain", result.table, "One row per sudden gain")
    report.table(
        "sudden_gains_intervals", result.interval_counts(), "Intervals examined and available"
    )
    if len(result.table):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        result.plot(ax=ax)
        report.figure(
            "sudden_gains_average",
            fig,
            "Average scores around the sudden gains (sessions N-2 to N+3), with 95% CIs.",
        )
