"""The growth-model section of the report."""

from __future__ import annotations

import warnings

from ...growth import compare
from ...growth._fit import fit_each
from .._context import Context
from .._page import Report

__all__ = ["growth_section"]


def growth_section(report: Report, ctx: Context) -> None:
    """Tables and observed vs fitted trajectories of a linear growth model.

    Fits ``score ~ time`` (REML, time 0 at the first session), or ``score ~ time * group``
    with a grouping, with a correlated random intercept and slope, tested against a random
    intercept only; when most clients have fewer than three observed scores, individual
    slopes cannot be told from noise and the random intercept model is shown alone.
    """
    import matplotlib.pyplot as plt

    scores = ctx.scores
    report.heading("Growth model")
    first = float(scores.sessions.min())
    slopes = float(scores.n_observed().median()) >= 3
    group = ctx.group
    term = None if group is None else (group if group.isidentifier() else f"`{group}`")
    formula = "score ~ time" if term is None else f"score ~ time * {term}"
    with warnings.catch_warnings():
        # The model's own warnings are kept in m1.warnings and shown as text below.
        warnings.simplefilter("ignore")
        try:
            # Scores alone (and the group): a covariate may not shadow the model's own
            # variables (e.g. "time").
            plain = scores.keep_covariates([] if group is None else [group])
            # Both models on one design; m0 serves only the likelihood-ratio test, so its
            # fitted rows are not kept (the memory of a registry-sized cohort).
            models = fit_each(
                plain,
                formula,
                random=("intercept", "slope") if slopes else ("intercept",),
                lean=("intercept",) if slopes else (),
                time_zero=first,
                progress=False,
            )
            m0, m1 = models if slopes else models * 2
            del models
        except ValueError as exc:
            report.text(f"No growth model could be fitted: {exc}")
            return
    ctx.methods_text.append(m1.methods_text())
    structure = (
        "a correlated random intercept and slope per client"
        if slopes
        else "a random intercept per client (most clients have fewer than three scores, "
        "too few to tell individual slopes from noise)"
    )
    report.text(
        f"Linear growth model with {structure} ({m1.method.upper()}; time = session"
        f"{f' - {first:g}' if first else ''}, so the intercept is the expected score at the "
        "first session): "
        f"{m1.n_clients} clients, {m1.n_obs} observed scores; "
        f"{'converged' if m1.converged else 'NOT converged'}"
        f"{' (singular fit)' if m1.singular else ''}. ICC at the first session {m1.icc:.2f}."
    )
    for w in m1.warnings:
        report.text(f"Note: {w}")
    report.table(
        "growth_fixed_effects",
        m1.table,
        f"Fixed effects of {formula!r} (95% CI and p-values)",
    )
    report.table(
        "growth_variance_components",
        m1.variance_components,
        "Random-effect variances and SDs (and correlation), and the residual",
    )
    if slopes:
        report.table(
            "growth_compare",
            compare(m0, m1),
            "Does the rate of change differ between clients? Random intercept (m0) "
            "vs random intercept and slope (m1), likelihood-ratio test",
        )
    fig, ax = plt.subplots(figsize=(8, 5))
    # With a grouping: one mean curve (and band) per group, clients coloured by group. Every
    # line stays within the observed sessions (each client's own first to last score).
    m1.plot(ax=ax, by=group)
    mean_text = (
        "the thick line is the average fitted curve (fixed effects) with its 95% confidence band"
        if group is None
        else f"the thick lines are the average fitted curves of each {group} (fixed effects) "
        "with their 95% confidence bands"
    )
    report.figure(
        "growth_fitted",
        fig,
        "Observed scores (points) and fitted growth curves (lines, each within the client's "
        f"observed sessions) for a sample of clients; {mean_text}.",
    )
