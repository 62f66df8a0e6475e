"""The per-client answer at registry scale: toolkit.breakthroughs on 1,000,000 clients x 20.

``toolkit.breakthroughs`` runs reliable change, sudden gains and change points on the same
validated scores and puts their answers side by side, one row per client. Its peer is the
three methods run one after the other on the same scores (the work a user would do by hand);
the target is that the combined answer costs at most 1.5 times their sum: the per-client
table, the reasons and the carried covariates add at most half again.

Run: ``.venv/bin/python benchmarks/bench_breakthroughs.py [n_clients]``
"""

from __future__ import annotations

import sys
import warnings

from _common import finish, target, timed

import toolkit
from toolkit.changepoint import detect
from toolkit.data import long_scores
from toolkit.reliable_change import reliable_change
from toolkit.simulate import trajectories
from toolkit.sudden_gains import identify

N_SESSIONS = 20


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    toolkit.set_options(progress=False)
    warnings.simplefilter("ignore", toolkit.ToolkitWarning)
    df, _ = trajectories(n, N_SESSIONS, instrument="PHQ-9", missing=0.1, seed=3)
    df["arm"] = (df["client"] % 2).map({0: "cbt", 1: "usual care"})  # a carried covariate
    scores = long_scores(df, client="client", session="session", score="score", instrument="PHQ-9")

    def by_hand() -> int:
        parts = (reliable_change(scores), identify(scores), detect(scores))
        return sum(len(p.table) for p in parts)

    t_methods, _ = timed(by_hand, repeat=3)
    t_answer, result = timed(lambda: toolkit.breakthroughs(scores, test=False), repeat=3)
    table = result.table  # type: ignore[attr-defined]
    print(f"toolkit.breakthroughs: {n:,} clients x {N_SESSIONS} sessions, 10% missing")
    print(f"  the three methods, one after the other  {t_methods:7.2f} s")
    print(f"  breakthroughs (one row per client)      {t_answer:7.2f} s   ({len(table):,} rows)")
    print(f"  ratio breakthroughs / methods           {t_answer / t_methods:7.2f}x")
    target("breakthroughs / sum of its methods", t_answer / t_methods, 1.5, unit="x")
    if len(table) != scores.n_clients:
        print("  one row per client: MISSED")
        sys.exit(1)
    finish()


if __name__ == "__main__":
    main()
