"""Fitting: exact computation or sampling, the per-client posterior, result and diagnostics."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import _checks
from .._results import base_settings, warn
from ..data import LongScores, as_scores
from ..errors import OptionError, ToolkitWarning
from ..instruments import Instrument
from . import _idata
from ._design import Design
from ._design import design as make_design
from ._exact import exact_posterior, node_hyper, sigma_nodes
from ._model import (
    ALONE_SD,
    BETA_SD,
    HEAVY_SCALES,
    HEAVY_WEIGHTS,
    HOLE_SD,
    MU_SD,
    SD_SD,
    SIGMA_SD,
    WEIGHT_A,
    Spec,
    build,
    effects_of,
    hyper_draws,
    prior_draws,
    pymc,
    quiet,
    resolve_spec,
    take_draws,
)
from ._posterior import count_summary, posterior_draws, session_summaries, weighted_summary
from ._result import (
    CHANGE_POSTERIOR_COLUMNS,
    DIAGNOSTICS_COLUMNS,
    POPULATION_COLUMNS,
    TABLE_COLUMNS,
    BayesResult,
)

SAMPLERS = ("auto", "pymc", "nutpie")
R_HAT_MAX = 1.01
ESS_MIN = 400
_CHUNK = 400_000  # draws x clients x candidates per block of post-processing
# Client-level variables whose draws hold NaN (no change in that draw): not diagnosed.
_WITH_GAPS = ("change", "change_session", "level_before", "level_after")


# --- how long will it take? ---------------------------------------------------------------
@dataclass(frozen=True)
class DurationEstimate:
    """How long :func:`fit` is expected to take, before it runs.

    Attributes
    ----------
    seconds : float
        The estimate (wall time: model building, compilation, sampling, summaries).
    lower, upper : float
        A range that held for the benchmarks' cohorts (geometry varies between data sets,
        so sampling can take up to about twice as long, or half as long).
    method : str
        ``"exact"`` (nothing sampled) or ``"NUTS (<sampler>)"``.
    """

    seconds: float
    lower: float
    upper: float
    method: str

    def __str__(self) -> str:
        if self.upper < 1:
            return f"under 1 s, {self.method}"
        return (
            f"about {_fmt(self.seconds)} ({_fmt(self.lower)} to {_fmt(self.upper)}), {self.method}"
        )

    def __float__(self) -> float:
        """The estimate in seconds (``float(estimate_duration(...))``)."""
        return float(self.seconds)


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


# Measured in benchmarks/bench_bayes.py on the 2-core development machine: leapfrog steps
# per draw of the hierarchical models, the sampler's overhead per step and the compile time.
_STEPS_PER_DRAW = {"mixture": 15.0, "heavy": 8.0, "normal": 11.0, "nonlocal": 8.0}
_STEP_OVERHEAD = {"nutpie": 2e-5, "pymc": 1.5e-4}
_COMPILE = {"nutpie": 2.0, "pymc": 6.0}  # nutpie: loading the cached density
_EXACT_PER_ELEMENT = 6e-7  # seconds per (node, client, candidate) of an exact fit


def estimate_duration(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["linear", "mean", "broken_stick"] = "linear",
    pooling: Literal["hierarchical", "none"] | None = None,
    change: Literal["mixture", "always", "none"] = "mixture",
    jumps: Literal["heavy", "mixture", "normal", "nonlocal"] | None = None,
    change_location: Literal["uniform", "pooled"] = "uniform",
    covariates: Sequence[str] | None = None,
    better: Literal["lower", "higher"] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    sampler: Literal["auto", "pymc", "nutpie"] = "auto",
) -> DurationEstimate:
    """Estimate how long :func:`fit` will take with these arguments, without fitting.

    Arguments as in :func:`fit`. It times one evaluation of the model's likelihood and
    gradient on these data (milliseconds) and scales it by the steps NUTS typically takes,
    the chains per core and the compilation time measured in ``benchmarks/bench_bayes.py``;
    exact fits (``pooling="none"``) are timed by their size.

    Returns
    -------
    DurationEstimate
        ``seconds``, a ``lower``-``upper`` range and the ``method``; ``str()`` gives a
        sentence for a progress message ("about 45 s (25 s to 1.5 min), NUTS (nutpie)").

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> bayes.estimate_duration(scores, pooling="none").method
    'exact'
    >>> bayes.estimate_duration(scores).seconds > 1
    True
    """
    spec = resolve_spec("bayes.estimate_duration", model, pooling, change, jumps, change_location)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(
        scores, shape=spec.shape, pooling=spec.pooling, covariates=covariates, better=better
    )
    _check_sampling(draws, tune, chains, cores, 0.9, sampler, 0.9, "bayes.estimate_duration")
    return _estimate(design, spec, draws, tune, chains, cores, sampler)


def _estimate(
    design: Design,
    spec: Spec,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    sampler: str,
) -> DurationEstimate:
    N, K = design.stats.log_prior.shape
    C = spec.n_components
    if spec.pooling == "none":
        S = len(sigma_nodes(design)[0])
        seconds = 0.05 + _EXACT_PER_ELEMENT * S * N * K * (2 + draws / S)
        return DurationEstimate(seconds, 0.5 * seconds, 2 * seconds, "exact")
    used = _sampler_used(sampler)
    grad = _time_gradient(design, spec)
    steps = _STEPS_PER_DRAW[spec.jump_population]
    parallel = max(1, min(chains, cores or os.cpu_count() or 1))
    waves = int(np.ceil(chains / parallel))
    sampling = waves * (tune + draws) * steps * (grad + _STEP_OVERHEAD[used])
    post = 2.5e-8 * chains * draws * N * K * C * len(design.effects) ** 2
    seconds = _COMPILE[used] + sampling + post
    return DurationEstimate(seconds, 0.5 * seconds, 2 * seconds, f"NUTS ({used})")


def _time_gradient(design: Design, spec: Spec) -> float:
    """Seconds for one evaluation of the compiled density (value and gradient).

    The first call on a machine compiles the density (about 15 s, then cached on disk).
    """
    from ._density import density, initial_point

    lay, f = density(design, spec)
    x = initial_point(lay, 0)
    f(x)  # loads the compiled kernel
    times = []
    for _ in range(3):
        start = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# --- fitting ------------------------------------------------------------------------------
def fit(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    model: Literal["linear", "mean", "broken_stick"] = "linear",
    pooling: Literal["hierarchical", "none"] | None = None,
    change: Literal["mixture", "always", "none"] = "mixture",
    jumps: Literal["heavy", "mixture", "normal", "nonlocal"] | None = None,
    change_location: Literal["uniform", "pooled"] = "uniform",
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
    posterior_predictive: bool = False,
    seed: int | np.random.Generator | None = None,
    progress: bool | None = None,
) -> BayesResult:
    """Fit a Bayesian change-point model and summarise every client's change.

    Parameters
    ----------
    data, client, session, score, instrument, model, pooling, change, jumps,
    change_location, covariates, better
        As in :func:`build_model`. The default is the hierarchical model with a level
        shift and a change of slope, jumps from a heavy-tailed (contaminated-normal)
        population with no density at a jump of zero (``jumps="nonlocal"``).
    breakthrough : float, optional
        Smallest improvement (score points) that counts as a breakthrough. Default: the
        scores' reliable-change criterion (``scores.reliable_change``, the one every method
        shares; see :mod:`toolkit.criterion`). Without any criterion P(breakthrough) is
        missing and a warning says so.
    level : float, default 0.9
        Probability of the credible set of the change session and of the HDIs.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains (sampled
        models). For exact fits (``pooling="none"``) ``draws`` independent draws from the
        exact posterior fill ``idata``; ``tune``, ``chains``, ``cores``,
        ``target_accept`` and ``sampler`` are not used (nothing is sampled).
    cores : int, optional
        Chains run in parallel on this many cores (default: all, at most ``chains``).
    target_accept : float, default 0.9
        NUTS target acceptance; raise it (0.95, 0.99) if there are divergences.
    sampler : {"auto", "pymc", "nutpie"}, default "auto"
        NUTS implementation: ``"auto"`` uses nutpie when it is installed, else PyMC's
        (see Notes).
    posterior_predictive : bool, default False
        Add a ``posterior_predictive`` group to ``idata``: simulated scores of every client
        at every session, one set per draw (memory: draws x clients x sessions).
    seed : int or numpy.random.Generator, optional
        Same seed, same draws (sampling and the client-level draws after it).
    progress : bool, optional
        Show the sampler's progress bar, and before sampling the expected duration (see
        :func:`estimate_duration`) on standard error (default: the global option).

    Returns
    -------
    BayesResult
        ``table`` has one row per analysed client:

        - ``client``; ``n_observed``: observed scores;
        - ``p_change``: posterior probability of a change (1 with ``change="always"``,
          0 with ``"none"``);
        - ``p_breakthrough``: P(a change that improves by at least ``breakthrough`` points;
          NaN for ``model="broken_stick"``, which has no jump);
        - ``change_session_mode``, ``change_session_mean``: most probable and mean change
          session (the first session at the new level; for the broken stick the session at
          which the slope changes), given a change;
        - ``change_session_set``: the smallest set of sessions holding at least ``level`` of
          the posterior given a change (a tuple); ``change_session_lower``,
          ``change_session_upper``: its first and last session;
        - ``jump_mean``, ``jump_lower``, ``jump_upper``: posterior mean and HDI of the jump
          in score points (signed like the scores), given a change;
        - ``level_before_mean``, ``level_after_mean``: expected score just before and just
          after the change at the change session (the two segments' levels there; their
          difference is the jump), given a change;
        - ``baseline_mean``: expected score at the first session; ``pre_slope_mean``: slope
          per session before (or without) a change; ``post_slope_mean``: slope per session
          after a change, given one; ``sigma_mean``: the noise SD (the client's own when
          clients are analysed alone, the shared one otherwise). NaN where the model has
          no such quantity.

        Plus ``population``, ``diagnostics``, ``change_posterior``, ``divergences``,
        ``skipped`` (clients with fewer than 4 observed scores, with the reason),
        ``warnings``, ``idata``, ``model`` and ``settings``.

    Raises
    ------
    EmptyDataError, DataError, OptionError
        As in :func:`build_model`; also bad sampling options (an ``OptionError``), or a
        negative ``breakthrough``.

    Warns
    -----
    ToolkitWarning
        When a reported parameter has R-hat > 1.01 or bulk ESS < 400, when any transition
        diverged, or when R-hat cannot be computed (one chain); the message names the
        parameters and the fix.

    Notes
    -----
    **Clients analysed alone** (``pooling="none"``) are computed exactly: the change
    session and status are summed out, the effects integrated in closed form and the
    client's noise SD by quadrature (see :mod:`toolkit.bayes._exact`), so a client takes
    milliseconds and every number is exact, not a Monte Carlo estimate.

    **Hierarchical models** are sampled with NUTS over the population parameters only;
    everything per posterior draw is then exact given that draw (Rao-Blackwellisation):
    ``w_i = P(change | hyper, y_i)``, ``q_ik = P(change at k | change, hyper, y_i)``,
    ``P(change) = mean(w)``, ``P(k | change) = mean(w q_k) / mean(w)``,
    ``P(breakthrough) = mean(w sum_k q_k Phi((I_k - cut-off) / sd_k))`` with ``I_k`` and
    ``sd_k`` the conditional posterior mean of the improvement (``-jump`` when lower scores
    are better) and its SD. Jump summaries given a change use one draw of the jump per
    posterior draw, weighted by ``w``. ``log_likelihood`` holds ``log p(y_i | hyper)`` per
    client on the score scale, so :func:`compare` leaves one client out at a time.

    One gradient costs O(clients x candidates x components) operations in one compiled
    loop. With nutpie, NUTS runs on the model's log density written out by hand (value and
    gradient in one compiled function, equal to the PyMC model's in
    ``tests/test_bayes_density.py``), so nothing is compiled per fit: the first fit on a
    machine compiles it once (about 15 s), later fits load it from disk. In
    ``benchmarks/bench_bayes.py`` nutpie was faster than PyMC's sampler at every cohort
    size, so ``"auto"`` prefers it.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to
    defining meaningful change in psychotherapy research. Journal of Consulting and Clinical
    Psychology, 59(1), 12-19.
    Hoffman, M. D., & Gelman, A. (2014). The No-U-Turn sampler. Journal of Machine Learning
    Research, 15, 1593-1623.
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B., & Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: An improved R-hat for assessing
    convergence of MCMC. Bayesian Analysis, 16(2), 667-718.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes, simulate
    >>> df, truth = simulate.trajectories(8, 10, baseline=40, gain_share=1.0,
    ...                                   nonresponder_share=1.0, gain_size=(15, 1), seed=2)
    >>> res = bayes.fit(df, client="client", session="session", score="score",
    ...                 instrument="BDI-II", model="mean", pooling="none", seed=1)
    >>> bool((res.table["p_change"] > 0.8).all())
    True
    >>> all(s in found for s, found in zip(truth["session"], res.table["change_session_set"]))
    True
    """
    started = time.perf_counter()
    spec = resolve_spec("bayes.fit", model, pooling, change, jumps, change_location)
    _check_sampling(draws, tune, chains, cores, target_accept, sampler, level, "bayes.fit")
    if not isinstance(posterior_predictive, bool):
        raise OptionError(
            "The 'posterior_predictive' parameter of bayes.fit must be True or False. Got "
            f"{posterior_predictive!r} instead."
        )
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(
        scores, shape=spec.shape, pooling=spec.pooling, covariates=covariates, better=better
    )
    cut, cut_source = _breakthrough_cutoff(scores, breakthrough, spec)
    seed = _seed_int(seed)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    settings = base_settings(
        scores,
        seed=seed,
        model=spec.shape,
        pooling=spec.pooling,
        change=spec.change,
        jumps=spec.jumps if design.has_jump and spec.pooling == "hierarchical" else None,
        change_location=spec.location,
        covariates=list(design.covariate_names),
        breakthrough=cut,
        breakthrough_source=cut_source,
        level=level,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        cores=cores,
        target_accept=target_accept,
        sampler=sampler,
        posterior_predictive=posterior_predictive,
        prior_scale=design.scale,
        prior_midpoint=design.mid,
        resolution=design.resolution,
    )
    settings["better"] = "lower" if design.sign == 1 else "higher"
    if cut_source == "per call":
        settings.update(reliable_change_points=cut, reliable_change_source="per call")
    if spec.pooling == "none":
        result = _exact_result(design, spec, settings)
        settings.update(sampler_used="exact", sampling_seconds=time.perf_counter() - started)
        return result
    from .._options import progress_enabled

    estimate = _estimate(design, spec, int(draws), int(tune), int(chains), cores, sampler)
    settings["estimated_seconds"] = estimate.seconds
    if progress_enabled(progress):
        print(f"toolkit.bayes.fit: expected to take {estimate}.", file=sys.stderr, flush=True)
    pm_model = build(design, spec)
    used, idata, seconds = _sample(
        pm_model,
        design,
        spec,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        cores=cores,
        target_accept=target_accept,
        sampler=sampler,
        seed=seed,
        progress=progress,
    )
    settings.update(sampler_used=used, sampling_seconds=seconds)
    return _sampled_result(design, spec, idata, pm_model, settings)


def _check_sampling(
    draws: Any,
    tune: Any,
    chains: Any,
    cores: Any,
    target_accept: Any,
    sampler: Any,
    level: Any,
    function: str,
) -> None:
    _checks.whole(draws, "draws", function, low=1)
    _checks.whole(tune, "tune", function, low=0)
    _checks.whole(chains, "chains", function, low=1)
    if cores is not None:
        _checks.whole(cores, "cores", function, low=1)
    _checks.level(target_accept, "target_accept", function)
    _checks.level(level, "level", function)
    _checks.choice(sampler, "sampler", function, SAMPLERS)


def _breakthrough_cutoff(scores: LongScores, breakthrough: Any, spec: Spec) -> tuple[float, str]:
    """The smallest improvement that counts as a breakthrough, and where it comes from."""
    if breakthrough is not None:
        value = _checks.number(breakthrough, "breakthrough", "bayes.fit", low=0.0)
        return value, "per call"
    crit = scores.reliable_change
    if not crit.available:
        if spec.change != "none" and spec.shape != "broken_stick":
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


def _sampler_used(sampler: str) -> str:
    if sampler == "auto":  # measured faster in benchmarks/bench_bayes.py at every size
        return "nutpie" if importlib.util.find_spec("nutpie") is not None else "pymc"
    return sampler


def _sample(
    model: Any,
    design: Design,
    spec: Spec,
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
    used = _sampler_used(sampler)
    cores = min(chains, os.cpu_count() or 1) if cores is None else cores
    start = time.perf_counter()
    with quiet():
        if used == "nutpie":
            if importlib.util.find_spec("nutpie") is None:
                raise ImportError(
                    "sampler='nutpie' needs the nutpie package. Fix: pip install nutpie, or "
                    "use sampler='pymc'."
                )
            from ._density import sample_nutpie  # the model's density, compiled once

            idata = sample_nutpie(
                design,
                spec,
                model,
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                seed=seed,
                progress=progress,
                target_accept=target_accept,
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


# --- shared pieces of both results ----------------------------------------------------------
def _internal(name: str) -> bool:
    """Sampler internals: standardised variables and transformed copies (nutpie's ``__``)."""
    return name.endswith(("_std", "__"))


def _source(idata: Any) -> dict[str, np.ndarray]:
    """Every sampled variable, internals included, as (chain, draw, ...) arrays."""
    out: dict[str, np.ndarray] = {}
    for g in ("posterior", "unconstrained_posterior"):
        ds = _idata.group(idata, g)
        if ds is not None:
            out.update({str(k): np.asarray(v.values) for k, v in ds.data_vars.items()})
    return out


def _table(design: Design, spec: Spec, s: dict[str, np.ndarray], level: float) -> tuple:
    """The per-client table and the change-session posterior from the summaries ``s``."""
    N, K = design.stats.log_prior.shape
    cand = design.candidate_sessions.astype(float)
    cond = s["cond"] if spec.change != "none" else np.full((N, K), np.nan)
    mode, mean, in_set = session_summaries(cond, cand, level)
    set_lo = np.where(in_set, cand[None, :], np.inf).min(axis=1, initial=np.inf)
    set_hi = np.where(in_set, cand[None, :], -np.inf).max(axis=1, initial=-np.inf)
    empty = ~in_set.any(axis=1)
    set_lo[empty], set_hi[empty] = np.nan, np.nan
    sessions_set = [tuple(int(x) for x in design.candidate_sessions[r]) for r in in_set]
    nan = np.full(N, np.nan)
    table = pd.DataFrame(
        {
            "client": design.clients.to_numpy(),
            "n_observed": design.stats.n.astype(np.int64),
            "p_change": s["p_change"],
            "p_breakthrough": s.get("p_bt", nan) if spec.change != "none" else np.zeros(N),
            "change_session_mode": mode,
            "change_session_mean": mean,
            "change_session_lower": set_lo,
            "change_session_upper": set_hi,
            "change_session_set": sessions_set,
            "jump_mean": s.get("jump_mean", nan),
            "jump_lower": s.get("jump_lower", nan),
            "jump_upper": s.get("jump_upper", nan),
            "level_before_mean": s.get("level_before", nan),
            "level_after_mean": s.get("level_after", nan),
            "baseline_mean": s["baseline"],
            "pre_slope_mean": s.get("pre_slope", nan),
            "post_slope_mean": s.get("post_slope", nan),
            "sigma_mean": s["sigma"],
        }
    )[TABLE_COLUMNS]
    if not design.has_jump:
        table["p_breakthrough"] = np.nan if spec.change != "none" else 0.0
    posterior = pd.DataFrame(
        {
            "client": np.repeat(design.clients.to_numpy(), K),
            "session": np.tile(design.candidate_sessions, N),
            "probability": np.nan_to_num(cond, nan=0.0).reshape(-1),
            "in_credible_set": in_set.reshape(-1),
        }
    )[CHANGE_POSTERIOR_COLUMNS]
    if spec.change == "none":
        posterior = posterior.iloc[:0].reset_index(drop=True)
    return table, posterior


def _client_draws(design: Design, spec: Spec, out: dict[str, np.ndarray]) -> dict:
    """Score-scale client-level draws (draws, clients) from the joint draws ``out``."""
    result = {
        e: design.to_score(e, out[f"draw_{e}"])
        for e in effects_of(design, spec.change)
        if f"draw_{e}" in out
    }
    if spec.change != "none":
        changed = out["change"]
        result["change"] = changed.astype(np.int8)
        result["change_session"] = np.where(changed, design.candidate_sessions[out["k"]], np.nan)
        for side in ("level_before", "level_after"):
            result[side] = np.where(changed, design.to_score(side, out[f"draw_{side}"]), np.nan)
    return result


def _cohort_rows(
    design: Design, spec: Spec, out: dict[str, np.ndarray], cut: float
) -> list[tuple[str, np.ndarray]]:
    """Per-draw cohort quantities: numbers changing and breaking through, segment levels."""
    if spec.change == "none":
        return []
    changed = out["change"]
    rows = [("n_changes", changed.sum(axis=1).astype(float))]
    if design.has_jump:
        gain = -design.sign * design.unit("jump") * out["draw_jump"]
        with np.errstate(invalid="ignore"):
            rows.append(("n_breakthroughs", (changed & (gain >= cut)).sum(axis=1).astype(float)))
    count = changed.sum(axis=1)
    for side in ("level_before", "level_after"):
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = np.where(changed, out[f"draw_{side}"], 0.0).sum(axis=1) / count
        rows.append((side, design.to_score(side, avg)))
    return rows


def _summarise_rows(rows: list[tuple[str, np.ndarray]], level: float) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: [] for c in POPULATION_COLUMNS})
    out = []
    for name, v in rows:
        v = v[np.isfinite(v)]
        if len(v) == 0:
            out.append((name, np.nan, np.nan, np.nan, np.nan))
            continue
        _, lo, hi = weighted_summary(v[:, None], np.ones((len(v), 1)), level)
        sd = float(v.std(ddof=1)) if len(v) > 1 else np.nan
        out.append((name, float(v.mean()), sd, float(lo[0]), float(hi[0])))
    return pd.DataFrame(out, columns=POPULATION_COLUMNS)


