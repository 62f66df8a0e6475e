"""The batch run: stage whole clients, pool statistics, analyse each partition, resume.

Three passes over the input, each one task per piece or partition, run in this process or
on a Dask cluster:

1. **stage**: every piece of the input (a file, or row groups of a parquet file) is read in
   blocks and its rows are sent to the partition their client's hash picks
   (:mod:`toolkit.batch._stage`), so no client is ever split;
2. **pool**: every partition is validated and gives its mergeable parts of the pooled
   statistics (:mod:`toolkit.pooled`); merged, they fix the reliable-change criterion and the
   pooled noise SD for every partition, exactly as in memory;
3. **analyse**: every partition runs :func:`toolkit.breakthroughs` with those shared numbers
   (and the monitoring flags, from an expected response fitted once on a keyed reference
   sample gathered after the pool pass; :mod:`toolkit.batch._monitoring`)
   and writes one parquet file per output, each under a temporary name and then renamed,
   and then its completion record. A partition with a completion record is never redone; a
   partition without one is redone whole, so a lost worker or an interrupted run leaves no
   client out and none twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _checks
from .. import criterion as _criterion
from .. import files as _files
from .. import instruments as _instruments
from .. import pooled as _pooled
from .._memory import trim_heap
from .._options import options as _options
from .._options import progress_enabled
from .._version import __version__
from ..data import long_scores
from ..errors import DataError, FileFormatError, OptionError, warn
from ..per_client._table import BLOCKS, DEFAULT_METHODS, METHODS
from . import _monitoring
from ._stage import FILE, Piece, file_of_error, peak_memory, read_partition, split_piece
from ._stage import write_parquet as _write_parquet
from ._summary import BatchResult, write_summary

__all__ = ["run_batch", "OUTPUTS", "PARTITION_ROWS"]

#: Rows of input per partition when the number of partitions is not given.
PARTITION_ROWS = 500_000
#: The parquet datasets a run writes besides the methods' own tables.
OUTPUTS = ("breakthroughs", "skipped", "excluded")
#: Environment variable of the fault-injection hook the test suite uses (a folder): a worker
#: that finds ``arm`` in it removes that file and ends its process mid-partition.
FAULT_ENV = "TOOLKIT_BATCH_FAULT"
_RUN_FILE = "_batch.json"
#: The first passes' facts (rows read, pooled statistics): a resumed run reuses them.
_POOLED_FILE = "_pooled.json"
_BATCH_METHODS = (*(m for m in METHODS if m != "bayes"), "monitoring")
#: What a batch run computes by default: the breakthrough methods and the monitoring flags.
BATCH_METHODS_DEFAULT = (*DEFAULT_METHODS, "monitoring")


# --- input --------------------------------------------------------------------------------
def input_files(path: str | Path) -> list[Path]:
    """The files of INPUT: the file itself, or a folder's score files in name order."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in _files.SUFFIXES)
        if not found:
            raise FileFormatError(
                f"{path} holds no score files ({', '.join(_files.SUFFIXES)}). Fix: give a "
                "file, or a folder of CSV or parquet files."
            )
        return found
    if not path.exists():
        raise FileFormatError(f"{path}: no such file. Fix: check the path and its spelling.")
    return [path]


def _pieces(paths: list[Path], piece_rows: int) -> tuple[list[Piece], int]:
    """Pieces of the first pass, and an estimate of the rows of input."""
    import pyarrow.parquet as pq

    pieces: list[Piece] = []
    rows = 0
    for f, path in enumerate(paths):
        if path.suffix.lower() == ".parquet":
            try:
                meta = pq.ParquetFile(path).metadata
            except Exception:  # a damaged file: the reader names it when the piece runs
                pieces.append(Piece(len(pieces), f, str(path), None))
                continue
            group: list[int] = []
            group_rows = 0
            for g in range(meta.num_row_groups):
                group.append(g)
                group_rows += meta.row_group(g).num_rows
                if group_rows >= piece_rows:
                    pieces.append(Piece(len(pieces), f, str(path), tuple(group)))
                    group, group_rows = [], 0
            if group or meta.num_row_groups == 0:
                pieces.append(Piece(len(pieces), f, str(path), tuple(group) or None))
            rows += meta.num_rows
        else:
            pieces.append(Piece(len(pieces), f, str(path), None))
            rows += _estimate_rows(path)
    return pieces, rows


