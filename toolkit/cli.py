"""Command line: analyse a score file (or a shipped dataset) and write the report folder.

Examples
--------
Analyse the default shipped dataset::

    python -m toolkit --out report

Analyse your own file, long (one row per client and session) or wide (one row per client)::

    python -m toolkit scores.csv --client id --session week --score phq9 --instrument PHQ-9
    python -m toolkit export.sav --client id --wide "phq9_{n}" --wide-dates "date_{n}" \\
        --dayfirst --instrument PHQ-9 --group arm

Every message names the command's flags, and every problem with the input ends with exit
status 2 and one line saying what, where, and the fix.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, datasets
from .data import long_scores
from .errors import DataError, ToolkitWarning
from .files import read_scores

__all__ = ["main", "as_flags"]

DEFAULT_DATASET = "sgdata"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m toolkit",
        description="Validate repeated scores and write a breakthrough-analysis report.",
    )
    p.add_argument(
        "path",
        nargs="?",
        help="score file: .csv/.tsv/.txt (delimiter detected), .parquet, SPSS .sav or Stata "
        f".dta (default: the shipped dataset {DEFAULT_DATASET!r})",
    )
    p.add_argument("--dataset", help="analyse a shipped dataset by name; see --list-datasets")
    p.add_argument("--list-datasets", action="store_true", help="list shipped datasets and exit")
    roles = p.add_argument_group("columns")
    roles.add_argument("--client", default="client", help="client id column (default: client)")
    roles.add_argument("--session", default="session", help="session column (default: session)")
    roles.add_argument("--score", default="score", help="score column (default: score)")
    roles.add_argument(
        "--covariates",
        metavar="COL[,COL]",
        help="columns to carry along (default: every other column)",
    )
    roles.add_argument(
        "--group",
        metavar="COL",
        help="a client-level column (e.g. a treatment arm): counts per group, plots by "
        "group and a group x time growth model",
    )
    reading = p.add_argument_group("reading the file")
    reading.add_argument("--sep", help="delimiter of a text file (default: detected)")
    reading.add_argument(
        "--wide",
        metavar="PATTERN",
        help="the file is wide (one row per client): score columns named by PATTERN with "
        "{n} for the session number, e.g. 'phq9_{n}'",
    )
    reading.add_argument(
        "--wide-dates",
        metavar="PATTERN",
        help="with --wide: the date column of each session, e.g. 'date_{n}'",
    )
    reading.add_argument(
        "--session-dates",
        action="store_true",
        help="the session column holds dates; they become the order 1, 2, ... per client",
    )
    reading.add_argument(
        "--date-format", metavar="FORMAT", help="how dates are written, e.g. '%%d/%%m/%%Y'"
    )
    reading.add_argument(
        "--dayfirst", action="store_true", help="dates such as 03/04/2024 are day first"
    )
    reading.add_argument(
        "--exclude-invalid",
        action="store_true",
        help="set invalid rows aside (listed in the report) instead of stopping",
    )
    analysis = p.add_argument_group("analysis")
    analysis.add_argument(
        "--instrument",
        help="instrument name, e.g. PHQ-9 (checks the score range, gives the direction and "
        "the reliable-change criterion)",
    )
    analysis.add_argument(
        "--better",
        choices=("lower", "higher"),
        help="which scores are better, when there is no --instrument",
    )
    analysis.add_argument(
        "--reliable-change",
        metavar="POINTS",
        help="the reliable-change criterion every section uses: a number of points, "
        "'instrument' or 'sample' (default: the instrument's, else its norms, else none)",
    )
    analysis.add_argument(
        "--min-change",
        metavar="POINTS",
        type=float,
        help="criterion 1 of the sudden gains (default: the reliable-change criterion)",
    )
    analysis.add_argument(
        "--seed", type=int, default=0, help="seed of every random step (default: 0)"
    )
    analysis.add_argument(
        "--skip",
        metavar="SECTION",
        action="append",
        default=[],
        help="leave a report section out (repeatable, or comma-separated); sections: "
        "data, trajectories, breakthroughs, reliable-change, sudden-gains, change-points, "
        "growth, monitoring, bayes",
    )
    analysis.add_argument("--skip-bayes", action="store_true", help="same as --skip bayes")
    p.add_argument("--out", default="report", help="report folder (default: report)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("--version", action="version", version=f"toolkit {__version__}")
    return p


#: Python keyword advice in messages -> the command's flags.
_FLAGS = [
    (r"invalid='exclude'", "--exclude-invalid"),
    (r"reliable_change=<points>", "--reliable-change POINTS"),
    (r"reliable_change=", "--reliable-change "),
    (r"min_change=", "--min-change "),
    (r"The 'monitoring_reference' parameter of run_batch", "--monitoring-reference"),
    (r"instrument=", "--instrument "),
    (r"better='?(lower|higher)'?", r"--better \1"),
    (r"better=", "--better "),
    (r"covariates=\.\.\.", "--covariates COL,..."),
    (r"covariates=", "--covariates "),
    (r"dayfirst=True", "--dayfirst"),
    (r"date_format='([^']*)'", r"--date-format '\1'"),
    (r"date_format", "--date-format"),
    (r"sep='([^']*)'", r"--sep '\1'"),
    (r"sep=\.\.\.", "--sep"),
    (r"pandas\.to_datetime", "--session-dates"),
    (r"\bclient=", "--client "),
    (r"\bsession=", "--session "),
    (r"\bscore=", "--score "),
    (r"toolkit\.long_scores|long_scores\(\.\.\.\)", "the command"),
    (
        r"Fix: make the ids one type without surrounding spaces, e\.g\. df\[[^\]]*\] = .*?"
        r"\.str\.strip\(\)\.",
        "Fix: spell each client's id the same way in the file, with no spaces around it.",
    ),
]


def as_flags(message: str) -> str:
    """A library message with its advice in terms of this command's flags.

    Examples
    --------
    >>> as_flags("Fix: pass invalid='exclude' or reliable_change=<points>.")
    'Fix: pass --exclude-invalid or --reliable-change POINTS.'
    """
    for pattern, flag in _FLAGS:
        message = re.sub(pattern, flag, message)
    return message


def _criterion_option(value: str | None) -> float | str | None:
    if value is None or value in ("instrument", "sample"):
        return value
    try:
        return float(value)
    except ValueError:
        raise DataError(
            f"--reliable-change must be a number of points, 'instrument' or 'sample'; got "
            f"{value!r}."
        ) from None


def _skipped(args: argparse.Namespace) -> list[str]:
    names = [s.strip() for item in args.skip for s in item.split(",") if s.strip()]
    return names + (["bayes"] if args.skip_bayes else [])


def _load(args: argparse.Namespace, notes: list[str]) -> tuple[Any, dict[str, Any], dict]:
    """The long frame, the column roles and the provenance facts of the input."""
    if not args.path:
        name = args.dataset or DEFAULT_DATASET
        return (
            datasets.load(name),
            datasets.roles(name),
            {"input": f"shipped dataset {name!r}"},
        )
    from .report import file_sha256

    path = Path(args.path)
    read = read_scores(
        path,
        sep=args.sep,
        wide=args.wide,
        wide_dates=args.wide_dates,
        client=args.client,
        session=args.session,
        score=args.score,
        date_columns=[args.session] if args.session_dates else [],
        date_format=args.date_format,
        dayfirst=True if args.dayfirst else None,
    )
    notes.extend(read.notes)
    roles = {
        "client": args.client,
        "session": args.session,
        "score": args.score,
        "instrument": args.instrument,
        "better": args.better,
    }
    facts = {
        "input": str(path),
        "input SHA-256": file_sha256(path),
        "input rows read": f"{len(read.frame):,}",
    }
    if read.notes:
        facts["reading"] = "; ".join(read.notes)
    return read.frame, roles, facts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success, 2 on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["batch"]:
        # Registry-scale runs on Dask: `python -m toolkit batch INPUT --out DIR ...`.
        from .batch import main as batch_main

        return batch_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.list_datasets:
        table = datasets.list()[["name", "title", "n_clients", "n_rows", "instrument"]]
        print(table.to_string(index=False))
        return 0

    def say(message: str) -> None:
        if not args.quiet:
            print(f"toolkit: {message}", file=sys.stderr)

    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            df, roles, facts = _load(args, notes)
            covariates = (
                None
                if args.covariates is None
                else [c.strip() for c in args.covariates.split(",") if c.strip()]
            )
            if covariates is not None and args.group and args.group not in covariates:
                covariates.append(args.group)
            scores = long_scores(
                df,
                **roles,
                covariates=covariates,
                invalid="exclude" if args.exclude_invalid else "raise",
                reliable_change=_criterion_option(args.reliable_change),
            )
            del df  # the validated scores hold what the report needs; free the file's frame
            from .report import analyse

            facts = {"command": "python -m toolkit " + shlex.join(argv), **facts}
            report = analyse(
                scores,
                skip=_skipped(args),
                group=args.group,
                seed=args.seed,
                min_change=args.min_change,
                provenance=facts,
                announce=say,
                progress=not args.quiet,
            )
            path = report.write(args.out)
    except (DataError, ValueError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"toolkit: error: {as_flags(message)}", file=sys.stderr)
        return 2
    for message in dict.fromkeys([*notes, *(str(w.message) for w in caught)]):
        say(f"note: {as_flags(message)}")
    if not args.quiet:
        source = facts.get("input", "")
        print(
            f"Analysed {source}: {scores.n_clients} clients, {len(scores.excluded)} rows "
            f"excluded. Report: {path}"
        )
    return 0
