"""reliable_change and from_prepost: choose pre and post, compute the index, classify."""

from __future__ import annotations

from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy.stats import norm

from .. import criterion as _criterion
from .. import instruments as _instruments
from .._checks import choice, whole
from .._results import SKIPPED_COLUMNS, base_settings, empty_skipped
from ..criterion import ReliableChangeCriterion
from ..data import MAGNITUDE, LongScores, as_scores, first_and_last
from ..data._helpers import check_magnitude
from ..data._validate import check_columns, check_id_collisions
from ..errors import (
    DirectionError,
    DuplicateSessionError,
    EmptyDataError,
    InputTypeError,
    MagnitudeError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
    warn,
)
from ..instruments import Instrument, direction_sign
from ._indices import hlm_index, rci_values
from ._norms import (
    _check_alpha,
    _check_reliability,
    _resolve_clinical,
    _resolve_cutoff,
    _resolve_functional,
    _resolve_method,
    _resolve_reliability,
    _resolve_sd,
    _sample_stats,
    check_options,
)
from ._result import CATEGORIES, ReliableChangeResult

__all__ = ["reliable_change", "from_prepost"]

_HLM_MIN_OBSERVED = 3
_SHOW = 5
_HLM_SLOPES = ("total", "deviation")


def reliable_change(
    data: pd.DataFrame | LongScores,
    *,
    client: str | None = None,
    session: str | None = None,
    score: str | None = None,
    instrument: str | Instrument | None = None,
    pre_session: int | None = None,
    post_session: int | None = None,
    method: str = "jacobson_truax",
    alpha: float = 0.05,
    reliability: float | None = None,
    reliability_post: float | None = None,
    sd: Literal["sample", "norm"] | float | None = None,
    clinical: Literal["sample", "norm"] | tuple[float, float] | None = None,
    functional: tuple[float, float] | None = None,
    cutoff: Literal["auto", "a", "b", "c", "instrument"] | float | None = "auto",
    b_uses_clinical_sd: bool = False,
    better: Literal["lower", "higher"] | None = None,
    hlm_slope: Literal["total", "deviation"] = "total",
) -> ReliableChangeResult:
    """Reliable change index and clinical-significance category of every client.

    Parameters
    ----------
    data : pandas.DataFrame or LongScores
        Long-format scores (one row per client and session) with ``client``, ``session`` and
        ``score`` naming the columns, or scores validated by :func:`toolkit.long_scores`.
        Not modified.
    client, session, score : str, optional
        Column names (for a DataFrame).
    instrument : str or Instrument, optional
        The measure: gives the direction (``better``), the reliability and the norms.
    pre_session, post_session : int, optional
        Session numbers of the pre and the post score. By default each client's first and
        last observed session (within ``pre_session`` .. ``post_session`` when one of them
        is given). A client without an observed score at a requested session is skipped,
        with the reason.
    method : str, default "jacobson_truax"
        One of :data:`METHODS` (``"jacobson_truax"``, ``"gulliksen_lord_novick"``,
        ``"hsu_linn_lord"``, ``"edwards_nunnally"``, ``"nunnally_kotsch"``,
        ``"hageman_arrindell"``, ``"hlm"``); the abbreviations JT, GLN, HLL, EN, NK, HA and
        HLM are accepted too. See Notes.
    alpha : float, default 0.05
        Significance level. The critical value is the two-sided normal quantile
        ``norm.ppf(1 - alpha/2)`` (1.96), except for Hageman-Arrindell, whose criterion is
        one-sided: ``norm.ppf(1 - alpha)`` (1.645).
    reliability : float, optional
        Reliability of the measure (at pre for Nunnally-Kotsch). By default the
        Jacobson-Truax method uses the scores' reliable-change criterion
        (``scores.reliable_change``, the one every method shares) and the other methods the
        reliability behind it (else the instrument's internal consistency). Passing
        ``reliability`` or ``sd`` computes this call's own criterion instead (a per-call
        override, recorded in ``settings``). Not used by the HLM method.
    reliability_post : float, optional
        Nunnally-Kotsch only: reliability at post (default: ``reliability``).
    sd : {"sample", "norm"} or float, optional
        The SD in the standard error of measurement. Default: the SD behind the scores'
        criterion (for the methods other than Jacobson-Truax, the SD of the analysed clients'
        pre scores when the criterion is a fixed number of points). ``"sample"``: the SD of
        the analysed clients' pre scores, as Jacobson & Truax (1991) did with their
        pretreatment sample and as reference implementations do (the default SD of a
        per-call override with ``reliability=``); ``"norm"``: the clinical norm's SD (from
        ``clinical=(mean, sd)`` or the registry); a number: that SD. The means in the
        formulas are always the sample's pre (and post) means.
    clinical : {"sample", "norm"} or (mean, sd), optional
        The clinical (dysfunctional) population for the cut-offs. Default ``None`` = "norm":
        the instrument's published clinical norms. ``"sample"`` uses the mean and SD of the
        analysed clients' pre scores (what Jacobson & Truax recommend when no norms exist).
    functional : (mean, sd), optional
        The functional (non-clinical) population for cut-offs b and c. Default: the
        instrument's published functional norms.
    cutoff : {"auto", "a", "b", "c", "instrument"}, float or None, default "auto"
        The cut-off between the clinical and the functional range: Jacobson & Truax's a, b
        or c (see :func:`cutoffs`), the instrument's conventional cut-off
        (``Instrument.cutoff``), a number, or None for reliable change only (then
        ``clinical_pre``/``clinical_post`` are missing and nobody is recovered or harmed).
        ``"auto"``: c when clinical and functional norms are known, else the instrument's
        conventional cut-off, else none.
    b_uses_clinical_sd : bool, default False
        Compute cut-off b with the clinical SD instead of the functional SD (a variant found
        in some applications); kept to reproduce published results.
    better : {"lower", "higher"}, optional
        Direction of improvement when there is no instrument (must agree with it otherwise).
    hlm_slope : {"total", "deviation"}, default "total"
        HLM method only: test the client's own slope (fixed + random part) or only its
        deviation from the average slope (the random effect). See Notes.

    Returns
    -------
    ReliableChangeResult
        ``table`` has one row per analysed client, sorted by client:

        - ``client``: the client id;
        - ``pre_session``, ``post_session``: session numbers of the pre and post score;
        - ``pre``, ``post``: the scores;
        - ``change``: post - pre;
        - ``improvement``: change in the better direction (pre - post when lower is better,
          post - pre when higher is better), so positive always means improvement;
        - ``rci``: the reliable change index of the method, on the scale of post - pre
          (negative = scores went down); for HLM the slope's z value;
        - ``reliable_improvement``, ``reliable_deterioration``: the index beyond the
          critical value in the better (worse) direction (for the Jacobson-Truax default:
          a change of at least the criterion's points); missing when no criterion exists;
        - ``clinical_pre``, ``clinical_post``: the score is in the clinical range, i.e. at or
          beyond the cut-off in the worse direction (missing without a cut-off);
        - ``category``: one of :data:`CATEGORIES` (ordered categorical).

        ``summary()`` counts the categories, ``summary_by(groups)`` within groups,
        ``plot()`` draws the Jacobson-Truax plot; ``parameters`` holds the numbers used.

    Raises
    ------
    UnknownNameError
        Unknown method (the message lists the valid names).
    ValueError
        No reliability, direction or norm available for what was asked (the message says
        what to pass), or an invalid option.
    SessionError
        ``pre_session`` or ``post_session`` is not a session in the data.
    EmptyDataError
        No client can be analysed.

    Notes
    -----
    With pre score :math:`x_1`, post score :math:`x_2`, reliability :math:`r`, the SD
    :math:`s` (see ``sd``), the sample's pre and post means :math:`M_1, M_2` and SDs
    :math:`s_1, s_2`, and their correlation :math:`r_{12}`:

    - Jacobson-Truax: :math:`SE = s\\sqrt{1-r}`, :math:`S_{diff} = \\sqrt{2}\\,SE`,
      :math:`RCI = (x_2 - x_1)/S_{diff}`.
    - Gulliksen-Lord-Novick (regression to the mean; Hsu, 1989, 1995):
      :math:`RCI = [(x_2 - M_1) - r(x_1 - M_1)] / (s\\sqrt{1-r^2})`.
    - Hsu-Linn-Lord (Hsu, 1989): :math:`RCI = [(x_2 - M_2) - r(x_1 - M_1)] /
      (s\\sqrt{1-r^2})`. Because the post mean stands in for the expected post score, this
      index measures change relative to the group's mean change.
    - Edwards-Nunnally (Speer, 1992): :math:`RCI = [x_2 - (r(x_1 - M_1) + M_1)] / SE`,
      i.e. the post score outside the interval around the estimated true pre score. Speer
      used +/- 2 SE; ``alpha = 2 * norm.sf(2)`` (0.0455) reproduces that.
    - Nunnally-Kotsch: :math:`RCI = [x_2 - (r_1(x_1 - M_1) + M_1)] /
      \\sqrt{r_1^2 s^2 (1-r_1) + s^2(1-r_2)}` with :math:`r_1, r_2` the pre and post
      reliabilities.
    - Hageman-Arrindell: :math:`r_{xx,k} = 1 - SE^2/s_k^2`,
      :math:`r_{DD} = (s_1^2 r_{xx,1} + s_2^2 r_{xx,2} - 2 s_1 s_2 r_{12}) /
      (s_1^2 + s_2^2 - 2 s_1 s_2 r_{12})`,
      :math:`RC_{INDIV} = [(x_2 - x_1) r_{DD} + (M_2 - M_1)(1 - r_{DD})] /
      \\sqrt{r_{DD} \\cdot 2 SE^2}`, judged one-sided (1.645 at alpha = .05). Only the RCI is
      implemented; their true-score cut-off (CS_INDIV) is not: the cut-off follows
      ``cutoff`` as for the other methods.
    - HLM: a linear growth model with a random intercept and a random slope per client,
      :math:`y_{ij} = (\\beta_0 + u_{0i}) + (\\beta_1 + u_{1i}) t_{ij} + e_{ij}`, fitted by
      REML with statsmodels ``MixedLM`` to every observed score in the window of clients
      with at least 3 of them (session numbers as time). By default (``hlm_slope="total"``)
      the index is the empirical-Bayes estimate of the client's **own** slope,
      :math:`\\hat\\beta_1 + \\hat u_{1i}`, divided by its prediction standard error (which
      includes the uncertainty of :math:`\\hat\\beta_1`): the client changed reliably when
      their slope differs from zero (Raudenbush & Bryk, 2002, ch. 3 and 6; the approach
      compared by Atkins et al., 2005). ``hlm_slope="deviation"`` tests only
      :math:`\\hat u_{1i}` against its conditional SD, i.e. whether a client changed more or
      less than the average client; this is what the R package *clinicalsignificance*
      (version 2.1) computes, and it labels clients who improve less than average as
      "deteriorated". ``pre`` and ``post`` are still the observed scores, used for the
      clinical range.

    The improvement direction turns every index into "positive = better" before comparing
    it with the critical value; an index exactly at the critical value is not reliable,
    except with the shared criterion in points, where a change of exactly the criterion is
    reliable (published criteria read "a change of 6 or more points"). Without any
    criterion (an instrument without reliability and no ``reliability=``) the result says
    so: ``rci`` and the classification are missing and ``summary()`` counts are missing,
    never 0.
    A client is in the clinical range when the score is at or beyond the cut-off in the
    worse direction (at or above it when lower is better). **Recovered** = reliably
    improved, clinical at pre and not at post. **Harmed** = reliably deteriorated, not
    clinical at pre and clinical at post (the mirror image of recovered). Clients with fewer
    than 2 observed scores are skipped (fewer than 3 in the window for HLM).

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to
    defining meaningful change in psychotherapy research. Journal of Consulting and Clinical
    Psychology, 59(1), 12-19.

    Hsu, L. M. (1989). Reliable changes in psychotherapy: Taking into account regression
    toward the mean. Behavioral Assessment, 11(4), 459-467.

    Hsu, L. M. (1995). Regression toward the mean associated with measurement error and the
    identification of improvement and deterioration in psychotherapy. Journal of Consulting
    and Clinical Psychology, 63(1), 141-144.

    Speer, D. C. (1992). Clinically significant change: Jacobson and Truax (1991) revisited.
    Journal of Consulting and Clinical Psychology, 60(3), 402-408.

    Nunnally, J. C., & Kotsch, W. E. (1983). Studies of individual subjects: Logic and
    methods of analysis. British Journal of Clinical Psychology, 22(2), 83-93.

    Hageman, W. J., & Arrindell, W. A. (1999). Establishing clinically significant change:
    Increment of precision and the distinction between individual and group level of
    analysis. Behaviour Research and Therapy, 37(12), 1169-1193.

    Maassen, G. H. (2004). The standard error in the Jacobson and Truax Reliable Change
    Index: The classical approach to the assessment of reliable change. Journal of the
    International Neuropsychological Society, 10(6), 888-893.

    Raudenbush, S. W., & Bryk, A. S. (2002). Hierarchical Linear Models: Applications and
    Data Analysis Methods (2nd ed.). Sage.

    Atkins, D. C., Bedics, J. D., McGlinchey, J. B., & Beauchaine, T. P. (2005). Assessing
    clinical significance: Does it matter which method we use? Journal of Consulting and
    Clinical Psychology, 73(5), 982-989.

    Examples
    --------
    >>> import toolkit
    >>> claus = toolkit.datasets.load("claus2020")
    >>> result = reliable_change(claus, client="id", session="time", score="hamd",
    ...                          pre_session=1, post_session=4, better="lower",
    ...                          reliability=0.80, cutoff=None)
    >>> result.summary()["n"].tolist()
    [0, 29, 10, 1, 0]
    >>> round(result.parameters["critical_value"], 2)
    1.96
    """
    method_name = _resolve_method(method)
    _check_alpha(alpha)
    choice(hlm_slope, "hlm_slope", "reliable_change", _HLM_SLOPES)
    for name, value in (("pre_session", pre_session), ("post_session", post_session)):
        if value is not None:
            whole(value, name, "reliable_change", low=0)
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    inst = scores.instrument
    check_options(
        "reliable_change",
        inst,
        alpha=alpha,
        reliability=reliability,
        reliability_post=reliability_post,
        sd=sd,
        clinical=clinical,
        functional=functional,
        cutoff=cutoff,
        b_uses_clinical_sd=b_uses_clinical_sd,
    )
    sign = scores.direction(better)
    label = scores.score_label

    sessions = scores.sessions
    col_pre = _session_column(sessions, pre_session, "pre_session")
    col_post = _session_column(sessions, post_session, "post_session")
    if col_pre is not None and col_post is not None and col_pre >= col_post:
        raise ValueError(
            f"pre_session ({pre_session}) must come before post_session ({post_session})."
        )
    minimum = _HLM_MIN_OBSERVED if method_name == "hlm" else 2
    matrix = scores.to_matrix()
    rows, pre_col, post_col, reasons = _choose_prepost(
        matrix, sessions, col_pre, col_post, minimum, method_name
    )
    clients_all = scores.clients
    skipped = _skipped_frame(clients_all, reasons)
    if len(rows) == 0:
        raise EmptyDataError(_nobody_message(skipped))
    pre = matrix[rows, pre_col]
    post = matrix[rows, post_col]
    clients = clients_all.take(rows)

    settings = base_settings(
        scores,
        pre_session=pre_session,
        post_session=post_session,
        method=method,
        alpha=alpha,
        reliability=reliability,
        reliability_post=reliability_post,
        sd=sd,
        clinical=clinical,
        functional=functional,
        cutoff=cutoff,
        b_uses_clinical_sd=b_uses_clinical_sd,
        hlm_slope=hlm_slope,
        score_label=label,
    )
    settings["better"] = "lower" if sign == 1 else "higher"
    hlm = None
    if method_name == "hlm":
        lo = 0 if col_pre is None else col_pre
        hi = len(sessions) - 1 if col_post is None else col_post
        hlm = hlm_index(matrix[rows, lo : hi + 1], sessions[lo : hi + 1], clients, hlm_slope)
    del matrix  # the largest array: free it before the table is built
    return _analyse(
        clients=clients,
        pre=pre,
        post=post,
        pre_session=sessions[pre_col],
        post_session=sessions[post_col],
        skipped=skipped,
        settings=settings,
        inst=inst,
        sign=sign,
        method_name=method_name,
        alpha=alpha,
        reliability=reliability,
        reliability_post=reliability_post,
        sd=sd,
        clinical=clinical,
        functional=functional,
        cutoff=cutoff,
        b_uses_clinical_sd=b_uses_clinical_sd,
        hlm=hlm,
        criterion=scores.reliable_change,
        scores=scores,
    )