def _estimate_rows(path: Path) -> int:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    lines = max(head.count(b"\n"), 1)
    return max(1, int(size / (len(head) / lines)))


def _fingerprint(paths: list[Path], options: dict[str, Any]) -> str:
    facts = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]
    text = json.dumps({"files": facts, "options": options, "version": __version__},
                      sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- where tasks run ----------------------------------------------------------------------
class _Runner:
    """Runs tasks in this process, or on a Dask cluster (one that it starts, or a given one)."""

    def __init__(self, workers: int | None, scheduler: str | None, memory_limit: Any) -> None:
        self.client: Any = None
        self.cluster: Any = None
        if scheduler is not None or (workers is not None and workers > 0):
            try:
                from distributed import Client, LocalCluster
            except ImportError:  # pragma: no cover - depends on the installed extras
                raise OptionError(
                    "--workers and --scheduler need Dask's distributed scheduler. Fix: "
                    'pip install "therapy-breakthroughs[dask]", or run with --workers 0.'
                ) from None
            if scheduler is not None:
                self.client = Client(scheduler)
            else:
                import dask

                # Dask's default environment for worker processes trims the heap on every
                # free, which also maps every large array afresh (zeroed pages): numerical
                # work ran twice as slowly as in one process. The tasks trim once at their
                # end instead (toolkit._memory.trim_heap), which bounds memory as well.
                with dask.config.set(
                    {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
                ):
                    self.cluster = LocalCluster(
                        n_workers=int(workers or 1),
                        threads_per_worker=1,
                        processes=True,
                        memory_limit=memory_limit,
                        dashboard_address=None,
                    )
                self.client = Client(self.cluster)
        self.name = (
            "this process"
            if self.client is None
            else f"{len(self.client.scheduler_info().get('workers', {}))} Dask worker(s)"
        )

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        spec: dict[str, Any],
        *,
        key: str,
        desc: str,
        progress: bool,
        on_done: Callable[[Any, Any], None],
    ) -> None:
        """``fn(item, spec)`` for every item; ``on_done(item, result)`` here as each ends."""
        bar = None
        if progress and items:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), desc=desc, unit="partition" if "part" in key else "piece")
        try:
            if self.client is None:
                for item in items:
                    on_done(item, _task(fn, item, spec))
                    if bar is not None:
                        bar.update()
                return
            from distributed import as_completed

            token = uuid.uuid4().hex[:8]  # a run's own task names, even on a shared scheduler

            futures = {
                self.client.submit(
                    _task, fn, item, spec, key=f"{key}-{token}-{i}", pure=False
                ): item
                for i, item in enumerate(items)
            }
            try:
                for future in as_completed(futures):
                    on_done(futures[future], future.result())
                    if bar is not None:
                        bar.update()
            finally:
                for future in futures:
                    future.cancel()
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# --- the tasks ----------------------------------------------------------------------------
def _task(fn: Callable[[Any, dict[str, Any]], Any], item: Any, spec: dict[str, Any]) -> Any:
    """One task; the memory it freed goes back to the system before the next one."""
    try:
        return fn(item, spec)
    finally:
        trim_heap()


def _validate(frame: pd.DataFrame, spec: dict[str, Any], criterion: Any, pooled: Any) -> Any:
    roles = spec["roles"]
    data = frame.drop(columns=[FILE]) if FILE in frame.columns else frame
    return long_scores(
        data,
        **roles,
        covariates=spec.get("covariates"),
        invalid=spec["invalid"],
        reliable_change=criterion,
        pooled=pooled,
    )


