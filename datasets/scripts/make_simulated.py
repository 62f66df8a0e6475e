"""Write the simulated benchmark datasets from their fixed seeds.

The recipes (sizes, seeds, shares of gains, losses, reversals and missing sessions) live in
:mod:`toolkit.datasets`, so that this script, :func:`toolkit.datasets.regenerate` and the
tests use exactly the same settings; the data come from :func:`toolkit.simulate.trajectories`.

* Small sets (``sim_small``, ``sim_losses``) are written as CSV next to this script
  (``<name>.csv`` with the scores and ``<name>_truth.csv`` with the true changes) and are
  committed.
* Large sets (``sim_large``, ``sim_registry``) are written as parquet into ``generated/``
  (git-ignored) on demand.

Running the script twice gives byte-identical files.

Usage
-----
::

    python datasets/scripts/make_simulated.py          # every set (what `make datasets` runs)
    python datasets/scripts/make_simulated.py --small  # only the committed small sets
    python datasets/scripts/make_simulated.py --large  # only the large generated sets
    python datasets/scripts/make_simulated.py --only sim_small --only sim_losses
    python datasets/scripts/make_simulated.py --only sim_small --outdir /tmp/check

Examples
--------
>>> import subprocess, sys  # doctest: +SKIP
>>> subprocess.run([sys.executable, "datasets/scripts/make_simulated.py", "--small"], check=True)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from toolkit import datasets

__all__ = ["write", "write_csv", "write_parquet", "main"]

# The datasets folder: this script lives in its scripts/ subfolder, which is not part of
# the installed package (only the data files beside it are).
HERE = Path(__file__).resolve().parent.parent


def write_csv(df: pd.DataFrame, target: Path) -> None:
    """Write ``df`` as CSV in a fixed, reproducible layout (atomic replace).

    No index, ``\\n`` line endings, empty field for missing values and the shortest text that
    reads back as the same float, so a re-run produces the same bytes.
    """
    _atomic(target, lambda tmp: df.to_csv(tmp, index=False, lineterminator="\n", na_rep=""))


def write_parquet(df: pd.DataFrame, target: Path) -> None:
    """Write ``df`` as parquet without the index (atomic replace)."""
    _atomic(
        target, lambda tmp: df.to_parquet(tmp, index=False, engine="pyarrow", compression="snappy")
    )


def _atomic(target: Path, writer) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write(name: str, outdir: Path | None = None) -> list[Path]:
    """Simulate one dataset from its seed and write its scores and truth files.

    Parameters
    ----------
    name : str
        A simulated dataset name (see ``toolkit.datasets.list()``, kind "simulated").
    outdir : pathlib.Path, optional
        Write here instead of the default place (``datasets/`` for small sets,
        ``datasets/generated/`` for large ones).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    recipe = datasets._SIM_RECIPES[name]
    scores, truth = datasets.regenerate(name)
    if recipe.large:
        folder = outdir if outdir is not None else HERE / "generated"
        files = [folder / f"{name}.parquet", folder / f"{name}_truth.parquet"]
        write_parquet(scores, files[0])
        write_parquet(truth, files[1])
    else:
        folder = outdir if outdir is not None else HERE
        files = [folder / f"{name}.csv", folder / f"{name}_truth.csv"]
        write_csv(scores, files[0])
        write_csv(truth, files[1])
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    all_names = datasets._sim_names()
    parser = argparse.ArgumentParser(
        description="Write the simulated benchmark datasets from their fixed seeds."
    )
    which = parser.add_mutually_exclusive_group()
    small, large = datasets._sim_names(large=False), datasets._sim_names(large=True)
    which.add_argument(
        "--small", action="store_true", help="only the small committed sets: " + ", ".join(small)
    )
    which.add_argument(
        "--large", action="store_true", help="only the large generated sets: " + ", ".join(large)
    )
    which.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=all_names,
        help="only this set (repeatable); one of " + ", ".join(all_names),
    )
    parser.add_argument(
        "--outdir",
        type=Path,
        default=None,
        help="write into this folder instead of the default places",
    )
    args = parser.parse_args(argv)

    if args.only:
        chosen = tuple(dict.fromkeys(args.only))
    elif args.small:
        chosen = datasets._sim_names(large=False)
    elif args.large:
        chosen = datasets._sim_names(large=True)
    else:
        chosen = all_names

    for name in chosen:
        start = time.perf_counter()
        files = write(name, args.outdir)
        took = time.perf_counter() - start
        shown = ", ".join(_shown(f) for f in files)
        print(f"{name}: wrote {shown} in {took:.1f} s", flush=True)
    return 0


def _shown(file: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)


if __name__ == "__main__":
    sys.exit(main())
