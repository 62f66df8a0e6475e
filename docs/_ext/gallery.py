"""The plot gallery: every public function of :mod:`toolkit.plots`, drawn at build time.

Each recipe is a few lines of code run on simulated data (the page shows the code beside the
figure). A function in ``toolkit.plots.__all__`` without a recipe stops the build, so the
gallery cannot fall behind the module.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

#: Built once and shared by the recipes: a simulated PHQ-9 cohort with known gains.
SETUP = """\
import numpy as np
import toolkit
from toolkit import (bayes, changepoint, classes, evaluate, growth, monitoring, plots,
                     reliable_change, simulate, sudden_gains)

df, truth = simulate.trajectories(120, 12, instrument="PHQ-9", gain_share=0.4,
                                  gain_size=(9, 1), loss_share=0.05, seed=11)
df["arm"] = np.where(df["client"] % 2 == 0, "therapy", "waitlist")
scores = toolkit.long_scores(df, client="client", session="session", score="score",
                             instrument="PHQ-9", covariates=["arm"])
sg = sudden_gains.identify(scores)
cp = changepoint.detect(scores, progress=False)
client = int(sg.gains["client"].iloc[0])  # a client with a sudden gain
"""

#: plot function -> (what it shows, the code that draws it on ``ax``).
RECIPES: dict[str, tuple[str, str]] = {
    "spaghetti": (
        "Each client's scores over sessions, a sample of clients and the mean with its interval.",
        "plots.spaghetti(scores, n=30, ax=ax)",
    ),
    "client_trajectory": (
        "One client's scores with the sudden gains and the change-point segments.",
        "plots.client_trajectory(scores, client, gains=sg, changepoints=cp, ax=ax)",
    ),
    "around_gains": (
        "Average scores in the sessions around each sudden gain.",
        "plots.around_gains(sg, ax=ax)",
    ),
    "chance_histogram": (
        "How many clients would have a sudden gain by chance (shuffled sessions) against the "
        "number observed.",
        "chance = sudden_gains.chance_baseline(scores, n_replicates=50, seed=1,\n"
        "                                      progress=False)\n"
        "plots.chance_histogram(chance, ax=ax)",
    ),
    "jacobson_truax": (
        "Pre against post scores with the reliable-change band and the clinical cut-off.",
        "rc = reliable_change.reliable_change(scores)\nplots.jacobson_truax(rc, ax=ax)",
    ),
    "changepoint_segments": (
        "One client's exact segmentation: segment means and the change points.",
        "plots.changepoint_segments(cp, client=client, ax=ax)",
    ),
    "detection_accuracy": (
        "Precision, recall or F1 of detected changes against simulated truth, by method.",
        "table = evaluate.compare_methods(truth, toolkit.breakthroughs(scores)).table\n"
        "plots.detection_accuracy(table, x='method', y='f1', ax=ax)",
    ),
    "amoc_profile": (
        "The at-most-one-change test: the statistic at every candidate session.",
        "amoc = changepoint.amoc(scores.subset(clients=[client]), n_boot=99, seed=1)\n"
        "plots.amoc_profile(amoc, client=client, ax=ax)",
    ),
    "breakpoint_fit": (
        "One client's continuous breakpoint (broken stick) with its interval.",
        "bp = changepoint.breakpoint(scores.subset(clients=[client]))\n"
        "plots.breakpoint_fit(bp, client, ax=ax)",
    ),
    "fitted_trajectories": (
        "A mixed-effects growth model's fitted client lines and the mean curve.",
        "m = growth.fit(scores, 'score ~ time')\nplots.fitted_trajectories(m, n=8, ax=ax)",
    ),
    "caterpillar": (
        "Each client's random slope with its interval, sorted.",
        "m = growth.fit(scores, 'score ~ time')\nplots.caterpillar(m, effect='time', ax=ax)",
    ),
    "bayes_trajectory": (
        "A Bayesian mean-shift fit for one client: posterior mean course, band and the "
        "change-session posterior.",
        "bz = bayes.fit(scores.subset(clients=[client]), model='mean', pooling='none',\n"
        "               draws=200, seed=1, progress=False)\n"
        "plots.bayes_trajectory(bz, client, ax=ax)",
    ),
    "breakthrough_probabilities": (
        "Each client's posterior probability of a breakthrough.",
        "bz = bayes.fit(scores.subset(clients=list(scores.clients[:30])), model='mean',\n"
        "               pooling='none', draws=200, seed=1, progress=False)\n"
        "plots.breakthrough_probabilities(bz, ax=ax)",
    ),
    "breakthrough_tiles": (
        "Which clients each method flags (the per-client answer).",
        "plots.breakthrough_tiles(toolkit.breakthroughs(scores), max_clients=40, ax=ax)",
    ),
    "monitoring_chart": (
        "One client's scores against the expected course, with the not-on-track flags.",
        "flags = monitoring.expected_response(scores, seed=1).flag(scores)\n"
        "plots.monitoring_chart(flags, client, ax=ax)",
    ),
    "expected_curves": (
        "Expected recovery curves conditional on the intake score.",
        "plots.expected_curves(monitoring.expected_response(scores, seed=1), ax=ax)",
    ),
    "cohort_chart": (
        "How many clients are flagged not on track, session by session.",
        "plots.cohort_chart(monitoring.expected_response(scores, seed=1).flag(scores), ax=ax)",
    ),
    "alarm_report": (
        "Sensitivity, specificity and positive predictive value of each alarm rule.",
        "flags = monitoring.expected_response(scores, seed=1).flag(scores)\n"
        "plots.alarm_report(monitoring.evaluate_alarms(flags, 'no_improvement'), ax=ax)",
    ),
    "service_outcomes_chart": (
        "Service outcome measures from paired PHQ-9 and GAD-7 scores.",
        "gad = df.assign(score=(df['score'] * 0.7).round())\n"
        "service = monitoring.service_outcomes({'PHQ-9': df, 'GAD-7': gad}, "
        "client='client',\n"
        "                                      session='session', score='score')\n"
        "plots.service_outcomes_chart(service, ax=ax)",
    ),
    "online_evaluation_chart": (
        "Online change points against simulated truth: detection and delay.",
        "online = monitoring.online(scores).result\n"
        "plots.online_evaluation_chart(monitoring.evaluate_online(online, truth), ax=ax)",
    ),
    "class_curves": (
        "Trajectory classes: each class's mean curve with its band.",
        "plots.class_curves(classes.fit(scores, 2, seed=1), n=20, ax=ax)",
    ),
    "enumeration_criteria": (
        "Choosing the number of classes: information criteria by K.",
        "en = classes.enumeration(scores, max_classes=3, n_starts=5, seed=1,\n"
        "                         progress=False)\n"
        "plots.enumeration_criteria(en, ax=ax)",
    ),
    "membership_odds": (
        "A covariate's odds ratios for class membership (three-step, bias-corrected).",
        "m2 = classes.fit(scores, 2, seed=1)\n"
        "plots.membership_odds(classes.membership(m2, 'arm'), ax=ax)",
    ),
}

#: Names in ``toolkit.plots.__all__`` that are not plot functions.
NOT_PLOTS = {"PALETTE", "CYCLE", "get_axes"}


def plot_functions() -> list[str]:
    """The plot functions the gallery must show (``toolkit.plots.__all__``)."""
    import toolkit.plots

    return [name for name in toolkit.plots.__all__ if name not in NOT_PLOTS]


def missing_recipes() -> list[str]:
    """Plot functions without a recipe."""
    return [name for name in plot_functions() if name not in RECIPES]


def build(outdir: Path) -> str:
    """Draw every recipe into ``outdir`` and return the gallery page (MyST markdown)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import warnings

    import matplotlib.pyplot as plt

    missing = missing_recipes()
    if missing:
        raise RuntimeError(
            f"The plot gallery has no recipe for {missing}. Fix: add one to RECIPES in "
            "docs/_ext/gallery.py."
        )
    outdir.mkdir(parents=True, exist_ok=True)
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings():
        # The gallery shows figures, not the toolkit's advice on the simulated data (which
        # the method pages explain).
        import toolkit.errors

        warnings.simplefilter("ignore", toolkit.errors.ToolkitWarning)
        exec(SETUP, namespace)
        lines = [
            "# Plot gallery",
            "",
            "Every function in `toolkit.plots`, drawn when this site was built from the "
            "simulated cohort below (120 clients, 12 PHQ-9 sessions, 40% with a sudden gain). "
            "Each takes `ax=` and returns the matplotlib Axes; results' `.plot()` methods "
            "call them.",
            "",
            "```python",
            SETUP.rstrip(),
            "```",
            "",
        ]
        for name in plot_functions():
            caption, code = RECIPES[name]
            started = time.perf_counter()
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
            namespace["ax"] = ax
            exec(code, namespace)
            fig.tight_layout()
            fig.savefig(outdir / f"{name}.png", dpi=80)
            plt.close(fig)
            print(f"gallery: {name} drawn in {time.perf_counter() - started:.1f} s")
            lines += [
                f"## `{name}`",
                "",
                f"{caption} See {{func}}`toolkit.plots.{name}`.",
                "",
                "```python",
                textwrap.dedent(code),
                "```",
                "",
                f"![{name}](_gallery/{name}.png)",
                "",
            ]
    return "\n".join(lines)


def _generate(app: Any) -> None:
    src = Path(app.srcdir)
    page = build(src / "_gallery")
    (src / "gallery.md").write_text(page, encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