def _validated(partition: int, spec: dict[str, Any], criterion: Any, pooled: Any) -> Any:
    frame = read_partition(partition, spec)
    if len(frame) == 0:
        return frame, None
    try:
        return frame, _validate(frame, spec, criterion, pooled)
    except DataError as error:
        where = file_of_error(frame, spec["files"], lambda f: _validate(f, spec, criterion, pooled))
        raise _with_file(error, where) from None


def _with_file(error: DataError, where: str) -> DataError:
    message = f"{where}: {error}"
    try:
        return type(error)(message)
    except Exception:  # an error class with its own arguments
        return DataError(message)


def pool_partition(partition: int, spec: dict[str, Any]) -> dict[str, Any]:
    """Second pass: the partition's mergeable parts of the pooled statistics."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the analysis pass reports the warnings
        _, scores = _validated(partition, spec, 1.0, None)  # the criterion is not used here
    parts = None if scores is None else _pooled.parts(scores.to_matrix())
    keys: list[float] = []
    if scores is not None and "monitoring" in spec["methods"]:
        keys = _monitoring.smallest_keys(scores.clients, spec["monitoring_reference"], spec["seed"])
    return {"parts": parts, "reference_keys": keys, "peak_memory": peak_memory()}


def reference_partition(partition: int, spec: dict[str, Any]) -> dict[str, Any]:
    """The monitoring reference pass: the validated rows of the partition's sample clients."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the analysis pass reports the warnings
        _, scores = _validated(partition, spec, spec["criterion"], spec["pooled"])
    rows = None
    if scores is not None:
        keep = _monitoring.reference_keys(scores.clients, spec["seed"]) <= spec["threshold"]
        if keep.any():
            rows = scores.subset(clients=scores.clients[keep]).data
    return {"rows": rows, "peak_memory": peak_memory()}


def _fault(stage: str) -> None:
    folder = os.environ.get(FAULT_ENV)
    if not folder:
        return
    arm = Path(folder) / f"arm-{stage}"
    try:
        os.replace(arm, Path(folder) / f"fired-{stage}")
    except OSError:
        return
    os._exit(1)


def analyse_partition(partition: int, spec: dict[str, Any]) -> dict[str, Any]:
    """Third pass: the partition's outputs, written atomically, then its completion record."""
    out = Path(spec["out"])
    name = f"part-{partition:05d}.parquet"
    with warnings.catch_warnings(record=True) as caught, _options(progress=False):
        warnings.simplefilter("always")
        frame, scores = _validated(partition, spec, spec["criterion"], spec["pooled"])
        record: dict[str, Any] = {"partition": partition, "rows": int(len(frame))}
        counts: dict[str, list[int]] = {}
        if scores is not None:
            from ..per_client import breakthroughs

            answer = breakthroughs(
                scores,
                methods=[m for m in spec["methods"] if m != "monitoring"],
                options=spec["options"],
                test=spec["test"],
                n_boot=spec["n_boot"],
                seed=spec["seed"],
            )
            tables: dict[str, pd.DataFrame] = {"breakthroughs": answer.table}
            skipped = []
            for method, result in answer.results.items():
                tables[method] = result.table
                if len(result.skipped):
                    skipped.append(result.skipped.assign(method=method))
                flag = answer.table[BLOCKS[method][0]]
                counts[method] = [
                    int(flag.notna().sum()),
                    int(flag.fillna(False).astype(bool).sum()),
                ]
            tables["skipped"] = (
                pd.concat(skipped, ignore_index=True)
                if skipped
                else pd.DataFrame({"client": frame.iloc[:0, 0], "reason": [], "method": []})
            )
            tables["excluded"] = _excluded(scores.excluded, frame, spec)
            if "monitoring" in spec["methods"]:
                flags = _monitoring.load_expected(spec["monitoring_model"]).flag(scores)
                tables["monitoring"] = flags.table
                tables["monitoring_clients"] = flags.clients
                flagged = flags.clients["flagged"]
                counts["monitoring"] = [
                    int(flagged.notna().sum()),
                    int(flagged.fillna(False).astype(bool).sum()),
                ]
            for i, (output, table) in enumerate(tables.items()):
                _write_parquet(table, out / output / name)
                if i == 0:
                    _fault("analyse")
            record.update(
                clients=int(scores.n_clients),
                rows_validated=int(len(scores.data)),
                excluded=int(len(scores.excluded)),
            )
        else:
            record.update(clients=0, rows_validated=0, excluded=0)
    record["counts"] = counts
    record["warnings"] = sorted({str(w.message) for w in caught if _is_toolkit(w)})
    record["peak_memory"] = peak_memory()
    record["pid"] = os.getpid()
    _write_json(record, out / "_done" / f"part-{partition:05d}.json")
    return record


