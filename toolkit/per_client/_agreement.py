"""Agreement between methods: 2 x 2 counts, Cohen's kappa, and why each disagreement arose."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ._statistics import cohen_kappa
from ._table import BLOCKS, LABELS

__all__ = ["AGREEMENT_COLUMNS", "DISAGREEMENT_COLUMNS", "agreement", "disagreements"]

#: Columns of :meth:`BreakthroughsResult.agreement`: one row per pair of methods.
AGREEMENT_COLUMNS = [
    "method_a",
    "method_b",
    "n_clients",
    "both",
    "only_a",
    "only_b",
    "neither",
    "agreement",
    "kappa",
]
#: Columns of :meth:`BreakthroughsResult.disagreements`: one row per client and pair.
DISAGREEMENT_COLUMNS = [
    "client",
    "method_a",
    "method_b",
    "flagged_by",
    "other_analysed",
    "reason",
]


def _flag(table: pd.DataFrame, method: str) -> pd.Series:
    return table[BLOCKS[method][0]]


def agreement(table: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Counts of both / only one / neither and Cohen's kappa for every pair of methods.

    Only clients that both methods analysed count; ``agreement`` is the share of them on
    which the two methods agree.
    """
    rows = []
    for a, b in itertools.combinations(methods, 2):
        fa, fb = _flag(table, a), _flag(table, b)
        both_known = fa.notna() & fb.notna()
        x = fa[both_known].astype(bool).to_numpy()
        y = fb[both_known].astype(bool).to_numpy()
        counts = {
            "both": int((x & y).sum()),
            "only_a": int((x & ~y).sum()),
            "only_b": int((~x & y).sum()),
            "neither": int((~x & ~y).sum()),
        }
        n = int(both_known.sum())
        rows.append(
            {
                "method_a": LABELS[a],
                "method_b": LABELS[b],
                "n_clients": n,
                **counts,
                "agreement": (counts["both"] + counts["neither"]) / n if n else np.nan,
                "kappa": cohen_kappa(**counts),
            }
        )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def disagreements(table: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Every client on which two methods disagree, with the reason in words.

    The reason is the note of the method that did not flag the client (why it did not),
    after the note of the one that did when it has one (e.g. that the gain was reversed).
    Clients flagged by one method that the other could not analyse are listed too
    (``other_analysed`` False), with that method's reason; they are not among the
    ``only_a`` / ``only_b`` counts of :func:`agreement`, which count clients both analysed.
    """
    parts = []
    for a, b in itertools.combinations(methods, 2):
        fa, fb = _flag(table, a), _flag(table, b)
        note_a, note_b = table[BLOCKS[a][-1]], table[BLOCKS[b][-1]]
        for flagged, other, f_on, f_off, n_on, n_off in (
            (a, b, fa, fb, note_a, note_b),
            (b, a, fb, fa, note_b, note_a),
        ):
            hit = (
                f_on.fillna(False).astype(bool) & ~f_off.fillna(False).astype(bool) & f_off.notna()
            ) | (f_on.fillna(False).astype(bool) & f_off.isna())
            if not hit.any():
                continue
            why = LABELS[other] + ": " + n_off[hit].fillna("not flagged").astype(str)
            context = n_on[hit]
            reason = np.where(
                context.notna(),
                LABELS[flagged] + ": " + context.fillna("").astype(str) + "; " + why,
                why,
            )
            parts.append(
                pd.DataFrame(
                    {
                        "client": table.loc[hit, "client"].to_numpy(),
                        "method_a": LABELS[a],
                        "method_b": LABELS[b],
                        "flagged_by": LABELS[flagged],
                        "other_analysed": f_off[hit].notna().to_numpy(),
                        "reason": reason,
                    }
                )
            )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DISAGREEMENT_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    order = {LABELS[m]: i for i, m in enumerate(methods)}
    out["_a"], out["_b"] = out["method_a"].map(order), out["method_b"].map(order)
    try:
        out = out.sort_values(["_a", "_b", "client"], kind="stable")
    except TypeError:  # client ids that cannot be ordered
        out = out.sort_values(["_a", "_b"], kind="stable")
    return out[DISAGREEMENT_COLUMNS].reset_index(drop=True)
