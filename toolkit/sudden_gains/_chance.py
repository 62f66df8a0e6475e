"""The chance baseline: how many "gains" the criteria find when nothing sudden happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import _checks, _random
from .._options import progress_bar
from ..data import LongScores, as_scores, first_and_last
from ..errors import OptionError
from ..instruments import Instrument
from ._criteria import criteria, examined, windows
from ._identify import criteria_options, identify

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

from .._results import Result

__all__ = ["chance_baseline", "ChanceResult", "CHANCE_COLUMNS"]

#: Columns of ``ChanceResult.table``.
CHANCE_COLUMNS = [
    "method",
    "n_replicates",
    "observed_gains",
    "expected_gains",
    "expected_sd",
    "ci_lower",
    "ci_upper",
    "excess_gains",
    "p_value",
    "observed_rate",
    "expected_rate",
]


@dataclass(frozen=True, repr=False)
class ChanceResult(Result):
    """Expected number of sudden gains when nothing sudden happens; see :func:`chance_baseline`.

    ``replicates`` holds the number of gains found in each replicate, per method.
    """

    replicates: pd.DataFrame = field(default_factory=pd.DataFrame)

    method_name = "chance baseline"

    def summary(self) -> pd.DataFrame:
        """The table: observed against expected gains per reference world."""
        return self.table

    def plot(self, client: Any = None, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Histogram of gains per replicate with the observed count marked (``client`` is
        not used)."""
        from ..plots.sudden_gains import chance_histogram

        return chance_histogram(self, ax=ax, **kwargs)

    def breakthroughs(self, direction: Any = "improvement") -> pd.DataFrame:
        """A chance baseline finds no breakthroughs of its own; use the observed result's."""
        raise NotImplementedError(
            "chance_baseline compares counts; the breakthroughs are those of identify()."
        )


def chance_baseline(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    better: Literal["lower", "higher"] | None = None,
    method: Literal["shuffle", "gradual", "both"] = "both",
    n_replicates: int = 200,
    seed: int = 0,
    progress: bool | None = None,
    **options: Any,
) -> ChanceResult:
    """How many sudden gains would the criteria find if nothing sudden happened?

    Two reference worlds, each replicated ``n_replicates`` times on the same clients and
    the same missing-data pattern:

    - ``"shuffle"``: each client's observed scores in a random order (no temporal structure
      at all; the client's level and spread are kept);
    - ``"gradual"``: each client's straight-line trend (least squares over its observed
      sessions) plus normal noise with the client's residual SD, rounded and clipped as the
      instrument's scores are (smooth change only).

    The gradual world is the stricter comparison: gains counted beyond it are evidence of
    change that a straight line with noise does not produce. A real sudden gain inflates the
    client's residual SD, which makes this baseline conservative. A client with at most two
    observed scores has no residual SD: its gradual world is its straight line.

    Every client's replicates are drawn from its own stream, keyed by the seed and its id
    (:mod:`toolkit._random`), so a client's contribution is the same in any subset of clients
    or partition of a registry.

    Parameters
    ----------
    data, client, session, score, instrument
        As for :func:`identify`.
    method : {"shuffle", "gradual", "both"}, default "both"
    n_replicates : int, default 200
    seed : int, default 0
        Same seed, same replicates.
    progress : bool, optional
        Show a progress bar over replicates (default: the global option,
        :func:`toolkit.set_options`).
    **options
        Options of :func:`identify` (``min_change``, ``proportion``, ``crit3``, ...), applied
        identically to the data and to every replicate.

    Returns
    -------
    ChanceResult
        ``table``: one row per method with ``observed_gains`` (in the data),
        ``expected_gains`` and ``expected_sd`` (mean and SD over replicates), ``ci_lower``
        and ``ci_upper`` (2.5% and 97.5% of replicates), ``excess_gains`` (observed minus
        expected), ``p_value`` (share of replicates with at least as many gains, with the
        +1 correction), and ``observed_rate`` / ``expected_rate`` (gains per available
        interval).

    Examples
    --------
    >>> import toolkit
    >>> chance = chance_baseline(toolkit.datasets.load_scores("sgdata"), min_change=7,
    ...                          n_replicates=20, progress=False)
    >>> list(chance.table["method"])
    ['shuffle', 'gradual']
    """
    scores = as_scores(
        data, client=client, session=session, score=score, instrument=instrument, better=better
    )
    if options.get("kind", "gains") not in ("gains", "gain"):
        raise OptionError(
            "The 'kind' parameter of chance_baseline must be 'gains' (the default): the "
            f"chance baseline counts gains. Got {options['kind']!r} instead."
        )
    _checks.choice(method, "method", "chance_baseline", ("shuffle", "gradual", "both"))
    n_replicates = _checks.whole(
        n_replicates, "n_replicates", "chance_baseline", low=1, high=_checks.MAX_COUNT
    )
    if seed is None:
        raise OptionError(
            f"The 'seed' parameter of chance_baseline must be a whole number in [0, "
            f"{_checks.MAX_SEED}] (each client's replicates are keyed by it). Got None instead."
        )
    seed = _checks.seed(seed, "seed", "chance_baseline")
    observed = identify(scores, better=better, **options)
    settings = observed.settings
    x, labels = scores.sequence_matrix()
    first, last = first_and_last(labels >= 0)
    exam = examined(first, last, x.shape[1] - 1, settings["first_interval"])
    # Draw j of a client's stream belongs to session j (or position j): the same draws
    # whatever other clients' sessions span.
    offset = int(scores.sessions[0]) if scores.sequence == "sessions" else 0
    crit_options = criteria_options(scores.direction(better), settings)

    def count(matrix: np.ndarray) -> tuple[int, int]:
        c = criteria(matrix, windows(matrix), exam, kind="gain", **crit_options)
        return int(c.sudden.sum()), int((c.examined & ~c.missing).sum())

    n_obs, n_avail = count(x)
    keys = _random.client_keys(scores.clients)
    methods = ("shuffle", "gradual") if method == "both" else (method,)
    make = {"shuffle": _shuffled, "gradual": _gradual_world(x, scores.instrument)}
    rows, reps = [], []
    for m in methods:
        counts = np.empty(n_replicates, dtype=np.int64)
        avail = np.empty(n_replicates, dtype=np.int64)
        for r in progress_bar(range(n_replicates), progress=progress, desc=f"chance ({m})"):
            stream = _random.stream_keys(seed, keys, f"chance baseline {m} {r}")
            counts[r], avail[r] = count(make[m](x, stream, offset))
        reps.append(
            pd.DataFrame({"method": m, "replicate": np.arange(n_replicates), "n_gains": counts})
        )
        rows.append(
            {
                "method": m,
                "n_replicates": n_replicates,
                "observed_gains": n_obs,
                "expected_gains": counts.mean(),
                "expected_sd": counts.std(ddof=1) if n_replicates > 1 else np.nan,
                "ci_lower": np.quantile(counts, 0.025),
                "ci_upper": np.quantile(counts, 0.975),
                "excess_gains": n_obs - counts.mean(),
                "p_value": (1 + (counts >= n_obs).sum()) / (n_replicates + 1),
                "observed_rate": n_obs / n_avail if n_avail else np.nan,
                "expected_rate": (counts / np.maximum(avail, 1)).mean(),
            }
        )
    settings = {**settings, "method": method, "n_replicates": n_replicates, "seed": seed}
    return ChanceResult(
        table=pd.DataFrame(rows, columns=CHANCE_COLUMNS),
        settings=settings,
        skipped=observed.skipped,
        scores=scores,
        replicates=pd.concat(reps, ignore_index=True),
    )


