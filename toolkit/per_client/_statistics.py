"""Two small statistics of the per-client answer: Wilson intervals and Cohen's kappa."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["wilson_interval", "cohen_kappa"]


def wilson_interval(
    k: np.ndarray | float, n: np.ndarray | float, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval for a proportion ``k / n``, element-wise.

    .. math:: \\frac{k + z^2/2}{n + z^2} \\pm \\frac{z}{n + z^2}
              \\sqrt{\\frac{k (n - k)}{n} + \\frac{z^2}{4}}

    NaN where ``n`` is 0; exactly 0 at ``k = 0`` and 1 at ``k = n`` (where the formula
    lands only within rounding).

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. Journal of the American Statistical Association, 22(158), 209-212.

    Newcombe, R. G. (1998). Two-sided confidence intervals for the single proportion:
    Comparison of seven methods. Statistics in Medicine, 17(8), 857-872.

    Examples
    --------
    >>> lo, hi = wilson_interval(81, 263)  # Newcombe (1998), Table I: 0.2553 to 0.3662
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.2553, 0.3662)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = float(norm.ppf(0.5 + level / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * np.sqrt(np.where(n > 0, k * (n - k) / n, 0.0) + z * z / 4)
    lo = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Cohen's kappa of two yes/no ratings from their 2 x 2 counts.

    ``(p_o - p_e) / (1 - p_e)`` with observed agreement ``p_o`` and the agreement expected
    from the two marginal rates, ``p_e``; NaN when ``p_e`` is 1 (both raters constant) or
    there are no clients.

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educational and
    Psychological Measurement, 20(1), 37-46.

    Examples
    --------
    >>> round(cohen_kappa(20, 5, 10, 15), 3)  # p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4
    0.4
    """
    n = both + only_a + only_b + neither
    if n == 0:
        return float("nan")
    p_o = (both + neither) / n
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    if p_e >= 1:
        return float("nan")
    return float((p_o - p_e) / (1 - p_e))
