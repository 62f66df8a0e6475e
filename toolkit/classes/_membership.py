"""classes.membership: who ends up in which class? Covariates of class membership, three-step.

Step 1 is the trajectory-class fit (:func:`toolkit.classes.fit`), without the covariates, so
that they cannot shift the classes. Step 2 assigns every client to its most probable class W_i
and estimates the classification error from the posterior probabilities p_ik,

    D[k, s] = P(W = s | class k) = sum_i p_ik 1[W_i = s] / sum_i p_ik.

Step 3 models class membership by a multinomial logistic regression on the covariates z_i,
``pi_k(z) = exp(z'gamma_k) / sum_l exp(z'gamma_l)`` with gamma = 0 for the reference class.
Treating W_i as the class (``correction="none"``) biases the effects towards zero, because
clients are misclassified; the corrections of Vermunt (2010) remove that bias:

- ``"ml"`` maximises ``sum_i log sum_k pi_k(z_i) D[k, W_i]`` (the assigned class as an
  indicator of the true one with known error rates); standard errors from the observed
  information;
- ``"bch"`` (Bolck, Croon & Hagenaars, 2004) maximises the weighted log-likelihood
  ``sum_i sum_k d*_ik log pi_k(z_i)`` with the weights ``d*_ik = (D^-1)[W_i, k]`` (which can be
  negative); standard errors from the robust sandwich.

Both ignore the uncertainty of step 1, which makes their standard errors slightly too small
(Bakk, Oberski & Vermunt, 2014).

References
----------
Vermunt, J. K. (2010). Latent class modeling with covariates: Two improved three-step
approaches. Political Analysis, 18(4), 450-469.
Bolck, A., Croon, M., & Hagenaars, J. (2004). Estimating latent structure models with
categorical variables: One-step versus three-step estimators. Political Analysis, 12(1),
3-27.
Bakk, Z., Oberski, D. L., & Vermunt, J. K. (2014). Relating latent class assignments to
external variables: Standard errors for correct inference. Political Analysis, 22(4),
520-540.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as _stats

from .. import _checks
from .._results import Direction, Result, base_settings, check_direction
from ..errors import DataError, OptionError, warn
from ._result import ClassesResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "membership",
    "MembershipResult",
    "MEMBERSHIP_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "CORRECTIONS",
    "classification_error",
    "three_step",
]

#: Columns of :attr:`MembershipResult.table`: one row per non-reference class and term.
MEMBERSHIP_COLUMNS = [
    "class",
    "label",
    "term",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "p_value",
    "odds_ratio",
]
#: Columns of :attr:`MembershipResult.classification`.
CLASSIFICATION_COLUMNS = ["class", "assigned_class", "probability"]
CORRECTIONS = ("ml", "bch", "none")


def classification_error(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modal assignment (N,) and D[k, s] = P(assigned s | class k) from posteriors (N, K)."""
    n, k = post.shape
    assigned = np.argmax(post, axis=1)
    hard = np.zeros((n, k))
    hard[np.arange(n), assigned] = 1.0
    d = (post.T @ hard) / post.sum(axis=0)[:, None]
    return assigned, d


def _probs(gamma: np.ndarray, z: np.ndarray, k: int, ref: int) -> np.ndarray:
    """Class probabilities (N, K) of the multinomial logit; gamma (K - 1, c), ref has 0."""
    eta = np.zeros((len(z), k))
    others = [c for c in range(k) if c != ref]
    eta[:, others] = z @ gamma.T
    eta -= eta.max(axis=1, keepdims=True)
    e = np.exp(eta)
    return e / e.sum(axis=1, keepdims=True)