def from_prepost(
    df: pd.DataFrame,
    *,
    client: str,
    pre: str,
    post: str,
    instrument: str | Instrument | None = None,
    method: str = "jacobson_truax",
    alpha: float = 0.05,
    reliability: float | None = None,
    reliability_post: float | None = None,
    sd: Literal["sample", "norm"] | float | None = None,
    clinical: Literal["sample", "norm"] | tuple[float, float] | None = None,
    functional: tuple[float, float] | None = None,
    cutoff: Literal["auto", "a", "b", "c", "instrument"] | float | None = "auto",
    b_uses_clinical_sd: bool = False,
    better: Literal["lower", "higher"] | None = None,
    reliable_change: float | str | ReliableChangeCriterion | None = None,
) -> ReliableChangeResult:
    """:func:`reliable_change` for a table with one row per client and a pre and post column.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per client. Not modified.
    client, pre, post : str
        Column names of the client id and the pre and post scores.
    instrument, method, alpha, reliability, reliability_post, sd, clinical, functional, \
cutoff, b_uses_clinical_sd, better
        As in :func:`reliable_change` (the HLM method needs repeated sessions and is not
        available here).
    reliable_change : float, {"instrument", "sample"} or None
        The reliable-change criterion, resolved as by :func:`toolkit.long_scores` (the
        sample SD is that of the pre scores).

    Returns
    -------
    ReliableChangeResult
        As :func:`reliable_change`; ``pre_session`` is 1 and ``post_session`` 2. Clients
        with a missing pre or post score are in ``skipped``.

    Raises
    ------
    MissingColumnError, NonNumericError, ScoreRangeError, DuplicateSessionError
        A named column is absent, a score is not a number or outside the instrument's
        range, or a client occurs twice (the message names column and rows).
    ValueError, UnknownNameError, EmptyDataError
        As in :func:`reliable_change`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 2, 3, 4], "before": [30, 25, 28, 35],
    ...                    "after": [12, 24, 30, 33]})
    >>> result = from_prepost(df, client="id", pre="before", post="after",
    ...                       instrument="BDI-II", cutoff=None)
    >>> result.table[["client", "improvement", "category"]]
       client  improvement           category
    0       1         18.0  reliably improved
    1       2          1.0          unchanged
    2       3         -2.0          unchanged
    3       4          2.0          unchanged
    """
    method_name = _resolve_method(method)
    if method_name == "hlm":
        raise ValueError(
            "The HLM method fits a growth curve to repeated sessions; a pre/post table has "
            "only two. Fix: use reliable_change() on the long-format data, or another method."
        )
    _check_alpha(alpha, "from_prepost")
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(
            f"from_prepost() takes a pandas DataFrame (one row per client); got "
            f"{type(df).__name__}. Fix: pd.DataFrame(...) first."
        )
    check_columns(df)
    for role, column in {"client": client, "pre": pre, "post": post}.items():
        if column not in df.columns:
            raise MissingColumnError(
                f"The {role} column: no column {column!r} in the data. "
                f"Columns are: {list(df.columns)}."
            )
    if len(df) == 0:
        raise EmptyDataError("The DataFrame has no rows, so there are no clients to analyse.")
    inst = _instruments.get(instrument) if instrument is not None else None
    check_options(
        "from_prepost",
        inst,
        alpha=alpha,
        reliability=reliability,
        reliability_post=reliability_post,
        sd=sd,
        clinical=clinical,
        functional=functional,
        cutoff=cutoff,
        b_uses_clinical_sd=b_uses_clinical_sd,
    )
    sign = direction_sign(inst, better)
    if sign is None:
        raise DirectionError(
            "Which direction is improvement? No instrument was given. Fix: pass "
            "better='lower' (e.g. symptom scales) or better='higher' (e.g. well-being), or "
            "name a registered instrument."
        )
    ids = df[client]
    if ids.isna().any():
        where = np.flatnonzero(ids.isna().to_numpy())
        raise MissingColumnError(
            f"Column {client!r}: {len(where)} row(s) without a client id: rows "
            f"{[_plain(df.index[i]) for i in where[:_SHOW]]}. Fix: fill in or drop these rows."
        )
    if ids.dtype == object:
        check_id_collisions(ids.to_numpy(), client, df.index, np.ones(len(ids), dtype=bool))
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = list(dict.fromkeys(_plain(v) for v in ids[dup]))
        raise DuplicateSessionError(
            f"Column {client!r}: {len(shown)} client(s) occur in more than one row: "
            f"{shown[:_SHOW]}. Fix: keep one row per client (pre and post side by side)."
        )
    values = {c: _numeric_column(df, c, inst) for c in (pre, post)}
    x1, x2 = values[pre], values[post]
    ok = ~np.isnan(x1) & ~np.isnan(x2)
    codes = np.where(np.isnan(x1) & np.isnan(x2), 3, np.where(np.isnan(x1), 1, 2))
    order = np.argsort(ids.to_numpy(), kind="stable") if _sortable(ids) else np.arange(len(ids))
    clients_all = pd.Index(ids.to_numpy()[order], name="client")
    ok, codes, x1, x2 = ok[order], codes[order], x1[order], x2[order]
    text = {
        1: f"missing pre score ({pre!r})",
        2: f"missing post score ({post!r})",
        3: f"missing pre and post scores ({pre!r}, {post!r})",
    }
    miss = np.flatnonzero(~ok)
    skipped = (
        pd.DataFrame(
            {
                "client": clients_all.take(miss).to_numpy(),
                "reason": [text[c] for c in codes[miss]],
            }
        )
        if len(miss)
        else empty_skipped()
    )
    if not ok.any():
        raise EmptyDataError(_nobody_message(skipped))
    n = int(ok.sum())
    first = x1[ok]
    found = _criterion.resolve(
        reliable_change,
        inst,
        sample=lambda: (
            float(np.std(first, ddof=1)) if len(first) > 1 else float("nan"),
            len(first),
        ),
        function="from_prepost",
    )
    from .._version import __version__

    settings = {
        "client": client,
        "pre": pre,
        "post": post,
        "instrument": inst.name if inst else None,
        "better": "lower" if sign == 1 else "higher",
        **found.settings(),
        "method": method,
        "alpha": alpha,
        "reliability": reliability,
        "reliability_post": reliability_post,
        "sd": sd,
        "clinical": clinical,
        "functional": functional,
        "cutoff": cutoff,
        "b_uses_clinical_sd": b_uses_clinical_sd,
        "score_label": inst.name if inst else "score",
        "seed": None,
        "toolkit_version": __version__,
    }
    return _analyse(
        clients=clients_all[ok],
        pre=x1[ok],
        post=x2[ok],
        pre_session=np.ones(n, dtype=np.int64),
        post_session=np.full(n, 2, dtype=np.int64),
        skipped=skipped,
        settings=settings,
        inst=inst,
        sign=sign,
        method_name=method_name,
        alpha=alpha,
        reliability=reliability,
        reliability_post=reliability_post,
        sd=sd,
        clinical=clinical,
        functional=functional,
        cutoff=cutoff,
        b_uses_clinical_sd=b_uses_clinical_sd,
        hlm=None,
        criterion=found,
        scores=None,
    )


