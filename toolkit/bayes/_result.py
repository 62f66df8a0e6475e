"""The result of a Bayesian change-point fit: tables, lazily built InferenceData and model."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import _checks
from .._results import BREAKTHROUGH_COLUMNS, Direction, Result, check_direction, keep_direction

#: Columns of :attr:`BayesResult.table`, one row per analysed client.
TABLE_COLUMNS = [
    "client",
    "n_observed",
    "p_change",
    "p_breakthrough",
    "change_session_mode",
    "change_session_mean",
    "change_session_lower",
    "change_session_upper",
    "change_session_set",
    "jump_mean",
    "jump_lower",
    "jump_upper",
    "level_before_mean",
    "level_after_mean",
    "baseline_mean",
    "pre_slope_mean",
    "post_slope_mean",
    "sigma_mean",
]
#: Columns of :attr:`BayesResult.population`.
POPULATION_COLUMNS = ["parameter", "mean", "sd", "lower", "upper"]
#: Columns of :attr:`BayesResult.diagnostics`, one row per reported parameter.
DIAGNOSTICS_COLUMNS = ["parameter", "size", "r_hat", "ess_bulk", "ess_tail", "worst_client"]
#: Columns of :attr:`BayesResult.change_posterior`, one row per client and candidate session.
CHANGE_POSTERIOR_COLUMNS = ["client", "session", "probability", "in_credible_set"]
#: Columns of :meth:`BayesResult.trajectory`.
TRAJECTORY_COLUMNS = ["session", "score", "mean", "lower", "upper"]
#: Columns of :meth:`BayesResult.summary`.
SUMMARY_COLUMNS = [
    "model",
    "pooling",
    "change",
    "n_clients",
    "n_skipped",
    "expected_changes",
    "expected_breakthroughs",
    "n_p_breakthrough_above_half",
    "r_hat_max",
    "ess_bulk_min",
    "divergences",
]
#: Columns of :meth:`BayesResult.pareto_k`.
PARETO_COLUMNS = ["client", "elpd_loo", "pareto_k"]

_SHAPE_TEXT = {
    "linear": "a linear trend whose level may jump and whose slope may change once",
    "mean": "a mean level that may shift once",
    "broken_stick": "a linear trend whose slope may change once without a jump (a continuous "
    "broken stick)",
}


@dataclass(frozen=True, repr=False)
class BayesResult(Result):
    """A fitted Bayesian change-point model. Build it with :func:`toolkit.bayes.fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed client; columns in :data:`TABLE_COLUMNS` (see :func:`fit`).
    population : pandas.DataFrame
        Population-level posterior summaries (score units, slopes per session):
        ``parameter``, ``mean``, ``sd``, ``lower``, ``upper`` (HDI at ``settings["level"]``).
        Includes ``n_changes`` and ``n_breakthroughs`` (the posterior of the number of clients
        with each) and ``level_before``, ``level_after`` (the average expected score just
        before and just after the change, over the clients who change).
    diagnostics : pandas.DataFrame
        Convergence per reported parameter of a sampled model: ``parameter``, ``size``
        (elements), ``r_hat`` (largest), ``ess_bulk`` and ``ess_tail`` (smallest),
        ``worst_client`` (client with the largest R-hat, for client-level parameters; else
        None). Empty for exact fits (``pooling="none"``), which sample nothing.
    change_posterior : pandas.DataFrame
        P(change at session | change, data) per client and candidate session: ``client``,
        ``session``, ``probability``, ``in_credible_set``.
    divergences : int
        Divergent transitions after tuning.
    idata : arviz.InferenceData or xarray.DataTree
        ``posterior``: score-scale variables only (population parameters, and client-level
        ``baseline``, ``pre_slope``, ``jump``, ``post_slope``, ``level_before``,
        ``level_after``, ``change`` (0/1) and ``change_session`` (NaN without a change)
        drawn from their exact conditional posterior); ``unconstrained_posterior``: the
        sampler's standardised internals (``*_std``); ``log_likelihood`` (``score``: one
        value per client, change summed out, on the score scale); ``observed_data``;
        ``prior``; ``sample_stats``; ``posterior_predictive`` with
        ``fit(..., posterior_predictive=True)``. Built on first use for exact fits.
    model : pymc.Model
        The model (rebuilt on first use after loading, or for exact fits).
    """

    population: pd.DataFrame = field(default_factory=pd.DataFrame)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    change_posterior: pd.DataFrame = field(default_factory=pd.DataFrame)
    divergences: int = 0
    _idata: Any = field(default=None, repr=False)
    _model: Any = field(default=None, repr=False)
    _design: Any = field(default=None, repr=False)
    _spec: Any = field(default=None, repr=False)
    _exact: Any = field(default=None, repr=False)

    method_name = "Bayesian change points"

    # -- lazily built parts ----------------------------------------------------------------
    @property
    def idata(self) -> Any:
        """The InferenceData (or DataTree); see the class docstring."""
        if self._idata is None and self._exact is not None:
            from ._fit import exact_idata

            object.__setattr__(self, "_idata", exact_idata(self))
        return self._idata

    @property
    def model(self) -> Any:
        """The ``pymc.Model`` (see :func:`toolkit.bayes.build_model`)."""
        if self._model is None and self._design is not None:
            from ._model import build

            object.__setattr__(self, "_model", build(self._design, self._spec))
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        # The compiled PyMC model does not pickle; it is rebuilt from the design on use.
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def save(self, path: str | Path) -> Path:
        """Write the result to a file (pickle), to :func:`load` later.

        Parameters
        ----------
        path : str or Path
            The file to write (conventionally ``*.pkl``).

        Returns
        -------
        Path
            The file written.

        Notes
        -----
        Everything but the compiled PyMC model is kept (the model is rebuilt from the saved
        design on first use). Pickle files can run code when loaded: load only files you
        wrote or trust.
        """
        path = Path(path)
        with path.open("wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load(cls, path: str | Path) -> BayesResult:
        """Read a result written by :meth:`save` (only from files you trust)."""
        with Path(path).open("rb") as fh:
            out = pickle.load(fh)
        if not isinstance(out, cls):
            raise TypeError(f"{path} holds a {type(out).__name__}, not a {cls.__name__}.")
        return out

    # -- summaries ---------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """One row: clients, expected changes and breakthroughs, worst R-hat and ESS.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SUMMARY_COLUMNS`: ``model``, ``pooling``, ``change``,
            ``n_clients``, ``n_skipped``, ``expected_changes``, ``expected_breakthroughs``,
            ``n_p_breakthrough_above_half``, ``r_hat_max``, ``ess_bulk_min`` (NaN for exact
            fits), ``divergences``.
        """
        t, dg = self.table, self.diagnostics
        return pd.DataFrame(
            {
                "model": [self.settings["model"]],
                "pooling": [self.settings["pooling"]],
                "change": [self.settings["change"]],
                "n_clients": [len(t)],
                "n_skipped": [len(self.skipped)],
                "expected_changes": [float(t["p_change"].sum())],
                "expected_breakthroughs": [float(t["p_breakthrough"].sum(min_count=1))],
                "n_p_breakthrough_above_half": [int((t["p_breakthrough"] > 0.5).sum())],
                "r_hat_max": [float(dg["r_hat"].max()) if len(dg) else np.nan],
                "ess_bulk_min": [float(dg["ess_bulk"].min()) if len(dg) else np.nan],
                "divergences": [self.divergences],
            }
        )[SUMMARY_COLUMNS]

    def pareto_k(self) -> pd.DataFrame:
        """Each client's leave-one-out predictive density and Pareto k (PSIS-LOO).

        Returns
        -------
        pandas.DataFrame
            Columns ``client``, ``elpd_loo`` (score scale), ``pareto_k`` (above 0.7: the
            client is too influential for importance sampling; NaN for exact fits, whose
            LOO is exact).
        """
        from ._loo import pointwise

        p = pointwise(self)
        return pd.DataFrame(
            {
                "client": self.table["client"].to_numpy(),
                "elpd_loo": p["elpd"].to_numpy(),
                "pareto_k": p["pareto_k"].to_numpy(),
            }
        )[PARETO_COLUMNS]

    def trajectory(
        self, client: Any, *, level: float | None = None, seed: int | np.random.Generator | None = 0
    ) -> pd.DataFrame:
        """Posterior of one client's expected score at every session.

        Parameters
        ----------
        client : client id
        level : float, optional
            Probability of the equal-tailed band (default ``settings["level"]``).
        seed : int or numpy.random.Generator, default 0
            For the draws behind the band.

        Returns
        -------
        pandas.DataFrame
            Columns ``session``, ``score`` (observed; NaN if missing), ``mean`` (posterior
            mean of the expected score; change status and session averaged exactly),
            ``lower``, ``upper`` (equal-tailed band).
        """
        from ._fit import client_curves

        design = self._design
        if client not in design.clients:
            hint = " (it is in .skipped)" if client in set(self.skipped["client"]) else ""
            raise ValueError(
                f"Client {client!r} was not analysed{hint}. Analysed clients include "
                f"{design.clients.tolist()[:10]}."
            )
        level = (
            self.settings["level"]
            if level is None
            else _checks.level(level, "level", "BayesResult.trajectory")
        )
        row = int(design.clients.get_loc(client))
        mean, curves = client_curves(self, row, np.random.default_rng(seed))
        alpha = (1 - level) / 2
        c, R = design.mid, design.scale
        return pd.DataFrame(
            {
                "session": design.sessions,
                "score": design.matrix[row],
                "mean": c + R * mean,
                "lower": c + R * np.quantile(curves, alpha, axis=0),
                "upper": c + R * np.quantile(curves, 1 - alpha, axis=0),
            }
        )[TRAJECTORY_COLUMNS]

    def plot(self, client: Any = None, *, ax: Any = None, **kwargs: Any) -> Any:
        """A client's scores, posterior mean trajectory with band, and change-session posterior.

        ``client`` defaults to the client with the highest P(breakthrough); see
        :func:`toolkit.plots.bayes_trajectory`.
        """
        from ..plots.bayes import bayes_trajectory

        return bayes_trajectory(self, client, ax=ax, **kwargs)

    def breakthroughs(
        self, direction: Direction = "improvement", *, threshold: float = 0.5
    ) -> pd.DataFrame:
        """Clients whose P(breakthrough) exceeds ``threshold``, one row each.

        ``session`` is the most probable change session, ``size`` the absolute posterior
        mean jump (given a change). Only improvements have a posterior probability here, so
        ``direction="deterioration"`` gives no rows; so does a model without a jump
        (``model="broken_stick"``).
        """
        check_direction(direction, "BayesResult.breakthroughs")
        _checks.share(threshold, "threshold", "BayesResult.breakthroughs")
        t = self.table
        hit = t[t["p_breakthrough"].to_numpy(dtype=float) > threshold]
        frame = pd.DataFrame(
            {
                "client": hit["client"].to_numpy(),
                "session": hit["change_session_mode"].to_numpy(dtype=float).astype(np.int64),
                "size": np.abs(hit["jump_mean"].to_numpy(dtype=float)),
                "direction": "improvement",
                "method": self.method_name,
            }
        )
        return keep_direction(frame[BREAKTHROUGH_COLUMNS], direction)

    def client_view(self, *, threshold: float = 0.5, **options: Any) -> pd.DataFrame:
        """Every validated client's posterior, for the per-client table.

        ``bayes_flag``: P(breakthrough) above ``threshold``; ``bayes_session`` is the most
        probable change session and ``bayes_session_lower`` / ``bayes_session_upper`` the
        range of its credible set (at ``settings["level"]``).
        """
        _checks.share(threshold, "threshold", "BayesResult.client_view")
        clients = pd.Index(self._scores.clients, name="client")
        t = self.table.set_index("client").reindex(clients)
        p = t["p_breakthrough"].to_numpy(dtype=float)
        flag = pd.array(p > threshold, dtype="boolean")
        why_missing = (
            "P(breakthrough) not computed: the broken-stick model has no jump"
            if self.settings.get("model") == "broken_stick"
            else "P(breakthrough) not computed: no reliable-change criterion"
        )
        words = np.array(
            [
                f"P(breakthrough) above {threshold:g}",
                f"P(breakthrough) {threshold:g} or below",
                why_missing,
            ],
            dtype=object,
        )
        note = words[np.where(np.isnan(p), 2, np.where(p > threshold, 0, 1))]
        flag[np.isnan(p)] = pd.NA
        analysed = clients.isin(self.table["client"])
        if (~analysed).any():
            reasons = self.skipped.set_index("client")["reason"]
            note[~analysed] = reasons.reindex(clients[~analysed]).to_numpy()
        return pd.DataFrame(
            {
                "client": clients,
                "bayes_flag": flag,
                "bayes_p_breakthrough": p,
                "bayes_p_change": t["p_change"].to_numpy(dtype=float),
                "bayes_session": t["change_session_mode"].to_numpy(dtype=float),
                "bayes_session_lower": t["change_session_lower"].to_numpy(dtype=float),
                "bayes_session_upper": t["change_session_upper"].to_numpy(dtype=float),
                "bayes_note": note,
            }
        )

    def methods_text(self) -> str:
        """The methods paragraph for this analysis: model, priors, computation, citations."""
        from ._fit import prior_text

        st = self.settings
        pooled = st["pooling"] == "hierarchical"
        shape = _SHAPE_TEXT[st["model"]]
        who = (
            "with every client's baseline, slopes and jump drawn from population distributions "
            "learned from the cohort (a hierarchical, mixed-effects change-point model; "
            "Lindeløv, 2020)"
            if pooled
            else "for each client on its own, with fixed priors"
        )
        change = {
            "mixture": "Each client had either no change or one change",
            "always": "Each client had exactly one change",
            "none": "No client had a change (the comparison model)",
        }[st["change"]]
        text = (
            f"Each client's scores were modelled by {shape}, {who}. {change}; the change "
            "session (the first session at the new level) was summed out of the likelihood "
            "exactly and its posterior recovered afterwards, and the client-level effects "
            "were integrated out in closed form. "
            f"{prior_text(self)} "
        )
        if st["model"] != "broken_stick" and st["change"] != "none":
            text += (
                "P(breakthrough) is the posterior probability of a sudden improvement of at "
                f"least {st['breakthrough']:.3g} points. "
            )
        if pooled:
            text += (
                f"The population parameters were sampled with the No-U-Turn sampler (Hoffman "
                f"& Gelman, 2014; {st.get('sampler_used')}, PyMC; Abril-Pla et al., 2023): "
                f"{st['chains']} chains x {st['draws']} draws after {st['tune']} tuning "
                f"steps, seed {st['seed']}; convergence was checked with R-hat and bulk "
                "effective sample size (Vehtari et al., 2021). "
            )
        else:
            text += (
                "Nothing was sampled: each client's noise SD was integrated by quadrature, "
                "so every probability and interval is exact. "
            )
        text += (
            f"Credible sets and highest-density intervals are at {st['level']:.0%}. "
            "Models were compared by leave-one-client-out cross-validation (PSIS-LOO; "
            "Vehtari et al., 2017). "
        )
        return text + super().methods_text()

    def __repr__(self) -> str:
        return (
            f"<BayesResult {self.settings['model']}, {self.settings['pooling']} "
            f"({self.settings['change']}): {len(self.table)} clients, {len(self.skipped)} "
            f"skipped, {self.divergences} divergences, {len(self.warnings)} warnings>"
        )


def load(path: str | Path) -> BayesResult:
    """Read a :class:`BayesResult` written by :meth:`BayesResult.save`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    BayesResult

    Notes
    -----
    The file is a pickle: load only files you wrote or trust.
    """
    return BayesResult.load(path)


def normalise(log_w: np.ndarray, axis: int = 0) -> np.ndarray:
    """Weights from log weights along ``axis``."""
    return np.exp(log_w - logsumexp(log_w, axis=axis, keepdims=True))
