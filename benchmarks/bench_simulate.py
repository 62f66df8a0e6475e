"""Simulator speed and memory: 1,000,000 clients x 20 sessions.

Prints wall time and peak memory of ``toolkit.simulate.trajectories`` with every component
switched on, and two peers measured in the same run:
- the floor: plain NumPy drawing one normal per cell and building the long frame;
- a per-client loop (the straightforward way to write a simulator), timed on a sample of
  clients and scaled up.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [n_clients]``
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import finish, peak_memory, target, timed

from toolkit.simulate import trajectories

N_SESSIONS = 20
OPTIONS = dict(
    instrument="BDI-II",
    gain_share=0.3,
    loss_share=0.1,
    reversal_share=0.3,
    missing=0.1,
    dropout=0.02,
    seed=1,
)


def floor(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    values = 25 + rng.normal(0, 3.4, size=(n, N_SESSIONS))
    return pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n + 1), N_SESSIONS),
            "session": np.tile(np.arange(1, N_SESSIONS + 1), n),
            "score": values.reshape(-1),
        }
    )


def loop(n: int) -> pd.DataFrame:
    """One client at a time: baseline, slope, one possible gain, noise, rounding, missing."""
    rng = np.random.default_rng(1)
    rows = []
    for client in range(1, n + 1):
        base = rng.normal(22.45, 6.4)
        total = rng.normal(6.4, 3.2)
        gain_at = rng.integers(3, N_SESSIONS - 2) if rng.random() < 0.3 else None
        gain = rng.gamma(9.0, 11.5 / 9.0) if gain_at is not None else 0.0
        for t in range(N_SESSIONS):
            true = base - total * t / (N_SESSIONS - 1) - (gain if gain_at and t >= gain_at else 0)
            score = min(63.0, max(0.0, round(true + rng.normal(0, 3.4))))
            if t > 0 and rng.random() < 0.1:
                score = float("nan")
            rows.append((client, t + 1, score, true))
    return pd.DataFrame(rows, columns=["client", "session", "score", "true_score"])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sample = min(n, 20_000)
    t_sim, (scores, truth) = timed(lambda: trajectories(n, N_SESSIONS, **OPTIONS), repeat=3)
    mem_sim = peak_memory(lambda: trajectories(n, N_SESSIONS, **OPTIONS))
    t_floor, _ = timed(lambda: floor(n), repeat=3)
    t_loop_sample, _ = timed(lambda: loop(sample))
    t_loop = t_loop_sample * n / sample
    output_mib = scores.memory_usage(deep=True).sum() / 2**20
    print(
        f"simulate.trajectories: {n:,} clients x {N_SESSIONS} sessions "
        f"({len(scores):,} rows, {len(truth):,} true changes)"
    )
    print(f"  wall time            {t_sim:8.2f} s")
    print(
        f"  peak memory          {mem_sim:8.0f} MiB "
        f"(the returned frame alone: {output_mib:.0f} MiB)"
    )
    print(
        f"  floor (NumPy normal draw + long frame)  {t_floor:8.2f} s  "
        f"-> ratio {t_sim / t_floor:5.2f}x"
    )
    print(
        f"  per-client loop (timed on {sample:,}, scaled)  {t_loop:8.1f} s  -> "
        f"toolkit is {t_loop / t_sim:5.0f}x faster"
    )
    if n == 1_000_000:
        target("trajectories 1,000,000 x 20 (median)", t_sim, 1.2 * 0.92)
        target("loop / toolkit", t_loop / t_sim, 20.0, higher_is_better=True, unit="x")
    finish()


if __name__ == "__main__":
    main()
