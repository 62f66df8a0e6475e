"""service_outcomes: the NHS Talking Therapies outcome measures from client-level scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from .. import _checks
from .. import instruments as _instruments
from .._results import base_settings, warn
from ..data import LongScores, as_scores
from ..errors import DataError, OptionError
from ._result import SERVICE_COLUMNS, ServiceOutcomesResult
from ._shared import nullable_bool, show_ids

__all__ = ["service_outcomes", "CASENESS_THRESHOLD"]

#: The registry's name of the caseness threshold each measure's default comes from.
CASENESS_THRESHOLD = "NHS Talking Therapies caseness"
_FUNCTION = "monitoring.service_outcomes"


def _validated(
    data: pd.DataFrame | LongScores, measure: str, roles: dict[str, Any], score: Any
) -> LongScores:
    if isinstance(data, LongScores):
        return data
    column = score.get(measure) if isinstance(score, Mapping) else score
    try:
        inst: Any = _instruments.get(measure)
    except KeyError:
        inst = None
    return as_scores(data, **roles, score=column, instrument=inst)


def service_outcomes(
    scores_by_measure: Mapping[str, pd.DataFrame | LongScores],
    *,
    depression: str = "PHQ-9",
    anxiety: str = "GAD-7",
    client: str | None = None,
    session: str | None = None,
    score: str | Mapping[str, str] | None = None,
    caseness: Mapping[str, float] | None = None,
    min_sessions: int = 2,
    missing: Literal["skip", "available"] = "skip",
    mixed: Literal["neither", "deterioration"] = "neither",
) -> ServiceOutcomesResult:
    """NHS Talking Therapies outcome measures per client and for the service.

    From paired depression and anxiety scores (PHQ-9 and GAD-7 by default) at each client's
    treatment sessions: caseness at the first and last session, a finished course, moving
    to recovery, reliable improvement, reliable deterioration and reliable recovery, as the
    NHS Talking Therapies Manual defines them; :meth:`ServiceOutcomesResult.summary` gives
    the counts and percentages services report.

    Parameters
    ----------
    scores_by_measure : mapping of str to DataFrame or LongScores
        The scores of each measure, keyed by measure name (``depression`` and ``anxiety``
        name the two keys used). A DataFrame is validated with ``client``, ``session``,
        ``score`` and the registered instrument of its key.
    depression, anxiety : str, default "PHQ-9", "GAD-7"
        Keys of the depression and the anxiety measure.
    client, session : str, optional
        Column roles of DataFrames.
    score : str or mapping of str to str, optional
        The score column of DataFrames, or one per measure.
    caseness : mapping of str to float, optional
        Caseness thresholds per measure (a score at or beyond it, in the worse direction,
        is at caseness). Default: each instrument's registered ``"NHS Talking Therapies
        caseness"`` threshold (PHQ-9 10, GAD-7 8).
    min_sessions : int, default 2
        Treatment sessions for a finished course (the Manual: at least two).
    missing : {"skip", "available"}, default "skip"
        A client without both measures at its first and its last session: ``"skip"``
        leaves the paired outcomes missing (and lists the client in ``skipped``), as the
        national statistics count only paired scores; ``"available"`` assesses the client
        on the measure it has at both (``measures_used`` says which).
    mixed : {"neither", "deterioration"}, default "neither"
        A reliable improvement on one measure with a reliable deterioration on the other:
        ``"neither"`` (the Manual's rule for reliable improvement, mirrored for
        deterioration: neither reliably improved nor reliably deteriorated) or
        ``"deterioration"`` (counted as reliable deterioration, a cautious reading).

    Returns
    -------
    ServiceOutcomesResult
        ``table`` (:data:`SERVICE_COLUMNS`), one row per client:

        - ``client``; ``n_sessions``: treatment sessions (sessions with a row for either
          measure); ``first_session``, ``last_session``;
        - ``finished_course``: at least ``min_sessions`` sessions;
        - ``depression_first``, ``depression_last``, ``anxiety_first``, ``anxiety_last``:
          the scores at the first and last session (NaN when missing);
        - ``caseness_first``, ``caseness_last``: at caseness on either measure (the last
          only for finished courses);
        - ``depression_reliable_improvement`` ... ``anxiety_reliable_deterioration``: per
          measure, a change of at least its reliable-change criterion
          (``scores.reliable_change``: PHQ-9 6, GAD-7 4 points);
        - ``reliable_improvement``: a reliable improvement on at least one measure and a
          reliable deterioration on none; ``reliable_deterioration``: its mirror image
          (see ``mixed``); both for finished courses;
        - ``moved_to_recovery``: at caseness at the first session and not at the last
          (finished courses at caseness at the first session only; missing otherwise);
        - ``reliable_recovery``: moved to recovery and reliably improved;
        - ``measures_used``: ``"both"``, one measure's name, or ``"none"``.

        Outcomes that do not apply are ``<NA>`` (nullable booleans).

    Raises
    ------
    DataError
        A measure key is missing, or the measures share no client.
    OptionError
        A bad option, or a measure without a registered caseness threshold and none given.

    Notes
    -----
    Rules, each from the NHS Talking Therapies Manual (National Collaborating Centre for
    Mental Health) and Gyani et al. (2013): caseness PHQ-9 >= 10 or GAD-7 >= 8; a finished
    course has at least two treatment sessions; recovery = caseness at the first session
    and not at the last; reliable change = a change of at least 6 (PHQ-9) or 4 (GAD-7)
    points; reliable improvement = a reliable decrease on at least one measure and no
    reliable increase on the other; reliable recovery = recovery and reliable improvement.
    Where the publications leave a choice open it is a parameter: ``missing`` (one measure
    missing) and ``mixed`` (changes in opposite directions).

    References
    ----------
    National Collaborating Centre for Mental Health. The NHS Talking Therapies for Anxiety
    and Depression Manual. NHS England.

    Gyani, A., Shafran, R., Layard, R., & Clark, D. M. (2013). Enhancing recovery rates:
    Lessons from year one of IAPT. Behaviour Research and Therapy, 51(9), 597-606.

    Examples
    --------
    >>> import pandas as pd
    >>> from toolkit import monitoring
    >>> phq = pd.DataFrame({"id": [1, 1, 2, 2], "s": [1, 5, 1, 4], "y": [15, 7, 12, 19]})
    >>> gad = pd.DataFrame({"id": [1, 1, 2, 2], "s": [1, 5, 1, 4], "y": [9, 5, 7, 12]})
    >>> res = monitoring.service_outcomes({"PHQ-9": phq, "GAD-7": gad}, client="id",
    ...                                   session="s", score="y")
    >>> res.table[["client", "moved_to_recovery", "reliable_deterioration"]]
       client  moved_to_recovery  reliable_deterioration
    0       1               True                   False
    1       2              False                    True
    """
    _checks.choice(missing, "missing", _FUNCTION, ("skip", "available"))
    _checks.choice(mixed, "mixed", _FUNCTION, ("neither", "deterioration"))
    min_sessions = _checks.whole(min_sessions, "min_sessions", _FUNCTION, low=1)
    if not isinstance(scores_by_measure, Mapping):
        raise TypeError(
            f"{_FUNCTION} takes a mapping of measure names to scores, e.g. "
            f"{{'PHQ-9': phq, 'GAD-7': gad}}; got {type(scores_by_measure).__name__}."
        )
    absent = [m for m in (depression, anxiety) if m not in scores_by_measure]
    if absent:
        raise DataError(
            f"No scores for {absent}; the measures given are {list(scores_by_measure)}. Fix: "
            "pass depression= and anxiety= naming the keys."
        )
    roles = {"client": client, "session": session}
    measures = {
        "depression": (
            depression,
            _validated(scores_by_measure[depression], depression, roles, score),
        ),
        "anxiety": (anxiety, _validated(scores_by_measure[anxiety], anxiety, roles, score)),
    }
    caseness = dict(caseness or {})
    cut: dict[str, float] = {}
    for _, (name, sc) in measures.items():
        if name in caseness:
            inst = sc.instrument  # a threshold outside the range would make no one a case
            cut[name] = _checks.number(
                caseness[name],
                f"caseness[{name!r}]",
                _FUNCTION,
                low=None if inst is None else float(inst.min_score),
                high=None if inst is None else float(inst.max_score),
            )
        elif sc.instrument is not None and any(
            t.name == CASENESS_THRESHOLD for t in sc.instrument.thresholds
        ):
            cut[name] = sc.instrument.threshold(CASENESS_THRESHOLD).value
        else:
            raise OptionError(
                f"{name} has no registered {CASENESS_THRESHOLD!r} threshold. Fix: pass "
                f"caseness={{{name!r}: <score>}}."
            )
    notes: list[str] = []
    frames = []
    for role, (_, sc) in measures.items():
        d = sc.data[["client", "session", "score"]].rename(columns={"score": role})
        frames.append(d)
    both = frames[0].merge(frames[1], on=["client", "session"], how="outer")
    shared = set(frames[0]["client"]).intersection(frames[1]["client"])
    if not shared:
        raise DataError(
            f"The {depression} and {anxiety} scores share no client (e.g. "
            f"{show_ids(pd.unique(frames[0]['client']))} and "
            f"{show_ids(pd.unique(frames[1]['client']))}). Fix: use the same client ids."
        )
    both = both.sort_values(["client", "session"], kind="stable", ignore_index=True)
    first = both.drop_duplicates("client", keep="first").reset_index(drop=True)
    last = both.drop_duplicates("client", keep="last").reset_index(drop=True)
    n_sessions = both.groupby("client", sort=True).size().to_numpy()
    finished = n_sessions >= min_sessions

    out: dict[str, Any] = {
        "client": first["client"].to_numpy(),
        "n_sessions": n_sessions.astype(np.int64),
        "first_session": first["session"].to_numpy(dtype=np.int64),
        "last_session": last["session"].to_numpy(dtype=np.int64),
        "finished_course": finished,
    }
    pair = {}
    case_first, case_last, ri, rd = {}, {}, {}, {}
    points: dict[str, float | None] = {}
    for role, (name, sc) in measures.items():
        f = first[role].to_numpy(dtype=float)
        la = last[role].to_numpy(dtype=float)
        out[f"{role}_first"], out[f"{role}_last"] = f, la
        pair[role] = ~np.isnan(f) & ~np.isnan(la)
        s = sc.sign
        with np.errstate(invalid="ignore"):
            case_first[role] = s * (f - cut[name]) >= 0
            case_last[role] = s * (la - cut[name]) >= 0
            p = sc.reliable_change.points
            points[name] = p
            ri[role] = s * (f - la) >= p if p is not None else np.zeros(len(f), bool)
            rd[role] = s * (la - f) >= p if p is not None else np.zeros(len(f), bool)
        if p is None:
            notes.append(
                warn(
                    f"Reliable change on {name} not computed (missing): the criterion is "
                    f"{sc.reliable_change}",
                    stacklevel=3,
                )
            )
    dep_ok, anx_ok = pair["depression"], pair["anxiety"]
    if missing == "skip":
        use_dep = use_anx = dep_ok & anx_ok
    else:
        use_dep, use_anx = dep_ok, anx_ok
    used = use_dep | use_anx
    have_rc = all(v is not None for v in points.values())
    c_first = (case_first["depression"] & use_dep) | (case_first["anxiety"] & use_anx)
    c_last = (case_last["depression"] & use_dep) | (case_last["anxiety"] & use_anx)
    any_ri = (ri["depression"] & use_dep) | (ri["anxiety"] & use_anx)
    any_rd = (rd["depression"] & use_dep) | (rd["anxiety"] & use_anx)
    rel_imp = any_ri & ~any_rd
    rel_det = any_rd & (~any_ri if mixed == "neither" else True)
    recovered = c_first & ~c_last
    no_paired = ~used
    not_fin = ~finished
    out["caseness_first"] = nullable_bool(c_first, no_paired)
    out["caseness_last"] = nullable_bool(c_last, no_paired | not_fin)
    for role, (name, _) in measures.items():
        use = use_dep if role == "depression" else use_anx
        gone = ~use | not_fin | (points[name] is None)
        out[f"{role}_reliable_improvement"] = nullable_bool(ri[role], gone)
        out[f"{role}_reliable_deterioration"] = nullable_bool(rd[role], gone)
    rc_gone = no_paired | not_fin | (not have_rc)
    out["reliable_improvement"] = nullable_bool(rel_imp, rc_gone)
    out["reliable_deterioration"] = nullable_bool(rel_det, rc_gone)
    rec_gone = no_paired | not_fin | ~c_first
    out["moved_to_recovery"] = nullable_bool(recovered, rec_gone)
    out["reliable_recovery"] = nullable_bool(recovered & rel_imp, rec_gone | rc_gone)
    out["measures_used"] = np.select(
        [use_dep & use_anx, use_dep, use_anx], ["both", depression, anxiety], "none"
    ).astype(object)
    table = pd.DataFrame(out)[SERVICE_COLUMNS]

    reasons = []
    for role, (name, _) in measures.items():
        other = pair[role]
        f_na = np.isnan(first[role].to_numpy(dtype=float))
        reasons.append(
            np.where(
                ~other,
                np.where(
                    f_na,
                    f"{name} missing at the first session",
                    f"{name} missing at the last session",
                ),
                "",
            )
        )
    why = np.where(reasons[0] != "", reasons[0], reasons[1])
    both_missing = (reasons[0] != "") & (reasons[1] != "")
    why = np.where(
        both_missing,
        np.char.add(np.char.add(reasons[0].astype(str), "; "), reasons[1].astype(str)),
        why,
    )
    listed = no_paired if missing == "available" else ~(dep_ok & anx_ok)
    suffix = (
        ": paired outcomes not computed"
        if missing == "skip"
        else ": no measure at both sessions, outcomes not computed"
    )
    skipped = pd.DataFrame(
        {
            "client": pd.Series(table["client"].to_numpy()[listed], dtype=object),
            "reason": pd.Series([f"{r}{suffix}" for r in why[listed]], dtype=object),
        }
    )
    dep_scores, anx_scores = measures["depression"][1], measures["anxiety"][1]
    settings = base_settings(
        dep_scores,
        seed=None,
        depression=depression,
        anxiety=anxiety,
        caseness=cut,
        min_sessions=min_sessions,
        missing=missing,
        mixed=mixed,
        depression_sign=dep_scores.sign,
        anxiety_sign=anx_scores.sign,
        reliable_change_points=points,
        reliable_change_source={
            name: sc.reliable_change.source for _, (name, sc) in measures.items()
        },
    )
    return ServiceOutcomesResult(
        table=table,
        settings=settings,
        skipped=skipped,
        warnings=tuple(notes),
        scores=dep_scores,
        anxiety_scores=anx_scores,
    )
