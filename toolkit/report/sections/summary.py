"""The report's first and last words: the summary at the top, the methods and provenance."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._context import Context
from .._page import Report

__all__ = ["summary_section", "methods_section", "provenance_section"]


def summary_section(report: Report, ctx: Context) -> None:
    """What was analysed, who had a breakthrough by each method and how far they agree."""
    scores = ctx.scores
    answer = ctx.answer
    crit = scores.reliable_change
    report.heading("Summary")
    first, last = scores.sessions[0], scores.sessions[-1]
    instrument = scores.instrument.name if scores.instrument else scores.score_label
    excluded = len(scores.excluded)
    report.text(
        f"{scores.n_clients:,} clients with {int(scores.n_observed().sum()):,} observed "
        f"{instrument} scores over sessions {first} to {last}"
        f"{f' ({excluded:,} rows excluded as invalid)' if excluded else ''}. "
        f"Reliable-change criterion used by every method: {crit.description} "
        f"(source: {crit.source})."
    )
    counts = answer.summary()
    report.table(
        "summary_breakthroughs",
        counts,
        "Clients with a breakthrough by each method: of those the method could analyse, "
        "with a 95% Wilson interval of the share",
    )
    report.text(_agreement_sentence(answer.table, len(answer.methods)))
    rc = answer.results.get("reliable_change")
    if rc is not None and getattr(rc, "computed", False):
        report.table(
            "summary_reliable_change",
            rc.summary(),
            "Reliable-change categories (first to last observed score)",
        )
    if ctx.group:
        report.table(
            "summary_by_group",
            answer.summary_by(ctx.group),
            f"Clients with a breakthrough by each method, per {ctx.group}",
        )


def _agreement_sentence(table: pd.DataFrame, n_methods: int) -> str:
    n = table["n_methods"].to_numpy()
    counts = [int((n == k).sum()) for k in range(n_methods, -1, -1)]
    parts = [f"{counts[0]:,} by all {n_methods} methods"] + [
        f"{c:,} by {k}" for c, k in zip(counts[1:-1], range(n_methods - 1, 0, -1))
    ]
    return (
        "How far the methods agree: of the clients, "
        + ", ".join(parts)
        + f", and {counts[-1]:,} by none. The methods answer different questions (a reliable "
        "change from first to last score, a sudden session-to-session drop that lasts, a "
        "lasting shift in level); the section 'Who had a breakthrough' says for each "
        "client why they disagree."
    )


def methods_section(report: Report, ctx: Context) -> None:
    """The methods paragraph a researcher can paste into a paper, with the references."""
    report.heading("Methods")
    paragraphs = [ctx.answer.methods_text(), *ctx.methods_text]
    bodies: list[str] = []
    references: list[str] = []
    for text in paragraphs:
        body, _, refs = text.partition("\n\nReferences\n")
        bodies.append(body)
        references.extend(r for r in refs.splitlines() if r)
    for body in bodies:
        report.text(body)
    if references:
        report.subheading("References")
        for ref in sorted(dict.fromkeys(references)):
            report.text(ref)


def provenance_section(report: Report, ctx: Context, provenance: dict[str, Any]) -> None:
    """How the page was made: version, date, command, input and its checksum, settings."""
    report.heading("Provenance")
    scores = ctx.scores
    facts = {
        "toolkit version": scores.settings.get("toolkit_version", ""),
        **provenance,
        "rows analysed": f"{len(scores.data):,}",
        "rows excluded": f"{len(scores.excluded):,}",
        "clients": f"{scores.n_clients:,}",
        "seed": ctx.seed,
        "reliable-change criterion": ctx.scores.reliable_change.description,
    }
    if ctx.group:
        facts["group"] = ctx.group
    report.facts("provenance", facts)
    settings = {
        k: v for k, v in ctx.answer.settings.items() if k not in ("toolkit_version", "roles")
    }
    report.table(
        "settings",
        pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]}),
        "Every setting of the per-client analysis",
    )
    if ctx.notes:
        report.table(
            "warnings", pd.DataFrame({"warning": ctx.notes}), "Warnings met during the analysis"
        )