def _observed(design: Design) -> Any:
    import xarray as xr

    return xr.Dataset(
        {"score": (("client", "session"), design.matrix)},
        coords={"client": design.clients.tolist(), "session": design.sessions},
    )


def _dataset(values: dict[str, np.ndarray], design: Design, chains: int, draws: int) -> Any:
    """A (chain, draw, client) Dataset of client-level draws shaped (chains x draws, N)."""
    import xarray as xr

    coords = {
        "chain": np.arange(chains),
        "draw": np.arange(draws),
        "client": design.clients.tolist(),
    }
    return xr.Dataset(
        {k: (("chain", "draw", "client"), v.reshape(chains, draws, -1)) for k, v in values.items()},
        coords=coords,
    )


def _prior_group(design: Design, spec: Spec, n: int, seed: int) -> Any:
    """The ``prior`` group: score-scale parameters drawn from their priors (NumPy)."""
    import xarray as xr

    rng = np.random.default_rng([seed, 3])
    raw = prior_draws(design, spec, n, rng)
    data: dict[str, Any] = {}
    for name, v in raw.items():
        if _internal(name):
            continue
        dims = ["chain", "draw"] + [
            "client"
            if v.shape[-1] == len(design.clients) and spec.pooling == "none"
            else ("component" if name.startswith("jump_component") else "covariate")
            for _ in v.shape[2:]
        ]
        data[name] = (dims, v)
    if spec.pooling == "none":  # the fixed priors of the client's effects
        for e in effects_of(design, spec.change):
            z = rng.normal(0.0, ALONE_SD, (1, n, len(design.clients)))
            data[e] = (["chain", "draw", "client"], design.to_score(e, z))
    coords: dict[str, Any] = {"chain": [0], "draw": np.arange(n), "client": design.clients.tolist()}
    if design.X is not None:
        coords["covariate"] = design.covariate_names
    if spec.free_components:
        coords["component"] = list(range(1, spec.n_components + 1))
    return xr.Dataset(data, coords=coords)


