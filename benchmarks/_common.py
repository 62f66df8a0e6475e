"""Small helpers shared by the benchmark scripts: median wall time, peak memory, targets.

Every benchmark times each path ``repeat`` times (at least 3) and reports the median, measures
a peer in the same run for the ratio, and checks its targets with :func:`target`; the script
ends with :func:`finish`, which exits non-zero when a target was missed.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

_MISSED: list[str] = []


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Median wall time in seconds over ``repeat`` (>= 3) runs, and the last result."""
    repeat = max(int(repeat), 3)
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


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


def target(
    name: str, value: float, limit: float, *, higher_is_better: bool = False, unit: str = "s"
) -> bool:
    """Print and record whether ``value`` meets its ``limit``; return whether it did."""
    ok = value >= limit if higher_is_better else value <= limit
    sign = ">=" if higher_is_better else "<="
    print(
        f"  target {name}: {value:.3g} {unit} {sign} {limit:.3g} {unit}  "
        f"{'met' if ok else 'MISSED'}"
    )
    if not ok:
        _MISSED.append(name)
    return ok


def finish() -> None:
    """Exit non-zero when any target was missed."""
    if _MISSED:
        print(f"MISSED targets: {', '.join(_MISSED)}")
        sys.exit(1)
    print("All targets met.")
