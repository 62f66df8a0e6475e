"""The reliable-change section of the report."""

from __future__ import annotations

from .._context import Context
from .._page import Report

__all__ = ["reliable_change_section"]


def reliable_change_section(report: Report, ctx: Context) -> None:
    """Category counts and the Jacobson-Truax plot.

    The Jacobson-Truax index from the first to the last observed session with the scores'
    reliable-change criterion; cut-off c when the instrument has clinical and functional
    norms, else its conventional cut-off, else reliable change only.
    """
    import matplotlib.pyplot as plt

    report.heading("Reliable and clinically significant change")
    scores = ctx.scores
    result = ctx.answer.results["reliable_change"]
    p = result.parameters
    if not result.computed:
        report.text("Not computed: " + "; ".join(result.warnings))
        return
    if p["cutoff"] is None:
        cut_text = "no clinical cut-off (reliable change only)"
    elif p["cutoff_type"] == "instrument":
        cut_text = f"the measure's conventional clinical cut-off {p['cutoff']:.4g}"
    else:
        cut_text = f"Jacobson & Truax's clinical cut-off {p['cutoff_type']} = {p['cutoff']:.4g}"
    report.text(
        f"Jacobson-Truax reliable change from each client's first to last observed session: "
        f"a change of at least {p['rc_points']:.3g} points is reliable "
        f"({scores.reliable_change.description}); {cut_text}. {len(result.table)} clients "
        f"analysed, {len(result.skipped)} skipped."
    )
    report.table(
        "reliable_change_summary", result.summary(), "Clients per reliable-change category"
    )
    if len(result.skipped):
        report.table(
            "reliable_change_skipped",
            result.skipped,
            "Clients without a reliable change index, with the reason",
        )
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    result.plot(ax=ax)
    report.figure(
        "jacobson_truax",
        fig,
        "Jacobson-Truax plot: pre against post score, the no-change diagonal, the "
        "band of no reliable change and the clinical cut-off.",
    )
