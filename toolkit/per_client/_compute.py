"""toolkit.breakthroughs: run the methods once, put their answers side by side per client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import _checks
from .._results import Result, base_settings
from ..data import LongScores, as_scores
from ..errors import OptionError
from ..instruments import Instrument
from ._result import BreakthroughsResult
from ._table import DEFAULT_METHODS, METHODS, assemble, run_method

__all__ = ["breakthroughs"]

_RESULT_METHOD = {
    "ReliableChangeResult": "reliable_change",
    "SuddenGainsResult": "sudden_gains",
    "ChangePointsResult": "changepoint",
    "BayesResult": "bayes",
}


def breakthroughs(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    methods: Sequence[str | Result] = DEFAULT_METHODS,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    test: bool = True,
    n_boot: int = 499,
    bayes_threshold: float = 0.5,
    level: float = 0.95,
    seed: int | None = 0,
) -> BreakthroughsResult:
    """Who had a breakthrough? One row per client, every method side by side.

    Runs each method once on the same validated scores (so all of them use the scores'
    one reliable-change criterion), and puts each method's answer for every client in one
    row, with the reason wherever a method did not flag a client or could not analyse it.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores (with the column names for a DataFrame) or validated scores.
    client, session, score, instrument : str, optional
        Column roles and measure for a DataFrame (see :func:`toolkit.long_scores`).
    methods : sequence of str or results, default ("reliable_change", "sudden_gains", "changepoint")
        Which methods to include: names from ``("reliable_change", "sudden_gains",
        "changepoint", "bayes")``, or results already computed on the same scores (e.g. a
        Bayesian fit); the Bayesian model is left out by default because it samples for a
        minute or more.
    options : dict of {method: dict}, optional
        Options passed to a method, e.g. ``{"sudden_gains": {"min_change": 7}}``.
    test : bool, default True
        Give every client's at-most-one-change p-value in ``cp_p_value``.
    n_boot : int, default 499
        Monte Carlo replicates of that test.
    bayes_threshold : float, default 0.5
        A client is flagged by the Bayesian model when P(breakthrough) exceeds it.
    level : float, default 0.95
        Level of the Wilson intervals in :meth:`BreakthroughsResult.summary`.
    seed : int, default 0
        For the test (draws keyed by seed and client).

    Returns
    -------
    BreakthroughsResult
        ``table``: one row per validated client, with

        - ``client``, ``n_observed``;
        - reliable change: ``rc_flag`` (reliably improved, incl. recovered),
          ``rc_category``, ``rc_rci``, ``rc_change`` (improvement, points), ``rc_note``;
        - sudden gains: ``sg_flag`` (at least one gain), ``sg_n_gains``, ``sg_session``,
          ``sg_magnitude`` and ``sg_reversed`` of the first gain, ``sg_note``;
        - change points: ``cp_flag`` (a change that improves by at least the criterion),
          ``cp_n_changes``, ``cp_session`` and ``cp_jump`` of the first such change (else
          of the largest improving change), ``cp_p_value`` (at most one change), ``cp_note``;
        - Bayesian: ``bayes_flag`` (P(breakthrough) > ``bayes_threshold``),
          ``bayes_p_breakthrough``, ``bayes_p_change``, ``bayes_session`` (most probable
          change session), ``bayes_session_lower``/``_upper`` (its credible set), ``bayes_note``;
        - ``n_methods`` and ``methods``: how many and which methods flag the client;
        - the client-level covariates the scores carry.

        Signs follow each method's own table: ``rc_change`` and ``sg_magnitude`` are
        improvements (positive = better), while ``rc_rci`` and ``cp_jump`` are after minus
        before in score points (negative = better on a scale where lower is better).

        A ``*_flag`` is missing for clients the method could not analyse (its ``*_note``
        says why) and for methods not run (note "not run"). ``agreement()``,
        ``disagreements()``, ``summary()``, ``summary_by(covariate)``, ``plot()`` and
        ``methods_text()`` describe it; ``results`` holds the methods' own results.

    Examples
    --------
    >>> import toolkit
    >>> answer = toolkit.breakthroughs(toolkit.datasets.load_scores("sgdata"))
    >>> len(answer.table) == 43
    True
    >>> print(answer.summary()[["method", "n_analysed", "n_flagged"]].to_string(index=False))
             method  n_analysed  n_flagged
    reliable change          43         37
       sudden gains          39         13
      change points          40         23
    """
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    level = _checks.level(level, "level", "breakthroughs")
    bayes_threshold = _checks.number(
        bayes_threshold, "bayes_threshold", "breakthroughs", low=0.0, high=1.0
    )
    n_boot = _checks.whole(n_boot, "n_boot", "breakthroughs", low=1, high=_checks.MAX_COUNT)
    _checks.flag(test, "test", "breakthroughs")
    seed = _checks.seed(seed, "seed", "breakthroughs")
    if options is not None and not isinstance(options, Mapping):
        raise OptionError(
            "The 'options' parameter of breakthroughs must be None or a dict of "
            f"{{method: {{option: value}}}} with methods in {list(METHODS)}. Got {options!r} "
            "instead."
        )
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = set(options) - set(METHODS)
    if unknown:
        raise OptionError(
            "The 'options' parameter of breakthroughs must name methods in "
            f"{list(METHODS)}. Got unknown method(s) {sorted(unknown)} instead."
        )
    if isinstance(methods, str):
        methods = [methods]
    results: dict[str, Result] = {}
    for item in methods:
        if isinstance(item, Result):
            name = _RESULT_METHOD.get(type(item).__name__)
            if name is None:
                raise TypeError(
                    f"breakthroughs() combines reliable change, sudden gains, "
                    f"change points and Bayesian results; got "
                    f"{type(item).__name__}."
                )
            if item.scores is not None and not _same_scores(item.scores, scores):
                raise ValueError(
                    f"The {name} result was computed on other scores. Fix: run "
                    "every method on the same validated scores."
                )
            results[name] = item
            continue
        _checks.choice(item, "methods", "breakthroughs", METHODS)
        opts = dict(options.get(item, {}))
        if item == "changepoint":
            opts.setdefault("test", test)
            opts.setdefault("n_boot", n_boot)
            opts.setdefault("seed", seed)
        if item == "bayes":
            opts.setdefault("seed", seed)
        results[item] = run_method(item, scores, opts)
    if not results:
        raise ValueError("breakthroughs() needs at least one method.")
    ordered = {m: results[m] for m in METHODS if m in results}
    table = assemble(scores, ordered, {"bayes": {"threshold": bayes_threshold}})
    settings = base_settings(
        scores,
        seed=seed,
        methods=list(ordered),
        test=test,
        n_boot=n_boot,
        bayes_threshold=bayes_threshold,
        level=level,
        options={k: dict(v) for k, v in options.items()},
    )
    warnings = tuple(w for r in ordered.values() for w in r.warnings)
    return BreakthroughsResult(
        table=table,
        settings=settings,
        warnings=warnings,
        scores=scores,
        results=ordered,
        methods=tuple(ordered),
    )


def _same_scores(a: LongScores, b: LongScores) -> bool:
    """The same clients, sessions, scores and criterion (usually the very same object)."""
    return a is b or (
        a.clients.equals(b.clients)
        and np.array_equal(a.sessions, b.sessions)
        and a.reliable_change == b.reliable_change
        and a.better == b.better
        and np.array_equal(a.to_matrix(), b.to_matrix(), equal_nan=True)
    )