def _predictive(
    design: Design, spec: Spec, out: dict[str, np.ndarray], sigma2: np.ndarray, seed: int
) -> np.ndarray:
    """Simulated standardised scores (draws, clients, sessions) from the joint draws."""
    rng = np.random.default_rng([seed, 4])
    D, N = out["draw_baseline"].shape
    T = len(design.sessions)
    J0 = design.n_none
    effects = effects_of(design, spec.change)
    y = sum(out[f"draw_{e}"][..., None] * design.rows0[:, j] for j, e in enumerate(effects[:J0]))
    if spec.change != "none":
        rows = design.rows[out["k"]]  # (D, N, T, J)
        y_change = sum(out[f"draw_{e}"][..., None] * rows[..., j] for j, e in enumerate(effects))
        y = np.where(out["change"][..., None], y_change, y)
    return y + np.sqrt(sigma2)[..., None] * rng.standard_normal((D, N, T))


# --- exact fits ---------------------------------------------------------------------------
def _exact_result(design: Design, spec: Spec, settings: dict) -> BayesResult:
    cut, level = settings["breakthrough"], settings["level"]
    res = exact_posterior(design, spec, cut, level, settings["draws"], settings["seed"])
    s: dict[str, Any] = {
        "p_change": res["p_change"] if spec.change != "none" else np.zeros(len(design.clients)),
        "cond": res["cond"],
        "baseline": design.to_score("baseline", res["baseline"]),
        "sigma": res["sigma"] * design.scale,
    }
    if "pre_slope" in design.effects:
        s["pre_slope"] = design.to_score("pre_slope", res["pre_slope"])
    if spec.change != "none":
        s["p_bt"] = res["p_bt"]
        s["level_before"] = design.to_score("level_before", res["level_before_c"])
        s["level_after"] = design.to_score("level_after", res["level_after_c"])
        if design.has_jump:
            ju = design.unit("jump")
            s.update(
                jump_mean=res["jump_c"] * ju,
                jump_lower=res["jump_lower"] * ju,
                jump_upper=res["jump_upper"] * ju,
            )
        if "post_slope" in design.effects:
            s["post_slope"] = design.to_score("post_slope", res["post_slope_c"])
    table, change_posterior = _table(design, spec, s, level)
    draws = res["draws"]
    rows: list[tuple[str, np.ndarray]] = []
    counts = []
    if spec.change != "none":
        counts.append(("n_changes", count_summary(s["p_change"], level)))
        if design.has_jump:
            counts.append(("n_breakthroughs", count_summary(s["p_bt"], level)))
        rows = [r for r in _cohort_rows(design, spec, draws, cut) if r[0].startswith("level")]
    population = pd.concat(
        [
            pd.DataFrame([(name, *values) for name, values in counts], columns=POPULATION_COLUMNS),
            _summarise_rows(rows, level),
        ],
        ignore_index=True,
    )
    log_r = np.log(design.scale)
    exact = {
        "loglik_score": res["loglik"] - design.stats.n * log_r,
        "draws": draws,
        "draw_loglik_score": draws["draw_loglik"] - design.stats.n[None] * log_r,
    }
    return BayesResult(
        table=table,
        settings=settings,
        skipped=design.skipped,
        warnings=(),
        population=population,
        diagnostics=pd.DataFrame({c: [] for c in DIAGNOSTICS_COLUMNS}),
        change_posterior=change_posterior,
        divergences=0,
        _design=design,
        _spec=spec,
        _exact=exact,
        scores=design.scores,
    )


