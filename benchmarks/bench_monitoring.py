"""Monitoring speed: expected curves and flags for 1,000,000 clients, and an online update.

1. Expected curves and not-on-track flags for 1,000,000 monitored clients x 20 sessions
   (PHQ-9, simulated with deteriorators and late responders): the curve model fitted on a
   separate reference cohort of 20,000 clients, then ``flag`` on the million; also the
   neighbours method (matching on the intake score). The peer is a plain per-client loop
   (each client's expected scores, band and flags computed one client at a time with NumPy
   from the same fitted model), timed on 20,000 clients and scaled to the million. Target:
   fit + flags <= 10 s on 2 cores. Validation of the long data (``toolkit.long_scores``) is
   timed separately: it is done once, whatever is run next.
2. The online monitor (Bayesian online change points) of 100,000 clients after 19 sessions,
   updated with session 20: ``OnlineMonitor.update`` (vectorised over clients, run lengths
   capped at the sessions seen, negligible mass pruned). The peer is a plain per-client
   NumPy step (one client at a time, the same model), timed on 10,000 clients and scaled.
   Target: <= 1 s.

Run: ``.venv/bin/python benchmarks/bench_monitoring.py [n_monitored]``
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _common import finish, target, timed
from scipy import stats
from scipy.special import gammaln

import toolkit
from toolkit import monitoring
from toolkit.simulate import trajectories

N_SESSIONS = 20
N_REFERENCE = 20_000
N_ONLINE = 100_000


def cohort(n: int, seed: int) -> pd.DataFrame:
    df, _ = trajectories(
        n,
        N_SESSIONS,
        instrument="PHQ-9",
        seed=seed,
        shape="log",
        deteriorator_share=0.1,
        late_responder_share=0.15,
        missing=0.05,
    )
    return df


def per_client_flags(expected, x: np.ndarray, level: float) -> int:
    """The peer: one client at a time, the same curve model, NumPy per client."""
    fit = expected.fitted.models[0]
    assert fit.r == 2 and fit.q == 2  # intake only, random intercept and slope
    t = np.log1p(np.arange(1, x.shape[1], dtype=float))
    z = stats.norm.ppf(0.5 + level / 2)
    n_flags = 0
    for row in x:
        c = np.array([1.0, row[0] - fit.centre[0]])
        xt = np.column_stack([np.outer(np.ones_like(t), c), np.outer(t, c)])
        mean = xt @ fit.beta
        zt = np.column_stack([np.ones_like(t), t])
        var = (
            np.einsum("ij,jk,ik->i", xt, fit.cov_beta, xt)
            + np.einsum("ij,jk,ik->i", zt, fit.cov_re, zt)
            + fit.sigma2
        )
        upper = mean + z * np.sqrt(var)
        obs = row[1:]
        n_flags += int(np.sum(obs > upper))
    return n_flags


def per_client_online_step(state, x: np.ndarray, rows: np.ndarray) -> None:
    """The peer: one BOCPD step per client with its own arrays (no vectorisation)."""
    arr, prior = state.arrays, state.prior
    h = 1.0 / state.settings["hazard"]
    for i, xi in zip(rows, x):
        t = int(arr.t[i])
        w = arr.w[i, :t]
        mu, ka, al, be = (getattr(arr, k)[i, :t] for k in ("mu", "kappa", "alpha", "beta"))
        df = 2 * al
        s2 = be * (ka + 1) / (al * ka)
        lp = (
            gammaln((df + 1) / 2)
            - gammaln(df / 2)
            - 0.5 * np.log(np.pi * df * s2)
            - (df + 1) / 2 * np.log1p((xi - mu) ** 2 / (df * s2))
        )
        df0 = 2 * prior.alpha0
        s20 = prior.beta0 * (prior.kappa0 + 1) / (prior.alpha0 * prior.kappa0)
        lp0 = (
            gammaln((df0 + 1) / 2)
            - gammaln(df0 / 2)
            - 0.5 * np.log(np.pi * df0 * s20)
            - (df0 + 1) / 2 * np.log1p((xi - prior.mu0) ** 2 / (df0 * s20))
        )
        grow = w * (1 - h) * np.exp(lp)
        new = np.r_[h * np.exp(lp0), grow]
        new /= new.sum()
        k1 = ka + 1
        _ = (
            new,
            np.r_[(prior.kappa0 * prior.mu0 + xi) / (prior.kappa0 + 1), (ka * mu + xi) / k1],
            np.r_[prior.beta0, be + ka * (xi - mu) ** 2 / (2 * k1)],
            stats.norm.cdf(0.0),
        )


def main() -> None:
    n_mon = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    t0 = time.perf_counter()
    df = cohort(N_REFERENCE + n_mon, seed=1)
    took = time.perf_counter() - t0
    print(f"simulated {N_REFERENCE + n_mon:,} clients x {N_SESSIONS} in {took:.1f} s")
    t_val, scores = timed(
        lambda: toolkit.long_scores(
            df,
            client="client",
            session="session",
            score="score",
            instrument="PHQ-9",
            covariates=[],
        ),
        repeat=3,
    )
    ref = scores.subset(list(range(1, N_REFERENCE + 1)))
    mon = scores.subset(list(range(N_REFERENCE + 1, N_REFERENCE + n_mon + 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", toolkit.errors.ToolkitWarning)
        t_fit, expected = timed(lambda: monitoring.expected_response(ref, folds=None), repeat=3)
        t_flag, flags = timed(lambda: expected.flag(mon), repeat=3)
        nb = monitoring.expected_response(ref, method="neighbours", folds=None)
        t_nb, _ = timed(lambda: nb.flag(mon), repeat=3)
    x = mon.to_matrix()
    n_peer = 20_000
    t_peer, peer_flags = timed(lambda: per_client_flags(expected, x[:n_peer], 0.8), repeat=3)
    first_peer = flags.table["client"] <= N_REFERENCE + n_peer
    ours_sub = int(flags.table.loc[first_peer, "not_on_track"].sum())
    t_peer_all = t_peer * n_mon / n_peer
    total = t_fit + t_flag
    print(
        f"\nexpected curves + flags: reference {N_REFERENCE:,}, monitored {n_mon:,} x {N_SESSIONS}"
    )
    print(f"  validation (long_scores, once)           {t_val:8.3f} s")
    print(f"  expected_response (curve, REML fit)      {t_fit:8.3f} s")
    print(f"  flag {n_mon:,} clients ({len(flags.table):,} rows)  {t_flag:8.3f} s")
    print(f"  fit + flags                              {total:8.3f} s")
    print(f"  neighbours method, flag                  {t_nb:8.3f} s")
    print(f"  peer: per-client loop ({n_peer:,} clients) {t_peer:8.3f} s")
    print(f"    scaled to {n_mon:,} clients             {t_peer_all:8.1f} s")
    print(f"  ratio peer / toolkit (flags)             {t_peer_all / t_flag:8.1f}x")
    print(f"  agreement with the peer on {n_peer:,} clients: {ours_sub} vs {peer_flags} flags")
    target("expected curves and flags, 1,000,000 x 20 (fit + flag, median)", total, 10.0)
    target("flags agree with the per-client peer", abs(ours_sub - peer_flags), 0, unit="flags")

    # --- online update ----------------------------------------------------------------
    n_online = min(N_ONLINE, scores.n_clients)
    on = scores.subset(list(range(1, n_online + 1)))
    first19 = on.subset(query="session <= 19")
    last = on.subset(query="session == 20")
    t_batch, monitor = timed(lambda: monitoring.online(first19), repeat=3)
    state = monitor.state
    t_up, res = timed(lambda: monitoring.OnlineMonitor(state).update(last), repeat=3)
    raw_last = pd.DataFrame(
        {"client": last.clients, "session": 20, "score": last.to_matrix()[:, -1]}
    )
    t_up_df, _ = timed(
        lambda: monitoring.OnlineMonitor(state).update(
            raw_last, client="client", session="session", score="score"
        ),
        repeat=3,
    )
    n_peer_on = 10_000
    rows = np.arange(n_peer_on)
    xs = last.to_matrix()[:n_peer_on, -1]
    t_peer_on, _ = timed(lambda: per_client_online_step(state, xs, rows), repeat=3)
    t_peer_on_all = t_peer_on * n_online / n_peer_on
    print(f"\nonline monitor: {n_online:,} clients, 19 sessions, then one new session")
    print(f"  online() over 19 sessions                {t_batch:8.3f} s")
    print(f"  update() with session 20 (LongScores)    {t_up:8.3f} s   width {state.arrays.width}")
    print(f"  update() with session 20 (DataFrame)     {t_up_df:8.3f} s")
    print(f"  peer: per-client step ({n_peer_on:,} clients) {t_peer_on:8.3f} s")
    print(f"    scaled to {n_online:,} clients             {t_peer_on_all:8.2f} s")
    print(f"  ratio peer / toolkit                     {t_peer_on_all / t_up:8.1f}x")
    target("online update of 100,000 clients by one session (median)", t_up, 1.0)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finish()


if __name__ == "__main__":
    main()
