"""The monitoring section of the report: who is not making progress, and how far to trust it."""

from __future__ import annotations

import warnings

import pandas as pd

from ...data import LongScores
from ...errors import ToolkitWarning
from ...monitoring import OnlineResult, evaluate_alarms, expected_response
from ...monitoring._online import online_by_block
from .._context import Context
from .._page import Report

__all__ = ["monitoring_section"]

#: The seed of the cross-fitting folds when the section is given scores alone, fixed so that
#: a report can be reproduced (with a report context, the context's seed).
SEED = 20240613


def monitoring_section(report: Report, scores: LongScores | Context) -> None:
    """Cross-fitted expected curves, not-on-track flags, the alarm report and online
    breakthrough probabilities.

    With no separate reference cohort, each client's expected course comes from the other
    clients (5 cross-fitting folds), never from its own scores. The alarm report says what
    the flags would have been worth for the final outcome (a retrospective check; it needs
    the reliable-change criterion). ``scores`` may be the report's context (its seed is used,
    its notes and methods paragraphs receive this section's).
    """
    import matplotlib.pyplot as plt

    ctx = scores if isinstance(scores, Context) else None
    if ctx is not None:
        scores = ctx.scores
    assert isinstance(scores, LongScores)
    seed = ctx.seed if ctx is not None else SEED
    report.heading("Monitoring: who is not making progress")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ToolkitWarning)
        try:
            expected = expected_response(scores, seed=seed, folds=5)
            flags = expected.flag(scores)
        except ValueError as error:
            report.text(f"Not computed: {error}")
            return
    st = flags.settings
    clients = flags.clients
    report.text(
        f"Expected recovery curves from a mixed-effects model of the scores on log(1 + "
        f"sessions since the intake session {st['intake_session']}), conditional on the "
        f"intake score, cross-fitted over 5 folds of clients (seed {seed}) so that no "
        f"client's expected course uses its own scores. A client is not on track at a "
        f"session when the score is beyond the worse edge of the "
        f"{100 * st['level']:.0f}% band: {int(clients['flagged'].sum())} of {len(clients)} "
        f"clients were flagged at least once."
    )
    messages = [str(w.message) for w in caught]
    for m in ctx.note(messages) if ctx is not None else messages:
        report.text(f"Note: {m}")
    if ctx is not None:
        ctx.methods_text.append(flags.methods_text())
    report.table(
        "monitoring_flags_by_session",
        flags.summary(),
        "Clients monitored and not on track, by session",
    )
    report.table(
        "monitoring_flags_by_client",
        clients,
        "Per client: intake, last session, sessions monitored, flags and the first flagged session",
    )
    if scores.reliable_change.points is None:
        report.text(
            "Alarm report not computed: it needs the reliable-change criterion, and "
            f"{scores.reliable_change.description}"
        )
    else:
        for outcome, what in (
            ("deterioration", "final reliable deterioration"),
            ("no_improvement", "no reliable improvement"),
        ):
            rep = evaluate_alarms(flags, outcome)
            report.table(
                f"monitoring_alarms_{outcome}",
                rep.table,
                f"What the flags (by the penultimate session) foretell about {what}: "
                "sensitivity, specificity, PPV, lead time and alarms per client, next to "
                "flagging every client and flagging on the intake score alone",
            )
    chosen = clients.loc[clients["flagged"], "client"]
    client = chosen.iloc[0] if len(chosen) else clients["client"].iloc[0]
    # Block by block of clients (the same numbers as one run): only the crossings, and the
    # block holding the charted client, are kept, not every session's posterior summary.
    found_parts: list[pd.DataFrame] = []
    held: list[OnlineResult] = []

    def keep(block: OnlineResult) -> None:
        found_parts.append(block.breakthroughs())
        if not held or (held[0].table["client"] != client).all():
            held[:] = [block]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)  # said above, once
        try:
            online_by_block(scores, keep)
        except ValueError as error:
            report.text(f"Online monitoring not computed: {error}")
            held.clear()
    live = held[0] if held else None
    if live is not None:
        found = pd.concat(found_parts, ignore_index=True)
        report.text(
            "Online breakthrough monitoring (Bayesian online change points, Adams & MacKay, "
            f"2007; expected segment length {live.settings['hazard']:g} sessions): "
            f"{found['client'].nunique()} clients reached P(breakthrough) >= "
            f"{live.settings['threshold']:g} at some session."
        )
        report.table(
            "monitoring_online_breakthroughs",
            found,
            "Sessions at which P(breakthrough) rose to the threshold",
        )
    fig, ax = plt.subplots(figsize=(8, 5))
    flags.plot(client, ax=ax, online=live)
    report.figure(
        "monitoring_chart",
        fig,
        f"Client {client}: observed scores, the cross-fitted expected course with its band, "
        "the not-on-track flags (circled) and, beneath, P(breakthrough) and P(change).",
    )
