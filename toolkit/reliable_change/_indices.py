"""The seven reliable change indices: the formulas, and the growth-model (HLM) index."""

from __future__ import annotations

import math
import warnings as _warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import warn

__all__ = ["rci_values", "hlm_index"]


def rci_values(
    method: str,
    pre: np.ndarray,
    post: np.ndarray,
    *,
    r: float,
    r_post: float,
    s: float,
    stats: dict[str, float],
) -> tuple[np.ndarray, dict[str, Any]]:
    """The index on the post - pre scale, and the band post = intercept + slope*pre +/- z*scale."""
    m1, m2 = stats["mean_pre"], stats["mean_post"]
    se = s * math.sqrt(1 - r)
    s_diff = math.sqrt(2.0) * se
    se_pred = s * math.sqrt(1 - r * r)
    extra = {"se_measurement": se, "s_diff": s_diff}
    if method == "jacobson_truax":
        return (post - pre) / s_diff, {**extra, "band": (0.0, 1.0, s_diff)}
    if method == "gulliksen_lord_novick":
        rci = ((post - m1) - r * (pre - m1)) / se_pred
        return rci, {**extra, "se_prediction": se_pred, "band": (m1 * (1 - r), r, se_pred)}
    if method == "hsu_linn_lord":
        rci = ((post - m2) - r * (pre - m1)) / se_pred
        return rci, {**extra, "se_prediction": se_pred, "band": (m2 - r * m1, r, se_pred)}
    if method == "edwards_nunnally":
        rci = (post - (r * (pre - m1) + m1)) / se
        return rci, {**extra, "band": (m1 * (1 - r), r, se)}
    if method == "nunnally_kotsch":
        denominator = math.sqrt(r * r * s * s * (1 - r) + s * s * (1 - r_post))
        rci = (post - (r * (pre - m1) + m1)) / denominator
        return rci, {**extra, "band": (m1 * (1 - r), r, denominator)}
    # Hageman & Arrindell (1999): reliability of the difference scores from the sample.
    s1, s2, r12 = stats["sd_pre"], stats["sd_post"], stats["r_pre_post"]
    if not (s1 > 0 and s2 > 0 and np.isfinite(r12)):
        raise ValueError(
            "The Hageman-Arrindell method needs pre and post scores that vary across "
            f"clients (SD pre {s1:.3g}, SD post {s2:.3g}) and at least 3 clients."
        )
    r1 = 1 - se * se / (s1 * s1)
    r2 = 1 - se * se / (s2 * s2)
    r_dd = (s1 * s1 * r1 + s2 * s2 * r2 - 2 * s1 * s2 * r12) / (
        s1 * s1 + s2 * s2 - 2 * s1 * s2 * r12
    )
    if not 0 < r_dd <= 1:
        raise ValueError(
            f"The Hageman-Arrindell reliability of the difference scores is {r_dd:.3g}, "
            "outside (0, 1], so their index is undefined for these data. Fix: check the "
            "reliability, or use another method."
        )
    rci = ((post - pre) * r_dd + (m2 - m1) * (1 - r_dd)) / (math.sqrt(r_dd) * s_diff)
    band = (-(m2 - m1) * (1 - r_dd) / r_dd, 1.0, s_diff / math.sqrt(r_dd))
    return rci, {**extra, "r_dd": r_dd, "band": band}


def hlm_index(
    window: np.ndarray, sessions: np.ndarray, clients: pd.Index, slope_kind: str
) -> dict[str, Any]:
    """Random-slope growth model; empirical-Bayes slopes and their SEs, vectorised over clients."""
    import statsmodels.api as sm

    rows, cols = np.nonzero(~np.isnan(window))
    y = window[rows, cols]
    t = sessions[cols].astype(float)
    if np.unique(t).size < 3:
        raise ValueError(
            "The HLM method needs at least 3 distinct sessions to fit a growth curve; these "
            f"data have {np.unique(t).size} in the window. Fix: use another method."
        )
    t = t - t.mean()  # centring changes neither the slopes nor their SEs; it helps the fit
    design = np.column_stack([np.ones_like(t), t])
    model = sm.MixedLM(y, design, groups=rows, exog_re=design)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        fit = model.fit(reml=True)
    messages = []
    noted = sorted({str(w.message).strip() for w in caught})
    if noted or not getattr(fit, "converged", True):
        messages.append(
            warn(
                "The growth model (HLM method) did not fit cleanly: "
                + ("; ".join(noted) if noted else "the optimiser did not converge")
                + ". Slopes near the boundary are shrunk towards the average slope; check "
                "result.sm_result.",
                stacklevel=4,
            )
        )

    beta = np.asarray(fit.fe_params, dtype=float)
    g = np.asarray(fit.cov_re, dtype=float)
    s2 = float(fit.scale)
    c_beta = np.asarray(fit.cov_params(), dtype=float)[:2, :2]
    n_clients = window.shape[0]
    residual = y - (beta[0] + beta[1] * t)
    count = np.bincount(rows, minlength=n_clients).astype(float)
    st = np.bincount(rows, weights=t, minlength=n_clients)
    stt = np.bincount(rows, weights=t * t, minlength=n_clients)
    sr = np.bincount(rows, weights=residual, minlength=n_clients)
    str_ = np.bincount(rows, weights=t * residual, minlength=n_clients)
    z_z = np.empty((n_clients, 2, 2))
    z_z[:, 0, 0], z_z[:, 0, 1], z_z[:, 1, 0], z_z[:, 1, 1] = count, st, st, stt
    # A_i = (Z'Z/s2 + G^-1)^-1 = K_i G with K_i = (I + G Z'Z/s2)^-1, which needs no G^-1
    # (G may be singular at the boundary).
    k = np.linalg.inv(np.eye(2) + np.einsum("ab,nbc->nac", g, z_z) / s2)
    a = k @ g
    b = np.einsum("nab,nb->na", a, np.column_stack([sr, str_])) / s2
    # Prediction error variance of beta_hat + b_hat: A_i + K_i C K_i' (Henderson's mixed model
    # equations, with the uncertainty of the fixed effects C).
    pev_total = a + k @ c_beta @ np.transpose(k, (0, 2, 1))
    deviation, deviation_se = b[:, 1], np.sqrt(a[:, 1, 1])
    slope, slope_se = beta[1] + b[:, 1], np.sqrt(pev_total[:, 1, 1])
    z = slope / slope_se if slope_kind == "total" else deviation / deviation_se
    coefficients = pd.DataFrame(
        {
            "client": clients.to_numpy(),
            "slope": slope,
            "slope_se": slope_se,
            "deviation": deviation,
            "deviation_se": deviation_se,
        }
    )
    return {
        "rci": z,
        "coefficients": coefficients,
        "sm_result": fit,
        "warnings": messages,
        "fixed_slope": float(beta[1]),
        "slope_kind": slope_kind,
    }
