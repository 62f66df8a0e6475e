"""Growth-model speed and memory: 1,000 and 10,000 clients x 10 sessions, random intercept + slope.

For each size, prints wall time and peak memory of
- ``toolkit.growth.fit`` (REML, the exact profiled fast path; validation of the long data
  included; ``ddf="wald"``, i.e. the fit alone, like for like with the peer),
- statsmodels ``MixedLM.fit(method="lbfgs")`` on the same rows (the peer: its quickest
  optimiser that reaches the optimum here; the default ``fit()`` is slower still and on such
  data can stop at a worse optimum, see the issue),
and the ratio, plus how far the two optima are apart (largest relative difference of the
estimates, and of the REML log-likelihoods). The reference from the issue: lme4 fits 5,000 x
10 in about 0.55 s on a 2-core machine (so about 1.1 s at 10,000 x 10; goal within 3x).

Then the small-sample tests: ``growth.fit`` with its default for REML fits, Satterthwaite
degrees of freedom for every fixed effect (as lmerTest), on 10,000 clients: the whole call
and the df step alone (median of 3), and, in the same run when ``Rscript`` with lmerTest is
installed, ``lmerTest::lmer`` + ``summary()`` (its Satterthwaite df) on the same rows (median
of 3; the df must agree to 3 significant digits). Target: under 2 s.

Run: ``.venv/bin/python benchmarks/bench_growth.py [n_clients ...]``
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import finish, peak_memory, target, timed

from toolkit import growth

N_SESSIONS = 10
COV = np.array([[25.0, -1.0], [-1.0, 1.0]])  # intercept and slope (co)variances
SIGMA = 3.0


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(N_SESSIONS, dtype=float)
    b = rng.standard_normal((n, 2)) @ np.linalg.cholesky(COV).T
    y = 30 + b[:, [0]] + (-1.5 + b[:, [1]]) * t + rng.normal(0, SIGMA, (n, N_SESSIONS))
    return pd.DataFrame(
        {
            "client": np.repeat(np.arange(1, n + 1), N_SESSIONS),
            "session": np.tile(np.arange(N_SESSIONS), n),
            "score": y.ravel(),
        }
    )


def toolkit_fit(df: pd.DataFrame, ddf: str = "wald"):
    return growth.fit(
        df,
        "score ~ time",
        client="client",
        session="session",
        score="score",
        random="slope",
        ddf=ddf,
        progress=False,
    )


def statsmodels_fit(df: pd.DataFrame):
    from statsmodels.regression.mixed_linear_model import MixedLM

    x = np.column_stack([np.ones(len(df)), df["session"].to_numpy(dtype=float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MixedLM(df["score"].to_numpy(), x, groups=df["client"].to_numpy(), exog_re=x).fit(
            reml=True, method="lbfgs"
        )


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000]
    for n in sizes:
        df = simulate(n)
        t_fast, m = timed(lambda: toolkit_fit(df), repeat=3)
        mem_fast = peak_memory(lambda: toolkit_fit(df))
        t_sm, r = timed(lambda: statsmodels_fit(df))
        mem_sm = peak_memory(lambda: statsmodels_fit(df))
        ours = np.r_[m.table["estimate"], m.variance_components["variance"]]
        cov = np.asarray(r.cov_re)
        theirs = np.r_[r.fe_params, cov[0, 0], cov[1, 1], cov[0, 1], r.scale]
        rel = np.max(np.abs(ours - theirs) / np.abs(theirs))
        print(
            f"growth model, random intercept + slope, REML: {n:,} clients x {N_SESSIONS} "
            f"sessions ({len(df):,} rows)"
        )
        print(
            f"  toolkit.growth.fit (fast path)    {t_fast:8.3f} s   peak {mem_fast:7.1f} MiB"
            f"   converged={m.converged}"
        )
        print(
            f"  statsmodels MixedLM lbfgs         {t_sm:8.3f} s   peak {mem_sm:7.1f} MiB"
            f"   converged={r.converged}"
        )
        print(
            f"  ratio statsmodels / toolkit       {t_sm / t_fast:8.1f}x time, "
            f"{mem_sm / mem_fast:5.1f}x memory"
        )
        print(
            f"  agreement: max relative difference of estimates {rel:.1e}; "
            f"log-likelihood toolkit - statsmodels {m.loglik - r.llf:+.2e}"
        )
        print(
            f"  lme4 reference (issue, scaled to n): ~{0.55 * n / 5000:.2f} s -> "
            f"toolkit at {t_fast / (0.55 * n / 5000):.2f}x lme4"
        )
        if n == 10_000:
            target("growth.fit 10,000 x 10 (median)", t_fast, 1.2 * 0.16)
            target("statsmodels / toolkit", t_sm / t_fast, 20.0, higher_is_better=True, unit="x")
        target(f"agreement with statsmodels ({n:,})", rel, 1e-4, unit="")
    satterthwaite(10_000)
    finish()


def satterthwaite(n: int) -> None:
    """The default REML fit with Satterthwaite df, and the df step alone."""
    from toolkit.growth import _inference

    df = simulate(n)
    t_all, m = timed(lambda: toolkit_fit(df, ddf="satterthwaite"), repeat=3)
    state = m._model
    t_df, _ = timed(
        lambda: _inference.satterthwaite(
            state["nested"], state["theta"], float(np.sqrt(state["sigma2"])), True
        ),
        repeat=3,
    )
    print(
        f"Satterthwaite degrees of freedom, random intercept + slope, REML: {n:,} clients x "
        f"{N_SESSIONS} sessions"
    )
    print(
        f"  growth.fit (default ddf for REML) {t_all:8.3f} s   of which the df step "
        f"{t_df:.3f} s; df {', '.join(f'{v:.1f}' for v in m.table['df'])}"
    )
    peer = lmertest_in_this_run(df)
    if peer is None:
        print("  lmerTest: not measured (no Rscript with lme4 and lmerTest here)")
    else:
        r_seconds, r_df, version = peer
        print(
            f"  lmerTest::lmer + summary()       {r_seconds:8.3f} s   ({version}); df "
            f"{', '.join(f'{v:.1f}' for v in r_df)}"
        )
        print(f"  ratio lmerTest / toolkit         {r_seconds / t_all:8.1f}x")
        rel = float(np.max(np.abs(m.table["df"].to_numpy() - r_df) / r_df))
        target("Satterthwaite df relative difference to lmerTest", rel, 5e-4, unit="")
    target(f"growth.fit with Satterthwaite df, {n:,} clients (median)", t_all, 2.0)


R_SATTERTHWAITE = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
d$client <- factor(d$client)
run <- function() {
  m <- lmerTest::lmer(score ~ session + (1 + session | client), d,
                      control = lmerControl(optimizer = "bobyqa"))
  summary(m)$coefficients[, "df"]
}
run()  # warm-up
t <- vapply(1:3, function(i) system.time(df <- run())[["elapsed"]], 0)
df <- run()
cat(sprintf("%.4f\t%s\t%s\n", median(t), paste(sprintf("%.10g", df), collapse = ","),
            R.version.string))
"""


def lmertest_in_this_run(df: pd.DataFrame) -> tuple[float, np.ndarray, str] | None:
    """lmerTest's median time (fit + Satterthwaite summary) and df now, or None without R."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script, data = Path(tmp) / "satterthwaite.R", Path(tmp) / "data.csv"
        script.write_text(R_SATTERTHWAITE)
        df.to_csv(data, index=False)
        try:
            res = subprocess.run(
                [rscript, str(script), str(data)], capture_output=True, text=True, timeout=1800
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if res.returncode != 0:
        print(f"  (Rscript failed: {res.stderr.strip().splitlines()[-1:]})")
        return None
    seconds, dfs, version = res.stdout.strip().splitlines()[-1].split("\t")
    return float(seconds), np.array([float(v) for v in dfs.split(",")]), version


if __name__ == "__main__":
    main()
