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
    "THERAPIST_COLUMNS",
    "FITTED_COLUMNS",
    "COMPARE_COLUMNS",
    "SUMMARY_COLUMNS",
    "PREDICT_COLUMNS",
    "CURVE_COLUMNS",
    "ICC_COLUMNS",
    "RANDOM",
    "METHODS",
    "ENGINES",
]

#: Columns of ``GrowthResult.table`` (the fixed effects).
FIXED_COLUMNS = ["term", "estimate", "se", "df", "statistic", "ci_lower", "ci_upper", "p_value"]
#: Columns of ``GrowthResult.variance_components``.
VARIANCE_COLUMNS = ["group", "component", "variance", "sd", "corr"]
#: Columns of ``GrowthResult.random_effects`` (one row per client and effect).
RANDOM_COLUMNS = ["client", "effect", "estimate", "se"]
#: Columns of ``GrowthResult.therapist_effects`` (one row per therapist and effect).
THERAPIST_COLUMNS = ["therapist", "effect", "estimate", "se", "n_clients", "n_obs"]
#: Columns of :meth:`GrowthResult.predict`.
PREDICT_COLUMNS = ["client", "session", "time", "estimate", "se", "df", "ci_lower", "ci_upper"]
#: Columns of :meth:`GrowthResult.curves`.
CURVE_COLUMNS = [
    "group",
    "session",
    "time",
    "estimate",
    "se",
    "df",
    "ci_lower",
    "ci_upper",
    "n_clients",
]
#: Columns of :meth:`GrowthResult.therapist_icc_interval`.
ICC_COLUMNS = ["estimate", "ci_lower", "ci_upper", "level", "method"]
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
    "note",
]
#: Columns of ``GrowthResult.summary()``.
SUMMARY_COLUMNS = ["part", "term", "estimate", "se", "df", "ci_lower", "ci_upper", "p_value"]

RANDOM = ("intercept", "slope")
METHODS = ("reml", "ml")
ENGINES = ("auto", "fast", "statsmodels")


