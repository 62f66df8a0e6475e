"""The Bayesian section of the report."""

from __future__ import annotations

import warnings
from typing import Any

from ...errors import ToolkitWarning
from .._context import Context
from .._page import Report

__all__ = ["bayes_section"]


#: Sampling settings of the report's Bayesian fit.
SAMPLING: dict[str, int] = {"chains": 2, "tune": 1000, "draws": 1000}


def bayes_section(report: Report, ctx: Context) -> None:
    """Add the hierarchical model's per-client P(breakthrough) table and a figure.

    Two chains of 1,000 draws: shorter chains leave R-hat and ESS warnings on data as small
    as the shipped examples. Before sampling, the expected duration is announced (the
    command line prints it).
    """
    import matplotlib.pyplot as plt

    from ...bayes import fit
    from ...plots.bayes import bayes_trajectory, breakthrough_probabilities

    scores = ctx.scores
    report.heading("Bayesian change points (hierarchical model)")
    ctx.announce(f"Bayesian section: {duration_text(scores)}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            result = fit(
                scores,
                chains=SAMPLING["chains"],
                tune=SAMPLING["tune"],
                draws=SAMPLING["draws"],
                seed=ctx.seed,
                progress=False,
            )
    except (ValueError, ImportError) as error:
        report.text(f"Not run: {error}")
        return
    ctx.methods_text.append(result.methods_text())
    s = result.settings
    notes = list(
        dict.fromkeys(str(c.message) for c in caught if issubclass(c.category, ToolkitWarning))
    )
    report.text(
        "Each client's scores follow a linear trend that may jump once; clients' baselines, "
        "slopes and jumps come from population distributions. P(breakthrough) is the "
        f"posterior probability of a sudden improvement of at least {s['breakthrough']:.3g} "
        f"points, the reliable-change criterion ({scores.reliable_change.description}). "
        f"Sampled with {s['chains']} chains x "
        f"{s['draws']} draws ({s['sampling_seconds']:.0f} s of sampling)."
        + "".join(f" Warning: {w}" for w in notes)
    )
    cols = [
        "client",
        "n_observed",
        "p_change",
        "p_breakthrough",
        "change_session_mode",
        "change_session_lower",
        "change_session_upper",
        "jump_mean",
        "jump_lower",
        "jump_upper",
    ]
    table = result.table[cols].sort_values(
        "p_breakthrough", ascending=False, ignore_index=True, kind="stable"
    )
    report.table(
        "bayes_breakthrough",
        table,
        "P(change) and P(breakthrough) per client; change session (mode and "
        f"{s['level']:.0%} credible set) and jump (mean and {s['level']:.0%} HDI), "
        "given a change",
    )
    report.table(
        "bayes_population",
        result.population,
        f"Population-level posterior (mean, SD, {s['level']:.0%} HDI)",
    )
    report.table("bayes_skipped", result.skipped, "Clients not analysed, with the reason")
    fig, axes = plt.subplots(
        1, 2, figsize=(12, max(4.5, 0.12 * min(len(table), 60))), width_ratios=(1, 1.3)
    )
    breakthrough_probabilities(result, ax=axes[0])
    bayes_trajectory(result, None, ax=axes[1])
    fig.tight_layout()
    report.figure(
        "bayes_breakthrough",
        fig,
        "Left: P(breakthrough) and P(change) per client. Right: the client most "
        "likely to have had a breakthrough: scores, posterior mean trajectory, its "
        f"{s['level']:.0%} band and the posterior over the change session (bars).",
    )


def duration_text(scores: Any) -> str:
    """The expected duration of the report's Bayesian fit, in words."""
    from ...bayes import estimate_duration

    seconds = float(
        estimate_duration(
            scores, chains=SAMPLING["chains"], tune=SAMPLING["tune"], draws=SAMPLING["draws"]
        )
    )
    minutes = seconds / 60
    return (
        f"about {seconds:.0f} s" if minutes < 2 else f"about {minutes:.0f} minutes"
    ) + " (skip it with --skip bayes)"