def _shuffled(x: np.ndarray, stream: np.ndarray, offset: int = 0) -> np.ndarray:
    """Each row's observed values in random order over the same observed columns."""
    seen = ~np.isnan(x)
    keys = np.where(seen, _random.uniform(stream, x.shape[1], offset), np.inf)
    source = np.argsort(keys, axis=1)  # observed columns first, in random order
    target = np.argsort(np.where(seen, np.arange(x.shape[1]), np.inf), axis=1, kind="stable")
    out = np.full_like(x, np.nan)
    np.put_along_axis(out, target, np.take_along_axis(x, source, axis=1), axis=1)
    return out


def _gradual_world(x: np.ndarray, instrument: Instrument | None) -> Any:
    """A maker of straight-line-plus-noise replicates fitted to each client of ``x``."""
    seen = ~np.isnan(x)
    t = np.broadcast_to(np.arange(x.shape[1], dtype=float), x.shape)
    n = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(seen, t, 0).sum(axis=1) / n
        x_mean = np.where(seen, x, 0).sum(axis=1) / n
        dt = np.where(seen, t - t_mean[:, None], 0)
        dx = np.where(seen, x - x_mean[:, None], 0)
        sxx = (dt**2).sum(axis=1)
        slope = np.where(sxx > 0, (dt * dx).sum(axis=1) / sxx, 0.0)
        line = x_mean[:, None] + slope[:, None] * (t - t_mean[:, None])
        resid = np.where(seen, x - line, 0)
        sd = np.sqrt((resid**2).sum(axis=1) / (n - 2))
    # Each client's own residual SD: a pooled fallback would tie a client to the others.
    sd = np.where((n > 2) & np.isfinite(sd), sd, 0.0)
    integer = instrument is None or instrument.integer_scores

    def make(_x: np.ndarray, stream: np.ndarray, offset: int = 0) -> np.ndarray:
        sim = line + _random.normal(stream, x.shape[1], offset) * sd[:, None]
        if integer:
            sim = np.round(sim)
        if instrument is not None:
            sim = np.clip(sim, instrument.min_score, instrument.max_score)
        return np.where(seen, sim, np.nan)

    return make
