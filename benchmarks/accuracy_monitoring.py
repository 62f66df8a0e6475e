"""Monitoring accuracy on simulated truth: not-on-track alarms and online breakthrough detection.

1. Alarms. A simulated service cohort of 10,000 PHQ-9 clients (courses of 6 to 16 sessions,
   10% deteriorators, 15% late responders, 20% with a sudden gain, 5% missed sessions),
   split by client: even ids are the reference cohort, odd ids are monitored. For each
   method (the expected curve, the nearest neighbours, each also dose-aware, and a CUSUM of
   the residuals from the expected curve) the report of :func:`evaluate_alarms` for the
   outcome *final reliable deterioration* (the last observed score at least 6 points worse
   than intake), counting alarms by the penultimate session: sensitivity, specificity, PPV,
   lead time and alarms per client, next to the always-flag and intake-score-only
   baselines. Also against the simulated truth (the deteriorators), and for *no reliable
   improvement*. Target: sensitivity >= 85% for eventual deteriorators (both methods).
2. Online detection. 10,000 PHQ-9 clients x 16 sessions, 30% with a sudden gain at a known
   session; gains of 9 +- 1.5 points (1.5 times the criterion) and, harder, 7 +- 1 points
   (just above it); the simulator's gradual improvement for most others (2.25 points over
   the course on average). A third scenario, without a target, gives most clients a fast
   gradual improvement (7 points, log-shaped): a recent reliable change of level that is not
   sudden, which P(breakthrough) partly reports too. P(breakthrough) of
   :func:`online` (defaults) at several thresholds, and a CUSUM of improvement residuals from
   cross-fitted expected curves, with the always-fire and never-fire baselines. Target at the
   default threshold 0.5: median delay <= 2 sessions with <= 5% of no-change courses having a
   false alarm.

Writes ``benchmarks/results/accuracy_monitoring.csv``.

Run: ``python benchmarks/accuracy_monitoring.py [--seed 2024]``
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import pandas as pd
from _common import finish, target

import toolkit
from toolkit import monitoring
from toolkit.simulate import trajectories

RESULTS = Path(__file__).resolve().parent / "results"
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
COLUMNS = [
    "rule",
    "n_outcome",
    "n_flagged",
    "sensitivity",
    "specificity",
    "ppv",
    "median_lead_time",
    "alarms_per_client",
]


def validated(df: pd.DataFrame) -> toolkit.LongScores:
    return toolkit.long_scores(
        df,
        client="client",
        session="session",
        score="score",
        instrument="PHQ-9",
        covariates=[],
    )


def alarms(seed: int) -> pd.DataFrame:
    df, truth = trajectories(
        10_000,
        16,
        instrument="PHQ-9",
        seed=seed,
        shape="log",
        deteriorator_share=0.10,
        late_responder_share=0.15,
        gain_share=0.20,
        gain_size=(8.0, 1.5),
        course_length=(6, 16),
        missing=0.05,
    )
    scores = validated(df)
    ref = scores.subset([c for c in scores.clients if c % 2 == 0])
    mon = scores.subset([c for c in scores.clients if c % 2 == 1])
    det = set(truth.loc[truth["kind"] == "deterioration", "client"])
    simulated = pd.Series([c in det for c in mon.clients], index=mon.clients)
    print(
        f"\n1. Not-on-track alarms: {ref.n_clients:,} reference and {mon.n_clients:,} monitored "
        f"clients (split by client), band level 0.8"
    )
    rows = []
    for method in ("curve", "neighbours"):
        for dose in (None, "observed"):
            name = method + (" (dose-aware)" if dose else "")
            expected = monitoring.expected_response(ref, method=method, dose=dose, folds=None)
            flags = expected.flag(mon)
            results = {name: flags}
            if dose is None:
                results[f"CUSUM ({method})"] = monitoring.cusum(expected.predict(mon))
            for label, res in results.items():
                for outcome, y in (
                    ("deterioration", "deterioration"),
                    ("simulated deteriorator", simulated),
                    ("no_improvement", "no_improvement"),
                ):
                    t = monitoring.evaluate_alarms(res, y).table
                    t["rule"] = t["rule"].where(~t["rule"].isin(["not on track", "CUSUM"]), label)
                    t["outcome"] = outcome
                    rows.append(t.assign(method=label))
    table = pd.concat(rows, ignore_index=True)
    for outcome in ("deterioration", "simulated deteriorator", "no_improvement"):
        part = table[table["outcome"] == outcome].drop_duplicates(["rule"])
        print(f"\n  outcome: {outcome} (alarms by the penultimate session)")
        print(part[COLUMNS].round(3).to_string(index=False))
    det_rows = table[(table["outcome"] == "deterioration") & (table["rule"] == table["method"])]
    for _, r in det_rows.iterrows():
        if r["rule"] in ("curve", "neighbours"):
            target(
                f"eventual reliable deteriorators flagged by the penultimate session ({r['rule']})",
                r["sensitivity"],
                0.85,
                higher_is_better=True,
                unit="",
            )
    return table.assign(study="alarms")


def online(seed: int) -> pd.DataFrame:
    rows = []
    scenarios = {
        "gains 9 +- 1.5 points": {"gain_size": (9.0, 1.5)},
        "gains 7 +- 1 points": {"gain_size": (7.0, 1.0)},
        "gains 9 +- 1.5 points, fast gradual improvement (7 points, log)": {
            "gain_size": (9.0, 1.5),
            "gradual": 7.0,
            "gradual_sd": 3.0,
            "shape": "log",
        },
    }
    for label, options in scenarios.items():
        df, truth = trajectories(
            10_000, 16, instrument="PHQ-9", seed=seed + 1, gain_share=0.3, missing=0.05, **options
        )
        scores = validated(df)
        start = time.perf_counter()
        res = monitoring.online(scores).result
        took = time.perf_counter() - start
        pred = monitoring.expected_response(scores, seed=seed).predict(scores)
        cus = monitoring.cusum(pred, direction="improvement")
        ev = monitoring.evaluate_online(
            {"online (BOCPD)": res, "CUSUM (cross-fitted curve)": cus},
            truth,
            threshold=[0.3, 0.5, 0.7, 0.9],
        )
        t = ev.table
        print(f"\n2. Online detection, {label}: {scores.n_clients:,} clients ({took:.1f} s)")
        print(t.round(3).to_string(index=False))
        default = t[(t["method"] == "online (BOCPD)") & (t["threshold"] == 0.5)].iloc[0]
        if label == "gains 9 +- 1.5 points":
            target(
                "online median delay at threshold 0.5", default["median_delay"], 2, unit="sessions"
            )
            target(
                "no-change courses with a false alarm at threshold 0.5",
                default["share_courses_false_alarm"],
                0.05,
                unit="",
            )
        rows.append(t.assign(study=f"online, {label}"))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.errors.ToolkitWarning)
        out = pd.concat([alarms(args.seed), online(args.seed)], ignore_index=True)
    RESULTS.mkdir(exist_ok=True)
    out.to_csv(RESULTS / "accuracy_monitoring.csv", index=False)
    print(f"\nwrote {RESULTS / 'accuracy_monitoring.csv'}")
    finish()


if __name__ == "__main__":
    main()
