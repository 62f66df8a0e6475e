"""A fitted growth model: fixed effects, variance components, client effects, fitted values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .._results import BREAKTHROUGH_COLUMNS, Direction, Result, check_direction, keep_direction

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "GrowthResult",
    "FIXED_COLUMNS",
    "VARIANCE_COLUMNS",
    "RANDOM_COLUMNS",
    "FITTED_COLUMNS",
    "COMPARE_COLUMNS",
    "SUMMARY_COLUMNS",
    "RANDOM",
    "METHODS",
    "ENGINES",
]

#: Columns of ``GrowthResult.table`` (the fixed effects).
FIXED_COLUMNS = ["term", "estimate", "se", "ci_lower", "ci_upper", "p_value"]
#: Columns of ``GrowthResult.variance_components``.
VARIANCE_COLUMNS = ["component", "variance", "sd", "corr"]
#: Columns of ``GrowthResult.random_effects`` (one row per client and effect).
RANDOM_COLUMNS = ["client", "effect", "estimate", "se"]
#: Columns of ``GrowthResult.fitted``.
FITTED_COLUMNS = ["client", "session", "time", "score", "fitted", "fitted_fixed", "residual"]
#: Columns of :func:`compare`'s table.
COMPARE_COLUMNS = [
    "model",
    "description",
    "method",
    "n_params",
    "loglik",
    "aic",
    "bic",
    "chisq",
    "df",
    "p_value",
    "p_value_boundary",
    "refit_ml",
]
#: Columns of ``GrowthResult.summary()``.
SUMMARY_COLUMNS = ["part", "term", "estimate", "se", "ci_lower", "ci_upper", "p_value"]

RANDOM = ("intercept", "slope")
METHODS = ("reml", "ml")
ENGINES = ("auto", "fast", "statsmodels")


@dataclass(frozen=True, repr=False, kw_only=True)
class GrowthResult(Result):
    """A fitted growth model. Build it with :func:`fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        Fixed effects: ``term``, ``estimate``, ``se``, ``ci_lower``, ``ci_upper`` (Wald, at
        ``settings["level"]``) and ``p_value`` (two-sided Wald z test).
    variance_components : pandas.DataFrame
        ``component`` (``"intercept"``, ``"time"``, ``"intercept:time"``, ``"residual"``; a
        pair names a covariance), ``variance`` (variance, or covariance for a pair), ``sd``
        (NaN for a pair) and ``corr`` (the correlation of a pair, NaN otherwise).
    random_effects : pandas.DataFrame
        Per-client predicted random effects (BLUPs, deviations from the fixed effects):
        ``client``, ``effect``, ``estimate`` and ``se`` (conditional SD).
    fitted : pandas.DataFrame
        The fitted trajectories, one row per client and session of the model frame (sessions
        with a missing score included): ``client``, ``session``, ``time`` (coded),
        ``score`` (observed, NaN when missing), ``fitted`` (fixed + the client's random
        effects), ``fitted_fixed`` (fixed effects only) and ``residual``.
    icc : float
        Intraclass correlation: intercept variance / (intercept variance + residual
        variance), i.e. at time 0 when there is a random slope.
    loglik, aic, bic : float
        Log-likelihood (REML or ML, see ``method``) and the information criteria with
        k = fixed effects + covariance parameters + 1.
    n_obs, n_clients : int
        Observed scores and clients in the fit.
    method : str
        ``"reml"`` or ``"ml"``.
    engine : str
        ``"fast"`` or ``"statsmodels"``.
    formula : str
        The expanded fixed-effects formula.
    random : str
        The random-effects structure.
    converged : bool
        True only when the optimum is verified (see Notes of :func:`fit`).
    singular : bool
        A boundary fit: a random-effect variance (or a correlation of +-1) at the edge.
    optimizer_log : pandas.DataFrame
        Every optimisation attempt: ``engine``, ``optimizer``, ``start``, ``loglik``,
        ``max_gradient``, ``optimizer_converged`` (the optimiser's own claim),
        ``reached_best``, ``chosen``, ``seconds``, ``message``.
    sm_result : statsmodels MixedLMResults or None
        The statsmodels result when that engine was used.
    scores : LongScores
        The data the model was fitted to.
    """

    variance_components: pd.DataFrame
    random_effects: pd.DataFrame
    fitted: pd.DataFrame
    icc: float
    loglik: float
    aic: float
    bic: float
    n_obs: int
    n_clients: int
    method: str
    engine: str
    formula: str
    random: str
    converged: bool
    singular: bool
    optimizer_log: pd.DataFrame
    sm_result: Any = None
    breakthrough_table: pd.DataFrame | None = None
    _spec: dict[str, Any] = field(default_factory=dict, compare=False)

    method_name = "growth model"

    @property
    def n_params(self) -> int:
        """Fixed effects + random-effects covariance parameters + the residual variance."""
        q = int((self.variance_components["component"] != "residual").sum())
        return len(self.table) + q + 1

    def summary(self) -> pd.DataFrame:
        """Fixed effects, then the random part (SDs and correlations) and the fit statistics.

        Returns
        -------
        pandas.DataFrame
            Columns ``part`` ("fixed", "random" or "fit"), ``term``, ``estimate``, ``se``,
            ``ci_lower``, ``ci_upper``, ``p_value`` (NaN where not applicable).
        """
        fixed = self.table.assign(part="fixed")
        vc = self.variance_components
        random_rows = [
            {
                "part": "random",
                "term": f"corr({r.component.replace(':', ', ')})",
                "estimate": r.corr,
            }
            if ":" in r.component
            else {"part": "random", "term": f"sd({r.component})", "estimate": r.sd}
            for r in vc.itertuples()
        ]
        fit_rows = [
            {"part": "fit", "term": k, "estimate": float(v)}
            for k, v in (
                ("icc", self.icc),
                ("loglik", self.loglik),
                ("aic", self.aic),
                ("bic", self.bic),
                ("n_obs", self.n_obs),
                ("n_clients", self.n_clients),
            )
        ]
        out = pd.concat([fixed, pd.DataFrame(random_rows + fit_rows)], ignore_index=True)
        return out[SUMMARY_COLUMNS]

    def plot(
        self,
        client: Any = None,
        *,
        ax: Axes | None = None,
        kind: Literal["trajectories", "caterpillar"] = "trajectories",
        **kwargs: Any,
    ) -> Axes:
        """Observed vs fitted trajectories (``client`` shows one client), or a caterpillar
        plot of the random effects.

        See :func:`toolkit.plots.fitted_trajectories` and :func:`toolkit.plots.caterpillar`.
        """
        from ..plots.growth import caterpillar, fitted_trajectories

        if kind == "trajectories":
            if client is not None:
                kwargs["clients"] = [client]
            return fitted_trajectories(self, ax=ax, **kwargs)
        if kind == "caterpillar":
            return caterpillar(self, ax=ax, **kwargs)
        raise ValueError(
            "The 'kind' parameter of GrowthResult.plot must be one of "
            f"{{'trajectories', 'caterpillar'}}. Got {kind!r} instead."
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """The breakthroughs the model was given (``breakthroughs=`` of :func:`fit`).

        Empty when the model has none; ``size`` is NaN when the source gave none.
        """
        check_direction(direction, "GrowthResult.breakthroughs")
        if self.breakthrough_table is None:
            return keep_direction(pd.DataFrame(columns=BREAKTHROUGH_COLUMNS), direction)
        return keep_direction(self.breakthrough_table, direction)

    def methods_text(self) -> str:
        """The methods paragraph for this analysis."""
        st = self.settings
        text = (
            f"A linear mixed-effects growth model ({self.describe()}) was fitted by "
            f"{self.method.upper()} to {self.n_obs} observed scores of {self.n_clients} "
            f"clients (time coded {st['time']}, 0 at session {st['time_zero']:g}); "
            f"{st['level']:.0%} Wald intervals. The profiled likelihood was maximised "
            "exactly, as in lme4 (Bates et al., 2015)"
        )
        if st.get("n_breakthrough_clients"):
            text += (
                f"; discontinuous growth around each client's own breakthrough "
                f"({st['n_breakthrough_clients']} clients) added a jump and a slope change "
                "(Singer & Willett, 2003)"
            )
        return text + ". " + super().methods_text()

    def describe(self) -> str:
        """The model in lme4-like notation, e.g. ``score ~ 1 + time + (1 + time | client)``."""
        re = {"intercept": "1", "slope": "1 + time"}.get(self.random, self.random.lstrip("~ "))
        return f"{self.formula} + ({re} | client)"

    def __repr__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        sing = ", singular" if self.singular else ""
        return (
            f"<GrowthResult {self.describe()}, {self.method.upper()} ({self.engine}): "
            f"{self.n_clients} clients, {self.n_obs} observations, log-likelihood "
            f"{self.loglik:.2f}, {state}{sing}>"
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>Growth model</b> <code>{self.describe()}</code>, "
            f"{self.method.upper()}, engine {self.engine}; {self.n_clients} clients, "
            f"{self.n_obs} observations; {'converged' if self.converged else 'NOT converged'}"
            f"{', singular fit' if self.singular else ''}.</p>"
        )
        parts = [
            head,
            self.summary().to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""),
        ]
        if len(self.skipped):
            parts.append(
                f"<p>{len(self.skipped)} client(s) skipped; see <code>.skipped</code>.</p>"
            )
        parts += [f"<p>Warning: {w}</p>" for w in self.warnings]
        return "".join(parts)
