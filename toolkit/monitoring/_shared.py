"""Helpers shared by the monitoring modules: the intake layout, client features, small tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import LongScores
from ..errors import DataError, MissingColumnError

__all__ = [
    "Layout",
    "layout",
    "client_features",
    "skipped_frame",
    "nullable_bool",
    "show_ids",
    "DOSE_OBSERVED",
    "resolve_seed",
]

#: ``dose="observed"``: each client's observed course length (sessions after intake).
DOSE_OBSERVED = "observed"
_SHOW = 5


def resolve_seed(seed: Any, function: str) -> int:
    """A whole-number seed; None draws one (callers record it in ``settings``)."""
    if seed is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    from .._checks import whole

    return whole(seed, "seed", function, low=0)


def show_ids(ids: Sequence[Any] | np.ndarray | pd.Index) -> str:
    """The first few ids as users typed them, with an ellipsis when there are more."""
    values = [v.item() if isinstance(v, np.generic) else v for v in list(ids)[:_SHOW]]
    return f"{values}{' ...' if len(ids) > _SHOW else ''}"


@dataclass(frozen=True)
class Layout:
    """Scores arranged by sessions after intake.

    Attributes
    ----------
    intake : (N,) intake score (NaN when missing).
    post : (N, E) scores at elapsed sessions 1..E after intake (NaN = missing).
    elapsed : (E,) the elapsed session numbers (1..E).
    last_row : (N,) elapsed session of each client's last row (0 when none after intake).
    last_observed : (N,) elapsed session of each client's last observed score (0 when none).
    """

    clients: pd.Index
    intake_session: int
    intake: np.ndarray
    post: np.ndarray
    elapsed: np.ndarray
    last_row: np.ndarray
    last_observed: np.ndarray
    n_beyond: int  # observed scores after the last elapsed session kept


def layout(
    scores: LongScores,
    intake_session: int,
    *,
    horizon: int | None = None,
    what: str = "the scores",
) -> Layout:
    """Arrange validated scores by sessions after ``intake_session``.

    ``horizon`` keeps elapsed sessions 1..horizon (default: up to the last session).

    Raises
    ------
    DataError
        ``intake_session`` is not a session of the scores.
    """
    sessions = scores.sessions
    if not (sessions[0] <= intake_session <= sessions[-1]):
        raise DataError(
            f"{what.capitalize()} have no intake session {intake_session}: their sessions run "
            f"from {sessions[0]} to {sessions[-1]}. Fix: pass intake_session=<the session of "
            "the intake score> (the same numbering in the reference and the monitored scores)."
        )
    x = scores.to_matrix()
    j0 = int(intake_session - sessions[0])
    _, last_col = scores.sequence_bounds()
    after = sessions[j0 + 1 :] - intake_session
    e_max = int(after[-1]) if len(after) else 0
    e = e_max if horizon is None else int(horizon)
    post = np.full((scores.n_clients, e), np.nan)
    k = min(e, e_max)
    post[:, :k] = x[:, j0 + 1 : j0 + 1 + k]
    elapsed = np.arange(1, e + 1)
    observed = ~np.isnan(post)
    last_row = np.clip(last_col - j0, 0, k)
    last_obs = np.where(observed.any(1), e - np.argmax(observed[:, ::-1], axis=1), 0)
    beyond = int(np.sum(~np.isnan(x[:, j0 + 1 + k :]))) if j0 + 1 + k < x.shape[1] else 0
    return Layout(
        clients=scores.clients,
        intake_session=int(intake_session),
        intake=x[:, j0].copy(),
        post=post,
        elapsed=elapsed,
        last_row=last_row.astype(np.int64),
        last_observed=last_obs.astype(np.int64),
        n_beyond=beyond,
    )


def client_features(
    scores: LongScores,
    lay: Layout,
    covariates: Sequence[str],
    dose: str | None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Matching variables / predictors per client: intake, covariates, dose; shape (N, d).

    Returns the features, their names, and per client the reason it cannot be used ("" when
    it can).

    Raises
    ------
    MissingColumnError
        A covariate (or dose column) is not carried by the scores.
    DataError
        A covariate is not numeric, or varies within a client.
    """
    cols = [lay.intake]
    names = ["intake"]
    for name in list(covariates) + ([dose] if dose not in (None, DOSE_OBSERVED) else []):
        assert name is not None
        if name not in scores.covariates:
            raise MissingColumnError(
                f"The scores carry no covariate {name!r}; they carry {scores.covariates}. Fix: "
                "keep the column when validating (toolkit.long_scores(..., covariates=[...]))."
            )
        try:
            values = scores.client_values(name)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        try:
            cols.append(pd.to_numeric(values, errors="raise").to_numpy(dtype=float))
        except (TypeError, ValueError):
            raise DataError(
                f"Covariate {name!r} is not numeric, so it cannot enter a distance or a "
                "regression. Fix: code it as numbers (e.g. 0/1 indicator columns)."
            ) from None
        names.append(name)
    if dose == DOSE_OBSERVED:
        cols.append(np.where(lay.last_observed > 0, lay.last_observed, np.nan).astype(float))
        names.append("course_length")
    feats = np.column_stack(cols)
    reason = np.full(len(feats), "", dtype=object)
    bad = np.isnan(feats)
    for j in range(feats.shape[1] - 1, -1, -1):
        if j == 0:
            what = f"no score at the intake session {lay.intake_session}"
        elif names[j] == "course_length":
            what = "no observed score after intake (so no course length)"
        else:
            what = f"missing covariate {names[j]!r}"
        reason[bad[:, j]] = what
    return feats, names, reason


def skipped_frame(clients: pd.Index, reason: np.ndarray) -> pd.DataFrame:
    """A ``skipped`` table of the clients whose reason is not empty."""
    keep = np.asarray(reason != "", dtype=bool)
    return pd.DataFrame(
        {
            "client": pd.Series(clients.to_numpy()[keep], dtype=object),
            "reason": pd.Series(np.asarray(reason, dtype=object)[keep], dtype=object),
        }
    )


def nullable_bool(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    """A pandas nullable boolean array (``<NA>`` where ``missing``)."""
    return pd.arrays.BooleanArray(
        np.asarray(values, dtype=bool) & ~missing, np.asarray(missing, dtype=bool)
    )
