"""Bayesian change-point models: did each client change suddenly, when, and by how much?

Each client's trajectory has at most one sudden change. The session at which it takes effect
is discrete, so it is never sampled: the likelihood is summed over every candidate session with
log-sum-exp, the sampler (NUTS) sees only continuous parameters, and the exact posterior over
the change session is recovered afterwards, draw by draw (an array of draws x clients x
candidates, with missing sessions masked out of every sum). A two-component mixture ("change"
vs "no change") gives every client P(change) and P(breakthrough): the probability of a change
in the improving direction at least as large as the reliable-change cut-off.

Three models (``model=``):

``"mean_shift"``
    A client's mean jumps at the change session (each client analysed on its own).
``"trend"``
    A linear trend whose level jumps and whose slope changes at the change session (each
    client on its own).
``"hierarchical"``
    The trend model with every client's baseline, pre-change slope, jump and post-change
    slope drawn from population distributions (a mixed-effects change-point model), the
    share of clients who change learned from the cohort, and optional client-level
    covariates (e.g. treatment arm) predicting jump size and baseline.

Given the change session, scores are linear in a client's baseline, slopes and jump, and
these have normal priors, so they are integrated out in closed form too: NUTS samples only
the population-level parameters (about ten, whatever the number of clients), and each
client's effects are drawn afterwards from their exact conditional posterior.

:func:`fit` samples a model and returns a :class:`BayesResult`; :func:`build_model` returns
the plain ``pymc.Model`` for prior checks or another sampler; :func:`prior_predictive`
simulates data from the priors; :func:`compare` ranks fitted models by leave-one-client-out
cross-validation (PSIS-LOO). PyMC is imported on first use, so importing this module is
cheap.

Examples
--------
>>> import toolkit
>>> from toolkit import bayes
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> model = bayes.build_model(scores, model="hierarchical")  # a plain pymc.Model
>>> sorted(v.name for v in model.free_RVs)[:4]
['baseline_mu_std', 'baseline_sd_std', 'jump_mu_std', 'jump_sd_std']
"""

from __future__ import annotations

from ._fit import (
    CHANGE_POSTERIOR_COLUMNS,
    DIAGNOSTICS_COLUMNS,
    POPULATION_COLUMNS,
    TABLE_COLUMNS,
    TRAJECTORY_COLUMNS,
    BayesResult,
    compare,
    fit,
)
from ._model import PRIOR_PREDICTIVE_COLUMNS, build_model, prior_predictive

__all__ = [
    "BayesResult",
    "build_model",
    "fit",
    "prior_predictive",
    "compare",
    "TABLE_COLUMNS",
    "POPULATION_COLUMNS",
    "DIAGNOSTICS_COLUMNS",
    "CHANGE_POSTERIOR_COLUMNS",
    "PRIOR_PREDICTIVE_COLUMNS",
    "TRAJECTORY_COLUMNS",
]