def exact_idata(result: BayesResult) -> Any:
    """The InferenceData of an exact fit, from its independent draws (built on first use)."""
    design, spec, settings = result._design, result._spec, result.settings
    draws = result._exact["draws"]
    D = len(draws["sigma2"])
    values = _client_draws(design, spec, draws)
    values["sigma"] = np.sqrt(draws["sigma2"]) * design.scale
    groups = {
        "posterior": _dataset(values, design, 1, D),
        "log_likelihood": _dataset({"score": result._exact["draw_loglik_score"]}, design, 1, D),
        "observed_data": _observed(design),
        "prior": _prior_group(design, spec, D, settings["seed"]),
    }
    if settings.get("posterior_predictive"):
        y = _predictive(design, spec, draws, draws["sigma2"], settings["seed"])
        groups["posterior_predictive"] = _predictive_dataset(design, y, 1, D)
    return _idata.make(groups)


def _predictive_dataset(design: Design, y: np.ndarray, chains: int, draws: int) -> Any:
    import xarray as xr

    D, N, T = y.shape
    return xr.Dataset(
        {
            "score": (
                ("chain", "draw", "client", "session"),
                (design.mid + design.scale * y).reshape(chains, draws, N, T),
            )
        },
        coords={
            "chain": np.arange(chains),
            "draw": np.arange(draws),
            "client": design.clients.tolist(),
            "session": design.sessions,
        },
    )


