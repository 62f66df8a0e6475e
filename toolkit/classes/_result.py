"""The result of a trajectory-class fit: clients, classes, curves, starts, fit statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._results import BREAKTHROUGH_COLUMNS, Direction, Result, check_direction

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ._design import Design
    from ._em import Model

__all__ = [
    "ClassesResult",
    "describe_model",
    "Fitted",
    "TABLE_COLUMNS",
    "POSTERIOR_COLUMNS",
    "CLASS_COLUMNS",
    "COEFFICIENT_COLUMNS",
    "CURVE_COLUMNS",
    "START_COLUMNS",
    "STATISTICS_COLUMNS",
    "CROSSTAB_COLUMNS",
    "BY_GROUP_COLUMNS",
]

#: Columns of :attr:`ClassesResult.table`: one row per client analysed.
TABLE_COLUMNS = ["client", "class", "label", "probability", "n_observed"]
#: Columns of :attr:`ClassesResult.posterior`: one row per client and class.
POSTERIOR_COLUMNS = ["client", "class", "probability"]
#: Columns of :attr:`ClassesResult.classes` (also :meth:`ClassesResult.summary`).
CLASS_COLUMNS = [
    "class",
    "label",
    "share",
    "share_se",
    "n_clients",
    "appa",
    "residual_sd",
    "intercept_sd",
    "slope_sd",
    "score_first",
    "score_last",
    "improvement",
    "half_change_session",
]
#: Columns of :attr:`ClassesResult.coefficients`.
COEFFICIENT_COLUMNS = ["class", "label", "term", "estimate", "se", "ci_lower", "ci_upper"]
#: Columns of :attr:`ClassesResult.curves`.
CURVE_COLUMNS = [
    "class",
    "label",
    "session",
    "fitted",
    "se",
    "ci_lower",
    "ci_upper",
    "observed_mean",
    "n_observed",
]
#: Columns of :attr:`ClassesResult.starts`.
START_COLUMNS = ["start", "loglik", "n_iterations", "status", "n_classes", "at_best"]
#: Columns of :attr:`ClassesResult.statistics` (one row) and of the enumeration table.
STATISTICS_COLUMNS = [
    "n_classes",
    "n_clients",
    "n_observations",
    "loglik",
    "n_parameters",
    "aic",
    "bic",
    "sabic",
    "entropy",
    "smallest_share",
    "smallest_n",
    "appa_min",
    "n_starts",
    "n_starts_at_best",
    "converged",
]
#: Columns of :meth:`ClassesResult.crosstab`.
CROSSTAB_COLUMNS = [
    "class",
    "label",
    "method",
    "n_clients",
    "n_with_breakthrough",
    "share_with_breakthrough",
    "expected_clients",
    "expected_with_breakthrough",
    "expected_share_with_breakthrough",
    "n_breakthroughs",
    "size_mean",
    "session_median",
]
#: Columns of :meth:`ClassesResult.summary_by`.
BY_GROUP_COLUMNS = ["group", "class", "label", "n_clients", "share", "expected_share"]


@dataclass(frozen=True)
class Fitted:
    """The estimates in array form (classes in the final order), for simulation and plots."""

    model: Model
    beta: np.ndarray  # (K, p)
    sigma2: np.ndarray  # (K,)
    cov: np.ndarray  # (K, q, q)
    pi: np.ndarray  # (K,)
    theta: np.ndarray  # unconstrained parameters (see _inference)
    cov_theta: np.ndarray | None
    max_gradient: float
    design: Design
    post: np.ndarray  # (N, K)
    sign: int | None


_MODEL_TEXT = {
    "none": "latent class growth analysis (Nagin, 1999; no random effects within classes)",
    "intercept": (
        "a growth mixture model (Muthén & Shedden, 1999) with a random intercept within classes"
    ),
    "slope": (
        "a growth mixture model (Muthén & Shedden, 1999) with a correlated random intercept "
        "and slope within classes"
    ),
}
_TIME_TEXT = {
    "linear": "linear in the session",
    "log": "linear in log(session)",
    "quadratic": "quadratic in the session",
    "piecewise": "piecewise linear in the session",
}


def describe_model(st: Mapping[str, Any]) -> str:
    """The model in words, from a result's settings (for methods paragraphs)."""
    time = _TIME_TEXT[st["time"]]
    if st["knots"]:
        shown = ", ".join(f"{k:g}" for k in st["knots"])
        time += f" with a change of slope after session(s) {shown}"
    if st["time_zero"]:
        time += f" (time 0 at session {st['time_zero']:g})"
    residual = (
        "class-specific residual variances"
        if st["residual"] == "class"
        else "a residual variance common to all classes"
    )
    if st["random"] != "none":
        residual += (
            " and class-specific random-effect covariances"
            if st["random_covariance"] == "class"
            else " and a random-effect covariance common to all classes"
        )
    return f"{_MODEL_TEXT[st['random']]}; growth was {time}, with {residual}"


