"""Sudden gains at registry scale: 1,000,000 clients x 20 sessions, 10% missing.

Times the whole path a user runs, from a long DataFrame with shuffled rows to the by-gain
table (validation included, all three criteria), and in the same run the floor for this
work: a plain NumPy pass that only puts the long rows into the (clients x sessions) matrix
and evaluates the three criteria, with no validation, no missing-data bookkeeping and no
output table. Peak memory is measured separately.

Run: ``.venv/bin/python benchmarks/bench_sudden_gains.py [n_clients]``
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from _common import peak_memory, timed
from toolkit.simulate import trajectories
from toolkit.sudden_gains import identify

N_SESSIONS = 20
CUTOFF = 7.0


def floor(df: pd.DataFrame) -> int:
    """Long rows -> matrix -> the three criteria on complete windows only (no adjustment)."""
    client = df["client"].to_numpy()
    session = df["session"].to_numpy()
    n = client.max()
    x = np.full((n, N_SESSIONS), np.nan)
    x[client - 1, session - 1] = df["score"].to_numpy()
    x_n, x_np1 = x[:, 2:-3], x[:, 3:-2]
    drop = x_n - x_np1
    pre = np.stack([x[:, 0:-5], x[:, 1:-4], x[:, 2:-3]])
    post = np.stack([x[:, 3:-2], x[:, 4:-1], x[:, 5:]])
    sp = np.sqrt((2 * pre.var(axis=0, ddof=1) + 2 * post.var(axis=0, ddof=1)) / 4)
    gain = (drop >= CUTOFF) & (drop >= 0.25 * x_n) & (pre.mean(0) - post.mean(0) > 2.776 * sp)
    return int(gain.sum())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    scores, _ = trajectories(n, N_SESSIONS, seed=7, gain_share=0.3, missing=0.1)
    long = scores.drop(columns="true_score").sample(frac=1, random_state=1, ignore_index=True)

    def toolkit_path():
        return identify(long, client="client", session="session", score="score",
                        instrument="BDI-II", cutoff=CUTOFF).table

    t_toolkit, table = timed(toolkit_path, repeat=2)
    t_floor, n_floor = timed(lambda: floor(long), repeat=2)
    memory = peak_memory(toolkit_path)
    print(f"sudden_gains.identify: {n:,} clients x {N_SESSIONS} sessions, 10% missing, "
          f"rows shuffled ({len(long):,} rows)")
    print(f"  long frame -> by-gain table  {t_toolkit:7.2f} s   ({len(table):,} gains)")
    print(f"  peak memory                  {memory:7.0f} MiB")
    print(f"  NumPy floor (matrix + 3 criteria, complete windows only)  {t_floor:7.2f} s "
          f"({n_floor:,} gains)")
    print(f"  ratio toolkit / floor        {t_toolkit / t_floor:7.2f}x")


if __name__ == "__main__":
    main()