def three_step(
    z: np.ndarray,
    assigned: np.ndarray,
    d: np.ndarray,
    correction: str,
    ref: int,
) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Estimates (K - 1, c), their covariance, the maximised objective and convergence.

    ``z`` (N, c) holds the covariates with an intercept column, ``assigned`` the modal classes
    and ``d`` the classification-error matrix (use the identity for no correction).
    """
    n, c = z.shape
    k = d.shape[0]
    others = [j for j in range(k) if j != ref]
    if correction == "bch":
        weights = np.linalg.inv(d)[assigned]  # (N, K): d*_ik
    else:
        weights = None
    dcol = d[:, assigned].T  # (N, K): D[k, W_i]

    def parts(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-client objective (N,) and its gradient with respect to eta (N, K)."""
        pr = _probs(flat.reshape(k - 1, c), z, k, ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            if weights is not None:
                value = np.sum(weights * np.log(pr), axis=1)
                return value, weights - pr * weights.sum(axis=1, keepdims=True)
            mix = pr * dcol
            total = mix.sum(axis=1, keepdims=True)
            return np.log(total[:, 0]), mix / total - pr

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, g_eta = parts(flat)
        grad = g_eta[:, others].T @ z  # (K - 1, c)
        return -float(value.sum()), -grad.reshape(-1)

    x0 = np.zeros((k - 1) * c)
    with np.errstate(all="ignore"):
        res = optimize.minimize(
            objective, x0, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000}
        )
        x = res.x
        step = 1e-5 * np.maximum(1.0, np.abs(x))
        hess = np.empty((len(x), len(x)))
        for j in range(len(x)):
            e = np.zeros_like(x)
            e[j] = step[j]
            hess[:, j] = (objective(x + e)[1] - objective(x - e)[1]) / (2.0 * step[j])
        hess = 0.5 * (hess + hess.T)  # of minus the objective: the information
        try:
            inv = np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            inv = np.full_like(hess, np.nan)
        if weights is not None:  # robust sandwich for the weighted (BCH) estimator
            _, g_eta = parts(x)
            scores = (g_eta[:, others][:, :, None] * z[:, None, :]).reshape(n, -1)
            cov = inv @ (scores.T @ scores) @ inv
        else:
            cov = inv
    gmax = float(np.max(np.abs(objective(x)[1]))) if len(x) else 0.0
    converged = bool(np.all(np.isfinite(x)) and gmax < 1e-4 * max(1.0, n))
    return x.reshape(k - 1, c), cov, -float(res.fun), converged


def _covariate_matrix(
    result: ClassesResult, names: list[str]
) -> tuple[np.ndarray, list[str], np.ndarray, pd.DataFrame]:
    """Design (intercept first), term names, rows kept, and the clients left out."""
    clients = result.table["client"].to_numpy()
    columns = [np.ones(len(clients))]
    terms = ["intercept"]
    missing = np.zeros(len(clients), dtype=bool)
    for name in names:
        values = result._group_values(name).reindex(clients)
        missing |= values.isna().to_numpy()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric:
            columns.append(values.to_numpy(dtype=float, na_value=np.nan))
            terms.append(name)
            continue
        levels = sorted(values.dropna().unique().tolist(), key=str)
        if len(levels) < 2:
            raise DataError(
                f"Covariate {name!r} has only the value(s) {levels} among the clients "
                "analysed, so it cannot predict class membership. Fix: drop it."
            )
        for level in levels[1:]:
            columns.append((values == level).to_numpy(dtype=float, na_value=0.0))
            terms.append(f"{name}[{level}]")
    z = np.column_stack(columns)
    keep = ~missing
    left = pd.DataFrame(
        {
            "client": clients[~keep],
            "reason": "missing covariate value (" + ", ".join(names) + ")",
        }
    )
    return z[keep], terms, keep, left


