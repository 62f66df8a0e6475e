"""Registry-scale batch runs: parquet in and out, on Dask, resumable, bounded memory.

``python -m toolkit batch INPUT --out DIR`` (or :func:`run_batch`) puts every client's rows
in one partition, computes the statistics pooled over all partitions in a first pass, runs
:func:`toolkit.breakthroughs` on each partition and writes one parquet dataset per table.
Each client's answer depends only on its own rows and the pooled numbers, so the tables
equal the in-memory run exactly, in any partitioning and on any number of workers.

Examples
--------
>>> import tempfile, pathlib, toolkit
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> toolkit.datasets.load("sgdata").to_parquet(folder / "sgdata.parquet")
>>> run = run_batch(folder / "sgdata.parquet", folder / "out", client="id", score="bdi",
...                 instrument="BDI-II", workers=0, partitions=3, n_boot=99, progress=False)
>>> run.facts["clients"], run.facts["partitions"]
(43, 3)
>>> len(run.read("breakthroughs"))
43
>>> import shutil; shutil.rmtree(folder)
"""

from ._cli import main
from ._run import OUTPUTS, PARTITION_ROWS, run_batch
from ._stage import partition_of
from ._summary import SUMMARY_COLUMNS, BatchResult

__all__ = [
    "run_batch",
    "main",
    "BatchResult",
    "partition_of",
    "OUTPUTS",
    "PARTITION_ROWS",
    "SUMMARY_COLUMNS",
]
