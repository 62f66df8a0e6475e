"""Registry-scale runs on Dask: one per-client method over a partitioned long table.

The toolkit's per-client methods are vectorised over clients, so a million clients fit in
one process when the data fit in memory. Larger-than-memory registries, or runs spread over
a cluster, go through Dask: :func:`by_client` shuffles the long table so that each partition
holds whole clients, runs the method on every partition with Dask's scheduler (threads,
processes or a distributed cluster, as the user has configured), and returns the result
tables as lazy Dask DataFrames.

Only methods whose per-client answer does not depend on the other clients can be split this
way. ``sudden_gains`` qualifies (its cut-off comes from the instrument or a number), and so
does ``changepoint`` with a per-client or fixed noise SD; options that pool across clients
(``sigma="pooled"``, a sample-based SD for reliable change) are refused with the reason.

Examples
--------
>>> import dask.dataframe as dd
>>> import toolkit
>>> raw = dd.from_pandas(toolkit.datasets.load("sgdata"), npartitions=3)
>>> run = by_client(raw, "sudden_gains", client="id", session="session", score="bdi",
...                 instrument="BDI-II", cutoff=7)
>>> len(run.table.compute())
26
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ._results import Result
from .data import long_scores

__all__ = ["by_client", "ScaledRun", "METHODS"]


def _sudden_gains(scores, **options):
    from .sudden_gains import identify

    return identify(scores, **options)


def _changepoint(scores, **options):
    from .changepoint import detect

    if options.get("sigma") == "pooled":
        raise ValueError("changepoint with sigma='pooled' estimates one noise SD from all "
                         "clients, so it cannot be split into partitions. Fix: use the "
                         "per-client default (sigma='mad') or a number.")
    return detect(scores, progress=False, **options)


#: Methods :func:`by_client` can split by client, by name.
METHODS: dict[str, Callable[..., Result]] = {
    "sudden_gains": _sudden_gains,
    "changepoint": _changepoint,
}


@dataclass(frozen=True)
class ScaledRun:
    """Lazy results of :func:`by_client`: Dask DataFrames of the method's tables.

    Attributes
    ----------
    table : dask.dataframe.DataFrame
        The concatenation of every partition's ``result.table``.
    skipped : dask.dataframe.DataFrame
        Clients not analysed, with the reason (columns ``client``, ``reason``).
    """

    table: Any
    skipped: Any

    def compute(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Run the graph; return (table, skipped) sorted by client."""
        import dask

        table, skipped = dask.compute(self.table, self.skipped)
        return (table.sort_values("client", kind="stable", ignore_index=True),
                skipped.sort_values("client", kind="stable", ignore_index=True))


def by_client(
    ddf,
    method: str | Callable[..., Result],
    *,
    client: str,
    session: str,
    score: str,
    instrument: str | None = None,
    **options,
) -> ScaledRun:
    """Run a per-client method on a Dask DataFrame, partition by partition of whole clients.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        Long-format scores (any partitioning; rows of a client may be spread out).
    method : {"sudden_gains", "changepoint"} or callable
        A name from :data:`METHODS`, or ``f(scores: LongScores, **options) -> Result`` whose
        answer for a client depends on that client's rows only.
    client, session, score, instrument : str
        Column roles, as for :func:`toolkit.data.long_scores`.
    **options
        Passed to the method (e.g. ``cutoff=7`` for sudden gains).

    Returns
    -------
    ScaledRun
        Lazy ``table`` and ``skipped``; call ``.compute()``.

    Notes
    -----
    Each partition is validated separately, so an invalid row raises when that partition
    runs, with the same message as in memory. The shuffle on ``client`` is Dask's own; the
    toolkit adds no scheduling of its own.
    """
    import dask
    import dask.dataframe as dd

    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"by_client takes a dask DataFrame; got {type(ddf).__name__}. "
                        "For a pandas DataFrame call the method directly.")
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(f"The 'method' parameter of by_client must be one of "
                             f"{sorted(METHODS)} or a callable. Got {method!r} instead.")
        method = METHODS[method]
    roles = dict(client=client, session=session, score=score, instrument=instrument)
    for column in (client, session, score):
        if column not in ddf.columns:
            raise ValueError(f"no column {column!r} in the data. Columns are: "
                             f"{list(ddf.columns)}.")
    whole_clients = ddf.shuffle(on=client)

    def run(part: pd.DataFrame) -> Result | None:
        if len(part) == 0:
            return None
        return method(long_scores(part, **roles), **options)

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
    pick = dask.delayed(lambda result, name, meta: meta if result is None
                        else getattr(result, name))
    return ScaledRun(
        table=dd.from_delayed([pick(r, "table", meta_table) for r in results],
                              meta=meta_table, verify_meta=False),
        skipped=dd.from_delayed([pick(r, "skipped", meta_skipped) for r in results],
                                meta=meta_skipped, verify_meta=False),
    )
