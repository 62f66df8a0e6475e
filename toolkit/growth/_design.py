"""From validated scores and a formula to the arrays a growth model is fitted on.

Builds the model frame (coded time, quadratic term, piecewise knots, the time-varying
predictors of discontinuous growth around each client's breakthrough), expands the formula,
evaluates the fixed-effects design with formulaic, and lays the rows out on the
(clients x sessions) grid. Validation of the user's arguments happens here, once.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..data import LongScores
from ..errors import DataError, MissingColumnError

__all__ = ["Design", "build", "with_random", "random_names", "TIME_CODINGS", "RESERVED"]

TIME_CODINGS = ("linear", "log", "quadratic")
#: Names the model frame defines itself; a data column with one of them cannot be used.
RESERVED = (
    "client",
    "session",
    "score",
    "time",
    "time_sq",
    "post_breakthrough",
    "time_since_breakthrough",
)
_SHOW = 5


@dataclass(frozen=True)
class Design:
    """Everything an engine needs; rows are the model frame's (complete covariates only)."""

    frame: pd.DataFrame  # client, session, score, time, ... (one row per kept cell)
    formula: str  # the expanded formula, "score ~ ..."
    terms: list[str]  # fixed-effect column names
    x: np.ndarray  # (rows, p)
    y: np.ndarray  # (rows,), NaN where the score is missing
    usable: np.ndarray  # (rows,) bool: enters the likelihood
    client_code: np.ndarray  # (rows,) 0..N-1 into ``clients``
    session_code: np.ndarray  # (rows,) 0..S-1 into ``sessions``
    time: np.ndarray  # (rows,) coded time: the random slope's variable
    session_time: np.ndarray  # (S,) coded time of each session
    clients: pd.Index
    sessions: np.ndarray
    random_names: list[str]
    standard_random: bool  # intercept or intercept + slope on time (fast path applies)
    skipped: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # warnings to raise
    n_breakthrough_clients: int = 0
    breakthrough_session: str | None = None  # the breakthrough table's session column used
    breakthrough_table: pd.DataFrame | None = None  # the breakthroughs used, one per client
    model_spec: Any = None  # formulaic ModelSpec of the fixed effects (for new data)
    random_spec: Any = None  # formulaic ModelSpec of a custom random formula
    # A therapist (or site) level: None for two-level models.
    therapist: str | None = None  # the therapist column
    therapist_random: list[str] = field(default_factory=list)  # "intercept"[, "time"]
    therapists: pd.Index | None = None  # sorted therapist ids
    client_therapist: np.ndarray | None = None  # (N,) therapist code of each client
    n_single_client_therapists: int = 0
    # (rows, q) design of a custom random-effects formula; the standard models' [1, time]
    # columns are made when asked for (see ``z``)
    custom_z: np.ndarray | None = None

    @property
    def z(self) -> np.ndarray:
        """Rows x random effects per client: [1] or [1, time] for the standard models."""
        if self.custom_z is not None:
            return self.custom_z
        if len(self.random_names) == 1:
            return np.ones((len(self.time), 1))
        return np.column_stack([np.ones(len(self.time)), self.time])

    @property
    def basis(self) -> np.ndarray:
        """Rows x basis columns of the random effects: [1, time] for the standard models."""
        if self.standard_random:
            return np.column_stack([np.ones(len(self.time)), self.time])
        return self.z

    @property
    def client_columns(self) -> tuple[int, ...]:
        """Basis columns with a random effect per client."""
        return tuple(range(len(self.random_names)))

    @property
    def therapist_columns(self) -> tuple[int, ...]:
        """Basis columns with a random effect per therapist (empty: two levels)."""
        return tuple(range(len(self.therapist_random)))


def knot_name(k: float) -> str:
    """Column name of the piecewise term of knot ``k`` (a valid formula name)."""
    return "time_after_" + f"{k:g}".replace(".", "_").replace("-", "m")