# --- The computation ------------------------------------------------------------------------
def _analyse(
    *,
    clients: pd.Index,
    pre: np.ndarray,
    post: np.ndarray,
    pre_session: np.ndarray,
    post_session: np.ndarray,
    skipped: pd.DataFrame,
    settings: dict[str, Any],
    inst: Instrument | None,
    sign: int,
    method_name: str,
    alpha: float,
    reliability: float | None,
    reliability_post: float | None,
    sd: Any,
    clinical: Any,
    functional: Any,
    cutoff: Any,
    b_uses_clinical_sd: bool,
    hlm: dict[str, Any] | None,
    criterion: ReliableChangeCriterion,
    scores: LongScores | None,
) -> ReliableChangeResult:
    if reliability_post is not None and method_name != "nunnally_kotsch":
        raise ValueError(
            "reliability_post is used only by the Nunnally-Kotsch method (method='NK'); "
            f"method {method_name!r} uses one reliability. Fix: drop reliability_post."
        )
    n = len(pre)
    stats = _sample_stats(pre, post)
    clin, clin_source = _resolve_clinical(clinical, inst, stats)
    params: dict[str, Any] = {
        "method": method_name,
        "n_clients": n,
        "better": "lower" if sign == 1 else "higher",
        **stats,
        "reliability": None,
        "reliability_post": None,
        "sd": None,
        "sd_source": None,
        "se_measurement": None,
        "s_diff": None,
        "se_prediction": None,
        "r_dd": None,
        "rc_points": None,
        "criterion": None,
        "band": None,
        "computed": True,
    }
    one_sided = method_name == "hageman_arrindell"
    crit = float(norm.ppf(1 - alpha)) if one_sided else float(norm.ppf(1 - alpha / 2))
    params.update(critical_value=crit, sided="one" if one_sided else "two")
    messages: list[str] = list(hlm["warnings"]) if hlm is not None else []
    shared = reliability is None and sd is None  # else this call computes its own criterion
    threshold = None  # the shared criterion in points (Jacobson-Truax only)
    if hlm is not None:
        rci = hlm["rci"]
        params.update(fixed_slope=hlm["fixed_slope"], slope_kind=hlm["slope_kind"])
    elif method_name == "jacobson_truax" and shared:
        if criterion.available:
            s_diff = float(criterion.s_diff)  # type: ignore[arg-type]
            # criterion.points is not None: the criterion is available
            threshold = float(cast(float, criterion.points)) if alpha == 0.05 else crit * s_diff
            rci = (post - pre) / s_diff
            params.update(
                reliability=criterion.reliability,
                sd=criterion.sd,
                sd_source=criterion.sd_source,
                s_diff=s_diff,
                se_measurement=s_diff / np.sqrt(2.0),
                rc_points=threshold,
                criterion=criterion.description,
                band=(0.0, 1.0, crit * s_diff),
            )
        else:
            rci = np.full(n, np.nan)
            params["computed"] = False
            messages.append(
                warn(f"Reliable change not computed: the criterion is {criterion}", stacklevel=5)
            )
    else:
        if shared and criterion.reliability is not None:
            r = float(criterion.reliability)
        else:
            r = _resolve_reliability(reliability, inst, settings["score_label"])
        r_post = r
        if method_name == "nunnally_kotsch" and reliability_post is not None:
            r_post = _check_reliability(reliability_post, "reliability_post")
        if shared and criterion.sd is not None and criterion.source in ("norms", "sample"):
            s, s_source = float(criterion.sd), str(criterion.sd_source)
        else:
            s, s_source = _resolve_sd(
                "sample" if sd is None else sd, clin, clin_source, stats, inst
            )
        rci, extra = rci_values(method_name, pre, post, r=r, r_post=r_post, s=s, stats=stats)
        params.update(reliability=r, sd=s, sd_source=s_source, **extra)
        if method_name == "nunnally_kotsch":
            params["reliability_post"] = r_post
        intercept, slope, scale = params["band"]
        params["band"] = (intercept, slope, crit * scale)
        if method_name == "jacobson_truax":
            params["rc_points"] = crit * params["s_diff"]
            params["criterion"] = (
                f"{params['rc_points']:.4g} points = {crit:.3g} x sqrt(2) x "
                f"SD {s:.4g} ({s_source}) x sqrt(1 - {r:.3g}), this call's "
                "own criterion"
            )
            settings.update(
                reliable_change_points=params["rc_points"], reliable_change_source="per call"
            )

    # Positive = better, whatever the instrument's direction.
    computed = bool(params["computed"])
    if threshold is not None:  # a change of at least the criterion is reliable
        improvement = sign * (pre - post)
        improved = improvement >= threshold
        deteriorated = -improvement >= threshold
    else:
        z_better = -sign * rci
        with np.errstate(invalid="ignore"):
            improved = z_better > crit
            deteriorated = z_better < -crit

    func = _resolve_functional(functional, inst)
    cut_value, cut_type, cut_set = _resolve_cutoff(
        _auto_cutoff(cutoff, clin, func, inst),
        clin,
        func,
        sign,
        b_uses_clinical_sd,
        inst,
        settings["score_label"],
    )
    func_source = None if func is None else ("norm" if functional is None else "given")
    params.update(
        clinical=clin,
        clinical_source=clin_source,
        functional=func,
        functional_source=func_source,
        cutoffs=cut_set,
        cutoff_type=cut_type,
        cutoff=cut_value,
    )
    if cut_value is None:
        clinical_pre = pd.array([pd.NA] * n, dtype="boolean")
        clinical_post = pd.array([pd.NA] * n, dtype="boolean")
        recovered = harmed = np.zeros(n, dtype=bool)
    else:
        in_pre = sign * (pre - cut_value) >= 0
        in_post = sign * (post - cut_value) >= 0
        clinical_pre = pd.array(in_pre, dtype="boolean")
        clinical_post = pd.array(in_post, dtype="boolean")
        recovered = improved & in_pre & ~in_post
        harmed = deteriorated & ~in_pre & in_post

    codes = np.full(n, 2, dtype=np.int8)
    codes[improved] = 1
    codes[recovered] = 0
    codes[deteriorated] = 3
    codes[harmed] = 4
    if not computed:
        codes[:] = -1
    flags = {
        name: pd.array(values, dtype="boolean")
        for name, values in (
            ("reliable_improvement", improved),
            ("reliable_deterioration", deteriorated),
        )
    }
    if not computed:
        for name in flags:
            flags[name][:] = pd.NA
    table = pd.DataFrame(
        {
            "client": clients.to_numpy(),
            "pre_session": np.asarray(pre_session, dtype=np.int64),
            "post_session": np.asarray(post_session, dtype=np.int64),
            "pre": pre,
            "post": post,
            "change": post - pre,
            "improvement": sign * (pre - post),
            "rci": rci,
            **flags,
            "clinical_pre": clinical_pre,
            "clinical_post": clinical_post,
            "category": pd.Categorical.from_codes(codes, categories=list(CATEGORIES), ordered=True),
        }
    )
    return ReliableChangeResult(
        table=table,
        settings=settings,
        skipped=skipped,
        warnings=tuple(messages),
        scores=scores,
        parameters=params,
        coefficients=hlm["coefficients"] if hlm is not None else None,
        sm_result=hlm["sm_result"] if hlm is not None else None,
    )