# --- sampled fits -------------------------------------------------------------------------
def _sampled_result(
    design: Design, spec: Spec, raw: Any, model: Any, settings: dict
) -> BayesResult:
    cut, level, seed = settings["breakthrough"], settings["level"], settings["seed"]
    post = _idata.group(raw, "posterior")
    n_chains, n_draws = int(post.sizes["chain"]), int(post.sizes["draw"])
    source = _source(raw)
    hyper = hyper_draws(source, design, spec)
    D = hyper.n_draws
    N, K = design.stats.log_prior.shape
    C = spec.n_components
    rng = np.random.default_rng([seed, 1])
    keep = {
        "w",
        "loglik",
        "p_bt",
        "jump_c",
        "post_slope_c",
        "level_before_c",
        "baseline",
        "pre_slope",
        "change",
        "k",
        "draw_c_jump",
        "draw_level_before",
        "draw_level_after",
    } | {f"draw_{e}" for e in design.effects}
    acc: dict[str, list] = {}
    joint = np.zeros((N, K))
    step = max(1, _CHUNK // max(N * K * C, 1))
    for start in range(0, D, step):
        part = posterior_draws(
            design, spec, take_draws(hyper, slice(start, start + step)), design.stats, cut, rng
        )
        if "q_session" in part:
            joint += np.einsum("dn,dnk->nk", part["w"], part.pop("q_session"))
        for key, value in part.items():
            if key in keep:
                acc.setdefault(key, []).append(value)
    out = {k: np.concatenate(v) for k, v in acc.items()}
    w = out["w"]
    s: dict[str, Any] = {
        "p_change": w.mean(axis=0),
        "baseline": design.to_score("baseline", out["baseline"].mean(axis=0)),
        "sigma": np.full(N, float(np.mean(np.sqrt(hyper.sigma2))) * design.scale),
    }
    if "pre_slope" in out:
        s["pre_slope"] = design.to_score("pre_slope", out["pre_slope"].mean(axis=0))
    if spec.change != "none":
        total = w.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            s["cond"] = joint / total[:, None]

            def given(key: str) -> np.ndarray:
                return (w * out[key]).sum(axis=0) / total

            lb = given("level_before_c")
            s["level_before"] = design.to_score("level_before", lb)
            if design.has_jump:
                ju = design.unit("jump")
                jump = given("jump_c")
                s["jump_mean"] = jump * ju
                _, s["jump_lower"], s["jump_upper"] = weighted_summary(
                    out["draw_c_jump"] * ju, w, level
                )
                s["p_bt"] = out["p_bt"].mean(axis=0)
                s["level_after"] = design.to_score("level_after", lb + jump)
            else:
                s["level_after"] = s["level_before"]
            if "post_slope_c" in out:
                s["post_slope"] = design.to_score("post_slope", given("post_slope_c"))
    table, change_posterior = _table(design, spec, s, level)

    def shaped(v: np.ndarray) -> np.ndarray:
        return v.reshape(n_chains, n_draws, N)

    client = _client_draws(design, spec, out)
    log_r = np.log(design.scale)
    loglik = shaped(out["loglik"] - design.stats.n[None] * log_r)
    idata = _assemble(raw, design, spec, client, loglik, n_chains, n_draws, settings)
    if settings.get("posterior_predictive"):
        sigma2 = np.broadcast_to(hyper.sigma2[..., 0], (D, N))
        y = _predictive(design, spec, out, sigma2, seed)
        groups = {g: _idata.group(idata, g) for g in _idata.group_list(idata)}
        groups["posterior_predictive"] = _predictive_dataset(design, y, n_chains, n_draws)
        idata = _idata.make(groups, like=idata)
    population = pd.concat(
        [
            _population_table(_idata.group(idata, "posterior"), design, spec, level),
            _summarise_rows(_cohort_rows(design, spec, out, cut), level),
        ],
        ignore_index=True,
    )
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
        _idata=idata,
        _model=model,
        _design=design,
        _spec=spec,
        scores=design.scores,
    )


