"""The two engines behind :func:`toolkit.growth.fit`, with one honest account of the optimum.

``fast`` is the exact profiled (RE)ML of :mod:`._fastpath`; ``statsmodels`` is
``MixedLM``, the general engine. Both try optimisers in a fixed order, never return a fit
worse than another optimum they reached, verify the winner, and log every attempt.
"""

from __future__ import annotations

import time as _time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._options import BAR_DELAY, progress_enabled
from . import _fastpath as fp
from . import _optim
from ._design import Design, layout
from ._nested import Nested, build_nested, factor, pack

__all__ = [
    "EngineFit",
    "fast",
    "fast_nested",
    "with_statsmodels",
    "nested_model",
    "LOG_COLUMNS",
    "SM_OPTIMIZERS",
]

#: Columns of ``GrowthResult.optimizer_log``.
LOG_COLUMNS = [
    "engine",
    "optimizer",
    "start",
    "loglik",
    "max_gradient",
    "optimizer_converged",
    "reached_best",
    "chosen",
    "seconds",
    "message",
]
#: statsmodels optimisers in the order they are tried.
SM_OPTIMIZERS = ("lbfgs", "bfgs", "cg", "powell", "nm")
# Two log-likelihoods count as the same optimum within this (absolute, plus 1e-9 relative).
_LL_TOL = 5e-5


@dataclass(frozen=True)
class EngineFit:
    beta: np.ndarray
    cov_beta: np.ndarray
    sigma2: float
    cov_re: np.ndarray
    blups: np.ndarray  # (N, q)
    blup_se: np.ndarray  # (N, q)
    loglik: float
    converged: bool
    singular: bool
    log: pd.DataFrame
    sm_result: object = None
    messages: list[str] = field(default_factory=list)
    theta: np.ndarray | None = None  # relative covariance factors (lme4's theta)
    cov_t: np.ndarray | None = None  # therapist-level covariance of the random effects
    blups_t: np.ndarray | None = None  # (K, qt)
    blup_se_t: np.ndarray | None = None  # (K, qt)
    nested: Nested | None = None


def nested_model(design: Design) -> Nested:
    """The per-client moments of the design's observed rows (see :mod:`._nested`)."""
    rows = design.usable
    three = design.therapist is not None
    # design.basis[rows], without the basis of every row first
    basis = (
        np.column_stack([np.ones(int(rows.sum())), design.time[rows]])
        if design.standard_random
        else design.z[rows]
    )
    return build_nested(
        design.x[rows],
        design.y[rows],
        basis,
        design.client_code[rows],
        len(design.clients),
        design.client_columns,
        design.therapist_columns if three else (),
        design.client_therapist if three else None,
        len(design.therapists) if three and design.therapists is not None else 0,
    )


def _same(a: float, b: float) -> bool:
    return bool(
        np.isfinite(a) and np.isfinite(b) and abs(a - b) <= _LL_TOL + 1e-9 * max(abs(a), abs(b))
    )


def _singular(cov_re: np.ndarray, sigma2: float) -> bool:
    """A random-effects covariance on the boundary: a (relative) Cholesky diagonal < 1e-4."""
    rel = cov_re / sigma2
    q = rel.shape[0]
    diag = np.empty(q)
    for j in range(q):  # Cholesky diagonal without failing on semi-definite matrices
        prev = rel[j, :j]
        diag[j] = np.sqrt(
            max(rel[j, j] - (prev @ np.linalg.pinv(rel[:j, :j]) @ prev if j else 0.0), 0.0)
        )
    return bool(np.any(diag < 1e-4))