def _auto_cutoff(cutoff: Any, clin: Any, func: Any, inst: Instrument | None) -> Any:
    """``cutoff="auto"``: c with both norms, else the instrument's cut-off, else none."""
    if not (isinstance(cutoff, str) and cutoff == "auto"):
        return cutoff
    if clin is not None and func is not None:
        return "c"
    if inst is not None and inst.cutoff is not None:
        return "instrument"
    return None


# --- Choosing pre and post ------------------------------------------------------------------
def _choose_prepost(
    matrix: np.ndarray,
    sessions: np.ndarray,
    col_pre: int | None,
    col_post: int | None,
    minimum: int,
    method_name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Row indices of analysable clients, their pre and post columns, and skip reasons."""
    observed = ~np.isnan(matrix)
    n_clients, n_sessions = matrix.shape
    lo = 0 if col_pre is None else col_pre
    hi = n_sessions - 1 if col_post is None else col_post
    window = observed[:, lo : hi + 1]
    n_total = observed.sum(axis=1)
    n_window = window.sum(axis=1) if (lo, hi) != (0, n_sessions - 1) else n_total
    first, last = first_and_last(window)
    first, last = lo + first, lo + last
    pre_col = np.full(n_clients, col_pre) if col_pre is not None else first
    post_col = np.full(n_clients, col_post) if col_post is not None else last

    # One reason per client: the first that applies, in this order.
    reason = np.zeros(n_clients, dtype=np.int8)
    checks = [(n_total < 2, 1)]
    if col_pre is not None:
        checks.append((~observed[:, col_pre], 2))
    if col_post is not None:
        checks.append((~observed[:, col_post], 3))
    checks.append((post_col <= pre_col, 4))
    checks.append((n_window < minimum, 5))
    for mask, code in checks:
        reason[(reason == 0) & mask] = code
    rows = np.flatnonzero(reason == 0)
    bad = np.flatnonzero(reason)
    label = "the HLM method" if method_name == "hlm" else "reliable change"
    ps = None if col_pre is None else sessions[col_pre]
    qs = None if col_post is None else sessions[col_post]

    def text(code: int, i: int) -> str:
        if code == 1:
            return f"{n_total[i]} observed score(s); {label} needs at least 2"
        if code == 2:
            return f"no observed score at pre_session {ps}"
        if code == 3:
            return f"no observed score at post_session {qs}"
        if code == 4:
            return f"no observed score after pre_session {ps}"
        span = f" between sessions {sessions[lo]} and {sessions[hi]}"
        return f"{n_window[i]} observed score(s){span}; {label} needs at least {minimum}"

    reasons = (bad, [text(int(reason[i]), int(i)) for i in bad])  # only the skipped clients
    return rows, pre_col[rows], post_col[rows], reasons


def _skipped_frame(clients: pd.Index, reasons: Any) -> pd.DataFrame:
    bad, text = reasons
    if len(bad) == 0:
        return empty_skipped()
    return pd.DataFrame(
        {"client": clients.take(bad).to_numpy(), "reason": text}, columns=SKIPPED_COLUMNS
    )


def _session_column(sessions: np.ndarray, value: Any, name: str) -> int | None:
    if value is None:
        return None
    hits = np.flatnonzero(sessions == value)
    if len(hits) == 0:
        shown = sessions.tolist()
        shown = shown if len(shown) <= 20 else shown[:10] + ["..."] + shown[-5:]
        raise SessionError(
            f"{name}={value!r} is not a session in the data; sessions are {shown}. "
            f"Fix: pass one of these, or leave {name} out to use each client's "
            + ("first" if name == "pre_session" else "last")
            + " observed session."
        )
    return int(hits[0])


# --- Small helpers ----------------------------------------------------------------------------
def _numeric_column(df: pd.DataFrame, column: str, inst: Instrument | None) -> np.ndarray:
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        raise NonNumericError(
            f"Column {column!r} holds True/False, not scores. Fix: convert it to the "
            "questionnaire totals (numbers), or name the score column."
        )
    values = np.array(pd.to_numeric(raw, errors="coerce"), dtype=float, copy=True)
    if raw.dtype == object:
        values[raw.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy()] = np.nan
    bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy() | np.isinf(values))
    if len(bad):
        raise NonNumericError(
            f"Column {column!r}: {len(bad)} value(s) that are not numbers, e.g. rows "
            f"{[_plain(df.index[i]) for i in bad[:_SHOW]]} "
            f"(values {[_plain(raw.iloc[i]) for i in bad[:_SHOW]]}). Fix: convert the column "
            "to numbers (missing scores empty/NaN)."
        )
    with np.errstate(invalid="ignore"):
        huge = np.flatnonzero(np.abs(values) > MAGNITUDE[1])
    if len(huge):
        raise MagnitudeError(
            f"Column {column!r}: {len(huge)} score(s) beyond {MAGNITUDE[1]:g} in magnitude, "
            f"e.g. rows {[_plain(df.index[i]) for i in huge[:_SHOW]]}; squares of such scores "
            "overflow. Fix: check the units and rescale the column (with every option in "
            "points rescaled alike)."
        )
    check_magnitude(values, column)
    if inst is not None:
        with np.errstate(invalid="ignore"):
            out = np.flatnonzero((values < inst.min_score) | (values > inst.max_score))
        if len(out):
            raise ScoreRangeError(
                f"Column {column!r}: {len(out)} score(s) outside the {inst.name} range "
                f"[{inst.min_score:g}, {inst.max_score:g}], e.g. rows "
                f"{[_plain(df.index[i]) for i in out[:_SHOW]]}. Fix: check the instrument "
                "and the scoring."
            )
    return values


def _sortable(ids: pd.Series) -> bool:
    try:
        np.argsort(ids.to_numpy(), kind="stable")
    except TypeError:
        return False
    return True


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _nobody_message(skipped: pd.DataFrame) -> str:
    reasons = skipped["reason"].value_counts().head(3)
    listed = "; ".join(f"{n} client(s): {r}" for r, n in reasons.items())
    return f"No client can be analysed ({listed}). Fix: check pre_session/post_session."
