"""Coverage of the therapist ICC's profile-likelihood interval on simulated three-level data.

For each of ``R`` replications (default 200, seeds 0..R-1) draws 60 therapists x 12 clients x
8 sessions (5,760 scores) from

    score = 20 - 0.8 t + v_k + u0_j + u1_j t + e,
    v_k ~ N(0, 1.3^2),  (u0, u1) ~ N(0, [[16, -0.6], [-0.6, 0.25]]),  e ~ N(0, 3^2),

so the true therapist ICC at session 0 is 1.69 / (1.69 + 16 + 9) = 6.3 % (within the 5-8 %
usually attributed to therapists), fits ``growth.fit(..., therapist="therapist")`` (REML,
(1 | therapist) + (1 + time | therapist:client)) and computes
``therapist_icc_interval()`` (95 %). Prints the coverage of the true ICC, the mean interval
width, how often the interval reached 0, and the median time per replication (fit +
interval). Target: coverage between 90 % and 98 % for the nominal 95 %.

A benchmark, not a unit test: it takes a few minutes.

Run: ``.venv/bin/python benchmarks/calibration_growth_icc.py [replications]``
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _common import finish, target

from toolkit import growth
from toolkit.errors import ToolkitWarning

N_THERAPISTS, N_CLIENTS, N_SESSIONS = 60, 12, 8
SD_THERAPIST = 1.3
CLIENT_COV = np.array([[16.0, -0.6], [-0.6, 0.25]])
SIGMA = 3.0
TRUE_ICC = SD_THERAPIST**2 / (SD_THERAPIST**2 + CLIENT_COV[0, 0] + SIGMA**2)


def simulate(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = N_THERAPISTS * N_CLIENTS
    therapist = np.repeat(np.arange(N_THERAPISTS), N_CLIENTS)
    v = rng.normal(0, SD_THERAPIST, N_THERAPISTS)[therapist]
    u = rng.multivariate_normal([0, 0], CLIENT_COV, size=n)
    t = np.arange(N_SESSIONS, dtype=float)
    y = 20 - 0.8 * t + v[:, None] + u[:, [0]] + u[:, [1]] * t
    y = y + rng.normal(0, SIGMA, (n, N_SESSIONS))
    return pd.DataFrame(
        {
            "therapist": np.repeat(therapist, N_SESSIONS),
            "client": np.repeat(np.arange(n), N_SESSIONS),
            "session": np.tile(np.arange(N_SESSIONS), n),
            "score": y.ravel(),
        }
    )


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    hits, widths, at_zero, seconds, warned = [], [], 0, [], 0
    for seed in range(reps):
        df = simulate(seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            m = growth.fit(
                df,
                "score ~ time",
                client="client",
                session="session",
                score="score",
                therapist="therapist",
            )
            ci = m.therapist_icc_interval(level=0.95).iloc[0]
        seconds.append(time.perf_counter() - t0)
        warned += bool(caught)
        hits.append(ci["ci_lower"] <= TRUE_ICC <= ci["ci_upper"])
        widths.append(ci["ci_upper"] - ci["ci_lower"])
        at_zero += ci["ci_lower"] == 0.0
    coverage = float(np.mean(hits))
    se = np.sqrt(coverage * (1 - coverage) / reps)
    print(
        f"therapist ICC profile-likelihood interval (95%): {reps} replications of "
        f"{N_THERAPISTS} therapists x {N_CLIENTS} clients x {N_SESSIONS} sessions, true ICC "
        f"{TRUE_ICC:.4f}"
    )
    print(f"  coverage {coverage:.3f} (Monte Carlo SE {se:.3f})")
    print(f"  mean width {np.mean(widths):.4f}; lower limit at 0 in {at_zero} replications")
    print(f"  fits with a warning: {warned}")
    print(f"  median time per replication (fit + interval) {statistics.median(seconds):.2f} s")
    target("coverage >= 0.90", coverage, 0.90, higher_is_better=True, unit="")
    target("coverage <= 0.98", coverage, 0.98, unit="")
    finish()


if __name__ == "__main__":
    main()
