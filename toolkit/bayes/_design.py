"""From validated scores to the arrays the models work on: (clients x candidates) sums."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._results import empty_skipped
from ..data import LongScores
from ..errors import DataError, EmptyDataError, MissingColumnError

MIN_SEGMENT = 2  # observed sessions needed before a candidate change, and from it on
MIN_OBSERVED = 2 * MIN_SEGMENT
METHOD = "a Bayesian change-point model"
#: Shapes of the change (``model=``), with their client-level effects in regression order.
EFFECTS = {
    "mean": ["baseline", "jump"],
    "linear": ["baseline", "pre_slope", "jump", "post_slope"],
    "broken_stick": ["baseline", "pre_slope", "post_slope"],
}
#: How many of a shape's first effects describe a client without a change.
N_NONE = {"mean": 1, "linear": 2, "broken_stick": 2}


@dataclass(frozen=True, eq=False)
class Stats:
    """Sufficient statistics of each client's observed (standardised) scores.

    For client *i* and candidate *k*, ``x_t`` is the regression row of session *t* (see
    :func:`regression_rows`) and ``m_t`` 1 when the session was observed:
    ``G = sum_t m_t x_t x_t'`` (N, K, J, J), ``h = sum_t m_t x_t y_t`` (N, K, J),
    ``yy = sum_t m_t y_t^2`` and ``n = sum_t m_t`` (N,). ``G0``/``h0`` are the same for the
    rows without a change (K = 1). Missing sessions drop out of every sum.
    """

    G: np.ndarray
    h: np.ndarray
    G0: np.ndarray
    h0: np.ndarray
    yy: np.ndarray
    n: np.ndarray
    log_prior: np.ndarray  # (N, K): log P(candidate), uniform over each client's valid ones

    def take(self, rows: Any) -> Stats:
        return Stats(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    @property
    def valid(self) -> np.ndarray:
        """(N, K): the candidates at which each client can change."""
        return np.isfinite(self.log_prior)


@dataclass(frozen=True, eq=False)
class Design:
    scores: LongScores  # validated input (all clients)
    shape: str  # "mean", "linear" or "broken_stick"
    pooling: str  # "hierarchical" or "none"
    effects: list[str]  # client-level effects with a change, in regression-row order
    n_none: int  # the first n_none effects are those of the no-change rows
    clients: pd.Index  # analysed clients (rows of every array)
    sessions: np.ndarray  # (T,) session numbers
    candidates: np.ndarray  # (K,) column positions at which a change can take effect
    matrix: np.ndarray  # (N, T) scores, NaN = missing
    u: np.ndarray  # (T,) time: 0 at the first session, 1 at the last
    rows: np.ndarray  # (K, T, J) regression rows with a change at each candidate
    rows0: np.ndarray  # (T, n_none) regression rows without a change
    stats: Stats
    mid: float
    scale: float  # width of the score range the priors are scaled to
    span: float  # sessions from first to last: slope per session = slope per course / span
    sign: int  # +1 when lower scores are better
    resolution: float  # smallest step between recorded scores (points; 1 for whole numbers)
    X: np.ndarray | None  # (N, P) centred client-level covariates
    covariate_names: list[str]
    skipped: pd.DataFrame

    @property
    def candidate_sessions(self) -> np.ndarray:
        return self.sessions[self.candidates]

    @property
    def has_jump(self) -> bool:
        return "jump" in self.effects

    @property
    def jump_index(self) -> int:
        return self.effects.index("jump")

    @property
    def floor2(self) -> float:
        """Variance of rounding to the recorded resolution, standardised (delta^2 / 12)."""
        return (self.resolution / self.scale) ** 2 / 12.0

    @property
    def level_rows(self) -> np.ndarray:
        """(K, J): the expected score just before the change at each candidate, as a linear
        function of the effects (``a + b u_k``; the mean-shift model: ``a``)."""
        K, J = len(self.candidates), len(self.effects)
        out = np.zeros((K, J))
        out[:, 0] = 1.0
        if "pre_slope" in self.effects:
            out[:, self.effects.index("pre_slope")] = self.u[self.candidates]
        return out

    def unit(self, effect: str) -> float:
        """Score points per standardised unit of an effect (slopes: per session)."""
        return self.scale / self.span if "slope" in effect else self.scale

    def offset(self, effect: str) -> float:
        return self.mid if effect in ("baseline", "level_before", "level_after") else 0.0

    def to_score(self, effect: str, values: Any) -> Any:
        return self.offset(effect) + self.unit(effect) * values


def design(
    scores: LongScores,
    *,
    shape: str,
    pooling: str,
    covariates: Sequence[str] | None,
    better: str | None,
) -> Design:
    """Check the data and build every array the model and the post-processing need."""
    matrix_all = scores.to_matrix()
    if np.isnan(matrix_all).all():
        raise EmptyDataError(
            f"Every {scores.score_label} score is missing, so there is nothing to model. "
            "Fix: check the score column (missing scores should be the exception)."
        )
    few = scores.too_few_sessions(MIN_OBSERVED, method=METHOD)
    keep = ~scores.clients.isin(few["client"])
    if not keep.any():
        raise EmptyDataError(
            f"No client has at least {MIN_OBSERVED} observed scores, which {METHOD} needs "
            f"({MIN_SEGMENT} before and {MIN_SEGMENT} from a change on). Fix: analyse clients "
            "with more sessions."
        )
    matrix = matrix_all[keep]
    observed = matrix[~np.isnan(matrix)]
    if np.ptp(observed) == 0:
        raise DataError(
            f"All {observed.size} observed {scores.score_label} scores of the analysable "
            f"clients equal {observed[0]:g}: constant data have no change to find and no "
            "noise to estimate. Fix: check the score column."
        )
    inst = scores.instrument
    sign = scores.direction(better)
    if inst is not None:
        lo, hi = inst.min_score, inst.max_score
    else:  # no published range: scale the priors to the data
        lo, hi = float(observed.min()), float(observed.max())
    sessions = np.asarray(scores.sessions)
    span = float(sessions[-1] - sessions[0])
    u = (sessions - sessions[0]) / span
    clients = scores.clients[keep]
    X, names = covariate_matrix(scores, clients, covariates, pooling)
    candidates, log_prior = candidate_prior(~np.isnan(matrix))
    rows, rows0 = regression_rows(shape, u, candidates)
    mid, scale = (lo + hi) / 2, hi - lo
    stats = sufficient_stats((matrix - mid) / scale, rows, rows0, log_prior)
    skipped = (
        pd.DataFrame({"client": few["client"].to_numpy(), "reason": few["reason"].to_numpy()})
        if len(few)
        else empty_skipped()
    )
    return Design(
        scores=scores,
        shape=shape,
        pooling=pooling,
        effects=list(EFFECTS[shape]),
        n_none=N_NONE[shape],
        clients=clients,
        sessions=sessions,
        candidates=candidates,
        matrix=matrix,
        u=u,
        rows=rows,
        rows0=rows0,
        stats=stats,
        mid=mid,
        scale=scale,
        span=span,
        sign=sign,
        resolution=resolution(observed),
        X=X,
        covariate_names=names,
        skipped=skipped,
    )


def resolution(observed: np.ndarray) -> float:
    """The smallest positive step between distinct recorded scores (1 for whole numbers)."""
    steps = np.diff(np.unique(observed))
    return float(steps.min()) if steps.size else 0.0


def candidate_prior(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns where a change can take effect, and each client's log prior over them.

    A change can take effect at a session with at least ``MIN_SEGMENT`` observed scores
    before it and from it on; the prior is uniform over a client's such sessions.
    """
    mf = mask.astype(float)
    before = np.cumsum(mf, axis=1) - mf
    n = mf.sum(axis=1, keepdims=True)
    valid = (before >= MIN_SEGMENT) & (n - before >= MIN_SEGMENT)
    valid[:, 0] = False
    candidates = np.flatnonzero(valid.any(axis=0))
    valid = valid[:, candidates]
    with np.errstate(divide="ignore"):
        log_prior = np.where(valid, -np.log(valid.sum(axis=1, keepdims=True)), -np.inf)
    return candidates, log_prior


