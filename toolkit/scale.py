"""Registry-scale runs on Dask: one per-client method over a partitioned long table.

The toolkit's per-client methods are vectorised over clients, so a million clients fit in
one process when the data fit in memory. Larger-than-memory registries, or runs spread over
a cluster, go through Dask: :func:`by_client` shuffles the long table so that each partition
holds whole clients, computes the statistics pooled across clients in a first pass over all
partitions (:mod:`toolkit.pooled`), resolves the reliable-change criterion once, and then runs
the method on every partition with Dask's scheduler (threads, processes or a distributed
cluster, as the user has configured). Every client's answer depends only on its own rows
and these shared numbers, and random draws are keyed by (seed, client), so the tables equal
the in-memory run exactly, whatever the partitioning.

For whole files of a registry, with parquet outputs, resumption and a command line, see
:mod:`toolkit.batch` (``python -m toolkit batch``), which runs the same passes on files.

Examples
--------
>>> import dask.dataframe as dd
>>> import toolkit
>>> raw = dd.from_pandas(toolkit.datasets.load("sgdata"), npartitions=3)
>>> run = by_client(raw, "sudden_gains", client="id", session="session", score="bdi",
...                 instrument="BDI-II", min_change=7)
>>> len(run.table.compute())
26
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import criterion as _criterion
from . import instruments as _instruments
from . import pooled as _pooled
from ._results import Result, deprecated_name
from .data import LongScores, long_scores
from .errors import OptionError

__all__ = ["by_client", "first_pass", "ScaledRunResult", "METHODS"]


def _sudden_gains(scores: LongScores, **options: Any) -> Result:
    from .sudden_gains import identify

    return identify(scores, **options)


def _changepoint(scores: LongScores, **options: Any) -> Result:
    from .changepoint import detect

    return detect(scores, progress=False, **options)


def _amoc(scores: LongScores, **options: Any) -> Result:
    from .changepoint import amoc

    return amoc(scores, progress=False, **options)


def _reliable_change(scores: LongScores, **options: Any) -> Result:
    from .reliable_change import reliable_change

    return reliable_change(scores, **options)


#: Methods :func:`by_client` can split by client, by name.
METHODS: dict[str, Callable[..., Result]] = {
    "sudden_gains": _sudden_gains,
    "changepoint": _changepoint,
    "amoc": _amoc,
    "reliable_change": _reliable_change,
}


@dataclass(frozen=True)
class ScaledRunResult:
    """Lazy results of :func:`by_client`: Dask DataFrames of the method's tables.

    Attributes
    ----------
    table : dask.dataframe.DataFrame
        The concatenation of every partition's ``result.table``.
    skipped : dask.dataframe.DataFrame
        Clients not analysed, with the reason (columns ``client``, ``reason``).
    settings : dict
        The shared facts every partition used: the reliable-change keys, the pooled
        statistics, the method and its options.
    """

    table: Any
    skipped: Any
    settings: dict[str, Any]

    def compute(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Run the graph; return (table, skipped) sorted by client."""
        import dask

        table, skipped = dask.compute(self.table, self.skipped)
        return (
            table.sort_values("client", kind="stable", ignore_index=True),
            skipped.sort_values("client", kind="stable", ignore_index=True),
        )


def __getattr__(name: str) -> Any:
    if name == "ScaledRun":
        return deprecated_name("ScaledRun", ScaledRunResult, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def first_pass(whole_clients: Any, roles: dict[str, Any]) -> _pooled.PooledStatistics:
    """The statistics pooled across every partition of whole clients (see :mod:`toolkit.pooled`)."""
    import dask

    def parts(part: pd.DataFrame) -> _pooled.PooledParts | None:
        if len(part) == 0:
            return None
        scores = long_scores(part, **roles, reliable_change=1.0)  # the criterion is not used
        return _pooled.parts(scores.to_matrix())

    pieces = dask.compute(*[dask.delayed(parts)(p) for p in whole_clients.to_delayed()])
    return _pooled.combine([p for p in pieces if p is not None])


def by_client(
    ddf: Any,
    method: str | Callable[..., Result],
    *,
    client: str,
    session: str,
    score: str,
    instrument: str | None = None,
    better: str | None = None,
    reliable_change: float | str | None = None,
    sequence: str = "sessions",
    **options: Any,
) -> ScaledRunResult:
    """Run a per-client method on a Dask DataFrame, partition by partition of whole clients.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Long-format scores (any partitioning; rows of a client may be spread out).
    method : {"sudden_gains", "changepoint", "amoc", "reliable_change"} or callable
        A name from :data:`METHODS`, or ``f(scores: LongScores, **options) -> Result`` whose
        answer for a client depends on that client's rows and the shared facts only.
    client, session, score, instrument, better, reliable_change, sequence
        As for :func:`toolkit.long_scores`.
    **options
        Passed to the method (e.g. ``min_change=7`` for sudden gains).

    Returns
    -------
    ScaledRunResult
        Lazy ``table`` and ``skipped``; call ``.compute()``.

    Notes
    -----
    Each partition is validated separately, so an invalid row raises when that partition
    runs, with the same message as in memory. The first pass (pooled statistics) runs when
    this function is called; the method runs on ``.compute()``. The shuffle on ``client`` is
    Dask's own; the toolkit adds no scheduling of its own.
    """
    import dask
    import dask.dataframe as dd

    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(
            f"by_client takes a dask DataFrame; got {type(ddf).__name__}. "
            "For a pandas DataFrame call the method directly."
        )
    if isinstance(method, str):
        if method not in METHODS:
            raise OptionError(
                f"The 'method' parameter of by_client must be one of "
                f"{sorted(METHODS)} or a callable. Got {method!r} instead."
            )
        method = METHODS[method]
    roles: dict[str, Any] = dict(
        client=client,
        session=session,
        score=score,
        instrument=instrument,
        better=better,
        sequence=sequence,
    )
    for column in (client, session, score):
        if column not in ddf.columns:
            raise ValueError(f"no column {column!r} in the data. Columns are: {list(ddf.columns)}.")
    whole_clients = ddf.shuffle(on=client)
    shared = first_pass(whole_clients, roles)
    inst = _instruments.get(instrument) if instrument is not None else None
    found = _criterion.resolve(
        reliable_change, inst, sample=lambda: (shared.first_score_sd, shared.n_first)
    )
    fn = method

    def run(part: pd.DataFrame) -> Result | None:
        if len(part) == 0:
            return None
        return fn(long_scores(part, **roles, reliable_change=found, pooled=shared), **options)

    # The output layout comes from a tiny partition that the method can analyse.
    head = ddf.head(1000, npartitions=-1)
    first = head[client].iloc[:50].unique() if len(head) else []
    sample = run(head[head[client].isin(first)])
    if sample is None:
        raise ValueError("The data have no rows.")
    meta_table, meta_skipped = sample.table.iloc[:0], sample.skipped.iloc[:0]

    # One task per partition; both tables are read off the same result, so the method runs
    # once per partition whichever of them is computed.
    results = [dask.delayed(run)(part) for part in whole_clients.to_delayed()]
    pick = dask.delayed(
        lambda result, name, meta: meta if result is None else getattr(result, name)
    )
    settings = {**found.settings(), **shared.settings(), "options": dict(options)}
    return ScaledRunResult(
        table=dd.from_delayed(
            [pick(r, "table", meta_table) for r in results], meta=meta_table, verify_meta=False
        ),
        skipped=dd.from_delayed(
            [pick(r, "skipped", meta_skipped) for r in results],
            meta=meta_skipped,
            verify_meta=False,
        ),
        settings=settings,
    )
