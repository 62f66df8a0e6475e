"""Speed of the mean-and-variance change points and of the continuous breakpoint.

100,000 clients x 20 sessions (simulated BDI-II trajectories, whole-point scores):

* ``detect(model="meanvar")`` (exact search, MBIC, the default resolution floor) and
  ``detect(model="meanvar", search="pelt", min_sd=0)`` (R changepoint's PELT and variance
  rule), against ``ruptures``' ``Pelt`` with a custom cost equal to R changepoint's
  ``mbic_meanvar`` (``min_size=2``, ``jump=1``, penalty 4 log n, the same floor), looped over
  a random sample of clients in the same run and scaled up to the cohort. On the sample the
  change points are compared: where they differ, the toolkit's objective is never higher
  (ruptures' pruning, like R's, can discard the optimum with MBIC's log-length term).
* ``breakpoint()`` (exact continuous breakpoint, SE, Davies' test) against a plain per-client
  loop of the same exact solution (NumPy least squares for every session and every gap),
  timed on a sample and scaled; the two agree on psi.

Every time, the peers' included, is the median of 3 runs. Exits non-zero when a target is missed.

Run: ``python benchmarks/bench_changepoint_meanvar.py [--clients 100000] [--sample 1000]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import finish, peak_memory, target, timed

import toolkit
from toolkit.changepoint import breakpoint, detect
from toolkit.simulate import trajectories

LOG_2PI_1 = math.log(2 * math.pi) + 1


def ruptures_loop(y: np.ndarray, var_floor: np.ndarray) -> tuple[list[list[int]], float]:
    """Change positions of every row by ruptures' Pelt with R's meanvar MBIC cost."""
    import ruptures as rpt
    from ruptures.base import BaseCost

    class CostMeanVarMBIC(BaseCost):
        """R changepoint's mbic_meanvar: n (log 2 pi + log s^2 + 1) + log n."""

        model = "meanvar_mbic"
        min_size = 2

        def __init__(self, floor: float) -> None:
            self.floor = floor

        def fit(self, signal: np.ndarray) -> CostMeanVarMBIC:
            self.signal = signal
            self.s1 = np.r_[0.0, np.cumsum(signal)]
            self.s2 = np.r_[0.0, np.cumsum(signal * signal)]
            return self

        def error(self, start: int, end: int) -> float:
            n = end - start
            x = self.s1[end] - self.s1[start]
            var = ((self.s2[end] - self.s2[start]) - x * x / n) / n
            var = var if var > 1e-10 * max(self.s2[end] - self.s2[start], 1e-300) else 1e-11
            return n * (LOG_2PI_1 + math.log(max(var, self.floor))) + math.log(n)

    out = []
    start = time.perf_counter()
    for row, floor in zip(y, var_floor):
        algo = rpt.Pelt(custom_cost=CostMeanVarMBIC(float(floor)), min_size=2, jump=1)
        out.append(algo.fit(row).predict(pen=4 * math.log(len(row)))[:-1])
    return out, time.perf_counter() - start


def objective(y: np.ndarray, bkps: list[int], floor: float) -> float:
    edges = [0, *bkps, len(y)]
    total = 4 * math.log(len(y)) * len(bkps)
    for a, b in zip(edges, edges[1:]):
        v = float(np.var(y[a:b]))
        v = max(v if v > 0 else 1e-11, floor)
        total += (b - a) * (LOG_2PI_1 + math.log(v)) + math.log(b - a)
    return total


