"""The report's per-client answer: who had a breakthrough, by which method, and why not."""

from __future__ import annotations

from .._context import Context
from .._page import Report

__all__ = ["breakthroughs_section"]

#: Columns of the per-client table shown on the page (the CSV has every column).
_SHOWN = [
    "client",
    "n_observed",
    "methods",
    "rc_category",
    "rc_change",
    "sg_session",
    "sg_magnitude",
    "sg_reversed",
    "cp_session",
    "cp_jump",
    "cp_p_value",
]


def breakthroughs_section(report: Report, ctx: Context) -> None:
    """The per-client table, the tile chart, agreement between methods and disagreements."""
    import matplotlib.pyplot as plt

    answer = ctx.answer
    report.heading("Who had a breakthrough")
    report.text(
        "One row per client: which methods flag a breakthrough (a reliable improvement, a "
        "sudden gain, a change point that improves by at least the reliable-change "
        "criterion), with what each found. A method that did not flag a client says why "
        "in its note column (in the CSV)."
    )
    table = answer.table
    shown = [c for c in _SHOWN if c in table.columns]
    order = table.sort_values(["n_methods", "client"], ascending=[False, True], kind="stable")
    report.table(
        "breakthroughs_by_client",
        order,
        "Per-client answer (the CSV has every method's columns and notes)",
        show=shown,
    )
    height = max(3.5, min(12.0, 0.16 * min(len(table), 80) + 1))
    fig, ax = plt.subplots(figsize=(6, height))
    answer.plot(ax=ax)
    report.figure(
        "breakthroughs_tiles",
        fig,
        "Which clients each method flags (for large cohorts: clients per combination of methods).",
    )
    report.table(
        "breakthroughs_agreement",
        answer.agreement(),
        "Agreement between methods: clients flagged by both, by one only, by neither "
        "(among clients both analysed), and Cohen's kappa",
    )
    report.table(
        "breakthroughs_disagreements",
        answer.disagreements(),
        "Clients on which two methods disagree, with the reason in words",
    )
