"""The algebra of nested growth models: sessions in clients, optionally clients in therapists.

One representation serves the exact three-level fit, the small-sample tests of every model
(two or three levels, either engine) and the predictions. The model for session s of client
j of therapist k is::

    y = x' beta + z_c' u_j + z_t' v_k + e,   u_j ~ N(0, sigma^2 T_c T_c'),
                                             v_k ~ N(0, sigma^2 T_t T_t'),  e ~ N(0, sigma^2)

with T_c and T_t lower triangular (the relative covariance factors of lme4; theta lists
their lower-triangular entries column by column, client level first). z_c and z_t are
columns of one per-row *basis* (``[1, time]`` for the standard models, the random-effects
formula's columns otherwise). Everything is computed from per-client moments of the basis
(Z'Z, Z'X, Z'y), so a deviance costs a handful of batched q x q operations over clients and
therapists, whatever the number of sessions.

With Lambda = blockdiag(T) and A = Lambda'Z'Z Lambda + I (block-arrowhead: one block per
client, one per therapist, coupled only within a therapist), the client blocks are
eliminated first and the therapist blocks are the Schur complements
S_k = A_k - sum_j B_j' A_j^-1 B_j. The profiled deviance (Bates et al., 2015) is

    log|A| + dof (1 + log(2 pi r^2 / dof)) [+ log|X'V^-1 X / sigma^2|  (REML)]

with r^2 the penalised residual sum of squares and dof = n - p (REML) or n. Its gradient in
the entries of T is exact (matrix calculus with M = A^-1 Lambda'Z'X, E = Z'(X - Z Lambda M)):

    d log|A| = 2 tr(A^-1 Lambda'Z'Z dLambda),   d r^2 = -2 e'Z dLambda w,
    d log|P| = -2 tr(M P^-1 E_X'Z dLambda).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Nested", "build_nested", "n_tri", "lower", "pack"]

_LOG2PI = float(np.log(2 * np.pi))


def n_tri(q: int) -> int:
    """Number of lower-triangular entries of a q x q matrix."""
    return q * (q + 1) // 2


def _tri(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each lower-triangular entry, column by column (lme4's order)."""
    rows, cols = [], []
    for j in range(q):
        for i in range(j, q):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


def lower(theta: np.ndarray, q: int) -> np.ndarray:
    """The lower-triangular q x q matrix with entries ``theta`` (column by column)."""
    t = np.zeros((q, q))
    if q:
        i, j = _tri(q)
        t[i, j] = theta
    return t


def pack(t: np.ndarray) -> np.ndarray:
    """The lower-triangular entries of ``t`` column by column (inverse of :func:`lower`)."""
    i, j = _tri(t.shape[0])
    return np.asarray(t[i, j], dtype=float)


def factor(cov: np.ndarray) -> np.ndarray:
    """A lower-triangular T with T T' = cov (positive semi-definite allowed)."""
    q = cov.shape[0]
    t = np.zeros((q, q))
    for j in range(q):  # Cholesky that tolerates zero pivots
        d = cov[j, j] - t[j, :j] @ t[j, :j]
        t[j, j] = np.sqrt(max(d, 0.0))
        for i in range(j + 1, q):
            t[i, j] = (cov[i, j] - t[i, :j] @ t[j, :j]) / t[j, j] if t[j, j] > 0 else 0.0
    return t


#: Clients whose products :func:`build_nested` forms at a time (bounds its temporaries).
_CLIENTS = 12_500


