"""The calibration study's own arithmetic (``benchmarks/calibration_bayes.py``).

The study judges the Bayesian models, so its coverage at exactly 90%, its Monte Carlo
standard errors and its controlled generator variant are checked here against hand-worked
values and known properties.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import _second_generator
import calibration_bayes


def posterior(probabilities: dict[int, float], client: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": client,
            "session": list(probabilities),
            "probability": list(probabilities.values()),
        }
    )


def test_exact_level_cover_counts_the_boundary_session_fractionally() -> None:
    # Worked by hand: sessions 3, 4, 5 hold 0.5, 0.3, 0.2. A set of exactly 90% takes
    # session 3 and 4 whole (0.8) and half of session 5 (0.1 of its 0.2).
    cp = posterior({3: 0.5, 4: 0.3, 5: 0.2})
    for true, expected in [(3, 1.0), (4, 1.0), (5, 0.5), (6, 0.0)]:
        truth = pd.DataFrame({"client": [1], "session": [float(true)]})
        cover = calibration_bayes.exact_level_cover(cp, truth, 0.9)
        assert cover.loc[1] == pytest.approx(expected)


def test_exact_level_cover_is_the_level_when_truth_follows_the_posterior() -> None:
    # Averaged over true sessions drawn from the posterior itself, the cover is exactly the
    # level, however concentrated the posterior (the discrete sets hold more than 90%).
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.dirichlet(np.full(6, 0.3))
        cp = posterior(dict(zip(range(3, 9), p)))
        covers = []
        for s in range(3, 9):
            truth = pd.DataFrame({"client": [1], "session": [float(s)]})
            covers.append(calibration_bayes.exact_level_cover(cp, truth, 0.9).loc[1])
        assert np.dot(p, covers) == pytest.approx(0.9, abs=1e-12)


def cohort_table(values: np.ndarray) -> pd.DataFrame:
    """One no-change client per cohort with P(breakthrough) ``values`` and one true change
    that is a breakthrough with P 1 (so expected / true = 1 + value per cohort)."""
    n = len(values)
    base = dict(jump_lower=-1.0, jump_upper=1.0, true_jump=0.0, set_cover_exact=1.0)
    rows = [
        dict(cohort=c, change=False, true_breakthrough=False, p_breakthrough=v, **base)
        for c, v in enumerate(values)
    ] + [
        dict(cohort=c, change=True, true_breakthrough=True, p_breakthrough=1.0, **base)
        for c in range(n)
    ]
    return pd.DataFrame(rows)


def test_monte_carlo_se_resamples_whole_cohorts() -> None:
    rng = np.random.default_rng(5)
    values = rng.uniform(0.0, 0.6, 40)
    figures = calibration_bayes.ratio_figures(cohort_table(values))
    # expected / true = mean over cohorts of (1 + value): the bootstrap SE of a mean
    value, se = figures["expected / true breakthroughs"]
    assert value == pytest.approx(1.0 + values.mean())
    analytic = values.std(ddof=0) / np.sqrt(len(values))
    assert se == pytest.approx(analytic, rel=0.1)
    # every cohort covers its one change: no variation to resample
    assert figures["jump HDI coverage, all changes"] == (1.0, 0.0)
    assert figures["false breakthroughs"][0] == pytest.approx(np.mean(values > 0.5))
    same = calibration_bayes.ratio_figures(cohort_table(np.full(10, 0.3)))
    assert same["expected / true breakthroughs"][1] == pytest.approx(0.0, abs=1e-12)


def test_normal_drops_change_only_the_drops() -> None:
    scores_u, truth_u = _second_generator.generate(4000, 11)
    scores_n, truth_n = _second_generator.generate(4000, 11, drops="normal")
    assert (truth_u["change"] == truth_n["change"]).all()
    assert (truth_u["session"] == truth_n["session"]).all()
    assert (truth_u["noise_sd"] == truth_n["noise_sd"]).all()
    drops = truth_n.loc[truth_n["change"], "drop"]
    assert drops.mean() == pytest.approx(5.5, abs=0.1)
    assert drops.std() == pytest.approx(5.0 / np.sqrt(12.0), rel=0.05)
    with pytest.raises(ValueError, match="drops="):
        _second_generator.generate(10, 1, drops="Normal")
    # the normal quantile of the same uniform draw: the order of the drops is kept
    uniform = truth_u.loc[truth_u["change"], "drop"]
    assert (np.argsort(uniform.to_numpy()) == np.argsort(drops.to_numpy())).all()
    # clients without a drop have identical scores
    calm = truth_u.loc[~truth_u["change"], "client"]
    keep_u = scores_u[scores_u["client"].isin(calm)].reset_index(drop=True)
    keep_n = scores_n[scores_n["client"].isin(calm)].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep_u, keep_n)


def test_oracle_tail_coverage_is_nominal_overall_and_below_it_in_the_tail() -> None:
    rng = np.random.default_rng(8)
    tau, se = 1.41, 1.3
    true_jump = -rng.normal(5.4, tau, 5_000)
    # a criterion below every jump: the posterior's own coverage, 90%
    assert calibration_bayes.oracle_tail_coverage(true_jump, se, 0.0) == pytest.approx(
        0.9, abs=0.005
    )
    # the tail above 6 points, by quadrature: given the jump d, the posterior mean's error
    # is normal with mean (1 - lam)(d - m) and SD lam se; shrinkage pulls large jumps in
    lam = tau**2 / (tau**2 + se**2)
    half = 1.6449 * np.sqrt(lam) * se

    def covered(d: float) -> float:
        bias, spread = (1 - lam) * (d - 5.4), lam * se
        return norm.cdf((half - bias) / spread) - norm.cdf((-half - bias) / spread)

    num = quad(lambda d: covered(d) * norm.pdf(d, 5.4, tau), 6.0, np.inf)[0]
    expected = num / norm.sf(6.0, 5.4, tau)
    assert expected < 0.88
    tail = calibration_bayes.oracle_tail_coverage(true_jump, np.full(true_jump.size, se), 6.0)
    assert tail == pytest.approx(expected, abs=0.01)


def test_jump_se_floor_counts_observed_scores_either_side() -> None:
    scores = pd.DataFrame(
        {
            "client": [1] * 6 + [2] * 5,
            "session": [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5],
            "score": [9, 9, np.nan, 5, 5, 5, 8, 8, 8, 8, 8],
        }
    )
    truth = pd.DataFrame({"client": [1, 2], "session": [4.0, np.nan]})
    se = calibration_bayes.jump_se_floor(scores, truth, pd.Series({1: 2.0, 2: 2.0}))
    # client 1: 2 observed scores before session 4 (session 3 is missing), 3 from it on
    assert se.loc[1] == pytest.approx(2.0 * np.sqrt(1 / 2 + 1 / 3))
    assert 2 not in se.index  # no change


def test_second_generator_marks_the_gradually_improving_courses() -> None:
    scores, truth = _second_generator.generate(4000, 12)
    assert truth["improving"].mean() == pytest.approx(0.75, abs=0.02)
    # without a drop, improving courses end lower than they start; the others drift
    calm = truth[~truth["change"]].set_index("client")["improving"]
    wide = scores.pivot(index="client", columns="session", values="score").loc[calm.index]
    fall = wide[1] - wide[[10, 11, 12]].mean(axis=1)
    assert fall[calm].mean() > 3.0
    assert abs(fall[~calm].mean()) < 0.5


def test_by_course_splits_the_large_drops_coverage() -> None:
    big = pd.DataFrame(
        {
            "improving": [True, True, True, False, False],
            "true_jump": [-7.0, -7.0, -7.0, -7.0, -7.0],
            "jump_lower": [-8.0, -8.0, -6.5, -8.0, -6.0],
            "jump_upper": [-6.0, -6.0, -5.0, -6.0, -5.0],
        }
    )
    text = calibration_bayes.by_course(big)
    assert text == "0.667 of 3 on a gradual improvement, 0.500 of 2 without one"


def test_by_size_bins_the_changes_by_the_criterion() -> None:
    changed = pd.DataFrame(
        {
            "true_jump": [-2.0, -5.0, -6.5, -9.0, -10.0],
            "jump_lower": [-3.0, -6.0, -6.0, -8.0, -11.0],
            "jump_upper": [-1.0, -4.0, -5.0, -6.0, -9.0],
        }
    )
    text = calibration_bayes.by_size(changed, 6.0)
    assert text == (
        "1.000 of 1 in [0, 0.5), 1.000 of 1 in [0.5, 1), 0.000 of 1 in [1, 1.25), "
        "0.500 of 2 in [1.25, )"
    )


def test_by_noise_bins_the_large_drops_by_the_true_noise_sd() -> None:
    big = pd.DataFrame(
        {
            "noise_sd": [1.3, 1.7, 2.0, 2.9, 2.95],
            "true_jump": [-7.0, -7.0, -7.0, -7.0, -7.0],
            "jump_lower": [-8.0, -6.5, -8.0, -8.0, -8.0],
            "jump_upper": [-6.0, -5.0, -6.0, -7.5, -6.0],
        }
    )
    text = calibration_bayes.by_noise(big)
    assert text == "0.500 of 2 in [1.2, 1.8), 1.000 of 1 in [1.8, 2.4), 0.500 of 2 in [2.4, 3)"


def test_by_cohort_gives_the_range_and_the_side_of_the_misses() -> None:
    big = pd.DataFrame(
        {
            "cohort": [1, 1, 2, 2, 2, 2],
            "true_jump": [-7.0, -7.0, -7.0, -7.0, -7.0, -7.0],
            # cohort 1: one hit, one miss towards a smaller drop; cohort 2: three hits and
            # one miss towards a larger drop (the interval lies below the true jump)
            "jump_lower": [-8.0, -6.0, -8.0, -8.0, -8.0, -9.0],
            "jump_upper": [-6.0, -5.0, -6.0, -6.0, -6.0, -7.5],
        }
    )
    text = calibration_bayes.by_cohort(big)
    assert (
        text == "0.50 to 0.75 over 2 cohorts; 1 of 2 misses put the drop smaller than the true one"
    )