def _assemble(
    raw: Any,
    design: Design,
    spec: Spec,
    client: dict[str, np.ndarray],
    loglik: np.ndarray,
    n_chains: int,
    n_draws: int,
    settings: dict,
) -> Any:
    """The result's InferenceData: score-scale posterior, internals apart, the other groups."""
    post = _idata.group(raw, "posterior")
    chain = np.asarray(post["chain"].values)
    draw = np.asarray(post["draw"].values)
    internal = [str(v) for v in post.data_vars if _internal(str(v))]
    public = [str(v) for v in post.data_vars if not _internal(str(v))]
    clients = _dataset(client, design, n_chains, n_draws).assign_coords(chain=chain, draw=draw)
    posterior = post[public].merge(clients)
    unconstrained = post[internal]
    old = _idata.group(raw, "unconstrained_posterior")
    if old is not None:
        unconstrained = unconstrained.merge(old)
    ll = _dataset({"score": loglik.reshape(n_chains * n_draws, -1)}, design, n_chains, n_draws)
    groups: dict[str, Any] = {
        "posterior": posterior,
        "unconstrained_posterior": unconstrained,
        "log_likelihood": ll.assign_coords(chain=chain, draw=draw),
        "observed_data": _observed(design),
        "prior": _prior_group(design, spec, min(n_chains * n_draws, 1000), settings["seed"]),
    }
    stats = _idata.group(raw, "sample_stats")
    if stats is not None:
        groups["sample_stats"] = stats
    return _idata.make(groups, like=raw)


