"""Three-level growth models: 200 therapists x 30 clients x 12 sessions, toolkit against lme4.

Fits the two models of the issue to the committed simulated data
(tests/reference/data/growth_three_level_balanced.csv.gz, 72,000 rows):

- ``score ~ session + (1 | therapist) + (1 + session | therapist:client)``
- ``score ~ session + (1 + session | therapist) + (1 + session | therapist:client)``

with ``toolkit.growth.fit(..., therapist="therapist")`` (REML, the exact fast path;
validation of the long data, the Satterthwaite df and the therapist effects included) and,
in the same run when ``Rscript`` with lme4 is installed, ``lme4::lmer(..., control =
lmerControl(optimizer = "bobyqa"))`` (the optimizer the reference values were made with; see
tests/reference/README.md). Each is timed 3 times and the median reported. Without R, the
lme4 figures committed in tests/reference/growth_lmer.json are printed with their R version
(and the target is checked against them). Agreement: the REML log-likelihood and the
variance components against the committed lme4 values.

Target: the toolkit within 3x lme4's time.

Run: ``.venv/bin/python benchmarks/bench_growth_three_level.py``
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import finish, target, timed

from toolkit import growth

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "data" / "growth_three_level_balanced.csv.gz"
REFERENCE = json.loads((ROOT / "tests" / "reference" / "growth_lmer.json").read_text())
MODELS = {
    "therapist_intercept": (
        "intercept",
        "score ~ session + (1 | therapist) + (1 + session | therapist:client)",
    ),
    "therapist_slope": (
        "slope",
        "score ~ session + (1 + session | therapist) + (1 + session | therapist:client)",
    ),
}
R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
d$therapist <- factor(d$therapist); d$client <- factor(d$client)
forms <- list(
  therapist_intercept = score ~ session + (1 | therapist) + (1 + session | therapist:client),
  therapist_slope = score ~ session + (1 + session | therapist) + (1 + session | therapist:client))
out <- lapply(forms, function(f) {
  lmer(f, d, control = lmerControl(optimizer = "bobyqa"))  # warm-up
  t <- vapply(1:3, function(i) system.time(
    lmer(f, d, control = lmerControl(optimizer = "bobyqa")))[["elapsed"]], 0)
  list(median = median(t), times = t)
})
cat(sprintf("%s\t%.3f\t%s\n", names(out), vapply(out, `[[`, 0, "median"),
            R.version.string), sep = "")
"""


def lme4_in_this_run() -> dict[str, tuple[float, str]] | None:
    """lme4's median fitting times measured now, or None without R and lme4."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_SCRIPT)
        script = f.name
    try:
        res = subprocess.run(
            [rscript, script, str(DATA)], capture_output=True, text=True, timeout=1800
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        Path(script).unlink(missing_ok=True)
    if res.returncode != 0:
        print(f"  (Rscript failed: {res.stderr.strip().splitlines()[-1:]})")
        return None
    out = {}
    for line in res.stdout.strip().splitlines():
        name, seconds, version = line.split("\t")
        out[name] = (float(seconds), version)
    return out


def main() -> None:
    df = pd.read_csv(DATA)
    print(
        f"three-level growth models, REML: {df['therapist'].nunique()} therapists x "
        f"{df.groupby('therapist')['client'].nunique().iloc[0]} clients x "
        f"{df.groupby('client').size().iloc[0]} sessions ({len(df):,} rows)"
    )
    lme4 = lme4_in_this_run()
    meta = REFERENCE["meta"]
    for key, (therapist_random, formula) in MODELS.items():
        ref = REFERENCE["models"][f"three_level_balanced_{key}"]

        def fit(tr: str = therapist_random) -> growth.GrowthResult:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a clean fit: no warning at all
                return growth.fit(
                    df,
                    "score ~ session",
                    client="client",
                    session="session",
                    score="score",
                    therapist="therapist",
                    therapist_random=tr,
                )

        seconds, m = timed(fit, repeat=3)
        assert isinstance(m, growth.GrowthResult)
        print(f"\n  {formula}")
        print(
            f"  toolkit.growth.fit (fast path)   {seconds:8.2f} s   converged={m.converged}, "
            f"Satterthwaite df {', '.join(f'{v:.1f}' for v in m.table['df'])}"
        )
        if lme4 is not None and key in lme4:
            r_seconds, version = lme4[key]
            where = f"measured in this run, {version}"
        else:
            r_seconds = float(ref["timing"]["median_seconds"])
            version = meta["R_version"]
            where = (
                f"committed figure (no Rscript with lme4 here): {version}, lme4 "
                f"{meta['packages']['lme4']}, {meta['cores_logical']} cores"
            )
        print(f"  lme4::lmer (bobyqa)              {r_seconds:8.2f} s   ({where})")
        print(f"  ratio toolkit / lme4             {seconds / r_seconds:8.2f}x")
        rel_ll = abs(m.loglik - ref["logLik"]) / abs(ref["logLik"])
        vc = m.variance_components.set_index(["group", "component"])["variance"]
        groups = ref["varcorr"]["groups"]
        pairs = [
            (vc[("client", "intercept")], groups["therapist:client"]["variance"]["(Intercept)"]),
            (vc[("client", "time")], groups["therapist:client"]["variance"]["session"]),
            (vc[("therapist", "intercept")], groups["therapist"]["variance"]["(Intercept)"]),
            (vc[("residual", "residual")], ref["varcorr"]["residual"]["variance"]),
        ]
        rel_vc = max(abs(a - b) / abs(b) for a, b in pairs)
        print(
            f"  agreement with lme4: log-likelihood {m.loglik:.4f} vs {ref['logLik']:.4f} "
            f"(relative {rel_ll:.1e}); variance components max relative {rel_vc:.1e}"
        )
        target(f"toolkit / lme4 ({key})", seconds / r_seconds, 3.0, unit="x")
        target(f"log-likelihood relative difference ({key})", rel_ll, 1e-6, unit="")
        target(f"variance components relative difference ({key})", rel_vc, 1e-4, unit="")
    finish()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
