"""The change-point section of the report."""

from __future__ import annotations

import numpy as np

from .._context import TEST_MAX_CLIENTS, Context
from .._page import Report

__all__ = ["changepoint_section"]


def changepoint_section(report: Report, ctx: Context) -> None:
    """Settings, detected changes and four clients' fitted segments.

    The change points of the per-client answer (mean shift, MBIC, the pooled noise SD), with
    the at-most-one-change p-values for cohorts up to :data:`TEST_MAX_CLIENTS` clients.
    """
    import matplotlib.pyplot as plt

    from ...plots.changepoint import segments as plot_segments

    scores = ctx.scores
    cp = ctx.answer.results["changepoint"]
    report.heading("Change points")
    noise = cp.settings["noise_sd_value"]
    report.text(
        "Exact optimal segmentation of each client's scores into periods of constant mean "
        "(MBIC penalty as in R's changepoint package; noise SD "
        f"{noise:.3g}, pooled over all clients from successive differences, so results do not "
        "depend on the score scale). "
        + (
            "p-values are from a Monte Carlo at-most-one-change test. "
            if cp.settings.get("test")
            else f"(No p-values: the Monte Carlo test runs for up to {TEST_MAX_CLIENTS:,} "
            "clients.) "
        )
        + "A change is a breakthrough when the jump improves by at least the reliable-change "
        f"criterion ({scores.reliable_change.description}). Gradual improvement has no place "
        "in this model and shows up as a staircase of small steps; see the linear models in "
        "toolkit.changepoint for that."
    )
    for w in cp.warnings:
        report.text(f"Note: {w}")
    report.table("changepoint_summary", cp.summary(), "Change points: overview")
    report.table("changepoints", cp.table, "Detected changes, one row per change")
    report.table("changepoint_skipped", cp.skipped, "Clients not analysed, with the reason")
    if len(cp.clients) == 0:
        return
    # Four clients spread over the range of change counts (fewest to most).
    ordered = cp.clients.sort_values(["n_changes", "client"], kind="stable")["client"]
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, min(4, len(ordered)))))
    shown = list(ordered.iloc[picks.astype(int)])
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=True)
    for ax, c in zip(axes.flat, shown):
        plot_segments(cp, client=c, ax=ax)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.tight_layout()
    report.figure(
        "changepoint_segments",
        fig,
        "Fitted segments of four clients, from the fewest changes to the most.",
    )
