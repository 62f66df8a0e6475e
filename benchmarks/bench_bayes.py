"""Speed of the Bayesian change-point models: one client alone (exact), and cohorts (NUTS).

**One client** (``pooling="none"``, each shape): wall time of ``toolkit.bayes.fit`` on one
client x 12 sessions, computed exactly (nothing sampled); the peer, measured in the same run,
is the same single-client model sampled with NUTS (``build_model(..., pooling="none")`` and
``pymc.sample``, 2 chains x 1,000 tuning + 1,000 draws), which is how such fits were computed
before. Target: under 1 s per client.

**Cohorts** (``pooling="hierarchical"``, the default model): 25, 200 and 1,000 clients x 12
sessions with the defaults (4 chains x 1,000 tuning + 1,000 draws, 2 cores), wall time
(building, compiling, sampling, post-processing), the minimum bulk ESS, divergences and the
largest R-hat. Target: 1,000 clients in under 5 minutes with R-hat <= 1.01 and no
divergences.

Every time is the median of ``--repeat`` (>= 3) runs. Exits non-zero when a target is missed.
Results also go to ``benchmarks/results/bench_bayes.csv``.

Run: ``.venv/bin/python benchmarks/bench_bayes.py [--sizes 25 200 1000] [--repeat 3]
[--sampler auto]``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import finish, target, timed

from toolkit import bayes
from toolkit.bayes._model import pymc, quiet
from toolkit.errors import ToolkitWarning
from toolkit.simulate import trajectories

RESULTS = Path(__file__).parent / "results"
ROLES = {"client": "client", "session": "session", "score": "score", "instrument": "BDI-II"}


def cohort(n: int) -> pd.DataFrame:
    scores, _ = trajectories(
        n, 12, instrument="BDI-II", baseline=34.0, baseline_sd=5.0, gain_share=0.3,
        missing=0.05, seed=n,
    )  # fmt: skip
    return scores


def one_client(repeat: int) -> list[dict]:
    data = cohort(25).query("client == 1")
    rows = []
    for shape in ("mean", "linear", "broken_stick"):
        bayes.fit(data, **ROLES, model=shape, pooling="none", seed=1)  # loads compiled code
        wall, _ = timed(
            lambda shape=shape: bayes.fit(data, **ROLES, model=shape, pooling="none", seed=1),
            repeat,
        )
        rows.append({"what": f"one client, {shape}, exact", "clients": 1, "wall_s": wall})
        print(f"one client  {shape:12s}  exact  {wall:7.3f} s", flush=True)
        target(f"one client ({shape}) under 1 s", wall, 1.0)

    def nuts() -> object:
        model = bayes.build_model(data, **ROLES, model="linear", pooling="none")
        with quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pymc().sample(
                model=model, chains=2, cores=1, tune=1000, draws=1000, random_seed=1,
                progressbar=False, compute_convergence_checks=False,
            )  # fmt: skip

    peer, _ = timed(nuts, repeat)
    rows.append({"what": "one client, linear, NUTS (peer)", "clients": 1, "wall_s": peer})
    exact = rows[1]["wall_s"]
    print(f"one client  linear        NUTS   {peer:7.3f} s  (exact is x{peer / exact:.0f} faster)")
    return rows


def hierarchical(n: int, sampler: str, repeat: int) -> dict:
    data = cohort(n)

    def fit() -> tuple:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            result = bayes.fit(data, **ROLES, sampler=sampler, cores=2, seed=1, progress=False)
        return result, caught

    wall, (result, caught) = timed(fit, repeat)
    dg = result.diagnostics
    row = {
        "what": f"hierarchical ({result.settings['sampler_used']})",
        "clients": n,
        "wall_s": wall,
        "estimated_s": result.settings.get("estimated_seconds"),
        "min_ess_bulk": dg["ess_bulk"].min(),
        "divergences": result.divergences,
        "max_r_hat": dg["r_hat"].max(),
        "warnings": len(caught),
    }
    print(
        f"{n:5d} clients  {row['what']}  median wall {wall:7.1f} s (estimated "
        f"{row['estimated_s']:.0f} s)  min bulk ESS {row['min_ess_bulk']:6.0f}  divergences "
        f"{row['divergences']}  max R-hat {row['max_r_hat']:.4f}",
        flush=True,
    )
    if n == 1000:
        target("1,000 clients under 5 min", wall, 300.0)
        target("1,000 clients R-hat", row["max_r_hat"], 1.01, unit="")
        target("1,000 clients divergences", row["divergences"], 0, unit="")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[25, 200, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sampler", default="auto")
    args = parser.parse_args()
    rows = one_client(args.repeat)
    for n in args.sizes:
        rows.append(hierarchical(n, args.sampler, args.repeat))
    RESULTS.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(RESULTS / "bench_bayes.csv", index=False)
    finish()


if __name__ == "__main__":
    main()
