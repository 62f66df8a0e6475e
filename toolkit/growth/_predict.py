"""Predictions with intervals and fixed-effects mean curves of a fitted growth model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _checks
from ..errors import DataError, MissingColumnError
from ._design import knot_name
from ._result import CURVE_COLUMNS, PREDICT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from ._result import GrowthResult

__all__ = ["predict", "curves"]

LEVELS = ("population", "therapist", "client")
INTERVALS = ("confidence", "prediction")


def _time_columns(result: GrowthResult, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's own variables (time, time_sq, knots, breakthrough terms) for ``frame``,
    which holds ``session`` (and ``client`` when known)."""
    st = result.settings
    session = frame["session"].to_numpy(dtype=float)
    elapsed = session - float(st["time_zero"])
    if st["time"] == "log":
        if np.any(elapsed <= 0):
            bad = np.unique(session[elapsed <= 0])[:5].tolist()
            raise DataError(
                f"time='log' needs every session after time_zero={st['time_zero']:g}; "
                f"sessions {bad} are not. Fix: predict at later sessions."
            )
        coded = np.log(elapsed)
    else:
        coded = elapsed
    frame = frame.copy()
    frame["time"] = coded
    if st["time"] == "quadratic":
        frame["time_sq"] = coded * coded
    for k in st.get("knots") or []:
        frame[knot_name(float(k))] = np.maximum(session - float(k), 0.0)
    if result.breakthrough_table is not None:
        at = pd.Series(np.nan, index=frame.index)
        if "client" in frame.columns:
            first = result.breakthrough_table.groupby("client")["session"].min()
            at = pd.Series(frame["client"].map(first).to_numpy(dtype=float), index=frame.index)
        b = at.to_numpy(dtype=float)
        has = ~np.isnan(b)
        frame["post_breakthrough"] = np.where(has & (session >= b), 1.0, 0.0)
        frame["time_since_breakthrough"] = np.where(
            has, np.maximum(session - np.where(has, b, 0.0), 0.0), 0.0
        )
    role = result.settings["session_column"]
    if role not in frame.columns:
        frame[role] = frame["session"]
    return frame


