"""Norms, cut-offs and the numbers behind an index: reliability, SD, clinical populations.

Jacobson & Truax's cut-offs a, b and c (:func:`cutoffs`), the reliable-change criterion in
points for a given SD and reliability (:func:`rci_cutoff`), and the resolution of every
option of :func:`toolkit.reliable_change.reliable_change` that names a population.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Literal, cast

import numpy as np

from .. import _checks
from .. import instruments as _instruments
from .._checks import level
from ..criterion import Z_95
from ..errors import DirectionError, OptionError, UnknownNameError
from ..instruments import Instrument, direction_sign
from ._result import METHOD_ALIASES, METHODS, Cutoffs, method_key

__all__ = ["cutoffs", "rci_cutoff", "CUTOFF_TYPES"]

CUTOFF_TYPES = ("a", "b", "c", "instrument")


def _sign(inst: Instrument | None, better: str | None) -> int:
    sign = direction_sign(inst, better)
    if sign is None:
        raise DirectionError(
            "Which direction is improvement? No instrument was given. Fix: pass "
            "better='lower' (e.g. symptom scales) or better='higher' (e.g. well-being), or "
            "name a registered instrument."
        )
    return sign


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
    _checks.flag(b_uses_clinical_sd, "b_uses_clinical_sd", "cutoffs")
    sign = _sign(inst, better)
    clin = (
        check_norm(clinical, "clinical", inst, "cutoffs")
        if clinical is not None
        else _registry_norm(inst, "clinical")
    )
    if clin is None:
        raise ValueError(
            "Cut-offs need the clinical population's mean and SD"
            + (f": the registry has none for {inst.name}" if inst else "")
            + ". Fix: pass clinical=(mean, sd)."
        )
    func = (
        check_norm(functional, "functional", inst, "cutoffs")
        if functional is not None
        else _registry_norm(inst, "functional")
    )
    return _cutoffs(clin, func, sign, b_uses_clinical_sd)


def rci_cutoff(
    instrument: str | Instrument | None = None,
    *,
    sd: float | None = None,
    reliability: float | None = None,
    z: float = Z_95,
) -> float:
    """Smallest reliable change in score points: z * sqrt(2) * SD * sqrt(1 - r).

    A calculator for the Jacobson-Truax criterion in score points. The criterion every
    method uses is resolved once per data set, in a documented order that puts a published
    fixed criterion first (:mod:`toolkit.criterion`, ``scores.reliable_change``); this
    function is for computing one from chosen numbers.

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
    return rci_points(inst, sd=sd, reliability=reliability, z=z, function="rci_cutoff")


def rci_points(
    inst: Instrument | None,
    *,
    sd: Any,
    reliability: Any,
    z: Any = Z_95,
    function: str,
) -> float:
    """:func:`rci_cutoff` for a resolved instrument; messages name ``function``'s options."""
    if sd is not None:
        sd = check_sd(sd, inst, function, strings=False)
    if reliability is not None:
        reliability = _check_reliability(reliability, "reliability", function)
    z = _checks.number(z, "z", function, low=0.0, low_open=True)
    if sd is None:
        sd = inst.clinical_sd if inst is not None else None
    if reliability is None:
        reliability = inst.reliability if inst is not None else None
    missing = [name for name, v in (("sd", sd), ("reliability", reliability)) if v is None]
    if missing:
        where = (
            f"the registry has no {' or '.join(missing)} for {inst.name}"
            if inst
            else ("no instrument was given")
        )
        raise ValueError(
            f"{function} needs an SD and a reliability; {where}. Fix: pass "
            + " and ".join(f"{m}=..." for m in missing)
            + " (e.g. the SD of the pretreatment scores and Cronbach's alpha)."
        )
    # both are set here: a missing one raised above
    sd, reliability = cast(float, sd), cast(float, reliability)
    return float(z * math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability))


# --- Resolving reliability, SDs, norms, cut-offs -----------------------------------------------
def _resolve_method(method: str) -> str:
    key = METHOD_ALIASES.get(method_key(method))
    if key is None:
        raise UnknownNameError(
            f"Unknown reliable change method {method!r}. Valid methods: {list(METHODS)} "
            f"(or their abbreviations {list(METHODS.values())})."
        )
    return key


def _check_alpha(alpha: float, function: str = "reliable_change") -> None:
    level(alpha, "alpha", function)


def _check_reliability(r: Any, name: str, function: str = "reliable_change") -> float:
    return _checks.number(r, name, function, low=0.0, high=1.0, low_open=True, high_open=True)


def _span(inst: Instrument | None) -> float | None:
    return None if inst is None else float(inst.max_score - inst.min_score)


def _units(inst: Instrument | None) -> str:
    return f"points of {inst.name}" if inst is not None else ""


def check_sd(sd: Any, inst: Instrument | None, function: str, *, strings: bool = True) -> Any:
    """``sd``: "sample", "norm" (when ``strings``) or an SD in (0, the instrument's range]."""
    if strings and isinstance(sd, str):
        return _checks.choice(sd, "sd", function, ("sample", "norm"))
    span = _span(inst)
    if isinstance(sd, str) or isinstance(sd, (bool, np.bool_)) or not isinstance(sd, Real):
        shown = "'sample', 'norm' or " if strings else ""
        raise OptionError(
            f"The 'sd' parameter of {function} must be {shown}a number in (0, "
            f"{'inf' if span is None else f'{span:g}'}]{' (' + _units(inst) + ')' if inst else ''}"
            f". Got {sd!r} instead."
        )
    return _checks.number(sd, "sd", function, low=0.0, high=span, low_open=True)


