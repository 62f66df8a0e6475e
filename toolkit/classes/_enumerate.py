"""classes.enumeration: the same model with 1, 2, ..., K_max classes, side by side.

Choosing the number of classes is a judgement, and the table is made to support it, not to
replace it: the toolkit never picks K for you. Reasons to prefer a solution, in the order most
methodologists give them (Nylund, Asparouhov & Muthén, 2007; van de Schoot et al., 2017):

1. **BIC** (with N = clients) and the sample-size-adjusted BIC are the most reliable of the
   information criteria for growth mixtures; look for the smallest value, or for the point
   after which adding a class buys little (an "elbow" in :meth:`EnumerationResult.plot`). AIC
   tends to keep adding classes.
2. **The bootstrap likelihood-ratio test** (``n_bootstrap``; McLachlan, 1987; Nylund et al.,
   2007) of K - 1 against K classes: a small p-value says the K-th class is more than what
   chance gives when the data come from K - 1 classes. The ad hoc adjusted Lo-Mendell-Rubin
   test (``lmr_p_value``) is quick but only approximate (Jeffries, 2003).
3. **Replication**: the best log-likelihood should be reached by several starts
   (``n_starts_at_best``); a solution found once may be a local maximum.
4. **Class size and separation**: a class of very few clients (``smallest_share``,
   ``smallest_n``) is fragile and may not replicate; the relative ``entropy`` and the
   average posterior probabilities (``appa_min``; above about 0.7 to 0.8 is usual) say how
   clearly clients are assigned. Entropy is *not* a criterion for K: it describes
   classification, not fit.
5. **Meaning**: each class should be a distinct, interpretable course (see
   :meth:`ClassesResult.plot`), and the solution should agree with theory and replicate in
   other samples. With a quadratic time coding, late responders can hide in a gradual class:
   try ``time="piecewise"``.

References
----------
Lo, Y., Mendell, N. R., & Rubin, D. B. (2001). Testing the number of components in a normal
mixture. Biometrika, 88(3), 767-778.
Jeffries, N. O. (2003). A note on "Testing the number of components in a normal mixture".
Biometrika, 90(4), 991-994.
McLachlan, G. J. (1987). On bootstrapping the likelihood ratio test statistic for the number
of components in a normal mixture. Applied Statistics, 36(3), 318-324.
Nylund, K. L., Asparouhov, T., & Muthén, B. O. (2007). Deciding on the number of classes in
latent class analysis and growth mixture modeling: A Monte Carlo simulation study.
Structural Equation Modeling, 14(4), 535-569.
van de Schoot, R., Sijbrandij, M., Winter, S. D., Depaoli, S., & Vermunt, J. K. (2017). The
GRoLTS-checklist: Guidelines for reporting on latent trajectory studies. Structural Equation
Modeling, 24(3), 451-467.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as _stats

from .. import _checks
from .._options import progress_bar
from .._results import Direction, Result, base_settings, check_direction
from ..data import LongScores, as_scores
from ..errors import DataError, warn
from ..instruments import Instrument
from . import _design, _em
from ._fit import assemble, fit_design, prepare
from ._result import STATISTICS_COLUMNS, ClassesResult, Fitted, describe_model

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "enumeration",
    "EnumerationResult",
    "ENUMERATION_COLUMNS",
    "ENUMERATION_CLASS_COLUMNS",
    "lmr_test",
    "simulate",
]

#: Columns of :attr:`EnumerationResult.table`: one row per number of classes.
ENUMERATION_COLUMNS = [
    *STATISTICS_COLUMNS,
    "lmr_statistic",
    "lmr_df",
    "lmr_p_value",
    "blrt_p_value",
    "blrt_replicates",
]
#: Columns of :attr:`EnumerationResult.classes`: one row per solution and class.
ENUMERATION_CLASS_COLUMNS = ["n_classes", "class", "label", "share", "n_clients", "appa"]


def lmr_test(
    loglik_small: float, loglik_large: float, df: int, n_clients: int
) -> tuple[float, float]:
    """The ad hoc adjusted Lo-Mendell-Rubin likelihood-ratio test of K - 1 against K classes.

    ``LR = 2 (l_K - l_{K-1})`` is divided by ``1 + 1 / (d log N)``, with d the difference in
    the number of free parameters (3 per class in the univariate normal mixtures of Lo,
    Mendell & Rubin, 2001) and N the number of clients, and referred to a chi-square with d
    degrees of freedom. Returns the adjusted statistic and its p-value. An approximation:
    the regularity conditions behind it fail when K - 1 classes are true (Jeffries, 2003);
    prefer the bootstrap test where it can be afforded.

    Examples
    --------
    >>> stat, p = lmr_test(-1000.0, -995.0, 4, 200)
    >>> round(stat, 3), round(p, 4)
    (9.549, 0.0487)
    """
    lr = 2.0 * (loglik_large - loglik_small)
    adjusted = lr / (1.0 + 1.0 / (df * np.log(n_clients)))
    return float(adjusted), float(_stats.chi2.sf(max(adjusted, 0.0), df))


def simulate(fitted: Fitted, rng: np.random.Generator) -> np.ndarray:
    """Scores (N, S) drawn from a fitted model at the observed cells (NaN elsewhere)."""
    d = fitted.design
    n = len(d.clients)
    k, q = len(fitted.pi), fitted.model.q
    cls = rng.choice(k, size=n, p=fitted.pi / fitted.pi.sum())
    mean = (d.x @ fitted.beta.T).T[cls]
    if q:
        chol = np.linalg.cholesky(fitted.cov + 1e-12 * np.eye(q))
        b = np.einsum("nij,nj->ni", chol[cls], rng.standard_normal((n, q)))
        mean = mean + b @ d.z.T
    y = mean + np.sqrt(fitted.sigma2[cls])[:, None] * rng.standard_normal(mean.shape)
    y[np.isnan(d.y)] = np.nan
    return y


def _as_start(f: Fitted) -> _em.Params:
    k = len(f.pi)
    return _em.Params(
        f.beta[None].copy(),
        f.sigma2[None].copy(),
        f.cov[None].copy(),
        np.log(f.pi)[None],
        np.ones((1, k), dtype=bool),
    )


def enumeration(
    data: pd.DataFrame | LongScores,
    *,
    max_classes: int = 5,
    min_classes: int = 1,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    time: Literal["linear", "log", "quadratic", "piecewise"] = "linear",
    knots: Sequence[float] | float | None = None,
    time_zero: float = 0.0,
    random: Literal["none", "intercept", "slope"] = "none",
    residual: Literal["class", "common"] = "class",
    random_covariance: Literal["class", "common"] = "common",
    n_starts: int = 20,
    init: Literal["kmeans++", "partition"] = "kmeans++",
    seed: int | None = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
    min_size: float = 1.0,
    empty: Literal["discard", "drop"] = "discard",
    min_sessions: int = 2,
    min_change: float | Literal["reliable_change"] = "reliable_change",
    level: float = 0.95,
    n_bootstrap: int = 0,
    bootstrap_starts: int = 5,
    progress: bool | None = None,
) -> EnumerationResult:
    """Fit the same trajectory-class model with ``min_classes`` .. ``max_classes`` classes.

    Parameters
    ----------
    data : DataFrame or LongScores
        Long-format scores (see :func:`toolkit.classes.fit`). Not modified.
    max_classes, min_classes : int, default 5 and 1
        The numbers of classes to fit (``max_classes`` is capped at the number of clients).
    client, session, score, instrument, better, time, knots, time_zero, random, residual, \
