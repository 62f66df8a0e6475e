"""Likelihood-ratio tests between nested growth models."""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd
from scipy import stats

from ._result import COMPARE_COLUMNS, GrowthResult

__all__ = ["compare"]


def compare(m0: GrowthResult, m1: GrowthResult, *, progress: bool | None = False) -> pd.DataFrame:
    """Likelihood-ratio test of a model against a larger model that nests it.

    When the fixed effects differ, REML likelihoods are not comparable, so both models are
    refitted by ML first (``refit_ml`` says so). Models that differ only in their random
    effects are compared as fitted (REML or ML, the same for both), and ``note`` says which
    likelihood was compared and why. A two-level model is nested in the same model with a
    therapist level (a therapist intercept added), and a therapist intercept in a therapist
    intercept and slope.

    Parameters
    ----------
    m0, m1 : GrowthResult
        The smaller and the larger model, fitted to the same scores. m0's fixed-effect terms
        must be among m1's, and its random effects among m1's.
    progress : bool, default False
        Progress bar of statsmodels refits.

    Returns
    -------
    pandas.DataFrame
        Two rows (m0, m1): ``model`` ("m0", "m1"), ``description`` (lme4-like notation),
        ``method`` used for the test, ``n_params``, ``loglik``, ``aic``, ``bic``; on m1's row
        ``chisq`` = 2 (loglik1 - loglik0), ``df`` (difference in parameters), ``p_value``
        (chi-square) and ``p_value_boundary`` (when m1 adds one random effect to a level
        with k others, its variance on the boundary: the 50:50 mixture of chi-square(k) and
        chi-square(k + 1), Stram & Lee, 1994 -- a random slope beside a random intercept,
        k = 1; a therapist intercept, k = 0; NaN otherwise); ``refit_ml`` True when the
        models were refitted by ML; ``note`` the likelihood compared, in words.

    Raises
    ------
    ValueError
        Models fitted to different data, or not nested.

    Notes
    -----
    Testing a variance on the boundary of its space (zero) makes the plain chi-square
    p-value conservative (Self & Liang, 1987); ``p_value_boundary`` is the usual correction.

    References
    ----------
    Self, S. G., & Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood
    estimators and likelihood ratio tests under nonstandard conditions. *JASA, 82*, 605-610.

    Stram, D. O., & Lee, J. W. (1994). Variance components testing in the longitudinal
    mixed effects model. *Biometrics, 50*, 1171-1177.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import growth
    >>> sleep = toolkit.datasets.load("sleepstudy")
    >>> kw = dict(client="subject", session="days", score="reaction")
    >>> m0 = growth.fit(sleep, "reaction ~ time", random="intercept", **kw)
    >>> m1 = growth.fit(sleep, "reaction ~ time", random="slope", **kw)
    >>> growth.compare(m0, m1)[["model", "df", "chisq"]].round(2)
      model   df  chisq
    0    m0  NaN    NaN
    1    m1  2.0  42.84
    """
    for m in (m0, m1):
        if not isinstance(m, GrowthResult):
            raise TypeError(f"compare() takes two GrowthResult objects; got {type(m).__name__}.")
    if m0.scores is not m1.scores and not _same_data(m0, m1):
        raise ValueError(
            "The two models were fitted to different data (clients, sessions or scores "
            "differ), so their likelihoods cannot be compared. Fix: fit both to the same "
            "validated scores (toolkit.long_scores once, then growth.fit twice)."
        )
    fixed0, fixed1 = set(m0.table["term"]), set(m1.table["term"])
    re0, re1 = _random_set(m0), _random_set(m1)
    t0, t1 = m0.settings.get("therapist"), m1.settings.get("therapist")
    if t0 is not None and t1 is not None and t0 != t1:
        raise ValueError(
            f"The models have different therapist levels ({t0!r} and {t1!r}), so neither is "
            "nested in the other. Fix: the same therapist column in both."
        )
    if not (fixed0 <= fixed1 and re0 <= re1) or (fixed0 == fixed1 and re0 == re1):
        raise ValueError(
            "m0 must be nested in m1: its fixed-effect terms among m1's "
            f"({sorted(fixed0 - fixed1)} are not) and its random effects among m1's "
            f"({sorted(' '.join(r) for r in re0 - re1)} are not), with m1 larger. Fix: pass "
            "the smaller model first, or compare nested models only."
        )
    refit = fixed0 != fixed1 and (m0.method != "ml" or m1.method != "ml")
    refit = refit or m0.method != m1.method
    if refit:
        m0, m1 = (_refit_ml(m, progress) for m in (m0, m1))
        if fixed0 != fixed1:
            note = (
                "Both models refitted by ML: their fixed effects differ, and REML "
                "likelihoods of models with different fixed effects are not comparable."
            )
        else:
            note = "Both models refitted by ML: they were fitted by different methods."
    elif m0.method == "reml":
        note = (
            "REML likelihood-ratio test: the models differ only in their random effects, so "
            "their REML likelihoods are comparable (no refit needed)."
        )
    else:
        note = "ML likelihood-ratio test of the models as fitted."
    if m0.n_obs != m1.n_obs:
        raise ValueError(
            f"The models use different observations ({m0.n_obs} vs {m1.n_obs}), e.g. because "
            "a covariate of the larger model is missing for some scores. Fix: drop those rows "
            "before fitting both models."
        )
    chisq = max(2 * (m1.loglik - m0.loglik), 0.0)
    df = m1.n_params - m0.n_params
    p = float(stats.chi2.sf(chisq, df))
    boundary = np.nan
    added = re1 - re0
    if fixed0 == fixed1 and len(added) == 1:
        ((group, _),) = added
        k = sum(1 for g, _ in re0 if g == group)  # effects already at that level
        low = 0.0 if k == 0 else float(stats.chi2.sf(chisq, k))
        if chisq <= 0 and k == 0:
            low = 1.0
        boundary = float(0.5 * low + 0.5 * stats.chi2.sf(chisq, k + 1))
    rows = []
    for name, m in (("m0", m0), ("m1", m1)):
        rows.append(
            {
                "model": name,
                "description": m.describe(),
                "method": m.method,
                "n_params": m.n_params,
                "loglik": m.loglik,
                "aic": m.aic,
                "bic": m.bic,
                "chisq": np.nan,
                "df": np.nan,
                "p_value": np.nan,
                "p_value_boundary": np.nan,
                "refit_ml": refit,
                "note": note,
            }
        )
    rows[1].update(chisq=chisq, df=float(df), p_value=p, p_value_boundary=boundary)
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def _random_set(m: GrowthResult) -> set[tuple[str, str]]:
    """(level, effect) of every random effect (variances, not covariances)."""
    vc = m.variance_components
    return {
        (g, c) for g, c in zip(vc["group"], vc["component"]) if g != "residual" and ":" not in c
    }


def _same_data(m0: GrowthResult, m1: GrowthResult) -> bool:
    if m0.scores is None or m1.scores is None:
        return False
    a, b = m0.scores.data, m1.scores.data
    return (
        len(a) == len(b)
        and a["client"].equals(b["client"])
        and a["session"].equals(b["session"])
        and a["score"].equals(b["score"])
    )


def _refit_ml(m: GrowthResult, progress: bool | None) -> GrowthResult:
    from ._fit import refit

    if m.method == "ml":
        return m
    with _warnings.catch_warnings():
        # The warnings of the refit repeat those of the original fit.
        _warnings.simplefilter("ignore")
        return refit(m, method="ml", progress=progress)
