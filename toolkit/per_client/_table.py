"""The per-client table: one row per validated client, one block of columns per method.

Each method's block comes from its own result's ``client_view()``, so this module never
reads another module's columns: a method decides for itself which clients it flags, what it
reports about them and, for the clients it did not flag or could not analyse, why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._results import Result

__all__ = [
    "METHODS",
    "DEFAULT_METHODS",
    "BLOCKS",
    "LABELS",
    "TABLE_COLUMNS",
    "assemble",
    "run_method",
]

#: The methods the per-client answer can combine, in table order.
METHODS = ("reliable_change", "sudden_gains", "changepoint", "bayes")
#: The methods run by default (the Bayesian model samples for a minute or more; add it).
DEFAULT_METHODS = ("reliable_change", "sudden_gains", "changepoint")
#: Each method's block of columns (every block ends with ``<prefix>_note``).
BLOCKS: dict[str, list[str]] = {
    "reliable_change": ["rc_flag", "rc_category", "rc_rci", "rc_change", "rc_note"],
    "sudden_gains": [
        "sg_flag",
        "sg_n_gains",
        "sg_session",
        "sg_magnitude",
        "sg_reversed",
        "sg_note",
    ],
    "changepoint": ["cp_flag", "cp_n_changes", "cp_session", "cp_jump", "cp_p_value", "cp_note"],
    "bayes": [
        "bayes_flag",
        "bayes_p_breakthrough",
        "bayes_p_change",
        "bayes_session",
        "bayes_session_lower",
        "bayes_session_upper",
        "bayes_note",
    ],
}
#: Columns of :attr:`BreakthroughsResult.table` before the carried covariates.
TABLE_COLUMNS = [
    "client",
    "n_observed",
    *(c for b in BLOCKS.values() for c in b),
    "n_methods",
    "methods",
]
#: Each method's label in the ``methods`` column, :meth:`BreakthroughsResult.summary` and
#: the agreement tables, by its key in :data:`METHODS`.
LABELS = {
    "reliable_change": "reliable change",
    "sudden_gains": "sudden gains",
    "changepoint": "change points",
    "bayes": "Bayesian",
}


def run_method(name: str, scores: Any, options: dict[str, Any]) -> Result:
    """Run one method on the scores with its options."""
    if name == "reliable_change":
        from ..reliable_change import reliable_change

        return reliable_change(scores, **options)
    if name == "sudden_gains":
        from ..sudden_gains import identify

        return identify(scores, **options)
    if name == "changepoint":
        from ..changepoint import detect

        return detect(scores, **options)
    from ..bayes import fit

    return fit(scores, **options)


def _empty_block(name: str, clients: pd.Index) -> pd.DataFrame:
    n = len(clients)
    out: dict[str, Any] = {}
    for column in BLOCKS[name]:
        if column.endswith("_flag"):
            out[column] = pd.array([pd.NA] * n, dtype="boolean")
        elif column.endswith("_note"):
            out[column] = pd.Series(["not run"] * n, dtype=object).to_numpy()
        elif column.endswith("_category"):
            out[column] = pd.Series([np.nan] * n, dtype=object).to_numpy()
        else:
            out[column] = np.full(n, np.nan)
    return pd.DataFrame(out, index=clients)


def _method_names(flags: np.ndarray) -> np.ndarray:
    """ "reliable change, sudden gains" etc. per row of a (clients x methods) flag matrix,
    through the bit pattern of each row (2**methods names, not one join per client)."""
    labels = [LABELS[m] for m in METHODS]
    patterns = np.array(
        [
            ", ".join(label for bit, label in enumerate(labels) if code >> bit & 1) or "none"
            for code in range(2 ** len(labels))
        ],
        dtype=object,
    )
    codes = flags.astype(np.int64) @ (1 << np.arange(len(labels), dtype=np.int64))
    return patterns[codes]


def assemble(
    scores: Any, results: dict[str, Result], view_options: dict[str, dict[str, Any]] | None = None
) -> pd.DataFrame:
    """The per-client table from the methods' results (see :data:`TABLE_COLUMNS`)."""
    clients = pd.Index(scores.clients, name="client")
    view_options = view_options or {}
    blocks = []
    for name in METHODS:
        if name in results:
            view = results[name].client_view(**view_options.get(name, {})).set_index("client")
            block = view.reindex(clients)[BLOCKS[name]]
            flag = f"{BLOCKS[name][0]}"
            block[flag] = block[flag].astype("boolean")
        else:
            block = _empty_block(name, clients)
        blocks.append(block)
    table = pd.concat(blocks, axis=1)
    flags = np.column_stack(
        [table[BLOCKS[m][0]].fillna(False).to_numpy(dtype=bool) for m in METHODS]
    )
    table.insert(0, "n_observed", scores.n_observed().reindex(clients).to_numpy())
    table["n_methods"] = flags.sum(axis=1).astype(np.int64)
    table["methods"] = _method_names(flags)
    table = table.reset_index()
    for name in scores.covariates:
        if name == "date" or name in table.columns:
            continue
        try:
            values = scores.client_values(name)
        except ValueError:  # varies within clients: not a client-level covariate
            continue
        table[name] = values.reindex(clients).to_numpy()
    return table
