"""Simulated four-class cohort for the flexmix LCGA reference fits (tests/reference/classes_flexmix.R).

Produced by hand for the toolkit's test references (BSD-3-Clause, like the toolkit). Run from the
repository root with the project environment (numpy + pandas only, no toolkit import):

    .venv/bin/python tests/reference/classes_make_data.py

It writes the byte-reproducible gzip file (gzip mtime 0, no file name in the header)

    tests/reference/data/classes_four_classes.csv.gz

whose first line is a ``#`` comment (read it with ``pd.read_csv(path, comment="#")`` or
``read.csv(path, comment.char = "#")``), followed by the columns
``client, session, score, true_class``:

* client: integer 1..800; session: integer 0..11; score: integer 0..63;
* true_class: ``gradual`` / ``early`` / ``late`` / ``non`` (the generating class).

Data generating process (seed 20240715), for session t of client i in class c:

    score = round(clip(mu_c(t) + u_i + e_it, 0, 63))
    u_i  ~ N(0, 2^2)   client random intercept (classes are not perfectly homogeneous)
    e_it ~ N(0, 3^2)   residual

    gradual (45%, 360 clients): mu(t) = 30 - 15 * t / 11            (30 -> 15 at session 11)
    early   (25%, 200 clients): mu(t) = 30 - 6 * min(t, 3)          (30 -> 12 by session 3, then flat)
    late    (15%, 120 clients): mu(t) = 30 - 4 * clip(t - 6, 0, 4)  (flat 30 to session 6, 14 by session 10)
    non     (15%, 120 clients): mu(t) = 29                          (flat)

Class counts are exact (360/200/120/120); the class labels are shuffled over client ids. Each of
the 9,600 client-sessions is then dropped independently with probability 0.05 (missing completely
at random); every client keeps at least 7 of its 12 scores (9,107 rows in all).
The committed .csv.gz is the reference; re-running with another numpy version could in principle
give other draws, in which case classes_flexmix.R must be re-run too.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240715
N_SESSIONS = 12
COUNTS = {"gradual": 360, "early": 200, "late": 120, "non": 120}
SD_INTERCEPT = 2.0
SD_RESIDUAL = 3.0
P_MISSING = 0.05

OUT = Path(__file__).resolve().parent / "data" / "classes_four_classes.csv.gz"


def class_mean(label: str, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if label == "gradual":
        return 30.0 - 15.0 * t / 11.0
    if label == "early":
        return 30.0 - 6.0 * np.minimum(t, 3.0)
    if label == "late":
        return 30.0 - 4.0 * np.clip(t - 6.0, 0.0, 4.0)
    if label == "non":
        return np.full_like(t, 29.0)
    raise ValueError(label)


def make() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    labels = np.concatenate([np.repeat(k, v) for k, v in COUNTS.items()])
    labels = rng.permutation(labels)
    n = labels.size
    t = np.arange(N_SESSIONS, dtype=float)
    mu = np.vstack([class_mean(lab, t) for lab in labels])            # n x T
    u = rng.normal(0.0, SD_INTERCEPT, size=(n, 1))
    e = rng.normal(0.0, SD_RESIDUAL, size=(n, N_SESSIONS))
    score = np.rint(np.clip(mu + u + e, 0.0, 63.0)).astype(int)
    keep = rng.random((n, N_SESSIONS)) >= P_MISSING
    client = np.repeat(np.arange(1, n + 1), N_SESSIONS).reshape(n, N_SESSIONS)
    session = np.tile(np.arange(N_SESSIONS), (n, 1))
    true_class = np.repeat(labels, N_SESSIONS).reshape(n, N_SESSIONS)
    df = pd.DataFrame({
        "client": client[keep],
        "session": session[keep],
        "score": score[keep],
        "true_class": true_class[keep],
    })
    assert df.groupby("client").size().min() >= 2
    return df


def main() -> None:
    df = make()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Simulated four-class LCGA cohort (800 clients x sessions 0..11, ~5% MCAR missing); "
              "written by tests/reference/classes_make_data.py, seed 20240715; BSD-3-Clause\n")
    text = header + df.to_csv(index=False, lineterminator="\n")
    with open(OUT, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))
    counts = df.drop_duplicates("client")["true_class"].value_counts()
    print(f"wrote {OUT} ({len(df)} rows, {df['client'].nunique()} clients)")
    print(counts.to_string())


if __name__ == "__main__":
    main()
