"""Prepared data: each client's observed scores packed to the left of a (clients x L) array.

Every client's series is its observed sessions only: missing sessions are not imputed, the
session numbers are the time axis of the linear models, and change points fall between
observed sessions. Also the per-client robust noise SD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Packed", "pack", "client_noise_sd", "MAD_TO_SD", "MEANDEV_TO_SD"]

MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4), as R's mad() rounds it: MAD -> SD for Gaussian data
MEANDEV_TO_SD = math.sqrt(math.pi / 2)  # mean absolute deviation -> SD for Gaussian data


@dataclass
class Packed:
    """Observed scores packed left (position j = the client's j-th observed session)."""

    y: np.ndarray  # (N, L) scores minus the client's mean; 0 beyond n
    t: np.ndarray  # (N, L) session numbers minus the client's mean session; 0 beyond n
    sessions: np.ndarray  # (N, L) session numbers (int); -1 beyond n
    n: np.ndarray  # (N,) observed count
    y_mean: np.ndarray  # (N,) client's mean score
    t_mean: np.ndarray  # (N,) client's mean session
    rows: np.ndarray  # (N,) row of the client in scores.clients

    @property
    def length(self) -> int:
        return self.y.shape[1]

    def take(self, idx: np.ndarray) -> Packed:
        return Packed(
            *(
                getattr(self, f)[idx]
                for f in ("y", "t", "sessions", "n", "y_mean", "t_mean", "rows")
            )
        )


def pack(matrix: np.ndarray, sessions: np.ndarray, rows: np.ndarray) -> Packed:
    """Pack observed scores of the given rows to the left; centre scores and times."""
    m = matrix[rows]
    obs = ~np.isnan(m)
    n = obs.sum(axis=1)
    if obs.all():
        vals = m
        sess = np.broadcast_to(sessions, m.shape)
    else:
        order = np.argsort(~obs, axis=1, kind="stable")  # observed first, in session order
        vals = np.take_along_axis(m, order, axis=1)
        sess = sessions[order]
    length = int(n.max(initial=0))
    vals, sess = vals[:, :length], np.array(sess[:, :length], dtype=np.int64)
    valid = np.arange(length)[None, :] < n[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        y_mean = np.where(valid, vals, 0.0).sum(axis=1) / n
        t_mean = np.where(valid, sess, 0).sum(axis=1) / n
    y = np.where(valid, vals - y_mean[:, None], 0.0)
    t = np.where(valid, sess - t_mean[:, None], 0.0)
    sess = np.where(valid, sess, -1)
    return Packed(y, t, sess, n, y_mean, t_mean, rows)


def _row_median(a: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[i]`` values of each row (NaN padding sorts last)."""
    s = np.sort(a, axis=1)
    r = np.arange(len(a))
    lo = np.clip((counts - 1) // 2, 0, None)
    hi = np.clip(counts // 2, 0, None)
    return np.where(
        counts > 0,
        (s[r, np.minimum(lo, s.shape[1] - 1)] + s[r, np.minimum(hi, s.shape[1] - 1)]) / 2,
        np.nan,
    )


def client_noise_sd(p: Packed) -> tuple[np.ndarray, np.ndarray]:
    """Each client's noise SD from the MAD of its successive differences.

    Returns the SD and a flag for clients where the MAD was 0 and the mean absolute
    deviation was used instead.
    """
    k = p.n - 1
    d = np.diff(p.y, axis=1)
    d[np.arange(d.shape[1])[None, :] >= k[:, None]] = np.nan
    med = _row_median(d, k)
    dev = np.abs(d - med[:, None])
    mad = _row_median(dev, k)
    sd = MAD_TO_SD * mad / math.sqrt(2)
    zero = ~(sd > 0)
    if zero.any():
        with np.errstate(invalid="ignore"):
            mean_dev = np.nanmean(dev[zero], axis=1)
        sd[zero] = MEANDEV_TO_SD * mean_dev / math.sqrt(2)
    return sd, zero
