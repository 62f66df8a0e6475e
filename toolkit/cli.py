"""Command line: analyse a long-format file (or a shipped dataset) and write the report folder.

Examples
--------
Analyse the default shipped dataset::

    python -m toolkit --out report

Analyse your own file::

    python -m toolkit scores.csv --client id --session week --score phq9 --instrument PHQ-9
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import __version__, datasets
from .data import long_scores
from .errors import DataError, ToolkitWarning

__all__ = ["main"]

DEFAULT_DATASET = "sgdata"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="toolkit",
        description="Validate repeated scores and write a breakthrough-analysis report.",
    )
    p.add_argument(
        "path",
        nargs="?",
        help=f"long-format CSV or parquet file (default: a shipped dataset, {DEFAULT_DATASET!r})",
    )
    p.add_argument(
        "--dataset", help="analyse a shipped dataset by name instead of a file; see --list-datasets"
    )
    p.add_argument("--list-datasets", action="store_true", help="list shipped datasets and exit")
    p.add_argument("--client", default="client", help="client id column (default: client)")
    p.add_argument("--session", default="session", help="session column (default: session)")
    p.add_argument("--score", default="score", help="score column (default: score)")
    p.add_argument(
        "--instrument",
        help="instrument name, e.g. PHQ-9 (checks the score range, "
        "gives the direction and the reliable-change criterion)",
    )
    p.add_argument(
        "--better",
        choices=("lower", "higher"),
        help="which scores are better, when there is no --instrument",
    )
    p.add_argument(
        "--reliable-change",
        metavar="POINTS",
        help="the reliable-change criterion every section uses: a number of points, "
        "'instrument' or 'sample' (default: the documented order, see "
        "toolkit.criterion)",
    )
    p.add_argument(
        "--session-dates",
        action="store_true",
        help="the session column holds dates (e.g. 2024-03-01); they become the "
        "order 1, 2, ... within each client",
    )
    p.add_argument(
        "--exclude-invalid",
        action="store_true",
        help="set invalid rows aside (listed in the report) instead of stopping",
    )
    p.add_argument(
        "--skip-bayes",
        action="store_true",
        help="leave out the Bayesian change-point section (the slowest)",
    )
    p.add_argument("--out", default="report", help="report folder (default: report)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("--version", action="version", version=f"toolkit {__version__}")
    return p


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise ValueError(f"{path}: unknown file type {suffix!r}; give a .csv, .tsv or .parquet file")


def _criterion_option(value: str | None) -> float | str | None:
    if value is None or value in ("instrument", "sample"):
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"--reliable-change must be a number of points, 'instrument' or "
            f"'sample'; got {value!r}."
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success)."""
    args = _parser().parse_args(argv)
    if args.list_datasets:
        print(
            datasets.list()[["name", "title", "n_clients", "n_rows", "instrument"]].to_string(
                index=False
            )
        )
        return 0
    try:
        if args.path:
            df = _read(Path(args.path))
            if args.session_dates and args.session in df.columns:
                try:
                    df[args.session] = pd.to_datetime(df[args.session])
                except (ValueError, TypeError) as error:
                    raise ValueError(
                        f"Column {args.session!r} could not be read as dates: {error}"
                    ) from None
            roles = {
                "client": args.client,
                "session": args.session,
                "score": args.score,
                "instrument": args.instrument,
                "better": args.better,
            }
            source = args.path
        else:
            name = args.dataset or DEFAULT_DATASET
            df, roles = datasets.load(name), datasets.roles(name)
            source = f"shipped dataset {name!r}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            scores = long_scores(
                df,
                **roles,
                invalid="exclude" if args.exclude_invalid else "raise",
                reliable_change=_criterion_option(args.reliable_change),
            )
            from .report import analyse

            report = analyse(
                scores, skip=["bayes"] if args.skip_bayes else [], progress=not args.quiet
            )
            path = report.write(args.out)
    except (DataError, ValueError, FileNotFoundError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"toolkit: error: {message}", file=sys.stderr)
        return 2
    for w in caught:
        if not args.quiet:
            print(f"toolkit: warning: {w.message}", file=sys.stderr)
    if not args.quiet:
        print(
            f"Analysed {source}: {scores.n_clients} clients, {len(scores.excluded)} rows "
            f"excluded. Report: {path}"
        )
    return 0