def membership(
    result: ClassesResult,
    covariates: str | Sequence[str],
    *,
    correction: Literal["ml", "bch", "none"] = "ml",
    reference: int | None = None,
    level: float = 0.95,
) -> MembershipResult:
    """Covariates of class membership by the bias-corrected three-step approach.

    Parameters
    ----------
    result : ClassesResult
        Step 1: a fit of :func:`toolkit.classes.fit` (without the covariates).
    covariates : str or list of str
        Client-level covariates carried by the scores (``scores.client_values(name)``).
        Numeric ones enter as they are; others (text, categories, booleans) as indicators
        of each level against the first (sorted) level.
    correction : {"ml", "bch", "none"}, default "ml"
        Vermunt's (2010) ML correction, the BCH correction, or none (the modal class taken
        as the true class; biased towards no effect).
    reference : int, optional
        The class the others are compared with (default: the largest class).
    level : float, default 0.95
        Level of the Wald intervals.

    Returns
    -------
    MembershipResult
        ``table``: one row per non-reference class and term (:data:`MEMBERSHIP_COLUMNS`):
        ``class``, ``label``, ``term`` (``intercept``, a covariate, or ``name[level]``),
        ``estimate`` (log odds of the class against the reference), ``se``, ``ci_lower``,
        ``ci_upper``, ``p_value`` (Wald z) and ``odds_ratio`` (exp(estimate)).
        ``classification``: the classification-error matrix D (:data:`CLASSIFICATION_COLUMNS`:
        ``class``, ``assigned_class``, ``probability`` = P(assigned | class)).
        ``skipped``: clients left out for a missing covariate.

    Raises
    ------
    OptionError
        A bad option or reference class; fewer than 2 classes.
    DataError
        An unknown covariate (the message lists the carried ones), one that varies within
        clients, or one with a single value.

    Notes
    -----
    See :mod:`toolkit.classes._membership` for the three steps and the objective each
    correction maximises. The classification error D is estimated from every client of step
    1; clients with a missing covariate are then left out of step 3.

    References
    ----------
    Vermunt, J. K. (2010). Latent class modeling with covariates: Two improved three-step
    approaches. Political Analysis, 18(4), 450-469.
    Bolck, A., Croon, M., & Hagenaars, J. (2004). Estimating latent structure models with
    categorical variables: One-step versus three-step estimators. Political Analysis,
    12(1), 3-27.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import classes
    >>> scores = toolkit.datasets.load_scores("btheb")  # BDI-II at 2, 3, 5 and 8 months
    >>> seen = scores.subset(scores.clients[scores.n_observed() > 0])
    >>> m = classes.fit(seen, 2, seed=1, min_sessions=1)
    >>> arm = classes.membership(m, "treatment")
    >>> arm.table[["class", "term", "estimate", "se"]].round(2)
       class            term  estimate    se
    0      2       intercept     -0.78  0.35
    1      2  treatment[TAU]      1.10  0.50
    """
    function = "classes.membership"
    if not isinstance(result, ClassesResult):
        raise TypeError(
            f"membership() needs a ClassesResult (from classes.fit); got {type(result).__name__}."
        )
    _checks.choice(correction, "correction", function, CORRECTIONS)
    level = _checks.level(level, "level", function)
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    if not names:
        raise OptionError(f"The 'covariates' parameter of {function} names no covariate.")
    k = result.n_classes
    if k < 2:
        raise OptionError(
            f"{function} needs at least 2 classes; the result has {k}. Fix: fit n_classes >= 2."
        )
    shares = result.classes["share"].to_numpy()
    if reference is None:
        ref = int(np.argmax(shares))
    else:
        ref = _checks.whole(reference, "reference", function, low=1, high=k) - 1
    post = result._fitted.post
    assigned, d = classification_error(post)
    z, terms, keep, left = _covariate_matrix(result, names)
    if len(z) <= z.shape[1] * (k - 1):
        raise DataError(
            f"{len(z)} clients with covariates are too few for {z.shape[1] * (k - 1)} "
            f"coefficients. Fix: fewer covariates or classes."
        )
    used_d = np.eye(k) if correction == "none" else d
    gamma, cov, objective, converged = three_step(z, assigned[keep], used_d, correction, ref)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)).reshape(gamma.shape)
    se = np.where(np.isfinite(np.diag(cov)).reshape(gamma.shape), se, np.nan)
    zcrit = float(_stats.norm.ppf(0.5 + level / 2))
    labels = result.labels
    others = [c for c in range(k) if c != ref]
    with np.errstate(divide="ignore", invalid="ignore"):
        pval = 2.0 * _stats.norm.sf(np.abs(gamma / se))
    table = pd.DataFrame(
        {
            "class": np.repeat(np.array(others) + 1, len(terms)),
            "label": np.repeat([labels[c] for c in others], len(terms)),
            "term": np.tile(terms, len(others)),
            "estimate": gamma.reshape(-1),
            "se": se.reshape(-1),
            "ci_lower": (gamma - zcrit * se).reshape(-1),
            "ci_upper": (gamma + zcrit * se).reshape(-1),
            "p_value": pval.reshape(-1),
            "odds_ratio": np.exp(gamma).reshape(-1),
        }
    )[MEMBERSHIP_COLUMNS]
    classification = pd.DataFrame(
        {
            "class": np.repeat(np.arange(1, k + 1), k),
            "assigned_class": np.tile(np.arange(1, k + 1), k),
            "probability": d.reshape(-1),
        }
    )[CLASSIFICATION_COLUMNS]
    messages = []
    if len(left):
        messages.append(
            f"{len(left)} client(s) with a missing covariate value were left out of the "
            f"membership model (e.g. {left['client'].tolist()[:5]}); see result.skipped."
        )
    if not converged:
        messages.append(
            "The membership model did not converge (a class predicted perfectly by a "
            "covariate, or BCH weights without a maximum). Fix: fewer covariates, "
            "correction='ml', or merge levels."
        )
    kept = []
    for m in messages:
        kept.append(warn(m, stacklevel=3))
    if result.scores is None:  # pragma: no cover - every fit keeps its scores
        raise ValueError("The result keeps no scores.")
    settings = base_settings(
        result.scores,
        seed=result.settings.get("seed"),
        covariates=names,
        terms=terms,
        correction=correction,
        reference=ref + 1,
        reference_label=labels[ref],
        level=level,
        n_classes=k,
        classes_settings=dict(result.settings),
    )
    return MembershipResult(
        table=table,
        settings=settings,
        skipped=pd.concat([result.skipped, left], ignore_index=True),
        warnings=tuple(kept),
        scores=result.scores,
        classification=classification,
        loglik=objective,
        n_clients=int(keep.sum()),
        converged=converged,
        covariance=cov,
    )