@dataclass(frozen=True, repr=False)
class ClassesResult(Result):
    """Trajectory classes found by :func:`toolkit.classes.fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per client analysed (:data:`TABLE_COLUMNS`): ``client``; ``class`` (1..K,
        the most probable class); ``label`` (the class's suggested name); ``probability``
        (posterior probability of that class); ``n_observed`` (scores used).
    classes : pandas.DataFrame
        One row per class (:data:`CLASS_COLUMNS`): ``class``; ``label``; ``share`` (the
        estimated class probability pi_k) and ``share_se`` (its standard error, delta
        method); ``n_clients`` (clients whose most probable class it is); ``appa`` (average
        posterior probability of the class among those clients); ``residual_sd``;
        ``intercept_sd``, ``slope_sd`` (random-effect SDs within the class, NaN when not in
        the model); ``score_first``, ``score_last`` (fitted score at the first and last
        session of the class's labelling window); ``improvement`` (the change between them
        in the direction of improvement, NaN when the direction is unknown);
        ``half_change_session`` (the session by which half of the improvement is reached,
        NaN unless the class improves).
    coefficients : pandas.DataFrame
        ``class``, ``label``, ``term`` (``intercept``, ``time``, ``time_sq``,
        ``time_after_<k>``), ``estimate``, ``se``, ``ci_lower``, ``ci_upper`` (Wald, at
        ``settings["level"]``).
    curves : pandas.DataFrame
        Per class and session: ``fitted`` (the class's mean curve) with ``se``, ``ci_lower``,
        ``ci_upper``; ``observed_mean`` (the posterior-weighted mean of the observed scores)
        and ``n_observed`` (the posterior-weighted number of scores).
    posterior : pandas.DataFrame
        ``client``, ``class``, ``probability``: every client's posterior probability of
        every class.
    starts : pandas.DataFrame
        One row per random start: ``start``, ``loglik`` (where it ended), ``n_iterations``
        (EM steps), ``status`` (``"converged"``, also after Newton refinement;
        ``"stalled"``, EM crawling and not refined because far from the best;
        ``"not converged"``; ``"emptied"``; ``"degenerate"``; ``"failed"``), ``n_classes``
        (classes left), ``at_best`` (within 1e-6 relative of the best log-likelihood).
    statistics : pandas.DataFrame
        One row (:data:`STATISTICS_COLUMNS`), as in :func:`toolkit.classes.enumeration`.
    loglik, aic, bic, sabic, entropy : float
        Log-likelihood and the criteria (N = clients; see :func:`toolkit.classes.fit`).
    n_parameters : int
    converged : bool
    n_starts_at_best : int
    """

    classes: pd.DataFrame = field(default_factory=pd.DataFrame)
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    posterior: pd.DataFrame = field(default_factory=pd.DataFrame)
    starts: pd.DataFrame = field(default_factory=pd.DataFrame)
    statistics: pd.DataFrame = field(default_factory=pd.DataFrame)
    loglik: float = float("nan")
    n_parameters: int = 0
    aic: float = float("nan")
    bic: float = float("nan")
    sabic: float = float("nan")
    entropy: float = float("nan")
    converged: bool = False
    n_starts_at_best: int = 0
    fitted: Fitted | None = field(default=None, repr=False)

    method_name = "trajectory classes"

    @property
    def n_classes(self) -> int:
        """Number of classes in the solution."""
        return len(self.classes)

    @property
    def labels(self) -> list[str]:
        """The class names, class 1 first."""
        return self.classes["label"].tolist()

    @property
    def _fitted(self) -> Fitted:
        if self.fitted is None:  # pragma: no cover - every fit keeps them
            raise ValueError("This result keeps no fitted state.")
        return self.fitted

    def summary(self) -> pd.DataFrame:
        """The per-class table (:attr:`classes`)."""
        return self.classes.copy()

    def posterior_wide(self) -> pd.DataFrame:
        """Posterior probabilities with one column per class (``class_1`` ...), by client."""
        wide = self.posterior.pivot(index="client", columns="class", values="probability")
        wide.columns = [f"class_{c}" for c in wide.columns]
        return wide.reindex(self.table["client"].to_numpy())

    def relabel(self, labels: Mapping[int, str] | Sequence[str]) -> ClassesResult:
        """The same result with other class names.

        Parameters
        ----------
        labels : mapping or sequence
            ``{class number: name}`` for some classes, or one name per class in order.

        Examples
        --------
        >>> import toolkit
        >>> m = toolkit.classes.fit(toolkit.datasets.load_scores("sgdata"), 2, seed=1)
        >>> m.relabel({1: "steep", 2: "slow"}).labels
        ['steep', 'slow']
        """
        old = self.labels
        if isinstance(labels, Mapping):
            unknown = [c for c in labels if c not in range(1, len(old) + 1)]
            if unknown:
                raise ValueError(f"relabel(): no class {unknown}; the classes are 1..{len(old)}.")
            new = [str(labels.get(i + 1, name)) for i, name in enumerate(old)]
        else:
            new = [str(x) for x in labels]
            if len(new) != len(old):
                raise ValueError(
                    f"relabel(): {len(new)} names for {len(old)} classes. Fix: one name per "
                    "class, or a {class: name} mapping."
                )
        if len(set(new)) != len(new):
            raise ValueError(f"relabel(): the names {new} are not distinct.")
        by_class = dict(zip(range(1, len(new) + 1), new))

        def swap(frame: pd.DataFrame) -> pd.DataFrame:
            out = frame.copy()
            out["label"] = out["class"].map(by_class).astype(object)
            return out

        return replace(
            self,
            table=swap(self.table),
            classes=swap(self.classes),
            coefficients=swap(self.coefficients),
            curves=swap(self.curves),
            settings={**self.settings, "labels": new},
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Not available: a trajectory class is a course, not a breakthrough.

        Use :meth:`crosstab` to relate the classes to another result's breakthroughs.
        """
        check_direction(direction, "ClassesResult.breakthroughs")
        raise NotImplementedError(
            "Trajectory classes are courses, not breakthroughs. Fix: relate them to the "
            "breakthroughs of another analysis with result.crosstab(other)."
        )

    def crosstab(self, other: Any, direction: Direction = "improvement") -> pd.DataFrame:
        """Breakthroughs of another analysis within each class.

        Parameters
        ----------
        other : Result or DataFrame
            Any toolkit result answering ``breakthroughs()`` (sudden gains, change points,
            reliable change, the per-client breakthrough table, ...), or a table with the
            columns of :data:`toolkit._results.BREAKTHROUGH_COLUMNS`. Only its
            ``breakthroughs()`` are read.
        direction : {"improvement", "deterioration", "both"}, default "improvement"

        Returns
        -------
        pandas.DataFrame
            One row per class and method (:data:`CROSSTAB_COLUMNS`): ``class``, ``label``,
            ``method``; ``n_clients`` (clients whose most probable class it is),
            ``n_with_breakthrough`` and ``share_with_breakthrough`` (those with at least one
            breakthrough); ``expected_clients``, ``expected_with_breakthrough`` and
            ``expected_share_with_breakthrough`` (the same counted with posterior
            probabilities, so that uncertain clients count in part for every class);
            ``n_breakthroughs``, ``size_mean`` and ``session_median`` (of the breakthroughs of
            the class's clients). Clients not analysed here are left out.

        Examples
        --------
        >>> import toolkit
        >>> scores = toolkit.datasets.load_scores("sgdata")
        >>> m = toolkit.classes.fit(scores, 2, seed=1)
        >>> sg = toolkit.sudden_gains.identify(scores)
        >>> m.crosstab(sg)[["class", "method", "n_clients", "n_with_breakthrough"]]
           class        method  n_clients  n_with_breakthrough
        0      1  sudden gains         28                   12
        1      2  sudden gains         15                    1
        """
        check_direction(direction, "ClassesResult.crosstab")
        if isinstance(other, pd.DataFrame):
            missing = [c for c in BREAKTHROUGH_COLUMNS if c not in other.columns]
            if missing:
                raise ValueError(
                    f"crosstab(): the table lacks the breakthrough columns {missing}. Fix: pass "
                    "a toolkit result, or a table with columns "
                    f"{BREAKTHROUGH_COLUMNS}."
                )
            found = other[BREAKTHROUGH_COLUMNS]
            if direction != "both":
                found = found[found["direction"] == direction]
            methods = sorted(found["method"].unique().tolist()) or ["breakthroughs"]
        elif hasattr(other, "breakthroughs"):
            found = other.breakthroughs(direction=direction)
            methods = sorted(found["method"].unique().tolist()) or [
                getattr(other, "method_name", type(other).__name__)
            ]
        else:
            raise TypeError(
                "crosstab() needs a toolkit result (with breakthroughs()) or a breakthroughs "
                f"table; got {type(other).__name__}."
            )
        clients = pd.Index(self.table["client"].to_numpy())
        hard = self.table["class"].to_numpy()
        post = self._fitted.post
        rows = []
        for method in methods:
            mine = found[(found["method"] == method) & found["client"].isin(clients)]
            flagged = clients.isin(mine["client"].unique())
            klass = pd.Series(hard, index=clients).reindex(mine["client"].to_numpy()).to_numpy()
            for c, label in enumerate(self.labels, start=1):
                members = hard == c
                n_c = int(members.sum())
                with_bt = int((members & flagged).sum())
                part = mine[klass == c]
                expected = float(post[:, c - 1].sum())
                expected_with = float(post[flagged, c - 1].sum())
                rows.append(
                    {
                        "class": c,
                        "label": label,
                        "method": method,
                        "n_clients": n_c,
                        "n_with_breakthrough": with_bt,
                        "share_with_breakthrough": with_bt / n_c if n_c else np.nan,
                        "expected_clients": expected,
                        "expected_with_breakthrough": expected_with,
                        "expected_share_with_breakthrough": (
                            expected_with / expected if expected > 0 else np.nan
                        ),
                        "n_breakthroughs": len(part),
                        "size_mean": float(part["size"].mean()) if len(part) else np.nan,
                        "session_median": (
                            float(part["session"].median()) if len(part) else np.nan
                        ),
                    }
                )
        return pd.DataFrame(rows, columns=CROSSTAB_COLUMNS)

    def summary_by(self, covariate: str) -> pd.DataFrame:
        """Class shares within groups of a carried client-level covariate.

        Returns
        -------
        pandas.DataFrame
            One row per group and class (:data:`BY_GROUP_COLUMNS`): ``group``, ``class``,
            ``label``, ``n_clients`` (whose most probable class it is), ``share`` (of the
            group's clients analysed) and ``expected_share`` (mean posterior probability).

        Raises
        ------
        ValueError
            The covariate is not carried, or varies within clients.
        """
        groups = self._group_values(covariate).reindex(self.table["client"].to_numpy())
        post = self._fitted.post
        hard = self.table["class"].to_numpy()
        frame = pd.DataFrame({"group": groups.to_numpy(), "row": np.arange(len(hard))})
        rows = []
        for group, part in frame.groupby("group", sort=True, dropna=False):
            idx = part["row"].to_numpy()
            for c, label in enumerate(self.labels, start=1):
                n_c = int((hard[idx] == c).sum())
                rows.append(
                    {
                        "group": group,
                        "class": c,
                        "label": label,
                        "n_clients": n_c,
                        "share": n_c / len(idx),
                        "expected_share": float(post[idx, c - 1].mean()),
                    }
                )
        return pd.DataFrame(rows, columns=BY_GROUP_COLUMNS)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        shares = ", ".join(
            f"{label} {share:.0%}" for label, share in zip(self.labels, self.classes["share"])
        )
        skipped = (
            f" {len(self.skipped)} clients with fewer than {st['min_sessions']} scores were not "
            "analysed."
            if len(self.skipped)
            else ""
        )
        entropy = f", relative entropy {self.entropy:.2f}" if np.isfinite(self.entropy) else ""
        text = (
            f"Trajectory classes (K = {self.n_classes}) were estimated by {describe_model(st)}. "
            "The marginal likelihood was maximised with the EM algorithm (SQUAREM-accelerated; "
            f"Varadhan & Roland, 2008) from {st['n_starts']} random starts ({st['init']} "
            f"seeding, seed {st['seed']}); {self.n_starts_at_best} of them reached the best "
            f"log-likelihood ({self.loglik:.2f}, {self.n_parameters} parameters; BIC "
            f"{self.bic:.1f} with N = {len(self.table)} clients{entropy}).{skipped} Classes "
            f"(share): {shares}; names were suggested from the shape of each class's fitted "
            f"curve (a change of less than {st['min_change_value']:.3g} points, "
            f"{st['min_change_source']}, counted as no response). "
        )
        return text + super().methods_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Class curves with their intervals over the clients' trajectories
        (:func:`toolkit.plots.class_curves`); with ``client``, that client's scores over the
        curves and its posterior probabilities."""
        from ..plots.classes import class_curves

        return class_curves(self, client=client, ax=ax, **kwargs)

    def __repr__(self) -> str:
        shares = ", ".join(f"{s:.0%}" for s in self.classes["share"])
        return (
            f"<ClassesResult: {self.n_classes} classes ({shares}) of {len(self.table)} "
            f"clients, loglik {self.loglik:.2f}, BIC {self.bic:.1f}, best reached by "
            f"{self.n_starts_at_best}/{len(self.starts)} starts>"
        )

    def _repr_html_(self) -> str:
        parts = [
            f"<p><b>ClassesResult</b>: {self.n_classes} classes, log-likelihood "
            f"{self.loglik:.2f}, BIC {self.bic:.1f}, entropy {self.entropy:.3f}; best "
            f"log-likelihood reached by {self.n_starts_at_best} of {len(self.starts)} "
            "starts.</p>",
            self.summary().to_html(index=False),
        ]
        if len(self.skipped):
            parts.append(
                f"<p>{len(self.skipped)} client(s) skipped; see <code>.skipped</code>.</p>"
            )
        parts += [f"<p>Warning: {w}</p>" for w in self.warnings]
        return "".join(parts)
