"""Simulated therapy trajectories with known breakthroughs, for validating methods and planning.

:func:`trajectories` draws whole cohorts at once on a (clients x sessions) array: baseline
severity, gradual improvement (linear or log-linear) that varies across clients,
non-responders, sudden gains and sudden losses at known sessions, partial reversal of gains,
measurement noise matched to the instrument's reliability, rounding and floor/ceiling
clipping, and missing sessions (at random, and dropout). For monitoring studies it also draws
clients who deteriorate, late responders (little change until mid-course, then rapid
improvement), courses of different lengths, and a second, paired measure (e.g. GAD-7 beside
PHQ-9). It returns the scores in long format and a tidy table of the true changes, so
detection methods can be scored against the truth.

Examples
--------
>>> from toolkit.simulate import trajectories
>>> scores, truth = trajectories(100, 12, instrument="PHQ-9", gain_share=0.3, seed=1)
>>> list(scores.columns)
['client', 'session', 'score', 'true_score']
>>> sorted(truth["kind"].unique())
['gain']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import _checks
from . import instruments as _instruments
from .errors import OptionError
from .instruments import Instrument

__all__ = ["trajectories", "TRUTH_COLUMNS"]

#: Columns of the truth table returned by :func:`trajectories`.
TRUTH_COLUMNS = ["client", "kind", "session", "magnitude", "reverses_session"]


@dataclass(frozen=True)
class _Scale:
    """The instrument's numbers the defaults are expressed in."""

    unit: float  # one clinical SD (or a sixth of the range when no norm is published)
    baseline: float
    noise_sd: float


def _scale(inst: Instrument) -> _Scale:
    span = inst.max_score - inst.min_score
    unit = inst.clinical_sd if inst.clinical_sd is not None else span / 6
    if inst.clinical_mean is not None:
        baseline = inst.clinical_mean
    else:  # two thirds of the way towards the worse end: a plausible treatment-seeking level
        worse = inst.max_score if inst.better == "lower" else inst.min_score
        baseline = worse - (worse - (inst.min_score + inst.max_score) / 2) * 2 / 3
    r = inst.test_retest or inst.reliability or 0.9
    return _Scale(unit=unit, baseline=baseline, noise_sd=unit * np.sqrt(1 - r))