@dataclass(frozen=True, repr=False, kw_only=True)
class GrowthResult(Result):
    """A fitted growth model. Build it with :func:`fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        Fixed effects: ``term``, ``estimate``, ``se``, ``df`` (the test's degrees of
        freedom: Satterthwaite or Kenward-Roger; ``inf`` for Wald z), ``statistic`` (t, or
        z), ``ci_lower``, ``ci_upper`` (at ``settings["level"]``) and ``p_value``
        (two-sided). ``settings["ddf_used"]`` says which test.
    fixed_cov : pandas.DataFrame
        Covariance matrix of the fixed effects behind ``se`` (terms x terms): sigma^2
        (X'V^-1X)^-1 at the estimates (lme4's ``vcov``), Kenward-Roger's adjusted matrix
        with ``ddf="kenward-roger"``.
    variance_components : pandas.DataFrame
        ``group`` (``"client"``, ``"therapist"`` or ``"residual"``), ``component``
        (``"intercept"``, ``"time"``, ``"intercept:time"``, ``"residual"``; a pair names a
        covariance), ``variance`` (variance, or covariance for a pair), ``sd`` (NaN for a
        pair) and ``corr`` (the correlation of a pair, NaN otherwise).
    random_effects : pandas.DataFrame
        Per-client predicted random effects (BLUPs, deviations from the fixed effects and,
        with a therapist level, from the therapist's): ``client``, ``effect``, ``estimate``
        and ``se`` (conditional SD).
    therapist_effects : pandas.DataFrame
        Per-therapist predicted random effects (conditional modes) with a therapist level,
        adjusted for the fixed effects (the case mix in the formula): ``therapist``,
        ``effect``, ``estimate``, ``se`` (conditional SD, as lme4's ``condVar``),
        ``n_clients`` and ``n_obs``. Empty without a therapist level.
    fitted : pandas.DataFrame
        The fitted trajectories, one row per client and session of the model frame (sessions
        with a missing score included): ``client``, ``session``, ``time`` (coded),
        ``score`` (observed, NaN when missing), ``fitted`` (fixed + the client's and its
        therapist's random effects), ``fitted_fixed`` (fixed effects only) and
        ``residual``.
    icc : float
        Intraclass correlation of a client's scores at time 0: (therapist +) client
        intercept variance / (the same + residual variance).
    therapist_icc : float
        Share of the score variance at time 0 that lies between therapists: therapist
        intercept variance / (therapist + client intercept variance + residual variance);
        NaN without a therapist level. :meth:`therapist_icc_interval` gives its interval.
    loglik, aic, bic : float
        Log-likelihood (REML or ML, see ``method``) and the information criteria with
        k = fixed effects + covariance parameters + 1.
    n_obs, n_clients, n_therapists : int
        Observed scores, clients and therapists (0 without a therapist level) in the fit.
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
    fixed_cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    therapist_effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    therapist_icc: float = float("nan")
    n_therapists: int = 0
    _spec: dict[str, Any] = field(default_factory=dict, compare=False)
    _model: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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
            ``df``, ``ci_lower``, ``ci_upper``, ``p_value`` (NaN where not applicable).
            Therapist-level rows read ``sd(intercept | therapist)``.
        """
        fixed = self.table.assign(part="fixed")
        vc = self.variance_components
        random_rows = []
        for r in vc.itertuples():
            where = " | therapist" if r.group == "therapist" else ""
            if ":" in r.component:
                term = f"corr({r.component.replace(':', ', ')}{where})"
                random_rows.append({"part": "random", "term": term, "estimate": r.corr})
            else:
                term = f"sd({r.component}{where})"
                random_rows.append({"part": "random", "term": term, "estimate": r.sd})
        stats = [("icc", self.icc)]
        if self.n_therapists:
            stats += [("therapist_icc", self.therapist_icc), ("n_therapists", self.n_therapists)]
        stats += [
            ("loglik", self.loglik),
            ("aic", self.aic),
            ("bic", self.bic),
            ("n_obs", self.n_obs),
            ("n_clients", self.n_clients),
        ]
        fit_rows = [{"part": "fit", "term": k, "estimate": float(v)} for k, v in stats]
        out = pd.concat([fixed, pd.DataFrame(random_rows + fit_rows)], ignore_index=True)
        return out[SUMMARY_COLUMNS]

    # --- prediction ------------------------------------------------------------------
    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        *,
        level: Literal["population", "therapist", "client"] = "population",
        interval: Literal["confidence", "prediction"] = "confidence",
        interval_level: float | None = None,
    ) -> pd.DataFrame:
        """Predicted scores with intervals, for the fitting data or new data.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict, with the caller's column names: the session column, the
            covariates the formula uses and, for ``level="client"``, the client column
            (clients of the model); for ``level="therapist"`` the therapist column. Time
            coding, quadratic terms, knots and each known client's breakthrough are
            applied as in the fit (new clients count as without a breakthrough). Default:
            the model frame (the rows of ``fitted``).
        level : {"population", "therapist", "client"}, default "population"
            Fixed effects only (the average client); plus the therapist's predicted effect
            (a new client of a known therapist; three-level models); plus the client's own
            (and its therapist's) predicted effects. On the fitting data, ``"client"``
            reproduces ``fitted["fitted"]`` and ``"population"`` ``fitted["fitted_fixed"]``.
        interval : {"confidence", "prediction"}, default "confidence"
            An interval for the mean trajectory at that level, or for a new observed score
            (adds the residual variance and, below the chosen level, the random-effect
            variances of a new therapist or client).
        interval_level : float, optional
            Coverage of the interval; default ``settings["level"]``.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``newdata``: ``client`` (NaN at population level without a client
            column), ``session``, ``time`` (coded), ``estimate``, ``se``, ``df``,
            ``ci_lower``, ``ci_upper``.

        Notes
        -----
        The standard error at client level is the prediction error of x'beta + z'b given
        the variance components (Henderson, 1975): (x - M'a)' C (x - M'a) + sigma^2 a'A^-1 a,
        with a the client's (and therapist's) scaled design, M = A^-1 Lambda'Z'X and C the
        covariance of the fixed effects. The t quantile uses the df of the fixed-effects
        part (Satterthwaite or Kenward-Roger; normal for Wald z).

        Examples
        --------
        >>> import pandas as pd
        >>> import toolkit
        >>> from toolkit import growth
        >>> m = growth.fit(toolkit.datasets.load("sleepstudy"), "reaction ~ time",
        ...                client="subject", session="days", score="reaction")
        >>> new = pd.DataFrame({"days": [0, 5, 10]})
        >>> m.predict(new)[["session", "estimate", "ci_lower", "ci_upper"]].round(1)
           session  estimate  ci_lower  ci_upper
        0        0     251.4     237.0     265.8
        1        5     303.7     283.5     324.0
        2       10     356.1     322.3     389.9
        """
        from ._predict import predict

        return predict(self, newdata, level=level, interval=interval, interval_level=interval_level)

    def curves(self, by: str | None = None, *, interval_level: float | None = None) -> pd.DataFrame:
        """The fixed-effects mean curve of each group, with a confidence band.

        For every session from the first to the last, the average over the group's clients
        of the model's fixed-effects prediction (their covariates as at their first
        session; time, knots and each client's breakthrough as the session implies), i.e.
        x_bar' beta with the band from the covariance of the fixed effects and its df.

        Parameters
        ----------
        by : str, optional
            A client-level covariate (e.g. ``"arm"``); None: one curve for all clients.
        interval_level : float, optional
            Coverage of the band; default ``settings["level"]``.

        Returns
        -------
        pandas.DataFrame
            ``group`` (the covariate's value, ``"all"`` without ``by``), ``session``,
            ``time``, ``estimate``, ``se``, ``df``, ``ci_lower``, ``ci_upper``,
            ``n_clients``.

        Examples
        --------
        >>> import toolkit
        >>> from toolkit import growth
        >>> bt = toolkit.datasets.load("btheb")
        >>> m = growth.fit(bt, "bdi ~ bdi_pre + time * treatment", client="subject",
        ...                session="time", score="bdi", random="intercept")
        >>> c = m.curves(by="treatment")
        >>> c[c["session"] == 8][["group", "estimate", "n_clients"]].round(2)
            group  estimate  n_clients
        6     TAU     13.47         45
        13  BtheB     11.63         52
        """
        from ._predict import curves

        return curves(self, by, interval_level=interval_level)

    def therapist_icc_interval(self, level: float | None = None) -> pd.DataFrame:
        """Profile-likelihood interval of the therapist ICC (three-level models).

        The ICC is fixed on a grid of values and the (RE)ML criterion maximised over all
        other variance parameters; the interval holds the ICCs whose criterion lies within
        chi-square(1, level) / 2 of the maximum (a lower limit of 0 when the criterion at
        ICC = 0 is within it).

        Parameters
        ----------
        level : float, optional
            Coverage; default ``settings["level"]``.

        Returns
        -------
        pandas.DataFrame
            One row: ``estimate``, ``ci_lower``, ``ci_upper``, ``level``, ``method``
            (``"profile likelihood"``).
        """
        from ._profile import icc_interval

        return icc_interval(self, level)

    # --- plots ------------------------------------------------------------------------
    def plot(
        self,
        client: Any = None,
        *,
        ax: Axes | None = None,
        kind: Literal["trajectories", "caterpillar", "curves"] = "trajectories",
        **kwargs: Any,
    ) -> Axes:
        """Observed vs fitted trajectories (``client`` shows one client; ``by=`` draws one
        mean curve per group), a caterpillar plot of the random effects (``group=
        "therapist"`` for the therapists), or the mean curves alone (``kind="curves"``).

        See :func:`toolkit.plots.fitted_trajectories`, :func:`toolkit.plots.caterpillar`
        and :func:`toolkit.plots.growth.mean_curves`.
        """
        from ..plots.growth import caterpillar, fitted_trajectories, mean_curves

        if kind == "trajectories":
            if client is not None:
                kwargs["clients"] = [client]
            return fitted_trajectories(self, ax=ax, **kwargs)
        if kind == "caterpillar":
            return caterpillar(self, ax=ax, **kwargs)
        if kind == "curves":
            return mean_curves(self, ax=ax, **kwargs)
        raise ValueError(
            "The 'kind' parameter of GrowthResult.plot must be one of "
            f"{{'trajectories', 'caterpillar', 'curves'}}. Got {kind!r} instead."
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
        from ._inference import describe

        st = self.settings
        who = f"{self.n_clients} clients"
        if self.n_therapists:
            who += f" of {self.n_therapists} therapists"
        text = (
            f"A linear mixed-effects growth model ({self.describe()}) was fitted by "
            f"{self.method.upper()} to {self.n_obs} observed scores of {who} "
            f"(time coded {st['time']}, 0 at session {st['time_zero']:g}). The profiled "
            "likelihood was maximised exactly, as in lme4 (Bates et al., 2015); fixed effects "
            f"have {describe(st.get('ddf_used', 'wald'))}, with {st['level']:.0%} intervals"
        )
        if self.n_therapists:
            text += (
                f"; therapists' effects are conditional modes adjusted for the fixed effects "
                f"(therapist ICC {self.therapist_icc:.3f}, with a profile-likelihood "
                "interval from therapist_icc_interval())"
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
        if not self.n_therapists:
            return f"{self.formula} + ({re} | client)"
        tre = "1 + time" if self.settings.get("therapist_random") == "slope" else "1"
        return f"{self.formula} + ({tre} | therapist) + ({re} | therapist:client)"

    def __repr__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        sing = ", singular" if self.singular else ""
        who = f"{self.n_clients} clients"
        if self.n_therapists:
            who += f" of {self.n_therapists} therapists"
        return (
            f"<GrowthResult {self.describe()}, {self.method.upper()} ({self.engine}): "
            f"{who}, {self.n_obs} observations, log-likelihood "
            f"{self.loglik:.2f}, {state}{sing}>"
        )

    def _repr_html_(self) -> str:
        who = f"{self.n_clients} clients"
        if self.n_therapists:
            who += f" of {self.n_therapists} therapists"
        head = (
            f"<p><b>Growth model</b> <code>{self.describe()}</code>, "
            f"{self.method.upper()}, engine {self.engine}; {who}, "
            f"{self.n_obs} observations; {'converged' if self.converged else 'NOT converged'}"
            f"{', singular fit' if self.singular else ''}; tests: "
            f"{self.settings.get('ddf_used', 'wald')}.</p>"
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
