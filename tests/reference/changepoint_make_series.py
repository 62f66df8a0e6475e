"""Short single-client series for the broken-stick (continuous one-breakpoint) reference fits.

Produced by hand for the toolkit's test references (BSD-3-Clause, like the toolkit). Run from the
repository root with the project environment (numpy + pandas only, no toolkit import):

    .venv/bin/python tests/reference/changepoint_make_series.py

It writes (both files start with one ``#`` comment line: read them with
``pd.read_csv(path, comment="#")`` or ``read.csv(path, comment.char = "#")``)

    tests/reference/data/changepoint_breakpoint_series.csv   columns series, session, score
    tests/reference/data/changepoint_breakpoint_truth.csv    the generating values per series

Each series is score = a + b1 * session + (b2 - b1) * max(session - psi, 0) + N(0, sd^2), rounded to
one decimal, with seed 20240716 (one generator, series drawn in the order of SERIES below).
``tests/reference/changepoint_segmented.R`` fits R segmented and an exact grid search to it.

    series  sessions        missing  psi   slope before -> after  sd   what it exercises
    s01     0..13           -        5.5   -0.3 -> -2.5           1.0  clear change between sessions
    s02     0..11           -        5.6   -2.0 -> -0.2           1.5  early drop, then plateau
    s03     0..15           -        7.3    0.0 -> -2.0           2.0  long series, late change
    s04     0..12           -        6     -0.5 -> -3.0           1.0  change at an integer session
    s05     0..11           -        4     -3.0 -> -0.5           2.0  change at an integer session
    s06     0..14           -        8     -0.2 -> -2.5           3.0  integer session, noisy
    s07     0..12           -        none  -1.2                   2.0  no change (Davies test)
    s08     0..9            -        none   0.0                   1.5  no change, flat, short
    s09     1..12           -        none  -0.8                   3.0  no change, noisy, starts at 1
    s10     0..13           7        4.5   -2.5 -> -0.3           1.5  missing session
    s11     0..12           3        6.7   -0.4 -> -2.2           2.0  missing session
    s12     0..11           -        5.5   -0.6 -> -1.4           3.0  weak change, hard to detect
    s13     0..10           -        2.4   -4.0 -> -0.5           1.0  change close to the start
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240716
HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "changepoint_breakpoint_series.csv"
TRUTH = HERE / "data" / "changepoint_breakpoint_truth.csv"

# series, first session, last session, missing sessions, intercept, psi (None = no change),
# slope before, slope after, noise sd
SERIES = [
    ("s01", 0, 13, (), 30.0, 5.5, -0.3, -2.5, 1.0),
    ("s02", 0, 11, (), 32.0, 5.6, -2.0, -0.2, 1.5),
    ("s03", 0, 15, (), 28.0, 7.3, 0.0, -2.0, 2.0),
    ("s04", 0, 12, (), 31.0, 6.0, -0.5, -3.0, 1.0),
    ("s05", 0, 11, (), 33.0, 4.0, -3.0, -0.5, 2.0),
    ("s06", 0, 14, (), 29.0, 8.0, -0.2, -2.5, 3.0),
    ("s07", 0, 12, (), 30.0, None, -1.2, -1.2, 2.0),
    ("s08", 0, 9, (), 26.0, None, 0.0, 0.0, 1.5),
    ("s09", 1, 12, (), 31.0, None, -0.8, -0.8, 3.0),
    ("s10", 0, 13, (7,), 34.0, 4.5, -2.5, -0.3, 1.5),
    ("s11", 0, 12, (3,), 30.0, 6.7, -0.4, -2.2, 2.0),
    ("s12", 0, 11, (), 30.0, 5.5, -0.6, -1.4, 3.0),
    ("s13", 0, 10, (), 35.0, 2.4, -4.0, -0.5, 1.0),
]


def make() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    rows, truth = [], []
    for name, first, last, missing, a, psi, b1, b2, sd in SERIES:
        t = np.arange(first, last + 1, dtype=float)
        mu = a + b1 * t
        if psi is not None:
            mu = mu + (b2 - b1) * np.maximum(t - psi, 0.0)
        y = np.round(mu + rng.normal(0.0, sd, size=t.size), 1)
        keep = ~np.isin(t, missing)
        rows.append(pd.DataFrame({"series": name, "session": t[keep].astype(int), "score": y[keep]}))
        truth.append({"series": name, "first_session": first, "last_session": last,
                      "missing_sessions": " ".join(map(str, missing)),
                      "n_sessions": int(keep.sum()), "intercept": a,
                      "psi": np.nan if psi is None else psi,
                      "slope_before": b1, "slope_after": b2, "noise_sd": sd})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(truth)


def write(df: pd.DataFrame, path: Path, what: str) -> None:
    header = f"# {what}; written by tests/reference/changepoint_make_series.py, seed {SEED}; BSD-3-Clause\n"
    with open(path, "w", newline="") as fh:
        fh.write(header)
        df.to_csv(fh, index=False, lineterminator="\n", float_format="%.10g")


def main() -> None:
    series, truth = make()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write(series, OUT, "Broken-stick test series (one continuous slope change or none)")
    write(truth, TRUTH, "Generating values of changepoint_breakpoint_series.csv (psi empty = no change)")
    print(f"wrote {OUT} ({len(series)} rows, {series['series'].nunique()} series) and {TRUTH}")


if __name__ == "__main__":
    main()