def trajectories(
    n_clients: int,
    n_sessions: int,
    *,
    instrument: str | Instrument = "BDI-II",
    seed: int | np.random.Generator | None = None,
    baseline: float | None = None,
    baseline_sd: float | None = None,
    gradual: float | None = None,
    gradual_sd: float | None = None,
    shape: Literal["linear", "log"] = "linear",
    nonresponder_share: float = 0.2,
    gain_share: float = 0.3,
    gain_size: tuple[float, float] | None = None,
    gains_per_client: int = 1,
    loss_share: float = 0.0,
    loss_size: tuple[float, float] | None = None,
    reversal_share: float = 0.0,
    reversal_fraction: tuple[float, float] = (0.5, 1.0),
    change_sessions: tuple[int, int] | None = None,
    noise_sd: float | None = None,
    missing: float = 0.0,
    dropout: float = 0.0,
    first_session: int = 1,
    round_scores: bool | None = None,
    deteriorator_share: float = 0.0,
    deterioration: tuple[float, float] | None = None,
    late_responder_share: float = 0.0,
    late_response: tuple[float, float] | None = None,
    late_onset: tuple[float, float] = (0.4, 0.6),
    late_ramp: int = 2,
    course_length: tuple[int, int] | None = None,
    paired_instrument: str | Instrument | None = None,
    paired_coupling_sd: float = 0.5,
    paired_baseline_correlation: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate session-by-session scores with sudden changes at known sessions.

    All sizes are in score units and positive numbers mean *improvement* in the
    instrument's direction (lower scores for BDI-II, higher for WHO-5). Defaults are
    expressed in the instrument's clinical SD, called *unit* below (a sixth of the score
    range when no norm is published).

    Parameters
    ----------
    n_clients, n_sessions : int
        Cohort size and sessions per client (sessions ``first_session, first_session+1, ...``).
    instrument : str or Instrument, default "BDI-II"
        Sets the range, direction, rounding and the default scale.
    seed : int or numpy.random.Generator, optional
        Same seed, same data. Each component (baseline, gradual change, gains, losses,
        reversals, noise, missingness) draws from its own stream, so switching one on or off
        leaves the others unchanged.
    baseline, baseline_sd : float, optional
        Mean and SD of true baseline severity (default: the clinical mean and 0.5 unit).
    gradual, gradual_sd : float, optional
        Mean and SD across responders of the total gradual improvement over the course
        (default 0.5 unit and 0.25 unit).
    shape : {"linear", "log"}, default "linear"
        Gradual change proportional to elapsed sessions, or to log(1 + elapsed sessions)
        (fast early change that levels off).
    nonresponder_share : float, default 0.2
        Share of clients with no gradual change (they may still have gains or losses).
    gain_share : float, default 0.3
        Share of clients with sudden gains.
    gain_size : (mean, sd), optional
        Gamma-distributed gain magnitude (default mean 0.9 unit, SD 0.3 unit; for BDI-II
        about 11.5 points, close to the 11 points Tang & DeRubeis (1999) reported).
    gains_per_client : int, default 1
        Number of gains of each client with gains (at distinct sessions).
    loss_share : float, default 0.0
        Share of clients with one sudden loss (drawn independently of gains).
    loss_size : (mean, sd), optional
        Gamma-distributed loss magnitude (default as for gains).
    reversal_share : float, default 0.0
        Share of clients with gains whose first gain is later partly reversed.
    reversal_fraction : (low, high), default (0.5, 1.0)
        The reversed part of the gain, uniform in this interval.
    change_sessions : (first, last), optional
        Sessions at which a sudden change can take effect (the first session at the new
        level). Default: the 4th to the 3rd-last session, so that three sessions precede and
        three follow each change.
    noise_sd : float, optional
        SD of measurement error (default: the standard error of measurement,
        unit * sqrt(1 - r), with r the test-retest reliability, else the internal
        consistency, else 0.9).
    missing : float, default 0.0
        Probability that a session after the first is missing (completely at random).
    dropout : float, default 0.0
        Probability of dropping out after each session (from the second on): every later
        session is missing.
    first_session : int, default 1
        Number of the first session.
    round_scores : bool, optional
        Round observed scores to whole numbers (default: when the instrument has integer
        totals).
    deteriorator_share : float, default 0.0
        Share of clients who get worse gradually over their course instead of improving.
    deterioration : (mean, sd), optional
        Normal total worsening of a deteriorator over its course (default mean 1.5 unit,
        SD 0.5 unit; truncated at 0), spread over the course like gradual change.
    late_responder_share : float, default 0.0
        Share of clients with no gradual change until mid-course, then a rapid improvement
        (deteriorators and late responders are distinct clients: the two shares add up to
        at most 1).
    late_response : (mean, sd), optional
        Normal total improvement of a late responder (default mean 1.5 unit, SD 0.4 unit;
        truncated at 0).
    late_onset : (low, high), default (0.4, 0.6)
        When the late response begins, as a fraction of the client's course (uniform).
    late_ramp : int, default 2
        Over how many sessions the late response is complete (1: a single step).
    course_length : (shortest, longest), optional
        Courses of different lengths: each client has a uniform whole number of sessions in
        this range (at most ``n_sessions``); rows after a client's last session are left
        out, its gradual change is spread over its own course, and sudden changes that fall
        after it are dropped from the truth. Default: every client has ``n_sessions``.
    paired_instrument : str or Instrument, optional
        Add a second measure taken at the same sessions (e.g. ``"GAD-7"`` with a PHQ-9
        primary): its true course follows the primary's in units of each instrument
        (every gradual change, sudden change, deterioration and late response), scaled by a
        client-level coupling, with its own baseline, noise, rounding and range; it is
        missing where the primary score is.
    paired_coupling_sd : float, default 0.5
        SD across clients of the coupling (mean 1): how differently the two measures move.
    paired_baseline_correlation : float, default 0.5
        Correlation of the two measures' baselines.

    Returns
    -------
    scores : pandas.DataFrame
        ``n_clients * n_sessions`` rows (fewer with ``course_length``) sorted by client and
        session: ``client`` (1..n), ``session``, ``score`` (observed, NaN when missing) and
        ``true_score`` (noise-free, clipped to the range, present even when the session is
        missing); with ``paired_instrument`` also ``paired_score`` and
        ``paired_true_score``.
    truth : pandas.DataFrame
        One row per true change: ``client``, ``kind`` ("gain", "loss", "reversal",
        "deterioration" or "late response"), ``session`` (first session at the new level;
        for a deterioration the second session, for a late response its first session of
        improvement), ``magnitude`` (size of the change in score units, positive; for a
        deterioration or late response the total over the course) and
        ``reverses_session`` (for a reversal, the session of the gain it reverses; NaN
        otherwise). Clients without changes have no rows. Sorted by client and session.

    Raises
    ------
    OptionError
        An argument of the wrong type or outside its range; the message names it, gives
        the valid range (sizes and SDs in the instrument's points, at most its whole range;
        ``baseline`` within the range; shares in [0, 1]; ``first_session`` >= 0, as the data
        layer requires of sessions; ``seed`` None, a whole number >= 0 or a Generator) and
        the value given. Booleans are never numbers here (``n_clients=True`` is refused).
    UnknownNameError
        An unknown ``instrument`` or ``paired_instrument``.

    Notes
    -----
    True score of client *i* at elapsed session *t* = 0, 1, ..., T-1 (``d`` = +1 when lower
    is better, -1 otherwise)::

        true[i, t] = baseline[i] - d * (gradual[i] * f(t) + sum(steps of i up to t))

    with f(t) = t / (T-1) (linear) or log(1+t) / log(T) (log), gains and reversals entering
    the steps with their sign. Observed = true + Normal(0, noise_sd), rounded, then both are
    clipped to the instrument's range (so a step near the floor can look smaller than its
    magnitude). With ``course_length``, T is each client's own course length. A
    deteriorator's ``gradual[i]`` is minus its worsening; a late responder's gradual term is
    ``total[i] * min(1, (t - onset[i] + 1) / late_ramp)`` from its onset on (0 before). The
    paired measure's true score is ``baseline2[i] - d2 * unit2 * coupling[i] * change[i, t] /
    unit``, with ``change`` the primary's improvement (gradual plus steps) in its points.

    New components draw from their own streams, after the existing ones: with the new
    options left at their defaults the output is exactly that of earlier versions.

    Examples
    --------
    >>> scores, truth = trajectories(5, 10, gain_share=1.0, seed=3)
    >>> truth[["client", "kind", "session"]].head(2)
       client  kind  session
    0       1  gain        4
    1       2  gain        5
    """
    inst = _instruments.get(instrument)
    if paired_instrument is not None:
        _instruments.get(paired_instrument)
    checked = _check_arguments(locals(), inst)
    n_clients, n_sessions, seed = checked["n_clients"], checked["n_sessions"], checked["seed"]
    first_session, gains_per_client = checked["first_session"], checked["gains_per_client"]
    late_ramp = checked["late_ramp"]
    scale = _scale(inst)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    streams = dict(
        zip(("baseline", "gradual", "events", "reversal", "noise", "missing"), rng.spawn(6))
    )
    n, t_count = n_clients, n_sessions
    sessions = first_session + np.arange(t_count)

    base = streams["baseline"].normal(
        scale.baseline if baseline is None else baseline,
        0.5 * scale.unit if baseline_sd is None else baseline_sd,
        size=n,
    )
    extra = (
        deteriorator_share > 0
        or late_responder_share > 0
        or course_length is not None
        or paired_instrument is not None
    )
    if extra:  # spawned only when used, so that the existing streams stay as they were
        streams.update(zip(("roles", "course", "late", "paired"), rng.spawn(4)))
    lengths = _course_lengths(streams.get("course"), n, t_count, course_length)
    improvement = _gradual(
        streams["gradual"],
        n,
        t_count,
        scale,
        gradual,
        gradual_sd,
        shape,
        nonresponder_share,
        lengths if course_length is not None else None,
    )
    role_events = []
    if deteriorator_share > 0 or late_responder_share > 0:
        improvement, role_events = _roles(
            streams["roles"],
            streams["late"],
            improvement,
            scale,
            lengths,
            shape,
            deteriorator_share,
            deterioration,
            late_responder_share,
            late_response,
            late_onset,
            late_ramp,
        )

    lo, hi = _change_window(change_sessions, sessions)
    steps = np.zeros((n, t_count))
    events = []
    g_rows, g_cols, l_rows, l_cols = _event_positions(
        streams["events"], n, lo, hi, gain_share, gains_per_client, loss_share
    )
    g_mag = _gamma(
        streams["events"], len(g_rows), gain_size or (0.9 * scale.unit, 0.3 * scale.unit)
    )
    l_mag = _gamma(
        streams["events"], len(l_rows), loss_size or (0.9 * scale.unit, 0.3 * scale.unit)
    )
    steps[g_rows, g_cols] += g_mag  # gains and losses sit at distinct cells
    steps[l_rows, l_cols] -= l_mag
    events += [("gain", g_rows, g_cols, g_mag, None), ("loss", l_rows, l_cols, l_mag, None)]

    r_rows, r_cols, r_mag, r_of = _reversals(
        streams["reversal"], g_rows, g_cols, g_mag, t_count, reversal_share, reversal_fraction
    )
    np.add.at(steps, (r_rows, r_cols), -r_mag)
    events.append(("reversal", r_rows, r_cols, r_mag, r_of))

    d = inst.sign
    change = improvement + np.cumsum(steps, axis=1)
    true = base[:, None] - d * change
    observed = true + streams["noise"].normal(
        0.0, scale.noise_sd if noise_sd is None else noise_sd, size=true.shape
    )
    if inst.integer_scores if round_scores is None else round_scores:
        observed = np.round(observed)
    np.clip(observed, inst.min_score, inst.max_score, out=observed)
    observed += 0.0  # turns the -0.0 that rounding can leave into 0.0
    np.clip(true, inst.min_score, inst.max_score, out=true)
    gone = _missing_mask(streams["missing"], n, t_count, missing, dropout)
    observed[gone] = np.nan

    columns = {
        "client": np.repeat(np.arange(1, n + 1, dtype=np.int64), t_count),
        "session": np.tile(sessions.astype(np.int64), n),
        "score": observed.reshape(-1),
        "true_score": true.reshape(-1),
    }
    if paired_instrument is not None:
        bsd = 0.5 * scale.unit if baseline_sd is None else baseline_sd
        bmean = scale.baseline if baseline is None else baseline
        z_base = (base - bmean) / bsd if bsd > 0 else np.zeros(n)
        obs2, true2 = _paired(
            streams["paired"],
            _instruments.get(paired_instrument),
            change / scale.unit,
            z_base,
            paired_coupling_sd,
            paired_baseline_correlation,
            round_scores,
        )
        obs2[gone] = np.nan
        columns["paired_score"] = obs2.reshape(-1)
        columns["paired_true_score"] = true2.reshape(-1)
    scores = pd.DataFrame(columns)
    truth = _truth_table(events + role_events, sessions)
    if course_length is not None:
        scores = scores[
            (columns["session"] - first_session) < np.repeat(lengths, t_count)
        ].reset_index(drop=True)
        keep = (truth["session"].to_numpy() - first_session) < lengths[truth["client"] - 1]
        truth = truth[keep].reset_index(drop=True)
    return scores, truth


_FUNCTION = "trajectories"
#: Largest cohort and course :func:`trajectories` draws (beyond: memory, not a study design).
_MAX_CLIENTS = 100_000_000
_MAX_SESSIONS = 10_000
_SHARES = (
    "nonresponder_share",
    "gain_share",
    "loss_share",
    "reversal_share",
    "missing",
    "dropout",
    "deteriorator_share",
    "late_responder_share",
)


def _check_arguments(args: dict[str, Any], inst: Instrument) -> dict[str, Any]:
    """Every argument of :func:`trajectories` checked with the data layer's standard: the
    option, its valid range (in the instrument's points where it is a size) and the value
    given. Returns the whole-number arguments as ints."""
    fn = _FUNCTION
    n_sessions = _checks.whole(args["n_sessions"], "n_sessions", fn, low=2, high=_MAX_SESSIONS)
    out: dict[str, Any] = {
        "n_clients": _checks.whole(args["n_clients"], "n_clients", fn, low=1, high=_MAX_CLIENTS),
        "n_sessions": n_sessions,
        "seed": _checks.seed(args["seed"], "seed", fn, generator=True),
        "first_session": _checks.whole(
            args["first_session"], "first_session", fn, low=0, high=_checks.MAX_COUNT
        ),
        "gains_per_client": _checks.whole(
            args["gains_per_client"], "gains_per_client", fn, low=1, high=n_sessions
        ),
        "late_ramp": _checks.whole(args["late_ramp"], "late_ramp", fn, low=1, high=n_sessions),
    }
    _checks.choice(args["shape"], "shape", fn, ("linear", "log"))
    for name in _SHARES:
        _checks.share(args[name], name, fn)
    if args["round_scores"] is not None:
        _checks.flag(args["round_scores"], "round_scores", fn)
    span = float(inst.max_score - inst.min_score)
    points = f"points of {inst.name}"
    if args["baseline"] is not None:
        _checks.number(args["baseline"], "baseline", fn, low=inst.min_score, high=inst.max_score)
    for name in ("baseline_sd", "gradual_sd", "noise_sd"):
        if args[name] is not None:
            _checks.number(args[name], name, fn, low=0.0, high=span)
    if args["gradual"] is not None:
        _checks.number(args["gradual"], "gradual", fn, low=-span, high=span)
    for name, low_open in (
        ("gain_size", True),
        ("loss_size", True),
        ("deterioration", False),
        ("late_response", False),
    ):
        if args[name] is not None:
            _checks.pair(
                args[name],
                name,
                fn,
                unit=points,
                first=(0.0, span, low_open, False),
                second=(0.0, span, False, False),
            )
    low, high = _checks.pair(
        args["reversal_fraction"],
        "reversal_fraction",
        fn,
        names=("low", "high"),
        first=(0.0, 1.0, True, False),
        second=(0.0, 1.0, True, False),
    )
    if low > high:
        raise OptionError(
            f"The 'reversal_fraction' parameter of {fn} must be (low, high) with 0 < low <= "
            f"high <= 1. Got {args['reversal_fraction']!r} instead."
        )
    low, high = _checks.pair(
        args["late_onset"],
        "late_onset",
        fn,
        names=("low", "high"),
        first=(0.0, 1.0, True, True),
        second=(0.0, 1.0, True, True),
    )
    if low > high:
        raise OptionError(
            f"The 'late_onset' parameter of {fn} must be (low, high) with 0 < low <= high < 1. "
            f"Got {args['late_onset']!r} instead."
        )
    if args["deteriorator_share"] + args["late_responder_share"] > 1:
        raise OptionError(
            f"The 'deteriorator_share' and 'late_responder_share' parameters of {fn} must add "
            f"up to at most 1 (they are distinct clients). Got {args['deteriorator_share']!r} "
            f"+ {args['late_responder_share']!r} instead."
        )
    for name, least, (a_name, b_name) in (
        ("change_sessions", 0, ("first", "last")),
        ("course_length", 2, ("shortest", "longest")),
    ):
        value = args[name]
        if value is None:
            continue
        wanted = (
            f"None or ({a_name}, {b_name}) whole numbers with {least} <= {a_name} <= {b_name}"
            + (f" <= n_sessions ({n_sessions})" if name == "course_length" else "")
        )
        ok = isinstance(value, (tuple, list)) and len(value) == 2
        if ok:
            try:
                a, b = (_checks.whole(v, name, fn, low=least) for v in value)
            except OptionError:
                ok = False
            else:
                ok = a <= b and (name != "course_length" or b <= n_sessions)
        if not ok:
            raise OptionError(
                f"The '{name}' parameter of {fn} must be {wanted}. Got {value!r} instead."
            )
    _checks.number(args["paired_coupling_sd"], "paired_coupling_sd", fn, low=0.0, high=10.0)
    _checks.number(
        args["paired_baseline_correlation"], "paired_baseline_correlation", fn, low=-1.0, high=1.0
    )
    return out


def _gradual(rng, n, t_count, scale, gradual, gradual_sd, shape, nonresponder_share, lengths):
    total = rng.normal(
        0.5 * scale.unit if gradual is None else gradual,
        0.25 * scale.unit if gradual_sd is None else gradual_sd,
        size=n,
    )
    total[rng.random(n) < nonresponder_share] = 0.0
    if lengths is not None:
        return total[:, None] * _profile(shape, t_count, lengths)
    elapsed = np.arange(t_count, dtype=float)
    if shape == "linear":
        profile = elapsed / (t_count - 1)
    else:
        profile = np.log1p(elapsed) / np.log(t_count)
    return total[:, None] * profile[None, :]


def _profile(shape: str, t_count: int, lengths: np.ndarray) -> np.ndarray:
    """Each client's share of its gradual change by elapsed session, over its own course
    (held at 1 after the course's end)."""
    elapsed = np.arange(t_count, dtype=float)[None, :]
    last = (lengths - 1).astype(float)[:, None]
    capped = np.minimum(elapsed, last)
    if shape == "linear":
        return capped / last
    return np.log1p(capped) / np.log1p(last)


def _course_lengths(rng, n, t_count, course_length):
    if course_length is None:
        return np.full(n, t_count, dtype=np.int64)
    low, high = course_length
    return rng.integers(low, high + 1, size=n).astype(np.int64)


def _truncated(rng, size, mean_sd):
    mean, sd = mean_sd
    return np.maximum(rng.normal(mean, sd, size=size), 0.0)


def _roles(
    rng,
    late_rng,
    improvement,
    scale,
    lengths,
    shape,
    det_share,
    deterioration,
    late_share,
    late_response,
    late_onset,
    late_ramp,
):
    """Replace the gradual change of deteriorators and late responders; their truth rows."""
    n, t_count = improvement.shape
    u = rng.random(n)
    det = u < det_share
    late = ~det & (u < det_share + late_share)
    worse = _truncated(rng, n, deterioration or (1.5 * scale.unit, 0.5 * scale.unit))
    out = improvement.copy()
    profile = _profile(shape, t_count, lengths)
    out[det] = -worse[det, None] * profile[det]
    gain = _truncated(late_rng, n, late_response or (1.5 * scale.unit, 0.4 * scale.unit))
    frac = late_rng.uniform(late_onset[0], late_onset[1], size=n)
    onset = np.clip(np.round(frac * (lengths - 1)), 1, np.maximum(lengths - 1, 1)).astype(np.int64)
    elapsed = np.arange(t_count)[None, :]
    ramp = np.clip((elapsed - onset[:, None] + 1) / late_ramp, 0.0, 1.0)
    out[late] = gain[late, None] * ramp[late]
    d_rows = np.flatnonzero(det)
    l_rows = np.flatnonzero(late)
    events = [
        ("deterioration", d_rows, np.ones(len(d_rows), dtype=np.int64), worse[det], None),
        ("late response", l_rows, onset[late], gain[late], None),
    ]
    return out, events


def _paired(rng, inst, change_units, z_base, coupling_sd, rho, round_scores):
    """The second measure: the primary's change in its units, coupled per client."""
    n, t_count = change_units.shape
    sc = _scale(inst)
    coupling = rng.normal(1.0, coupling_sd, size=n)
    own = rng.standard_normal(n)
    base2 = sc.baseline + 0.5 * sc.unit * (rho * z_base + np.sqrt(1.0 - rho * rho) * own)
    true2 = base2[:, None] - inst.sign * sc.unit * coupling[:, None] * change_units
    obs2 = true2 + rng.normal(0.0, sc.noise_sd, size=true2.shape)
    if inst.integer_scores if round_scores is None else round_scores:
        obs2 = np.round(obs2)
    np.clip(obs2, inst.min_score, inst.max_score, out=obs2)
    obs2 += 0.0
    np.clip(true2, inst.min_score, inst.max_score, out=true2)
    return obs2, true2


def _change_window(
    change_sessions: tuple[int, int] | None, sessions: np.ndarray
) -> tuple[int, int]:
    """Column positions (inclusive) at which a sudden change may take effect."""
    if change_sessions is None:
        return 3, len(sessions) - 3
    first, last = change_sessions
    lo, hi = first - sessions[0], last - sessions[0]
    if not 1 <= lo <= hi <= len(sessions) - 1:
        raise OptionError(
            f"The 'change_sessions' parameter of {_FUNCTION} must be (first, last) sessions "
            f"within {sessions[1]}..{sessions[-1]} (a change needs a session before it). "
            f"Got {change_sessions!r} instead."
        )
    return int(lo), int(hi)


def _event_positions(rng, n, lo, hi, gain_share, k_gains, loss_share):
    """Rows and columns of gains and losses: distinct sessions within each client."""
    has_gain = rng.random(n) < gain_share
    has_loss = rng.random(n) < loss_share
    k = np.where(has_gain, k_gains, 0) + has_loss
    width = hi - lo + 1
    if (k > width).any() or ((has_gain.any() or has_loss.any()) and width < 1):
        raise OptionError(
            f"Only {max(width, 0)} session(s) can hold a sudden change (change_sessions or "
            f"too few sessions) but a client needs {int(k.max())}. Fix: more sessions, fewer "
            "changes per client, or a wider change_sessions."
        )
    rows = np.flatnonzero(k > 0)
    # A random order of the eligible sessions per client; the first ones hold its changes.
    picks = lo + np.argsort(rng.random((len(rows), width)), axis=1)[:, : int(k.max(initial=0))]
    ranks = np.arange(picks.shape[1])[None, :]
    n_g = np.where(has_gain[rows], k_gains, 0)[:, None]
    gain = ranks < n_g
    loss = (ranks == n_g) & has_loss[rows][:, None]
    row_grid = np.broadcast_to(rows[:, None], picks.shape)
    return row_grid[gain], picks[gain], row_grid[loss], picks[loss]


def _gamma(rng, size, mean_sd):
    mean, sd = mean_sd
    if sd == 0:
        return np.full(size, float(mean))
    shape = (mean / sd) ** 2
    return rng.gamma(shape, mean / shape, size=size)


def _reversals(rng, g_rows, g_cols, g_mag, t_count, share, fraction):
    """Reverse part of each client's first gain at a later session (at least two later)."""
    if len(g_rows) == 0 or share == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([]), empty
    order = np.lexsort((g_cols, g_rows))
    first = order[np.r_[True, g_rows[order][1:] != g_rows[order][:-1]]]
    rows, cols, mag = g_rows[first], g_cols[first], g_mag[first]
    room = t_count - 1 - (cols + 2)  # later sessions available, from gain + 2 on
    chosen = (rng.random(len(rows)) < share) & (room >= 0)
    at = cols + 2 + np.floor(rng.random(len(rows)) * (np.maximum(room, 0) + 1)).astype(np.int64)
    size = mag * rng.uniform(fraction[0], fraction[1], size=len(rows))
    return rows[chosen], at[chosen], size[chosen], cols[chosen]


def _missing_mask(rng, n, t_count, missing, dropout):
    mask = rng.random((n, t_count)) < missing
    mask[:, 0] = False  # the first session is the baseline: always observed
    if dropout > 0:
        # Leaves after session j (j >= 1) with probability `dropout` at each session.
        leave = rng.random((n, t_count)) < dropout
        leave[:, 0] = False
        gone = np.cumsum(leave, axis=1) > 0
        mask |= np.roll(gone, 1, axis=1) & (np.arange(t_count) > 0)
    return mask


def _truth_table(events: list[tuple[Any, ...]], sessions: np.ndarray) -> pd.DataFrame:
    parts = []
    for kind, rows, cols, mag, of in events:
        if len(rows) == 0:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "client": rows.astype(np.int64) + 1,
                    "kind": kind,
                    "session": sessions[cols].astype(np.int64),
                    "magnitude": np.asarray(mag, dtype=float),
                    "reverses_session": sessions[of].astype(float) if of is not None else np.nan,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "client": pd.Series(dtype=np.int64),
                "kind": pd.Series(dtype=object),
                "session": pd.Series(dtype=np.int64),
                "magnitude": pd.Series(dtype=float),
                "reverses_session": pd.Series(dtype=float),
            }
        )
    truth = pd.concat(parts, ignore_index=True)
    return truth.sort_values(["client", "session"], kind="stable", ignore_index=True)
