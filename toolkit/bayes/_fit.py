"""Fitting: sampling, the exact per-draw posterior of every client, result and diagnostics."""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import logsumexp, ndtr

from .. import _checks
from .._results import (
    BREAKTHROUGH_COLUMNS,
    Direction,
    Result,
    base_settings,
    check_direction,
    keep_direction,
    warn,
)
from ..data import LongScores, as_scores
from ..errors import ToolkitWarning
from ..instruments import Instrument
from . import _algebra
from ._design import Design, Stats
from ._design import design as make_design
from ._model import (
    NUMPY,
    build,
    check_options,
    combine,
    evidences,
    hyper_draws,
    pymc,
    quiet,
    take_draws,
)

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
    "baseline_mean",
    "pre_slope_mean",
    "post_slope_mean",
]
#: Columns of :attr:`BayesResult.population`.
POPULATION_COLUMNS = ["parameter", "mean", "sd", "lower", "upper"]
#: Columns of :attr:`BayesResult.diagnostics`, one row per reported parameter.
DIAGNOSTICS_COLUMNS = ["parameter", "size", "r_hat", "ess_bulk", "ess_tail", "worst_client"]
#: Columns of :attr:`BayesResult.change_posterior`, one row per client and candidate session.
CHANGE_POSTERIOR_COLUMNS = ["client", "session", "probability", "in_credible_set"]
#: Columns of :meth:`BayesResult.trajectory`.
TRAJECTORY_COLUMNS = ["session", "score", "mean", "lower", "upper"]

SAMPLERS = ("auto", "pymc", "nutpie")
R_HAT_MAX = 1.01
ESS_MIN = 400
_CHUNK = 400_000  # draws x clients x candidates per block of post-processing


# --- exact per-draw posterior of change status, session and effects ---------------------
def _posterior_draws(
    design: Design,
    hyper: SimpleNamespace,
    st: Stats,
    change: str,
    cutoff: float,
    rng: np.random.Generator,
    *,
    detail: bool = False,
) -> dict[str, np.ndarray]:
    """Everything per (draw, client), exact given each draw's population parameters.

    Returns arrays of shape (D, N): ``w`` = P(change | hyper, y), ``loglik`` (change status
    and session summed out), ``p_bt`` = P(breakthrough | hyper, y), conditional means given
    a change (``jump_c``, ``post_slope_c``) and overall (``baseline``, ``pre_slope``), one
    draw of every effect given a change (``draw_c_<effect>``) and from the joint posterior
    (``draw_<effect>``, ``change``, ``session``); and the (N, K) sums ``joint`` of w * q.
    With ``detail`` also ``q`` (D, N, K) and the conditional means ``mean0_<j>`` (D, N) and
    ``meank_<j>`` (D, N, K).
    """
    J0 = design.n_none
    ev0, evk = evidences(st, hyper, change, J0)
    logp = combine(ev0, evk, st.log_prior, hyper.pi, change, NUMPY)
    D, N = logp.shape
    out: dict[str, np.ndarray] = {"loglik": logp}
    _, L0, mean0 = _algebra.evidence(
        st.G0, st.h0, st.yy, st.n, hyper.mean[:J0], hyper.var[:J0], hyper.sigma2, moments=True
    )
    eps0 = [rng.standard_normal((D, N, 1)) for _ in range(J0)]
    draw0 = [m + e for m, e in zip(mean0, _algebra.backward(L0, eps0))]
    if detail:
        out.update({f"mean0_{j}": m[..., 0] for j, m in enumerate(mean0)})
    if change == "none":
        out["w"] = np.zeros((D, N))
        for j, name in enumerate(design.effects[:J0]):
            out[name] = mean0[j][..., 0]
            out[f"draw_{name}"] = draw0[j][..., 0]
        return out
    scored = evk + st.log_prior
    lse = logsumexp(scored, axis=-1)
    q = np.exp(scored - lse[..., None])  # P(k | change, hyper, y)
    w = np.ones((D, N)) if change == "always" else np.exp(np.log(hyper.pi) + lse - logp)
    out["w"], out["joint"] = w, np.einsum("dn,dnk->nk", w, q)
    _, L, meank = _algebra.evidence(
        st.G, st.h, st.yy, st.n, hyper.mean, hyper.var, hyper.sigma2, moments=True
    )
    if detail:
        out["q"] = q
        out.update({f"meank_{j}": m for j, m in enumerate(meank)})
    ji, unit = design.jump_index, design.unit("jump")
    e = [np.zeros_like(q) for _ in meank]
    e[ji] = np.ones_like(q)
    # Conditional SD of the jump: (P^-1)_jj = |L^-1 e_j|^2.
    jump_sd = np.sqrt(sum(x * x for x in _algebra.forward(L, e))) * unit
    improvement = -design.sign * meank[ji] * unit
    out["p_bt"] = w * (q * ndtr((improvement - cutoff) / jump_sd)).sum(axis=-1)
    out["jump_c"] = (q * meank[ji]).sum(axis=-1)
    if "post_slope" in design.effects:
        out["post_slope_c"] = (q * meank[design.effects.index("post_slope")]).sum(axis=-1)
    for j, name in enumerate(design.effects[:J0]):
        out[name] = (1 - w) * mean0[j][..., 0] + w * (q * meank[j]).sum(axis=-1)
    # One joint draw per (draw, client): change status, then session, then effects.
    k = (rng.random((D, N, 1)) > np.cumsum(q, axis=-1)).sum(axis=-1, keepdims=True)
    k = np.minimum(k, q.shape[-1] - 1)
    Lk = [[np.take_along_axis(x, k, axis=-1) for x in row] for row in L]
    eps = [rng.standard_normal((D, N, 1)) for _ in meank]
    draw_c = [
        np.take_along_axis(m, k, axis=-1) + s for m, s in zip(meank, _algebra.backward(Lk, eps))
    ]
    changed = rng.random((D, N)) < w
    out["change"] = changed
    out["k"] = k[..., 0]
    out["session"] = np.where(changed, design.candidate_sessions[k[..., 0]], np.nan)
    for j, name in enumerate(design.effects):
        out[f"draw_c_{name}"] = draw_c[j][..., 0]
        if j < J0:
            other = draw0[j][..., 0]
        else:  # without a change, a change-only effect keeps its population distribution
            other = hyper.mean[j][..., 0] + np.sqrt(hyper.var[j][..., 0]) * eps[j][..., 0]
        out[f"draw_{name}"] = np.where(changed, draw_c[j][..., 0], other)
    return out


