"""Compiled per-client and per-therapist passes of the nested model (see :mod:`._nested`).

Each client contributes a q x q block (q = 1 or 2 for the standard models), so the passes
are loops of tiny dense operations, compiled with numba (imported on first use; compiled
code is cached on disk). :mod:`._nested` holds the formulas these loops implement.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["forward", "gradient"]

_JIT = dict(cache=True, nogil=True)


@numba.njit(**_JIT)
def _chol(a: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Lower Cholesky factor of the small SPD matrix ``a`` into ``out``; False if not PD."""
    q = a.shape[0]
    for j in range(q):
        s = a[j, j]
        for k in range(j):
            s -= out[j, k] * out[j, k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        out[j, j] = d
        for i in range(j + 1, q):
            s = a[i, j]
            for k in range(j):
                s -= out[i, k] * out[j, k]
            out[i, j] = s / d
        for i in range(j):
            out[i, j] = 0.0
    return True


@numba.njit(**_JIT)
def _chol_solve(lo: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out = (L L')^-1 b for a lower-triangular L and a (q, m) right-hand side."""
    q, m = b.shape
    for c in range(m):
        for i in range(q):
            s = b[i, c]
            for k in range(i):
                s -= lo[i, k] * out[k, c]
            out[i, c] = s / lo[i, i]
        for i in range(q - 1, -1, -1):
            s = out[i, c]
            for k in range(i + 1, q):
                s -= lo[k, i] * out[k, c]
            out[i, c] = s / lo[i, i]


@numba.njit(**_JIT)
def _mm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out = a @ b."""
    n, k = a.shape
    m = b.shape[1]
    for i in range(n):
        for j in range(m):
            s = 0.0
            for t in range(k):
                s += a[i, t] * b[t, j]
            out[i, j] = s


@numba.njit(**_JIT)
def _mtm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out = a' @ b."""
    k, n = a.shape
    m = b.shape[1]
    for i in range(n):
        for j in range(m):
            s = 0.0
            for t in range(k):
                s += a[t, i] * b[t, j]
            out[i, j] = s


@numba.njit(**_JIT)
def forward(
    tc: np.ndarray,
    tt: np.ndarray,
    gcc: np.ndarray,
    gct: np.ndarray,
    gtt_sum: np.ndarray,
    wc: np.ndarray,
    wt_sum: np.ndarray,
    code: np.ndarray,
) -> tuple:  # pragma: no cover - compiled
    """Eliminate the client blocks, then the therapist blocks.

    Returns ok, log|A|, [X y]'Z Lambda A^-1 Lambda'Z'[X y] (p+1 square), the client Cholesky
    factors, U_c = A^-1 Lambda'Z'[X y] (client blocks), F = A_j^-1 B_j, the therapist
    Cholesky factors and U_t (therapist blocks). With qt = 0 the therapist outputs are empty.
    """
    n, qc, p1 = wc.shape
    qt = tt.shape[0]
    k_t = gtt_sum.shape[0]
    quad = np.zeros((p1, p1))
    lc = np.zeros((n, qc, qc))
    ec = np.zeros((n, qc, p1))
    fb = np.zeros((n, qc, qt))
    acc_s = np.zeros((k_t, qt, qt))
    acc_f = np.zeros((k_t, qt, p1))
    ac = np.empty((qc, qc))
    tmp = np.empty((qc, qc))
    cc = np.empty((qc, p1))
    bt = np.empty((qc, qt))
    b = np.empty((qc, qt))
    logdet = 0.0
    for i in range(n):
        _mm(gcc[i], tc, tmp)
        _mtm(tc, tmp, ac)
        for a in range(qc):
            ac[a, a] += 1.0
        if not _chol(ac, lc[i]):
            return False, 0.0, quad, lc, ec, fb, lc[:0], acc_f, ec
        for a in range(qc):
            logdet += 2.0 * math.log(lc[i, a, a])
        _mtm(tc, wc[i], cc)
        _chol_solve(lc[i], cc, ec[i])
        for r in range(p1):
            for c in range(p1):
                s = 0.0
                for a in range(qc):
                    s += cc[a, r] * ec[i, a, c]
                quad[r, c] += s
        if qt > 0:
            _mm(gct[i], tt, bt)
            _mtm(tc, bt, b)
            _chol_solve(lc[i], b, fb[i])
            k = code[i]
            for r in range(qt):
                for c in range(qt):
                    s = 0.0
                    for a in range(qc):
                        s += b[a, r] * fb[i, a, c]
                    acc_s[k, r, c] += s
                for c in range(p1):
                    s = 0.0
                    for a in range(qc):
                        s += b[a, r] * ec[i, a, c]
                    acc_f[k, r, c] += s
    ls = np.zeros((k_t, qt, qt))
    ut = np.zeros((k_t, qt, p1))
    if qt > 0:
        st = np.empty((qt, qt))
        tmp_t = np.empty((qt, qt))
        f = np.empty((qt, p1))
        for k in range(k_t):
            _mm(gtt_sum[k], tt, tmp_t)
            _mtm(tt, tmp_t, st)
            for r in range(qt):
                st[r, r] += 1.0
                for c in range(qt):
                    st[r, c] -= acc_s[k, r, c]
            if not _chol(st, ls[k]):
                return False, 0.0, quad, lc, ec, fb, ls, ut, ec
            for r in range(qt):
                logdet += 2.0 * math.log(ls[k, r, r])
            _mtm(tt, wt_sum[k], f)
            for r in range(qt):
                for c in range(p1):
                    f[r, c] -= acc_f[k, r, c]
            _chol_solve(ls[k], f, ut[k])
            for r in range(p1):
                for c in range(p1):
                    s = 0.0
                    for a in range(qt):
                        s += f[a, r] * ut[k, a, c]
                    quad[r, c] += s
        uc = ec.copy()
        for i in range(n):
            k = code[i]
            for a in range(qc):
                for c in range(p1):
                    s = 0.0
                    for r in range(qt):
                        s += fb[i, a, r] * ut[k, r, c]
                    uc[i, a, c] -= s
    else:
        uc = ec
    return True, logdet, quad, lc, ec, fb, ls, ut, uc


@numba.njit(**_JIT)
def _residual_terms(
    e: np.ndarray,
    u: np.ndarray,
    beta: np.ndarray,
    alpha: float,
    pinv: np.ndarray,
    reml: bool,
    grad: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """grad -= 2 alpha (e_y - e_X beta)(u_y - u_X beta)' [+ 2 e_X P^-1 u_X' (REML)]."""
    q, p1 = e.shape
    p = p1 - 1
    ev = np.empty(q)
    wv = np.empty(q)
    for a in range(q):
        s = e[a, p]
        w = u[a, p]
        for c in range(p):
            s -= e[a, c] * beta[c]
            w -= u[a, c] * beta[c]
        ev[a] = s
        wv[a] = w
    for a in range(q):
        for b in range(q):
            grad[a, b] -= 2.0 * alpha * ev[a] * wv[b]
    if reml:
        for a in range(q):
            for b in range(q):
                s = 0.0
                for c in range(p):
                    v = 0.0
                    for d in range(p):
                        v += pinv[c, d] * u[b, d]
                    s += e[a, c] * v
                grad[a, b] -= 2.0 * s


@numba.njit(**_JIT)
def gradient(
    tc: np.ndarray,
    tt: np.ndarray,
    gcc: np.ndarray,
    gct: np.ndarray,
    gtt_sum: np.ndarray,
    wc: np.ndarray,
    wt: np.ndarray,
    code: np.ndarray,
    lc: np.ndarray,
    fb: np.ndarray,
    ls: np.ndarray,
    uc: np.ndarray,
    ut: np.ndarray,
    beta: np.ndarray,
    alpha: float,
    pinv: np.ndarray,
    reml: bool,
) -> tuple:  # pragma: no cover - compiled
    """d/dT_c and d/dT_t (full q x q matrices) of log|A| + alpha r^2 [+ log|P|].

    See the module docstring of :mod:`._nested` for the formulas: per client
    F_j = Ainv_jj T_c'G_cc + Ainv_jk T_t'G_tc, per therapist
    F_k = S_k^-1 T_t'G_tt + sum_j Ainv_kj T_c'G_ct, and d log|A| / dT = 2 sum F'.
    """
    n, qc, p1 = wc.shape
    qt = tt.shape[0]
    k_t = ls.shape[0]
    grad_c = np.zeros((qc, qc))
    grad_t = np.zeros((qt, qt))
    eye_c = np.eye(qc)
    eye_t = np.eye(qt)
    sinv = np.zeros((k_t, qt, qt))
    for k in range(k_t):
        _chol_solve(ls[k], eye_t, sinv[k])
    acc_e = np.zeros((k_t, qt, p1))  # sum_j Z_t'(rhs - Z_c T_c U_c) per therapist
    f_t = np.zeros((k_t, qt, qt))
    ainv = np.empty((qc, qc))
    fs = np.empty((qc, qt))
    tgc = np.empty((qc, qc))
    tgct = np.empty((qc, qt))
    gctt = np.empty((qc, qt))
    fc = np.empty((qc, qc))
    tu = np.empty((qc, p1))
    e_c = np.empty((qc, p1))
    tu_t = np.empty((qt, p1))
    for i in range(n):
        _chol_solve(lc[i], eye_c, ainv)
        _mtm(tc, gcc[i], tgc)
        _mm(tc, uc[i], tu)
        _mm(gcc[i], tu, e_c)
        for a in range(qc):
            for c in range(p1):
                e_c[a, c] = wc[i, a, c] - e_c[a, c]
        if qt > 0:
            k = code[i]
            _mm(fb[i], sinv[k], fs)
            for a in range(qc):
                for b in range(qc):
                    s = 0.0
                    for r in range(qt):
                        s += fs[a, r] * fb[i, b, r]
                    ainv[a, b] += s
            _mm(ainv, tgc, fc)
            _mm(gct[i], tt, gctt)
            _mtm(tc, gct[i], tgct)
            for a in range(qc):
                for b in range(qc):
                    s = 0.0
                    for r in range(qt):
                        s += fs[a, r] * gctt[b, r]
                    fc[a, b] -= s
            for r in range(qt):
                for c in range(qt):
                    s = 0.0
                    for a in range(qc):
                        s += fs[a, r] * tgct[a, c]
                    f_t[k, r, c] -= s
            _mm(tt, ut[k], tu_t)
            for a in range(qc):
                for c in range(p1):
                    s = 0.0
                    for r in range(qt):
                        s += gct[i, a, r] * tu_t[r, c]
                    e_c[a, c] -= s
            for r in range(qt):
                for c in range(p1):
                    s = 0.0
                    for a in range(qc):
                        s += gct[i, a, r] * tu[a, c]
                    acc_e[k, r, c] += wt[i, r, c] - s
        else:
            _mm(ainv, tgc, fc)
        for a in range(qc):
            for b in range(qc):
                grad_c[b, a] += 2.0 * fc[a, b]
        _residual_terms(e_c, uc[i], beta, alpha, pinv, reml, grad_c)
    if qt > 0:
        tmp = np.empty((qt, qt))
        fk = np.empty((qt, qt))
        e_t = np.empty((qt, p1))
        for k in range(k_t):
            _mtm(tt, gtt_sum[k], tmp)
            _mm(sinv[k], tmp, fk)
            for r in range(qt):
                for c in range(qt):
                    grad_t[c, r] += 2.0 * (fk[r, c] + f_t[k, r, c])
            _mm(tt, ut[k], tu_t)
            _mm(gtt_sum[k], tu_t, e_t)
            for r in range(qt):
                for c in range(p1):
                    e_t[r, c] = acc_e[k, r, c] - e_t[r, c]
            _residual_terms(e_t, ut[k], beta, alpha, pinv, reml, grad_t)
    return grad_c, grad_t, sinv
