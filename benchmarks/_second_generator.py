"""A second, independently written generator of PHQ-9-like courses, for calibration only.

Written for the calibration study of ``toolkit.bayes`` without reusing ``toolkit.simulate``
and without following the Bayesian model's assumptions, so that the model is checked on
courses of a different shape from the ones it describes:

- **intake severity**: latent score ~ Normal(16.5, 4.5), kept within [8, 27] (clients enter
  treatment above caseness, mostly);
- **gradual decline, not a straight line**: 75% of clients improve along an exponential
  curve towards their own asymptote, ``m(t) = a + (b - a) exp(-r (t - 1))`` with the
  asymptote ``a = b x Uniform(0.3, 0.9)`` and rate ``r ~ LogNormal(log 0.15, 0.6)`` per
  session; the other 25% drift by Normal(0, 0.15) points per session;
- **sudden drops**: 45% of clients have one drop of Uniform(3, 8) points (latent scale) that
  takes effect at a session drawn uniformly from 3 to 11 and persists (``drops="normal"``:
  Normal with the same mean and SD, 5.5 and 1.44, the rest unchanged, draw for draw);
- **noise that differs between clients**: Normal with the client's own SD ~ Uniform(1.2,
  3.0) points;
- **integer scores with floor and ceiling**: observed = round(latent + noise), clipped to
  0-27 (clients near the floor show smaller drops than their latent ones);
- **missed sessions**: every session after the first is missed with probability 0.12, and
  15% of clients stop attending after a session drawn uniformly from 5 to 11.

Truth (one row per client): ``change`` (a drop was drawn), ``session`` (the first session at
the lower level), ``drop`` (latent size, points), ``true_jump``: the change that the drop
makes to the client's *expected observed* score at that session (negative = improvement),
computed exactly over the integers 0-27 with the client's noise SD, so that the floor effect
is part of the truth; ``observable``: at least 2 observed scores before the change session
and 2 from it on (changes the data cannot show are left out of the calibration targets);
``noise_sd``; ``improving``: the client's course declines along the exponential curve (the
others drift).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

N_SESSIONS = 12
MAX_SCORE = 27


def expected_observed(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[clip(round(mean + sd Z), 0, 27)] exactly, element-wise."""
    values = np.arange(MAX_SCORE + 1)
    upper = np.where(values == MAX_SCORE, np.inf, values + 0.5)
    lower = np.where(values == 0, -np.inf, values - 0.5)
    z_hi = (upper[None, :] - mean[:, None]) / sd[:, None]
    z_lo = (lower[None, :] - mean[:, None]) / sd[:, None]
    prob = ndtr(z_hi) - ndtr(z_lo)
    return prob @ values


def generate(
    n_clients: int, seed: int, drops: str = "uniform"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long scores (``client``, ``session``, ``score``; missed sessions left out) and truth."""
    if drops not in ("uniform", "normal"):
        raise ValueError(f"drops={drops!r}: use 'uniform' or 'normal'.")
    rng = np.random.default_rng([seed, 20260917])
    n, t = n_clients, np.arange(1, N_SESSIONS + 1)
    b = np.clip(rng.normal(16.5, 4.5, n), 8, 27)
    responder = rng.random(n) < 0.75
    asymptote = b * rng.uniform(0.3, 0.9, n)
    rate = np.exp(rng.normal(np.log(0.15), 0.6, n))
    drift = rng.normal(0.0, 0.15, n)
    curve = asymptote[:, None] + (b - asymptote)[:, None] * np.exp(-rate[:, None] * (t - 1))
    line = b[:, None] + drift[:, None] * (t - 1)
    latent = np.where(responder[:, None], curve, line)
    change = rng.random(n) < 0.45
    session = rng.integers(3, N_SESSIONS, n)  # 3 .. 11
    drop = rng.uniform(3.0, 8.0, n)
    if drops == "normal":  # the same draws' normal quantiles: every other draw unchanged
        drop = 5.5 + 5.0 / np.sqrt(12.0) * ndtri((drop - 3.0) / 5.0)
    after = t[None, :] >= session[:, None]
    latent = latent - np.where(change[:, None] & after, drop[:, None], 0.0)
    sd = rng.uniform(1.2, 3.0, n)
    observed = np.clip(np.round(latent + sd[:, None] * rng.standard_normal((n, N_SESSIONS))), 0, 27)
    missed = rng.random((n, N_SESSIONS)) < 0.12
    missed[:, 0] = False
    stops = rng.random(n) < 0.15
    last = np.where(stops, rng.integers(5, N_SESSIONS, n), N_SESSIONS)  # last attended session
    missed |= t[None, :] > last[:, None]
    # The drop's effect on the expected observed score at the change session.
    rows = np.arange(n)
    at_k = latent[rows, session - 1]  # latent mean with the drop (where there is one)
    without = at_k + np.where(change, drop, 0.0)
    true_jump = expected_observed(at_k, sd) - expected_observed(without, sd)
    seen = ~missed
    before = (seen & ~after).sum(axis=1)
    from_k = (seen & after).sum(axis=1)
    clients = rows + 1
    long = pd.DataFrame(
        {
            "client": np.repeat(clients, N_SESSIONS),
            "session": np.tile(t, n),
            "score": observed.ravel(),
        }
    )[seen.ravel()].reset_index(drop=True)
    truth = pd.DataFrame(
        {
            "client": clients,
            "change": change,
            "session": np.where(change, session, -1),
            "drop": np.where(change, drop, 0.0),
            "true_jump": np.where(change, true_jump, 0.0),
            "observable": ~change | ((before >= 2) & (from_k >= 2)),
            "noise_sd": sd,
            "improving": responder,
        }
    )
    return long, truth


if __name__ == "__main__":  # a quick look
    data, truth = generate(10, 1)
    print(data.pivot(index="client", columns="session", values="score"))
    print(truth)
