"""Not-on-track flags in a batch run: one expected response for the whole registry.

Fitting the expected recovery curve on every client of a registry would need the whole
registry in one process, so it is learnt from a reference sample: the ``reference`` clients
whose keyed uniform ``u(seed, client)`` is smallest. The keys depend only on the seed and
the client id, so the sample, and with it every client's flags, is the same in any
partitioning. The sample is cross-fitted (5 folds, also keyed by client): a reference
client's expected course never uses its own scores; every other client's comes from the
curve fitted on the whole sample. In memory the same answer is::

    sample = scores.subset(clients=reference_clients(scores.clients, reference, seed))
    expected_response(sample, folds=5, seed=seed).flag(scores)

The fitted expected response is written once to ``out/_monitoring.pkl`` and read by every
partition's task (workers share the output folder anyway).
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _random as keyed

__all__ = [
    "REFERENCE",
    "FOLDS",
    "FILE",
    "reference_keys",
    "reference_clients",
    "smallest_keys",
    "fit_expected",
    "load_expected",
]

#: Reference clients the expected curves are learnt from (at most).
REFERENCE = 20_000
#: Cross-fitting folds of the reference sample.
FOLDS = 5
FILE = "_monitoring.pkl"


def reference_keys(clients: pd.Index | np.ndarray, seed: int) -> np.ndarray:
    """Each client's uniform key for the reference sample, from (seed, client) alone."""
    keys = keyed.stream_keys(seed, keyed.client_keys(clients), "batch monitoring reference")
    return keyed.uniform(keys, 1)[:, 0]


def smallest_keys(clients: pd.Index, n: int, seed: int) -> list[float]:
    """The ``n`` smallest reference keys among ``clients`` (a partition's candidates)."""
    u = reference_keys(clients, seed)
    return np.sort(u)[:n].tolist()


def threshold(keys: list[float], n: int) -> float:
    """The largest key of the reference sample: its ``n`` smallest keys over all partitions."""
    if len(keys) < n:  # fewer clients than the sample size: all of them
        return 1.0
    return float(np.partition(np.asarray(keys), n - 1)[n - 1])


def reference_clients(clients: pd.Index, n: int, seed: int) -> pd.Index:
    """The reference sample among ``clients`` (all of them when there are at most ``n``)."""
    u = reference_keys(clients, seed)
    cut = threshold(u.tolist(), n)
    return clients[u <= cut]


def fit_expected(reference: Any, out: Path, seed: int) -> Path:
    """Fit the cross-fitted expected response on the reference scores; write it to ``out``."""
    from ..monitoring import expected_response

    fitted = expected_response(reference, folds=FOLDS, seed=seed)
    path = out / FILE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        pickle.dump(fitted, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)
    return path


@functools.lru_cache(maxsize=2)
def _load(path: str, stamp: float) -> Any:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def load_expected(path: str | Path) -> Any:
    """The fitted expected response (read once per worker process and file version)."""
    return _load(str(path), os.stat(path).st_mtime)