def _group_sum(values: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values`` (rows x ...) within groups ``codes`` (0..n-1): shape (n, ...)."""
    shape = values.shape[1:]
    width = int(np.prod(shape)) if shape else 1
    flat = values.reshape(len(values), width)
    idx = (codes[:, None] * width + np.arange(width)[None, :]).ravel()
    out = np.bincount(idx, weights=flat.ravel(), minlength=n * width)
    return out.reshape((n, *shape))


@dataclass(frozen=True, eq=False)
class Nested:
    """Per-client moments of a nested growth model and its deviance, gradient and solution.

    ``g`` (N, b, b) = Z'Z, ``r`` (N, b, p) = Z'X, ``s`` (N, b) = Z'y per client in the basis;
    ``ic`` and ``it`` are the basis columns with a random effect at the client and at the
    therapist level (``it`` empty: two levels); ``therapist`` the therapist code of each
    client.
    """

    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    n_obs: int
    g: np.ndarray
    r: np.ndarray
    s: np.ndarray
    ic: tuple[int, ...]
    it: tuple[int, ...] = ()
    therapist: np.ndarray | None = None
    n_therapists: int = 0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        ic, it = list(self.ic), list(self.it)
        w = np.concatenate([self.r, self.s[:, :, None]], axis=2)  # (N, b, p + 1): [X y]
        c = self._cache
        n, p1 = w.shape[0], w.shape[2]
        c["gcc"] = np.ascontiguousarray(self.g[:, ic][:, :, ic])
        c["wc"] = np.ascontiguousarray(w[:, ic])
        if it:
            if self.therapist is None:
                raise ValueError("A therapist level needs the therapist of each client.")
            c["gct"] = np.ascontiguousarray(self.g[:, ic][:, :, it])
            c["wt"] = np.ascontiguousarray(w[:, it])
            c["gtt_sum"] = self.tsum(self.g[:, it][:, :, it])
            c["wt_sum"] = self.tsum(c["wt"])
            c["code"] = np.asarray(self.therapist, dtype=np.int64)
        else:  # empty therapist blocks keep the compiled passes' types
            c["gct"] = np.zeros((n, len(ic), 0))
            c["wt"] = np.zeros((n, 0, p1))
            c["gtt_sum"] = np.zeros((0, 0, 0))
            c["wt_sum"] = np.zeros((0, 0, p1))
            c["code"] = np.zeros(n, dtype=np.int64)
        if not it and len(ic) <= 2:
            # Two levels, q <= 2: the closed-form tuple algebra of the fast path (no
            # compiled code needed), on the same moments.
            from . import _fastpath as fp

            g = c["gcc"]
            ztz = (
                np.stack([g[:, 0, 0], np.zeros(n), np.zeros(n)], axis=1)
                if len(ic) == 1
                else np.stack([g[:, 0, 0], g[:, 0, 1], g[:, 1, 1]], axis=1)
            )
            c["blocks"] = fp.Blocks(
                q=len(ic),
                n_obs=self.n_obs,
                p=self.p,
                ztz=ztz,
                ztx=np.ascontiguousarray(np.swapaxes(self.r[:, ic], 0, 1)),
                zty=np.ascontiguousarray(self.s[:, ic].T),
                xtx=self.xtx,
                xty=self.xty,
                yty=self.yty,
                start=np.ones(n_tri(len(ic))),
            )
        xy = np.zeros((p1, p1))
        xy[: self.p, : self.p] = self.xtx
        xy[: self.p, self.p] = xy[self.p, : self.p] = self.xty
        xy[self.p, self.p] = self.yty
        c["xy"] = xy

    # --- shape -------------------------------------------------------------------------
    @property
    def p(self) -> int:
        return int(self.xtx.shape[0])

    @property
    def qc(self) -> int:
        return len(self.ic)

    @property
    def qt(self) -> int:
        return len(self.it)

    @property
    def three_level(self) -> bool:
        return self.qt > 0

    @property
    def n_theta(self) -> int:
        return n_tri(self.qc) + n_tri(self.qt)

    @property
    def n_clients(self) -> int:
        return int(self.g.shape[0])

    def diagonal(self) -> np.ndarray:
        """Positions in theta of the diagonal entries of T_c and T_t (bounded below by 0)."""
        out, start = [], 0
        for q in (self.qc, self.qt):
            i, j = _tri(q)
            out += [start + k for k in range(len(i)) if i[k] == j[k]]
            start += n_tri(q)
        return np.array(out, dtype=int)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """T_c and T_t from theta."""
        theta = np.asarray(theta, dtype=float)
        k = n_tri(self.qc)
        return lower(theta[:k], self.qc), lower(theta[k:], self.qt)

    def theta_of(self, cov_c: np.ndarray, cov_t: np.ndarray | None, sigma2: float) -> np.ndarray:
        """theta from the covariance matrices of the random effects and the residual variance."""
        parts = [pack(factor(np.asarray(cov_c) / sigma2))]
        if self.three_level and cov_t is not None:
            parts.append(pack(factor(np.asarray(cov_t) / sigma2)))
        return np.concatenate(parts)

    def tsum(self, values: np.ndarray) -> np.ndarray:
        """Sums over the clients of each therapist."""
        assert self.therapist is not None
        return _group_sum(values, self.therapist, self.n_therapists)

    # --- the core ----------------------------------------------------------------------
    def parts(self, theta: np.ndarray) -> dict[str, Any]:
        """Everything at theta: log|A|, [X y]'V^-1[X y] (relative) and the solved blocks.

        Raises ``numpy.linalg.LinAlgError`` when A is not positive definite (only for
        non-finite theta).
        """
        c = self._cache
        tc, tt = self.split(theta)
        if "blocks" in c:
            return self._parts_closed_form(tc, tt)
        from . import _kernels

        ok, logdet, quad, lc, ec, fb, ls, ut, uc = _kernels.forward(
            tc, tt, c["gcc"], c["gct"], c["gtt_sum"], c["wc"], c["wt_sum"], c["code"]
        )
        if not ok:
            raise np.linalg.LinAlgError("A is not positive definite")
        p = self.p
        xy = c["xy"] - quad
        return dict(
            tc=tc,
            tt=tt,
            lc=lc,
            fb=fb,
            ls=ls,
            ut=ut,
            uc=uc,
            logdet=float(logdet),
            xwx=xy[:p, :p],
            xwy=xy[:p, p],
            ywy=float(xy[p, p]),
        )

    def _parts_closed_form(self, tc: np.ndarray, tt: np.ndarray) -> dict[str, Any]:
        """:meth:`parts` of a two-level model with q <= 2, in batched NumPy."""
        c = self._cache
        q = self.qc
        ac = tc.T @ c["gcc"] @ tc + np.eye(q)
        ainv = np.linalg.inv(ac)
        uc = ainv @ (tc.T @ c["wc"])
        quad = np.einsum("nij,nik->jk", tc.T @ c["wc"], uc)
        p = self.p
        xy = c["xy"] - quad
        return dict(
            tc=tc,
            tt=tt,
            ainv_c=ainv,
            uc=uc,
            logdet=float(np.sum(np.linalg.slogdet(ac)[1])),
            xwx=xy[:p, :p],
            xwy=xy[:p, p],
            ywy=float(xy[p, p]),
        )

    def _beta(self, pt: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float] | None:
        try:
            chol = np.linalg.cholesky(pt["xwx"])
        except np.linalg.LinAlgError:
            return None
        z = np.linalg.solve(chol, pt["xwy"])
        r2 = pt["ywy"] - float(z @ z)
        beta = np.linalg.solve(chol.T, z)
        return beta, chol, r2

    def dof(self, reml: bool) -> int:
        return self.n_obs - self.p if reml else self.n_obs

    def deviance(self, theta: np.ndarray, reml: bool, with_gradient: bool = False) -> Any:
        """Profiled deviance (-2 log-likelihood, REML or ML); with the exact gradient."""
        theta = np.asarray(theta, dtype=float)
        if "blocks" in self._cache:
            from . import _fastpath as fp

            return fp.deviance(theta, self._cache["blocks"], reml, with_gradient)
        bad = (np.inf, np.full(theta.shape, np.nan)) if with_gradient else np.inf
        try:
            pt = self.parts(theta)
        except np.linalg.LinAlgError:
            return bad
        solved = self._beta(pt)
        if solved is None:
            return bad
        beta, chol, r2 = solved
        dof = self.dof(reml)
        if not (r2 > 0 and np.isfinite(pt["logdet"])):
            return bad
        dev = pt["logdet"] + dof * (1.0 + _LOG2PI + np.log(r2 / dof))
        if reml:
            dev += 2.0 * float(np.sum(np.log(np.diag(chol))))
        if not with_gradient:
            return float(dev)
        return float(dev), self._gradient(pt, beta, dof / r2, reml)

    def deviance_vp(self, varpar: np.ndarray, reml: bool, with_gradient: bool = False) -> Any:
        """Deviance in (theta, sigma) with beta profiled, as lmerTest differentiates it."""
        varpar = np.asarray(varpar, dtype=float)
        theta, sigma = varpar[:-1], float(varpar[-1])
        if "blocks" in self._cache:
            return self._deviance_vp_closed_form(theta, sigma, reml, with_gradient)
        pt = self.parts(theta)
        solved = self._beta(pt)
        if solved is None:
            raise np.linalg.LinAlgError("X'V^-1X is not positive definite")
        beta, chol, r2 = solved
        s2 = sigma * sigma
        n, p = self.n_obs, self.p
        dev = pt["logdet"] + r2 / s2 + n * (_LOG2PI + np.log(s2))
        if reml:
            dev += 2.0 * float(np.sum(np.log(np.diag(chol)))) - p * (_LOG2PI + np.log(s2))
        if not with_gradient:
            return float(dev)
        g_theta = self._gradient(pt, beta, 1.0 / s2, reml)
        g_sigma = -2.0 * r2 / (s2 * sigma) + 2.0 * (n - (p if reml else 0)) / sigma
        return float(dev), np.r_[g_theta, g_sigma]

    def _deviance_vp_closed_form(
        self, theta: np.ndarray, sigma: float, reml: bool, with_gradient: bool
    ) -> Any:
        from . import _fastpath as fp

        b = self._cache["blocks"]
        st = fp.state(theta, b)
        pt = dict(xwx=st.xwx, xwy=st.xwy, ywy=st.ywy)
        solved = self._beta(pt)
        if solved is None:
            raise np.linalg.LinAlgError("X'V^-1X is not positive definite")
        beta, chol, r2 = solved
        s2 = sigma * sigma
        n, p = self.n_obs, self.p
        dev = st.logdet + r2 / s2 + n * (_LOG2PI + np.log(s2))
        if reml:
            dev += 2.0 * float(np.sum(np.log(np.diag(chol)))) - p * (_LOG2PI + np.log(s2))
        if not with_gradient:
            return float(dev)
        g_theta = fp.gradient(st, b, beta, 1.0 / s2, reml)
        g_sigma = -2.0 * r2 / (s2 * sigma) + 2.0 * (n - (p if reml else 0)) / sigma
        return float(dev), np.r_[g_theta, g_sigma]

    def _gradient(self, pt: dict[str, Any], beta: np.ndarray, alpha: float, reml: bool) -> Any:
        from . import _kernels

        c = self._cache
        pinv = np.linalg.inv(pt["xwx"]) if reml else np.zeros((self.p, self.p))
        grad_c, grad_t, _ = _kernels.gradient(
            pt["tc"],
            pt["tt"],
            c["gcc"],
            c["gct"],
            c["gtt_sum"],
            c["wc"],
            c["wt"],
            c["code"],
            pt["lc"],
            pt["fb"],
            pt["ls"],
            pt["uc"],
            pt["ut"],
            np.ascontiguousarray(beta),
            float(alpha),
            pinv,
            bool(reml),
        )
        if self.three_level:
            return np.concatenate([pack_grad(grad_c), pack_grad(grad_t)])
        return pack_grad(grad_c)

    # --- solution ----------------------------------------------------------------------
    def solve(
        self,
        theta: np.ndarray,
        reml: bool,
        beta: np.ndarray | None = None,
        sigma2: float | None = None,
    ) -> dict[str, Any]:
        """Fixed effects, sigma^2, Cov(beta), the random effects and their conditional SDs.

        The conditional covariance of a random effect is that of lme4's ``condVar`` (given
        beta): sigma^2 Lambda A^-1 Lambda' restricted to its block. ``beta`` and
        ``sigma2`` replace the profiled values (another engine's estimates).
        """
        pt = self.parts(theta)
        solved = self._beta(pt)
        if solved is None:
            raise np.linalg.LinAlgError("X'V^-1X is not positive definite")
        beta_hat, _, r2 = solved
        beta = beta_hat if beta is None else np.asarray(beta, dtype=float)
        p = self.p
        sigma2 = r2 / self.dof(reml) if sigma2 is None else float(sigma2)
        tc, tt, uc = pt["tc"], pt["tt"], pt["uc"]
        w_c = uc[..., p] - uc[..., :p] @ beta
        ainv_c = pt["ainv_c"] if "ainv_c" in pt else _chol_inverse(pt["lc"])
        out: dict[str, Any] = dict(
            theta=np.asarray(theta, dtype=float),
            beta=beta,
            sigma2=sigma2,
            cov_beta=sigma2 * np.linalg.inv(pt["xwx"]),
            cov_c=sigma2 * tc @ tc.T,
            cov_t=sigma2 * tt @ tt.T,
        )
        if self.three_level:
            code = self.therapist
            ut, fb = pt["ut"], pt["fb"]
            sinv = _chol_inverse(pt["ls"])
            w_t = ut[..., p] - ut[..., :p] @ beta
            fs = fb @ sinv[code]
            ainv_cc = ainv_c + fs @ np.swapaxes(fb, 1, 2)
            out["blups_t"] = w_t @ tt.T
            out["condvar_t"] = sigma2 * tt @ sinv @ tt.T
        else:
            ainv_cc = ainv_c
        out["blups_c"] = w_c @ tc.T
        out["condvar_c"] = sigma2 * tc @ ainv_cc @ tc.T
        out["deviance"] = self.deviance(theta, reml)
        return out

    def cov_beta_vp(self, varpar: np.ndarray) -> np.ndarray:
        """sigma^2 (X'V^-1X / sigma^2)^-1 at (theta, sigma): lmerTest's vcov(beta)."""
        varpar = np.asarray(varpar, dtype=float)
        return float(varpar[-1]) ** 2 * np.linalg.inv(self.relative_precision(varpar[:-1]))

    def relative_precision(self, theta: np.ndarray) -> np.ndarray:
        """X'V^-1X / sigma^2 at theta."""
        if "blocks" in self._cache:
            from . import _fastpath as fp

            return np.asarray(fp.state(np.asarray(theta, dtype=float), self._cache["blocks"]).xwx)
        return np.asarray(self.parts(theta)["xwx"])

    # --- prediction pieces ---------------------------------------------------------------
    def prediction_blocks(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The blocks of A^-1 and of M = A^-1 Lambda'Z'X that prediction errors need."""
        pt = self.parts(theta)
        p = self.p
        tc, tt = pt["tc"], pt["tt"]
        ainv_c = pt["ainv_c"] if "ainv_c" in pt else _chol_inverse(pt["lc"])
        out = dict(tc=tc, tt=tt, m_c=pt["uc"][..., :p], pinv=np.linalg.inv(pt["xwx"]))
        if self.three_level:
            code = self.therapist
            sinv = _chol_inverse(pt["ls"])
            fs = pt["fb"] @ sinv[code]
            out.update(
                ainv_cc=ainv_c + fs @ np.swapaxes(pt["fb"], 1, 2),
                ainv_ct=-fs,
                ainv_tt=sinv,
                m_t=pt["ut"][..., :p],
            )
        else:
            out["ainv_cc"] = ainv_c
        return out


def _chol_inverse(lo: np.ndarray) -> np.ndarray:
    """(L L')^-1 for a stack of lower-triangular factors."""
    linv = np.linalg.inv(lo)
    return np.swapaxes(linv, 1, 2) @ linv


def pack_grad(grad: np.ndarray) -> np.ndarray:
    """Gradient entries of the lower-triangular parameters (column by column)."""
    i, j = _tri(grad.shape[0])
    return np.asarray(grad[i, j], dtype=float)


def build_nested(
    x: np.ndarray,
    y: np.ndarray,
    basis: np.ndarray,
    client_code: np.ndarray,
    n_clients: int,
    ic: tuple[int, ...],
    it: tuple[int, ...] = (),
    therapist: np.ndarray | None = None,
    n_therapists: int = 0,
) -> Nested:
    """Moments of the observed rows (``x``, ``y``, ``basis`` rows; ``client_code`` 0..N-1).

    With the rows sorted by client (as a design's are), the per-client sums are formed over
    blocks of whole clients, the products of one block at a time: every client's terms are
    still added one by one in row order, so the sums are the very same as in one pass.
    """
    b, p = basis.shape[1], x.shape[1]
    m = len(client_code)
    # (first row, last row + 1, first client code, last client code + 1) of each block
    blocks = [(0, m, 0, n_clients)]
    if m > 0 and n_clients > _CLIENTS and bool(np.all(client_code[1:] >= client_code[:-1])):
        cuts = np.searchsorted(client_code, np.arange(0, n_clients, _CLIENTS)).tolist()
        starts = list(range(0, n_clients, _CLIENTS))
        blocks = [
            (lo, hi, c0, min(c0 + _CLIENTS, n_clients))
            for lo, hi, c0 in zip(cuts, [*cuts[1:], m], starts)
        ]
    g = np.zeros((n_clients, b, b))
    r = np.zeros((n_clients, b, p))
    s = np.zeros((n_clients, b))
    for lo, hi, c0, c1 in blocks:
        z, xs, ys, code = basis[lo:hi], x[lo:hi], y[lo:hi], client_code[lo:hi] - c0
        g[c0:c1] = _group_sum(z[:, :, None] * z[:, None, :], code, c1 - c0)
        r[c0:c1] = _group_sum(z[:, :, None] * xs[:, None, :], code, c1 - c0)
        s[c0:c1] = _group_sum(z * ys[:, None], code, c1 - c0)
    return Nested(
        xtx=x.T @ x,
        xty=x.T @ y,
        yty=float(y @ y),
        n_obs=len(y),
        g=g,
        r=r,
        s=s,
        ic=tuple(ic),
        it=tuple(it),
        therapist=None if therapist is None else np.asarray(therapist, dtype=np.int64),
        n_therapists=int(n_therapists),
    )