def _population_table(post: Any, design: Design, spec: Spec, level: float) -> pd.DataFrame:
    rows: list[tuple[str, np.ndarray]] = []

    def flat(name: str) -> np.ndarray:
        return np.asarray(post[name].values, dtype=float).reshape(-1)

    for name in design.effects:
        for part in ("mu", "sd"):
            if f"{name}_{part}" in post:
                rows.append((f"{name}_{part}", flat(f"{name}_{part}")))
    for key in ("jump_component_mu", "jump_component_sd", "jump_component_weight"):
        if key in post:
            v = np.asarray(post[key].values, dtype=float)
            v = v.reshape(-1, v.shape[-1])
            rows += [(f"{key}[{c + 1}]", v[:, c]) for c in range(v.shape[1])]
    for key in ("beta_baseline", "beta_jump"):
        if key in post:
            v = np.asarray(post[key].values, dtype=float)
            v = v.reshape(-1, v.shape[-1])
            rows += [(f"{key}[{n}]", v[:, j]) for j, n in enumerate(design.covariate_names)]
    for key in ("sigma", "p_change", "change_session_mu", "change_session_sd"):
        if key in post and "client" not in post[key].dims:
            rows.append((key, flat(key)))
    return _summarise_rows(rows, level)


def _diagnostics(idata: Any, design: Design) -> tuple[pd.DataFrame, int]:
    """R-hat and ESS of the score-unit parameters (client-level ones as drawn)."""
    from ._convergence import diagnose

    post = _idata.group(idata, "posterior")
    names = [str(n) for n in post.data_vars if str(n) not in _WITH_GAPS]
    rows = []
    for n in names:
        v = post[n].transpose("chain", "draw", ...)
        draws = np.asarray(v.values, dtype=float)
        draws = draws.reshape(draws.shape[0], draws.shape[1], -1)
        r, eb, et = diagnose(draws)
        worst = None
        if "client" in v.dims and np.isfinite(r).any():
            worst = design.clients[int(np.nanargmax(r))]
        rows.append(
            (
                n,
                draws.shape[2],
                np.nanmax(r) if np.isfinite(r).any() else np.nan,
                np.nanmin(eb) if np.isfinite(eb).any() else np.nan,
                np.nanmin(et) if np.isfinite(et).any() else np.nan,
                worst,
            )
        )
    table = pd.DataFrame(rows, columns=DIAGNOSTICS_COLUMNS)
    table["worst_client"] = pd.Series([r[-1] for r in rows], dtype=object)  # keep None
    stats = _idata.group(idata, "sample_stats")
    divergences = 0
    if stats is not None and "diverging" in stats:
        divergences = int(np.asarray(stats["diverging"].values).sum())
    return table, divergences


def _diagnostic_warnings(dg: pd.DataFrame, divergences: int, settings: dict) -> list[str]:
    def named(rows: pd.DataFrame, column: str, fmt: str) -> str:
        parts = []
        for _, r in rows.iterrows():
            worst = r["worst_client"]
            where = "" if worst is None or pd.isna(worst) else f", worst for client {worst}"
            parts.append(f"{r['parameter']} ({fmt.format(r[column])}{where})")
        return ", ".join(parts)

    messages = []
    if settings.get("chains") == 1:
        messages.append(
            warn(
                "R-hat cannot be computed from one chain, so convergence is not checked: the "
                "r_hat column of diagnostics is NaN. Fix: run chains=2 or more (default 4).",
                ToolkitWarning,
                stacklevel=5,
            )
        )
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


