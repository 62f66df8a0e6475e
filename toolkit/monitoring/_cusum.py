"""cusum: a one-sided CUSUM of standardised residuals from the expected course."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .. import _checks
from .._results import base_settings
from ._result import (
    CUSUM_CLIENT_COLUMNS,
    CUSUM_COLUMNS,
    CusumResult,
    FlagsResult,
    PredictionResult,
)
from ._shared import layout

__all__ = ["cusum", "client_grid"]

_FUNCTION = "monitoring.cusum"


def client_grid(
    table: pd.DataFrame, intake_session: int
) -> tuple[pd.Index, np.ndarray, np.ndarray, int]:
    """Row and column (sessions since intake - 1) of every row of a per-session table."""
    codes, clients = pd.factorize(table["client"], sort=False)
    cols = table["session"].to_numpy(dtype=np.int64) - intake_session - 1
    width = int(cols.max()) + 1 if len(cols) else 0
    return pd.Index(clients, name="client"), codes, cols, width


def cusum(
    prediction: PredictionResult | FlagsResult,
    *,
    direction: Literal["deterioration", "improvement"] = "deterioration",
    allowance: float = 0.5,
    threshold: float = 4.0,
) -> CusumResult:
    """A one-sided CUSUM of each client's standardised residuals from its expected course.

    A simple alternative to :func:`online` and to the not-on-track flags: it accumulates
    evidence that the scores run consistently worse (or better) than expected, and raises an
    alarm when the sum reaches ``threshold``.

    Parameters
    ----------
    prediction : PredictionResult or FlagsResult
        Expected scores and SDs (:meth:`ExpectedResponseResult.predict` or ``.flag``).
    direction : {"deterioration", "improvement"}, default "deterioration"
        Accumulate residuals in the worse direction (not making progress), or the better
        one (a breakthrough).
    allowance : float, default 0.5
        The reference value k, in SDs: residuals smaller than this drain the sum (0.5 is
        tuned to detect a shift of 1 SD).
    threshold : float, default 4.0
        The decision interval h, in SDs.

    Returns
    -------
    CusumResult
        ``table`` (:data:`CUSUM_COLUMNS`), one row per row of the prediction: ``client``,
        ``session``, ``score``, ``z`` (residual / SD), ``cusum`` (the sum after this
        session; carried over a missed session) and ``alarm`` (the sum is at least the
        threshold at an observed session). ``clients`` (:data:`CUSUM_CLIENT_COLUMNS`):
        ``n_flags`` counts sessions in alarm, ``first_flag_session`` the first.

    Notes
    -----
    With ``d = +1`` for deterioration on a measure where lower is better (and mirrored
    otherwise), ``S_0 = 0`` and ``S_t = max(0, S_{t-1} + d z_t - k)`` (Page, 1954); an alarm
    is raised at every session with ``S_t >= h``. On the expected course, z is roughly
    standard normal and alarms are rare; a persistent shift of ``delta`` SDs accumulates
    ``delta - k`` per session.

    References
    ----------
    Page, E. S. (1954). Continuous inspection schemes. Biometrika, 41(1/2), 100-115.

    Examples
    --------
    >>> import toolkit
    >>> from toolkit import monitoring
    >>> sg = toolkit.datasets.load_scores("sgdata")
    >>> pred = monitoring.expected_response(sg, seed=1).predict(sg)
    >>> c = monitoring.cusum(pred)
    >>> bool((c.table["cusum"].dropna() >= 0).all())
    True
    """
    _checks.choice(direction, "direction", _FUNCTION, ("deterioration", "improvement"))
    allowance = _checks.number(allowance, "allowance", _FUNCTION, low=0.0)
    threshold = _checks.number(threshold, "threshold", _FUNCTION, low=0.0, low_open=True)
    if not isinstance(prediction, PredictionResult | FlagsResult):
        raise TypeError(
            f"{_FUNCTION} takes the result of ExpectedResponseResult.predict() or .flag(); "
            f"got {type(prediction).__name__}."
        )
    scores = prediction.scores
    assert scores is not None
    intake_session = int(prediction.settings["intake_session"])
    t = prediction.table
    clients, codes, cols, width = client_grid(t, intake_session)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = ((t["score"] - t["expected"]) / t["sd"]).to_numpy(dtype=float)
    sign = scores.sign
    d = sign if direction == "deterioration" else -sign
    zz = np.full((len(clients), width), np.nan)
    zz[codes, cols] = z
    present = np.zeros((len(clients), width), dtype=bool)
    present[codes, cols] = True
    s = np.zeros(len(clients))
    sums = np.full((len(clients), width), np.nan)
    for j in range(width):
        seen = ~np.isnan(zz[:, j])
        s = np.where(seen, np.maximum(0.0, s + d * np.where(seen, zz[:, j], 0.0) - allowance), s)
        sums[:, j] = np.where(present[:, j], s, np.nan)
    value = sums[codes, cols]
    alarm = ~np.isnan(z) & (value >= threshold)
    table = pd.DataFrame(
        {
            "client": t["client"].to_numpy(),
            "session": t["session"].to_numpy(),
            "score": t["score"].to_numpy(),
            "z": z,
            "cusum": value,
            "alarm": alarm,
        }
    )[CUSUM_COLUMNS]
    n = len(clients)
    n_flags = np.bincount(codes, weights=alarm, minlength=n).astype(np.int64)
    n_mon = np.bincount(codes, weights=~np.isnan(z), minlength=n).astype(np.int64)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, codes[alarm], t["session"].to_numpy(dtype=np.int64)[alarm])
    has = first < np.iinfo(np.int64).max
    lay = layout(scores, intake_session)
    pos = scores.clients.get_indexer(clients)
    last = np.where(lay.last_observed[pos] > 0, lay.last_observed[pos] + intake_session, 0)
    out = pd.DataFrame(
        {
            "client": clients.to_numpy(),
            "intake": lay.intake[pos],
            "last_session": pd.arrays.IntegerArray(last.astype(np.int64), last == 0),
            "n_monitored": n_mon,
            "n_flags": n_flags,
            "first_flag_session": pd.arrays.IntegerArray(np.where(has, first, 0), ~has),
            "flagged": n_flags > 0,
        }
    )[CUSUM_CLIENT_COLUMNS]
    settings = base_settings(
        scores,
        seed=prediction.settings.get("seed"),
        direction=direction,
        allowance=allowance,
        threshold=threshold,
        intake_session=intake_session,
        method=prediction.settings["method"],
        level=prediction.settings["level"],
    )
    return CusumResult(
        table=table,
        settings=settings,
        skipped=prediction.skipped,
        warnings=(),
        scores=scores,
        clients=out,
    )