def _is_toolkit(w: warnings.WarningMessage) -> bool:
    from ..errors import ToolkitWarning

    return issubclass(w.category, ToolkitWarning)


def _excluded(excluded: pd.DataFrame, frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """The partition's excluded rows, with the file each came from."""
    table = excluded.copy()
    files = spec["files"]
    if len(table) == 0:
        return table.assign(file=pd.Series([], dtype=object))
    # A row label names a row of its own file: with several files, the client tells them apart.
    ids = frame[spec["client"]].astype(str).to_numpy()
    by_row_and_client = pd.Series(
        frame[FILE].to_numpy(), index=pd.MultiIndex.from_arrays([frame.index, ids])
    )
    by_row_and_client = by_row_and_client[~by_row_and_client.index.duplicated()]
    by_row = pd.Series(frame[FILE].to_numpy(), index=frame.index)
    by_row = by_row[~by_row.index.duplicated()]
    wanted = pd.MultiIndex.from_arrays(
        [table["row"].to_numpy(), table["client"].astype(str).to_numpy()]
    )
    numbers = by_row_and_client.reindex(wanted).to_numpy(dtype=float)
    fallback = by_row.reindex(table["row"].to_numpy()).to_numpy(dtype=float)
    numbers = np.where(np.isnan(numbers), fallback, numbers)
    table["file"] = [files[int(n)] if n == n else None for n in numbers]
    return table


def _write_json(record: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record, default=_plain, sort_keys=True))
    os.replace(temporary, path)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# --- the run ------------------------------------------------------------------------------
def _reference_pass(
    runner: _Runner,
    spec: dict[str, Any],
    state: dict[str, Any],
    out: Path,
    fingerprint: str,
    progress: bool,
    peaks: dict[str, int],
) -> Path:
    """Gather the monitoring reference sample and fit its expected response (once)."""
    path = out / _monitoring.FILE
    if path.exists():
        return path
    spec = {**spec, "threshold": state["reference_threshold"]}
    rows: list[pd.DataFrame] = []

    def gathered(partition: int, info: dict[str, Any]) -> None:
        peaks[f"reference {partition}"] = info["peak_memory"]
        if info["rows"] is not None:
            rows.append(info["rows"])

    runner.map(reference_partition, list(range(spec["n_partitions"])), spec,
               key=f"reference-{fingerprint}", desc="reference", progress=progress,
               on_done=gathered)  # fmt: skip
    if not rows:
        raise DataError(
            "No client to learn the monitoring flags' expected response from. Fix: leave "
            "monitoring out of --methods."
        )
    roles = spec["roles"]
    reference = long_scores(
        pd.concat(rows, ignore_index=True),
        client="client",
        session="session",
        score="score",
        instrument=roles["instrument"],
        better=roles["better"],
        reliable_change=spec["criterion"],
        pooled=spec["pooled"],
    )
    try:
        return _monitoring.fit_expected(reference, out, int(spec["seed"]))
    except ValueError as error:
        raise type(error)(
            f"Monitoring flags: {error} (Batch fix: leave monitoring out of --methods, or "
            "raise --monitoring-reference.)"
        ) from None


