"""Speed of the hierarchical Bayesian change-point model: 25, 200 and 1,000 clients x 12 sessions.

For each cohort size and each NUTS implementation (PyMC's own, and nutpie when installed) it
fits ``toolkit.bayes.fit(model="hierarchical")`` with the defaults (4 chains x 1,000 tuning
+ 1,000 draws, 2 cores) and prints wall time (model building, compilation, sampling and
post-processing), the minimum bulk ESS over the reported parameters, the minimum bulk ESS per
second of wall time, divergences and the largest R-hat, then the nutpie / PyMC ratio measured
in the same run. The target: 1,000 clients in under 5 minutes with R-hat <= 1.01 and no
divergences. Results also go to ``benchmarks/results/bench_bayes.csv``.

For scale (not measured here: R is not installed): the issue quotes R's ``mcp`` at about 28 s
on 2 cores for a varying-change-point model of 25 people x 12 sessions, without random slopes,
covariates or a change / no-change mixture.

Run: ``.venv/bin/python benchmarks/bench_bayes.py [sizes...] [--samplers pymc,nutpie]``
"""

from __future__ import annotations

import argparse
import importlib.util
import warnings
from pathlib import Path

import pandas as pd
from _common import timed

from toolkit import bayes
from toolkit.errors import ToolkitWarning
from toolkit.simulate import trajectories

RESULTS = Path(__file__).parent / "results"


def cohort(n: int) -> pd.DataFrame:
    scores, _ = trajectories(
        n,
        12,
        instrument="BDI-II",
        baseline=34.0,
        baseline_sd=5.0,
        gain_share=0.3,
        missing=0.05,
        seed=n,
    )
    return scores


def run(n: int, sampler: str) -> dict:
    data = cohort(n)

    def fit():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ToolkitWarning)
            result = bayes.fit(
                data,
                client="client",
                session="session",
                score="score",
                instrument="BDI-II",
                sampler=sampler,
                cores=2,
                seed=1,
                progress=False,
            )
        return result, caught

    wall, (result, caught) = timed(fit)
    dg = result.diagnostics
    return {
        "clients": n,
        "sampler": sampler,
        "wall_s": wall,
        "sampling_s": result.settings["sampling_seconds"],
        "min_ess_bulk": dg["ess_bulk"].min(),
        "min_ess_bulk_per_s": dg["ess_bulk"].min() / wall,
        "divergences": result.divergences,
        "max_r_hat": dg["r_hat"].max(),
        "worst_r_hat": dg.loc[dg["r_hat"].idxmax(), "parameter"],
        "expected_changes": result.table["p_change"].sum(),
        "warnings": len([w for w in caught if issubclass(w.category, ToolkitWarning)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[25, 200, 1000])
    default = "pymc,nutpie" if importlib.util.find_spec("nutpie") else "pymc"
    parser.add_argument("--samplers", default=default)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for sampler in args.samplers.split(","):
            row = run(n, sampler)
            rows.append(row)
            print(
                f"{n:5d} clients  {sampler:6s}  wall {row['wall_s']:7.1f} s  "
                f"(sampling {row['sampling_s']:6.1f} s)  min bulk ESS {row['min_ess_bulk']:6.0f}"
                f"  ({row['min_ess_bulk_per_s']:6.1f}/s)  divergences {row['divergences']}  "
                f"max R-hat {row['max_r_hat']:.4f} ({row['worst_r_hat']})",
                flush=True,
            )
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "bench_bayes.csv", index=False)
    if table["sampler"].nunique() == 2:
        wide = table.pivot(
            index="clients", columns="sampler", values=["wall_s", "min_ess_bulk_per_s"]
        )
        print("\nnutpie / PyMC, same run:")
        for n in wide.index:
            wall = wide.loc[n, ("wall_s", "nutpie")] / wide.loc[n, ("wall_s", "pymc")]
            ess = (
                wide.loc[n, ("min_ess_bulk_per_s", "nutpie")]
                / wide.loc[n, ("min_ess_bulk_per_s", "pymc")]
            )
            print(f"{n:5d} clients  wall time x{wall:.2f}   ESS/s x{ess:.2f}")
    big = table[table["clients"] == 1000]
    for _, r in big.iterrows():
        ok = r["wall_s"] < 300 and r["max_r_hat"] <= 1.01 and r["divergences"] == 0
        print(
            f"Target (1,000 clients < 5 min, R-hat <= 1.01, no divergences) with "
            f"{r['sampler']}: {'met' if ok else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
