"""Segment costs from cumulative sums, and the penalties of R's changepoint package."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._packed import Packed

__all__ = ["Stats", "penalty", "MODELS", "PENALTIES"]

#: Segment models and the number of parameters one change adds besides its location.
MODELS = {"mean": 1, "linear": 2, "broken_stick": 1}
PENALTIES = ("MBIC", "BIC", "AIC")


class Stats:
    """Cumulative sums over packed positions: the residual sum of squares of any segment.

    Segment ``[s, e)`` holds positions s..e-1 (observed sessions). ``rss(s, e)`` takes
    integer arrays broadcastable to (N, k) (or 1-D arrays shared by all clients).
    """

    def __init__(self, p: Packed, model: str) -> None:
        self.model = model
        valid = (np.arange(p.length)[None, :] < p.n[:, None]).astype(float)
        cs = lambda a: np.concatenate([np.zeros((len(a), 1)), np.cumsum(a, axis=1)], axis=1)
        self.m = cs(valid)
        self.sy = cs(p.y)
        self.syy = cs(p.y * p.y)
        if model != "mean":
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
            if self.model != "mean":
                st, stt, sty = d("st"), d("stt"), d("sty")
                sttc = stt - np.where(m > 0, st * st / m, 0.0)
                styc = sty - np.where(m > 0, st * sy / m, 0.0)
                out = out - np.where(sttc > 1e-9, styc * styc / sttc, 0.0)
        return np.maximum(out, 0.0)


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