# --- fitting ------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class BayesResult(Result):
    """A fitted Bayesian change-point model. Build it with :func:`fit`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed client; columns in :data:`TABLE_COLUMNS` (see :func:`fit`).
    population : pandas.DataFrame
        Population-level posterior summaries: ``parameter``, ``mean``, ``sd``, ``lower``,
        ``upper`` (HDI at ``settings["level"]``). Includes ``n_changes`` and
        ``n_breakthroughs``, the posterior of the number of clients with each.
    diagnostics : pandas.DataFrame
        Convergence per reported parameter: ``parameter``, ``size`` (elements),
        ``r_hat`` (largest), ``ess_bulk`` and ``ess_tail`` (smallest), ``worst_client``
        (client with the largest R-hat, for client-level parameters; else None).
    change_posterior : pandas.DataFrame
        P(change at session | change, data) per client and candidate session: ``client``,
        ``session``, ``probability``, ``in_credible_set``.
    divergences : int
        Divergent transitions after tuning.
    idata : arviz.InferenceData
        ``posterior`` (population parameters as sampled, plus client-level ``baseline``,
        ``pre_slope``, ``jump``, ``post_slope``, ``change`` (0/1) and ``change_session``
        (NaN without a change) drawn from their exact conditional posterior), sample stats
        and ``log_likelihood`` (one value per client, change summed out).
    model : pymc.Model
        The sampled model.
    """

    population: pd.DataFrame = field(default_factory=pd.DataFrame)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    change_posterior: pd.DataFrame = field(default_factory=pd.DataFrame)
    divergences: int = 0
    idata: Any = None
    model: Any = None
    _design: Any = field(default=None, repr=False)

    method_name = "Bayesian change points"

    def __getstate__(self) -> dict[str, Any]:
        # The compiled PyMC model does not pickle; it is rebuilt from the design on load.
        state = dict(self.__dict__)
        state["model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if state.get("model") is None and state.get("_design") is not None:
            object.__setattr__(self, "model", build(state["_design"], state["settings"]["change"]))

    def summary(self) -> pd.DataFrame:
        """One row: clients, expected changes and breakthroughs, worst R-hat and ESS.

        Returns
        -------
        pandas.DataFrame
            Columns ``model``, ``change``, ``n_clients``, ``n_skipped``,
            ``expected_changes``, ``expected_breakthroughs``,
            ``n_p_breakthrough_above_half``, ``r_hat_max``, ``ess_bulk_min``,
            ``divergences``.
        """
        t, dg = self.table, self.diagnostics
        return pd.DataFrame(
            {
                "model": [self.settings["model"]],
                "change": [self.settings["change"]],
                "n_clients": [len(t)],
                "n_skipped": [len(self.skipped)],
                "expected_changes": [float(t["p_change"].sum())],
                "expected_breakthroughs": [float(t["p_breakthrough"].sum())],
                "n_p_breakthrough_above_half": [int((t["p_breakthrough"] > 0.5).sum())],
                "r_hat_max": [float(dg["r_hat"].max())],
                "ess_bulk_min": [float(dg["ess_bulk"].min())],
                "divergences": [self.divergences],
            }
        )

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
        design: Design = self._design
        if client not in design.clients:
            hint = " (it is in .skipped)" if client in set(self.skipped["client"]) else ""
            raise ValueError(
                f"Client {client!r} was not analysed{hint}. Analysed clients include "
                f"{design.clients.tolist()[:10]}."
            )
        level = self.settings["level"] if level is None else level
        row = [design.clients.get_loc(client)]
        change = self.settings["change"]
        hyper = hyper_draws(self.idata["posterior"], design, change, rows=row)
        out = _posterior_draws(
            design,
            hyper,
            design.stats.take(row),
            change,
            self.settings["breakthrough"],
            np.random.default_rng(seed),
            detail=True,
        )
        J0, w = design.n_none, out["w"][:, 0]
        # Expected standardised score per draw: exact mixture over change status and session.
        mu0 = sum(out[f"mean0_{j}"][:, 0, None] * design.rows0[:, j] for j in range(J0))
        mean = (1 - w)[:, None] * mu0
        draw = sum(
            out[f"draw_{e}"][:, 0, None] * design.rows0[:, j]
            for j, e in enumerate(design.effects[:J0])
        )
        if change != "none":
            J = len(design.effects)
            muk = sum(
                out[f"meank_{j}"][:, 0, :, None] * design.rows[None, :, :, j] for j in range(J)
            )  # (D, K, T)
            mean = mean + w[:, None] * np.einsum("dk,dkt->dt", out["q"][:, 0], muk)
            rows_k = design.rows[out["k"][:, 0]]  # (D, T, J): rows at each draw's session
            changed = sum(
                out[f"draw_{e}"][:, 0, None] * rows_k[:, :, j] for j, e in enumerate(design.effects)
            )
            draw = np.where(out["change"][:, 0, None], changed, draw)
        alpha = (1 - level) / 2
        c, R = design.mid, design.scale
        return pd.DataFrame(
            {
                "session": design.sessions,
                "score": design.matrix[row[0]],
                "mean": c + R * mean.mean(axis=0),
                "lower": c + R * np.quantile(draw, alpha, axis=0),
                "upper": c + R * np.quantile(draw, 1 - alpha, axis=0),
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
        ``direction="deterioration"`` gives no rows.
        """
        check_direction(direction, "BayesResult.breakthroughs")
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
        words = np.array(
            [
                f"P(breakthrough) above {threshold:g}",
                f"P(breakthrough) {threshold:g} or below",
                "P(breakthrough) not computed: no reliable-change criterion",
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
        """The methods paragraph for this analysis."""
        st = self.settings
        model = {
            "hierarchical": "a hierarchical (mixed-effects) change-point model in which "
            "clients' baselines, slopes and jumps come from population "
            "distributions",
            "trend": "a per-client linear trend whose level may jump and whose slope "
            "may change once",
            "mean_shift": "a per-client mean that may shift once",
        }[st["model"]]
        text = (
            f"Each client's scores were modelled by {model} (PyMC; the change session "
            "was marginalised exactly and recovered per draw). P(breakthrough) is the "
            "posterior probability of a sudden improvement of at least "
            f"{st['breakthrough']:.3g} points. Sampling: {st['chains']} chains x "
            f"{st['draws']} draws after {st['tune']} tuning steps ({st.get('sampler_used')}, "
            f"seed {st['seed']}); credible sets and HDIs at {st['level']:.0%}. "
        )
        return text + super().methods_text()

    def __repr__(self) -> str:
        return (
            f"<BayesResult {self.settings['model']} ({self.settings['change']}): "
            f"{len(self.table)} clients, {len(self.skipped)} skipped, "
            f"{self.divergences} divergences, {len(self.warnings)} warnings>"
        )


def fit(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["hierarchical", "trend", "mean_shift"] = "hierarchical",
    change: Literal["mixture", "always", "none"] = "mixture",
    covariates: Sequence[str] | None = None,
    better: Literal["lower", "higher"] | None = None,
    breakthrough: float | None = None,
    level: float = 0.9,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    target_accept: float = 0.9,
    sampler: Literal["auto", "pymc", "nutpie"] = "auto",
    seed: int | np.random.Generator | None = None,
    progress: bool | None = None,
) -> BayesResult:
    """Fit a Bayesian change-point model and summarise every client's change.

    Parameters
    ----------
    data, client, session, score, instrument, model, change, covariates, better
        As in :func:`build_model`.
    breakthrough : float, optional
        Smallest improvement (score points) that counts as a breakthrough. Default: the
        scores' reliable-change criterion (``scores.reliable_change``, the one every method
        shares; see :mod:`toolkit.criterion`). Without any criterion P(breakthrough) is
        missing and a warning says so.
    level : float, default 0.9
        Probability of the credible set of the change session and of the HDIs.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains.
    cores : int, optional
        Chains run in parallel on this many cores (default: all, at most ``chains``).
    target_accept : float, default 0.9
        NUTS target acceptance; raise it (0.95, 0.99) if there are divergences.
    sampler : {"auto", "pymc", "nutpie"}, default "auto"
        NUTS implementation: ``"auto"`` uses nutpie when it is installed, else PyMC's
        (see Notes).
    seed : int or numpy.random.Generator, optional
        Same seed, same draws (sampling and the client-level draws after it).
    progress : bool, optional
        Show the sampler's progress bar (default: the global option).

    Returns
    -------
    BayesResult
        ``table`` has one row per analysed client:

        - ``client``; ``n_observed``: observed scores;
        - ``p_change``: posterior probability of a change (1 with ``change="always"``,
          0 with ``"none"``);
        - ``p_breakthrough``: P(a change that improves by at least ``breakthrough`` points);
        - ``change_session_mode``, ``change_session_mean``: most probable and mean change
          session (the first session at the new level), given a change;
        - ``change_session_set``: the smallest set of sessions holding at least ``level`` of
          the posterior given a change (a tuple); ``change_session_lower``,
          ``change_session_upper``: its first and last session;
        - ``jump_mean``, ``jump_lower``, ``jump_upper``: posterior mean and HDI of the jump
          in score points (signed like the scores), given a change;
        - ``baseline_mean``: expected score at the first session; ``pre_slope_mean``: slope
          per session before (or without) a change; ``post_slope_mean``: slope per session
          after a change, given one. NaN where the model has no such quantity.

        Plus ``population``, ``diagnostics``, ``change_posterior``, ``divergences``,
        ``skipped`` (clients with fewer than 4 observed scores, with the reason),
        ``warnings``, ``idata``, ``model`` and ``settings``.

    Raises
    ------
    EmptyDataError, DataError, ValueError
        As in :func:`build_model`; also bad sampling options, or no breakthrough cut-off
        (no instrument, or one without a reliability, and ``breakthrough=None``).

    Warns
    -----
    ToolkitWarning
        When a reported parameter has R-hat > 1.01 or bulk ESS < 400, or when any
        transition diverged; the message names the parameters and the fix.

    Notes
    -----
    Everything per posterior draw is exact given that draw's population parameters, then
    averaged over draws (Rao-Blackwellisation): ``w_i = P(change | hyper, y_i)``,
    ``q_ik = P(change at k | change, hyper, y_i)`` (normalised weights of the candidates),
    ``P(change) = mean(w)``, ``P(k | change) = mean(w q_k) / mean(w)``,
    ``P(breakthrough) = mean(w sum_k q_k Phi((I_k - cut-off) / sd_k))`` with ``I_k`` and
    ``sd_k`` the conditional posterior mean of the improvement (``-jump`` when lower scores
    are better) and its SD. Jump summaries given a change use one draw of the jump per
    posterior draw, weighted by ``w``. ``log_likelihood`` holds ``log p(y_i | hyper)`` per
    client, so :func:`compare` leaves one client out at a time.

    One gradient costs O(clients x candidates) operations in one compiled loop. In
    ``benchmarks/bench_bayes.py`` (4 chains x 1,000 draws, 2 cores) nutpie fitted 25, 200 and
    1,000 clients in 0.75, 0.50 and 0.36 times PyMC's wall time, with as many effective
    draws per second at 25 and 200 clients and 2.7 times as many at 1,000, so ``"auto"``
    prefers it. Both met R-hat <= 1.01 with no divergences.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to
    defining meaningful change in psychotherapy research. Journal of Consulting and Clinical
    Psychology, 59(1), 12-19.
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: An improved R-hat for assessing
    convergence of MCMC. Bayesian Analysis, 16(2), 667-718.

    Examples
    --------
    >>> import warnings, toolkit
    >>> from toolkit import bayes, simulate
    >>> df, truth = simulate.trajectories(8, 10, baseline=40, gain_share=1.0,
    ...                                   nonresponder_share=1.0, gain_size=(15, 1), seed=2)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", toolkit.errors.ToolkitWarning)  # short chains
    ...     res = bayes.fit(df, client="client", session="session", score="score",
    ...                     instrument="BDI-II", model="mean_shift", chains=2, tune=200,
    ...                     draws=200, seed=1, progress=False)
    >>> bool((res.table["p_change"] > 0.8).all())
    True
    >>> all(s in found for s, found in zip(truth["session"], res.table["change_session_set"]))
    True
    """
    check_options(model, change)
    _check_sampling(draws, tune, chains, cores, target_accept, sampler, level)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(scores, model=model, covariates=covariates, better=better)
    cut, cut_source = _breakthrough_cutoff(scores, breakthrough, change)
    seed = _seed_int(seed)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    settings = base_settings(
        scores,
        seed=seed,
        model=model,
        change=change,
        covariates=list(design.covariate_names),
        breakthrough=cut,
        breakthrough_source=cut_source,
        level=level,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        target_accept=target_accept,
        sampler=sampler,
        prior_scale=design.scale,
        prior_midpoint=design.mid,
    )
    settings["better"] = "lower" if design.sign == 1 else "higher"
    if cut_source == "per call":
        settings.update(reliable_change_points=cut, reliable_change_source="per call")
    pm_model = build(design, change)
    used, idata, seconds = _sample(
        pm_model,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        target_accept=target_accept,
        sampler=sampler,
        seed=seed,
        progress=progress,
    )
    settings.update(sampler_used=used, sampling_seconds=seconds)
    return _result(design, idata, pm_model, settings)


def _check_sampling(
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    target_accept: float,
    sampler: str,
    level: float,
) -> None:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}; got {value!r}.")
    if cores is not None and (int(cores) != cores or cores < 1):
        raise ValueError(f"cores must be a whole number >= 1 or None; got {cores!r}.")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie in (0, 1); got {target_accept!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level!r}.")
    if sampler not in SAMPLERS:
        raise ValueError(
            f"The 'sampler' parameter must be one of {set(SAMPLERS)}. Got {sampler!r} instead."
        )


def _breakthrough_cutoff(scores: LongScores, breakthrough: Any, change: str) -> tuple[float, str]:
    """The smallest improvement that counts as a breakthrough, and where it comes from."""
    if breakthrough is not None:
        value = _checks.number(breakthrough, "breakthrough", "bayes.fit", low=0.0)
        return value, "per call"
    crit = scores.reliable_change
    if not crit.available:
        if change != "none":
            warn(
                f"P(breakthrough) not computed (missing): the reliable-change criterion is {crit}",
                stacklevel=4,
            )
        return float("nan"), "none"
    return float(crit.points), crit.source  # type: ignore[arg-type]


def _seed_int(seed: int | np.random.Generator | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31 - 1))
    return int(seed)


def _sample(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    target_accept: float,
    sampler: str,
    seed: int,
    progress: bool | None,
) -> tuple[str, Any, float]:
    from .._options import progress_enabled

    progress = progress_enabled(progress)
    used = sampler
    if sampler == "auto":  # measured faster in benchmarks/bench_bayes.py at every size
        used = "nutpie" if importlib.util.find_spec("nutpie") is not None else "pymc"
    cores = min(chains, os.cpu_count() or 1) if cores is None else cores
    start = time.perf_counter()
    with quiet():
        if used == "nutpie":
            try:
                import nutpie
            except ImportError:
                raise ImportError(
                    "sampler='nutpie' needs the nutpie package. Fix: pip install nutpie, or "
                    "use sampler='pymc'."
                ) from None
            compiled = nutpie.compile_pymc_model(model)
            idata = nutpie.sample(
                compiled,
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                seed=seed,
                progress_bar=progress,
                target_accept=target_accept,
                save_warmup=False,
            )
        else:
            idata = pymc().sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=seed,
                progressbar=progress,
                model=model,
                target_accept=target_accept,
                compute_convergence_checks=False,
            )
    return used, idata, time.perf_counter() - start


# --- from draws to the result -------------------------------------------------------------
def _result(design: Design, idata: Any, model: Any, settings: dict) -> BayesResult:
    change, level, cut = settings["change"], settings["level"], settings["breakthrough"]
    post = idata["posterior"]
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    hyper = hyper_draws(post, design, change)
    D, N, K = hyper.n_draws, len(design.clients), len(design.candidates)
    rng = np.random.default_rng([settings["seed"], 1])
    keys = [
        "w",
        "loglik",
        "p_bt",
        "jump_c",
        "post_slope_c",
        "baseline",
        "pre_slope",
        "change",
        "session",
    ]
    keys += [f"draw_{e}" for e in design.effects] + ["draw_c_jump"]  # what is used below
    acc: dict[str, list] = {}
    joint = np.zeros((N, K))
    step = max(1, _CHUNK // max(N * K, 1))
    for start in range(0, D, step):
        part = _posterior_draws(
            design, take_draws(hyper, slice(start, start + step)), design.stats, change, cut, rng
        )
        if "joint" in part:
            joint += part.pop("joint")
        for key, value in part.items():
            if key in keys:
                acc.setdefault(key, []).append(value)
    out = {k: np.concatenate(v) for k, v in acc.items()}

    w = out["w"]
    p_change = w.mean(axis=0)
    cand = design.candidate_sessions.astype(float)
    if change == "none":
        cond = np.full((N, K), np.nan)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = joint / w.sum(axis=0)[:, None]  # P(k | change, y)
    mode, mean, in_set = _session_summaries(cond, cand, level)
    set_lo = np.where(in_set, cand[None, :], np.inf).min(axis=1, initial=np.inf)
    set_hi = np.where(in_set, cand[None, :], -np.inf).max(axis=1, initial=-np.inf)
    empty = ~in_set.any(axis=1)
    set_lo[empty], set_hi[empty] = np.nan, np.nan
    sessions_set = [tuple(int(s) for s in design.candidate_sessions[r]) for r in in_set]
    nan = np.full(N, np.nan)

    if change != "none":
        ju = design.unit("jump")
        with np.errstate(invalid="ignore", divide="ignore"):
            jump_mean = (w * out["jump_c"]).sum(axis=0) / w.sum(axis=0) * ju
        _, jump_lo, jump_hi = _weighted_summary(out["draw_c_jump"] * ju, w, level)
        p_bt = out["p_bt"].mean(axis=0)
        post_mean = nan
        if "post_slope_c" in out:
            with np.errstate(invalid="ignore", divide="ignore"):
                post_mean = design.to_score(
                    "post_slope", (w * out["post_slope_c"]).sum(axis=0) / w.sum(axis=0)
                )
    else:
        jump_mean = jump_lo = jump_hi = post_mean = nan
        p_bt = np.zeros(N)
    table = pd.DataFrame(
        {
            "client": design.clients.to_numpy(),
            "n_observed": design.stats.n.astype(np.int64),
            "p_change": p_change,
            "p_breakthrough": p_bt,
            "change_session_mode": mode,
            "change_session_mean": mean,
            "change_session_lower": set_lo,
            "change_session_upper": set_hi,
            "change_session_set": sessions_set,
            "jump_mean": jump_mean,
            "jump_lower": jump_lo,
            "jump_upper": jump_hi,
            "baseline_mean": design.to_score("baseline", out["baseline"].mean(axis=0)),
            "pre_slope_mean": (
                design.to_score("pre_slope", out["pre_slope"].mean(axis=0))
                if "pre_slope" in out
                else nan
            ),
            "post_slope_mean": post_mean,
        }
    )[TABLE_COLUMNS]
    change_posterior = pd.DataFrame(
        {
            "client": np.repeat(design.clients.to_numpy(), K),
            "session": np.tile(design.candidate_sessions, N),
            "probability": cond.reshape(-1),
            "in_credible_set": in_set.reshape(-1),
        }
    )[CHANGE_POSTERIOR_COLUMNS]
    if change == "none":
        change_posterior = change_posterior.iloc[:0].reset_index(drop=True)

    def shaped(v):
        return v.reshape(n_chains, n_draws, N)

    client_draws = {
        e: shaped(design.to_score(e, out[f"draw_{e}"]))
        for e in design.effects
        if f"draw_{e}" in out
    }
    if change != "none":
        client_draws["change"] = shaped(out["change"].astype(np.int8))
        client_draws["change_session"] = shaped(out["session"])
    idata = _add_draws(idata, client_draws, shaped(out["loglik"]), design.clients)
    population = _population_table(idata, design, out, settings)
    diagnostics, divergences = _diagnostics(idata, design)
    messages = _diagnostic_warnings(diagnostics, divergences, settings)
    return BayesResult(
        table=table,
        settings=settings,
        skipped=design.skipped,
        warnings=tuple(messages),
        population=population,
        diagnostics=diagnostics,
        change_posterior=change_posterior,
        divergences=divergences,
        idata=idata,
        model=model,
        _design=design,
        scores=design.scores,
    )


def _session_summaries(
    cond: np.ndarray, cand: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mode, mean and highest-probability credible set of the change session per client."""
    N, K = cond.shape
    undefined = np.isnan(cond).any(axis=1)  # no posterior mass on a change at all
    cond = np.where(undefined[:, None], 0.0, cond)
    mode = np.where(undefined, np.nan, cand[np.argmax(cond, axis=1)])
    mean = np.where(undefined, np.nan, cond @ cand)
    order = np.argsort(-cond, axis=1, kind="stable")
    sorted_p = np.take_along_axis(cond, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p
    in_set = np.zeros((N, K), dtype=bool)
    np.put_along_axis(in_set, order, before < level - 1e-12, axis=1)  # add until >= level
    in_set[undefined] = False
    return mode, mean, in_set


def _weighted_summary(
    values: np.ndarray, weights: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean and highest-density interval of each column (draws x columns).

    The HDI is the narrowest interval between two draws holding at least ``level`` of the
    weight.
    """
    D, N = values.shape
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weights * values).sum(axis=0) / total
        wn = weights / total
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    wn = np.take_along_axis(wn, order, axis=0)
    cw = np.cumsum(wn, axis=0)
    start = cw - wn
    # One search over all columns at once: column j's cumulative weights lie in [2j, 2j + 1].
    offset = 2.0 * np.arange(N)[None, :]
    flat = (cw + offset).T.ravel()
    target = (start + level - 1e-9 + offset).T.ravel()
    end = np.searchsorted(flat, target, side="left").reshape(N, D).T - np.arange(N) * D
    ok = (end < D) & (wn > 0)
    end = np.minimum(end, D - 1)
    width = np.where(ok, np.take_along_axis(v, end, axis=0) - v, np.inf)
    best = np.argmin(width, axis=0)
    cols = np.arange(N)
    lower, upper = v[best, cols], v[end[best, cols], cols]
    bad = ~np.isfinite(width[best, cols]) | ~(total > 0)
    lower[bad], upper[bad] = np.nan, np.nan
    mean[~(total > 0)] = np.nan
    return mean, lower, upper


def _add_draws(idata: Any, client_draws: dict, loglik: np.ndarray, clients: pd.Index) -> Any:
    """Add the client-level draws to ``posterior`` and a ``log_likelihood`` group."""
    import xarray as xr

    n_chains, n_draws, _ = loglik.shape
    coords = {
        "chain": np.asarray(idata["posterior"]["chain"].values),
        "draw": np.asarray(idata["posterior"]["draw"].values),
        "client": clients.tolist(),
    }

    def da(v):
        return xr.DataArray(v, dims=("chain", "draw", "client"), coords=coords)

    ll = xr.Dataset({"score": da(loglik)})
    if hasattr(idata, "add_groups"):  # ArviZ InferenceData
        idata.posterior = idata.posterior.assign({k: da(v) for k, v in client_draws.items()})
        if "log_likelihood" in idata.groups():
            del idata.log_likelihood
        idata.add_groups({"log_likelihood": ll})
    else:  # xarray DataTree (ArviZ 1.x)
        node = idata["posterior"].to_dataset().assign({k: da(v) for k, v in client_draws.items()})
        idata["posterior"] = xr.DataTree(dataset=node)
        idata["log_likelihood"] = xr.DataTree(dataset=ll)
    return idata


def _population_table(idata: Any, design: Design, out: dict, settings: dict) -> pd.DataFrame:
    post = idata["posterior"]
    rows: list[tuple[str, np.ndarray]] = []

    def flat(name):
        return np.asarray(post[name].values, dtype=float).reshape(-1)

    for name in design.effects:
        for part in ("mu", "sd"):
            if f"{name}_{part}" in post:
                rows.append((f"{name}_{part}", flat(f"{name}_{part}")))
    for key in ("beta_baseline", "beta_jump"):
        if key in post:
            v = np.asarray(post[key].values, dtype=float)
            v = v.reshape(-1, v.shape[-1])
            rows += [(f"{key}[{n}]", v[:, j]) for j, n in enumerate(design.covariate_names)]
    if design.model == "hierarchical":
        rows.append(("sigma", flat("sigma")))
    if "p_change" in post:
        rows.append(("p_change", flat("p_change")))
    if "change" in out:  # counts over the cohort, from the joint draws of change status
        changed = out["change"]
        rows.append(("n_changes", changed.sum(axis=1).astype(float)))
        better = -design.sign * design.unit("jump") * out["draw_jump"] >= settings["breakthrough"]
        rows.append(("n_breakthroughs", (changed & better).sum(axis=1).astype(float)))
    values = np.column_stack([v for _, v in rows])
    _, lower, upper = _weighted_summary(values, np.ones_like(values), settings["level"])
    return pd.DataFrame(
        {
            "parameter": [n for n, _ in rows],
            "mean": values.mean(axis=0),
            "sd": values.std(axis=0, ddof=1) if len(values) > 1 else np.nan,
            "lower": lower,
            "upper": upper,
        }
    )[POPULATION_COLUMNS]


def _diagnostics(idata: Any, design: Design) -> tuple[pd.DataFrame, int]:
    """R-hat and ESS of the score-unit parameters (client-level ones as drawn)."""
    import arviz as az
    import xarray as xr

    post = idata["posterior"]
    names = [
        str(n)
        for n in post.data_vars  # transformed copies (nutpie) end in "__"
        if not str(n).endswith(("_std", "__")) and n not in ("change", "change_session")
    ]
    ds = xr.Dataset({n: post[n] for n in names})
    n_chains, n_draws = ds.sizes["chain"], ds.sizes["draw"]
    with warnings.catch_warnings():
        # Too few draws or a constant parameter give undefined values: reported as NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        if n_chains > 1 and n_draws >= 4:
            rhat = az.rhat(ds)
        else:
            rhat = None
        ess_bulk = az.ess(ds, method="bulk") if n_draws >= 4 else None
        ess_tail = az.ess(ds, method="tail") if n_draws >= 4 else None

    def values(result, n, size):
        if result is None:
            return np.full(size, np.nan)
        return np.asarray(result[n].values, dtype=float).reshape(-1)

    rows = []
    for n in names:
        size = int(
            np.prod(
                [post[n].sizes[d] for d in post[n].dims if d not in ("chain", "draw")], dtype=int
            )
        )
        r, eb, et = (values(x, n, size) for x in (rhat, ess_bulk, ess_tail))
        worst = None
        if "client" in post[n].dims and np.isfinite(r).any():
            worst = design.clients[int(np.nanargmax(r))]
        rows.append(
            (
                n,
                size,
                np.nanmax(r) if np.isfinite(r).any() else np.nan,
                np.nanmin(eb) if np.isfinite(eb).any() else np.nan,
                np.nanmin(et) if np.isfinite(et).any() else np.nan,
                worst,
            )
        )
    table = pd.DataFrame(rows, columns=DIAGNOSTICS_COLUMNS)
    table["worst_client"] = pd.Series([r[-1] for r in rows], dtype=object)  # keep None
    stats = idata["sample_stats"]
    divergences = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0
    return table, divergences


def _diagnostic_warnings(dg: pd.DataFrame, divergences: int, settings: dict) -> list[str]:
    def named(rows, column, fmt):
        parts = []
        for _, r in rows.iterrows():
            worst = r["worst_client"]
            where = "" if worst is None or pd.isna(worst) else f", worst for client {worst}"
            parts.append(f"{r['parameter']} ({fmt.format(r[column])}{where})")
        return ", ".join(parts)

    messages = []
    bad_rhat = dg[dg["r_hat"] > R_HAT_MAX]
    if len(bad_rhat):
        messages.append(
            warn(
                f"R-hat above {R_HAT_MAX} for {named(bad_rhat, 'r_hat', 'R-hat {:.3f}')}: the "
                "chains disagree, so these summaries are not yet reliable. Fix: sample longer "
                f"(e.g. tune={2 * settings['tune']}, draws={2 * settings['draws']}) or with more "
                "chains; if it persists, look at these clients' data.",
                ToolkitWarning,
                stacklevel=5,
            )
        )
    low_ess = dg[dg["ess_bulk"] < ESS_MIN]
    if len(low_ess):
        messages.append(
            warn(
                f"Bulk effective sample size below {ESS_MIN} for "
                f"{named(low_ess, 'ess_bulk', 'ESS {:.0f}')}: posterior means and intervals are "
                f"imprecise. Fix: more draws (e.g. draws={2 * settings['draws']}) or chains.",
                ToolkitWarning,
                stacklevel=5,
            )
        )
    if divergences:
        messages.append(
            warn(
                f"{divergences} divergent transition(s) after tuning: the sampler may have missed "
                "part of the posterior. Fix: raise target_accept (e.g. 0.95 or 0.99); if they "
                "persist, look at clients with few sessions or extreme scores.",
                ToolkitWarning,
                stacklevel=5,
            )
        )
    return messages


def compare(results: Mapping[str, BayesResult]) -> pd.DataFrame:
    """Rank fitted models by PSIS-LOO, leaving one client out at a time.

    Parameters
    ----------
    results : dict of {name: BayesResult}
        At least two fits to the same clients (e.g. ``change="mixture"`` and
        ``change="none"``).

    Returns
    -------
    pandas.DataFrame
        One row per model, best first: ``model`` and ArviZ's ``rank``, ``elpd_loo``,
        ``p_loo``, ``elpd_diff``, ``weight``, ``se``, ``dse``, ``warning``, ``scale``.

    Raises
    ------
    ValueError
        Fewer than two results, or fits to different clients.

    Warns
    -----
    ToolkitWarning
        When a model has Pareto k > 0.7 for some client (its LOO estimate is unreliable).

    Notes
    -----
    The unit left out is a client, so the comparison asks which model better predicts a new
    client's whole trajectory; each client's log-likelihood has the change summed out.

    References
    ----------
    Vehtari, A., Gelman, A., & Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. Statistics and Computing, 27(5), 1413-1432.
    """
    if not isinstance(results, Mapping) or len(results) < 2:
        raise ValueError(
            "compare() needs a dict of at least two fitted results, e.g. "
            "{'change': fit(...), 'no change': fit(..., change='none')}."
        )
    first = None
    for name, r in results.items():
        if not isinstance(r, BayesResult):
            raise TypeError(f"results[{name!r}] is a {type(r).__name__}, not a BayesResult.")
        clients = r.table["client"].tolist()
        if first is None:
            first = clients
        elif clients != first:
            raise ValueError(
                f"results[{name!r}] was fitted to other clients than the first model; LOO "
                "needs the same clients. Fix: fit every model to the same data."
            )
    import arviz as az

    with warnings.catch_warnings():
        # Pareto k is summarised below; ArviZ's own deprecation notices are not the user's.
        warnings.simplefilter("ignore")
        table = az.compare(
            {k: _for_loo(r.idata) for k, r in results.items()}, ic="loo", var_name="score"
        )
    table = table.reset_index(names="model")
    flagged = table.loc[table["warning"].astype(bool), "model"].tolist()
    if flagged:
        warn(
            f"PSIS-LOO is unreliable for {flagged}: some clients have Pareto k > 0.7 "
            "(highly influential). Fix: read small elpd differences with caution, or refit "
            "leaving those clients out (exact LOO).",
            ToolkitWarning,
            stacklevel=3,
        )
    return table


def _for_loo(idata):
    """The groups LOO reads, without the change session (NaN when there is no change)."""
    import arviz as az

    post = idata["posterior"]
    keep = [str(v) for v in post.data_vars if v not in ("change", "change_session")]
    if hasattr(idata, "add_groups"):
        return az.InferenceData(posterior=post[keep], log_likelihood=idata["log_likelihood"])
    return idata
