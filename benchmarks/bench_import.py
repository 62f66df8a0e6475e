"""Import time: ``import toolkit`` in a fresh interpreter, against ``import pandas``.

Each run starts a new Python process (so nothing is cached in ``sys.modules``) and times it
from start to exit; the bare interpreter start-up, measured the same way, is the floor.
Reported: the median wall time of ``repeat`` (>= 5) runs of each, the import's own cost
(median minus the bare start-up) and the ratio against ``import pandas`` measured in the same
run. Also the first-use cost of the common entry points (``toolkit.long_scores``,
``toolkit.breakthroughs``, ``toolkit.plots.spaghetti``), for reading only.

Target: ``import toolkit`` under 0.5 s wall time, start-up included.

Run: ``.venv/bin/python benchmarks/bench_import.py [repeat]``
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from _common import finish, target

TARGET_S = 0.5


def wall(code: str, repeat: int) -> float:
    """Median wall time in seconds of ``python -c code`` over ``repeat`` fresh processes."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeat: int = 7) -> None:
    repeat = max(int(repeat), 5)
    print(f"import time, median of {repeat} fresh interpreters")
    bare = wall("pass", repeat)
    toolkit = wall("import toolkit", repeat)
    pandas = wall("import pandas", repeat)
    print(f"  bare interpreter start-up  {bare:6.3f} s")
    print(f"  import toolkit             {toolkit:6.3f} s  (import alone {toolkit - bare:.3f} s)")
    print(f"  import pandas (peer)       {pandas:6.3f} s  (import alone {pandas - bare:.3f} s)")
    print(f"  ratio toolkit / pandas     {toolkit / pandas:6.2f}x (wall, start-up included)")
    print("first use (reading only):")
    for label, code in [
        ("toolkit.long_scores", "import toolkit; toolkit.long_scores"),
        ("toolkit.breakthroughs", "import toolkit; toolkit.breakthroughs"),
        ("toolkit.plots.spaghetti", "import toolkit; toolkit.plots.spaghetti"),
    ]:
        print(f"  {label:<26} {wall(code, max(repeat // 2, 3)):6.3f} s")
    target("import toolkit (wall)", toolkit, TARGET_S)
    finish()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