def fast(design: Design, reml: bool) -> tuple[EngineFit, fp.Solution]:
    """Exact profiled (RE)ML on the (clients x sessions) layout."""
    y, x, observed = layout(design)
    q = len(design.random_names)
    blocks = fp.blocks(y, x, design.session_time, observed, q)
    theta, attempts = fp.optimise(blocks, reml)
    sol = fp.solve(theta, blocks, reml)
    verdict = fp.check(theta, blocks, reml)
    best = min(r["deviance"] for r in attempts)
    rows = []
    for r in attempts:
        finite = np.isfinite(r["deviance"])
        grad = (
            np.max(np.abs(fp.deviance(r["theta"], blocks, reml, with_gradient=True)[1]))
            if finite
            else np.nan
        )
        rows.append(
            {
                "engine": "fast",
                "optimizer": r["optimizer"],
                "start": r["start"],
                "loglik": -0.5 * r["deviance"],
                "max_gradient": float(grad),
                "optimizer_converged": r["success"],
                "reached_best": fp.agree(r["deviance"], best),
                "chosen": r["theta"] is theta,
                "seconds": r["seconds"],
                "message": r["message"],
            }
        )
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    confirmed = int(log["reached_best"].sum()) >= 2
    messages = []
    if not (verdict["ok"] and confirmed):
        if not confirmed:
            why = "only one optimiser reached the best log-likelihood"
        elif not verdict["positive_definite"]:
            why = (
                "the log-likelihood is flat (or curved the wrong way) at the best point, so "
                "the variance components are not identified by these data (e.g. too few "
                "sessions per client for a random slope)"
            )
        else:
            why = f"a Newton step could still improve the deviance by {verdict['newton_gain']:.2g}"
        messages.append(
            f"The fit may not be at the optimum: {why} (tried: {_tried(log)}). Treat the "
            "estimates with caution; simplify the model (e.g. random='intercept') or rescale "
            "time."
        )
    fit = EngineFit(
        beta=sol.beta,
        cov_beta=sol.cov_beta,
        sigma2=sol.sigma2,
        cov_re=sol.cov_re,
        blups=sol.blups,
        blup_se=sol.blup_se,
        loglik=-0.5 * sol.deviance,
        converged=bool(verdict["ok"] and confirmed),
        singular=_singular(sol.cov_re, sol.sigma2),
        log=log,
        messages=messages,
        theta=np.asarray(sol.theta, dtype=float),
    )
    return fit, sol


def _nested_starts(design: Design, nm: Nested, reml: bool) -> list[tuple[str, np.ndarray]]:
    """Two starts: moments from the two-level fit (client BLUPs averaged per therapist),
    and the identity of Bates et al. (2015)."""
    identity = np.concatenate(
        [pack(np.eye(nm.qc)), pack(np.eye(nm.qt))] if nm.three_level else [pack(np.eye(nm.qc))]
    )
    try:
        two, _ = fast(design, reml)
    except (np.linalg.LinAlgError, ValueError):  # pragma: no cover - the identity remains
        return [("identity", identity), ("identity", identity)]
    code = nm.therapist
    assert code is not None
    counts = np.bincount(code, minlength=nm.n_therapists).astype(float)
    blups = np.zeros((len(code), nm.qt))
    k = min(nm.qt, two.blups.shape[1])
    blups[:, :k] = two.blups[:, :k]
    means = (
        np.stack(
            [
                np.bincount(code, weights=blups[:, j], minlength=nm.n_therapists)
                for j in range(nm.qt)
            ],
            axis=1,
        )
        / np.maximum(counts, 1)[:, None]
    )
    between = np.atleast_2d(np.cov(means.T)) if nm.n_therapists > 2 else np.eye(nm.qt)
    sampling = np.atleast_2d(np.cov(blups.T)) * np.mean(1 / np.maximum(counts, 1))
    cov_t = between - sampling
    vals, vecs = np.linalg.eigh(0.5 * (cov_t + cov_t.T))
    scale = np.abs(np.diag(two.cov_re[: nm.qt, : nm.qt])).max() + 1e-12
    cov_t = (vecs * np.maximum(vals, 0.02 * scale)) @ vecs.T
    cov_c = two.cov_re.copy()
    cov_c[:k, :k] = cov_c[:k, :k] - cov_t[:k, :k]
    vals, vecs = np.linalg.eigh(cov_c)
    cov_c = (vecs * np.maximum(vals, 1e-3 * np.abs(vals).max() + 1e-12)) @ vecs.T
    moments = np.concatenate([pack(factor(cov_c / two.sigma2)), pack(factor(cov_t / two.sigma2))])
    return [("two-level moments", moments), ("identity", identity)]


