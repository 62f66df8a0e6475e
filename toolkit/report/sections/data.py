"""The report's opening sections: what was analysed, and the trajectories."""

from __future__ import annotations

from .._context import Context
from .._page import Report

__all__ = ["data_section", "trajectory_section"]


def data_section(report: Report, ctx: Context) -> None:
    """The validated data, the one reliable-change criterion, and the excluded rows."""
    scores = ctx.scores
    report.heading("Validated data")
    r = scores.roles
    reading = (
        "a gap in a client's session numbers is a missed session"
        if scores.sequence == "sessions"
        else "consecutive rows are consecutive sessions"
    )
    report.text(
        f"Columns: client = {r['client']!r}, session = {r['session']!r}, score = "
        f"{r['score']!r} ({scores.instrument.name if scores.instrument else 'no instrument'}"
        f"; {'lower' if scores.sign > 0 else 'higher'} scores are better). Missing scores "
        f"stay missing; {reading}."
    )
    report.text(
        "Reliable-change criterion used by every section: "
        f"{scores.reliable_change.description} (source: {scores.reliable_change.source})."
    )
    report.table("data_summary", scores.summary(), "Summary of the validated data")
    report.table("excluded_rows", scores.excluded, "Rows excluded as invalid, with the reason")


def trajectory_section(report: Report, ctx: Context) -> None:
    """A spaghetti plot of a sample of clients (coloured by group, with a mean per group)."""
    import matplotlib.pyplot as plt

    from ...plots import spaghetti

    scores = ctx.scores
    report.heading("Trajectories")
    fig, ax = plt.subplots(figsize=(8, 5))
    spaghetti(scores, ax=ax, n=min(60, scores.n_clients), hue=ctx.group, seed=ctx.seed)
    per = f" per {ctx.group}" if ctx.group else " per session"
    report.figure(
        "spaghetti",
        fig,
        f"Trajectories of a sample of clients, with the mean{per} and its 95% confidence interval.",
    )