def regression_rows(
    shape: str, u: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Regression rows x_t per candidate k; the expected score is x_t' theta.

    ``"linear"``, theta = (baseline a, pre-slope b, jump d, post-slope p)::

        x_t = (1, min(u_t, u_k), 1[t >= k], 1[t >= k] (u_t - u_k)); without a change (1, u_t)

    ``"broken_stick"``, theta = (a, b, p): the same without the jump column (the line bends at
    ``u_k`` and stays continuous). ``"mean"``, theta = (a, d): x_t = (1, 1[t >= k]); without a
    change (1).
    """
    T = len(u)
    after = (np.arange(T)[None, :] >= candidates[:, None]).astype(float)  # (K, T)
    uk = u[candidates][:, None]
    ones = np.ones_like(after)
    if shape == "mean":
        return np.stack([ones, after], axis=-1), np.ones((T, 1))
    bend = after * (u[None, :] - uk)
    capped = np.minimum(u[None, :], uk)
    columns = [ones, capped, after, bend] if shape == "linear" else [ones, capped, bend]
    return np.stack(columns, axis=-1), np.column_stack([np.ones(T), u])


def sufficient_stats(
    y: np.ndarray, rows: np.ndarray, rows0: np.ndarray, log_prior: np.ndarray
) -> Stats:
    mf = (~np.isnan(y)).astype(float)
    y0 = np.where(np.isnan(y), 0.0, y)
    return Stats(
        G=np.einsum("nt,ktj,ktl->nkjl", mf, rows, rows),
        h=np.einsum("nt,ktj->nkj", y0, rows),
        G0=np.einsum("nt,tj,tl->njl", mf, rows0, rows0)[:, None],
        h0=np.einsum("nt,tj->nj", y0, rows0)[:, None],
        yy=(y0**2).sum(axis=1),
        n=mf.sum(axis=1),
        log_prior=log_prior,
    )


def covariate_matrix(
    scores: LongScores, clients: pd.Index, covariates: Sequence[str] | str | None, pooling: str
) -> tuple[np.ndarray | None, list[str]]:
    """Centred client-level design matrix (text columns dummy-coded against the first level)."""
    if covariates is None or len(covariates) == 0:
        return None, []
    if isinstance(covariates, str):
        covariates = [covariates]
    if pooling != "hierarchical":
        raise ValueError(
            "Covariates predict the population's jump and baseline, so they need "
            "pooling='hierarchical'; got pooling='none'. Fix: use pooling='hierarchical' or "
            "drop covariates=."
        )
    data = scores.data
    available = [c for c in data.columns if c not in ("client", "session", "score", "date")]
    for c in covariates:
        if c not in available:
            raise MissingColumnError(
                f"Covariate {c!r} is not in the data; the columns carried along are "
                f"{available}. Fix: name one of them, or keep the column when validating."
            )
    per_client = data[data["client"].isin(clients)].groupby("client", sort=True)[list(covariates)]
    varying = per_client.nunique(dropna=False) > 1
    for c in covariates:
        if varying[c].any():
            bad = varying.index[varying[c]].tolist()
            raise DataError(
                f"Covariate {c!r} changes within client(s) {bad[:5]}: a client-level "
                "covariate must be constant over a client's sessions. Fix: use the value at "
                "intake, e.g. df[col] = df.groupby(client)[col].transform('first')."
            )
    values = per_client.first().reindex(clients)
    missing = values.isna().any(axis=1)
    if missing.any():
        raise DataError(
            f"Covariates {list(covariates)} are missing for client(s) "
            f"{values.index[missing].tolist()[:5]}. Fix: fill them in or drop these clients."
        )
    parts = []
    for c in covariates:
        col = values[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            parts.append(col.astype(float).rename(c))
        else:
            parts.append(
                pd.get_dummies(col.astype(str), prefix=c, prefix_sep="=", drop_first=True).astype(
                    float
                )
            )
    X = pd.concat(parts, axis=1)
    constant = X.columns[X.std(axis=0, ddof=0) == 0].tolist() if X.shape[1] else covariates
    if X.shape[1] == 0 or constant:
        raise DataError(
            f"Covariate(s) {list(constant)} take a single value over the analysed clients, so "
            "their effect cannot be estimated. Fix: drop them from covariates=."
        )
    X = X - X.mean(axis=0)  # centred: population means describe an average client
    return X.to_numpy(), [str(c) for c in X.columns]
