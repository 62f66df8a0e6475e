"""Reliable change speed and memory: 1,000,000 clients x 20 sessions, 10% missing.

Times ``toolkit.reliable_change.reliable_change`` (Jacobson-Truax, cut-off c, first and last
observed session) from validated scores to the per-client table, with its peak memory, and
two peers measured in the same run:
- the floor: a plain NumPy pass over the same validated scores (the matrix, first and last
  observed score per client, the RCI formula and the categories), with no checks and no table;
- a per-client loop (a pandas groupby, one client at a time, the way the R packages work),
  timed on a sample of clients and scaled up.

Run: ``.venv/bin/python benchmarks/bench_reliable_change.py [n_clients]``
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from _common import finish, peak_memory, target, timed

from toolkit.data import long_scores
from toolkit.instruments import get
from toolkit.reliable_change import reliable_change
from toolkit.simulate import trajectories

N_SESSIONS = 20
BDI = get("BDI-II")


def toolkit_run(scores):
    return reliable_change(scores, cutoff="c")


def floor(scores) -> np.ndarray:
    """First/last observed score per client, RCI and category codes, nothing else."""
    m = scores.to_matrix()
    observed = ~np.isnan(m)
    rows = np.arange(m.shape[0])
    first = np.argmax(observed, axis=1)
    last = m.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1)
    ok = last > first
    pre, post = m[rows, first][ok], m[rows, last][ok]
    s_diff = scores.reliable_change.points / 1.959963984540054  # the shared criterion
    rci = (post - pre) / s_diff
    cut = (BDI.clinical_sd * BDI.functional_mean + BDI.functional_sd * BDI.clinical_mean) / (
        BDI.clinical_sd + BDI.functional_sd
    )
    improved, worse = rci < -1.96, rci > 1.96
    codes = np.where(
        improved,
        np.where((pre >= cut) & (post < cut), 0, 1),
        np.where(worse, np.where((pre < cut) & (post >= cut), 4, 3), 2),
    )
    return codes


def loop(data: pd.DataFrame, sd: float) -> pd.DataFrame:
    """One client at a time: first and last observed score, RCI, category (SD given)."""
    s_diff = sd * np.sqrt(2 * (1 - BDI.reliability))
    cut = (BDI.clinical_sd * BDI.functional_mean + BDI.functional_sd * BDI.clinical_mean) / (
        BDI.clinical_sd + BDI.functional_sd
    )
    rows = []
    for client, group in data.groupby("client", sort=True):
        observed = group.dropna(subset=["score"]).sort_values("session")
        if len(observed) < 2:
            continue
        pre, post = observed["score"].iloc[0], observed["score"].iloc[-1]
        rci = (post - pre) / s_diff
        if rci < -1.96:
            category = "recovered" if pre >= cut > post else "reliably improved"
        elif rci > 1.96:
            category = "harmed" if pre < cut <= post else "reliably deteriorated"
        else:
            category = "unchanged"
        rows.append((client, pre, post, rci, category))
    return pd.DataFrame(rows, columns=["client", "pre", "post", "rci", "category"])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sample = min(n, 5_000)
    start = time.perf_counter()
    raw, _ = trajectories(n, N_SESSIONS, instrument="BDI-II", missing=0.1, seed=1)
    raw = raw.drop(columns="true_score")
    t_simulate = time.perf_counter() - start
    t_validate, scores = timed(
        lambda: long_scores(
            raw, client="client", session="session", score="score", instrument="BDI-II"
        )
    )
    t_tool, result = timed(lambda: toolkit_run(scores), repeat=3)
    mem_tool = peak_memory(lambda: toolkit_run(scores))
    t_floor, codes = timed(lambda: floor(scores), repeat=3)
    mem_floor = peak_memory(lambda: floor(scores))
    # Same answer as the floor, category by category.
    assert np.array_equal(result.table["category"].cat.codes.to_numpy(), codes)

    few = raw[raw["client"] <= sample]
    t_loop_sample, looped = timed(lambda: loop(few, result.parameters["sd"]))
    t_loop = t_loop_sample * n / sample
    same = result.table.set_index("client").loc[looped["client"], "category"].astype(str)
    assert (same.to_numpy() == looped["category"].to_numpy()).all()

    print(
        f"reliable change, Jacobson-Truax + cut-off c: {n:,} clients x {N_SESSIONS} sessions, "
        f"10% missing ({len(raw):,} rows)"
    )
    print(
        f"  (simulate {t_simulate:.1f} s, validate long_scores {t_validate:.2f} s; not timed below)"
    )
    print(f"  toolkit reliable_change   {t_tool:7.2f} s   peak {mem_tool:7.0f} MiB")
    print(
        f"  NumPy floor               {t_floor:7.2f} s   peak {mem_floor:7.0f} MiB   "
        f"toolkit / floor = {t_tool / t_floor:.2f}x"
    )
    print(
        f"  per-client groupby loop   {t_loop:7.0f} s   (measured on {sample:,} clients: "
        f"{t_loop_sample:.2f} s, scaled)   loop / toolkit = {t_loop / t_tool:,.0f}x"
    )
    print(
        f"  clients analysed {len(result.table):,}, skipped {len(result.skipped):,}; "
        f"categories: {result.summary().set_index('category')['n'].to_dict()}"
    )
    if n == 1_000_000:
        # 0.15 s before the breakthrough contract; no regression beyond 1.2x.
        target("reliable_change 1,000,000 x 20 (median)", t_tool, 1.2 * 0.15)
        target("loop / toolkit", t_loop / t_tool, 100.0, higher_is_better=True, unit="x")
    finish()


if __name__ == "__main__":
    main()
