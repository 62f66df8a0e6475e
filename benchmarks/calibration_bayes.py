"""Calibration of the hierarchical Bayesian change-point model on simulated cohorts.

Simulates cohorts of clients x 12 BDI-II sessions with known sudden gains (half the clients,
gamma-distributed sizes around 11.5 points, 5% missing sessions, integer scores), fits
``toolkit.bayes.fit(model="hierarchical")`` with its defaults and checks, over all clients:

- coverage of the 90% credible set of the change session and of the 90% HDI of the jump,
  among clients with a true gain (target: both in [0.85, 0.95]);
- calibration of P(breakthrough) (true breakthrough: a gain of at least the reliable-change
  cut-off of the BDI-II), as a reliability table over probability deciles, with the Brier
  score.

Baselines start high enough (mean 36 points) that gains are not cut by the floor of 0, so the
simulated magnitude is what the data can show. Writes ``benchmarks/results/
calibration_bayes.csv`` (reliability table) and ``calibration_bayes.txt`` (summary).

Run: ``.venv/bin/python benchmarks/calibration_bayes.py [n_cohorts] [clients_per_cohort]``
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit import bayes
from toolkit.errors import ToolkitWarning
from toolkit.simulate import trajectories

RESULTS = Path(__file__).parent / "results"


def one_cohort(seed: int, n: int) -> tuple[pd.DataFrame, dict]:
    scores, truth = trajectories(
        n,
        12,
        instrument="BDI-II",
        baseline=36.0,
        baseline_sd=5.0,
        gain_share=0.5,
        missing=0.05,
        seed=seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ToolkitWarning)
        result = bayes.fit(
            scores,
            client="client",
            session="session",
            score="score",
            instrument="BDI-II",
            seed=seed,
            progress=False,
        )
    table = result.table.set_index("client")
    gains = truth[truth["kind"] == "gain"].set_index("client")
    table["true_change"] = table.index.isin(gains.index)
    table["true_session"] = gains["session"].reindex(table.index)
    table["true_jump"] = -gains["magnitude"].reindex(table.index)  # lower BDI-II = better
    cut = result.settings["breakthrough"]
    table["true_breakthrough"] = table["true_change"] & (-table["true_jump"] >= cut)
    table["cohort"] = seed
    info = {
        "seed": seed,
        "cutoff": cut,
        "divergences": result.divergences,
        "max_r_hat": result.diagnostics["r_hat"].max(),
        "min_ess_bulk": result.diagnostics["ess_bulk"].min(),
        "sampling_s": result.settings["sampling_seconds"],
        "warnings": [str(w.message) for w in caught],
    }
    return table.reset_index(), info


def reliability(p: np.ndarray, outcome: np.ndarray) -> pd.DataFrame:
    edges = np.linspace(0, 1, 11)
    bins = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
    rows = []
    for b in range(10):
        inside = bins == b
        rows.append(
            {
                "bin": f"[{edges[b]:.1f}, {edges[b + 1]:.1f}{']' if b == 9 else ')'}",
                "n": int(inside.sum()),
                "mean_predicted": p[inside].mean() if inside.any() else np.nan,
                "observed_rate": outcome[inside].mean() if inside.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    n_cohorts = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    per_cohort = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    parts, infos = [], []
    for seed in range(1, n_cohorts + 1):
        table, info = one_cohort(seed, per_cohort)
        parts.append(table)
        infos.append(info)
        print(
            f"cohort {seed}: {per_cohort} clients, sampling {info['sampling_s']:.0f} s, "
            f"max R-hat {info['max_r_hat']:.4f}, min bulk ESS {info['min_ess_bulk']:.0f}, "
            f"divergences {info['divergences']}",
            flush=True,
        )
    t = pd.concat(parts, ignore_index=True)
    changed = t[t["true_change"]]
    session_cover = np.mean(
        [s in found for s, found in zip(changed["true_session"], changed["change_session_set"])]
    )
    jump_cover = (
        (changed["jump_lower"] <= changed["true_jump"])
        & (changed["true_jump"] <= changed["jump_upper"])
    ).mean()
    p, y = t["p_breakthrough"].to_numpy(), t["true_breakthrough"].to_numpy().astype(float)
    brier = np.mean((p - y) ** 2)
    base_brier = np.mean((y.mean() - y) ** 2)
    p_change_brier = np.mean((t["p_change"] - t["true_change"]) ** 2)
    table = reliability(p, y)
    lines = [
        f"Clients: {len(t)} in {n_cohorts} cohort(s) ({int(t['true_change'].sum())} with a "
        f"true gain, {int(y.sum())} true breakthroughs; cut-off {infos[0]['cutoff']:.2f} "
        "points)",
        f"Coverage of the 90% credible set of the change session: {session_cover:.3f} "
        f"(target [0.85, 0.95])",
        f"Coverage of the 90% HDI of the jump: {jump_cover:.3f} (target [0.85, 0.95])",
        f"Brier score of P(breakthrough): {brier:.4f} (base rate alone: {base_brier:.4f})",
        f"Brier score of P(change): {p_change_brier:.4f}",
        "Sampling: "
        + "; ".join(
            f"cohort {i['seed']}: max R-hat {i['max_r_hat']:.4f}, min bulk ESS "
            f"{i['min_ess_bulk']:.0f}, divergences {i['divergences']}, {i['sampling_s']:.0f} s"
            for i in infos
        ),
        "",
        "Reliability of P(breakthrough) by decile of the predicted probability:",
        table.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "calibration_bayes.csv", index=False)
    (RESULTS / "calibration_bayes.txt").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