def build(
    scores: LongScores,
    formula: str,
    *,
    time: str,
    time_zero: float,
    random: str,
    breakthroughs: Any,
    breakthrough_client: str,
    breakthrough_session: str | None,
    knots: Sequence[float] | None,
    therapist: str | None = None,
    therapist_random: str = "intercept",
) -> Design:
    """Validate the arguments and build the design (see :func:`toolkit.growth.fit`)."""
    import formulaic

    from ._therapist import therapist_codes

    notes: list[str] = []
    lhs, rhs = _split_formula(formula, scores)
    data = scores.data
    session = data["session"].to_numpy(dtype=float)
    elapsed = session - time_zero
    frame = {
        "client": data["client"].to_numpy(),
        "session": data["session"].to_numpy(),
        "score": data["score"].to_numpy(dtype=float),
    }
    if time == "log":
        if np.any(elapsed <= 0):
            bad = np.unique(session[elapsed <= 0])
            raise DataError(
                f"time='log' codes time as log(session - time_zero), which needs every session "
                f"after time_zero={time_zero:g}; sessions {bad[:_SHOW].tolist()} are not. Fix: "
                f"pass time_zero={float(np.min(session)) - 1:g} (time = log(session - "
                f"{float(np.min(session)) - 1:g})) or drop those sessions."
            )
        coded = np.log(elapsed)
    else:
        coded = elapsed
    frame["time"] = coded
    if time == "quadratic":
        frame["time_sq"] = coded * coded

    # Covariates the formula refers to, with the caller's dtypes (categories and their order).
    extra_terms: list[str] = []
    n_bt = 0
    bt_used = None
    if breakthroughs is not None:
        post, since, n_bt, bt_notes, breakthrough_session, bt_used = _breakthrough_predictors(
            scores, breakthroughs, breakthrough_client, breakthrough_session
        )
        frame["post_breakthrough"] = post
        frame["time_since_breakthrough"] = since
        extra_terms += ["post_breakthrough", "time_since_breakthrough"]
        notes += bt_notes
    for k in _check_knots(knots, scores):
        name = knot_name(k)
        frame[name] = np.maximum(session - k, 0.0)
        extra_terms.append(name)

    parsed = _parse(rhs, formula, formulaic)
    needed = set(parsed.required_variables)
    custom_random = random not in ("intercept", "slope")
    if custom_random:
        random_rhs = random.strip().lstrip("~").strip()
        needed |= set(_parse(random_rhs, random, formulaic).required_variables)
    covariates = [c for c in data.columns if c not in ("client", "session", "score", "date")]
    own = set(frame)
    for name in sorted(needed):
        if name in own and name in covariates:
            raise DataError(
                f"The data have a column {name!r}, but in a growth formula {name!r} means the "
                "model's own variable (see toolkit.growth.fit). Fix: rename the column, e.g. "
                f"df.rename(columns={{{name!r}: '{name}_data'}})."
            )
        if name not in own and name not in covariates and name != scores.roles["session"]:
            close = difflib.get_close_matches(name, [*covariates, *frame], n=3)
            raise MissingColumnError(
                f"The formula {formula!r} uses {name!r}, which is not a column of the data "
                f"nor a model variable. Columns: {covariates}; model variables: "
                f"{[c for c in frame if c != 'score']}."
                + (f" Did you mean {close}?" if close else "")
            )
    # Every covariate goes into the frame (stateful transforms such as center(x) do not
    # declare their variables), except those a model variable shadows.
    for name in covariates:
        if name not in own:
            frame[name] = data[name].array  # dtype kept: categorical levels in their order
    if scores.roles["session"] not in frame:
        frame[scores.roles["session"]] = data["session"].to_numpy()
    frame = pd.DataFrame(frame, copy=False)  # the columns as made: no consolidated copy

    # Rows with complete covariates (formulaic would code a missing category as the reference
    # level). The design is learnt from the rows that enter the likelihood, as with
    # na.omit, and then applied to the sessions with a missing score (for fitted values).
    used = [c for c in sorted(needed) if c in frame.columns]
    complete = ~frame[used].isna().any(axis=1).to_numpy() if used else np.ones(len(frame), bool)
    observed = frame["score"].notna().to_numpy()
    rhs_full = _expand(parsed, quadratic=time == "quadratic", extra=extra_terms)
    if not (complete & observed).any():
        raise DataError(
            "No observed score has complete covariates "
            f"({', '.join(map(repr, used))}), so there is nothing to fit."
        )
    direct = _direct_design(rhs_full, frame, complete & observed, formulaic)
    for _ in range(2 if direct is None else 0):
        fit_rows = complete & observed
        matrix = formulaic.model_matrix(rhs_full, frame.loc[fit_rows], na_action="ignore")
        nan_rows = np.isnan(np.asarray(matrix, dtype=float)).any(axis=1)
        if not nan_rows.any():
            break
        complete[np.flatnonzero(fit_rows)[nan_rows]] = False  # NaN from a transform
    if direct is not None:
        spec, terms, columns = direct
        full = _columns(columns, frame, complete)
        nan_rows = np.isnan(full).any(axis=1)
        fit_nan = nan_rows & observed[complete]
        if fit_nan.any():  # as with formulaic: NaN fitting rows are left out, with a note
            complete[np.flatnonzero(complete)[fit_nan]] = False
            full = full[~fit_nan]
    if (observed & ~complete).any():
        lost = observed & ~complete
        cols = [c for c in used if frame.loc[lost, c].isna().any()] or ["a transformed term"]
        clients = pd.unique(frame.loc[lost, "client"])
        notes.append(
            f"{int(lost.sum())} observed score(s) of {len(clients)} client(s) were left out "
            f"because {', '.join(map(repr, cols))} is missing there (clients "
            f"{[_plain(c) for c in clients[:_SHOW]]}{' ...' if len(clients) > _SHOW else ''}). "
            "Fix: impute or drop that covariate to keep them."
        )
    every = bool(complete.all())  # the common case: no row to drop, so no copy to make
    if direct is None:
        spec = matrix.model_spec
        terms = list(matrix.columns)
        full = np.asarray(
            spec.get_model_matrix(frame if every else frame.loc[complete], na_action="ignore"),
            dtype=float,
        )
    keep_missing = ~np.isnan(full).any(axis=1)  # only missing-score rows can fail here
    if not (every and keep_missing.all()):
        rows = np.flatnonzero(complete)[keep_missing]
        frame = frame.iloc[rows].reset_index(drop=True)
    x = full if keep_missing.all() else full[keep_missing]
    y = frame["score"].to_numpy(dtype=float)
    usable = ~np.isnan(y)
    if custom_random:
        re_matrix = formulaic.model_matrix(random_rhs, frame.loc[usable], na_action="raise")
        z_all = np.asarray(
            re_matrix.model_spec.get_model_matrix(frame, na_action="ignore"), dtype=float
        )
        z_names = ["intercept" if c == "Intercept" else c for c in re_matrix.columns]
        if np.isnan(z_all).any():
            raise DataError(
                f"The random-effects formula {random!r} gives missing values; "
                "use variables without missing values there."
            )

    # Clients with nothing to fit.
    codes_all = scores.clients.get_indexer(frame["client"])
    has = np.bincount(codes_all[usable], minlength=scores.n_clients) > 0
    gone = scores.clients[~has]
    skipped = pd.DataFrame(
        {
            "client": pd.Series(gone.to_numpy(), dtype=object),
            "reason": pd.Series(
                ["no observed score with complete covariates"] * len(gone), dtype=object
            ),
        }
    )
    keep = has[codes_all]
    if not keep.all():
        frame = frame.loc[keep].reset_index(drop=True)
        x, y, usable = x[keep], y[keep], usable[keep]
    clients = scores.clients[has]
    if len(clients) == 0:
        raise DataError(
            "No client has an observed score with complete covariates, so there is nothing to fit."
        )
    client_code = clients.get_indexer(frame["client"])
    sessions = scores.sessions
    session_code = np.searchsorted(sessions, frame["session"].to_numpy())
    session_time = _code_sessions(sessions, time, time_zero)

    if custom_random:
        custom_z, names, standard = z_all[keep], z_names, False
    else:
        custom_z, names, standard = None, random_names(random), True
    _check_identifiable(x[usable], terms, y[usable], len(names), len(clients))
    level3: dict[str, Any] = {}
    if therapist is not None:
        level3 = therapist_codes(scores, therapist, clients, therapist_random)
        notes += level3.pop("notes")
    return Design(
        frame=frame,
        formula=f"{lhs} ~ {rhs_full}",
        terms=terms,
        x=x,
        y=y,
        usable=usable,
        client_code=client_code,
        session_code=session_code,
        time=frame["time"].to_numpy(),
        session_time=session_time,
        clients=clients,
        sessions=sessions,
        custom_z=custom_z,
        random_names=names,
        standard_random=standard,
        skipped=skipped,
        notes=notes,
        n_breakthrough_clients=n_bt,
        breakthrough_session=breakthrough_session,
        breakthrough_table=bt_used,
        model_spec=spec,
        random_spec=re_matrix.model_spec if custom_random else None,
        **level3,
    )


