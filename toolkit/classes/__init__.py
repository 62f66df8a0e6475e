"""Trajectory classes: latent class growth analysis and growth mixture models.

Do clients fall into a few typical courses (rapid early response, gradual improvement, late
response after little change, no response, deterioration)? :func:`fit` finds K classes of
growth curves in validated long scores: latent class growth analysis (LCGA; Nagin, 1999),
where clients of a class share one curve, or a growth mixture model (GMM; Muthén & Shedden,
1999) with a random intercept (and slope) within classes. Time is the session, log(session),
a quadratic, or piecewise linear with chosen knots (a quadratic cannot follow "flat, then a
drop", so late responders hide in a gradual class without a knot). Estimation is exact
maximum likelihood by EM, vectorised over clients and random starts, from seeded starts; the
result says how many starts reached the best log-likelihood.

:func:`enumeration` fits K = 1 .. K_max and tabulates log-likelihood, parameters, AIC, BIC,
adjusted BIC, entropy, the smallest class, average posterior probabilities and the
likelihood-ratio tests; why one would prefer a solution is in its documentation, and the
choice is left to the analyst. :func:`membership` relates covariates to class membership by
the bias-corrected three-step approach (Vermunt, 2010). :meth:`ClassesResult.crosstab` relates
the classes to the breakthroughs of any other analysis (sudden gains, change points, the
per-client breakthrough table), and :meth:`ClassesResult.plot` draws the class curves over the
clients' trajectories.

Examples
--------
>>> import toolkit
>>> from toolkit import classes
>>> scores = toolkit.datasets.load_scores("sgdata")
>>> m = classes.fit(scores, 2, seed=1)
>>> m.table.columns.tolist()
['client', 'class', 'label', 'probability', 'n_observed']
"""

from __future__ import annotations

from ._design import RANDOM, TIME_CODINGS
from ._enumerate import (
    ENUMERATION_CLASS_COLUMNS,
    ENUMERATION_COLUMNS,
    EnumerationResult,
    enumeration,
    lmr_test,
)
from ._fit import fit
from ._labels import LABELS
from ._membership import (
    CLASSIFICATION_COLUMNS,
    CORRECTIONS,
    MEMBERSHIP_COLUMNS,
    MembershipResult,
    membership,
)
from ._result import (
    BY_GROUP_COLUMNS,
    CLASS_COLUMNS,
    COEFFICIENT_COLUMNS,
    CROSSTAB_COLUMNS,
    CURVE_COLUMNS,
    POSTERIOR_COLUMNS,
    START_COLUMNS,
    STATISTICS_COLUMNS,
    TABLE_COLUMNS,
    ClassesResult,
)

__all__ = [
    "fit",
    "enumeration",
    "membership",
    "lmr_test",
    "ClassesResult",
    "EnumerationResult",
    "MembershipResult",
    "TABLE_COLUMNS",
    "POSTERIOR_COLUMNS",
    "CLASS_COLUMNS",
    "COEFFICIENT_COLUMNS",
    "CURVE_COLUMNS",
    "START_COLUMNS",
    "STATISTICS_COLUMNS",
    "CROSSTAB_COLUMNS",
    "BY_GROUP_COLUMNS",
    "ENUMERATION_COLUMNS",
    "ENUMERATION_CLASS_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "CORRECTIONS",
    "TIME_CODINGS",
    "RANDOM",
    "LABELS",
]
