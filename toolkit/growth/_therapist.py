"""The therapist (or site) level: which clients each therapist saw, checked once.

A three-level model nests sessions in clients and clients in therapists, so each client
must have exactly one therapist. The checks name the column, the client, the rows and the
fix:

- a therapist id that changes within a client (a switch of therapist, or client ids that
  are numbered within each therapist) is an error;
- client ids repeated across therapists (the same id and session under two therapists) is
  an error, with the line that makes the ids unique;
- a missing therapist id is an error;
- therapists with a single client are kept (their effect cannot be told apart from their
  client's, so the therapist variance rests on the other therapists); when they are half
  or more of the therapists a warning says so, and a model where every therapist has one
  client is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data import LongScores
from ..errors import DataError, MissingColumnError

__all__ = ["check_frame", "therapist_codes", "THERAPIST_RANDOM"]

#: Values of ``therapist_random=`` in :func:`toolkit.growth.fit`.
THERAPIST_RANDOM = ("intercept", "slope")
_SHOW = 5


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _fix(client: str, therapist: str) -> str:
    return (
        "Fix: a client must have one therapist in this model. If clients switched "
        "therapist, keep one per client (e.g. the first: df[" + repr(therapist) + "] = "
        "df.groupby(" + repr(client) + ")[" + repr(therapist) + "].transform('first')) or "
        "analyse the sessions before the switch; if client ids are numbered within each "
        "therapist, make them unique: df[" + repr(client) + "] = df[" + repr(therapist) + "]"
        ".astype(str) + ':' + df[" + repr(client) + "].astype(str)."
    )


def check_frame(df: pd.DataFrame, client: str, session: str, therapist: str) -> None:
    """Check the caller's long DataFrame before validation, naming its row labels."""
    if therapist not in df.columns:
        import difflib

        close = difflib.get_close_matches(str(therapist), [str(c) for c in df.columns], n=3)
        raise MissingColumnError(
            f"The therapist column {therapist!r} is not a column of the data. Columns: "
            f"{list(df.columns)}." + (f" Did you mean {close}?" if close else "")
        )
    if client not in df.columns or session not in df.columns:
        return  # validation names the missing role column
    values = df[therapist]
    missing = values.isna().to_numpy()
    if missing.any():
        rows = df.index[missing]
        clients = pd.unique(df.loc[missing, client])
        raise DataError(
            f"Column {therapist!r}: {int(missing.sum())} row(s) have no therapist id (rows "
            f"{[_plain(r) for r in rows[:_SHOW]]}, clients "
            f"{[_plain(c) for c in clients[:_SHOW]]}). Fix: give every row its client's "
            "therapist, or drop these clients before fitting."
        )
    key = pd.DataFrame({"c": df[client].to_numpy(), "t": values.to_numpy()})
    n_t = key.groupby("c", sort=False)["t"].nunique()
    several = n_t[n_t > 1]
    if len(several) == 0:
        return
    frame = pd.DataFrame(
        {"c": df[client].to_numpy(), "s": df[session].to_numpy(), "t": values.to_numpy()},
        index=df.index,
    )
    dup = frame.duplicated(["c", "s"], keep=False) & frame["c"].isin(several.index)
    parts = []
    for c in list(several.index[:_SHOW]):
        rows = frame[frame["c"] == c]
        firsts = rows.drop_duplicates("t")
        parts.append(
            f"client {_plain(c)}: "
            + ", ".join(f"{_plain(t)!r} from row {_plain(r)}" for r, t in firsts["t"].items())
        )
    what = (
        "the same client id and session appear under different therapists, so client ids "
        "seem to be numbered within each therapist"
        if dup.any()
        else "the therapist changes within these clients"
    )
    raise DataError(
        f"Column {therapist!r}: {len(several)} client(s) have more than one therapist "
        f"({'; '.join(parts)}{' ...' if len(several) > _SHOW else ''}): {what}. "
        + _fix(client, therapist)
    )


def therapist_codes(
    scores: LongScores, column: str, clients: pd.Index, therapist_random: str
) -> dict[str, Any]:
    """The therapist of each modelled client, and the checks of the nesting."""
    roles = scores.roles
    if column not in scores.covariates:
        raise MissingColumnError(
            f"The therapist column {column!r} is not carried by the scores. Covariates: "
            f"{scores.covariates}. Fix: validate the data with that column kept "
            "(toolkit.long_scores(..., covariates=[...])) or pass the DataFrame."
        )
    data = scores.data
    values = data[column]
    missing = values.isna().to_numpy()
    if missing.any():
        clients_missing = pd.unique(data.loc[missing, "client"])
        raise DataError(
            f"Column {column!r}: {int(missing.sum())} row(s) of client(s) "
            f"{[_plain(c) for c in clients_missing[:_SHOW]]} have no therapist id. Fix: "
            "give every row its client's therapist, or drop these clients before fitting."
        )
    try:
        per_client = scores.client_values(column)
    except ValueError:
        key = pd.DataFrame({"c": data["client"].to_numpy(), "t": values.to_numpy()})
        n_t = key.groupby("c", sort=False)["t"].nunique()
        bad = n_t[n_t > 1].index
        parts = []
        for c in list(bad[:_SHOW]):
            rows = data[data["client"] == c].drop_duplicates(column)
            parts.append(
                f"client {_plain(c)}: "
                + ", ".join(
                    f"{_plain(t)!r} from session {_plain(s)}"
                    for s, t in zip(rows["session"], rows[column])
                )
            )
        raise DataError(
            f"Column {column!r}: {len(bad)} client(s) have more than one therapist "
            f"({'; '.join(parts)}{' ...' if len(bad) > _SHOW else ''})."
            + " "
            + _fix(roles["client"], column)
        ) from None
    of_client = per_client.reindex(clients)
    codes, therapists = pd.factorize(of_client.to_numpy(), sort=True)
    therapists = pd.Index(therapists, name=column)
    counts = np.bincount(codes, minlength=len(therapists))
    notes: list[str] = []
    if len(therapists) < 2:
        raise DataError(
            f"Column {column!r} has one therapist ({_plain(therapists[0])!r}) among the "
            "modelled clients, so therapists cannot differ. Fix: drop therapist=..., or add "
            "the data of other therapists."
        )
    single = int(np.sum(counts == 1))
    if single == len(therapists):
        raise DataError(
            f"Every therapist in column {column!r} has a single client, so therapist and "
            "client effects cannot be told apart. Fix: drop therapist=... (a two-level model), "
            "or check that the column holds therapists rather than client ids."
        )
    if 2 * single >= len(therapists):
        notes.append(
            f"{single} of {len(therapists)} therapists have a single client: for them the "
            "therapist's and the client's effects cannot be told apart, so the therapist "
            "variance rests on the other therapists and is estimated imprecisely. They are "
            "kept in the model."
        )
    return {
        "therapist": column,
        "therapist_random": ["intercept"]
        if therapist_random == "intercept"
        else ["intercept", "time"],
        "therapists": therapists,
        "client_therapist": codes.astype(np.int64),
        "n_single_client_therapists": single,
        "notes": notes,
    }
