"""Tables for people: readable column labels and numbers without noise.

Rounding happens only here, for display; the CSV files beside the page keep full precision.
Numbers are never written in e-notation: p-values below 0.001 read "< 0.001", large counts
get thousands separators, and other numbers keep about three significant digits.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["label", "format_value", "html_table", "csv_safe"]

#: Labels of columns whose automatic label would read badly.
_LABELS = {
    "n": "N",
    "n_clients": "Clients",
    "n_analysed": "Analysed",
    "n_flagged": "Flagged",
    "n_observed": "Observed scores",
    "n_obs": "Observations",
    "n_methods": "Methods flagging",
    "rci": "RCI",
    "rc_rci": "RCI",
    "p_value": "p",
    "cp_p_value": "Change-point p",
    "icc": "ICC",
    "sd": "SD",
    "se": "SE",
    "df": "df",
    "ci_lower": "CI lower",
    "ci_upper": "CI upper",
    "share_lower": "Share, lower",
    "share_upper": "Share, upper",
    "kappa": "Cohen's kappa",
    "method_a": "Method A",
    "method_b": "Method B",
    "only_a": "Only A",
    "only_b": "Only B",
    "p_breakthrough": "P(breakthrough)",
    "p_change": "P(change)",
    "bayes_p_breakthrough": "P(breakthrough)",
    "bayes_p_change": "P(change)",
}
_PREFIXES = {"rc_": "RC ", "sg_": "SG ", "cp_": "CP ", "bayes_": "Bayes "}
#: Columns whose small values are p-values (shown as "< 0.001").
_P_COLUMNS = {"p", "p_value", "cp_p_value", "pr_chisq", "p_lrt"}


def label(column: str) -> str:
    """The display label of a column: ``"n_changes"`` -> ``"N changes"``."""
    if column in _LABELS:
        return _LABELS[column]
    prefix = next((p for p in _PREFIXES if column.startswith(p)), "")
    rest = column[len(prefix) :]
    words = _LABELS.get(rest) or rest.replace("_", " ")
    text = (_PREFIXES.get(prefix, "") + words) if prefix else words
    return text[:1].upper() + text[1:]


def format_value(value: Any, column: str = "") -> str:
    """A cell as text: missing as empty, booleans as yes/no, numbers without e-notation."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return _format_float(float(value), column)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    return str(value)


def _format_float(v: float, column: str) -> str:
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == round(v) and abs(v) < 1e15:
        return f"{int(round(v)):,}" if abs(v) >= 10_000 else str(int(round(v)))
    a = abs(v)
    if column in _P_COLUMNS or column.endswith("p_value"):
        return "< 0.001" if a < 0.001 else f"{v:.3f}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.4g}"
    if a >= 0.001:
        return f"{v:.3g}" if a < 0.01 else f"{v:.3f}"
    return "0.000" if v > 0 else "-0.000"


def html_table(table: pd.DataFrame, *, max_rows: int, csv_name: str, caption: str) -> str:
    """The table as HTML: labelled columns, formatted cells, at most ``max_rows`` rows (the
    caption links the full CSV), inside a box that scrolls sideways when it is wide."""
    shown = table.head(max_rows)
    head = "".join(f"<th>{html.escape(label(str(c)))}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False):
        cells = []
        for j, (column, value) in enumerate(zip(shown.columns, row)):
            text = html.escape(format_value(value, str(column)))
            kind = "id" if j == 0 else ("num" if _is_number(value) else "text")
            cells.append(f"<td class='{kind}'>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    link = f"<a href='tables/{html.escape(csv_name)}.csv'>tables/{html.escape(csv_name)}.csv</a>"
    more = (
        f" First {max_rows} of {len(table):,} rows; every row is in {link}."
        if len(table) > max_rows
        else f" ({link})"
    )
    return (
        f"<p class='caption'>{html.escape(caption)}{more}</p>"
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


#: The first characters that make a spreadsheet cell run as a formula.
_RISKY = re.compile(r"^[=+\-@\t\r]")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
    with an apostrophe, as spreadsheet programs recommend; numbers are left alone. Column
    names are escaped the same way (a covariate can be named ``=cmd``).
    """
    out = table.copy()
    out.columns = ["'" + c if isinstance(c, str) and _RISKY.match(c) else c for c in out.columns]
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        risky = text.str.match(r"^[=+\-@\t\r]").fillna(False).to_numpy(dtype=bool)
        if not risky.any():
            continue
        hit = risky & values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if hit.any():
            fixed = values.astype(object).copy()
            fixed[hit] = "'" + text[hit].astype(object)
            out[column] = fixed
    return out