# --- one client's expected trajectory -------------------------------------------------------
def client_curves(result: BayesResult, row: int, rng: np.random.Generator) -> tuple:
    """Posterior mean of a client's standardised expected scores (T,) and draws (D, T)."""
    design: Design = result._design
    spec: Spec = result._spec
    cut = result.settings["breakthrough"]
    st = design.stats.take([row])
    if spec.pooling == "none":
        sigma2, log_w = sigma_nodes(design)
        hyper = node_hyper(design, spec, sigma2, 1, st.valid, st.log_prior)
        first = posterior_draws(design, spec, hyper, st, cut, None, detail=True)
        joint = log_w + first["loglik"][:, 0]
        weights = np.exp(joint - logsumexp(joint))
        mean = weights @ _expected(design, spec, first)
        n = 2000
        pick = np.minimum(
            (rng.random(n)[:, None] > np.cumsum(weights)).sum(axis=1), len(weights) - 1
        )
        h2 = node_hyper(design, spec, sigma2[pick][:, None], 1, st.valid, st.log_prior)
        out = posterior_draws(design, spec, h2, st, cut, rng)
    else:
        source = _source(result.idata)
        hyper = hyper_draws(source, design, spec, rows=[row])
        out = posterior_draws(design, spec, hyper, st, cut, rng, detail=True)
        mean = _expected(design, spec, out).mean(axis=0)
    return mean, _drawn_curves(design, spec, out)


def _expected(design: Design, spec: Spec, out: dict) -> np.ndarray:
    """Expected standardised score per draw (D, T): exact mixture over status and session."""
    J0 = design.n_none
    w = out["w"][:, 0]
    mu0 = sum(out[f"mean0_{j}"][:, 0, None] * design.rows0[:, j] for j in range(J0))
    mean = (1 - w)[:, None] * mu0
    if spec.change != "none":
        K = len(design.candidates)
        C = out["q"].shape[-1] // K
        rows = np.tile(design.rows, (C, 1, 1))  # (C K, T, J)
        J = len(design.effects)
        muk = sum(out[f"meank_{j}"][:, 0, :, None] * rows[None, :, :, j] for j in range(J))
        mean = mean + w[:, None] * np.einsum("dk,dkt->dt", out["q"][:, 0], muk)
    return mean


def _drawn_curves(design: Design, spec: Spec, out: dict) -> np.ndarray:
    """One expected trajectory per joint draw (D, T)."""
    effects = effects_of(design, spec.change)
    J0 = design.n_none
    curve = sum(
        out[f"draw_{e}"][:, 0, None] * design.rows0[:, j] for j, e in enumerate(effects[:J0])
    )
    if spec.change != "none":
        rows_k = design.rows[out["k"][:, 0]]  # (D, T, J)
        changed = sum(out[f"draw_{e}"][:, 0, None] * rows_k[:, :, j] for j, e in enumerate(effects))
        curve = np.where(out["change"][:, 0, None], changed, curve)
    return curve


# --- the priors, in words -------------------------------------------------------------------
def prior_text(result: BayesResult) -> str:
    """The priors of a fitted model, in score units, for the methods paragraph."""
    design: Design = result._design
    spec: Spec = result._spec
    R, unit_s = design.scale, design.scale / design.span
    noise = (
        f"the noise SD (in points, beyond rounding to the recorded resolution of "
        f"{design.resolution:g}) had a half-normal prior with scale {SIGMA_SD * R:.3g}"
    )
    if spec.pooling == "none":
        return (
            f"Priors (scaled to the {R:g}-point range of the scores): each effect normal "
            f"with mean 0 (the midpoint of the range for the baseline) and SD "
            f"{ALONE_SD * R:.3g} points ({ALONE_SD * unit_s:.3g} points per session for "
            f"slopes); {noise}; P(change) = 0.5 a priori; the change session uniform over "
            "the sessions with at least two observed scores before it and two from it on."
        )
    parts = [
        f"Priors (scaled to the {R:g}-point range of the scores): population means normal "
        f"with SD {MU_SD * R:.3g} points ({MU_SD * unit_s:.3g} per session for slopes), "
        f"population SDs half-normal with scale {SD_SD * R:.3g} ({SD_SD * unit_s:.3g})"
    ]
    if design.X is not None:
        parts.append(f"covariate effects normal with SD {BETA_SD * R:.3g}")
    parts.append(f"{noise} and was shared by the clients")
    if spec.change == "mixture":
        parts.append("the share of clients who change had a uniform Beta(1, 1) prior")
    if spec.jump_population in ("heavy", "nonlocal"):
        (w1, w2), (v1, v2) = HEAVY_WEIGHTS, HEAVY_SCALES
        heavy = (
            "the jumps of clients who change followed a heavy-tailed distribution (a "
            "spike-and-slab prior with no change as the spike; Mitchell & Beauchamp, 1988): "
            f"a contaminated normal with population mean and SD as above, {w1:.0%} of jumps "
            f"from a normal of variance {v1:g} times the population variance and {w2:.0%} from "
            f"one of {v2:g} times it (Tukey, 1960)"
        )
        if spec.jump_population == "nonlocal":
            heavy += (
                f", each normal multiplied by 1 - exp(-d^2 / (2 x {HOLE_SD * R:.2g}^2)) for a "
                "jump of d points and renormalised, so that the slab has no density at a jump "
                "of zero (a non-local prior; Johnson & Rossell, 2010)"
            )
        parts.append(heavy)
    elif spec.free_components:
        parts.append(
            "the jumps of clients who change followed a two-component normal mixture (a "
            "spike-and-slab prior with no change as the spike; Mitchell & Beauchamp, 1988) "
            f"with ordered component means, component SDs as above and Dirichlet({WEIGHT_A:g}, "
            f"{WEIGHT_A:g}) weights"
        )
    if spec.pooled_location:
        parts.append(
            "the change session followed a discretised normal distribution whose mean "
            "(uniform over the candidate sessions) and SD (half-normal with scale "
            f"{design.span / 2:g} sessions) were learned from the cohort"
        )
    elif spec.change != "none":
        parts.append(
            "the change session was uniform over the sessions with at least two observed "
            "scores before it and two from it on"
        )
    return "; ".join(parts) + "."