def exact_breakpoint_loop(x: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, float]:
    """The exact continuous breakpoint of every row, one client at a time."""
    start = time.perf_counter()
    out = np.empty(len(ys))
    n = len(x)
    for i, y in enumerate(ys):
        best, arg = math.inf, math.nan
        for p in x[1 : n - 1]:
            d = np.column_stack([np.ones(n), x, np.maximum(x - p, 0)])
            r = y - d @ np.linalg.lstsq(d, y, rcond=None)[0]
            if r @ r < best:
                best, arg = float(r @ r), p
        for j in range(2, n - 1):
            bl = np.polyfit(x[:j], y[:j], 1)
            br = np.polyfit(x[j:], y[j:], 1)
            if br[0] != bl[0]:
                p = (br[1] - bl[1]) / (bl[0] - br[0])
                if x[j - 1] < p < x[j]:
                    rss = ((np.polyval(bl, x[:j]) - y[:j]) ** 2).sum() + (
                        (np.polyval(br, x[j:]) - y[j:]) ** 2
                    ).sum()
                    if rss < best:
                        best, arg = float(rss), p
        out[i] = arg
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--sample", type=int, default=1_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", toolkit.errors.ToolkitWarning)

    df, _ = trajectories(args.clients, args.sessions, instrument="BDI-II", seed=1)
    scores = toolkit.long_scores(
        df, client="client", session="session", score="score", instrument="BDI-II", covariates=[]
    )
    print(f"{args.clients:,} clients x {args.sessions} sessions, whole-point BDI-II scores")

    t_mv, res = timed(lambda: detect(scores, model="meanvar", progress=False))
    mem = peak_memory(lambda: detect(scores, model="meanvar", progress=False))
    print(
        f"toolkit detect(model='meanvar'), exact, MBIC: {t_mv:.2f} s wall, {mem:.0f} MiB peak "
        f"traced memory ({res.summary()['n_changes'].iloc[0]:,} changes)"
    )
    t_pelt, res_pelt = timed(
        lambda: detect(scores, model="meanvar", search="pelt", min_sd=0, progress=False)
    )
    print(
        f"toolkit detect(model='meanvar', search='pelt', min_sd=0) (R's rules): {t_pelt:.2f} s "
        f"({res_pelt.summary()['n_changes'].iloc[0]:,} changes: R's zero-variance rule on "
        "whole-point scores)"
    )
    t_mean, _ = timed(lambda: detect(scores, progress=False))
    print(f"(toolkit detect(model='mean') in the same run: {t_mean:.2f} s)")

    rng = np.random.default_rng(0)
    pick = np.sort(
        rng.choice(len(res.clients), size=min(args.sample, len(res.clients)), replace=False)
    )
    clients = res.clients["client"].to_numpy()[pick]
    y = scores.to_wide().loc[clients].to_numpy()  # complete data
    floor = np.full(len(clients), 1.0 / 12.0)  # whole points: the resolution floor
    secs, (theirs, _) = timed(lambda: ruptures_loop(y, floor))  # median of 3 loops
    table = res.table[res.table["client"].isin(set(clients))]
    ours: dict = {c: [] for c in clients}
    for c, s in zip(table["client"], table["session"]):
        ours[c].append(int(s) - 1)
    same = sum(ours[c] == b for c, b in zip(clients, theirs))
    diff = [
        objective(row, ours[c], f) - objective(row, b, f)
        for row, c, b, f in zip(y, clients, theirs, floor)
    ]
    worse = sum(d > 1e-9 for d in diff)
    better = sum(d < -1e-9 for d in diff)
    full = secs / len(clients) * len(res.clients)
    print(
        f"ruptures Pelt (R's meanvar MBIC cost, jump=1) on {len(clients):,} sampled clients: "
        f"{secs / len(clients) * 1e3:.2f} ms per client -> {full:.0f} s for all "
        f"{len(res.clients):,}"
    )
    print(
        f"  same change points on {same}/{len(clients)}; where they differ the toolkit's "
        f"objective is lower on {better}, equal on {len(clients) - same - better - worse} "
        f"(ties) and higher on {worse}"
    )
    print(f"  speed-up, toolkit meanvar vs ruptures loop: {full / t_mv:.0f}x")

    t_bp, bp = timed(lambda: breakpoint(scores, progress=False))
    print(
        f"toolkit breakpoint() (exact psi, SE, CI, Davies' test): {t_bp:.2f} s for "
        f"{len(bp.table):,} clients"
    )
    n_loop = min(200, len(clients))
    sessions = np.asarray(scores.sessions, float)
    secs_bp, (psi_loop, _) = timed(lambda: exact_breakpoint_loop(sessions, y[:n_loop]))
    psi_ours = bp.table.set_index("client").loc[clients[:n_loop], "breakpoint"].to_numpy()
    full_bp = secs_bp / n_loop * len(bp.table)
    agree = int(np.isclose(psi_loop, psi_ours, atol=1e-9).sum())
    print(
        f"per-client loop of the same exact solution on {n_loop} clients: "
        f"{secs_bp / n_loop * 1e3:.1f} ms per client -> {full_bp:.0f} s for all; same psi on "
        f"{agree}/{n_loop}; speed-up {full_bp / t_bp:.0f}x"
    )
    if args.clients == 100_000 and args.sessions == 20:
        target("detect meanvar 100,000 x 20, MBIC (median)", t_mv, 8.0)
        target("speed-up vs the ruptures loop", full / t_mv, 20.0, higher_is_better=True, unit="x")
        target("ruptures never beats the exact objective", float(worse), 0.0, unit="clients")
        target("breakpoint 100,000 x 20 (median)", t_bp, 20.0)
        target(
            "speed-up vs the per-client loop", full_bp / t_bp, 20.0, higher_is_better=True, unit="x"
        )
    finish()


if __name__ == "__main__":
    main()
