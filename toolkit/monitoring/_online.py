"""online: Bayesian online change-point monitoring of every client, session by session."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .. import _checks
from .._results import base_settings, warn
from ..data import LongScores, as_scores
from ..errors import DataError, OptionError
from ..instruments import Instrument
from ._bocpd import OUTPUTS, Arrays, Prior, step
from ._result import ONLINE_COLUMNS, OnlineResult
from ._shared import show_ids

__all__ = ["online", "online_by_block", "OnlineMonitor", "OnlineState"]

_FUNCTION = "monitoring.online"


@dataclass(frozen=True, eq=False)
class OnlineState:
    """Everything needed to continue monitoring: per client the run-length posterior, its
    sufficient statistics and the last session seen; and the model's settings.

    Pickles; save it with :meth:`OnlineMonitor.save`. Treat it as read-only: an update
    makes a new state and leaves this one as it was.
    """

    clients: pd.Index
    last_session: np.ndarray
    arrays: Arrays = field(repr=False)
    prior: Prior
    settings: dict[str, Any]

    @property
    def n_clients(self) -> int:
        return len(self.clients)


def _prior(
    scores: LongScores,
    prior_mean: float | None,
    prior_sd: float | None,
    noise_sd: float | None,
    noise_df: float,
) -> tuple[Prior, dict[str, Any]]:
    """The Normal-Gamma prior, scaled from the instrument (else the pooled statistics)."""
    inst = scores.instrument
    rc = scores.reliable_change
    notes: dict[str, Any] = {}
    if noise_sd is None:
        if rc.s_diff is not None:
            noise_sd = rc.s_diff / np.sqrt(2.0)
            notes["noise_sd_source"] = "reliable-change criterion: points / (1.96 sqrt 2)"
        else:
            noise_sd = scores.pooled.noise_sd
            notes["noise_sd_source"] = "pooled noise SD (toolkit.pooled)"
        if not (np.isfinite(noise_sd) and noise_sd > 0):
            raise OptionError(
                f"The noise SD of {_FUNCTION} cannot be derived: there is no reliable-change "
                "criterion and no pooled noise SD. Fix: pass noise_sd=<points> (e.g. the "
                "instrument's standard error of measurement)."
            )
    else:
        noise_sd = _checks.number(noise_sd, "noise_sd", _FUNCTION, low=0.0, low_open=True)
        notes["noise_sd_source"] = "given"
    if prior_mean is None:
        if inst is not None:
            prior_mean = (inst.min_score + inst.max_score) / 2.0
            notes["prior_mean_source"] = f"midpoint of the {inst.name} range"
        else:
            prior_mean = scores.pooled.first_score_mean
            notes["prior_mean_source"] = "pooled mean of the first scores"
    else:
        # A segment's level lies within the instrument's range (when there is one).
        prior_mean = _checks.number(
            prior_mean,
            "prior_mean",
            _FUNCTION,
            low=None if inst is None else float(inst.min_score),
            high=None if inst is None else float(inst.max_score),
        )
        notes["prior_mean_source"] = "given"
    if prior_sd is None:
        if inst is not None:
            prior_sd = (inst.max_score - inst.min_score) / 4.0
            notes["prior_sd_source"] = f"a quarter of the {inst.name} range"
        else:
            prior_sd = 2.0 * scores.pooled.first_score_sd
            notes["prior_sd_source"] = "twice the pooled SD of the first scores"
    else:
        prior_sd = _checks.number(prior_sd, "prior_sd", _FUNCTION, low=0.0, low_open=True)
        notes["prior_sd_source"] = "given"
    if not (np.isfinite(prior_mean) and np.isfinite(prior_sd) and prior_sd > 0):
        raise OptionError(
            f"The prior of {_FUNCTION} cannot be scaled without an instrument from fewer than "
            "two clients. Fix: pass prior_mean= and prior_sd= (points)."
        )
    prior = Prior.scaled(float(prior_mean), float(prior_sd), float(noise_sd), noise_df)
    notes.update(
        prior_mean=float(prior_mean),
        prior_sd=float(prior_sd),
        noise_sd=float(noise_sd),
    )
    return prior, notes


def online(
    scores: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    hazard: float = 20.0,
    window: int = 3,
    threshold: float = 0.5,
    level: float = 0.8,
    prior_mean: float | None = None,
    prior_sd: float | None = None,
    noise_sd: float | None = None,
    noise_df: float = 6.0,
    prune: float = 1e-12,
    keep_posterior: bool = False,
) -> OnlineMonitor:
    """Monitor every client for breakthroughs, session by session (Bayesian online
    change-point detection).

    Runs Adams & MacKay's (2007) recursion over each client's sessions, all clients at once,
    and returns a monitor that continues from where it stopped when new sessions arrive
    (:meth:`OnlineMonitor.update`). ``monitor.result`` holds the run so far.

    Parameters
    ----------
    scores : pandas.DataFrame or LongScores
        Long-format scores; with a DataFrame pass the column roles and ``instrument``.
        Monitoring of a client starts at its first observed score; a missed session
        within the course is a session without a score (a change can happen there).
    hazard : float, default 20
        The prior expected number of sessions between changes: a change happens before
        each session with probability ``1 / hazard``.
    window : int, default 3
        ``p_change`` and ``p_breakthrough`` concern changes within the last ``window``
        sessions (a change at the current session counts as within 1).
    threshold : float, default 0.5
        ``breakthroughs()`` reports the sessions at which P(breakthrough) rises to it.
    level : float, default 0.8
        Level of the interval for the next score.
    prior_mean, prior_sd : float, optional
        Prior mean and SD of a segment's level (default: the midpoint of the instrument's
        range and a quarter of the range; without an instrument, the pooled mean and twice
        the pooled SD of the first scores, see :mod:`toolkit.pooled`).
    noise_sd : float, optional
        Prior mean of the noise SD within a segment (default: the standard error of
        measurement the reliable-change criterion implies, ``points / (1.96 sqrt 2)``;
        without a criterion, the pooled noise SD).
    noise_df : float, default 6
        How many observations the prior on the noise variance is worth (more than 2).
    prune : float, default 1e-12
        Run lengths whose posterior probability falls below this are dropped (set to 0
        and the rest renormalised); 0 keeps every run length.
    keep_posterior : bool, default False
        Keep the run-length posterior after every session in ``result.posterior``.

    Returns
    -------
    OnlineMonitor
        ``monitor.result`` is an :class:`OnlineResult`, whose ``table``
        (:data:`ONLINE_COLUMNS`) has one row per client and session from its first
        observed score to its last row:

        - ``client``, ``session``, ``score`` (NaN when missed);
        - ``p_change``: P(a change within the last ``window`` sessions);
        - ``p_breakthrough``: P(such a change, to a level better by at least the
          reliable-change criterion); ``p_deterioration``: the same towards worse (both
          missing, "not computed", without a criterion);
        - ``change_size``: the expected improvement (points; negative: deterioration)
          given a change within the window (NaN when none is possible yet);
        - ``run_length``: the most probable number of sessions since the last change (or
          since the start);
        - ``level``, ``level_sd``: posterior mean and SD of the current level;
        - ``next_mean``, ``next_lower``, ``next_upper``: the predictive mean and interval
          (``level``) of the next session's score, the interval clipped to the instrument's
          range.

    Raises
    ------
    DataError
        No client has an observed score.
    OptionError
        A bad option, or a prior that cannot be scaled (no instrument and no criterion).

    Notes
    -----
    See :mod:`toolkit.monitoring._bocpd` for the recursion and the two approximations
    (the Normal approximation to the difference of levels in ``p_breakthrough`` and to
    the predictive mixture's interval). The prior is Normal-Gamma: noise variance
    ``sigma^2 ~ InvGamma(noise_df / 2, noise_sd^2 (noise_df / 2 - 1))`` (mean
    ``noise_sd^2``), level ``mu | sigma^2 ~ N(prior_mean, sigma^2 / kappa0)`` with
    ``kappa0 = noise_sd^2 / prior_sd^2`` (so that the level's marginal SD is
    ``prior_sd``). A client's numbers depend only on its own scores and these recorded
    constants.

    References
    ----------
    Adams, R. P., & MacKay, D. J. C. (2007). Bayesian online changepoint detection.
    arXiv:0710.3742.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> sg = toolkit.datasets.load_scores("sgdata")
    >>> monitor = monitoring.online(sg)
    >>> found = monitor.result.breakthroughs()
    >>> list(found.columns)
    ['client', 'session', 'size', 'direction', 'method']
    >>> bool((found["size"] >= sg.reliable_change.points * 0.5).all())
    True
    """
    hazard = _checks.number(hazard, "hazard", _FUNCTION, low=1.0)
    window = _checks.whole(window, "window", _FUNCTION, low=1)
    threshold = _checks.level(threshold, "threshold", _FUNCTION)
    level = _checks.level(level, "level", _FUNCTION)
    noise_df = _checks.number(noise_df, "noise_df", _FUNCTION, low=2.0, low_open=True)
    prune = _checks.number(prune, "prune", _FUNCTION, low=0.0, high=1e-3)
    _checks.flag(keep_posterior, "keep_posterior", _FUNCTION)
    data = as_scores(scores, client=client, session=session, score=score, instrument=instrument)
    monitor = _run(data, hazard, window, threshold, level, prior_mean, prior_sd, noise_sd,
                   noise_df, prune, keep_posterior)  # fmt: skip
    assert monitor is not None
    return monitor


def online_by_block(
    scores: LongScores, each: Callable[[OnlineResult], None], **options: Any
) -> None:
    """:func:`online` on validated scores, handing ``each`` the result of one block of
    clients at a time (clients in order; the very same numbers as :func:`online`'s table),
    and keeping neither the whole table nor the monitor's state: for a report on a cohort
    too large to hold every session's posterior summary at once."""
    params = inspect.signature(online).parameters
    names = ("hazard", "window", "threshold", "level", "prior_mean", "prior_sd", "noise_sd",
             "noise_df", "prune")  # fmt: skip
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise OptionError(
            f"online_by_block() got unknown option(s) {unknown}; the options are {list(names)}."
        )
    s = {name: options.get(name, params[name].default) for name in names}
    hazard = _checks.number(s["hazard"], "hazard", _FUNCTION, low=1.0)
    window = _checks.whole(s["window"], "window", _FUNCTION, low=1)
    threshold = _checks.level(s["threshold"], "threshold", _FUNCTION)
    level = _checks.level(s["level"], "level", _FUNCTION)
    noise_df = _checks.number(s["noise_df"], "noise_df", _FUNCTION, low=2.0, low_open=True)
    prune = _checks.number(s["prune"], "prune", _FUNCTION, low=0.0, high=1e-3)
    _run(scores, hazard, window, threshold, level, s["prior_mean"], s["prior_sd"],
         s["noise_sd"], noise_df, prune, False, each=each)  # fmt: skip


def _run(
    data: LongScores,
    hazard: float,
    window: int,
    threshold: float,
    level: float,
    prior_mean: float | None,
    prior_sd: float | None,
    noise_sd: float | None,
    noise_df: float,
    prune: float,
    keep_posterior: bool,
    each: Callable[[OnlineResult], None] | None = None,
) -> OnlineMonitor | None:
    """The recursion over every client (see :func:`online`); with ``each``, block by block
    (see :func:`online_by_block`)."""
    sign = data.sign
    prior, prior_notes = _prior(data, prior_mean, prior_sd, noise_sd, noise_df)
    crit = data.reliable_change.points
    notes: list[str] = []
    if crit is None:
        notes.append(
            warn(
                "P(breakthrough) and P(deterioration) not computed (missing): the "
                f"reliable-change criterion is {data.reliable_change}",
                stacklevel=4,  # warn <- _run <- online (or online_by_block) <- the caller
            )
        )
    x = data.to_matrix()
    observed = ~np.isnan(x)
    has = observed.any(axis=1)
    if not has.any():
        raise DataError("No client has an observed score, so there is nothing to monitor.")
    start = np.argmax(observed, axis=1)
    _, end = data.sequence_bounds()
    skipped = pd.DataFrame(
        {
            "client": pd.Series(data.clients.to_numpy()[~has], dtype=object),
            "reason": pd.Series(["no observed score"] * int((~has).sum()), dtype=object),
        }
    )
    keep = np.flatnonzero(has)
    x, start, end = x[keep], start[keep], end[keep]
    clients = data.clients.take(keep)
    n = len(keep)
    settings_core = {
        "hazard": hazard,
        "window": window,
        "threshold": threshold,
        "level": level,
        "noise_df": noise_df,
        "prune": prune,
        "criterion": crit,
        "sign": sign,
        "instrument": data.instrument.name if data.instrument is not None else None,
        "score_range": (
            [data.instrument.min_score, data.instrument.max_score]
            if data.instrument is not None
            else None
        ),
        **prior_notes,
    }
    width = int((end - start).max()) + 2
    arr = Arrays.empty(0 if each is not None else n, width, window, prior)
    sessions = range(int(start.min()), int(end.max()) + 1)
    # The run-length columns each session works on, as for one step over every client (see
    # step): the cohort is then stepped in blocks of clients, which bounds the temporaries
    # (a few (clients x run lengths) arrays per step) and gives the very same numbers.
    ks = {j: int((j - start[(start <= j) & (end >= j)]).max(initial=-1)) + 1 for j in sessions}
    per_row = end - start + 1  # output rows of each client: every session from its first
    offsets = np.concatenate([[0], np.cumsum(per_row)])
    total = 0 if each is not None else offsets[-1]
    columns = {
        "row": np.empty(total, dtype=np.int64),
        "session": np.empty(total, dtype=np.int64),
        "score": np.empty(total),
        **{name: np.empty(total) for name in OUTPUTS},
        "run_length": np.empty(total, dtype=np.int64),
    }
    posts: list[np.ndarray] = []
    h = 1.0 / hazard
    for b0 in range(0, n, _BLOCK):
        b1 = min(n, b0 + _BLOCK)
        sub = arr.block(b0, b1) if each is None else Arrays.empty(b1 - b0, width, window, prior)
        s_start, s_end, s_x = start[b0:b1], end[b0:b1], x[b0:b1]
        outputs: list[dict[str, np.ndarray]] = []
        row_of: list[np.ndarray] = []
        sess_of: list[np.ndarray] = []
        x_of: list[np.ndarray] = []
        block_posts: list[np.ndarray] = []
        for j in sessions:
            rows = np.flatnonzero((s_start <= j) & (s_end >= j))
            if len(rows) == 0:
                continue
            xj = s_x[rows, j]
            out = step(sub, rows, xj, prior, h, window, crit, sign, prune, k=ks[j])
            outputs.append(out)
            row_of.append(rows + b0)
            sess_of.append(np.full(len(rows), data.sessions[j], dtype=np.int64))
            x_of.append(xj)
            if keep_posterior:
                block_posts.append(sub.w[rows].copy())
        for out, rows in zip(outputs, row_of):
            sub.last_pb[rows - b0] = out["p_breakthrough"]
            sub.last_pd[rows - b0] = out["p_deterioration"]
        order, block = _ordered((outputs, row_of, sess_of, x_of))
        del outputs, sess_of, x_of
        if each is not None:
            each(_result(data, clients, block, settings_core, skipped, notes, None, None))
            continue
        where = slice(offsets[b0], offsets[b1])
        for name, values in block.items():
            columns[name][where] = values
        if keep_posterior:
            posts.append(np.concatenate(block_posts)[order])
        del block, block_posts
    if each is not None:
        return None
    arr.compact()
    state = OnlineState(
        clients=clients,
        last_session=data.sessions[end].astype(np.int64),
        arrays=arr,
        prior=prior,
        settings=settings_core,
    )
    posterior = None
    if keep_posterior:
        posterior = np.concatenate(posts) if posts else np.zeros((0, arr.width))
    result = _result(
        data, clients, columns, settings_core, skipped, notes, posterior, previous=None
    )
    return OnlineMonitor(state, result)


#: Clients stepped together by :func:`online` (bounds the temporaries of a step).
_BLOCK = 20_000


def _ordered(
    steps: tuple[list[dict[str, np.ndarray]], list[np.ndarray], list[np.ndarray], list[np.ndarray]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The steps' outputs as columns sorted by client row and session (and that order)."""
    outputs, row_of, sess_of, x_of = steps
    if outputs:
        rows = np.concatenate(row_of)
        sess = np.concatenate(sess_of).astype(np.int64)
        score = np.concatenate(x_of)
    else:
        rows, sess, score = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    order = np.lexsort((sess, rows))
    cols = {"row": rows[order], "session": sess[order], "score": score[order]}
    del rows, sess, score
    for k in OUTPUTS:  # one column at a time: the step outputs go as their column is made
        part = [o.pop(k) for o in outputs]
        cols[k] = (np.concatenate(part) if part else np.zeros(0))[order]
        del part
    return order, cols


def _assemble(
    data: LongScores,
    clients: pd.Index,
    steps: tuple[list[dict[str, np.ndarray]], list[np.ndarray], list[np.ndarray], list[np.ndarray]],
    settings: dict[str, Any],
    skipped: pd.DataFrame,
    notes: list[str],
    posts: list[np.ndarray] | None,
    previous: pd.DataFrame | None,
) -> OnlineResult:
    """The tidy table (sorted by client and session) from the steps' outputs."""
    order, cols = _ordered(steps)
    posterior = None
    if posts is not None:
        width = max((p.shape[1] for p in posts), default=1)
        padded = [np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in posts]
        posterior = np.concatenate(padded)[order] if padded else np.zeros((0, 1))
    return _result(data, clients, cols, settings, skipped, notes, posterior, previous)


def _result(
    data: LongScores,
    clients: pd.Index,
    cols: dict[str, np.ndarray],
    settings: dict[str, Any],
    skipped: pd.DataFrame,
    notes: list[str],
    posterior: np.ndarray | None,
    previous: pd.DataFrame | None,
) -> OnlineResult:
    """The result from the sorted columns (which it takes over: no copy is made)."""
    z = stats.norm.ppf(0.5 + settings["level"] / 2)
    lo, hi = settings["score_range"] or (-np.inf, np.inf)
    next_sd = cols.pop("next_sd")
    next_mean = cols["next_mean"]
    cols["next_lower"] = np.clip(next_mean - z * next_sd, lo, hi)
    cols["next_upper"] = np.clip(next_mean + z * next_sd, lo, hi)
    del next_sd
    cols["client"] = clients.take(cols.pop("row")).to_numpy()
    cols["run_length"] = cols["run_length"].astype(np.int64, copy=False)
    # copy=False: the columns stay separate arrays (no second, consolidated copy).
    table = pd.DataFrame({name: cols.pop(name) for name in ONLINE_COLUMNS}, copy=False)
    return OnlineResult(
        table=table,
        settings=base_settings(data, seed=None, **settings),
        skipped=skipped,
        warnings=tuple(notes),
        scores=data,
        posterior=posterior,
        previous=previous,
    )


class OnlineMonitor:
    """A running online monitor: the state after the sessions seen so far.

    Build it with :func:`online`; continue with :meth:`update`; keep it with :meth:`save`
    and :meth:`load`. ``update`` replaces the monitor's :attr:`state` with a new one (the
    old state object is left unchanged) and returns the new sessions' results.

    Attributes
    ----------
    state : OnlineState
        The current state (pickles).
    result : OnlineResult or None
        The result of the run that built the monitor (None after :meth:`load`).
    """

    def __init__(self, state: OnlineState, result: OnlineResult | None = None) -> None:
        self.state = state
        self.result = result

    def __repr__(self) -> str:
        return (
            f"<OnlineMonitor: {self.state.n_clients} clients, up to session "
            f"{int(self.state.last_session.max()) if self.state.n_clients else '-'}>"
        )

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the state to ``path`` (a pickle; load only files you trust)."""
        path = Path(path)
        path.write_bytes(pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL))
        return path

    @classmethod
    def load(cls, path: str | Path) -> OnlineMonitor:
        """A monitor from a state written by :meth:`save` (a pickle; trusted files only)."""
        state = pickle.loads(Path(path).read_bytes())
        if not isinstance(state, OnlineState):
            raise DataError(f"{path} does not hold an online monitor's state.")
        return cls(state)

    def run_length_posterior(self) -> pd.DataFrame:
        """The current run-length posterior: ``client``, ``run_length``, ``probability``
        (run lengths with positive probability only)."""
        w = self.state.arrays.w
        rows, cols = np.nonzero(w > 0)
        return pd.DataFrame(
            {
                "client": self.state.clients.take(rows).to_numpy(),
                "run_length": (cols + 1).astype(np.int64),
                "probability": w[rows, cols],
            }
        )

    # -- the next session ----------------------------------------------------------------
    def update(
        self,
        new_rows: pd.DataFrame | LongScores,
        *,
        client: str | None = None,
        session: str | None = None,
        score: str | None = None,
    ) -> OnlineResult:
        """Continue with the newest session of each client in ``new_rows``.

        Parameters
        ----------
        new_rows : pandas.DataFrame or LongScores
            One row per client: its new session (after the last one monitored). Sessions
            skipped since then count as missed. Clients not seen before start here.
        client, session, score : str, optional
            Column roles for a DataFrame (the monitor's instrument is used).

        Returns
        -------
        OnlineResult
            Rows for the new sessions (and the missed ones before them), with the columns
            of :func:`online`. The monitor's ``state`` moves on.

        Raises
        ------
        DataError
            A client with more than one row, a session not after the client's last one,
            or scores of another instrument or criterion.

        Examples
        --------
        >>> import pandas as pd
        >>> from toolkit import monitoring
        >>> first = pd.DataFrame({"id": [1, 2], "s": [1, 1], "phq": [18, 20]})
        >>> monitor = monitoring.online(first, client="id", session="s", score="phq",
        ...                             instrument="PHQ-9")
        >>> new = pd.DataFrame({"id": [1, 2], "s": [2, 3], "phq": [17, 9]})
        >>> result = monitor.update(new, client="id", session="s", score="phq")
        >>> result.table["session"].tolist()  # client 2 missed session 2
        [2, 2, 3]
        """
        st = self.state
        sett = st.settings
        roles: dict[str, Any] = {"client": client, "session": session, "score": score}
        if sett["instrument"] is not None and not isinstance(new_rows, LongScores):
            roles["instrument"] = sett["instrument"]
        data = as_scores(new_rows, **roles)
        inst = data.instrument.name if data.instrument is not None else None
        if inst != sett["instrument"] or data.reliable_change.points != sett["criterion"]:
            raise DataError(
                f"The new rows ({inst}, reliable change {data.reliable_change.points}) do not "
                f"match the monitor ({sett['instrument']}, reliable change "
                f"{sett['criterion']}). Fix: validate them like the first scores."
            )
        if data.sign != sett["sign"]:
            raise DataError(
                "The new rows disagree with the monitor on the direction of improvement."
            )
        first, last = data.sequence_bounds()
        several = first != last
        if several.any():
            raise DataError(
                f"update() takes one new session per client; {int(several.sum())} client(s) "
                f"have several rows ({show_ids(data.clients[several])}). Fix: call update() "
                "once per session, in order."
            )
        x = data.to_matrix()[np.arange(data.n_clients), last]
        new_session = data.sessions[last].astype(np.int64)
        where = st.clients.get_indexer(data.clients)
        known = where >= 0
        if known.any():
            behind = new_session[known] <= st.last_session[where[known]]
            if behind.any():
                bad = data.clients[known][behind]
                raise DataError(
                    f"{int(behind.sum())} client(s) have a session that is not after the last "
                    f"one monitored ({show_ids(bad)}: e.g. session "
                    f"{new_session[known][behind][0]} after session "
                    f"{st.last_session[where[known][behind][0]]}). Fix: pass only new sessions."
                )
        start_new = ~known & ~np.isnan(x)
        not_started = ~known & np.isnan(x)
        skipped = pd.DataFrame(
            {
                "client": pd.Series(data.clients.to_numpy()[not_started], dtype=object),
                "reason": pd.Series(
                    ["no observed score yet to start monitoring"] * int(not_started.sum()),
                    dtype=object,
                ),
            }
        )
        # One copy with room for the longest run after this update (gaps included): the old
        # state stays as it was.
        old = st.arrays
        seen_t = old.t[np.maximum(where, 0)]
        steps_ahead = np.where(known, new_session - st.last_session[np.maximum(where, 0)], 1)
        arr = old.copy(int((np.where(known, seen_t, 0) + steps_ahead).max(initial=0)) + 1, st.prior)
        clients = st.clients
        last_session = st.last_session.copy()
        where = where.copy()
        if start_new.any():
            add = data.clients[start_new]
            fresh = Arrays.empty(len(add), arr.width, sett["window"], st.prior)
            for name, value in fresh.__dict__.items():
                setattr(arr, name, np.concatenate([getattr(arr, name), value]))
            where[start_new] = np.arange(len(clients), len(clients) + len(add))
            clients = clients.append(add)
            last_session = np.concatenate([last_session, new_session[start_new] - 1])
        go = known | start_new
        rows = where[go]
        x_go, s_go = x[go], new_session[go]
        gap = np.where(known[go], s_go - last_session[rows] - 1, 0)
        if len(rows):
            arr.widen(int((arr.t[rows] + gap).max()) + 2, st.prior)
        prev = pd.DataFrame(
            {
                "client": clients.take(rows).to_numpy(),
                "p_breakthrough": arr.last_pb[rows],
                "p_deterioration": arr.last_pd[rows],
            }
        )
        outputs: list[dict[str, np.ndarray]] = []
        row_of: list[np.ndarray] = []
        sess_of: list[np.ndarray] = []
        x_of: list[np.ndarray] = []
        h = 1.0 / sett["hazard"]
        args = (st.prior, h, sett["window"], sett["criterion"], sett["sign"], sett["prune"])
        for g in range(1, int(gap.max(initial=0)) + 1):  # the missed sessions first
            r = rows[gap >= g]
            outputs.append(step(arr, r, np.full(len(r), np.nan), *args))
            row_of.append(r)
            sess_of.append(last_session[r] + g)
            x_of.append(np.full(len(r), np.nan))
        if len(rows):
            out = step(arr, rows, x_go, *args)
            outputs.append(out)
            row_of.append(rows)
            sess_of.append(s_go)
            x_of.append(x_go)
            arr.last_pb[rows] = out["p_breakthrough"]
            arr.last_pd[rows] = out["p_deterioration"]
        arr.compact()
        last_session[rows] = s_go
        self.state = OnlineState(
            clients=clients,
            last_session=last_session,
            arrays=arr,
            prior=st.prior,
            settings=sett,
        )
        return _assemble(
            data, clients, (outputs, row_of, sess_of, x_of), sett, skipped, [], None, prev
        )
