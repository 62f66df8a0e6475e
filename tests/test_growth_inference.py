"""Small-sample tests of growth models against lmerTest and pbkrtest (committed R values).

The reference values come from tests/reference/growth_lmer.R (R 4.2.2, lme4 1.1-31, lmerTest
3.1-3, pbkrtest 0.5.2), written to tests/reference/growth_lmer.json; no R is needed here.
Beat the Blues: R's read.csv sorts the factor levels, so R's reference arm is "BtheB" and
its coefficient is treatmentTAU = TAU - BtheB; the toolkit keeps the loader's order (TAU
first), so the same contrast is written C(treatment, contr.treatment('BtheB')) below.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import toolkit
from toolkit import growth
from toolkit.errors import OptionError, ToolkitWarning

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "growth_lmer.json").read_text(encoding="utf-8")
)["models"]
SLEEP = dict(client="subject", session="days", score="reaction")
BTHEB = dict(client="subject", session="time", score="bdi")
# R's treatment contrast (reference "BtheB"), so that the coefficients are R's.
BTHEB_R = "bdi ~ bdi_pre + time + C(treatment, contr.treatment('BtheB')) + drug + length"
R_TERMS = {
    "(Intercept)": "Intercept",
    "Days": "time",
    "bdi.pre": "bdi_pre",
    "time": "time",
    "treatmentTAU": "C(treatment, contr.treatment('BtheB'))[T.TAU]",
    "drugYes": "drug[T.Yes]",
    "length>6m": "length[T.>6m]",
}


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


def fit_reference(key: str, **kwargs):
    data, roles, formula = (
        (toolkit.datasets.load("sleepstudy"), SLEEP, "reaction ~ time")
        if key.startswith("sleepstudy")
        else (toolkit.datasets.load("btheb"), BTHEB, BTHEB_R)
    )
    random = "intercept" if "_intercept_" in key else "slope"
    method = "ml" if key.endswith("_ml") else "reml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ToolkitWarning)
        return growth.fit(
            data, formula, random=random, method=method, progress=False, **roles, **kwargs
        )


def reference_table(key: str, which: str = "fixed_satterthwaite") -> pd.DataFrame:
    rows = REFERENCE[key][which]
    return pd.DataFrame(rows).T.rename(index=R_TERMS)


SATTERTHWAITE = [
    "sleepstudy_intercept_reml",
    "sleepstudy_slope_reml",
    "sleepstudy_intercept_ml",
    "sleepstudy_slope_ml",
    "btheb_intercept_reml",
    "btheb_slope_reml",
]


@pytest.mark.parametrize("key", SATTERTHWAITE)
def test_satterthwaite_df_t_and_p_equal_lmertest(key):
    # lmerTest's summary(m, ddf = "Satterthwaite") to 3 significant digits (in fact to
    # about 6: the same Hessian of the deviance in (theta, sigma), by other numerics).
    m = fit_reference(key, ddf="satterthwaite")
    ref = reference_table(key)
    ours = m.table.set_index("term").loc[ref.index]
    assert m.settings["ddf_used"] == "satterthwaite"
    for col, theirs in (("df", "df"), ("statistic", "t_value"), ("se", "std_error")):
        assert [sig3(v) for v in ours[col]] == [sig3(v) for v in ref[theirs]], col
        np.testing.assert_allclose(ours[col], ref[theirs].astype(float), rtol=2e-5)
    # p-values: 3 significant digits where R did not underflow.
    for ours_p, their_p in zip(ours["p_value"], ref["p_value"].astype(float)):
        assert sig3(ours_p) == sig3(their_p) or their_p == 0
    # The interval is the t interval with those df.
    half = stats.t.ppf(0.975, ours["df"]) * ours["se"]
    np.testing.assert_allclose(ours["ci_upper"] - ours["estimate"], half, rtol=1e-10)


def test_the_issues_example_small_trial_p_value():
    # 18 subjects: the time slope's Wald z p-value is 1.3e-11, lmerTest's 3.3e-6.
    reml = fit_reference("sleepstudy_slope_reml")  # ddf="auto": Satterthwaite for REML
    p = reml.table.set_index("term").loc["time", "p_value"]
    assert sig3(p) == sig3(
        REFERENCE["sleepstudy_slope_reml"]["fixed_satterthwaite"]["Days"]["p_value"]
    )
    wald = fit_reference("sleepstudy_slope_reml", ddf="wald")
    row = wald.table.set_index("term").loc["time"]
    assert np.isinf(row["df"]) and sig3(row["p_value"]) == 1.27e-11
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["statistic"])))
    # ML fits default to Wald z (they serve likelihood-ratio tests and large samples).
    assert fit_reference("sleepstudy_slope_ml").settings["ddf_used"] == "wald"


@pytest.mark.parametrize(
    "key",
    [
        "sleepstudy_intercept_reml",
        "sleepstudy_slope_reml",
        "btheb_intercept_reml",
        "btheb_slope_reml",
    ],
)
def test_kenward_roger_equals_pbkrtest(key):
    m = fit_reference(key, ddf="kenward-roger")
    ref = reference_table(key, "fixed_kenward_roger")
    ours = m.table.set_index("term").loc[ref.index]
    for col, theirs in (("df", "df"), ("statistic", "t_value"), ("se", "std_error")):
        assert [sig3(v) for v in ours[col]] == [sig3(v) for v in ref[theirs]], col
        np.testing.assert_allclose(ours[col], ref[theirs].astype(float), rtol=1e-4)
    vcov = pd.DataFrame(REFERENCE[key]["vcov_kenward_roger"]).rename(index=R_TERMS, columns=R_TERMS)
    np.testing.assert_allclose(
        m.fixed_cov.loc[vcov.index, vcov.columns], vcov.astype(float), rtol=1e-4
    )
    assert "Kenward, M. G., & Roger, J. H. (1997)" in m.methods_text()


@pytest.mark.parametrize("engine", ["fast", "statsmodels"])
def test_fixed_effects_covariance_equals_lme4_vcov_from_both_engines(engine):
    for key in ("sleepstudy_slope_reml", "btheb_intercept_reml"):
        m = fit_reference(key, engine=engine)
        vcov = pd.DataFrame(REFERENCE[key]["vcov"]).rename(index=R_TERMS, columns=R_TERMS)
        ours = m.fixed_cov.loc[vcov.index, vcov.columns]
        np.testing.assert_allclose(ours, vcov.astype(float), rtol=2e-4)
        np.testing.assert_allclose(
            np.sqrt(np.diag(ours)), m.table.set_index("term").loc[vcov.index, "se"]
        )
        assert m.engine == engine
    # A custom random-effects formula (statsmodels only) gets Satterthwaite df too.
    custom = growth.fit(
        toolkit.datasets.load("sleepstudy"),
        "reaction ~ time",
        random="~ time",
        progress=False,
        **SLEEP,
    )
    ref = reference_table("sleepstudy_slope_reml")
    np.testing.assert_allclose(
        custom.table.set_index("term").loc[ref.index, "df"], ref["df"].astype(float), rtol=1e-3
    )


def test_ddf_options_are_checked():
    sleep = toolkit.datasets.load("sleepstudy")
    with pytest.raises(OptionError, match=r"'ddf' parameter of growth.fit must be one of"):
        growth.fit(sleep, ddf="lme4", **SLEEP)
    with pytest.raises(OptionError, match=r"REML fits.*method='reml'"):
        growth.fit(sleep, method="ml", ddf="kenward-roger", **SLEEP)


def test_satterthwaite_df_stay_finite_at_a_boundary_fit():
    # A random slope whose variance is exactly at zero: the deviance is flat there.
    rng = np.random.default_rng(3)
    n, s = 60, 5
    y = 10 + rng.normal(0, 2, (n, 1)) + 0.5 * np.arange(s) + rng.normal(0, 1, (n, s))
    df = pd.DataFrame(
        {
            "client": np.repeat(np.arange(n), s),
            "session": np.tile(np.arange(s), n),
            "score": y.ravel(),
        }
    )
    with pytest.warns(ToolkitWarning) as caught:
        m = growth.fit(df, client="client", session="session", score="score")
    assert m.singular
    messages = " ".join(str(w.message) for w in caught)
    assert "Singular" in messages
    assert np.all(np.isfinite(m.table["df"])) and np.all(m.table["df"] > 0)
