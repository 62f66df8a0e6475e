"""Segment costs from cumulative sums, and the penalties of R's changepoint package."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._packed import Packed

__all__ = ["Stats", "penalty", "MODELS", "PENALTIES", "R_VARIANCE_FLOOR", "LOG_2PI_1"]

#: Segment models and the number of parameters one change adds besides its location.
MODELS = {"mean": 1, "linear": 2, "broken_stick": 1, "meanvar": 2}
PENALTIES = ("MBIC", "BIC", "AIC")
#: The variance R's changepoint gives a segment whose variance is 0 (``mll_meanvar``).
R_VARIANCE_FLOOR = 1e-11
#: log(2 pi) + 1: the constant of the Gaussian -2 log-likelihood per observation at the MLE.
LOG_2PI_1 = math.log(2 * math.pi) + 1.0
# A segment's residual sum of squares below this share of its sum of squares about the
# client's mean is rounding residue of the cumulative sums: the segment is constant.
_ZERO_RSS = 1e-10


class Stats:
    """Cumulative sums over packed positions: the residual sum of squares of any segment.

    Segment ``[s, e)`` holds positions s..e-1 (observed sessions). ``rss(s, e)`` takes
    integer arrays broadcastable to (N, k) (or 1-D arrays shared by all clients).
    """

    def __init__(self, p: Packed, model: str) -> None:
        self.model = model
        self.linear = model in ("linear", "broken_stick")
        valid = (np.arange(p.length)[None, :] < p.n[:, None]).astype(float)
        cs = lambda a: np.concatenate([np.zeros((len(a), 1)), np.cumsum(a, axis=1)], axis=1)
        self.m = cs(valid)
        self.sy = cs(p.y)
        self.syy = cs(p.y * p.y)
        if self.linear:
            self.st = cs(p.t)
            self.stt = cs(p.t * p.t)
            self.sty = cs(p.t * p.y)

    @staticmethod
    def _at(a: np.ndarray, idx: np.ndarray, per_client: bool) -> np.ndarray:
        if per_client:  # idx has shape (N, k): one row of positions per client
            return np.take_along_axis(a, idx, axis=1)
        return a[:, idx]  # idx shared by all clients: result (N, *idx.shape)

    def diff(self, name: str, s: np.ndarray, e: np.ndarray, per_client: bool = False) -> np.ndarray:
        a = getattr(self, name)
        return self._at(a, e, per_client) - self._at(a, s, per_client)

    def rss(self, s: np.ndarray, e: np.ndarray, per_client: bool = False) -> np.ndarray:
        d = lambda name: self.diff(name, s, e, per_client)
        m, sy, syy = d("m"), d("sy"), d("syy")
        with np.errstate(invalid="ignore", divide="ignore"):
            out = syy - np.where(m > 0, sy * sy / m, 0.0)
            if self.linear:
                st, stt, sty = d("st"), d("stt"), d("sty")
                sttc = stt - np.where(m > 0, st * st / m, 0.0)
                styc = sty - np.where(m > 0, st * sy / m, 0.0)
                out = out - np.where(sttc > 1e-9, styc * styc / sttc, 0.0)
        return np.maximum(out, 0.0)

    def meanvar_cost(
        self, s: np.ndarray, e: np.ndarray, var_floor: np.ndarray, per_client: bool = False
    ) -> np.ndarray:
        """-2 log-likelihood of segments [s, e) with their own mean and variance at the MLE,
        ``m (log(2 pi) + 1 + log(v))`` (R changepoint's ``mll_meanvar``).

        ``v = RSS / m``; a zero variance becomes R's floor 1e-11, and ``v`` is at least the
        client's ``var_floor`` (one per client, 0 for R's own rule). Empty segments cost 0.
        """
        m = self.diff("m", s, e, per_client)
        sy = self.diff("sy", s, e, per_client)
        syy = self.diff("syy", s, e, per_client)
        mm = np.maximum(m, 1.0)
        rss = syy - sy * sy / mm
        rss[rss <= _ZERO_RSS * syy] = 0.0  # rounding residue of a constant segment
        var = rss / mm
        var[var <= 0] = R_VARIANCE_FLOOR
        np.maximum(var, var_floor.reshape((-1,) + (1,) * (var.ndim - 1)), out=var)
        out = m * (LOG_2PI_1 + np.log(var))
        out[m <= 0] = 0.0
        return out


def penalty(penalty: Any, model: str, n: np.ndarray) -> tuple[np.ndarray, bool]:
    """Penalty per change for each client, and whether segments add log(length) (MBIC)."""
    d = MODELS[model]
    logn = np.log(np.maximum(n, 1).astype(float))
    if isinstance(penalty, str):
        if penalty == "MBIC":
            return (d + 2) * logn, True
        if penalty == "BIC":
            return (d + 1) * logn, False
        return np.full(len(n), 2.0 * (d + 1)), False  # AIC
    return np.full(len(n), float(penalty)), False
