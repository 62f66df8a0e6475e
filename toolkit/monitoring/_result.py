"""The results of monitoring: expected response, predictions and flags, alarm reports, service
outcomes, the online monitor and the CUSUM; every column list is fixed here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._results import (
    BREAKTHROUGH_COLUMNS,
    Direction,
    Result,
    check_direction,
    empty_breakthroughs,
    keep_direction,
    toolkit_citation,
)
from ..data import LongScores, as_scores
from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ._expected import Fitted

__all__ = [
    "ExpectedResponseResult",
    "PredictionResult",
    "FlagsResult",
    "AlarmReportResult",
    "ServiceOutcomesResult",
    "OnlineResult",
    "CusumResult",
    "OnlineEvaluationResult",
    "REFERENCE_COLUMNS",
    "EXPECTED_SUMMARY_COLUMNS",
    "PREDICTION_COLUMNS",
    "FLAG_COLUMNS",
    "FLAG_CLIENT_COLUMNS",
    "ALARM_COLUMNS",
    "SERVICE_COLUMNS",
    "SERVICE_SUMMARY_COLUMNS",
    "ONLINE_COLUMNS",
    "CUSUM_COLUMNS",
    "CUSUM_CLIENT_COLUMNS",
    "ONLINE_EVALUATION_COLUMNS",
]

#: Columns of :attr:`ExpectedResponseResult.table`: one row per reference client.
REFERENCE_COLUMNS = [
    "client",
    "intake",
    "course_length",
    "n_observed",
    "last_session",
    "fold",
    "used",
]
#: Columns of :meth:`ExpectedResponseResult.summary` (and of ``coefficients``).
EXPECTED_SUMMARY_COLUMNS = ["part", "term", "estimate", "se"]
#: Columns of :attr:`PredictionResult.table`: one row per client and session after intake.
PREDICTION_COLUMNS = ["client", "session", "score", "expected", "lower", "upper", "sd", "fold"]
#: Columns of :attr:`FlagsResult.table`.
FLAG_COLUMNS = [*PREDICTION_COLUMNS, "residual", "z", "not_on_track"]
#: Columns of :attr:`FlagsResult.clients` (and of :attr:`CusumResult.clients`).
FLAG_CLIENT_COLUMNS = [
    "client",
    "intake",
    "last_session",
    "n_monitored",
    "n_flags",
    "first_flag_session",
    "flagged",
]
#: Columns of :attr:`AlarmReportResult.table`: one row per outcome, window and rule.
ALARM_COLUMNS = [
    "outcome",
    "window",
    "rule",
    "n_clients",
    "n_outcome",
    "n_flagged",
    "sensitivity",
    "sensitivity_lower",
    "sensitivity_upper",
    "specificity",
    "specificity_lower",
    "specificity_upper",
    "ppv",
    "ppv_lower",
    "ppv_upper",
    "npv",
    "median_lead_time",
    "alarms_per_client",
]
#: Columns of :attr:`ServiceOutcomesResult.table`: one row per client.
SERVICE_COLUMNS = [
    "client",
    "n_sessions",
    "first_session",
    "last_session",
    "finished_course",
    "depression_first",
    "depression_last",
    "anxiety_first",
    "anxiety_last",
    "caseness_first",
    "caseness_last",
    "depression_reliable_improvement",
    "depression_reliable_deterioration",
    "anxiety_reliable_improvement",
    "anxiety_reliable_deterioration",
    "reliable_improvement",
    "reliable_deterioration",
    "moved_to_recovery",
    "reliable_recovery",
    "measures_used",
]
#: Columns of :meth:`ServiceOutcomesResult.summary`.
SERVICE_SUMMARY_COLUMNS = ["metric", "n", "denominator", "percent"]
#: Columns of :attr:`OnlineResult.table`: one row per client and session monitored.
ONLINE_COLUMNS = [
    "client",
    "session",
    "score",
    "p_change",
    "p_breakthrough",
    "p_deterioration",
    "change_size",
    "run_length",
    "level",
    "level_sd",
    "next_mean",
    "next_lower",
    "next_upper",
]
#: Columns of :attr:`CusumResult.table`.
CUSUM_COLUMNS = ["client", "session", "score", "z", "cusum", "alarm"]
#: Columns of :attr:`CusumResult.clients`.
CUSUM_CLIENT_COLUMNS = FLAG_CLIENT_COLUMNS
#: Columns of :attr:`OnlineEvaluationResult.table`.
ONLINE_EVALUATION_COLUMNS = [
    "method",
    "threshold",
    "n_change_courses",
    "n_no_change_courses",
    "share_detected",
    "median_delay",
    "mean_delay",
    "false_alarms_per_course",
    "share_courses_false_alarm",
    "false_alarm_sessions_per_course",
]


def _level_text(level: float) -> str:
    return f"{100 * level:.0f}%"


# --- expected response --------------------------------------------------------------------
@dataclass(frozen=True, repr=False, kw_only=True)
class ExpectedResponseResult(Result):
    """Expected response learnt from a reference cohort. Build it with
    :func:`toolkit.monitoring.expected_response`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per reference client, columns :data:`REFERENCE_COLUMNS`.
    settings : dict
        Every option, the seed of the folds, the reference size and the toolkit version.
    skipped : pandas.DataFrame
        Reference clients left out of the fit, with the reason.
    scores : LongScores
        The reference cohort.
    """

    fitted: Fitted = field(repr=False)
    method_name = "expected response"

    # -- predictions ---------------------------------------------------------------------
    def _monitored(self, data: pd.DataFrame | LongScores, roles: dict[str, Any]) -> LongScores:
        scores = as_scores(data, **roles)
        fitted = self.fitted
        name = scores.instrument.name if scores.instrument is not None else None
        if fitted.instrument is not None and name is not None and name != fitted.instrument:
            raise DataError(
                f"The monitored scores are {name} scores, the reference cohort's are "
                f"{fitted.instrument}. Fix: a reference cohort on the same instrument."
            )
        if scores.sign != fitted.sign:
            raise DataError(
                "The monitored scores and the reference cohort disagree on which direction "
                "is improvement. Fix: validate both with the same instrument (or better=)."
            )
        return scores

    def predict(
        self,
        scores: pd.DataFrame | LongScores,
        *,
        level: float = 0.8,
        client: str | None = None,
        session: str | None = None,
        score: str | None = None,
    ) -> PredictionResult:
        """Each client's expected score and band at every session after intake.

        Parameters
        ----------
        scores : pandas.DataFrame or LongScores
            The clients to monitor, with the reference's session numbering (intake at
            ``settings["intake_session"]``). A client that is also a reference client (the
            same id) gets the curve of the fold that left it out.
        level : float, default 0.8
            Level of the band (two-sided).
        client, session, score : str, optional
            Column roles when ``scores`` is a DataFrame (the reference's instrument is used).

        Returns
        -------
        PredictionResult
            ``table`` (:data:`PREDICTION_COLUMNS`): one row per client and session from the
            first after intake to the client's last row: ``client``, ``session``, ``score``
            (NaN when missed), ``expected`` (the expected score), ``lower`` and ``upper``
            (the band at ``level``, within the instrument's range), ``sd`` (predictive SD:
            curve; the neighbours' SD: neighbours) and ``fold`` (the cross-fitting fold
            whose model predicted it; missing for the model of the whole reference).
            ``skipped``: clients without an intake score (or a covariate).

        Raises
        ------
        DataError
            Another instrument or direction than the reference, or no intake session.
        OptionError
            Reference clients among the monitored clients without cross-fitting.
        """
        from .. import _checks
        from ._expected import predict_scores

        level = _checks.level(level, "level", "ExpectedResponseResult.predict")
        data = self._monitored(scores, self._roles(client, session, score))
        table, skipped, notes, _ = predict_scores(self.fitted, data, level, flag=False)
        return PredictionResult(
            table=table[PREDICTION_COLUMNS],
            settings=self._settings(data, level),
            skipped=skipped,
            warnings=tuple(notes),
            scores=data,
            expected=self,
        )

    def flag(
        self,
        scores: pd.DataFrame | LongScores,
        *,
        level: float = 0.8,
        client: str | None = None,
        session: str | None = None,
        score: str | None = None,
    ) -> FlagsResult:
        """Not-on-track flags: sessions at which a client's score is beyond the band on the
        worse side.

        Parameters
        ----------
        scores, level, client, session, score
            As for :meth:`predict`.

        Returns
        -------
        FlagsResult
            ``table`` (:data:`FLAG_COLUMNS`): the columns of :meth:`predict` and
            ``residual`` (score - expected), ``z`` (residual / sd) and ``not_on_track``
            (nullable boolean: the score is beyond the band's worse edge, ``upper`` when
            lower scores are better; missing where the score or the band is). ``clients``
            (:data:`FLAG_CLIENT_COLUMNS`): per client the ``intake``, ``last_session`` (last
            observed), ``n_monitored`` (sessions with a score and a band), ``n_flags``,
            ``first_flag_session`` and ``flagged``.

        Notes
        -----
        Under the model, a client on the expected course is beyond the band's worse edge at
        a session with probability ``(1 - level) / 2``; over a course of many sessions the
        chance of at least one flag is much larger, which is why
        :func:`toolkit.monitoring.evaluate_alarms` reports specificity and alarms per client.

        Examples
        --------
        >>> import toolkit
        >>> from toolkit import monitoring
        >>> sg = toolkit.datasets.load_scores("sgdata")
        >>> flags = monitoring.expected_response(sg, seed=1).flag(sg, level=0.9)
        >>> list(flags.clients.columns) == monitoring.FLAG_CLIENT_COLUMNS
        True
        """
        from .. import _checks
        from ._expected import predict_scores

        level = _checks.level(level, "level", "ExpectedResponseResult.flag")
        data = self._monitored(scores, self._roles(client, session, score))
        table, skipped, notes, clients = predict_scores(self.fitted, data, level, flag=True)
        assert clients is not None
        return FlagsResult(
            table=table[FLAG_COLUMNS],
            settings=self._settings(data, level),
            skipped=skipped,
            warnings=tuple(notes),
            scores=data,
            expected=self,
            clients=clients[FLAG_CLIENT_COLUMNS],
        )

    def _roles(self, client: Any, session: Any, score: Any) -> dict[str, Any]:
        roles: dict[str, Any] = {"client": client, "session": session, "score": score}
        if self.fitted.instrument is not None:
            roles["instrument"] = self.fitted.instrument
        return roles

    def _settings(self, scores: LongScores, level: float) -> dict[str, Any]:
        from .._results import base_settings

        st = self.settings
        return base_settings(
            scores,
            seed=st["seed"],
            method=st["method"],
            level=level,
            intake_session=st["intake_session"],
            covariates=st["covariates"],
            dose=st["dose"],
            time=st["time"],
            random=st["random"],
            k=st["k"],
            distance=st["distance"],
            folds=st["folds"],
            n_reference=st["n_reference"],
            horizon=st["horizon"],
        )

    # -- description ---------------------------------------------------------------------
    @property
    def coefficients(self) -> pd.DataFrame:
        """The curve model's fixed effects (``part``, ``term``, ``estimate``, ``se``) from the
        whole reference: ``"level"`` terms shift the curve, ``"rate"`` terms its slope on
        time. Empty for the neighbours method."""
        if self.fitted.method != "curve":
            return pd.DataFrame({c: pd.Series(dtype=object) for c in EXPECTED_SUMMARY_COLUMNS})
        m = self.fitted.models[0]
        se = np.sqrt(np.maximum(np.diag(m.cov_beta), 0.0))
        parts = ["level"] * m.r + ["rate"] * m.r
        return pd.DataFrame(
            {"part": parts, "term": list(m.names) * 2, "estimate": m.beta, "se": se}
        )[EXPECTED_SUMMARY_COLUMNS]

    @property
    def variance_components(self) -> pd.DataFrame:
        """The curve model's random-effect (co)variances and the residual variance
        (``component``, ``variance``); empty for the neighbours method."""
        if self.fitted.method != "curve":
            return pd.DataFrame({"component": pd.Series(dtype=object), "variance": []})
        m = self.fitted.models[0]
        names, values = ["intercept"], [m.cov_re[0, 0]]
        if m.q == 2:
            names += ["time", "intercept:time"]
            values += [m.cov_re[1, 1], m.cov_re[0, 1]]
        return pd.DataFrame({"component": [*names, "residual"], "variance": [*values, m.sigma2]})

    def curve(self, intake: float, *, level: float = 0.8, **values: float) -> pd.DataFrame:
        """The expected course of a client with this intake score (and covariate values;
        others at the reference mean), from the model of the whole reference.

        Returns
        -------
        pandas.DataFrame
            ``session``, ``expected``, ``lower``, ``upper``, ``sd``.
        """
        from ._expected import _band

        fitted = self.fitted
        ref = self.table[self.table["used"]]
        feats = [float(intake)]
        for name in fitted.feature_names[1:]:
            if name in values:
                feats.append(float(values[name]))
            elif name == "course_length":
                feats.append(float(ref["course_length"].mean()))
            else:
                assert self.scores is not None
                vals = self.scores.client_values(name)
                feats.append(float(pd.to_numeric(vals).loc[ref["client"]].mean()))
        mean, sd, lower, upper = _band(fitted, fitted.models[0], np.array([feats]), level)
        return pd.DataFrame(
            {
                "session": fitted.elapsed + fitted.intake_session,
                "expected": mean[0],
                "lower": lower[0],
                "upper": upper[0],
                "sd": sd[0],
            }
        )

    def summary(self) -> pd.DataFrame:
        """The curve model's fixed effects and variance components (part ``"variance"``), or
        the neighbours method's size (``k``, reference clients)."""
        if self.fitted.method == "curve":
            vc = self.variance_components
            var = pd.DataFrame(
                {
                    "part": "variance",
                    "term": vc["component"],
                    "estimate": vc["variance"],
                    "se": np.nan,
                }
            )
            return pd.concat([self.coefficients, var], ignore_index=True)
        st = self.settings
        return pd.DataFrame(
            {
                "part": ["neighbours", "neighbours"],
                "term": ["k", "reference clients"],
                "estimate": [float(min(st["k"], st["n_reference"])), float(st["n_reference"])],
                "se": [np.nan, np.nan],
            }
        )

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Expected courses for intake scores at the reference quartiles
        (:func:`toolkit.plots.expected_curves`)."""
        from ..plots.monitoring import expected_curves

        return expected_curves(self, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        return _expected_text(self.settings) + " " + super().methods_text()


def _expected_text(st: dict[str, Any]) -> str:
    extra = [f"covariates {', '.join(st['covariates'])}"] if st["covariates"] else []
    if st["dose"] == "observed":
        extra.append("the observed course length")
    elif st["dose"]:
        extra.append(f"the course length in {st['dose']!r}")
    cond = " and ".join(["the intake score", *extra])
    if st["method"] == "curve":
        time = "log(1 + sessions since intake)" if st["time"] == "log" else "sessions since intake"
        random = (
            "a correlated random intercept and slope"
            if st["random"] == "slope"
            else "a random intercept"
        )
        text = (
            f"Expected recovery curves (Finch, Lambert & Schaalje, 2001) came from a linear "
            f"mixed-effects model of {st['n_reference']} reference clients' scores on {time}, "
            f"with {cond} predicting the level and the rate of change and {random} per client "
            "(REML); a client's band was the prediction interval of a new client's score, "
            "combining the uncertainty of the fixed effects, the spread of clients and the "
            "noise of one score."
        )
    else:
        text = (
            f"Expected courses came from each client's {st['k']} nearest neighbours among "
            f"{st['n_reference']} reference clients (Lutz et al., 2005), matched on {cond} "
            f"({st['distance']} distance on standardised variables); the expected score at "
            "each session was the neighbours' mean and the band their percentiles."
        )
    if st["folds"]:
        text += (
            f" Reference clients were assigned to {st['folds']} cross-fitting folds (seed "
            f"{st['seed']}), so that no client's expected course came from its own scores."
        )
    return text


@dataclass(frozen=True, repr=False, kw_only=True)
class PredictionResult(Result):
    """Expected scores and bands per client and session; see
    :meth:`ExpectedResponseResult.predict`."""

    expected: ExpectedResponseResult = field(repr=False)
    method_name = "expected response"

    def summary(self) -> pd.DataFrame:
        """Per session: clients with a score, mean observed and mean expected score."""
        t = self.table
        return (
            t.assign(observed=t["score"].notna())
            .groupby("session", sort=True)
            .agg(
                n_clients=("client", "size"),
                n_observed=("observed", "sum"),
                mean_score=("score", "mean"),
                mean_expected=("expected", "mean"),
            )
            .reset_index()
        )

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's chart (:func:`toolkit.plots.monitoring_chart`), or the cohort's mean
        observed and expected scores by session."""
        from ..plots.monitoring import cohort_chart, monitoring_chart

        if client is None:
            return cohort_chart(self, ax=ax, **kwargs)
        return monitoring_chart(self, client, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        return (
            _expected_text(self.expected.settings)
            + f" Bands were {_level_text(self.settings['level'])} intervals. "
            + Result.methods_text(self)
        )


@dataclass(frozen=True, repr=False, kw_only=True)
class FlagsResult(Result):
    """Not-on-track flags per client and session; see :meth:`ExpectedResponseResult.flag`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`FLAG_COLUMNS`.
    clients : pandas.DataFrame
        One row per monitored client, columns :data:`FLAG_CLIENT_COLUMNS`.
    expected : ExpectedResponseResult
        The expected response the flags come from.
    """

    expected: ExpectedResponseResult = field(repr=False)
    clients: pd.DataFrame = field(repr=False)
    method_name = "not on track"
    alarm_column = "not_on_track"

    def summary(self) -> pd.DataFrame:
        """Per session: clients monitored, clients flagged there and their share."""
        t = self.table
        flag = t["not_on_track"]
        frame = pd.DataFrame(
            {
                "session": t["session"],
                "monitored": flag.notna().to_numpy(),
                "flagged": flag.fillna(False).to_numpy(dtype=bool),
            }
        )
        out = frame.groupby("session", sort=True).agg(
            n_monitored=("monitored", "sum"), n_flagged=("flagged", "sum")
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out["share_flagged"] = out["n_flagged"] / out["n_monitored"]
        return out.reset_index()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's chart (:func:`toolkit.plots.monitoring_chart`), or the share of
        clients flagged at each session."""
        from ..plots.monitoring import cohort_chart, monitoring_chart

        if client is None:
            return cohort_chart(self, ax=ax, **kwargs)
        return monitoring_chart(self, client, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        edge = "upper" if self.expected.fitted.sign > 0 else "lower"
        flagged = int(self.clients["flagged"].sum())
        return (
            _expected_text(self.expected.settings)
            + f" A client was not on track at a session when the score was beyond the {edge} "
            f"edge of the {_level_text(self.settings['level'])} band; {flagged} of "
            f"{len(self.clients)} clients were flagged at least once. " + Result.methods_text(self)
        )


# --- alarm report ------------------------------------------------------------------------
@dataclass(frozen=True, repr=False, kw_only=True)
class AlarmReportResult(Result):
    """How well alarms foretell an outcome, next to two baselines; see
    :func:`toolkit.monitoring.evaluate_alarms`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`ALARM_COLUMNS`, one row per outcome, window and rule.
    clients : pandas.DataFrame
        Per client: ``client``, ``outcome`` (bool), ``last_session``, ``first_alarm``
        (first alarm session within the evaluated window, per window and rule omitted:
        the method's first alarm before the last session).
    """

    clients: pd.DataFrame = field(repr=False)
    method_name = "alarm report"

    def summary(self) -> pd.DataFrame:
        """The table's headline columns."""
        return self.table[
            [
                "outcome",
                "window",
                "rule",
                "sensitivity",
                "specificity",
                "ppv",
                "median_lead_time",
                "alarms_per_client",
            ]
        ]

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Sensitivity, specificity and PPV per rule (:func:`toolkit.plots.alarm_report`)."""
        from ..plots.monitoring import alarm_report

        return alarm_report(self, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        st = self.settings
        return (
            f"Alarms ({st['rule']}) were evaluated against {st['outcome_text']}: the share of "
            "clients with the outcome who were flagged before their last session "
            "(sensitivity, with Wilson intervals), the share without it who were not "
            "(specificity), the share of flagged clients who had it (positive predictive "
            "value), the median number of sessions between the first alarm and the last "
            "session (lead time) and the mean number of alarms per client; next to a rule "
            "that flags every client and a rule that flags the same number of clients on the "
            "intake score alone (in-sample, which favours it). " + super().methods_text()
        )


# --- service outcomes --------------------------------------------------------------------
@dataclass(frozen=True, repr=False, kw_only=True)
class ServiceOutcomesResult(Result):
    """NHS Talking Therapies outcome measures per client and in total; see
    :func:`toolkit.monitoring.service_outcomes`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per client, columns :data:`SERVICE_COLUMNS`.
    anxiety_scores : LongScores
        The anxiety measure (``scores`` is the depression measure).
    """

    anxiety_scores: LongScores | None = field(default=None, repr=False)
    method_name = "service outcomes"

    def summary(self) -> pd.DataFrame:
        """Counts and percentages of every measure, as services report them.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SERVICE_SUMMARY_COLUMNS`: ``metric``, ``n``, ``denominator`` and
            ``percent`` (100 n / denominator). Metrics: ``clients``, ``finished_course``
            (of clients), ``caseness_first`` and ``caseness_last`` (of finished courses),
            ``moved_to_recovery`` and ``reliable_recovery`` (of finished courses at caseness
            at the first session), ``reliable_improvement`` and ``reliable_deterioration``
            (of finished courses).
        """
        t = self.table
        fin = t["finished_course"].fillna(False).astype(bool)
        case_first = t["caseness_first"].fillna(False).astype(bool)

        def count(col: str, among: pd.Series) -> tuple[int, int]:
            values = t.loc[among, col]
            known = values.notna()
            return int(values[known].astype(bool).sum()), int(known.sum())

        rows = [("clients", len(t), len(t)), ("finished_course", int(fin.sum()), len(t))]
        for col, among in (
            ("caseness_first", fin),
            ("caseness_last", fin),
            ("moved_to_recovery", fin & case_first),
            ("reliable_improvement", fin),
            ("reliable_deterioration", fin),
            ("reliable_recovery", fin & case_first),
        ):
            rows.append((col, *count(col, among)))
        out = pd.DataFrame(rows, columns=["metric", "n", "denominator"])
        with np.errstate(invalid="ignore", divide="ignore"):
            out["percent"] = 100.0 * out["n"] / out["denominator"].where(out["denominator"] > 0)
        return out[SERVICE_SUMMARY_COLUMNS]

    def _criterion_text(self) -> str:
        points = self.settings.get("reliable_change_points")
        if isinstance(points, dict):
            return "; ".join(
                f"{m} {'not available' if p is None else f'{p:g} points'}"
                for m, p in points.items()
            )
        return super()._criterion_text()

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Percentages of each measure (:func:`toolkit.plots.service_outcomes_chart`)."""
        from ..plots.monitoring import service_outcomes_chart

        return service_outcomes_chart(self, ax=ax, **kwargs)

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Reliable improvement (and deterioration) from the first to the last session,
        under the paired rule, one row per client: ``session`` is the last session, ``size``
        the depression measure's change in points."""
        check_direction(direction, "ServiceOutcomesResult.breakthroughs")
        t = self.table
        imp = t["reliable_improvement"].fillna(False).astype(bool)
        det = t["reliable_deterioration"].fillna(False).astype(bool)
        sign = self.settings["depression_sign"]
        size = (sign * (t["depression_first"] - t["depression_last"])).abs()
        parts = []
        for mask, name in ((imp, "improvement"), (det, "deterioration")):
            part = t[mask]
            parts.append(
                pd.DataFrame(
                    {
                        "client": part["client"].to_numpy(),
                        "session": part["last_session"].to_numpy(dtype=np.int64),
                        "size": size[mask].to_numpy(dtype=float),
                        "direction": name,
                        "method": self.method_name,
                    }
                )
            )
        frame = pd.concat([empty_breakthroughs(), *parts], ignore_index=True)
        frame["session"] = frame["session"].astype(np.int64)
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def methods_text(self) -> str:
        """The methods paragraph."""
        st = self.settings
        cases = " or ".join(f"{m} >= {v:g}" for m, v in st["caseness"].items())
        rc = " and ".join(
            f"{m} {v:g} points" for m, v in st["reliable_change_points"].items() if v is not None
        )
        mixed = (
            "counted as neither"
            if st["mixed"] == "neither"
            else "counted as reliable deterioration"
        )
        return (
            "Service outcomes followed the NHS Talking Therapies definitions (National "
            "Collaborating Centre for Mental Health, NHS Talking Therapies Manual; Gyani, "
            f"Shafran, Layard & Clark, 2013): caseness {cases}; a finished course had at least "
            f"{st['min_sessions']} treatment sessions; recovery meant caseness at the first and "
            "not at the last session; reliable improvement a reliable decrease on at least one "
            f"measure ({rc}) and no reliable increase on the other, reliable deterioration the "
            f"mirror image (a reliable change in opposite directions on the two measures was "
            f"{mixed}); reliable recovery both. Clients missing a measure at the first or last "
            + (
                "session were left out of the paired measures. "
                if st["missing"] == "skip"
                else "session were assessed on the measure they had. "
            )
            + super().methods_text()
        )


# --- online monitoring -------------------------------------------------------------------
@dataclass(frozen=True, repr=False, kw_only=True)
class OnlineResult(Result):
    """Online change-point monitoring per client and session; see
    :func:`toolkit.monitoring.online` and :meth:`OnlineMonitor.update`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`ONLINE_COLUMNS`.
    posterior : numpy.ndarray or None
        With ``keep_posterior=True``: the run-length posterior after each row of ``table``,
        shape (rows, run lengths); column j is run length j + 1.
    previous : pandas.DataFrame or None
        For an update: each client's P(breakthrough) and P(deterioration) before it (so
        that ``breakthroughs()`` sees a crossing at the first new session).
    """

    posterior: np.ndarray | None = field(default=None, repr=False)
    previous: pd.DataFrame | None = field(default=None, repr=False)
    method_name = "online change point"
    alarm_column = "p_breakthrough"

    def summary(self) -> pd.DataFrame:
        """Per session: clients monitored and those with P(breakthrough) or
        P(deterioration) at or above the threshold."""
        th = self.settings["threshold"]
        t = self.table
        frame = pd.DataFrame(
            {
                "session": t["session"],
                "breakthrough": (t["p_breakthrough"] >= th).to_numpy(),
                "deterioration": (t["p_deterioration"] >= th).to_numpy(),
            }
        )
        return (
            frame.groupby("session", sort=True)
            .agg(
                n_clients=("breakthrough", "size"),
                n_breakthrough=("breakthrough", "sum"),
                n_deterioration=("deterioration", "sum"),
            )
            .reset_index()
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Sessions at which P(breakthrough) (or P(deterioration)) rises to the threshold
        (``settings["threshold"]``), one row per crossing: ``session`` is that session,
        ``size`` the estimated change (points, positive)."""
        check_direction(direction, "OnlineResult.breakthroughs")
        t = self.table
        parts = []
        for col, name in (("p_breakthrough", "improvement"), ("p_deterioration", "deterioration")):
            if col not in self._crossings:
                continue
            hit = self._crossings[col]
            part = t[hit]
            parts.append(
                pd.DataFrame(
                    {
                        "client": part["client"].to_numpy(),
                        "session": part["session"].to_numpy(dtype=np.int64),
                        "size": part["change_size"].abs().to_numpy(dtype=float),
                        "direction": name,
                        "method": self.method_name,
                    }
                )
            )
        frame = pd.concat([empty_breakthroughs(), *parts], ignore_index=True)
        frame["session"] = frame["session"].astype(np.int64)
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    @property
    def _crossings(self) -> dict[str, np.ndarray]:
        th = self.settings["threshold"]
        t = self.table
        out = {}
        first_row = np.r_[True, t["client"].to_numpy()[1:] != t["client"].to_numpy()[:-1]]
        for col in ("p_breakthrough", "p_deterioration"):
            p = t[col].to_numpy(dtype=float)
            if np.all(np.isnan(p)):
                continue
            before = np.r_[0.0, p[:-1]]
            if self.previous is not None:  # an update: each client's value before it
                start = self.previous.set_index("client")[col].reindex(t["client"])
                before = np.where(first_row, start.fillna(0.0).to_numpy(), before)
            else:
                before = np.where(first_row, 0.0, before)
            out[col] = (p >= th) & (before < th)
        return out

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's chart (:func:`toolkit.plots.monitoring_chart`), or the share of
        clients at or above the threshold by session."""
        from ..plots.monitoring import cohort_chart, monitoring_chart

        if client is None:
            return cohort_chart(self, ax=ax, **kwargs)
        return monitoring_chart(self, client, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        st = self.settings
        return (
            "Breakthroughs were monitored online with Bayesian online change-point detection "
            "(Adams & MacKay, 2007): scores as segments of Normal values with unknown mean and "
            f"variance (Normal-Gamma prior: level {st['prior_mean']:.3g} with SD "
            f"{st['prior_sd']:.3g} points, noise SD {st['noise_sd']:.3g} points worth "
            f"{st['noise_df']:g} observations) and a change before each session with "
            f"probability 1/{st['hazard']:g}. After each session, P(breakthrough) was the "
            f"posterior probability of a change within the last {st['window']} sessions to a "
            "level better by at least the reliable-change criterion; a breakthrough was "
            f"flagged when it reached {st['threshold']:g}. " + super().methods_text()
        )


@dataclass(frozen=True, repr=False, kw_only=True)
class CusumResult(Result):
    """A CUSUM of standardised residuals from the expected curve; see
    :func:`toolkit.monitoring.cusum`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`CUSUM_COLUMNS`.
    clients : pandas.DataFrame
        Columns :data:`CUSUM_CLIENT_COLUMNS` (``n_flags``: sessions in alarm).
    """

    clients: pd.DataFrame = field(repr=False)
    method_name = "CUSUM"
    alarm_column = "alarm"

    def summary(self) -> pd.DataFrame:
        """Per session: clients monitored and clients in alarm."""
        t = self.table
        frame = pd.DataFrame({"session": t["session"], "alarm": t["alarm"].to_numpy(bool)})
        return (
            frame.groupby("session", sort=True)
            .agg(n_clients=("alarm", "size"), n_alarm=("alarm", "sum"))
            .reset_index()
        )

    def breakthroughs(self, direction: Direction = "improvement") -> pd.DataFrame:
        """Sessions at which the CUSUM first reaches its threshold (each episode), in the
        direction it monitors; ``size`` is NaN (a CUSUM does not estimate one)."""
        check_direction(direction, "CusumResult.breakthroughs")
        t = self.table
        alarm = t["alarm"].to_numpy(bool)
        first_row = np.r_[True, t["client"].to_numpy()[1:] != t["client"].to_numpy()[:-1]]
        onset = alarm & (first_row | ~np.r_[False, alarm[:-1]])
        part = t[onset]
        frame = pd.DataFrame(
            {
                "client": part["client"].to_numpy(),
                "session": part["session"].to_numpy(dtype=np.int64),
                "size": np.nan,
                "direction": self.settings["direction"],
                "method": self.method_name,
            }
        )
        if frame.empty:
            frame = empty_breakthroughs()
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """One client's chart with the CUSUM beneath, or the share in alarm by session."""
        from ..plots.monitoring import cohort_chart, monitoring_chart

        if client is None:
            return cohort_chart(self, ax=ax, **kwargs)
        return monitoring_chart(self, client, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        st = self.settings
        return (
            f"A one-sided CUSUM (Page, 1954) of the standardised residuals from the expected "
            f"course (direction: {st['direction']}; allowance {st['allowance']:g}, threshold "
            f"{st['threshold']:g} SD) raised an alarm at every session at which it reached the "
            "threshold. " + super().methods_text()
        )


@dataclass(frozen=True, repr=False, kw_only=True)
class OnlineEvaluationResult(Result):
    """Detection delay and false alarms against simulated truth; see
    :func:`toolkit.monitoring.evaluate_online`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`ONLINE_EVALUATION_COLUMNS`, one row per method, threshold and
        baseline.
    courses : pandas.DataFrame
        Per client and method: ``method``, ``client``, ``change_session`` (NaN: no-change
        course), ``detection_session``, ``delay``, ``n_false_alarms``.
    """

    courses: pd.DataFrame = field(repr=False)
    method_name = "online evaluation"

    def summary(self) -> pd.DataFrame:
        """The table (it is the summary)."""
        return self.table

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Share detected and false alarms per course, per method
        (:func:`toolkit.plots.online_evaluation_chart`)."""
        from ..plots.monitoring import online_evaluation_chart

        return online_evaluation_chart(self, ax=ax, **kwargs)

    def methods_text(self) -> str:
        """The methods paragraph."""
        return (
            "Online detection was evaluated on simulated courses with known changes: the "
            "share of change courses with an alarm at or after the true change, the delay "
            "from the change to the first such alarm (sessions), and the alarm episodes per "
            "course without any change (false alarms), next to rules that always and never "
            f"raise an alarm. {toolkit_citation()}."
        )
