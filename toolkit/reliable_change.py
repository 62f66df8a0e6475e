"""Reliable change and clinical significance: who changed beyond measurement error, who recovered.

:func:`reliable_change` takes repeated scores (long format), picks each client's pre and post
score (by default the first and the last observed session), and computes a reliable change
index (RCI) with one of seven published methods. Combined with a clinical cut-off (Jacobson &
Truax's a, b or c, see :func:`cutoffs`) every client falls into one category:

- **recovered**: reliably improved and moved from the clinical into the functional range;
- **reliably improved**: reliably improved, but not recovered;
- **unchanged**: no reliable change;
- **reliably deteriorated**: reliably deteriorated, but not harmed;
- **harmed**: reliably deteriorated and moved from the functional into the clinical range.

:func:`from_prepost` does the same for a table with one row per client and a pre and a post
column. :func:`rci_cutoff` gives the reliable-change criterion in score points, as used by
the first sudden-gain criterion.

Everything works on arrays over all clients at once; there is no loop over clients.

Examples
--------
>>> import toolkit
>>> from toolkit.reliable_change import reliable_change
>>> claus = toolkit.datasets.load("claus2020")
>>> result = reliable_change(claus, client="id", session="time", score="bdi",
...                          instrument="BDI-II", pre_session=1, post_session=4)
>>> result.summary()
                category   n  share
0              recovered   8  0.200
1      reliably improved  17  0.425
2              unchanged  11  0.275
3  reliably deteriorated   4  0.100
4                 harmed   0  0.000
>>> len(result.skipped)  # no score at session 4
3
"""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import instruments as _instruments
from ._results import SKIPPED_COLUMNS, Result, empty_skipped, warn
from .data import LongScores, as_scores, first_and_last
from .errors import (
    DuplicateSessionError,
    EmptyDataError,
    MissingColumnError,
    NonNumericError,
    ScoreRangeError,
    SessionError,
    UnknownNameError,
)
from .instruments import Instrument

__all__ = [
    "reliable_change",
    "from_prepost",
    "cutoffs",
    "rci_cutoff",
    "ReliableChangeResult",
    "Cutoffs",
    "METHODS",
    "CATEGORIES",
    "TABLE_COLUMNS",
    "SUMMARY_COLUMNS",
    "report_section",
]

#: The RCI methods: canonical name -> the abbreviation used in the literature.
METHODS: dict[str, str] = {
    "jacobson_truax": "JT",
    "gulliksen_lord_novick": "GLN",
    "hsu_linn_lord": "HLL",
    "edwards_nunnally": "EN",
    "nunnally_kotsch": "NK",
    "hageman_arrindell": "HA",
    "hlm": "HLM",
}

#: The categories, from best to worst outcome (the order of :meth:`ReliableChangeResult.summary`).
CATEGORIES: tuple[str, ...] = (
    "recovered",
    "reliably improved",
    "unchanged",
    "reliably deteriorated",
    "harmed",
)

#: Columns of :attr:`ReliableChangeResult.table`, whatever the options.
TABLE_COLUMNS: list[str] = [
    "client",
    "pre_session",
    "post_session",
    "pre",
    "post",
    "change",
    "improvement",
    "rci",
    "reliable_improvement",
    "reliable_deterioration",
    "clinical_pre",
    "clinical_post",
    "category",
]

#: Columns of :meth:`ReliableChangeResult.summary`.
SUMMARY_COLUMNS: list[str] = ["category", "n", "share"]

#: Columns of :attr:`ReliableChangeResult.coefficients` (the HLM method only).
COEFFICIENT_COLUMNS: list[str] = ["client", "slope", "slope_se", "deviation", "deviation_se"]

_CUTOFF_TYPES = ("a", "b", "c", "instrument")
_HLM_MIN_OBSERVED = 3
_SHOW = 5


def _method_key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


_METHOD_ALIASES: dict[str, str] = {
    **{k: k for k in METHODS},
    **{_method_key(v): k for k, v in METHODS.items()},
}


