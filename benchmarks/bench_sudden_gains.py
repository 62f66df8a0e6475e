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
import warnings

import numpy as np
import pandas as pd
from _common import finish, peak_memory, target, timed
from scipy import stats

from toolkit.simulate import trajectories
from toolkit.sudden_gains import identify

N_SESSIONS = 20
CUTOFF = 7.0


def floor(df: pd.DataFrame) -> int:
    """The plainest NumPy/pandas pass that does this work and nothing more.

    Long rows -> (clients x sessions) matrix (ids factorised, as any id needs), then the
    three criteria with NaN-aware window statistics and the missing-data critical values;
    no validation, no per-client sequence bounds, no reversal or output table.
    """
    rows, _ = pd.factorize(df["client"], sort=True)
    cols, sessions = pd.factorize(df["session"], sort=True)
    x = np.full((rows.max() + 1, len(sessions)), np.nan)
    x[rows, cols] = df["score"].to_numpy()
    t = x.shape[1]
    n_int = t - 5  # intervals with full windows inside the matrix: N = 2 .. t - 4
    x_n, x_np1 = x[:, 2 : 2 + n_int], x[:, 3 : 3 + n_int]
    drop = x_n - x_np1
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pre = np.stack([x[:, i : i + n_int] for i in (0, 1, 2)])
        post = np.stack([x[:, i : i + n_int] for i in (3, 4, 5)])
        n1, n2 = (~np.isnan(pre)).sum(0), (~np.isnan(post)).sum(0)
        sp = np.sqrt(
            ((n1 - 1) * np.nanvar(pre, 0, ddof=1) + (n2 - 1) * np.nanvar(post, 0, ddof=1))
            / (n1 + n2 - 2)
        )
        critical = stats.t.ppf(0.975, np.arange(7) - 2.0)[n1 + n2]
        gain = (
            (drop >= CUTOFF)
            & (drop >= 0.25 * x_n)
            & (np.nanmean(pre, 0) - np.nanmean(post, 0) > critical * sp)
            & (n1 >= 2)
            & (n2 >= 2)
        )
    return int(gain.sum())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    scores, _ = trajectories(n, N_SESSIONS, seed=7, gain_share=0.3, missing=0.1)
    long = scores.drop(columns="true_score").sample(frac=1, random_state=1, ignore_index=True)

    def toolkit_path():
        return identify(
            long,
            client="client",
            session="session",
            score="score",
            instrument="BDI-II",
            min_change=CUTOFF,
        ).table

    t_toolkit, table = timed(toolkit_path, repeat=3)
    t_floor, n_floor = timed(lambda: floor(long), repeat=3)
    memory = peak_memory(toolkit_path)
    print(
        f"sudden_gains.identify: {n:,} clients x {N_SESSIONS} sessions, 10% missing, "
        f"rows shuffled ({len(long):,} rows)"
    )
    print(f"  long frame -> by-gain table  {t_toolkit:7.2f} s   ({len(table):,} gains)")
    print(f"  peak memory                  {memory:7.0f} MiB")
    print(
        f"  floor (long rows -> matrix -> 3 criteria, nothing else)  {t_floor:7.2f} s "
        f"({n_floor:,} gains)"
    )
    print(f"  ratio toolkit / floor        {t_toolkit / t_floor:7.2f}x")
    if n == 1_000_000:
        # 2.4 s before the breakthrough contract; no regression beyond 1.2x.
        target("identify 1,000,000 x 20 (median)", t_toolkit, 1.2 * 2.4)
        target("toolkit / floor", t_toolkit / t_floor, 1.0, unit="x")
    finish()


if __name__ == "__main__":
    main()
