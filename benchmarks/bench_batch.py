"""Registry scale: the batch command against the in-memory path, and the in-memory CLI's memory.

A registry of 2,000,000 clients x 20 sessions (10% of sessions missed) is simulated in blocks
and written to parquet. Measured, each in its own process so that peak memory is its own:

- throughput (clients per second) of the in-memory path (read the file, validate,
  ``toolkit.breakthroughs`` and the monitoring flags from one keyed reference sample), the
  peer, and of ``python -m toolkit batch`` with 1 and 2 local workers computing the same
  (cluster start-up, staging, the pooled and reference passes and the parquet outputs
  included);
- the scaling ratio from 1 to 2 workers (target >= 1.7x);
- the peak memory of any batch worker (target <= 2 GiB);
- the peak memory of the in-memory report command on a 5,000,000-row CSV (250,000 clients x
  20 sessions; target <= 1.5 GiB).

Each figure is the median of ``--runs`` (>= 3) runs. ``--quick`` uses 200,000 clients and a
1,000,000-row CSV (the memory targets then apply to the smaller files). The script exits
non-zero when a target is missed.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--quick] [--runs 3] [--clients N]``
(``--cli-only`` measures only the report command, ``--skip-cli`` leaves it out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import finish, target

N_SESSIONS = 20
GIB = 2**30
ROLES = dict(client="client", session="session", score="score", instrument="BDI-II")
N_BOOT = 99


def generate_parquet(path: Path, n_clients: int, *, block: int = 250_000) -> None:
    """Simulated clients written block by block (bounded memory), row groups of 1M rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toolkit.simulate import trajectories

    writer = None
    try:
        for i, start in enumerate(range(0, n_clients, block)):
            n = min(block, n_clients - start)
            scores, _ = trajectories(n, N_SESSIONS, seed=100 + i, missing=0.1, dropout=0.02)
            scores = scores.drop(columns="true_score")
            scores["client"] += start
            table = pa.Table.from_pandas(scores, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=1_000_000)
    finally:
        if writer is not None:
            writer.close()


def generate_csv(path: Path, n_rows: int) -> None:
    from toolkit.simulate import trajectories

    n_clients = n_rows // N_SESSIONS
    with open(path, "w") as handle:
        for i, start in enumerate(range(0, n_clients, 250_000)):
            n = min(250_000, n_clients - start)
            scores, _ = trajectories(n, N_SESSIONS, seed=200 + i, missing=0.1)
            scores = scores.drop(columns="true_score")
            scores["client"] += start
            scores["therapist"] = "t" + (scores["client"] % 500).astype(str)
            scores.to_csv(handle, index=False, header=i == 0)


# Each measurement runs in a fresh interpreter and prints one JSON line.
_IN_MEMORY = """
import json, resource, sys, time, warnings
import toolkit
from toolkit.files import read_scores
toolkit.set_options(progress=False)
warnings.simplefilter("ignore", toolkit.ToolkitWarning)
t = time.perf_counter()
frame = read_scores(sys.argv[1], client="client", session="session", score="score").frame
scores = toolkit.long_scores(frame, client="client", session="session", score="score",
                             instrument="BDI-II")
answer = toolkit.breakthroughs(scores, n_boot=int(sys.argv[2]))
# the monitoring flags as the batch command computes them (one keyed reference sample)
from toolkit.batch._monitoring import FOLDS, REFERENCE, reference_clients
from toolkit.monitoring import expected_response
sample = scores.subset(clients=reference_clients(scores.clients, REFERENCE, 0))
flags = expected_response(sample, folds=FOLDS, seed=0).flag(scores)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "clients": int(scores.n_clients),
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_BATCH = """
import json, sys, time, warnings
import toolkit
from toolkit.batch import run_batch
warnings.simplefilter("ignore", toolkit.ToolkitWarning)
t = time.perf_counter()
run = run_batch(sys.argv[1], sys.argv[2], client="client", session="session", score="score",
                instrument="BDI-II", workers=int(sys.argv[3]), n_boot=int(sys.argv[4]),
                restart=True, progress=False)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "clients": run.facts["clients"],
                  "peak": run.facts["peak_memory_per_worker_max"],
                  "partitions": run.facts["partitions"]}))