def _matrices(result: GrowthResult, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-effects rows and random-effects basis rows of ``frame``."""
    state = result._model
    try:
        x = np.asarray(state["model_spec"].get_model_matrix(frame, na_action="raise"), float)
    except Exception as exc:  # formulaic raises several kinds for unusable new data
        raise DataError(
            "The new data cannot be coded like the fitting data: "
            f"{exc}. Fix: give every covariate of the formula, with levels seen in the fit."
        ) from None
    if x.shape[1] != len(state["terms"]):  # pragma: no cover - the spec fixes the columns
        raise DataError("The new data give a different set of fixed-effect columns.")
    if state["standard_random"]:
        basis = np.column_stack([np.ones(len(frame)), frame["time"].to_numpy(dtype=float)])
    else:
        basis = np.asarray(
            state["random_spec"].get_model_matrix(frame, na_action="raise"), dtype=float
        )
    return x, basis


def _newframe(result: GrowthResult, newdata: pd.DataFrame | None) -> pd.DataFrame:
    """The caller's rows under the model's names: session, client (if given), covariates."""
    roles = result._scores.roles
    if newdata is None:
        f = result.fitted
        base = result._model["frame"]
        return base.assign(client=f["client"].to_numpy(), session=f["session"].to_numpy())
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a DataFrame; got {type(newdata).__name__}.")
    if roles["session"] not in newdata.columns:
        raise MissingColumnError(
            f"newdata needs the session column {roles['session']!r}; its columns are "
            f"{list(newdata.columns)}."
        )
    frame = pd.DataFrame(index=newdata.index)
    for c in newdata.columns:
        if c in (roles["client"], roles["session"], roles["score"]):
            continue
        frame[c] = newdata[c].array
    frame["session"] = pd.to_numeric(newdata[roles["session"]], errors="coerce").to_numpy()
    if frame["session"].isna().any():
        raise DataError(
            f"Column {roles['session']!r} of newdata has missing or non-numeric sessions."
        )
    if roles["client"] in newdata.columns:
        frame["client"] = newdata[roles["client"]].to_numpy()
    return frame


def predict(
    result: GrowthResult,
    newdata: pd.DataFrame | None,
    *,
    level: str,
    interval: str,
    interval_level: float | None,
) -> pd.DataFrame:
    """See :meth:`GrowthResult.predict`."""
    fn = "GrowthResult.predict"
    _checks.choice(level, "level", fn, LEVELS)
    _checks.choice(interval, "interval", fn, INTERVALS)
    cover = result.settings["level"] if interval_level is None else interval_level
    cover = _checks.level(cover, "interval_level", fn)
    state = result._model
    three = bool(result.n_therapists)
    if level == "therapist" and not three:
        raise ValueError(
            "level='therapist' needs a model with a therapist level (growth.fit(..., "
            "therapist='...')). Fix: level='population' or level='client'."
        )
    frame = _time_columns(result, _newframe(result, newdata))
    x, basis = _matrices(result, frame)
    beta = state["beta"]
    inference = state["inference"]
    nm = state["nested"]
    sigma2 = state["sigma2"]
    ic, it = list(nm.ic), list(nm.it)
    zc, zt = basis[:, ic], basis[:, it]
    n = len(frame)
    estimate = x @ beta
    client_code = np.full(n, -1)
    therapist_code = np.full(n, -1)
    clients: pd.Index = state["clients"]
    if level == "client" or (level == "therapist" and "client" in frame.columns):
        if "client" not in frame.columns:
            raise MissingColumnError(
                f"level='client' needs the client column {result._scores.roles['client']!r} "
                "in newdata. Fix: add it, or level='population'."
            )
        client_code = clients.get_indexer(frame["client"])
        if level == "client" and (client_code < 0).any():
            unknown = pd.unique(frame["client"][client_code < 0])[:5].tolist()
            raise DataError(
                f"Client(s) {unknown} are not in the model, so they have no predicted random "
                "effects. Fix: level='population' for new clients"
                + (
                    " (or level='therapist' for a new client of a known therapist)."
                    if three
                    else "."
                )
            )
    if three:
        therapist_code = np.where(
            client_code >= 0, state["client_therapist"][np.maximum(client_code, 0)], -1
        )
        column = result.settings["therapist"]
        if level == "therapist" and column in frame.columns:
            given = state["therapists"].get_indexer(frame[column])
            therapist_code = np.where(therapist_code >= 0, therapist_code, given)
        if level == "therapist" and (therapist_code < 0).any():
            raise DataError(
                f"level='therapist' needs each row's therapist: a column {column!r} in newdata "
                "with therapists of the model (or clients of the model). Fix: add it, or "
                "level='population'."
            )
    rows = x.copy()
    extra = np.zeros(n)
    if level != "population":
        pb = nm.prediction_blocks(state["theta"])
        tc, tt = pb["tc"], pb["tt"]
        a_t = zt @ tt if three else np.zeros((n, 0))  # rows of T_t' z_t
        if three:
            k = therapist_code
            estimate = estimate + np.sum(zt * state["blups_t"][k], axis=1)
            rows -= np.einsum("nqp,nq->np", pb["m_t"][k], a_t)
            extra += np.einsum("nq,nqr,nr->n", a_t, pb["ainv_tt"][k], a_t)
        if level == "client":
            j = client_code
            a_c = zc @ tc
            estimate = estimate + np.sum(zc * state["blups"][j], axis=1)
            rows -= np.einsum("nqp,nq->np", pb["m_c"][j], a_c)
            extra += np.einsum("nq,nqr,nr->n", a_c, pb["ainv_cc"][j], a_c)
            if three:
                extra += 2 * np.einsum("nq,nqr,nr->n", a_c, pb["ainv_ct"][j], a_t)
        extra *= sigma2
    se_fixed, df = inference.contrast(rows)
    var = se_fixed**2 + extra
    if interval == "prediction":
        var = var + sigma2
        if level == "population":
            var = var + np.einsum("nq,qr,nr->n", zc, state["cov_re"], zc)
        if level in ("population", "therapist") and three:
            if level == "population":
                var = var + np.einsum("nq,qr,nr->n", zt, state["cov_t"], zt)
            else:
                var = var + np.einsum("nq,qr,nr->n", zc, state["cov_re"], zc)
    se = np.sqrt(np.maximum(var, 0.0))
    crit = inference.quantile(df, cover)
    out = pd.DataFrame(
        {
            "client": frame["client"].to_numpy() if "client" in frame.columns else np.nan,
            "session": frame["session"].to_numpy(),
            "time": frame["time"].to_numpy(dtype=float),
            "estimate": estimate,
            "se": se,
            "df": df,
            "ci_lower": estimate - crit * se,
            "ci_upper": estimate + crit * se,
        },
        index=frame.index,
    )
    return out[PREDICT_COLUMNS]


def curves(result: GrowthResult, by: str | None, *, interval_level: float | None) -> pd.DataFrame:
    """See :meth:`GrowthResult.curves`."""
    fn = "GrowthResult.curves"
    cover = result.settings["level"] if interval_level is None else interval_level
    cover = _checks.level(cover, "interval_level", fn)
    state = result._model
    base = state["client_rows"]  # each modelled client's first row of the model frame
    clients = base["client"].to_numpy()
    if by is None:
        labels = pd.Index(["all"])
        codes = np.zeros(len(base), dtype=np.int64)
    else:
        values = result._group_values(by).reindex(clients)
        codes, labels = pd.factorize(values, sort=True)
        if (codes < 0).any():
            raise DataError(
                f"Covariate {by!r} is missing for some clients; give them a group first."
            )
    n_groups = len(labels)
    counts = np.bincount(codes, minlength=n_groups)
    sess = result.fitted["session"].to_numpy()
    grid = np.arange(int(sess.min()), int(sess.max()) + 1)
    if result.settings["time"] == "log":
        grid = grid[grid > float(result.settings["time_zero"])]
    means, times, sessions = [], [], []
    for s in grid:  # one vectorised pass over all clients per session
        frame = _time_columns(result, base.assign(session=s))
        x, _ = _matrices(result, frame)
        total = np.stack(
            [np.bincount(codes, weights=x[:, j], minlength=n_groups) for j in range(x.shape[1])],
            axis=1,
        )
        means.append(total / counts[:, None])
        times.append(float(frame["time"].iloc[0]))
        sessions.append(int(s))
    xbar = np.concatenate(means)  # sessions x groups, session-major
    inference = state["inference"]
    se, df = inference.contrast(xbar)
    estimate = xbar @ state["beta"]
    crit = inference.quantile(df, cover)
    n_s = len(grid)
    out = pd.DataFrame(
        {
            "group": np.tile(np.asarray(labels, dtype=object), n_s),
            "session": np.repeat(sessions, n_groups),
            "time": np.repeat(times, n_groups),
            "estimate": estimate,
            "se": se,
            "df": df,
            "ci_lower": estimate - crit * se,
            "ci_upper": estimate + crit * se,
            "n_clients": np.tile(counts, n_s).astype(np.int64),
        }
    )
    order = np.lexsort((out["session"].to_numpy(), np.tile(np.arange(n_groups), n_s)))
    return out.iloc[order].reset_index(drop=True)[CURVE_COLUMNS]
