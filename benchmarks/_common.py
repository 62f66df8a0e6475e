"""Small helpers shared by the benchmark scripts: wall time and peak traced memory."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time in seconds over ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_memory(fn: Callable[[], object]) -> float:
    """Peak memory allocated while ``fn`` runs, in MiB (NumPy and pandas buffers included)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20