def fast_nested(design: Design, reml: bool) -> EngineFit:
    """Exact profiled (RE)ML of the three-level model (clients in therapists)."""
    nm = nested_model(design)
    starts = _nested_starts(design, nm, reml)
    theta, attempts = _optim.optimise(nm, reml, starts)
    sol = nm.solve(theta, reml)
    verdict = _optim.check(nm, theta, reml)
    best = min(r["deviance"] for r in attempts)
    rows = []
    for r in attempts:
        finite = np.isfinite(r["deviance"])
        grad = (
            np.max(np.abs(nm.deviance(r["theta"], reml, with_gradient=True)[1]))
            if finite
            else np.nan
        )
        rows.append(
            {
                "engine": "fast",
                "optimizer": r["optimizer"],
                "start": r["start"],
                "loglik": -0.5 * r["deviance"],
                "max_gradient": float(grad),
                "optimizer_converged": r["success"],
                "reached_best": fp.agree(r["deviance"], best),
                "chosen": r["theta"] is theta,
                "seconds": r["seconds"],
                "message": r["message"],
            }
        )
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    confirmed = int(log["reached_best"].sum()) >= 2
    messages = []
    if not (verdict["ok"] and confirmed):
        if not confirmed:
            why = "only one optimiser reached the best log-likelihood"
        elif not verdict["positive_definite"]:
            why = (
                "the log-likelihood is flat (or curved the wrong way) at the best point, so "
                "the variance components are not identified by these data (e.g. too few "
                "clients per therapist for a therapist slope)"
            )
        else:
            why = f"a Newton step could still improve the deviance by {verdict['newton_gain']:.2g}"
        messages.append(
            f"The fit may not be at the optimum: {why} (tried: {_tried(log)}). Treat the "
            "estimates with caution; simplify the model (e.g. therapist_random='intercept') "
            "or rescale time."
        )
    blup_se_c = np.sqrt(np.maximum(np.diagonal(sol["condvar_c"], axis1=1, axis2=2), 0.0))
    blup_se_t = np.sqrt(np.maximum(np.diagonal(sol["condvar_t"], axis1=1, axis2=2), 0.0))
    sigma2 = float(sol["sigma2"])
    return EngineFit(
        beta=sol["beta"],
        cov_beta=sol["cov_beta"],
        sigma2=sigma2,
        cov_re=sol["cov_c"],
        blups=sol["blups_c"],
        blup_se=blup_se_c,
        loglik=-0.5 * float(sol["deviance"]),
        converged=bool(verdict["ok"] and confirmed),
        singular=_singular(sol["cov_c"], sigma2) or _singular(sol["cov_t"], sigma2),
        log=log,
        messages=messages,
        theta=np.asarray(theta, dtype=float),
        cov_t=sol["cov_t"],
        blups_t=sol["blups_t"],
        blup_se_t=blup_se_t,
        nested=nm,
    )