@dataclass(frozen=True, repr=False)
class MembershipResult(Result):
    """Covariates of class membership, from :func:`toolkit.classes.membership`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`MEMBERSHIP_COLUMNS` (see :func:`membership`).
    classification : pandas.DataFrame
        The classification-error matrix (:data:`CLASSIFICATION_COLUMNS`).
    loglik : float
        The maximised step-3 objective.
    n_clients : int
    converged : bool
    covariance : numpy.ndarray
        Covariance of the estimates (class-major, in the order of ``table``).
    """

    classification: pd.DataFrame = field(default_factory=pd.DataFrame)
    loglik: float = float("nan")
    n_clients: int = 0
    converged: bool = False
    covariance: np.ndarray | None = field(default=None, repr=False)

    method_name = "class membership"

    def summary(self) -> pd.DataFrame:
        """The coefficient table without the intercepts."""
        return self.table[self.table["term"] != "intercept"].reset_index(drop=True)

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Not available: a membership model reports no breakthroughs."""
        check_direction(direction, "MembershipResult.breakthroughs")
        raise NotImplementedError("A model of class membership reports no breakthroughs.")

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Odds ratios with intervals (:func:`toolkit.plots.membership_odds`)."""
        from ..plots.classes import membership_odds

        return membership_odds(self, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph for the membership model."""
        st = self.settings
        how = {
            "ml": "with the maximum-likelihood correction for classification error (Vermunt, 2010)",
            "bch": "with the BCH correction for classification error (Bolck, Croon & "
            "Hagenaars, 2004; Vermunt, 2010) and robust standard errors",
            "none": "without correction for classification error",
        }[st["correction"]]
        text = (
            "Class membership was related to "
            + ", ".join(st["covariates"])
            + " by a three-step approach: the classes were estimated without covariates, "
            "clients were assigned to their most probable class, and a multinomial logistic "
            f"regression of the assigned class on the covariates was estimated {how}, with "
            f"'{st['reference_label']}' as the reference class ({self.n_clients} clients). "
        )
        return text + super().methods_text()

    def __repr__(self) -> str:
        return (
            f"<MembershipResult: {', '.join(self.settings['covariates'])} -> "
            f"{self.settings['n_classes']} classes, correction {self.settings['correction']!r}>"
        )
