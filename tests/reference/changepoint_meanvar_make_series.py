"""Series for the mean-and-variance change-point reference values (R changepoint's cpt.meanvar).

Produced by hand for the toolkit's test references (BSD-3-Clause, like the toolkit). Run from the
repository root with the project environment (numpy + pandas only, no toolkit import):

    .venv/bin/python tests/reference/changepoint_meanvar_make_series.py

It writes ``tests/reference/data/changepoint_meanvar_series.csv`` (one ``#`` comment line first:
read it with ``pd.read_csv(path, comment="#")`` or ``read.csv(path, comment.char = "#")``), columns
``series, kind, position, score``: one row per observation, positions 1..n (complete series, as
R's changepoint needs regularly spaced data). ``tests/reference/changepoint_meanvar.R`` segments
every series and writes ``changepoint_meanvar.json``.

Kinds (seed 20240801, one generator, series drawn in this order):

    gauss_*   Gaussian scores around 20 (SD 3), n in {8, 10, 12, 16, 20, 24}: no change
              ("none"), a mean shift of 8 points ("mean"), the SD falling from 3 to 0.7
              ("var": "became stable"), both ("both"), two changes ("two")
    int_*     the same shapes rounded to whole points and clipped to 0..27 (PHQ-9-like), so
              that runs of equal scores (zero-variance segments) occur
    floor     whole-point scores that fall to 0 and stay there (a constant segment at the end)
    edge      hand-made: the shortest series (n = 4, 5), a constant block in the middle, an
              alternating series, a perfectly linear series
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240801
HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "changepoint_meanvar_series.csv"
LENGTHS = (8, 10, 12, 16, 20, 24)
SHAPES = ("none", "mean", "var", "both", "two")
PER_CELL = 8  # series per (shape, length) and kind


def _shape(rng: np.random.Generator, shape: str, n: int) -> np.ndarray:
    y = 20 + rng.normal(0, 3, n)
    if shape == "none":
        return y
    k = int(rng.integers(2, n - 1))  # first position (0-based) of the new segment
    if shape == "mean":
        y[k:] -= 8
    elif shape == "var":
        y[k:] = 20 + rng.normal(0, 0.7, n - k)
    elif shape == "both":
        y[k:] = 11 + rng.normal(0, 0.7, n - k)
    else:  # two changes: a drop, then a calm period
        k1 = int(rng.integers(2, max(3, n // 2 - 1)))
        k2 = int(rng.integers(k1 + 2, n - 1)) if k1 + 2 < n - 1 else n - 2
        y[k1:] -= 7
        y[k2:] = 13 + rng.normal(0, 0.6, n - k2)
    return y


def make() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    rows: list[pd.DataFrame] = []

    def add(name: str, kind: str, y: np.ndarray) -> None:
        rows.append(
            pd.DataFrame(
                {"series": name, "kind": kind, "position": np.arange(1, len(y) + 1), "score": y}
            )
        )

    i = 0
    for kind in ("gauss", "int"):
        for shape in SHAPES:
            for n in LENGTHS:
                for _ in range(PER_CELL):
                    y = _shape(rng, shape, n)
                    if kind == "int":
                        y = np.clip(np.round(y), 0, 27)
                    else:
                        y = np.round(y, 6)
                    i += 1
                    add(f"m{i:04d}", f"{kind}_{shape}", y)
    for _ in range(20):  # floor effect: whole points falling to 0 and staying there
        n = int(rng.choice(LENGTHS))
        k = int(rng.integers(3, n - 2))
        y = np.clip(np.round(np.r_[18 + rng.normal(0, 3, k), rng.normal(0, 0.3, n - k) - 5]), 0, 27)
        i += 1
        add(f"m{i:04d}", "floor", y)
    edge = [
        [10.0, 12.0, 3.0, 4.0],
        [10.0, 12.0, 11.0, 3.0, 4.0],
        [20.0, 23.0, 18.0, 21.0, 15.0, 15.0, 15.0, 15.0, 19.0, 24.0, 17.0, 22.0],
        [10.0, 14.0, 10.0, 14.0, 10.0, 14.0, 10.0, 14.0, 10.0, 14.0],
        [float(v) for v in range(2, 14)],
        [5.0, 5.0, 9.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0],
    ]
    for y in edge:
        i += 1
        add(f"m{i:04d}", "edge", np.asarray(y))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    series = make()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Mean-and-variance change-point test series; written by "
        f"tests/reference/changepoint_meanvar_make_series.py, seed {SEED}; BSD-3-Clause\n"
    )
    with open(OUT, "w", newline="") as fh:
        fh.write(header)
        series.to_csv(fh, index=False, lineterminator="\n", float_format="%.10g")
    print(f"wrote {OUT} ({len(series)} rows, {series['series'].nunique()} series)")


if __name__ == "__main__":
    main()