def run_batch(
    path: str | Path,
    out: str | Path,
    *,
    client: str = "client",
    session: str = "session",
    score: str = "score",
    instrument: str | None = None,
    better: str | None = None,
    covariates: Sequence[str] | None = None,
    invalid: str = "raise",
    reliable_change: float | str | None = None,
    sequence: str = "sessions",
    methods: Sequence[str] = BATCH_METHODS_DEFAULT,
    options: dict[str, dict[str, Any]] | None = None,
    monitoring_reference: int = _monitoring.REFERENCE,
    test: bool = True,
    n_boot: int = 499,
    seed: int = 0,
    sep: str | None = None,
    wide: str | None = None,
    wide_dates: str | None = None,
    session_dates: bool = False,
    date_format: str | None = None,
    dayfirst: bool | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_limit: Any = "auto",
    partitions: int | None = None,
    partition_rows: int = PARTITION_ROWS,
    restart: bool = False,
    keep_staging: bool = False,
    progress: bool | None = None,
    on_partition: Callable[[dict[str, Any]], None] | None = None,
    announce: Callable[[str], None] | None = None,
) -> BatchResult:
    """Analyse a registry partition by partition and write the tables as parquet datasets.

    Parameters
    ----------
    path : str or Path
        A CSV/TSV/parquet/SPSS/Stata file, or a folder of them (read in name order).
    out : str or Path
        The output folder: ``breakthroughs/``, one folder per method (``reliable_change/``,
        ``sudden_gains/``, ``changepoint/``, ``monitoring/`` with ``monitoring_clients/``),
        ``skipped/`` and ``excluded/``, each a parquet
        dataset of ``part-NNNNN.parquet`` files, plus ``summary.json`` and ``summary.html``.
    client, session, score, instrument, better, covariates, invalid, reliable_change, sequence
        As for :func:`toolkit.long_scores`.
    methods, options, test, n_boot, seed
        As for :func:`toolkit.breakthroughs` (the Bayesian model is not run in batch), and
        ``"monitoring"``: not-on-track flags per client and session (``monitoring/``,
        ``monitoring_clients/``) from one cross-fitted expected response learnt from a
        reference sample of the registry (see :mod:`toolkit.batch._monitoring`).
    monitoring_reference : int, default 20000
        Clients in that reference sample (the whole registry when it has fewer).
    sep, wide, wide_dates, session_dates, date_format, dayfirst
        How to read the files, as for the report command (:func:`toolkit.files.read_scores`).
    workers : int, optional
        Start a local Dask cluster of this many worker processes; 0 runs every task in this
        process. Default: one worker per CPU core.
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. one started by dask-jobqueue).
    memory_limit : str or int, default "auto"
        Memory limit of each local worker, as Dask takes it.
    partitions : int, optional
        Number of partitions (default: about ``partition_rows`` input rows each). The results
        do not depend on it; a worker's memory does.
    partition_rows : int
        Input rows per partition, when ``partitions`` is not given.
    restart : bool, default False
        Delete what an earlier run left in ``out`` and start again. Without it, a run with
        the same input and options goes on from where the earlier one stopped.
    keep_staging : bool, default False
        Keep the staged partitions (``out/_staging``) after a complete run.
    progress : bool, optional
        Show a progress bar over partitions (default: the global option).
    on_partition : callable, optional
        Called here with each partition's completion record as it arrives.
    announce : callable, optional
        Receives short messages (what is reused, which criterion was found).

    Returns
    -------
    BatchResult
        The summary, and ``read(name)`` for each output table.

    Raises
    ------
    DataError
        Bad input: the message is the one :func:`toolkit.long_scores` gives in memory,
        preceded by the file (the row is its row in that file). Nothing of that partition
        is recorded as complete.
    OptionError
        ``out`` holds an earlier run with other input or options (pass ``restart=True``).
    """
    started = time.perf_counter()
    say = announce or (lambda message: None)
    progress = progress_enabled(progress)
    out = Path(out)
    paths = input_files(path)
    methods = list(methods)
    for m in methods:
        if m not in _BATCH_METHODS:
            raise OptionError(
                f"The 'methods' parameter of the batch command must name methods in "
                f"{list(_BATCH_METHODS)}. Got {m!r} instead."
            )
    if not [m for m in methods if m != "monitoring"]:
        raise OptionError(
            "The batch command needs at least one breakthrough method beside monitoring. "
            f"Fix: add one of {list(_BATCH_METHODS[:-1])} to --methods."
        )
    monitoring_reference = _checks.whole(
        monitoring_reference, "monitoring_reference", "run_batch", low=10
    )
    if invalid not in ("raise", "exclude"):
        raise OptionError(f"invalid must be 'raise' or 'exclude'. Got {invalid!r} instead.")
    roles = dict(client=client, session=session, score=score, instrument=instrument,
                 better=better, sequence=sequence)  # fmt: skip
    if session_dates and wide is None:
        date_column: str | None = session
    elif wide_dates is not None:
        date_column = "session_date"
    else:
        date_column = None
    pieces, estimate = _pieces(paths, partition_rows)
    n_partitions = int(partitions or max(1, math.ceil(estimate / partition_rows)))
    if n_partitions < 1:
        raise OptionError(f"partitions must be at least 1. Got {partitions!r} instead.")
    reading = dict(sep=sep, wide=wide, wide_dates=wide_dates, date_column=date_column,
                   date_format=date_format, dayfirst=dayfirst)  # fmt: skip
    analysis = dict(roles=roles, covariates=list(covariates) if covariates is not None else None,
                    invalid=invalid, reliable_change=reliable_change, methods=methods,
                    options=options or {}, test=test, n_boot=n_boot, seed=seed,
                    monitoring_reference=monitoring_reference)  # fmt: skip
    fingerprint = _fingerprint(paths, {**reading, **analysis, "partitions": n_partitions})
    run_file = out / _RUN_FILE
    if restart and out.exists():
        for child in [*(out / o for o in (*OUTPUTS, *_BATCH_METHODS, "monitoring_clients")),
                      out / "_done", out / "_staging", out / _monitoring.FILE,
                      out / _POOLED_FILE, run_file]:  # fmt: skip
            if child.is_dir():
                shutil.rmtree(child)
            elif child.exists():
                child.unlink()
    if run_file.exists():
        before = json.loads(run_file.read_text())
        if before.get("fingerprint") != fingerprint:
            raise OptionError(
                f"{out} holds a batch run with other input or options. Fix: give another "
                "--out folder, or pass --restart to start this one again."
            )
    else:
        _write_json({"fingerprint": fingerprint, "partitions": n_partitions}, run_file)
    staging = out / "_staging"
    spec: dict[str, Any] = {
        **reading,
        **analysis,
        "client": client,
        "session": session,
        "score": score,
        "n_partitions": n_partitions,
        "staging": str(staging),
        "out": str(out),
        "files": [str(p) for p in paths],
    }
    done_dir = out / "_done"
    done = (
        {int(p.stem.split("-")[1]) for p in done_dir.glob("part-*.json")}
        if done_dir.exists()
        else set()
    )
    runner = _Runner(workers if workers is not None or scheduler is not None else os.cpu_count(),
                     scheduler, memory_limit)  # fmt: skip
    peaks: dict[str, int] = {}
    try:
        # 1. stage whole clients (skipped when every partition is already complete)
        staged: dict[int, dict[str, Any]] = {}
        marks = staging / "_pieces"
        todo_parts = [p for p in range(n_partitions) if p not in done]
        if todo_parts:
            for piece in pieces:
                mark = marks / f"piece-{piece.number:06d}.json"
                if mark.exists():
                    staged[piece.number] = json.loads(mark.read_text())
            missing = [p for p in pieces if p.number not in staged]
            if len(staged):
                say(f"resuming: {len(staged)} of {len(pieces)} input piece(s) already staged")

            def staged_one(piece: Piece, info: dict[str, Any]) -> None:
                staged[piece.number] = info
                peaks[f"stage {piece.number}"] = info["peak_memory"]
                _write_json(info, marks / f"piece-{piece.number:06d}.json")

            runner.map(split_piece, missing, spec, key=f"stage-{fingerprint}", desc="stage",
                       progress=progress, on_done=staged_one)  # fmt: skip
        state_file = out / _POOLED_FILE
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        if state is None:
            infos = [staged[p.number] for p in pieces]
            state = {
                "rows": int(sum(i["rows"] for i in infos)),
                "whole_ids": bool(all(i["whole_ids"] and i["text_ids"] for i in infos)),
                "notes": sorted({n for i in infos for n in i["notes"]}),
            }
            if date_column is not None:
                evidence = _files.DateEvidence()
                for i in infos:
                    evidence = evidence.merge(
                        _files.DateEvidence(*[tuple(e) if e else None for e in i["dates"]])
                    )
                notes: list[str] = []
                state["date_format"], state["dayfirst"] = _files.date_order(
                    evidence, column=date_column, date_format=date_format,
                    dayfirst=dayfirst, notes=notes,
                )  # fmt: skip
                state["notes"] += notes
        spec.update(whole_ids=state["whole_ids"], date_format=state.get("date_format"),
                    dayfirst=state.get("dayfirst", dayfirst))  # fmt: skip
        # 2. pooled statistics over every partition
        if "pooled" not in state:
            parts: list[Any] = []
            keys: list[float] = []

            def pooled_one(partition: int, info: dict[str, Any]) -> None:
                peaks[f"pool {partition}"] = info["peak_memory"]
                if info["parts"] is not None:
                    parts.append(info["parts"])
                keys.extend(info["reference_keys"])

            runner.map(pool_partition, list(range(n_partitions)), spec,
                       key=f"pool-{fingerprint}", desc="pool", progress=progress,
                       on_done=pooled_one)  # fmt: skip
            shared = _pooled.combine(parts)
            state["pooled"] = {k: getattr(shared, k) for k in shared.__dataclass_fields__}
            state["reference_threshold"] = _monitoring.threshold(keys, monitoring_reference)
            _write_json(state, state_file)
        shared = _pooled.PooledStatistics(**state["pooled"])
        inst = _instruments.get(instrument) if instrument is not None else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = _criterion.resolve(
                reliable_change, inst, sample=lambda: (shared.first_score_sd, shared.n_first)
            )
        criterion_notes = [str(w.message) for w in caught]
        spec.update(criterion=found, pooled=shared)
        if "monitoring" in methods and [p for p in range(n_partitions) if p not in done]:
            spec["monitoring_model"] = str(
                _reference_pass(runner, spec, state, out, fingerprint, progress, peaks)
            )
        # 3. analyse every partition not yet complete
        todo = [p for p in range(n_partitions) if p not in done]
        if done:
            say(f"resuming: {len(done)} of {n_partitions} partition(s) already complete")

        def analysed(partition: int, record: dict[str, Any]) -> None:
            peaks[f"analyse {partition}"] = record["peak_memory"]
            if on_partition is not None:
                on_partition(record)

        runner.map(analyse_partition, todo, spec, key=f"analyse-{fingerprint}",
                   desc="partitions", progress=progress, on_done=analysed)  # fmt: skip
        where = runner.name
    finally:
        runner.close()
    records = [json.loads(p.read_text()) for p in sorted(done_dir.glob("part-*.json"))]
    # The warnings the partitions raised, each once, as the in-memory run raises them.
    for message in sorted({w for r in records for w in r.get("warnings", [])}):
        warn(message)
    if not keep_staging and len(records) == n_partitions and staging.exists():
        shutil.rmtree(staging)
    return write_summary(
        out,
        records=records,
        facts={
            "toolkit_version": __version__,
            "input": [str(p) for p in paths],
            "rows_read": state["rows"],
            "partitions": n_partitions,
            "partitions_computed": len(todo),
            "partitions_reused": len(done),
            "ran_on": where,
            "seconds": time.perf_counter() - started,
            "peak_memory_per_task_max": max(peaks.values()) if peaks else None,
            **found.settings(),
            **shared.settings(),
            "noise_sd_method": shared.noise_sd_method,
            "methods": methods,
            "options": options or {},
            "seed": seed,
            "test": test,
            "n_boot": n_boot,
            "invalid": invalid,
            **{k: v for k, v in roles.items()},
        },
        notes=[*state.get("notes", []), *criterion_notes],
        methods=methods,
    )