def with_random(design: Design, random: str) -> Design:
    """The same design with the other standard client-level random effects (``"intercept"``
    or ``"slope"``): everything else is the same, and shared."""
    if not design.standard_random or random not in ("intercept", "slope"):
        raise ValueError(  # pragma: no cover - internal use
            "with_random() switches between random='intercept' and random='slope' only."
        )
    names = random_names(random)
    _check_counts(int(design.usable.sum()), len(design.terms), len(names))
    return replace(design, random_names=names)


def layout(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y (N, S), X (N, S, p) and the observed mask on the (clients x sessions) grid."""
    n, s, p = len(design.clients), len(design.sessions), len(design.terms)
    rows = design.usable
    # the grid cell of each observed row, formed once; the design a column at a time
    cell = design.client_code[rows].astype(np.int64) * s
    cell += design.session_code[rows]
    y = np.zeros(n * s)
    y[cell] = design.y[rows]
    x = np.zeros((n * s, p))
    for j in range(p):
        x[cell, j] = design.x[rows, j]
    observed = np.zeros(n * s, dtype=bool)
    observed[cell] = True
    return y.reshape(n, s), x.reshape(n, s, p), observed.reshape(n, s)


# --- pieces ------------------------------------------------------------------------------
def _split_formula(formula: str, scores: LongScores) -> tuple[str, str]:
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"The formula must look like 'score ~ time' (one '~'); got {formula!r}.")
    lhs, rhs = (part.strip() for part in formula.split("~"))
    allowed = {"score", scores.roles["score"]}
    if lhs not in allowed:
        raise ValueError(
            f"The left-hand side of the formula must be the score: one of {sorted(allowed)}; "
            f"got {lhs!r}. Fix: e.g. formula='score ~ time'."
        )
    if not rhs:
        raise ValueError(
            "The formula has no right-hand side. Fix: e.g. 'score ~ time' "
            "(or 'score ~ 1' for no change over time)."
        )
    if "|" in rhs:
        raise ValueError(
            "Random effects are not written in the formula: pass random='intercept' or "
            "random='slope' (or a random-effects formula such as random='~ time + "
            "post_breakthrough'). Fix: drop the '( ... | client)' term."
        )
    return "score", rhs


def _expand(parsed: Any, *, quadratic: bool, extra: list[str]) -> str:
    """The right-hand side as text: quadratic copies of every term with time, extra terms."""
    terms = [[str(f) for f in term.factors] for term in parsed]
    if quadratic:
        for factors in list(terms):
            if "time" in factors:
                terms.append(["time_sq" if f == "time" else f for f in factors])
    texts = [":".join(f) for f in terms]
    has_intercept = "1" in texts
    texts = [t for t in texts if t != "1"]
    for e in extra:
        if e not in texts:
            texts.append(e)
    out = ["1" if has_intercept else "0", *dict.fromkeys(texts)]
    return " + ".join(out)


def _code_sessions(sessions: np.ndarray, time: str, time_zero: float) -> np.ndarray:
    elapsed = sessions.astype(float) - time_zero
    if time == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(elapsed)
    return elapsed


def _check_knots(knots: Any, scores: LongScores) -> list[float]:
    if knots is None:
        return []
    if np.isscalar(knots):
        knots = [knots]
    out = []
    lo, hi = float(scores.sessions.min()), float(scores.sessions.max())
    for k in knots:
        try:
            k = float(k)
        except (TypeError, ValueError):
            raise ValueError(f"Knots are session numbers; got {k!r}.") from None
        if not lo < k < hi:
            raise ValueError(
                f"Knot {k:g} is not inside the sessions ({lo:g} to {hi:g}); a knot must have "
                "sessions on both sides. Fix: choose knots between the first and last session."
            )
        out.append(k)
    if len(set(out)) != len(out):
        raise ValueError(f"Knots must be distinct; got {list(knots)}.")
    return sorted(out)


def _breakthrough_predictors(scores, table, client_col, session_col):
    """Per row: the post-breakthrough indicator and the sessions since the breakthrough."""
    notes: list[str] = []
    if not isinstance(table, pd.DataFrame) and callable(getattr(table, "breakthroughs", None)):
        table, notes = _breakthrough_rows(table)  # a result object: its breakthroughs
        client_col, session_col = "client", "session"
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            "breakthroughs must be a DataFrame with a client and a session column (e.g. a "
            f"sudden-gains or change-point result table); got {type(table).__name__}."
        )
    if client_col not in table.columns:
        raise MissingColumnError(
            f"The breakthrough table has no client column {client_col!r}. Columns: "
            f"{list(table.columns)}. Fix: pass breakthrough_client='...'."
        )
    if session_col is None:
        session_col = "session"
    if session_col not in table.columns:
        raise MissingColumnError(
            f"The breakthrough table has no session column {session_col!r}. Columns: "
            f"{list(table.columns)}. Fix: pass breakthrough_session='...'."
        )
    sess = pd.to_numeric(table[session_col], errors="coerce")
    if (sess.isna() & table[session_col].notna()).any():
        raise DataError(
            f"Breakthrough column {session_col!r} must hold session numbers; some "
            "values are not numbers."
        )
    size = (
        pd.to_numeric(table["size"], errors="coerce").to_numpy(dtype=float)
        if "size" in table.columns
        else np.full(len(table), np.nan)
    )
    method = table["method"].to_numpy() if "method" in table.columns else "given"
    bt = pd.DataFrame(
        {
            "client": table[client_col].to_numpy(),
            "session": sess.to_numpy(),
            "size": size,
            "direction": "improvement",
            "method": method,
        }
    )
    bt = bt.dropna(subset=["session"])  # NaN: no breakthrough (the client stays in)
    first = bt.groupby("client", sort=False)["session"].min()
    used = (
        bt.sort_values(["client", "session"], kind="stable")
        .drop_duplicates("client")
        .reset_index(drop=True)
    )
    used = used[used["client"].isin(scores.clients)]
    used["session"] = used["session"].astype(np.int64)
    several = bt["client"].value_counts()
    several = several[several > 1]
    if len(several):
        notes.append(
            f"{len(several)} client(s) have more than one breakthrough (e.g. "
            f"{[_plain(c) for c in several.index[:_SHOW]]}); the first one of each was used."
        )
    known = scores.clients.get_indexer(first.index)
    if (known < 0).any():
        unknown = first.index[known < 0]
        notes.append(
            f"{len(unknown)} client(s) in the breakthrough table are not in the scores and were "
            f"ignored: {[_plain(c) for c in unknown[:_SHOW]]}"
            f"{' ...' if len(unknown) > _SHOW else ''}."
        )
    at = np.full(scores.n_clients, np.nan)
    at[known[known >= 0]] = first.to_numpy()[known >= 0]
    row_client = scores.clients.get_indexer(scores.data["client"])
    b = at[row_client]
    session = scores.data["session"].to_numpy(dtype=float)
    has = ~np.isnan(b)
    post = np.where(has & (session >= b), 1.0, 0.0)
    since = np.where(has, np.maximum(session - np.where(has, b, 0.0), 0.0), 0.0)
    return post, since, int(np.sum(~np.isnan(at))), notes, session_col, used


def _breakthrough_rows(result: Any) -> tuple[pd.DataFrame, list[str]]:
    """A result's breakthroughs (improvements only), through its ``breakthroughs()``."""
    notes: list[str] = []
    table = result.breakthroughs(direction="improvement")
    skipped = getattr(result, "skipped", None)
    if isinstance(skipped, pd.DataFrame) and len(skipped):
        notes.append(
            f"{len(skipped)} client(s) could not be examined for breakthroughs (see the "
            "result's skipped table) and are modelled as clients without one. Fix: leave "
            "them out of the data if that matters."
        )
    return table, notes


#: Rows on which formulaic learns (and the direct design is checked against) a formula of
#: plain float columns.
_SAMPLE = 64


def _direct_design(
    rhs: str, frame: pd.DataFrame, fit_rows: np.ndarray, formulaic: Any
) -> tuple[Any, list[str], list[list[str]]] | None:
    """A formula whose terms are float columns of the frame, alone or a product of two
    (``1 + time``, ``time * x`` with ``x`` a float covariate): formulaic's ModelSpec learnt
    on a few fitting rows (such columns carry no state learnt from the data), the column
    names, and the frame columns each design column multiplies. The design itself is then
    made column by column (:func:`_columns`), without formulaic's copies of the model
    frame; on the sample rows it must equal formulaic's matrix exactly. None for any other
    formula (categories, transforms, ``I(...)``): formulaic evaluates those."""
    try:
        parsed = formulaic.Formula(rhs)
    except Exception:  # pragma: no cover - the formula was parsed before
        return None
    for term in parsed:
        factors = list(term.factors)
        if [str(f) for f in factors] == ["1"]:
            continue
        if len(factors) > 2:
            return None
        for f in factors:
            name = str(f)
            if (
                f.eval_method.value != "lookup"
                or not name.isidentifier()
                or name not in frame.columns
                or frame[name].dtype != np.float64
            ):
                return None
    rows = np.flatnonzero(fit_rows)[:_SAMPLE]
    sample = frame.iloc[rows]
    matrix = formulaic.model_matrix(rhs, sample, na_action="ignore")
    terms = [str(c) for c in matrix.columns]
    columns = [[] if t == "Intercept" else t.split(":") for t in terms]
    if any(c not in frame.columns for parts in columns for c in parts):
        return None  # pragma: no cover - plain float terms are named by their columns
    ours = _columns(columns, sample, np.ones(len(sample), dtype=bool))
    if ours.shape != matrix.shape or not np.array_equal(
        ours, np.asarray(matrix, dtype=float), equal_nan=True
    ):
        return None  # pragma: no cover - a safeguard: formulaic decides
    return matrix.model_spec, terms, columns


def _columns(columns: list[list[str]], frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """The design of :func:`_direct_design` on ``frame``'s ``rows`` (a mask): 1 for the
    intercept, a column, or the product of two (in the order of the term's name)."""
    every = bool(rows.all())
    # column-major, as formulaic's matrices are (so that products with it are the same)
    out = np.empty((int(rows.sum()), len(columns)), order="F")
    for j, parts in enumerate(columns):
        values = [frame[c].to_numpy(dtype=float) for c in parts]
        if not every:
            values = [v[rows] for v in values]
        if not parts:
            out[:, j] = 1.0
        elif len(parts) == 1:
            out[:, j] = values[0]
        else:
            np.multiply(values[0], values[1], out=out[:, j])
    return out


def random_names(random: str) -> list[str]:
    """The client-level random effects of ``random="intercept"`` or ``"slope"``."""
    return ["intercept"] if random == "intercept" else ["intercept", "time"]


def _parse(rhs: str, text: str, formulaic: Any) -> Any:
    try:
        return formulaic.Formula(rhs)
    except Exception as exc:  # formulaic's parsing errors share no public base we can name
        raise ValueError(f"The formula {text!r} could not be parsed: {exc}".strip()) from None


def _check_counts(n: int, p: int, q: int) -> None:
    if n <= p + q * (q + 1) // 2 + 1:
        raise DataError(
            f"Only {n} observed score(s) for {p} fixed effect(s) and {q * (q + 1) // 2 + 1} "
            "variance parameter(s). Fix: a simpler model or more data."
        )


def _check_identifiable(
    x: np.ndarray, terms: list[str], y: np.ndarray, q: int, n_clients: int
) -> None:
    n, p = x.shape
    _check_counts(n, p, q)
    zero = [t for t, col in zip(terms, x.T) if not np.any(col)]
    if zero:
        raise DataError(
            f"Fixed-effect column(s) {zero} are zero in every observed row, so their effects "
            "cannot be estimated (e.g. no observed session after any breakthrough). Fix: drop "
            "them from the model."
        )
    rank = np.linalg.matrix_rank(x)
    if rank < p:
        # Name the columns that add nothing to those before them.
        dependent = []
        for j in range(1, p):
            if np.linalg.matrix_rank(x[:, : j + 1]) <= np.linalg.matrix_rank(x[:, :j]):
                dependent.append(terms[j])
        raise DataError(
            f"The fixed effects are not identifiable: {dependent} are linear combinations of "
            "earlier columns (e.g. a covariate that is constant, or repeats another). Fix: "
            "drop them from the formula."
        )
    if n_clients < 2:
        raise DataError("A growth model needs at least two clients to estimate how they differ.")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
