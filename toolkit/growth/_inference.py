"""Small-sample inference for the fixed effects: Satterthwaite and Kenward-Roger df, Wald z.

Satterthwaite (as lmerTest, Kuznetsova et al., 2017): for a contrast l'beta with variance
v(phi) = l' C(phi) l, phi = (theta, sigma) the variance parameters and C(phi) = sigma^2
(X'V^-1X / sigma^2)^-1,

    df = 2 v^2 / (g' A g),   g = dv/dphi,   A = 2 H^-1,

where H is the Hessian of the deviance (REML or ML, as fitted) in phi with beta profiled
out (its generalised inverse over positive eigenvalues), computed by central differences of
the exact gradient, and dC/dphi by central differences in theta (exact in sigma).

Kenward-Roger (as pbkrtest, Halekoh & Højsgaard, 2014; Kenward & Roger, 1997), REML fits of
two-level models: with V = sum_r gamma_r G_r linear in the (co)variances and
P_r = -X'V^-1 G_r V^-1 X, Q_rs = X'V^-1 G_r V^-1 G_s V^-1 X, W = 2 I_E^-1 the inverse expected
information (I_E,rs = tr(Pi G_r Pi G_s) / 2 with Pi the REML projection), the adjusted
covariance is Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi and the df of a
single contrast follow pbkrtest's ``Lb_ddf``. The per-client blocks of V make both exact
without n x n matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ._nested import Nested
from ._optim import hessian

__all__ = ["Inference", "satterthwaite", "kenward_roger", "wald", "DDF"]

#: Values of ``ddf=`` in :func:`toolkit.growth.fit`.
DDF = ("auto", "satterthwaite", "kenward-roger", "wald")


@dataclass(frozen=True)
class Inference:
    """What a contrast's standard error and df need."""

    method: str
    cov: np.ndarray  # covariance of beta behind the table's SEs (KR: adjusted)
    cov0: np.ndarray  # sigma^2 (X'V^-1X)^-1 at the estimates (lme4's vcov)
    jac: np.ndarray | None = None  # Satterthwaite: (k, p, p) dC/dphi
    vcov_varpar: np.ndarray | None = None  # Satterthwaite: (k, k) A = 2 H^-1
    kr_p: np.ndarray | None = None  # Kenward-Roger: (m, p, p) P_r
    kr_w: np.ndarray | None = None  # Kenward-Roger: (m, m) W
    messages: list[str] = field(default_factory=list)

    def contrast(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standard errors and df of the contrasts ``rows @ beta`` (rows: m x p)."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        var = np.einsum("mi,ij,mj->m", rows, self.cov, rows)
        se = np.sqrt(np.maximum(var, 0.0))
        if self.method == "wald":
            return se, np.full(len(rows), np.inf)
        if self.method == "satterthwaite":
            assert self.jac is not None and self.vcov_varpar is not None
            v0 = np.einsum("mi,ij,mj->m", rows, self.cov0, rows)
            g = np.einsum("mi,kij,mj->mk", rows, self.jac, rows)
            denom = np.einsum("mk,kl,ml->m", g, self.vcov_varpar, g)
            with np.errstate(divide="ignore", invalid="ignore"):
                df = np.where(denom > 0, 2.0 * v0 * v0 / denom, np.inf)
            return se, df
        assert self.kr_p is not None and self.kr_w is not None
        return se, _kr_df(rows, self.cov0, self.kr_p, self.kr_w)

    def quantile(self, df: np.ndarray, level: float) -> np.ndarray:
        """The two-sided critical value: t with df (normal where df is infinite)."""
        df = np.asarray(df, dtype=float)
        z = stats.norm.ppf(0.5 + level / 2)
        finite = np.isfinite(df) & (df > 0)
        out = np.full(df.shape, z)
        out[finite] = stats.t.ppf(0.5 + level / 2, df[finite])
        return out

    def p_values(self, statistic: np.ndarray, df: np.ndarray) -> np.ndarray:
        """Two-sided p-values of t (or z) statistics."""
        statistic = np.abs(np.asarray(statistic, dtype=float))
        df = np.asarray(df, dtype=float)
        out = 2 * stats.norm.sf(statistic)
        finite = np.isfinite(df) & (df > 0)
        out[finite] = 2 * stats.t.sf(statistic[finite], df[finite])
        return out


def wald(cov: np.ndarray) -> Inference:
    """Wald z: the normal reference distribution."""
    return Inference("wald", cov, cov)


def satterthwaite(nm: Nested, theta: np.ndarray, sigma: float, reml: bool) -> Inference:
    """Satterthwaite df machinery at (theta, sigma) (see the module docstring)."""
    vp = np.r_[np.asarray(theta, dtype=float), float(sigma)]
    # The Hessian is taken in (theta, sigma / sigma_hat), which are free of the scores'
    # unit, so its steps and the flatness tolerance below mean the same for scores in
    # milliseconds or in 1e-12 units; d = diag(1, ..., 1, sigma_hat) maps it back.
    d = np.ones(len(vp))
    d[-1] = float(sigma)

    def grad(u: np.ndarray) -> np.ndarray:
        return nm.deviance_vp(u * d, reml, True)[1] * d

    with np.errstate(all="ignore"):
        h = hessian(grad, vp / d)
    messages: list[str] = []
    vals, vecs = np.linalg.eigh(h)
    tol = 1e-8  # as lmerTest: eigenvalues within 1e-8 of zero are flat directions
    pos = vals > tol
    if (~pos).any():
        messages.append(
            "Satterthwaite degrees of freedom: the deviance is not curved upwards in "
            f"{int((~pos).sum())} direction(s) of the variance parameters (eigenvalue(s) "
            f"{', '.join(f'{v:.1e}' for v in vals[~pos])}), as at a boundary (singular) fit; "
            "those directions are left out (a generalised inverse, as lmerTest does). Read "
            "the df with caution."
        )
    a = 2.0 * (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T * np.outer(d, d)
    cov0 = nm.cov_beta_vp(vp)
    k = len(vp)
    jac = np.empty((k, nm.p, nm.p))
    for j in range(k - 1):
        step = 1e-5 * max(1.0, abs(vp[j]))
        e = np.zeros(k)
        e[j] = step
        jac[j] = (nm.cov_beta_vp(vp + e) - nm.cov_beta_vp(vp - e)) / (2 * step)
    jac[k - 1] = 2.0 * cov0 / float(sigma)
    return Inference("satterthwaite", cov0, cov0, jac=jac, vcov_varpar=a, messages=messages)


def _kr_df(rows: np.ndarray, v0: np.ndarray, p_r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """pbkrtest's ``Lb_ddf`` for single contrasts (q = 1), one per row."""
    lv = rows @ v0  # (m, p)
    denom = np.einsum("mi,mi->m", lv, rows)
    a_r = np.einsum("mi,rij,mj->mr", lv, p_r, lv) / denom[:, None]  # tr(Theta V0 P_r V0)
    a1 = np.einsum("mr,rs,ms->m", a_r, w, a_r)
    a2 = a1  # rank-one Theta: the two sums agree
    q = 1.0
    b = (a1 + 6 * a2) / (2 * q)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        c1 = g / (3 * q + 2 * (1 - g))
        c2 = (q - g) / (3 * q + 2 * (1 - g))
        c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
        v0_ = 1 + c1 * b
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        v0_ = np.where(np.abs(v0_) < 1e-10, 0.0, v0_)
        ratio = np.where(np.abs(v1) < 1e-10, 0.0, (1 - a2 / q) / v1)
        rho = (1 / q) * ratio**2 * v0_ / v2
        df = 4 + (q + 2) / (q * rho - 1)
    return np.where(np.isfinite(df), df, np.inf)


def kenward_roger(
    x: np.ndarray,
    z: np.ndarray,
    client_code: np.ndarray,
    n_clients: int,
    cov_re: np.ndarray,
    sigma2: float,
    chunk_cells: int = 4_000_000,
) -> Inference:
    """Kenward-Roger adjusted covariance and df machinery for a two-level model.

    ``x`` (n, p), ``z`` (n, q) and ``client_code`` are the observed rows. The clients' V
    blocks are laid out on a padded (clients x positions) grid, in chunks of clients so
    that memory stays bounded.
    """
    n, p = x.shape
    q = z.shape[1]
    order = np.argsort(client_code, kind="stable")
    code = client_code[order]
    counts = np.bincount(code, minlength=n_clients)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    pos = np.arange(n) - starts[code]
    width = int(counts.max())
    pairs = [(a, b) for a in range(q) for b in range(a, q)]
    m = len(pairs) + 1
    p_r = np.zeros((m, p, p))
    q_rs = np.zeros((m, m, p, p))
    tr = np.zeros((m, m))
    xvx = np.zeros((p, p))
    per = max(1, chunk_cells // max(1, width * width * (m + 3)))
    xs, zs = x[order], z[order]
    for lo in range(0, n_clients, per):
        hi = min(n_clients, lo + per)
        rows = (code >= lo) & (code < hi)
        c = code[rows] - lo
        k = hi - lo
        xp = np.zeros((k, width, p))
        zp = np.zeros((k, width, q))
        mask = np.zeros((k, width))
        xp[c, pos[rows]] = xs[rows]
        zp[c, pos[rows]] = zs[rows]
        mask[c, pos[rows]] = 1.0
        zd = zp @ cov_re
        v = zd @ np.swapaxes(zp, 1, 2) + sigma2 * mask[:, :, None] * np.eye(width)
        v += (1.0 - mask)[:, :, None] * np.eye(width)  # padding: identity, no data
        vinv = np.linalg.inv(v)
        vx = vinv @ xp
        xvx += np.einsum("nsp,nsq->pq", xp, vx)
        gs = []
        for a, b in pairs:
            za, zb = zp[:, :, a : a + 1], zp[:, :, b : b + 1]
            g = za @ np.swapaxes(zb, 1, 2)
            if a != b:
                g = g + np.swapaxes(g, 1, 2)
            gs.append(g)
        gs.append(mask[:, :, None] * np.eye(width))
        gvx = [g @ vx for g in gs]
        u = [vinv @ g for g in gs]
        for r in range(m):
            p_r[r] -= np.einsum("nsp,nsq->pq", vx, gvx[r])
            vg = vinv @ gvx[r]
            for s in range(r, m):
                q_rs[r, s] += np.einsum("nsp,nsq->pq", vg, gvx[s])
                tr[r, s] += np.einsum("nab,nba->", u[r], u[s])
    for r in range(m):
        for s in range(r):
            q_rs[r, s] = q_rs[s, r].T
            tr[r, s] = tr[s, r]
    phi = np.linalg.inv(xvx)
    ie2 = np.empty((m, m))
    for r in range(m):
        for s in range(m):
            ie2[r, s] = (
                tr[r, s]
                - 2 * float(np.sum(phi * q_rs[r, s]))
                + float(np.sum((phi @ p_r[r]) * (p_r[s] @ phi)))
            )
    eig = np.linalg.eigvalsh(ie2)
    w = 2 * (np.linalg.inv(ie2) if np.min(np.abs(eig)) > 1e-10 else np.linalg.pinv(ie2))
    uu = np.zeros((p, p))
    for r in range(m):
        for s in range(r + 1, m):
            uu += w[r, s] * (q_rs[r, s] - p_r[r] @ phi @ p_r[s])
    uu = uu + uu.T
    for r in range(m):
        uu += w[r, r] * (q_rs[r, r] - p_r[r] @ phi @ p_r[r])
    phi_a = phi + 2 * phi @ uu @ phi
    return Inference("kenward-roger", phi_a, phi, kr_p=p_r, kr_w=w)


def resolve(ddf: str, method: str) -> str:
    """The df method a fit uses: ``"auto"`` is Satterthwaite for REML, Wald z for ML."""
    if ddf == "auto":
        return "satterthwaite" if method == "reml" else "wald"
    return ddf


def describe(method: str) -> str:
    """Plain words for the methods paragraph."""
    return {
        "satterthwaite": "t tests and intervals with Satterthwaite degrees of freedom "
        "(Satterthwaite, 1946), as lmerTest computes them (Kuznetsova et al., 2017)",
        "kenward-roger": "t tests and intervals with the Kenward-Roger adjusted covariance "
        "and degrees of freedom (Kenward & Roger, 1997), as pbkrtest computes them",
        "wald": "Wald z tests and intervals (large-sample normal approximation)",
    }[method]
