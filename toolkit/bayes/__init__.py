"""Bayesian change-point models: did each client change, when, how, and by how much?

Each client's trajectory has at most one change. The session at which it takes effect is
discrete, so it is never sampled: the likelihood is summed over every candidate session with
log-sum-exp, and the exact posterior over the change session is recovered afterwards. A
mixture ("change" vs "no change") gives every client P(change) and P(breakthrough): the
probability of a change in the improving direction at least as large as the reliable-change
criterion.

Three shapes of change (``model=``), each for clients analysed alone or pooled (``pooling=``):

``"linear"`` (default)
    A linear trend whose level jumps and whose slope changes at the change session.
``"mean"``
    A mean level that shifts at the change session.
``"broken_stick"``
    A linear trend whose slope changes without a jump (the line stays continuous): a
    gradual turn, not a sudden one.

``pooling="hierarchical"`` (default) draws every client's baseline, slopes and jump from
population distributions learned from the cohort (a mixed-effects change-point model), with
the share of clients who change, optional client-level covariates predicting jump size and
baseline, jumps from a heavy-tailed population (a spike-and-slab prior whose
contaminated-normal slab does not pull large jumps towards small ones and, by default, has no
density at a jump of zero, ``jumps="nonlocal"``, so that "changed a little" cannot stand in
for "did not change"; also ``"heavy"`` without that hole, ``"mixture"``, two free normal
components, and ``"normal"``) and optionally a pooled change
location (``change_location="pooled"``: the population mean and SD of the change session,
as in a varying change-point model). ``pooling="none"`` analyses each client on its own,
with fixed priors.

Given the change session, scores are linear in a client's baseline, slopes and jump, and
these have normal priors, so they are integrated out in closed form too. For a hierarchical
model NUTS samples only the population-level parameters (about ten, whatever the number of
clients), and each client's posterior is exact given each draw. For clients analysed alone
nothing is sampled at all: the remaining noise SD is integrated by quadrature, so a client
takes milliseconds.

:func:`fit` fits a model and returns a :class:`BayesResult` (picklable: ``save()`` /
:func:`load`); :func:`estimate_duration` says beforehand how long it will take;
:func:`build_model` returns the plain ``pymc.Model`` for prior checks or another sampler;
:func:`prior_predictive` simulates data from the priors; :func:`compare` ranks fitted models
by leave-one-client-out cross-validation on the score scale. PyMC is imported on first use,
so importing this module is cheap.

Examples
--------
>>> import toolkit
>>> from toolkit import bayes
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> model = bayes.build_model(scores)  # hierarchical, linear: a plain pymc.Model
>>> sorted(v.name for v in model.free_RVs)[:4]
['baseline_mu_std', 'baseline_sd_std', 'jump_mu_std', 'jump_sd_std']
>>> alone = bayes.fit(scores, pooling="none", seed=1)  # exact, no sampling
>>> int(alone.table["p_breakthrough"].idxmax() >= 0)
1
"""

from __future__ import annotations

from ._fit import DurationEstimate, estimate_duration, fit
from ._loo import COMPARE_COLUMNS, compare
from ._model import PRIOR_PREDICTIVE_COLUMNS, build_model, prior_predictive
from ._result import (
    CHANGE_POSTERIOR_COLUMNS,
    DIAGNOSTICS_COLUMNS,
    PARETO_COLUMNS,
    POPULATION_COLUMNS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    TRAJECTORY_COLUMNS,
    BayesResult,
    load,
)

__all__ = [
    "BayesResult",
    "DurationEstimate",
    "build_model",
    "fit",
    "estimate_duration",
    "load",
    "prior_predictive",
    "compare",
    "TABLE_COLUMNS",
    "POPULATION_COLUMNS",
    "DIAGNOSTICS_COLUMNS",
    "CHANGE_POSTERIOR_COLUMNS",
    "PRIOR_PREDICTIVE_COLUMNS",
    "TRAJECTORY_COLUMNS",
    "SUMMARY_COLUMNS",
    "PARETO_COLUMNS",
    "COMPARE_COLUMNS",
]