# --- Results --------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class ReliableChangeResult(Result):
    """Per-client reliable change and clinical significance. Built by :func:`reliable_change`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed client; columns :data:`TABLE_COLUMNS` (see
        :func:`reliable_change`, Returns).
    settings : dict
        Every argument as passed, the column roles, ``score_label`` and the toolkit version.
    skipped : pandas.DataFrame
        Clients not analysed: ``client``, ``reason``.
    warnings : tuple of str
        Problems met on the way (also raised as :class:`toolkit.errors.ToolkitWarning`).
    parameters : dict
        The numbers the classification used: ``method``, ``n_clients``, ``reliability``,
        ``reliability_post``, ``sd`` and ``sd_source``, the sample's ``mean_pre``,
        ``sd_pre``, ``mean_post``, ``sd_post`` and ``r_pre_post``, ``se_measurement``,
        ``s_diff``, ``se_prediction``, ``r_dd`` (Hageman-Arrindell), ``critical_value``,
        ``sided``, ``band`` (``(intercept, slope, half_width)`` of the no-reliable-change band
        in the pre/post plane, None for HLM), ``rc_points`` (Jacobson-Truax only: the smallest
        reliable change in score points), ``clinical`` and ``functional`` (mean, SD) with
        their ``*_source``, ``cutoffs`` (a, b, c), ``cutoff_type`` and ``cutoff`` (the value
        used, None without clinical significance), ``better``.
    coefficients : pandas.DataFrame or None
        HLM method only: per client ``client``, ``slope`` (empirical-Bayes estimate of the
        client's own slope, fixed + random part, score points per session), ``slope_se``,
        ``deviation`` (the random part alone) and ``deviation_se``.
    sm_result : statsmodels MixedLMResults or None
        HLM method only: the fitted growth model.
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    coefficients: pd.DataFrame | None = None
    sm_result: Any = None

    def summary(self) -> pd.DataFrame:
        """Number and share of clients per category.

        Returns
        -------
        pandas.DataFrame
            One row per category in the order of :data:`CATEGORIES` (all five, also when
            empty): ``category``, ``n`` (clients) and ``share`` (of the analysed clients).
        """
        counts = self.table["category"].value_counts(sort=False).reindex(list(CATEGORIES))
        n = counts.fillna(0).astype(np.int64).to_numpy()
        total = n.sum()
        return pd.DataFrame({
            "category": list(CATEGORIES),
            "n": n,
            "share": n / total if total else np.full(len(n), np.nan),
        })

    def summary_by(self, groups: pd.Series | Mapping) -> pd.DataFrame:
        """:meth:`summary` within groups of clients (e.g. treatment arms).

        Parameters
        ----------
        groups : pandas.Series or dict
            Group of each client, indexed (keyed) by client id. Clients without a group
            form the group NaN.

        Returns
        -------
        pandas.DataFrame
            ``group``, ``category``, ``n``, ``share`` (within the group); every category for
            every group.

        Examples
        --------
        >>> import toolkit
        >>> claus = toolkit.datasets.load("claus2020")
        >>> arm = claus.groupby("id")["treatment"].first()
        >>> result = reliable_change(claus, client="id", session="time", score="bdi",
        ...                          instrument="BDI-II", pre_session=1, post_session=4)
        >>> result.summary_by(arm).query("category == 'recovered'")
          group   category  n     share
        0    PA  recovered  6  0.285714
        5   TAU  recovered  2  0.105263
        """
        mapping = pd.Series(groups) if not isinstance(groups, pd.Series) else groups
        if mapping.index.has_duplicates:
            raise ValueError("'groups' lists a client more than once; give one group per client.")
        group = pd.Series(mapping.reindex(self.table["client"].to_numpy()).to_numpy())
        codes, levels = pd.factorize(group, sort=True, use_na_sentinel=False)
        n_cat = len(CATEGORIES)
        # Every (group, category) cell, also the empty ones.
        cell = codes * n_cat + self.table["category"].cat.codes.to_numpy()
        n = np.bincount(cell, minlength=len(levels) * n_cat).reshape(len(levels), n_cat)
        totals = n.sum(axis=1, keepdims=True)
        return pd.DataFrame({
            "group": np.repeat(np.asarray(levels, dtype=object), n_cat),
            "category": np.tile(np.array(CATEGORIES, dtype=object), len(levels)),
            "n": n.reshape(-1).astype(np.int64),
            "share": (n / np.where(totals > 0, totals, np.nan)).reshape(-1),
        })

    def plot(self, ax=None, **kwargs):
        """Jacobson-Truax plot; see :func:`toolkit.plots.reliable_change.jacobson_truax`."""
        from .plots.reliable_change import jacobson_truax

        return jacobson_truax(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<ReliableChangeResult {self.parameters.get('method', '?')}: "
            f"{len(self.table)} clients, {len(self.skipped)} skipped, "
            f"{len(self.warnings)} warnings>"
        )


class Cutoffs(NamedTuple):
    """Jacobson & Truax's (1991) clinical cut-offs, in score points (NaN when not computable).

    a : the clinical mean plus/minus two clinical SDs, towards the better end;
    b : the functional mean plus/minus two functional SDs, towards the worse end;
    c : the point between the two means weighted by their SDs.
    """

    a: float
    b: float
    c: float


# --- Public functions -----------------------------------------------------------------------
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
    sd: Literal["sample", "norm"] | float = "sample",
    clinical: Literal["sample", "norm"] | tuple[float, float] | None = None,
    functional: tuple[float, float] | None = None,
    cutoff: Literal["a", "b", "c", "instrument"] | float | None = "c",
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
        Reliability of the measure (at pre for Nunnally-Kotsch). Default: the instrument's
        internal consistency (``Instrument.reliability``). Not used by the HLM method.
    reliability_post : float, optional
        Nunnally-Kotsch only: reliability at post (default: ``reliability``).
    sd : {"sample", "norm"} or float, default "sample"
        The SD in the standard error of measurement. ``"sample"``: the SD of the analysed
        clients' pre scores, as Jacobson & Truax (1991) did with their pretreatment sample
        and as reference implementations do; ``"norm"``: the clinical norm's SD (from
        ``clinical=(mean, sd)`` or the registry); a number: that SD. The means in the
        formulas are always the sample's pre (and post) means.
    clinical : {"sample", "norm"} or (mean, sd), optional
        The clinical (dysfunctional) population for the cut-offs. Default ``None`` = "norm":
        the instrument's published clinical norms. ``"sample"`` uses the mean and SD of the
        analysed clients' pre scores (what Jacobson & Truax recommend when no norms exist).
    functional : (mean, sd), optional
        The functional (non-clinical) population for cut-offs b and c. Default: the
        instrument's published functional norms.
    cutoff : {"a", "b", "c", "instrument"}, float or None, default "c"
        The cut-off between the clinical and the functional range: Jacobson & Truax's a, b
        or c (see :func:`cutoffs`), the instrument's conventional cut-off
        (``Instrument.cutoff``), a number, or None for reliable change only (then
        ``clinical_pre``/``clinical_post`` are missing and nobody is recovered or harmed).
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
          critical value in the better (worse) direction;
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
    it with the critical value; an index exactly at the critical value is not reliable.
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
    if hlm_slope not in ("total", "deviation"):
        raise ValueError("The 'hlm_slope' parameter of reliable_change must be one of "
                         f"{{'total', 'deviation'}}. Got {hlm_slope!r} instead.")
    scores = as_scores(data, client=client, session=session, score=score, instrument=instrument)
    inst = scores.instrument
    sign = _direction(inst, better)
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

    settings = {
        **scores.roles,
        "instrument": inst.name if inst else None,
        "pre_session": pre_session,
        "post_session": post_session,
        "method": method,
        "alpha": alpha,
        "reliability": reliability,
        "reliability_post": reliability_post,
        "sd": sd,
        "clinical": clinical,
        "functional": functional,
        "cutoff": cutoff,
        "b_uses_clinical_sd": b_uses_clinical_sd,
        "better": better,
        "hlm_slope": hlm_slope,
        "score_label": label,
        "toolkit_version": _version(),
    }
    hlm = None
    if method_name == "hlm":
        lo = 0 if col_pre is None else col_pre
        hi = len(sessions) - 1 if col_post is None else col_post
        hlm = _hlm(matrix[rows, lo:hi + 1], sessions[lo:hi + 1], clients, hlm_slope)
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
    sd: Literal["sample", "norm"] | float = "sample",
    clinical: Literal["sample", "norm"] | tuple[float, float] | None = None,
    functional: tuple[float, float] | None = None,
    cutoff: Literal["a", "b", "c", "instrument"] | float | None = "c",
    b_uses_clinical_sd: bool = False,
    better: Literal["lower", "higher"] | None = None,
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
    _check_alpha(alpha)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"from_prepost() takes a pandas DataFrame; got {type(df).__name__}.")
    for role, column in {"client": client, "pre": pre, "post": post}.items():
        if column not in df.columns:
            raise MissingColumnError(
                f"The {role} column: no column {column!r} in the data. "
                f"Columns are: {list(df.columns)}."
            )
    if len(df) == 0:
        raise EmptyDataError("The DataFrame has no rows, so there are no clients to analyse.")
    inst = _instruments.get(instrument) if instrument is not None else None
    sign = _direction(inst, better)
    ids = df[client]
    if ids.isna().any():
        where = np.flatnonzero(ids.isna().to_numpy())
        raise MissingColumnError(
            f"Column {client!r}: {len(where)} row(s) without a client id: rows "
            f"{[_plain(df.index[i]) for i in where[:_SHOW]]}. Fix: fill in or drop these rows."
        )
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
    text = {1: f"missing pre score ({pre!r})", 2: f"missing post score ({post!r})",
            3: f"missing pre and post scores ({pre!r}, {post!r})"}
    miss = np.flatnonzero(~ok)
    skipped = pd.DataFrame({
        "client": clients_all.take(miss).to_numpy(),
        "reason": [text[c] for c in codes[miss]],
    }) if len(miss) else empty_skipped()
    if not ok.any():
        raise EmptyDataError(_nobody_message(skipped))
    n = int(ok.sum())
    settings = {
        "client": client,
        "pre": pre,
        "post": post,
        "instrument": inst.name if inst else None,
        "method": method,
        "alpha": alpha,
        "reliability": reliability,
        "reliability_post": reliability_post,
        "sd": sd,
        "clinical": clinical,
        "functional": functional,
        "cutoff": cutoff,
        "b_uses_clinical_sd": b_uses_clinical_sd,
        "better": better,
        "score_label": inst.name if inst else "score",
        "toolkit_version": _version(),
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
    )


def cutoffs(
    instrument: str | Instrument | None = None,
    *,
    clinical: tuple[float, float] | None = None,
    functional: tuple[float, float] | None = None,
    better: Literal["lower", "higher"] | None = None,
    b_uses_clinical_sd: bool = False,
) -> Cutoffs:
    """Jacobson & Truax's (1991) cut-offs a, b and c between the clinical and functional range.

    Parameters
    ----------
    instrument : str or Instrument, optional
        Supplies the direction and, unless given here, the clinical and functional norms.
    clinical, functional : (mean, sd), optional
        Norms of the clinical (dysfunctional) and the functional population; override the
        instrument's.
    better : {"lower", "higher"}, optional
        Direction when there is no instrument.
    b_uses_clinical_sd : bool, default False
        Use the clinical SD in b (a variant found in some applications).

    Returns
    -------
    Cutoffs
        ``(a, b, c)`` in score points; b and c are NaN when functional norms are missing.

    Raises
    ------
    ValueError
        No clinical norms, or no direction.

    Notes
    -----
    With :math:`d = +1` when lower is better and :math:`-1` when higher is better:

    - :math:`a = M_{clin} - 2 d \\, SD_{clin}` (outside the clinical range, towards the
      better end);
    - :math:`b = M_{func} + 2 d \\, SD_{func}` (within the functional range, whose worse
      end it marks);
    - :math:`c = (SD_{clin} M_{func} + SD_{func} M_{clin}) / (SD_{clin} + SD_{func})` (as
      likely to come from either population, for normal distributions with these SDs).

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: A statistical approach to
    defining meaningful change in psychotherapy research. Journal of Consulting and Clinical
    Psychology, 59(1), 12-19.

    Examples
    --------
    >>> cut = cutoffs("BDI-II")  # manual norms: clinical 22.45 (12.75), functional 12.56 (9.93)
    >>> round(cut.a, 2), round(cut.b, 2), round(cut.c, 2)
    (-3.05, 32.42, 16.89)
    """
    inst = _instruments.get(instrument) if instrument is not None else None
    sign = _direction(inst, better)
    clin = _norm_pair(clinical, "clinical") if clinical is not None else _registry_norm(
        inst, "clinical")
    if clin is None:
        raise ValueError(
            "Cut-offs need the clinical population's mean and SD"
            + (f": the registry has none for {inst.name}" if inst else "")
            + ". Fix: pass clinical=(mean, sd)."
        )
    func = _norm_pair(functional, "functional") if functional is not None else _registry_norm(
        inst, "functional")
    return _cutoffs(clin, func, sign, b_uses_clinical_sd)


def rci_cutoff(
    instrument: str | Instrument | None = None,
    *,
    sd: float | None = None,
    reliability: float | None = None,
    z: float = 1.96,
) -> float:
    """Smallest reliable change in score points: z * sqrt(2) * SD * sqrt(1 - r).

    The Jacobson-Truax criterion turned into score points; the first sudden-gain criterion
    (Tang & DeRubeis, 1999) accepts it as the minimum size of a gain.

    Parameters
    ----------
    instrument : str or Instrument, optional
        Supplies the defaults: SD = the clinical norm's SD (``Instrument.clinical_sd``) and
        r = internal consistency (``Instrument.reliability``), as in the sudden-gains
        literature, which uses a pretreatment or normative SD with the measure's published
        reliability.
    sd : float, optional
        SD to use (e.g. of the sample's pretreatment scores); overrides the instrument's.
    reliability : float, optional
        Reliability to use; overrides the instrument's.
    z : float, default 1.96
        Critical value (1.96 = two-sided 5%).

    Returns
    -------
    float
        The cut-off in score points.

    Raises
    ------
    ValueError
        SD or reliability unavailable (the message says what to pass), or out of range.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Journal of Consulting and Clinical Psychology,
    59(1), 12-19.

    Tang, T. Z., & DeRubeis, R. J. (1999). Sudden gains and critical sessions in
    cognitive-behavioral therapy for depression. Journal of Consulting and Clinical
    Psychology, 67(6), 894-904.

    Examples
    --------
    >>> round(rci_cutoff("BDI-II"), 3)  # 1.96 * sqrt(2) * 12.75 * sqrt(1 - 0.92)
    9.996
    """
    inst = _instruments.get(instrument) if instrument is not None else None
    if sd is None:
        sd = inst.clinical_sd if inst is not None else None
    if reliability is None:
        reliability = inst.reliability if inst is not None else None
    missing = [name for name, v in (("sd", sd), ("reliability", reliability)) if v is None]
    if missing:
        where = f"the registry has no {' or '.join(missing)} for {inst.name}" if inst else (
            "no instrument was given")
        raise ValueError(
            f"rci_cutoff needs an SD and a reliability; {where}. Fix: pass "
            + " and ".join(f"{m}=..." for m in missing)
            + " (e.g. the SD of the pretreatment scores and Cronbach's alpha)."
        )
    _check_reliability(reliability, "reliability")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a positive number; got {sd!r}.")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive number; got {z!r}.")
    return float(z * math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability))


# --- Report ---------------------------------------------------------------------------------
def report_section(report, scores: LongScores) -> None:
    """Add the reliable-change section (category counts and the Jacobson-Truax plot) to a report.

    Uses the Jacobson-Truax method from the first to the last observed session with the
    instrument's reliability, cut-off c when the instrument has clinical and functional
    norms, else its conventional cut-off, else reliable change only.
    """
    import matplotlib.pyplot as plt

    report.heading("Reliable and clinically significant change")
    inst = scores.instrument
    if inst is None or inst.reliability is None:
        report.text(
            "Not computed: the reliable change index needs the measure's reliability, and "
            + ("no instrument was named." if inst is None else
               f"the registry has none for {inst.name}.")
            + " Run toolkit.reliable_change.reliable_change(..., reliability=...) instead."
        )
        return
    if None not in (inst.clinical_mean, inst.clinical_sd, inst.functional_mean,
                    inst.functional_sd):
        cut: str | None = "c"
    elif inst.cutoff is not None:
        cut = "instrument"
    else:
        cut = None
    try:
        result = reliable_change(scores, cutoff=cut)
    except ValueError as error:
        report.text(f"Not computed: {error}")
        return
    p = result.parameters
    if p["cutoff"] is None:
        cut_text = "no clinical cut-off (reliable change only)"
    elif p["cutoff_type"] == "instrument":
        cut_text = f"the measure's conventional clinical cut-off {p['cutoff']:.4g}"
    else:
        cut_text = f"Jacobson & Truax's clinical cut-off {p['cutoff_type']} = {p['cutoff']:.4g}"
    report.text(
        f"Jacobson-Truax reliable change index from each client's first to last observed "
        f"session: reliability {p['reliability']:.3g} ({inst.name}), SD of the pre scores "
        f"{p['sd']:.3g}, so a change of at least {p['rc_points']:.3g} points is reliable "
        f"(alpha = {result.settings['alpha']}); {cut_text}. {len(result.table)} clients "
        f"analysed, {len(result.skipped)} skipped."
    )
    report.table("reliable_change_summary", result.summary(),
                 "Clients per reliable-change category")
    if len(result.skipped):
        report.table("reliable_change_skipped", result.skipped,
                     "Clients without a reliable change index, with the reason")
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    result.plot(ax=ax)
    report.figure("jacobson_truax", fig,
                  "Jacobson-Truax plot: pre against post score, the no-change diagonal, the "
                  "band of no reliable change and the clinical cut-off.")


# --- The computation ------------------------------------------------------------------------
def _analyse(
    *,
    clients: pd.Index,
    pre: np.ndarray,
    post: np.ndarray,
    pre_session: np.ndarray,
    post_session: np.ndarray,
    skipped: pd.DataFrame,
    settings: dict,
    inst: Instrument | None,
    sign: int,
    method_name: str,
    alpha: float,
    reliability: float | None,
    reliability_post: float | None,
    sd,
    clinical,
    functional,
    cutoff,
    b_uses_clinical_sd: bool,
    hlm: dict | None,
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
        "band": None,
    }
    one_sided = method_name == "hageman_arrindell"
    crit = float(norm.ppf(1 - alpha)) if one_sided else float(norm.ppf(1 - alpha / 2))
    params.update(critical_value=crit, sided="one" if one_sided else "two")
    if hlm is None:
        r = _resolve_reliability(reliability, inst, settings["score_label"])
        r_post = r
        if method_name == "nunnally_kotsch" and reliability_post is not None:
            r_post = _check_reliability(reliability_post, "reliability_post")
        s, s_source = _resolve_sd(sd, clin, clin_source, stats, inst)
        rci, extra = _rci(method_name, pre, post, r=r, r_post=r_post, s=s, stats=stats)
        params.update(reliability=r, sd=s, sd_source=s_source, **extra)
        if method_name == "nunnally_kotsch":
            params["reliability_post"] = r_post
        intercept, slope, scale = params["band"]
        params["band"] = (intercept, slope, crit * scale)
        if method_name == "jacobson_truax":
            params["rc_points"] = crit * params["s_diff"]
    else:
        rci = hlm["rci"]
        params.update(fixed_slope=hlm["fixed_slope"], slope_kind=hlm["slope_kind"])

    # Positive = better, whatever the instrument's direction.
    z_better = -sign * rci
    improved = z_better > crit
    deteriorated = z_better < -crit

    func = _resolve_functional(functional, inst)
    cut_value, cut_type, cut_set = _resolve_cutoff(
        cutoff, clin, func, sign, b_uses_clinical_sd, inst, settings["score_label"]
    )
    func_source = None if func is None else ("norm" if functional is None else "given")
    params.update(clinical=clin, clinical_source=clin_source, functional=func,
                  functional_source=func_source, cutoffs=cut_set, cutoff_type=cut_type,
                  cutoff=cut_value)
    if cut_value is None:
        clinical_pre = pd.array(np.zeros(n, dtype=bool), dtype="boolean")
        clinical_pre[:] = pd.NA
        clinical_post = clinical_pre.copy()
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
    table = pd.DataFrame({
        "client": clients.to_numpy(),
        "pre_session": np.asarray(pre_session, dtype=np.int64),
        "post_session": np.asarray(post_session, dtype=np.int64),
        "pre": pre,
        "post": post,
        "change": post - pre,
        "improvement": sign * (pre - post),
        "rci": rci,
        "reliable_improvement": improved,
        "reliable_deterioration": deteriorated,
        "clinical_pre": clinical_pre,
        "clinical_post": clinical_post,
        "category": pd.Categorical.from_codes(codes, categories=list(CATEGORIES), ordered=True),
    })
    messages = tuple(hlm["warnings"]) if hlm is not None else ()
    return ReliableChangeResult(
        table=table,
        settings=settings,
        skipped=skipped,
        warnings=messages,
        parameters=params,
        coefficients=hlm["coefficients"] if hlm is not None else None,
        sm_result=hlm["sm_result"] if hlm is not None else None,
    )


def _rci(method: str, pre: np.ndarray, post: np.ndarray, *, r: float, r_post: float, s: float,
         stats: dict) -> tuple[np.ndarray, dict]:
    """The index on the post - pre scale, and the band post = intercept + slope*pre +/- z*scale."""
    m1, m2 = stats["mean_pre"], stats["mean_post"]
    se = s * math.sqrt(1 - r)
    s_diff = math.sqrt(2.0) * se
    se_pred = s * math.sqrt(1 - r * r)
    extra = {"se_measurement": se, "s_diff": s_diff}
    if method == "jacobson_truax":
        return (post - pre) / s_diff, {**extra, "band": (0.0, 1.0, s_diff)}
    if method == "gulliksen_lord_novick":
        rci = ((post - m1) - r * (pre - m1)) / se_pred
        return rci, {**extra, "se_prediction": se_pred, "band": (m1 * (1 - r), r, se_pred)}
    if method == "hsu_linn_lord":
        rci = ((post - m2) - r * (pre - m1)) / se_pred
        return rci, {**extra, "se_prediction": se_pred, "band": (m2 - r * m1, r, se_pred)}
    if method == "edwards_nunnally":
        rci = (post - (r * (pre - m1) + m1)) / se
        return rci, {**extra, "band": (m1 * (1 - r), r, se)}
    if method == "nunnally_kotsch":
        denominator = math.sqrt(r * r * s * s * (1 - r) + s * s * (1 - r_post))
        rci = (post - (r * (pre - m1) + m1)) / denominator
        return rci, {**extra, "band": (m1 * (1 - r), r, denominator)}
    # Hageman & Arrindell (1999): reliability of the difference scores from the sample.
    s1, s2, r12 = stats["sd_pre"], stats["sd_post"], stats["r_pre_post"]
    if not (s1 > 0 and s2 > 0 and np.isfinite(r12)):
        raise ValueError(
            "The Hageman-Arrindell method needs pre and post scores that vary across "
            f"clients (SD pre {s1:.3g}, SD post {s2:.3g}) and at least 3 clients."
        )
    r1 = 1 - se * se / (s1 * s1)
    r2 = 1 - se * se / (s2 * s2)
    r_dd = (s1 * s1 * r1 + s2 * s2 * r2 - 2 * s1 * s2 * r12) / (
        s1 * s1 + s2 * s2 - 2 * s1 * s2 * r12)
    if not 0 < r_dd <= 1:
        raise ValueError(
            f"The Hageman-Arrindell reliability of the difference scores is {r_dd:.3g}, "
            "outside (0, 1], so their index is undefined for these data. Fix: check the "
            "reliability, or use another method."
        )
    rci = ((post - pre) * r_dd + (m2 - m1) * (1 - r_dd)) / (math.sqrt(r_dd) * s_diff)
    band = (-(m2 - m1) * (1 - r_dd) / r_dd, 1.0, s_diff / math.sqrt(r_dd))
    return rci, {**extra, "r_dd": r_dd, "band": band}


def _hlm(window: np.ndarray, sessions: np.ndarray, clients: pd.Index, slope_kind: str) -> dict:
    """Random-slope growth model; empirical-Bayes slopes and their SEs, vectorised over clients."""
    import statsmodels.api as sm

    rows, cols = np.nonzero(~np.isnan(window))
    y = window[rows, cols]
    t = sessions[cols].astype(float)
    if np.unique(t).size < 3:
        raise ValueError(
            "The HLM method needs at least 3 distinct sessions to fit a growth curve; these "
            f"data have {np.unique(t).size} in the window. Fix: use another method."
        )
    t = t - t.mean()  # centring changes neither the slopes nor their SEs; it helps the fit
    design = np.column_stack([np.ones_like(t), t])
    model = sm.MixedLM(y, design, groups=rows, exog_re=design)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        fit = model.fit(reml=True)
    messages = []
    noted = sorted({str(w.message).strip() for w in caught})
    if noted or not getattr(fit, "converged", True):
        messages.append(warn(
            "The growth model (HLM method) did not fit cleanly: "
            + ("; ".join(noted) if noted else "the optimiser did not converge")
            + ". Slopes near the boundary are shrunk towards the average slope; check "
            "result.sm_result.", stacklevel=4))

    beta = np.asarray(fit.fe_params, dtype=float)
    g = np.asarray(fit.cov_re, dtype=float)
    s2 = float(fit.scale)
    c_beta = np.asarray(fit.cov_params(), dtype=float)[:2, :2]
    n_clients = window.shape[0]
    residual = y - (beta[0] + beta[1] * t)
    count = np.bincount(rows, minlength=n_clients).astype(float)
    st = np.bincount(rows, weights=t, minlength=n_clients)
    stt = np.bincount(rows, weights=t * t, minlength=n_clients)
    sr = np.bincount(rows, weights=residual, minlength=n_clients)
    str_ = np.bincount(rows, weights=t * residual, minlength=n_clients)
    z_z = np.empty((n_clients, 2, 2))
    z_z[:, 0, 0], z_z[:, 0, 1], z_z[:, 1, 0], z_z[:, 1, 1] = count, st, st, stt
    # A_i = (Z'Z/s2 + G^-1)^-1 = K_i G with K_i = (I + G Z'Z/s2)^-1, which needs no G^-1
    # (G may be singular at the boundary).
    k = np.linalg.inv(np.eye(2) + np.einsum("ab,nbc->nac", g, z_z) / s2)
    a = k @ g
    b = np.einsum("nab,nb->na", a, np.column_stack([sr, str_])) / s2
    # Prediction error variance of beta_hat + b_hat: A_i + K_i C K_i' (Henderson's mixed model
    # equations, with the uncertainty of the fixed effects C).
    pev_total = a + k @ c_beta @ np.transpose(k, (0, 2, 1))
    deviation, deviation_se = b[:, 1], np.sqrt(a[:, 1, 1])
    slope, slope_se = beta[1] + b[:, 1], np.sqrt(pev_total[:, 1, 1])
    z = slope / slope_se if slope_kind == "total" else deviation / deviation_se
    coefficients = pd.DataFrame({
        "client": clients.to_numpy(),
        "slope": slope,
        "slope_se": slope_se,
        "deviation": deviation,
        "deviation_se": deviation_se,
    })
    return {"rci": z, "coefficients": coefficients, "sm_result": fit, "warnings": messages,
            "fixed_slope": float(beta[1]), "slope_kind": slope_kind}


# --- Choosing pre and post ------------------------------------------------------------------
def _choose_prepost(matrix, sessions, col_pre, col_post, minimum, method_name):
    """Row indices of analysable clients, their pre and post columns, and skip reasons."""
    observed = ~np.isnan(matrix)
    n_clients, n_sessions = matrix.shape
    lo = 0 if col_pre is None else col_pre
    hi = n_sessions - 1 if col_post is None else col_post
    window = observed[:, lo:hi + 1]
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


def _skipped_frame(clients: pd.Index, reasons) -> pd.DataFrame:
    bad, text = reasons
    if len(bad) == 0:
        return empty_skipped()
    return pd.DataFrame({"client": clients.take(bad).to_numpy(), "reason": text},
                        columns=SKIPPED_COLUMNS)


def _session_column(sessions: np.ndarray, value, name: str) -> int | None:
    if value is None:
        return None
    hits = np.flatnonzero(sessions == value)
    if len(hits) == 0:
        shown = sessions.tolist()
        shown = shown if len(shown) <= 20 else shown[:10] + ["..."] + shown[-5:]
        raise SessionError(
            f"{name}={value!r} is not a session in the data; sessions are {shown}. "
            f"Fix: pass one of these, or leave {name} out to use each client's "
            + ("first" if name == "pre_session" else "last") + " observed session."
        )
    return int(hits[0])


# --- Resolving reliability, SDs, norms, cut-offs -----------------------------------------------
def _resolve_method(method: str) -> str:
    key = _METHOD_ALIASES.get(_method_key(method))
    if key is None:
        raise UnknownNameError(
            f"Unknown reliable change method {method!r}. Valid methods: {list(METHODS)} "
            f"(or their abbreviations {list(METHODS.values())})."
        )
    return key


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha is a significance level and must lie in (0, 1); got {alpha!r}.")


def _check_reliability(r, name: str) -> float:
    if not (isinstance(r, (int, float, np.floating)) and 0 < r < 1):
        raise ValueError(f"{name} must lie in (0, 1); got {r!r}.")
    return float(r)


def _direction(inst: Instrument | None, better: str | None) -> int:
    if better is not None and better not in ("lower", "higher"):
        raise ValueError("The 'better' parameter must be one of {'lower', 'higher'}. "
                         f"Got {better!r} instead.")
    if inst is not None:
        if better is not None and better != inst.better:
            raise ValueError(
                f"better={better!r} contradicts the instrument {inst.name}, for which "
                f"{inst.better} scores are better. Fix: drop the better argument."
            )
        return inst.sign
    if better is None:
        raise ValueError(
            "Which direction is improvement? No instrument was given. Fix: pass "
            "better='lower' (e.g. symptom scales) or better='higher' (e.g. well-being), or "
            "name a registered instrument."
        )
    return 1 if better == "lower" else -1


def _resolve_reliability(reliability, inst: Instrument | None, label: str) -> float:
    if reliability is not None:
        return _check_reliability(reliability, "reliability")
    if inst is not None and inst.reliability is not None:
        return float(inst.reliability)
    where = (f"the instrument registry has no reliability for {inst.name}" if inst is not None
             else f"no instrument was given for {label!r}")
    raise ValueError(
        f"The reliable change index needs the measure's reliability, and {where}. Fix: pass "
        "reliability=... (e.g. Cronbach's alpha or the test-retest correlation from the "
        "measure's manual), or register an Instrument with it."
    )


def _sample_stats(pre: np.ndarray, post: np.ndarray) -> dict:
    n = len(pre)
    if n >= 2:
        sd_pre, sd_post = float(np.std(pre, ddof=1)), float(np.std(post, ddof=1))
    else:
        sd_pre = sd_post = float("nan")
    if n >= 3 and sd_pre > 0 and sd_post > 0:
        r12 = float(np.corrcoef(pre, post)[0, 1])
    else:
        r12 = float("nan")
    return {"mean_pre": float(np.mean(pre)), "sd_pre": sd_pre, "mean_post": float(np.mean(post)),
            "sd_post": sd_post, "r_pre_post": r12}


def _norm_pair(value, name: str) -> tuple[float, float]:
    try:
        m, s = value
        m, s = float(m), float(s)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (mean, sd) pair of numbers; got {value!r}.") from None
    if not (math.isfinite(m) and math.isfinite(s) and s > 0):
        raise ValueError(f"{name}=(mean, sd) needs a finite mean and a positive SD; got {value!r}.")
    return m, s


def _registry_norm(inst: Instrument | None, kind: str) -> tuple[float, float] | None:
    if inst is None:
        return None
    m, s = getattr(inst, f"{kind}_mean"), getattr(inst, f"{kind}_sd")
    return None if m is None or s is None else (float(m), float(s))


def _resolve_clinical(clinical, inst, stats) -> tuple[tuple[float, float] | None, str | None]:
    if isinstance(clinical, str):
        if clinical == "sample":
            if not stats["sd_pre"] > 0:
                raise ValueError("clinical='sample' needs at least 2 clients whose pre scores "
                                 "differ; pass clinical=(mean, sd) instead.")
            return (stats["mean_pre"], stats["sd_pre"]), "sample"
        if clinical != "norm":
            raise ValueError("The 'clinical' parameter must be 'sample', 'norm', a (mean, sd) "
                             f"pair or None. Got {clinical!r} instead.")
        return _registry_norm(inst, "clinical"), "norm"
    if clinical is None:
        pair = _registry_norm(inst, "clinical")
        return pair, ("norm" if pair is not None else None)
    return _norm_pair(clinical, "clinical"), "given"


def _resolve_functional(functional, inst) -> tuple[float, float] | None:
    if functional is None:
        return _registry_norm(inst, "functional")
    return _norm_pair(functional, "functional")


def _resolve_sd(sd, clin, clin_source, stats, inst) -> tuple[float, str]:
    if isinstance(sd, str):
        if sd == "sample":
            s = stats["sd_pre"]
            if not s > 0:
                raise ValueError(
                    "sd='sample' needs at least 2 analysed clients whose pre scores differ "
                    f"(SD = {s}). Fix: pass sd='norm' or sd=<a published SD>."
                )
            return s, "sample"
        if sd == "norm":
            if clin is None:
                where = f" for {inst.name}" if inst is not None else ""
                raise ValueError(
                    f"sd='norm' needs the clinical norm's SD and none is known{where}. Fix: "
                    "pass clinical=(mean, sd), sd=<a number>, or sd='sample'."
                )
            return clin[1], "norm" if clin_source != "sample" else "sample"
        raise ValueError("The 'sd' parameter must be 'sample', 'norm' or a positive number. "
                         f"Got {sd!r} instead.")
    if not (isinstance(sd, (int, float, np.floating)) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be 'sample', 'norm' or a positive number; got {sd!r}.")
    return float(sd), "given"


def _cutoffs(clin, func, sign: int, b_uses_clinical_sd: bool) -> Cutoffs:
    m_c, s_c = clin
    a = m_c - 2 * sign * s_c
    if func is None:
        return Cutoffs(float(a), float("nan"), float("nan"))
    m_f, s_f = func
    b = m_f + 2 * sign * (s_c if b_uses_clinical_sd else s_f)
    c = (s_c * m_f + s_f * m_c) / (s_c + s_f)
    return Cutoffs(float(a), float(b), float(c))


def _resolve_cutoff(cutoff, clin, func, sign, b_uses_clinical_sd, inst, label):
    """The cut-off value, its type and the set (a, b, c) where computable."""
    cut_set = _cutoffs(clin, func, sign, b_uses_clinical_sd) if clin is not None else None
    if cutoff is None:
        return None, None, cut_set
    if isinstance(cutoff, str):
        if cutoff not in _CUTOFF_TYPES:
            raise ValueError(
                f"The 'cutoff' parameter must be one of {set(_CUTOFF_TYPES)}, a number or None. "
                f"Got {cutoff!r} instead."
            )
        if cutoff == "instrument":
            if inst is None or inst.cutoff is None:
                raise ValueError(
                    "cutoff='instrument' needs the instrument's conventional cut-off, and "
                    + (f"the registry has none for {inst.name}" if inst else "there is no "
                       "instrument") + ". Fix: pass cutoff=<a number>, 'a', 'b', 'c' or None."
                )
            return float(inst.cutoff), "instrument", cut_set
        needs_clin = cutoff in ("a", "c") or b_uses_clinical_sd
        needs_func = cutoff in ("b", "c")
        name = inst.name if inst is not None else label
        if needs_clin and clin is None:
            raise ValueError(
                f"Cut-off {cutoff!r} needs the clinical population's mean and SD, and none "
                f"is known for {name!r}. Fix: pass clinical='sample' (the pre scores of these "
                "clients, as Jacobson & Truax suggest when no norms exist) or "
                "clinical=(mean, sd), or choose cutoff=<a number> or None."
            )
        if needs_func and func is None:
            alt = " or cutoff='instrument'" if inst is not None and inst.cutoff is not None else ""
            raise ValueError(
                f"Cut-off {cutoff!r} needs the functional population's mean and SD, and none "
                f"is known for {name!r}. Fix: pass functional=(mean, sd), or use cutoff='a'"
                f"{alt}, cutoff=<a number> or cutoff=None."
            )
        if cut_set is None:  # cutoff "b" without clinical norms
            m_f, s_f = func
            value = m_f + 2 * sign * s_f
            return float(value), "b", Cutoffs(float("nan"), float(value), float("nan"))
        return float(getattr(cut_set, cutoff)), cutoff, cut_set
    if not (isinstance(cutoff, (int, float, np.floating)) and math.isfinite(cutoff)):
        raise ValueError(f"cutoff must be 'a', 'b', 'c', 'instrument', a number or None; got "
                         f"{cutoff!r}.")
    return float(cutoff), "value", cut_set


# --- Small helpers ----------------------------------------------------------------------------
def _numeric_column(df: pd.DataFrame, column: str, inst: Instrument | None) -> np.ndarray:
    raw = df[column]
    values = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=float)
    bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy() | np.isinf(values))
    if len(bad):
        raise NonNumericError(
            f"Column {column!r}: {len(bad)} value(s) that are not numbers, e.g. rows "
            f"{[_plain(df.index[i]) for i in bad[:_SHOW]]} "
            f"(values {[_plain(raw.iloc[i]) for i in bad[:_SHOW]]}). Fix: convert the column "
            "to numbers (missing scores empty/NaN)."
        )
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


def _version() -> str:
    from . import __version__

    return __version__