def check_norm(value: Any, name: str, inst: Instrument | None, function: str) -> tuple:
    """A (mean, sd) norm: the mean within the instrument's range, the SD in (0, range]."""
    lo = None if inst is None else float(inst.min_score)
    hi = None if inst is None else float(inst.max_score)
    return _checks.pair(
        value,
        name,
        function,
        unit=_units(inst),
        first=(lo, hi, False, False),
        second=(0.0, _span(inst), True, False),
    )


def check_options(
    function: str,
    inst: Instrument | None,
    *,
    alpha: Any,
    reliability: Any,
    reliability_post: Any,
    sd: Any,
    clinical: Any,
    functional: Any,
    cutoff: Any,
    b_uses_clinical_sd: Any,
) -> None:
    """Types and ranges of every option of :func:`reliable_change` and :func:`from_prepost`,
    before any data is touched; numbers in score points must lie within the instrument's
    range (a cut-off, a norm's mean) or be at most its width (an SD)."""
    _check_alpha(alpha, function)
    if reliability is not None:
        _check_reliability(reliability, "reliability", function)
    if reliability_post is not None:
        _check_reliability(reliability_post, "reliability_post", function)
    if sd is not None:
        check_sd(sd, inst, function)
    if isinstance(clinical, str):
        _checks.choice(clinical, "clinical", function, ("sample", "norm"))
    elif clinical is not None:
        check_norm(clinical, "clinical", inst, function)
    if functional is not None:
        check_norm(functional, "functional", inst, function)
    check_cutoff(cutoff, inst, function)
    _checks.flag(b_uses_clinical_sd, "b_uses_clinical_sd", function)


def check_cutoff(cutoff: Any, inst: Instrument | None, function: str) -> None:
    """``cutoff``: a named cut-off, None, or a number of points within the instrument's range."""
    if cutoff is None:
        return
    names = ("auto", *CUTOFF_TYPES)
    lo = None if inst is None else float(inst.min_score)
    hi = None if inst is None else float(inst.max_score)
    interval = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    try:
        if isinstance(cutoff, str):
            _checks.choice(cutoff, "cutoff", function, names)
        else:
            _checks.number(cutoff, "cutoff", function, low=lo, high=hi)
    except OptionError:
        where = f" ({_units(inst)}, the instrument's range)" if inst is not None else ""
        raise OptionError(
            f"The 'cutoff' parameter of {function} must be one of "
            f"{{{', '.join(repr(n) for n in names)}}}, None or a "
            f"number in {interval}{where}. Got {cutoff!r} instead."
        ) from None


def _resolve_reliability(reliability: Any, inst: Instrument | None, label: str) -> float:
    if reliability is not None:
        return _check_reliability(reliability, "reliability")
    if inst is not None and inst.reliability is not None:
        return float(inst.reliability)
    where = (
        f"the instrument registry has no reliability for {inst.name}"
        if inst is not None
        else f"no instrument was given for {label!r}"
    )
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
    return {
        "mean_pre": float(np.mean(pre)),
        "sd_pre": sd_pre,
        "mean_post": float(np.mean(post)),
        "sd_post": sd_post,
        "r_pre_post": r12,
    }


def _norm_pair(value: Any, name: str) -> tuple[float, float]:
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


def _resolve_clinical(
    clinical: Any, inst: Instrument | None, stats: dict[str, float]
) -> tuple[tuple[float, float] | None, str | None]:
    if isinstance(clinical, str):
        if clinical == "sample":
            if not stats["sd_pre"] > 0:
                raise ValueError(
                    "clinical='sample' needs at least 2 clients whose pre scores "
                    "differ; pass clinical=(mean, sd) instead."
                )
            return (stats["mean_pre"], stats["sd_pre"]), "sample"
        if clinical != "norm":
            raise ValueError(
                "The 'clinical' parameter must be 'sample', 'norm', a (mean, sd) "
                f"pair or None. Got {clinical!r} instead."
            )
        return _registry_norm(inst, "clinical"), "norm"
    if clinical is None:
        pair = _registry_norm(inst, "clinical")
        return pair, ("norm" if pair is not None else None)
    return _norm_pair(clinical, "clinical"), "given"


def _resolve_functional(functional: Any, inst: Instrument | None) -> tuple[float, float] | None:
    if functional is None:
        return _registry_norm(inst, "functional")
    return _norm_pair(functional, "functional")


def _resolve_sd(
    sd: Any,
    clin: tuple[float, float] | None,
    clin_source: str | None,
    stats: dict[str, float],
    inst: Instrument | None,
) -> tuple[float, str]:
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
        raise ValueError(
            f"The 'sd' parameter must be 'sample', 'norm' or a positive number. Got {sd!r} instead."
        )
    if not (isinstance(sd, (int, float, np.floating)) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be 'sample', 'norm' or a positive number; got {sd!r}.")
    return float(sd), "given"


def _cutoffs(
    clin: tuple[float, float],
    func: tuple[float, float] | None,
    sign: int,
    b_uses_clinical_sd: bool,
) -> Cutoffs:
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
        if cutoff not in CUTOFF_TYPES:
            raise ValueError(
                f"The 'cutoff' parameter must be one of {set(CUTOFF_TYPES)}, a number or None. "
                f"Got {cutoff!r} instead."
            )
        if cutoff == "instrument":
            if inst is None or inst.cutoff is None:
                raise ValueError(
                    "cutoff='instrument' needs the instrument's conventional cut-off, and "
                    + (
                        f"the registry has none for {inst.name}"
                        if inst
                        else "there is no instrument"
                    )
                    + ". Fix: pass cutoff=<a number>, 'a', 'b', 'c' or None."
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
        raise ValueError(
            f"cutoff must be 'a', 'b', 'c', 'instrument', a number or None; got {cutoff!r}."
        )
    return float(cutoff), "value", cut_set
