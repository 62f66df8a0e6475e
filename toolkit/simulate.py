"""Simulated therapy trajectories with known breakthroughs, for validating methods and planning.

:func:`trajectories` draws whole cohorts at once on a (clients x sessions) array: baseline
severity, gradual improvement (linear or log-linear) that varies across clients,
non-responders, sudden gains and sudden losses at known sessions, partial reversal of gains,
measurement noise matched to the instrument's reliability, rounding and floor/ceiling
clipping, and missing sessions (at random, and dropout). It returns the scores in long format
and a tidy table of the true changes, so detection methods can be scored against the truth.

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

from . import instruments as _instruments
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

    Returns
    -------
    scores : pandas.DataFrame
        ``n_clients * n_sessions`` rows sorted by client and session: ``client`` (1..n),
        ``session``, ``score`` (observed, NaN when missing) and ``true_score`` (noise-free,
        clipped to the range, present even when the session is missing).
    truth : pandas.DataFrame
        One row per true sudden change: ``client``, ``kind`` ("gain", "loss" or
        "reversal"), ``session`` (first session at the new level), ``magnitude`` (size of
        the step in score units, positive) and ``reverses_session`` (for a reversal, the
        session of the gain it reverses; NaN otherwise). Clients without changes have no
        rows. Sorted by client and session.

    Notes
    -----
    True score of client *i* at elapsed session *t* = 0, 1, ..., T-1 (``d`` = +1 when lower
    is better, -1 otherwise)::

        true[i, t] = baseline[i] - d * (gradual[i] * f(t) + sum(steps of i up to t))

    with f(t) = t / (T-1) (linear) or log(1+t) / log(T) (log), gains and reversals entering
    the steps with their sign. Observed = true + Normal(0, noise_sd), rounded, then both are
    clipped to the instrument's range (so a step near the floor can look smaller than its
    magnitude).

    Examples
    --------
    >>> scores, truth = trajectories(5, 10, gain_share=1.0, seed=3)
    >>> truth[["client", "kind", "session"]].head(2)
       client  kind  session
    0       1  gain        4
    1       2  gain        5
    """
    inst = _instruments.get(instrument)
    _check_arguments(n_clients, n_sessions, locals())
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
    improvement = _gradual(
        streams["gradual"], n, t_count, scale, gradual, gradual_sd, shape, nonresponder_share
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
    true = base[:, None] - d * (improvement + np.cumsum(steps, axis=1))
    observed = true + streams["noise"].normal(
        0.0, scale.noise_sd if noise_sd is None else noise_sd, size=true.shape
    )
    if inst.integer_scores if round_scores is None else round_scores:
        observed = np.round(observed)
    np.clip(observed, inst.min_score, inst.max_score, out=observed)
    observed += 0.0  # turns the -0.0 that rounding can leave into 0.0
    np.clip(true, inst.min_score, inst.max_score, out=true)
    observed[_missing_mask(streams["missing"], n, t_count, missing, dropout)] = np.nan

    scores = pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n + 1, dtype=np.int64), t_count),
            "session": np.tile(sessions.astype(np.int64), n),
            "score": observed.reshape(-1),
            "true_score": true.reshape(-1),
        }
    )
    return scores, _truth_table(events, sessions)


def _check_arguments(n_clients: int, n_sessions: int, args: dict) -> None:
    if int(n_clients) != n_clients or n_clients < 1:
        raise ValueError(f"n_clients must be a positive whole number; got {n_clients!r}.")
    if int(n_sessions) != n_sessions or n_sessions < 2:
        raise ValueError(f"n_sessions must be a whole number >= 2; got {n_sessions!r}.")
    for name in (
        "nonresponder_share",
        "gain_share",
        "loss_share",
        "reversal_share",
        "missing",
        "dropout",
    ):
        if not 0 <= args[name] <= 1:
            raise ValueError(f"{name} is a share and must lie in [0, 1]; got {args[name]!r}.")
    if args["shape"] not in ("linear", "log"):
        raise ValueError(
            "The 'shape' parameter of trajectories must be one of "
            f"{{'linear', 'log'}}. Got {args['shape']!r} instead."
        )
    if int(args["gains_per_client"]) != args["gains_per_client"] or args["gains_per_client"] < 1:
        raise ValueError(
            f"gains_per_client must be a whole number >= 1; got {args['gains_per_client']!r}."
        )
    low, high = args["reversal_fraction"]
    if not 0 < low <= high <= 1:
        raise ValueError(
            f"reversal_fraction must satisfy 0 < low <= high <= 1; got "
            f"{args['reversal_fraction']!r}."
        )
    for name in ("gain_size", "loss_size"):
        size = args[name]
        if size is not None and not (size[0] > 0 and size[1] >= 0):
            raise ValueError(f"{name} is (mean, sd) with mean > 0 and sd >= 0; got {size!r}.")


def _gradual(rng, n, t_count, scale, gradual, gradual_sd, shape, nonresponder_share):
    total = rng.normal(
        0.5 * scale.unit if gradual is None else gradual,
        0.25 * scale.unit if gradual_sd is None else gradual_sd,
        size=n,
    )
    total[rng.random(n) < nonresponder_share] = 0.0
    elapsed = np.arange(t_count, dtype=float)
    if shape == "linear":
        profile = elapsed / (t_count - 1)
    else:
        profile = np.log1p(elapsed) / np.log(t_count)
    return total[:, None] * profile[None, :]


def _change_window(
    change_sessions: tuple[int, int] | None, sessions: np.ndarray
) -> tuple[int, int]:
    """Column positions (inclusive) at which a sudden change may take effect."""
    if change_sessions is None:
        return 3, len(sessions) - 3
    first, last = change_sessions
    lo, hi = first - sessions[0], last - sessions[0]
    if not 1 <= lo <= hi <= len(sessions) - 1:
        raise ValueError(
            f"change_sessions {change_sessions!r} must lie within sessions "
            f"{sessions[1]}..{sessions[-1]} (a change needs a session before it)."
        )
    return int(lo), int(hi)


def _event_positions(rng, n, lo, hi, gain_share, k_gains, loss_share):
    """Rows and columns of gains and losses: distinct sessions within each client."""
    has_gain = rng.random(n) < gain_share
    has_loss = rng.random(n) < loss_share
    k = np.where(has_gain, k_gains, 0) + has_loss
    width = hi - lo + 1
    if (k > width).any() or ((has_gain.any() or has_loss.any()) and width < 1):
        raise ValueError(
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
