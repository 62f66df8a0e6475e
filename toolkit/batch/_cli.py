"""``python -m toolkit batch INPUT --out DIR``: the batch command."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from ..errors import DataError, ToolkitWarning

__all__ = ["main"]

_METHODS = ("reliable_change", "sudden_gains", "changepoint", "monitoring")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m toolkit batch",
        description="Analyse a registry partition by partition (on Dask) and write the "
        "per-client tables as parquet datasets, with a summary.",
    )
    p.add_argument("path", metavar="INPUT", help="a CSV/parquet file, or a folder of them")
    p.add_argument("--out", required=True, help="output folder (re-run to resume)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        help="start a local Dask cluster of N worker processes; 0 runs in this process "
        "(default: one per CPU core)",
    )
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=_METHODS,
        default=list(_METHODS),
        help="methods to run: the breakthrough methods and the not-on-track flags "
        "(default: all four)",
    )
    p.add_argument(
        "--monitoring-reference",
        type=int,
        default=20_000,
        metavar="N",
        help="clients the monitoring flags' expected response is learnt from "
        "(default: 20000; all clients when there are fewer)",
    )
    p.add_argument("--partitions", type=int, help="number of partitions (default: by size)")
    p.add_argument(
        "--partition-rows",
        type=int,
        default=500_000,
        help="input rows per partition when --partitions is not given (default: 500000)",
    )
    p.add_argument("--memory-limit", default="auto", help="memory limit of each local worker")
    p.add_argument("--restart", action="store_true", help="discard an earlier run in --out")
    p.add_argument("--keep-staging", action="store_true", help="keep the staged partitions")
    roles = p.add_argument_group("columns")
    roles.add_argument("--client", default="client", help="client id column (default: client)")
    roles.add_argument("--session", default="session", help="session column (default: session)")
    roles.add_argument("--score", default="score", help="score column (default: score)")
    roles.add_argument("--covariates", metavar="COL[,COL]", help="columns to carry along")
    reading = p.add_argument_group("reading the files")
    reading.add_argument("--sep", help="delimiter of a text file (default: detected)")
    reading.add_argument("--wide", metavar="PATTERN", help="wide files, e.g. 'phq9_{n}'")
    reading.add_argument("--wide-dates", metavar="PATTERN", help="with --wide, e.g. 'date_{n}'")
    reading.add_argument("--session-dates", action="store_true", help="sessions are dates")
    reading.add_argument("--date-format", metavar="FORMAT", help="e.g. '%%d/%%m/%%Y'")
    reading.add_argument("--dayfirst", action="store_true", help="dates are day first")
    reading.add_argument(
        "--exclude-invalid", action="store_true", help="set invalid rows aside (excluded/)"
    )
    analysis = p.add_argument_group("analysis")
    analysis.add_argument("--instrument", help="instrument name, e.g. PHQ-9")
    analysis.add_argument(
        "--better", choices=("lower", "higher"), help="which scores are better (no instrument)"
    )
    analysis.add_argument(
        "--reliable-change",
        metavar="POINTS",
        help="the reliable-change criterion: points, 'instrument' or 'sample'",
    )
    analysis.add_argument(
        "--min-change", metavar="POINTS", type=float, help="criterion 1 of the sudden gains"
    )
    analysis.add_argument("--seed", type=int, default=0, help="seed of the test (default: 0)")
    analysis.add_argument("--n-boot", type=int, default=499, help="replicates of the test")
    analysis.add_argument("--no-test", action="store_true", help="no at-most-one-change test")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the batch command; return the exit status (0 on success, 2 on bad input)."""
    from ..cli import _criterion_option, as_flags
    from ._run import run_batch

    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))

    def say(message: str) -> None:
        if not args.quiet:
            print(f"toolkit: {message}", file=sys.stderr)

    options = {}
    if args.min_change is not None:
        options["sudden_gains"] = {"min_change": args.min_change}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            result = run_batch(
                args.path,
                args.out,
                client=args.client,
                session=args.session,
                score=args.score,
                instrument=args.instrument,
                better=args.better,
                covariates=None
                if args.covariates is None
                else [c.strip() for c in args.covariates.split(",") if c.strip()],
                invalid="exclude" if args.exclude_invalid else "raise",
                reliable_change=_criterion_option(args.reliable_change),
                methods=args.methods,
                monitoring_reference=args.monitoring_reference,
                options=options,
                test=not args.no_test,
                n_boot=args.n_boot,
                seed=args.seed,
                sep=args.sep,
                wide=args.wide,
                wide_dates=args.wide_dates,
                session_dates=args.session_dates,
                date_format=args.date_format,
                dayfirst=True if args.dayfirst else None,
                workers=args.workers,
                scheduler=args.scheduler,
                memory_limit=args.memory_limit,
                partitions=args.partitions,
                partition_rows=args.partition_rows,
                restart=args.restart,
                keep_staging=args.keep_staging,
                progress=not args.quiet,
                announce=say,
            )
    except (DataError, ValueError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"toolkit: error: {as_flags(message)}", file=sys.stderr)
        return 2
    for message in dict.fromkeys([*result.notes, *(str(w.message) for w in caught)]):
        say(f"note: {as_flags(message)}")
    if not args.quiet:
        f = result.facts
        print(
            f"Analysed {f['clients']:,} clients in {f['partitions']} partitions "
            f"({f['partitions_reused']} reused), {f['rows_excluded']:,} rows excluded. "
            f"Output: {result.out}"
        )
    return 0
