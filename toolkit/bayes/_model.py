"""The models: options, priors, the PyMC model, hyperparameters per draw, prior simulation."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import _checks
from ..data import LongScores, as_scores
from ..errors import OptionError, ToolkitDeprecationWarning, warn
from ..instruments import Instrument
from ._design import Design
from ._design import design as make_design

if TYPE_CHECKING:  # pragma: no cover
    import pymc as pm

SHAPES = ("linear", "mean", "broken_stick")
POOLINGS = ("hierarchical", "none")
CHANGES = ("mixture", "always", "none")
JUMPS = ("heavy", "mixture", "normal", "nonlocal")
LOCATIONS = ("uniform", "pooled")
#: Earlier names of ``model=``: (shape, pooling) they stand for.
LEGACY_MODELS = {
    "hierarchical": ("linear", "hierarchical"),
    "trend": ("linear", "none"),
    "mean_shift": ("mean", "none"),
}
# Prior scales in standardised units (score = midpoint + range * value; slopes per whole
# course, first to last session). Documented in build_model's Notes.
MU_SD = 0.25  # Normal scale of every population mean (and of each jump component's mean)
SD_SD = 0.15  # HalfNormal scale of every population SD
BETA_SD = 0.25
SIGMA_SD = 0.15
ALONE_SD = 0.3  # prior SD of every effect of a client analysed on its own
NO_POOLING_P_CHANGE = 0.5
N_COMPONENTS = 2  # components of the jump distribution with jumps="mixture"
WEIGHT_A = 2.0  # Dirichlet concentration of the component weights
# jumps="heavy": a contaminated normal (Tukey, 1960), one population mean and SD for
# every client who changes, with a fixed 10% of jumps from a component whose SD is about
# twice the other's. The variance multipliers average 1 (0.9 x 0.75 + 0.1 x 3.25), so the
# SD is the jumps' population SD; kurtosis 4.7 (a normal's is 3), so a large jump lies in
# the wide component's reach and is not pulled towards the others, and no component means
# or weights are left for the sampler to identify (two free components split one
# unimodal population of gains in ways the data hardly tell apart, which left R-hat at
# 1.03 on 1,000 clients). The share and width come from 2-cohort runs of
# benchmarks/calibration_bayes.py, where heavier tails (kurtosis 6-10) gave 14-20% more
# breakthroughs than true on the second generator; over 8 cohorts the heavy, two-component
# and normal slabs calibrated within a few percent of each other and this one samples best
# (the study's docstring; docs/benchmarks.md has its 24-cohort figures).
HEAVY_WEIGHTS = np.array([0.9, 0.1])
HEAVY_SCALES = np.array([0.75, 3.25])  # variance multipliers of the population variance
# jumps="nonlocal" (the default with change="mixture"): each of the heavy slab's two
# normals times 1 - exp(-d^2 / (2 t^2)), renormalised: a non-local prior (Johnson &
# Rossell, 2010) whose density vanishes at no jump, so that "a change" means a jump of some
# size and a course that bends without a jump is no change. With a slab that has density at
# zero, a cohort can be described as almost everyone changing a little, which pulls the
# slab towards zero and shrinks the real jumps; on the second generator of
# benchmarks/calibration_bayes.py half of the cohorts did (docs/benchmarks.md). t is 0.055
# of the instrument's range: 1.5 PHQ-9 points, 3.5 BDI-II points; a jump of 2 t keeps 86% of
# the slab's density, one of t/2 12%. The slab is a normal minus a narrower one, so its
# evidence stays a (signed) sum of normal evidences.
HOLE_SD = 0.055

#: Columns of :func:`prior_predictive`.
PRIOR_PREDICTIVE_COLUMNS = [
    "draw",
    "client",
    "session",
    "score",
    "change",
    "change_session",
    "jump",
]


@dataclass(frozen=True)
class Spec:
    """The model's options beyond the data: shape, pooling and the change's priors."""

    shape: str = "linear"
    pooling: str = "hierarchical"
    change: str = "mixture"
    jumps: str = "nonlocal"
    location: str = "uniform"

    @property
    def jump_population(self) -> str:
        """The jumps' population distribution in effect: ``jumps``, or "normal" where there
        is no population of jumps (clients alone) or no jump (broken stick, or no change)."""
        if self.shape == "broken_stick" or self.pooling != "hierarchical" or self.change == "none":
            return "normal"
        return self.jumps

    @property
    def n_components(self) -> int:
        """Normal components of the jumps' population distribution the likelihood sums."""
        heavy = len(HEAVY_WEIGHTS)
        return {"mixture": N_COMPONENTS, "heavy": heavy, "nonlocal": 2 * heavy}.get(
            self.jump_population, 1
        )

    @property
    def signs(self) -> np.ndarray:
        """+1 or -1 per component: the non-local slab subtracts its second half."""
        C = self.n_components
        if self.jump_population == "nonlocal":
            return np.repeat([1.0, -1.0], C // 2)
        return np.ones(C)

    @property
    def free_components(self) -> bool:
        """Whether the components have their own means, SDs and weights (jumps="mixture")."""
        return self.jump_population == "mixture"

    @property
    def pooled_location(self) -> bool:
        return self.location == "pooled" and self.change != "none"


def pymc() -> Any:
    """PyMC, imported on first use (its import takes seconds)."""
    import pymc

    return pymc


@contextlib.contextmanager
def quiet() -> Any:
    """Keep PyMC's step-by-step log and the compiler's BLAS notice out of the user's way.

    The BLAS notice concerns matrix products, which these models barely use; PyMC's own
    warnings and errors still show, except numerical overflow during step-size and
    mass-matrix adaptation, which the final diagnostics judge.
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*could not link to a BLAS.*")
            # Early in tuning the mass-matrix adaptation can overflow harmlessly; whether the
            # final sampling is sound is judged by the diagnostics the toolkit reports.
            warnings.filterwarnings(
                "ignore",
                message="overflow encountered",
                category=RuntimeWarning,
                module="pymc.step_methods",
            )
            yield
    finally:
        logger.setLevel(level)


def resolve_spec(
    function: str,
    model: str,
    pooling: str | None,
    change: str,
    jumps: str | None,
    change_location: str,
) -> Spec:
    """Check the model options and turn them into a :class:`Spec` (earlier names warn)."""
    _checks.choice(model, "model", function, SHAPES + tuple(LEGACY_MODELS))
    if pooling is not None:
        _checks.choice(pooling, "pooling", function, POOLINGS)
    _checks.choice(change, "change", function, CHANGES)
    if jumps is not None:
        _checks.choice(jumps, "jumps", function, JUMPS)
    _checks.choice(change_location, "change_location", function, LOCATIONS)
    if model in LEGACY_MODELS:
        shape, implied = LEGACY_MODELS[model]
        if pooling is not None and pooling != implied:
            raise OptionError(
                f"model={model!r} already means pooling={implied!r}; got pooling={pooling!r}. "
                f"Fix: use model={shape!r}, pooling={pooling!r}."
            )
        warn(
            f"model={model!r} is deprecated and will be removed in a later release; use "
            f"model={shape!r}, pooling={implied!r} (the same model).",
            ToolkitDeprecationWarning,
            stacklevel=4,
        )
        model, pooling = shape, implied
    pooling = "hierarchical" if pooling is None else pooling
    if pooling == "none":
        for name, value, default in (
            ("jumps", jumps, None),
            ("change_location", change_location, "uniform"),
        ):
            if value != default and not (name == "jumps" and value == "normal"):
                raise OptionError(
                    f"{name}={value!r} describes the population of clients, so it needs "
                    "pooling='hierarchical'; each client analysed alone has fixed priors. "
                    f"Fix: use pooling='hierarchical' or drop {name}=."
                )
        jumps = "normal"
    if model == "broken_stick" and jumps in ("heavy", "mixture", "nonlocal"):
        raise OptionError(
            f"jumps={jumps!r} describes the sizes of jumps, and model='broken_stick' has no "
            "jump. Fix: drop jumps= or use model='linear'."
        )
    if jumps is None:
        # The hole at zero separates a change from no change; without the no-change spike
        # (change="always" or "none") there is nothing to separate, so the slab keeps zero.
        jumps = (
            "normal" if model == "broken_stick" else "nonlocal" if change == "mixture" else "heavy"
        )
    return Spec(shape=model, pooling=pooling, change=change, jumps=jumps, location=change_location)


def combine(
    ev0: np.ndarray,
    evk: np.ndarray,
    log_prior: np.ndarray,
    pi: np.ndarray,
    change: str,
    sign: np.ndarray,
) -> np.ndarray:
    """Per-client log-likelihood with change status and session summed out.

    ``ev0`` (..., N) without a change, ``evk`` (..., N, K) with a change at each candidate
    (and jump component; ``sign`` (K,) subtracts the components marked -1)::

        log p(y_i) = logaddexp(log(1 - pi) + ev0_i, log(pi) + logsumexp_k(evk_ik + log_prior_ik))
    """
    if change == "none":
        return ev0
    lse = signed_logsumexp(evk + log_prior, sign)
    if change == "always":
        return lse
    return np.logaddexp(np.log1p(-pi) + ev0, np.log(pi) + lse)


def signed_logsumexp(a: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """``log sum_k sign_k exp(a_k)`` over the last axis; -inf where rounding leaves the
    (mathematically positive) sum at zero or below."""
    if np.all(sign > 0):
        return logsumexp(a, axis=-1)
    with np.errstate(divide="ignore"):
        value, positive = logsumexp(a, axis=-1, b=np.broadcast_to(sign, a.shape), return_sign=True)
    return np.where(positive > 0, value, -np.inf)


def build_model(
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
) -> pm.Model:
    """Build a change-point model as a plain ``pymc.Model`` (for prior checks or own sampling).

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame also pass ``client=``, ``session=``, ``score=``.
    client, session, score : str, optional
        Column names when ``data`` is a DataFrame.
    instrument : str or Instrument, optional
        Sets the score range the priors are scaled to and the direction of improvement.
    model : {"linear", "mean", "broken_stick"}, default "linear"
        The shape of the change (see :mod:`toolkit.bayes`): ``"linear"`` a level shift with a
        change of slope, ``"mean"`` a level shift, ``"broken_stick"`` a change of slope
        without a jump (the line stays continuous). The earlier names ``"hierarchical"``,
        ``"trend"`` and ``"mean_shift"`` still work, with a deprecation warning.
    pooling : {"hierarchical", "none"}, default "hierarchical"
        ``"hierarchical"``: clients' effects come from population distributions learned
        from the cohort; ``"none"``: each client alone, with fixed priors.
    change : {"mixture", "always", "none"}, default "mixture"
        ``"mixture"``: each client changes with probability ``p_change``; ``"always"``: every
        client has exactly one change; ``"none"``: no change (the model to compare against).
    jumps : {"nonlocal", "heavy", "mixture", "normal"}, optional
        The population distribution of jumps among clients who change (hierarchical models
        with a jump): ``"heavy"`` a heavy-tailed contaminated normal with one population
        mean and SD, so that large jumps are not pulled towards the small ones;
        ``"nonlocal"`` (the default with ``change="mixture"``; ``"heavy"`` otherwise) the
        same slab with no density at a jump of zero, so that a client who changes changes
        by some amount and "no change" is only the spike (see Notes); ``"mixture"`` two
        normal components with their own means, SDs and weights (more flexible, slower to
        sample, and weakly identified when the jumps form one population); ``"normal"``
        one normal distribution.
    change_location : {"uniform", "pooled"}, default "uniform"
        Prior of each client's change session: uniform over the client's candidate sessions,
        or ``"pooled"``: a discretised normal whose mean ``change_session_mu`` and SD
        ``change_session_sd`` (in sessions) are learned from the cohort, as in a
        varying change-point model (hierarchical models only).
    covariates : list of str, optional
        Client-level columns (constant within client) predicting baseline and jump
        (hierarchical models only). Numeric columns are centred; text columns are
        dummy-coded against their first level and centred.
    better : {"lower", "higher"}, optional
        Direction of improvement when there is no instrument.

    Returns
    -------
    pymc.Model
        Coordinates ``client`` (analysed clients; those with fewer than 4 observed scores
        are left out), ``covariate`` and ``component``. The marginal likelihood is one
        ``pm.Potential`` named ``"marginal_likelihood"``. Free variables are in standardised
        units (suffix ``_std``); deterministics in score units: ``<effect>_mu`` and
        ``<effect>_sd`` for the effects ``baseline`` (expected score at the first session),
        ``pre_slope``, ``jump`` and ``post_slope`` (points per session) that the shape has,
        ``jump_component_mu`` / ``_sd`` and ``jump_component_weight`` (jumps="mixture"),
        ``beta_baseline``, ``beta_jump``, ``sigma``; ``p_change`` is the share of clients
        who change, ``change_session_mu`` / ``_sd`` the pooled change location.
        Client-level effects are integrated out (see Notes); :func:`toolkit.bayes.fit`
        draws them afterwards.

    Raises
    ------
    EmptyDataError
        Every score is missing, or no client has 4 observed scores.
    DataError
        Constant scores; a covariate that varies within a client, is missing or constant.
    OptionError
        An unknown option, or a population option (``jumps``, ``change_location``,
        ``covariates``) with ``pooling="none"``; a ``ValueError``.
    ValueError
        No direction of improvement.

    Notes
    -----
    Scores are standardised as ``y* = (y - c) / R`` with ``c`` the midpoint and ``R`` the
    width of the instrument's range (of the observed scores without an instrument); time is
    ``u = (session - first) / (last - first)``. For client *i* with a change taking effect
    at session *k* (the first session at the new level), model ``"linear"``::

        mu_it = a_i + b_i u_t                               (t < k)
        mu_it = a_i + b_i u_k + d_i + p_i (u_t - u_k)       (t >= k)
        y_it ~ Normal(mu_it, sqrt(sigma^2 + delta^2 / 12))

    with jump ``d`` and post-change slope ``p``; ``"broken_stick"`` is the same with
    ``d = 0`` and ``"mean"`` with ``b = p = 0``. Without a change ``mu_it = a_i + b_i u_t``.
    ``delta`` is the resolution of the recorded scores (the smallest step between two
    distinct scores: 1 for whole-number totals); rounding adds the variance
    ``delta^2 / 12``, which keeps a client with exactly collinear scores (e.g. at the floor
    of the scale) from an infinite likelihood. ``sigma`` in the results is the total noise
    SD. The change session has the prior ``P(k)``: uniform over the client's sessions with
    at least 2 observed scores before it and 2 from it on, or (``change_location=
    "pooled"``) proportional to ``exp(-(s_k - m)^2 / (2 s^2))`` over the same sessions. It
    is summed out::

        log p(y_i) = logaddexp(log(1 - pi) + l0_i,
                               log(pi) + logsumexp_{c, k}(log w_c + l_ikc + log P_i(k)))

    where ``l`` are the log-likelihoods without and with a change at *k* and jump component
    *c* (weight ``w_c``); missing sessions drop out of every sum. Priors, in standardised
    units (so in fractions of the instrument's range) with slopes per course, are weakly
    informative: a population-mean jump or total drift of half the range is two prior SDs::

        hierarchical: a_i ~ N(mu_a + x_i beta_a, s_a), b_i ~ N(mu_b, s_b),
                      p_i ~ N(mu_p, s_p); mu_a, mu_b, mu_p ~ N(0, 0.25);
                      s_a, s_b, s_p ~ HalfNormal(0.15); beta ~ N(0, 0.25);
                      jumps="normal":  d_i ~ N(mu_d + x_i beta_d, s_d),
                                       mu_d ~ N(0, 0.25), s_d ~ HalfNormal(0.15);
                      jumps="heavy":   d_i ~ 0.9 N(mu_d + x_i beta_d, sqrt(0.75) s_d)
                                           + 0.1 N(mu_d + x_i beta_d, sqrt(3.25) s_d),
                                       mu_d ~ N(0, 0.25), s_d ~ HalfNormal(0.15);
                      jumps="nonlocal": the heavy slab times (1 - exp(-d_i^2 / (2 t^2))),
                                       renormalised (each normal on its own), t = 0.055;
                      jumps="mixture": d_i ~ sum_c w_c N(m_c + x_i beta_d, s_c),
                                       m_1 < m_2 ~ N(0, 0.25) (ordered),
                                       s_c ~ HalfNormal(0.15), w ~ Dirichlet(2, 2);
                      sigma ~ HalfNormal(0.15), shared; pi ~ Beta(1, 1);
                      change_location="pooled": m ~ Uniform(first, last candidate session),
                                       s ~ HalfNormal(span / 2) (sessions)
        pooling="none" (each client alone): a_i, b_i, d_i, p_i ~ N(0, 0.3);
                      sigma_i ~ HalfNormal(0.15); pi = 0.5, fixed

    The jump distribution is a spike-and-slab prior (Mitchell & Beauchamp, 1988): the
    spike is "no change" (share ``1 - pi``), the slab heavy-tailed: a contaminated normal
    (Tukey, 1960) whose fixed weights and variance multipliers average to the population
    variance, so ``s_d`` is the SD of the jumps and ``mu_d`` their mean. With one normal
    slab, the large jumps of a few clients are shrunk towards the many small ones; with
    ``jumps="mixture"`` the two components' ordered means keep them apart (no label
    switching), but two components that overlap are weakly identified. A slab with density
    at zero lets a cohort be read as almost everyone changing a little (a gradual decline
    that is not a straight line looks like that), which pulls the slab towards zero and
    shrinks the large jumps; ``jumps="nonlocal"``, the default, removes that reading: its
    slab is a non-local prior (Johnson & Rossell, 2010) that vanishes at zero, with half its
    density gone within about 1.2 t (t = 1.5 points on PHQ-9's 27-point range). Each of its
    normals times the hole is a normal minus a narrower normal, so the evidence stays a
    signed sum of closed-form normal evidences.

    Given the change session (and jump component), ``y_i`` is linear in ``theta_i`` with a
    normal prior, so ``l_ikc`` is a normal marginal likelihood in closed form (matrix
    determinant lemma and Woodbury identity on 4 x 4 matrices, from per-client sums) and
    NUTS samples only the population-level parameters: the limit of the non-centred
    parameterisation, with no funnel left to form. Client-level effects are independent
    given the population (no correlation matrix); the hierarchical model shares one noise
    SD across clients. :func:`toolkit.bayes.fit` computes the models with
    ``pooling="none"`` exactly instead of sampling this model.

    References
    ----------
    Lindeløv, J. K. (2020). mcp: An R package for regression with multiple change points.
    OSF Preprints. https://doi.org/10.31219/osf.io/fzqxv
    Johnson, V. E., & Rossell, D. (2010). On the use of non-local prior densities in
    Bayesian hypothesis tests. Journal of the Royal Statistical Society: Series B, 72(2),
    143-170.
    Mitchell, T. J., & Beauchamp, J. J. (1988). Bayesian variable selection in linear
    regression. Journal of the American Statistical Association, 83(404), 1023-1032.
    Tukey, J. W. (1960). A survey of sampling from contaminated distributions. In I. Olkin
    (Ed.), Contributions to probability and statistics (pp. 448-485). Stanford University
    Press.
    Stan Development Team. Stan User's Guide, "Change point models" (marginalising a
    discrete change point).
    Bishop, C. M. (2006). Pattern Recognition and Machine Learning, section 3.5 (the
    evidence of Bayesian linear regression).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes
    >>> scores = toolkit.datasets.load_scores("sgdata")
    >>> m = bayes.build_model(scores, model="linear", pooling="none")
    >>> scores.n_clients, len(m.coords["client"])  # 3 clients have fewer than 4 scores
    (43, 40)
    """
    spec = resolve_spec("bayes.build_model", model, pooling, change, jumps, change_location)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(
        scores, shape=spec.shape, pooling=spec.pooling, covariates=covariates, better=better
    )
    return build(design, spec)


def slab(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """Variance multipliers and log weights of the jump's components around one population
    mean and SD (jumps="heavy", "nonlocal" before its hole, and "normal"; one component of
    multiplier 1 for the latter)."""
    if spec.jump_population in ("heavy", "nonlocal"):
        return HEAVY_SCALES, np.log(HEAVY_WEIGHTS)
    return np.ones(1), np.zeros(1)


def hole(mean: Any, var: Any, log_w: Any, ops: Any) -> tuple[Any, Any, Any]:
    """The non-local slab's components from the heavy slab's, along the last axis.

    Each normal component ``w N(d; m, v)`` times ``1 - exp(-d^2 / (2 t^2))`` is
    ``w / Z (N(d; m, v) - kappa N(d; m t^2 / (v + t^2), v t^2 / (v + t^2)))`` with
    ``kappa = sqrt(t^2 / (v + t^2)) exp(-m^2 / (2 (v + t^2)))`` and ``Z = 1 - kappa``.
    Returns means, variances and log absolute weights: the first half added, the second
    subtracted (:attr:`Spec.signs`). ``ops`` is NumPy or PyTensor (``log``, ``log1p``,
    ``exp``, ``concatenate``); ``mean`` and ``log_w`` broadcast against ``var``.
    """
    t2 = HOLE_SD**2
    total = var + t2
    log_kappa = 0.5 * ops.log(t2 / total) - mean**2 / (2.0 * total)
    log_z = ops.log1p(-ops.exp(log_kappa))
    means = ops.concatenate([mean + 0.0 * var, mean * t2 / total], axis=-1)
    variances = ops.concatenate([var, var * t2 / total], axis=-1)
    weights = ops.concatenate([log_w - log_z, log_w + log_kappa - log_z], axis=-1)
    return means, variances, weights


def effects_of(design: Design, change: str) -> list[str]:
    return design.effects if change != "none" else design.effects[: design.n_none]


def pooled_log_prior(ops: Any, sessions: np.ndarray, valid: np.ndarray, mu: Any, sd: Any) -> Any:
    """log P(k) of a discretised normal over each client's valid candidates, (..., N, K).

    ``mu`` and ``sd`` broadcast against (..., 1, 1); ``ops`` is NumPy or PyTensor.
    """
    raw = -0.5 * ((sessions - mu) / sd) ** 2
    masked = ops.where(valid, raw, -np.inf)
    return masked - ops.logsumexp(masked, axis=-1, keepdims=True)


def build(design: Design, spec: Spec) -> pm.Model:
    pm = pymc()
    import pytensor.tensor as pt

    from ._ops import Marginal

    C = spec.n_components
    coords: dict[str, Any] = {"client": design.clients.tolist()}
    if design.X is not None:
        coords["covariate"] = design.covariate_names
    if spec.free_components:
        coords["component"] = list(range(1, C + 1))
    effects = effects_of(design, spec.change)
    N, J = len(design.clients), len(design.effects)
    with_jump = design.has_jump and spec.change != "none"
    with pm.Model(coords=coords) as m:
        means: list[Any] = [np.zeros(N)] * J  # change-only effects stay 0 without a change
        variances: list[Any] = [1.0] * J
        jmean: Any = np.zeros((N, 1))
        jvar: Any = np.ones(1)
        log_w: Any = np.zeros(1)
        if spec.pooling == "hierarchical":
            for name in effects:
                j = design.effects.index(name)
                unit, offset = design.unit(name), design.offset(name)
                if name == "jump" and spec.free_components:
                    mu = pm.Normal(
                        "jump_component_mu_std",
                        0.0,
                        MU_SD,
                        dims="component",
                        transform=pm.distributions.transforms.ordered,
                        initval=np.linspace(-0.1, 0.1, C),
                    )
                    sd = pm.HalfNormal("jump_component_sd_std", SD_SD, dims="component")
                    wt = pm.Dirichlet(
                        "jump_component_weight", np.full(C, WEIGHT_A), dims="component"
                    )
                    pm.Deterministic("jump_component_mu", mu * unit, dims="component")
                    pm.Deterministic("jump_component_sd", sd * unit, dims="component")
                    mean_all = pt.sum(wt * mu)
                    var_all = pt.sum(wt * (sd**2 + mu**2)) - mean_all**2
                    pm.Deterministic("jump_mu", mean_all * unit)
                    pm.Deterministic("jump_sd", pt.sqrt(var_all) * unit)
                    shift: Any = pt.zeros((N, 1))
                    if design.X is not None:
                        beta = pm.Normal("beta_jump_std", 0.0, BETA_SD, dims="covariate")
                        pm.Deterministic("beta_jump", beta * unit, dims="covariate")
                        shift = pt.dot(design.X, beta)[:, None]
                    jmean = mu[None, :] + shift
                    jvar = sd**2
                    log_w = pt.log(wt)
                    continue
                mu = pm.Normal(f"{name}_mu_std", 0.0, MU_SD)
                sd = pm.HalfNormal(f"{name}_sd_std", SD_SD)
                pm.Deterministic(f"{name}_mu", offset + mu * unit)
                pm.Deterministic(f"{name}_sd", sd * unit)
                value: Any = pt.broadcast_to(mu, (N,))
                if design.X is not None and name in ("baseline", "jump"):
                    beta = pm.Normal(f"beta_{name}_std", 0.0, BETA_SD, dims="covariate")
                    pm.Deterministic(f"beta_{name}", beta * unit, dims="covariate")
                    value = mu + pt.dot(design.X, beta)
                if name == "jump":
                    scales, log_w = slab(spec)
                    jmean = pt.broadcast_to(value[:, None], (N, len(scales)))
                    jvar = sd**2 * scales
                    if spec.jump_population == "nonlocal":
                        jmean, jvar, log_w = hole(jmean, jvar, log_w, pt)
                else:
                    means[j], variances[j] = value, sd**2
            sigma = pm.HalfNormal("sigma_std", SIGMA_SD)
            sigma2_one = sigma**2 + design.floor2
            pm.Deterministic("sigma", pt.sqrt(sigma2_one) * design.scale)
            sigma2: Any = pt.broadcast_to(sigma2_one, (N,))
            pi: Any = (
                pt.stack([pm.Beta("p_change", 1.0, 1.0)])
                if spec.change == "mixture"
                else np.array([0.5])
            )
        else:
            variances = [ALONE_SD**2] * J
            jvar = np.full(1, ALONE_SD**2)
            sigma = pm.HalfNormal("sigma_std", SIGMA_SD, dims="client")
            sigma2 = sigma**2 + design.floor2
            pm.Deterministic("sigma", pt.sqrt(sigma2) * design.scale, dims="client")
            pi = np.array([NO_POOLING_P_CHANGE])
        loc: Any = np.array([0.0, 1.0])
        if spec.pooled_location:
            cand = design.candidate_sessions.astype(float)
            mu_k = pm.Uniform("change_session_mu", float(cand[0]), float(cand[-1]))
            sd_k = pm.HalfNormal("change_session_sd", design.span / 2)
            loc = pt.stack([mu_k, sd_k])
        op = Marginal(
            design, spec.change, spec.pooled_location, spec.signs if with_jump else np.ones(1)
        )
        if not with_jump:
            jmean, jvar, log_w = np.zeros((N, 1)), np.ones(1), np.zeros(1)
        mean = pt.stack([pt.as_tensor_variable(x) for x in means], axis=1)
        var = pt.stack([pt.as_tensor_variable(x) for x in variances])
        log_w = pt.broadcast_to(log_w, (N, op.C))  # the hole's weights vary by client
        ll = op(mean, jmean, var, jvar, sigma2, log_w, pi, loc)
        pm.Potential("marginal_likelihood", cast("pt.TensorVariable", ll).sum())
    return m


NP_HOLE = SimpleNamespace(log=np.log, log1p=np.log1p, exp=np.exp, concatenate=np.concatenate)
NP_OPS = SimpleNamespace(
    where=np.where, logsumexp=lambda x, axis, keepdims: logsumexp(x, axis=axis, keepdims=keepdims)
)


def hyper_draws(group: Any, design: Design, spec: Spec, rows: Any = None) -> SimpleNamespace:
    """Standardised hyperparameters per draw from a posterior (or prior) group.

    ``group`` maps names to arrays shaped (chain, draw, ...) (an xarray Dataset or a dict).
    Shapes broadcast against (draws, clients, candidates): ``mean`` a list per effect of
    (D, N, 1) arrays, the jump's (D, N, C) over its components; ``var`` likewise (D, 1, 1)
    and (D, 1, C); ``log_weight`` (D, 1, C) log component weights; ``sigma2`` (D, 1, 1) or
    (D, N, 1); ``pi`` (D, 1) or None; ``log_prior`` (1 or D, N, K).
    """

    def get(name: str) -> np.ndarray:
        v = np.asarray(group[name], dtype=float)
        return v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])

    def has(name: str) -> bool:
        return name in group

    st = design.stats if rows is None else design.stats.take(rows)
    n = len(st.n)
    effects = effects_of(design, spec.change)
    C = spec.n_components
    X = None if design.X is None else (design.X if rows is None else design.X[rows])
    log_weight = np.zeros((1, 1, 1))
    if spec.pooling == "hierarchical":
        mean, var = [], []
        for name in effects:
            if name == "jump" and spec.free_components:
                mu = get("jump_component_mu_std")[:, None, :]  # (D, 1, C)
                sd = get("jump_component_sd_std")[:, None, :]
                log_weight = np.log(get("jump_component_weight"))[:, None, :]
                if has("beta_jump_std"):
                    mu = mu + (get("beta_jump_std") @ cast(np.ndarray, X).T)[..., None]
                mean.append(np.broadcast_to(mu, (len(mu), n, C)))
                var.append(sd**2)
                continue
            mu = get(f"{name}_mu_std")[:, None]
            if has(f"beta_{name}_std"):
                mu = mu + get(f"beta_{name}_std") @ cast(np.ndarray, X).T
            sd2 = (get(f"{name}_sd_std") ** 2)[:, None, None]
            if name == "jump":  # one normal, or the contaminated normal's components
                scales, log_w = slab(spec)
                jm = np.broadcast_to(mu[..., None], (len(mu), n, len(scales)))
                jv = sd2 * scales[None, None, :]
                log_weight = log_w[None, None, :]
                if spec.jump_population == "nonlocal":
                    jm, jv, log_weight = hole(jm, jv, log_weight, NP_HOLE)
                mean.append(jm)
                var.append(jv)
                continue
            mean.append(np.broadcast_to(mu, (len(mu), n))[..., None])
            var.append(sd2)
        sigma2 = (get("sigma_std") ** 2 + design.floor2)[:, None, None]
        pi = get("p_change")[:, None] if spec.change == "mixture" else None
    else:
        sigma = get("sigma_std")
        sigma = sigma if rows is None else sigma[:, rows]
        D = len(sigma)
        mean = [np.zeros((D, n, 1)) for _ in effects]
        var = [np.full((D, 1, 1), ALONE_SD**2) for _ in effects]
        sigma2 = (sigma**2 + design.floor2)[..., None]
        pi = np.full((D, 1), NO_POOLING_P_CHANGE) if spec.change == "mixture" else None
    D = len(sigma2)
    loc = None
    if spec.pooled_location:
        loc = np.stack([get("change_session_mu"), get("change_session_sd")], axis=1)[..., None]
    return SimpleNamespace(
        mean=mean,
        var=var,
        log_weight=log_weight,
        sigma2=sigma2,
        pi=pi,
        log_prior=st.log_prior[None],
        loc=loc,  # (D, 2, 1): pooled change location (mean, SD) per draw, or None
        valid=st.valid,
        sessions=design.candidate_sessions.astype(float),
        n_draws=D,
    )


def location_log_prior(hyper: SimpleNamespace) -> np.ndarray:
    """log P(k) per (draw, client, candidate): (1, N, K) uniform, or (D, N, K) pooled."""
    if hyper.loc is None:
        return hyper.log_prior
    mu, sd = hyper.loc[:, :1], hyper.loc[:, 1:]
    return pooled_log_prior(NP_OPS, hyper.sessions, hyper.valid[None], mu, sd)


def take_draws(hyper: SimpleNamespace, draws: slice) -> SimpleNamespace:
    """The hyperparameters of a block of draws (arrays without a draw axis kept whole)."""
    D = hyper.n_draws

    def cut(a: Any) -> Any:
        if a is None:
            return None
        a = np.asarray(a)
        return a[draws] if a.shape[0] == D else a

    sigma2 = cut(hyper.sigma2)
    return SimpleNamespace(
        mean=[cut(m) for m in hyper.mean],
        var=[cut(v) for v in hyper.var],
        log_weight=cut(hyper.log_weight),
        sigma2=sigma2,
        pi=cut(hyper.pi),
        log_prior=hyper.log_prior,
        loc=cut(hyper.loc),
        valid=hyper.valid,
        sessions=hyper.sessions,
        n_draws=len(sigma2),
    )


# --- the priors in NumPy --------------------------------------------------------------------
def prior_draws(design: Design, spec: Spec, n: int, rng: np.random.Generator) -> dict:
    """Draws of every free variable from its prior, shaped (1, n, ...) like a posterior group,
    with the score-scale deterministics (the same definitions as :func:`build`)."""
    out: dict[str, np.ndarray] = {}
    C = spec.n_components
    P = 0 if design.X is None else design.X.shape[1]

    def put(name: str, value: np.ndarray) -> None:
        out[name] = value[None]

    def half(scale: float, size: Any = None) -> np.ndarray:
        return np.abs(rng.normal(0.0, scale, size=(n,) if size is None else (n, size)))

    if spec.pooling == "hierarchical":
        for name in effects_of(design, spec.change):
            unit, offset = design.unit(name), design.offset(name)
            if name == "jump" and spec.free_components:
                mu = np.sort(rng.normal(0.0, MU_SD, (n, C)), axis=1)
                sd = half(SD_SD, C)
                wt = rng.dirichlet(np.full(C, WEIGHT_A), n)
                put("jump_component_mu_std", mu)
                put("jump_component_sd_std", sd)
                put("jump_component_weight", wt)
                put("jump_component_mu", mu * unit)
                put("jump_component_sd", sd * unit)
                mean_all = (wt * mu).sum(axis=1)
                var_all = (wt * (sd**2 + mu**2)).sum(axis=1) - mean_all**2
                put("jump_mu", mean_all * unit)
                put("jump_sd", np.sqrt(var_all) * unit)
            else:
                mu, sd = rng.normal(0.0, MU_SD, n), half(SD_SD)
                put(f"{name}_mu_std", mu)
                put(f"{name}_sd_std", sd)
                put(f"{name}_mu", offset + mu * unit)
                put(f"{name}_sd", sd * unit)
            if P and name in ("baseline", "jump"):
                beta = rng.normal(0.0, BETA_SD, (n, P))
                put(f"beta_{name}_std", beta)
                put(f"beta_{name}", beta * unit)
        sigma = half(SIGMA_SD)
        put("sigma_std", sigma)
        put("sigma", np.sqrt(sigma**2 + design.floor2) * design.scale)
        if spec.change == "mixture":
            put("p_change", rng.beta(1.0, 1.0, n))
        if spec.pooled_location:
            cand = design.candidate_sessions.astype(float)
            put("change_session_mu", rng.uniform(cand[0], cand[-1], n))
            put("change_session_sd", half(design.span / 2))
    else:
        sigma = half(SIGMA_SD, len(design.clients))
        put("sigma_std", sigma)
        put("sigma", np.sqrt(sigma**2 + design.floor2) * design.scale)
    return out


def in_hole(draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rejection step of the non-local slab: True (reject) with probability
    ``exp(-d^2 / (2 t^2))`` for each draw ``d`` of a jump from one of its normals, so the
    kept draws follow that normal times ``1 - exp(-d^2 / (2 t^2))`` (the tilt is at most 1)."""
    return rng.random(draws.shape) < np.exp(-(draws**2) / (2.0 * HOLE_SD**2))


def draw_outside_hole(
    mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator, max_rounds: int = 200
) -> np.ndarray:
    """Draws from ``N(mean, sd) (1 - exp(-d^2 / (2 t^2)))``, normalised, by rejection
    (:func:`in_hole`). Entries still rejected after ``max_rounds`` rounds, where nearly all
    the normal's mass lies inside the hole, keep their last draw.
    """
    mean, sd = np.broadcast_arrays(mean, sd)
    out = mean + sd * rng.standard_normal(mean.shape)
    todo = in_hole(out, rng)
    for _ in range(max_rounds):
        if not todo.any():
            break
        fresh = mean[todo] + sd[todo] * rng.standard_normal(int(todo.sum()))
        out[todo] = fresh
        todo[todo] = in_hole(fresh, rng)
    return out


def simulate(
    design: Design, spec: Spec, hyper: SimpleNamespace, rng: np.random.Generator
) -> SimpleNamespace:
    """Whole cohorts from hyperparameters: standardised scores (D, N, T), change status,
    candidate index and jump (standardised; NaN without a change) per (draw, client)."""
    D, (N, T) = hyper.n_draws, design.matrix.shape
    effects = effects_of(design, spec.change)
    nonlocal_slab = spec.jump_population == "nonlocal"
    C = spec.n_components // 2 if nonlocal_slab else spec.n_components
    comp = np.zeros((D, N), dtype=np.int64)
    if C > 1:
        if nonlocal_slab:  # the heavy slab's components, before the hole
            weights = np.broadcast_to(np.exp(slab(spec)[1]), (D, C))
        else:
            weights = np.exp(np.broadcast_to(hyper.log_weight[:, 0, :], (D, C)))
        comp = (rng.random((D, N, 1)) > np.cumsum(weights, axis=-1)[:, None, :]).sum(axis=-1)
        comp = np.minimum(comp, C - 1)
    theta = []
    for j, (m, v) in enumerate(zip(hyper.mean, hyper.var)):
        m = np.broadcast_to(m, (D, N, m.shape[-1]))
        v = np.broadcast_to(v, (D, N, v.shape[-1]))
        pick = np.minimum(comp, m.shape[-1] - 1)[..., None]
        mc = np.take_along_axis(m, pick, axis=-1)[..., 0]
        vc = np.take_along_axis(v, pick, axis=-1)[..., 0]
        if nonlocal_slab and j == design.jump_index:
            theta.append(draw_outside_hole(mc, np.sqrt(vc), rng))
        else:
            theta.append(mc + np.sqrt(vc) * rng.standard_normal((D, N)))
    y = sum(theta[j][..., None] * design.rows0[:, j] for j in range(design.n_none))
    changed = np.zeros((D, N), dtype=bool)
    k = np.zeros((D, N), dtype=np.int64)
    jump = np.full((D, N), np.nan)
    if spec.change != "none":
        if spec.change == "mixture":
            changed = rng.random((D, N)) < hyper.pi
        else:
            changed = ~changed
        prior = np.exp(np.broadcast_to(location_log_prior(hyper), (D, N, len(design.candidates))))
        k = (rng.random((D, N, 1)) > np.cumsum(prior, axis=-1)).sum(axis=-1)
        k = np.minimum(k, len(design.candidates) - 1)
        rows = design.rows[k]  # (D, N, T, J)
        y_change = sum(theta[j][..., None] * rows[..., j] for j in range(len(effects)))
        y = np.where(changed[..., None], y_change, y)
        if design.has_jump:
            jump = np.where(changed, theta[design.jump_index], np.nan)
    y = y + np.sqrt(hyper.sigma2) * rng.standard_normal((D, N, T))
    return SimpleNamespace(y=y, changed=changed, k=k, jump=jump)


def prior_predictive(
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
    draws: int = 100,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Simulate scores from a model's priors, on the data's clients and sessions.

    A prior predictive check: do the priors allow every plausible trajectory and rule out
    absurd ones? Arguments as in :func:`build_model`. The priors are drawn with NumPy from
    the same definitions as the PyMC model (no compilation).

    Parameters
    ----------
    draws : int, default 100
        Prior draws (each a whole simulated cohort).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    pandas.DataFrame
        One row per draw, client and session at which the client was observed: ``draw``,
        ``client``, ``session``, ``score`` (simulated; not clipped to the instrument's range,
        so out-of-range values show where the priors are wide), ``change`` (bool),
        ``change_session`` (NaN without a change) and ``jump`` (score points; NaN without a
        change or in a model without a jump).

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import bayes
    >>> sim = bayes.prior_predictive(toolkit.datasets.load_scores("sgdata"), draws=20, seed=1)
    >>> list(sim.columns) == bayes.PRIOR_PREDICTIVE_COLUMNS
    True
    >>> sim["draw"].nunique()
    20
    """
    spec = resolve_spec("bayes.prior_predictive", model, pooling, change, jumps, change_location)
    draws = _checks.whole(draws, "draws", "bayes.prior_predictive", low=1)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    design = make_design(
        scores, shape=spec.shape, pooling=spec.pooling, covariates=covariates, better=better
    )
    rng = np.random.default_rng(seed)
    hyper = hyper_draws(prior_draws(design, spec, draws, rng), design, spec)
    sim = simulate(design, spec, hyper, rng)
    D, (N, T) = hyper.n_draws, design.matrix.shape
    d_idx, n_idx, t_idx = np.nonzero(np.broadcast_to(~np.isnan(design.matrix), (D, N, T)))
    session_of = np.where(sim.changed, design.candidate_sessions[sim.k], np.nan)
    return pd.DataFrame(
        {
            "draw": d_idx,
            "client": design.clients.to_numpy()[n_idx],
            "session": design.sessions[t_idx],
            "score": design.mid + design.scale * sim.y[d_idx, n_idx, t_idx],
            "change": sim.changed[d_idx, n_idx],
            "change_session": session_of[d_idx, n_idx],
            "jump": (design.unit("jump") * sim.jump)[d_idx, n_idx],
        }
    )[PRIOR_PREDICTIVE_COLUMNS]


def group_names(group: Mapping[str, Any] | Any) -> list[str]:
    """Variable names of a posterior group (xarray Dataset or dict)."""
    keys = group.data_vars if hasattr(group, "data_vars") else group.keys()
    return [str(k) for k in keys]
