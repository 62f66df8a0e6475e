"""Simulated three-level growth data (sessions in clients in therapists) for the R reference fits.

Produced by hand for the toolkit's test references (BSD-3-Clause, like the toolkit). Run from
the repository root with

    python tests/reference/make_growth_data.py

It writes, with numpy + pandas only (no toolkit import), byte-reproducible gzip files
(gzip mtime 0, no file name in the header):

    tests/reference/data/growth_three_level_balanced.csv.gz
    tests/reference/data/growth_three_level_unbalanced.csv.gz

with columns ``therapist, client, session, score`` (integers 1.. for therapist and client,
client ids unique across therapists; session integer from 0; score rounded to 3 decimals).
``tests/reference/growth_lmer.R`` fits lme4 models to these files. The committed .csv.gz files
are the reference; re-running this script with another numpy version could in principle give
other draws, in which case the R script must be re-run too.

Data generating process (both files), for session t of client j of therapist k:

    score = 20 - 0.8 * t
            + v0_k + v1_k * t        therapist:  SD(v0) = 1.5, SD(v1) = 0.15, corr(v0, v1) = 0
            + u0_j + u1_j * t        client:     SD(u0) = 4,   SD(u1) = 0.5,  corr(u0, u1) = -0.3
            + e                      residual:   SD(e)  = 3

i.e. therapist covariance [[2.25, 0], [0, 0.0225]], client covariance [[16, -0.6], [-0.6, 0.25]],
residual variance 9. True therapist ICC at session 0: 2.25 / (2.25 + 16 + 9) = 0.0826.

Balanced (seed 20240601): 200 therapists x 30 clients x 12 sessions (0..11) = 72,000 rows.

Unbalanced (seed 20240602): 150 therapists with 3..60 clients each (uniform, inclusive); each
client has 2..20 sessions (uniform, inclusive), consecutive from session 0; then each session
is dropped independently with probability 0.10, except that a client left with fewer than 2
sessions gets dropped sessions restored at random until it has 2.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"

BETA = (20.0, -0.8)
THERAPIST_SD = (1.5, 0.15)
THERAPIST_CORR = 0.0
CLIENT_SD = (4.0, 0.5)
CLIENT_CORR = -0.3
SIGMA = 3.0
SEED_BALANCED = 20240601
SEED_UNBALANCED = 20240602
DROP_PROB = 0.10


def _cov(sd: tuple[float, float], corr: float) -> np.ndarray:
    return np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])


def _scores(rng, therapist, client, session, n_therapists, n_clients):
    """Score for each row; therapist and client are 1-based ids, effects drawn in id order."""
    v = rng.multivariate_normal([0.0, 0.0], _cov(THERAPIST_SD, THERAPIST_CORR), size=n_therapists)
    u = rng.multivariate_normal([0.0, 0.0], _cov(CLIENT_SD, CLIENT_CORR), size=n_clients)
    e = rng.normal(0.0, SIGMA, size=session.size)
    t = session.astype(float)
    vk, uj = v[therapist - 1], u[client - 1]
    y = BETA[0] + BETA[1] * t + vk[:, 0] + vk[:, 1] * t + uj[:, 0] + uj[:, 1] * t + e
    return np.round(y, 3)


def balanced(n_therapists=200, n_clients=30, n_sessions=12, seed=SEED_BALANCED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    total_clients = n_therapists * n_clients
    therapist = np.repeat(np.arange(1, n_therapists + 1), n_clients * n_sessions)
    client = np.repeat(np.arange(1, total_clients + 1), n_sessions)
    session = np.tile(np.arange(n_sessions), total_clients)
    score = _scores(rng, therapist, client, session, n_therapists, total_clients)
    return pd.DataFrame({"therapist": therapist, "client": client, "session": session,
                         "score": score})


def unbalanced(n_therapists=150, clients=(3, 60), sessions=(2, 20), drop=DROP_PROB,
               seed=SEED_UNBALANCED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_therapist = rng.integers(clients[0], clients[1] + 1, size=n_therapists)
    total_clients = int(per_therapist.sum())
    per_client = rng.integers(sessions[0], sessions[1] + 1, size=total_clients)
    therapist_of_client = np.repeat(np.arange(1, n_therapists + 1), per_therapist)
    rows_t, rows_c, rows_s = [], [], []
    for j in range(total_clients):
        s = np.arange(per_client[j])
        keep = rng.random(s.size) >= drop
        short = 2 - int(keep.sum())
        if short > 0:
            back = rng.choice(np.flatnonzero(~keep), size=short, replace=False)
            keep[back] = True
        s = s[keep]
        rows_t.append(np.full(s.size, therapist_of_client[j]))
        rows_c.append(np.full(s.size, j + 1))
        rows_s.append(s)
    therapist = np.concatenate(rows_t)
    client = np.concatenate(rows_c)
    session = np.concatenate(rows_s)
    score = _scores(rng, therapist, client, session, n_therapists, total_clients)
    return pd.DataFrame({"therapist": therapist, "client": client, "session": session,
                         "score": score})


def write(df: pd.DataFrame, name: str) -> Path:
    """CSV (LF line ends, 3-decimal scores) in a gzip file with a fixed header."""
    path = OUT / name
    text = df.to_csv(index=False, lineterminator="\n", float_format="%.3f")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                 mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("ascii"))
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, df in (("growth_three_level_balanced.csv.gz", balanced()),
                     ("growth_three_level_unbalanced.csv.gz", unbalanced())):
        path = write(df, name)
        print(f"{path}: {len(df)} rows, {df.therapist.nunique()} therapists, "
              f"{df.client.nunique()} clients")


if __name__ == "__main__":
    main()