def with_statsmodels(design: Design, reml: bool, progress: bool | None) -> EngineFit:
    """``MixedLM`` with optimisers in a fixed order and a second start, best optimum kept.

    1. The first of :data:`SM_OPTIMIZERS` (lbfgs) from statsmodels' default start; 2. a
    second start: lbfgs from the exact profiled optimum (random intercept or intercept +
    slope), else the next optimiser from the default start; 3. while the best log-likelihood
    has not been reached twice, the remaining optimisers of :data:`SM_OPTIMIZERS` in order,
    each from the best point so far.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec

    rows = design.usable
    exog = pd.DataFrame(design.x[rows], columns=design.terms)
    three = design.therapist is not None
    plan: list[tuple[str, str, object]] = [(SM_OPTIMIZERS[0], "default", None)]
    if three:
        # Therapists are statsmodels' groups; the client intercepts a variance component
        # within them (statsmodels has no correlated random slopes within groups).
        assert design.client_therapist is not None and design.therapists is not None
        group = design.client_therapist[design.client_code[rows]]
        basis = design.basis[rows][:, list(design.therapist_columns)]
        exog_re = pd.DataFrame(basis, columns=design.therapist_random)
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(len(design.therapists) + 1))
        client_rows = design.client_code[rows]
        mats, colnames = [], []
        for k in range(len(design.therapists)):  # one block per therapist, not per client
            idx = order[bounds[k] : bounds[k + 1]]
            _, member = np.unique(client_rows[idx], return_inverse=True)
            mats.append(np.eye(int(member.max()) + 1)[member])
            colnames.append([str(j) for j in range(mats[-1].shape[1])])
        model = MixedLM(
            design.y[rows][order],
            exog.iloc[order].reset_index(drop=True),
            groups=group[order],
            exog_re=exog_re.iloc[order].reset_index(drop=True),
            exog_vc=VCSpec(["client"], [colnames], [mats]),
        )
        exact = fast_nested(design, reml)
        start = MixedLMParams.from_components(
            fe_params=exact.beta,
            cov_re=np.asarray(exact.cov_t) / exact.sigma2,
            vcomp=np.array([exact.cov_re[0, 0] / exact.sigma2]),
        )
        plan.append(("lbfgs", "exact profiled optimum", start))
    else:
        exog_re = pd.DataFrame(design.z[rows], columns=design.random_names)
        model = MixedLM(design.y[rows], exog, groups=design.client_code[rows], exog_re=exog_re)
        if design.standard_random:
            _, sol = fast(design, reml)
            start = MixedLMParams.from_components(
                fe_params=sol.beta, cov_re=sol.cov_re / sol.sigma2
            )
            plan.append(("lbfgs", "exact profiled optimum", start))
        else:
            plan.append((SM_OPTIMIZERS[1], "default", None))
    results: list = []
    records: list[dict] = []
    bar = tqdm(
        total=len(SM_OPTIMIZERS) + 1,
        desc="MixedLM optimisers",
        disable=not progress_enabled(progress),
        leave=False,
        delay=BAR_DELAY,
    )

    def attempt(method: str, label: str, start: Any) -> None:
        t0 = _time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(reml=reml, method=[method], start_params=start)
                llf = float(res.llf)
                packed = res.params_object.get_packed(use_sqrt=True, has_fe=False)
                grad = float(np.max(np.abs(model.score(packed, profile_fe=True))))
                ok = bool(res.converged)
            except (np.linalg.LinAlgError, ValueError) as exc:
                res, llf, grad, ok = None, -np.inf, np.nan, False
                caught.append(warnings.WarningMessage(f"failed: {exc}", UserWarning, "", 0))
        text = "; ".join(dict.fromkeys(str(w.message) for w in caught)) or "ok"
        results.append(res)
        records.append(
            {
                "engine": "statsmodels",
                "optimizer": method,
                "start": label,
                "loglik": llf,
                "max_gradient": grad,
                "optimizer_converged": ok,
                "seconds": _time.perf_counter() - t0,
                "message": text,
            }
        )
        bar.update()

    for method, label, start in plan:
        attempt(method, label, start)
    remaining = [m for m in SM_OPTIMIZERS if m not in {p[0] for p in plan}]
    while True:
        lls = np.array([r["loglik"] for r in records])
        best = int(np.argmax(lls))
        if sum(_same(v, lls[best]) for v in lls) >= 2 or not remaining:
            break
        attempt(remaining.pop(0), "best so far", results[best].params_object)
    bar.close()

    lls = np.array([r["loglik"] for r in records])
    best = int(np.argmax(lls))
    res = results[best]
    if res is None:
        raise RuntimeError(
            "Every statsmodels optimiser failed: " + " | ".join(r["message"] for r in records)
        )
    for i, r in enumerate(records):
        r["reached_best"] = _same(r["loglik"], lls[best])
        r["chosen"] = i == best
    log = pd.DataFrame(records, columns=LOG_COLUMNS)
    confirmed = int(log["reached_best"].sum()) >= 2
    converged = bool(res.converged and confirmed)
    messages = []
    first = records[0]
    if best != 0 and not _same(first["loglik"], lls[best]):
        messages.append(
            f"statsmodels' {first['optimizer']} from its default start stopped at a "
            f"log-likelihood {lls[best] - first['loglik']:.4g} below the best one found "
            f"({records[best]['optimizer']} from {records[best]['start']}); the better fit is "
            "returned."
        )
    if not converged:
        messages.append(
            "statsmodels did not reach a verified optimum "
            f"(tried: {_tried(log)}; its messages: {records[best]['message']}). The fit is "
            "marked converged=False. Fix: engine='fast' for random='intercept'/'slope', or a "
            "simpler random-effects structure, or rescale time."
        )

    p = len(design.terms)
    sigma2 = float(res.scale)
    beta = np.asarray(res.fe_params, dtype=float)
    nm = nested_model(design)
    if three:
        cov_t = np.asarray(res.cov_re, dtype=float)
        cov_re = np.array([[float(np.asarray(res.vcomp)[0])]])
        theta = np.concatenate([pack(factor(cov_re / sigma2)), pack(factor(cov_t / sigma2))])
    else:
        cov_t = None
        cov_re = np.asarray(res.cov_re, dtype=float)
        theta = pack(factor(cov_re / sigma2))
    # Random effects and their conditional SDs at statsmodels' estimates (the same formulas
    # as the fast path, over all clients at once).
    solved = nm.solve(theta, reml, beta=beta, sigma2=sigma2)
    blup_se = np.sqrt(np.maximum(np.diagonal(solved["condvar_c"], axis1=1, axis2=2), 0.0))
    fit = EngineFit(
        beta=beta,
        cov_beta=sigma2 * np.linalg.inv(nm.relative_precision(theta)),
        sigma2=sigma2,
        cov_re=cov_re,
        blups=solved["blups_c"],
        blup_se=blup_se,
        loglik=float(res.llf),
        converged=converged,
        singular=_singular(cov_re, sigma2) or (three and _singular(np.asarray(cov_t), sigma2)),
        log=log,
        sm_result=res,
        messages=messages,
        theta=theta,
        nested=nm,
    )
    if three:
        fit = _with_therapists(fit, solved, cov_t)
    assert p == len(beta)
    return fit


def _with_therapists(fit: EngineFit, sol: dict[str, Any], cov_t: Any) -> EngineFit:
    from dataclasses import replace

    return replace(
        fit,
        cov_t=np.asarray(cov_t, dtype=float),
        blups_t=sol["blups_t"],
        blup_se_t=np.sqrt(np.maximum(np.diagonal(sol["condvar_t"], axis1=1, axis2=2), 0.0)),
    )


def _tried(log: pd.DataFrame) -> str:
    return ", ".join(
        f"{r.optimizer} from {r.start} (log-likelihood {r.loglik:.6g})" for r in log.itertuples()
    )