random_covariance, n_starts, init, tol, max_iter, min_size, empty, min_sessions, min_change, \
level
        As in :func:`toolkit.classes.fit`; every K is fitted with the same ``seed``, so row K
        is exactly ``classes.fit(data, K, seed=seed, ...)``.
    seed : int, optional
        Seed of the starts and the bootstrap. None draws one (recorded in ``settings``).
    n_bootstrap : int, default 0
        Replicates of the parametric bootstrap likelihood-ratio test of K - 1 against K
        classes (0: not run; 99 or more for a paper). Each replicate draws scores from the
        fitted K - 1 class model at the observed sessions and fits K - 1 and K classes.
    bootstrap_starts : int, default 5
        Random starts per replicate fit, besides starting from the fitted K - 1 and K class
        solutions.
    progress : bool, optional
        Progress bar over the numbers of classes (default: the global option).

    Returns
    -------
    EnumerationResult
        ``table``: one row per K (:data:`ENUMERATION_COLUMNS`): the columns of
        :data:`toolkit.classes.STATISTICS_COLUMNS` (``n_classes``, ``n_clients``,
        ``n_observations``, ``loglik``, ``n_parameters``, ``aic``, ``bic``, ``sabic``,
        ``entropy``, ``smallest_share``, ``smallest_n``, ``appa_min``, ``n_starts``,
        ``n_starts_at_best``, ``converged``), then ``lmr_statistic``, ``lmr_df`` and
        ``lmr_p_value`` (the adjusted Lo-Mendell-Rubin test of K - 1 against K, see
        :func:`lmr_test`), ``blrt_p_value`` (the bootstrap test; NaN when not run) and
        ``blrt_replicates`` (replicates that could be fitted). A K whose every start
        emptied a class has missing statistics (and a warning). ``classes``: the share, size
        and average posterior probability of every class of every solution; ``fits``: the
        :class:`ClassesResult` of every K.

    Raises
    ------
    OptionError
        Bad options (as in :func:`toolkit.classes.fit`), ``min_classes > max_classes``.
    DataError
        Data that no model can be fitted to (see :func:`toolkit.classes.fit`).

    Notes
    -----
    Bootstrap p-value: ``(1 + #{LR_b >= LR}) / (B + 1)`` over the B replicates that could be
    fitted, with LR = 2 (l_K - l_{K-1}) (McLachlan, 1987). Replicate fits start from the fitted
    solutions and ``bootstrap_starts`` random starts, stop EM at a relative tolerance of 1e-6
    and refine their best start by Newton steps. With the default
    ``bootstrap_starts`` a replicate's K-class fit can miss its global maximum, which makes
    the test a little liberal; raise it for a final analysis. See the module docstring for
    the reasons to prefer one solution over another.

    References
    ----------
    See the module :mod:`toolkit.classes._enumerate`.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import classes
    >>> en = classes.enumeration(toolkit.datasets.load_scores("sgdata"), max_classes=3,
    ...                          seed=1)
    >>> en.table[["n_classes", "loglik", "n_parameters", "bic"]].round(1)
       n_classes  loglik  n_parameters     bic
    0          1 -1620.3             3  3251.8
    1          2 -1553.6             7  3133.5
    2          3 -1495.3            11  3031.9
    """
    function = "classes.enumeration"
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    kmax = _checks.whole(max_classes, "max_classes", function, low=1, high=_checks.MAX_COUNT)
    kmin = _checks.whole(min_classes, "min_classes", function, low=1, high=kmax)
    n_boot = _checks.whole(n_bootstrap, "n_bootstrap", function, low=0, high=_checks.MAX_COUNT)
    boot_starts = _checks.whole(
        bootstrap_starts, "bootstrap_starts", function, low=1, high=_checks.MAX_COUNT
    )
    options, seed, design, sign, notes = prepare(
        function,
        scores,
        seed=seed,
        better=better,
        time=time,
        time_zero=time_zero,
        knots=knots,
        random=random,
        residual=residual,
        random_covariance=random_covariance,
        n_starts=n_starts,
        init=init,
        tol=tol,
        max_iter=max_iter,
        min_size=min_size,
        empty=empty,
        min_sessions=min_sessions,
        level=level,
        min_change=min_change,
    )
    n = len(design.clients)
    kept = []
    for m in notes:
        kept.append(warn(m, stacklevel=3))
    fits: dict[int, ClassesResult] = {}
    rows = []
    ks = list(range(kmin, min(kmax, n) + 1))
    for k in progress_bar(ks, progress=progress, desc="classes: K", total=len(ks)):
        try:
            # One bar over K (above); none per fit, so that progress=False is silent.
            found = fit_design(design, k, sign=sign, seed=seed, progress=False, **options)
        except DataError as exc:
            kept.append(warn(f"K = {k}: {exc}", stacklevel=3))
            rows.append({"n_classes": k, "n_clients": n, "n_observations": design.n_observations})
            continue
        res = assemble(
            scores,
            design,
            found,
            seed=seed,
            sign=sign,
            messages=[],
            function=function,
            stacklevel=4,
            n_classes_requested=k,
            **options,
        )
        kept += [f"K = {k}: {w}" for w in res.warnings]
        fits[k] = res
        rows.append(res.statistics.iloc[0].to_dict())
    table = pd.DataFrame(rows).reindex(columns=ENUMERATION_COLUMNS)
    for k in ks:
        i = ks.index(k)
        small, large = fits.get(k - 1), fits.get(k)
        if small is None or large is None:
            continue
        d = large.n_parameters - small.n_parameters
        stat, p = lmr_test(small.loglik, large.loglik, d, n)
        table.loc[i, ["lmr_statistic", "lmr_df", "lmr_p_value"]] = [stat, d, p]
        if n_boot:
            p_boot, used = _bootstrap(small, large, n_boot, boot_starts, seed, options)
            table.loc[i, ["blrt_p_value", "blrt_replicates"]] = [p_boot, used]
    if not n_boot:
        table["blrt_replicates"] = 0
    for name in ("n_classes", "n_clients", "n_observations"):
        table[name] = table[name].astype(np.int64)
    for name in (
        "n_parameters",
        "smallest_n",
        "n_starts",
        "n_starts_at_best",
        "lmr_df",
        "blrt_replicates",
    ):
        table[name] = pd.array(table[name], dtype="Int64")
    table["converged"] = pd.array(table["converged"], dtype="boolean")
    per_class = [
        pd.DataFrame(
            {
                "n_classes": k,
                "class": f.classes["class"],
                "label": f.classes["label"],
                "share": f.classes["share"],
                "n_clients": f.classes["n_clients"],
                "appa": f.classes["appa"],
            }
        )
        for k, f in fits.items()
    ]
    classes = (
        pd.concat(per_class, ignore_index=True)
        if per_class
        else pd.DataFrame(columns=ENUMERATION_CLASS_COLUMNS)
    )[ENUMERATION_CLASS_COLUMNS]
    settings = base_settings(
        scores,
        seed=seed,
        min_classes=kmin,
        max_classes=kmax,
        time=time,
        knots=list(design.knots),
        time_zero=design.time_zero,
        random=random,
        n_bootstrap=n_boot,
        bootstrap_starts=boot_starts,
        **options,
    )
    return EnumerationResult(
        table=table,
        settings=settings,
        skipped=design.skipped,
        warnings=tuple(kept),
        scores=scores,
        classes=classes,
        fits=fits,
    )


def _bootstrap(
    small: ClassesResult,
    large: ClassesResult,
    n_boot: int,
    n_starts: int,
    seed: int,
    options: dict[str, Any],
) -> tuple[float, int]:
    """Parametric bootstrap p-value of K - 1 (``small``) against K (``large``) classes."""
    fs, fl = small._fitted, large._fitted
    observed = 2.0 * (large.loglik - small.loglik)
    k = len(fl.pi)
    # replicate fits stop EM early (their best start is refined by Newton steps anyway)
    run = {**options, "n_starts": n_starts, "tol": max(options["tol"], 1e-6)}
    stats = []
    for b in range(n_boot):
        rng = np.random.default_rng([seed, k, b])
        y = simulate(fs, rng)
        d = fs.design
        boot = replace(d, y=y, stats=_design.sufficient(y, d.x, d.z))
        sub = int(rng.integers(2**31 - 1))
        try:
            l0 = fit_design(
                boot,
                k - 1,
                sign=None,
                seed=sub,
                extra_start=_as_start(fs),
                inference=False,
                refine_near=False,
                progress=False,
                **run,
            ).loglik
            l1 = fit_design(
                boot,
                k,
                sign=None,
                seed=sub + 1,
                extra_start=_as_start(fl),
                inference=False,
                refine_near=False,
                progress=False,
                **run,
            ).loglik
        except DataError:
            continue
        stats.append(2.0 * (l1 - l0))
    if not stats:
        return float("nan"), 0
    s = np.asarray(stats)
    return float((1 + np.sum(s >= observed)) / (len(s) + 1)), len(s)


@dataclass(frozen=True, repr=False)
class EnumerationResult(Result):
    """Solutions with different numbers of classes, from :func:`toolkit.classes.enumeration`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per number of classes, columns :data:`ENUMERATION_COLUMNS`.
    classes : pandas.DataFrame
        ``n_classes``, ``class``, ``label``, ``share``, ``n_clients``, ``appa``: every class
        of every solution.
    fits : dict
        The :class:`ClassesResult` of every number of classes fitted.
    """

    classes: pd.DataFrame = field(default_factory=pd.DataFrame)
    fits: dict[int, ClassesResult] = field(default_factory=dict)

    method_name = "trajectory class enumeration"

    def summary(self) -> pd.DataFrame:
        """The enumeration table."""
        return self.table.copy()

    def __getitem__(self, n_classes: int) -> ClassesResult:
        """The fit with ``n_classes`` classes."""
        if n_classes not in self.fits:
            raise KeyError(f"No fit with {n_classes} classes; fitted: {sorted(self.fits)}.")
        return self.fits[n_classes]

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Not available: classes are courses, not breakthroughs (see
        :meth:`ClassesResult.crosstab`)."""
        check_direction(direction, "EnumerationResult.breakthroughs")
        raise NotImplementedError(
            "An enumeration of trajectory classes reports no breakthroughs. Fix: pick a "
            "solution, result[K], and use its crosstab(other)."
        )

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """AIC, BIC and adjusted BIC against K, with the entropy
        (:func:`toolkit.plots.enumeration_criteria`)."""
        from ..plots.classes import enumeration_criteria

        return enumeration_criteria(self, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph: what was compared and on which grounds."""
        st = self.settings
        t = self.table
        boot = (
            f" and a parametric bootstrap likelihood-ratio test of K - 1 against K classes "
            f"({st['n_bootstrap']} replicates; McLachlan, 1987)"
            if st["n_bootstrap"]
            else ""
        )
        text = (
            f"Solutions with {int(t['n_classes'].min())} to {int(t['n_classes'].max())} "
            "classes were compared by the log-likelihood, AIC, BIC and sample-size-adjusted "
            "BIC (Sclove, 1987) with N the number of clients, the relative entropy, the "
            "smallest class, the average posterior probabilities, the ad hoc adjusted "
            f"Lo-Mendell-Rubin test (Lo, Mendell & Rubin, 2001){boot}, and the number of "
            f"{st['n_starts']} random starts (seed {st['seed']}) reaching the best "
            f"log-likelihood. The model was {describe_model(st)}. "
        )
        return text + super().methods_text()

    def __repr__(self) -> str:
        return f"<EnumerationResult: K = {sorted(self.fits)}>"