"""

_CLI = """
import resource, runpy, sys
try:
    sys.argv = ["toolkit", *sys.argv[2:]]
    runpy.run_module("toolkit", run_name="__main__", alter_sys=True)
finally:
    with open(PEAK, "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
"""


def _run(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"},
    )
    if done.returncode != 0:
        raise SystemExit(f"measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cli_peak(csv: Path, out: Path) -> tuple[float, int]:
    peak_file = out.with_suffix(".peak")
    code = _CLI.replace("PEAK", repr(str(peak_file)))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, "-", str(csv), "--instrument", "BDI-II", "--skip",
         "bayes", "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the report command failed:\n{done.stderr[-3000:]}")
    return seconds, int(peak_file.read_text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="200,000 clients, 1M-row CSV")
    p.add_argument("--clients", type=int, help="clients of the parquet registry")
    p.add_argument("--csv-rows", type=int, help="rows of the CSV for the report command")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--skip-cli", action="store_true", help="leave the report command out")
    p.add_argument(
        "--cli-only", action="store_true", help="measure only the report command's peak memory"
    )
    args = p.parse_args()
    if args.cli_only and args.skip_cli:
        raise SystemExit("--cli-only and --skip-cli exclude each other.")
    runs = max(3, args.runs)
    n_clients = args.clients or (200_000 if args.quick else 2_000_000)
    csv_rows = args.csv_rows or (1_000_000 if args.quick else 5_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.cli_only:
            _report_command(folder, csv_rows, runs)
            finish()
            return
        registry = folder / "registry.parquet"
        t = time.perf_counter()
        generate_parquet(registry, n_clients)
        print(f"registry: {n_clients:,} clients x {N_SESSIONS} sessions "
              f"({registry.stat().st_size / 2**20:.0f} MiB parquet, "
              f"{time.perf_counter() - t:.0f} s to simulate)")  # fmt: skip

        def median(fn: Callable[[], dict]) -> tuple[float, float, dict]:
            done = [fn() for _ in range(runs)]
            return (
                statistics.median(d["clients"] / d["seconds"] for d in done),
                statistics.median(d["peak"] for d in done),
                done[-1],
            )

        memory_rate, memory_peak, _ = median(lambda: _run(_IN_MEMORY, str(registry), str(N_BOOT)))
        print(f"in memory: {memory_rate:,.0f} clients/s, peak {memory_peak / GIB:.2f} GiB")
        rates, peaks = {}, {}
        for workers in (1, 2):
            rates[workers], peaks[workers], last = median(
                lambda: _run(
                    _BATCH, str(registry), str(folder / "out"), str(workers), str(N_BOOT)
                )  # fmt: skip
            )
            print(f"batch, {workers} worker(s): {rates[workers]:,.0f} clients/s "
                  f"({rates[workers] / memory_rate:.2f}x in memory), peak per worker "
                  f"{peaks[workers] / GIB:.2f} GiB, {last['partitions']} partitions")  # fmt: skip
        target("scaling 1 -> 2 workers", rates[2] / rates[1], 1.7, higher_is_better=True, unit="x")
        target("peak memory per worker", max(peaks.values()) / GIB, 2.0, unit="GiB")
        if not args.skip_cli:
            _report_command(folder, csv_rows, runs)
    finish()


def _report_command(folder: Path, csv_rows: int, runs: int) -> None:
    """The report command's wall time and peak memory (medians of ``runs``) on a CSV."""
    csv = folder / "registry.csv"
    generate_csv(csv, csv_rows)
    done = [_cli_peak(csv, folder / f"report{i}") for i in range(runs)]
    seconds = statistics.median(d[0] for d in done)
    peak = statistics.median(d[1] for d in done)
    print(f"report command on a {csv_rows:,}-row CSV ({csv.stat().st_size / 2**20:.0f} MiB): "
          f"{seconds:.0f} s, peak {peak / GIB:.2f} GiB (runs: "
          f"{', '.join(f'{d[1] / GIB:.2f}' for d in done)} GiB)")  # fmt: skip
    target("report command peak memory", peak / GIB, 1.5, unit="GiB")


if __name__ == "__main__":
    main()
