"""The summary of a batch run (``summary.json``, ``summary.html``) and its result object."""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..per_client._statistics import wilson_interval
from ..per_client._table import LABELS

__all__ = ["BatchResult", "write_summary", "SUMMARY_COLUMNS"]

#: Columns of :meth:`BatchResult.summary` (those of ``BreakthroughsResult.summary()``).
SUMMARY_COLUMNS = [
    "method",
    "n_clients",
    "n_analysed",
    "n_flagged",
    "share",
    "share_lower",
    "share_upper",
]


@dataclass(frozen=True)
class BatchResult:
    """What a batch run wrote, and how to read it back.

    Attributes
    ----------
    out : Path
        The output folder.
    facts : dict
        The run's provenance and totals (as in ``summary.json``): rows read, clients,
        excluded rows, partitions computed and reused, the criterion and pooled statistics,
        peak memory per worker, seconds.
    counts : pandas.DataFrame
        Clients analysed and flagged per method over every partition (``SUMMARY_COLUMNS``).
    notes : list of str
        The reader's notes and the warnings raised while analysing, each once.
    """

    out: Path
    facts: dict[str, Any]
    counts: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Clients flagged per method with Wilson intervals (one row per method)."""
        return self.counts.copy()

    def read(self, name: str = "breakthroughs") -> pd.DataFrame:
        """One output dataset read whole (sorted by client), e.g. ``"sudden_gains"``."""
        folder = self.out / name
        paths = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
        if not paths:
            raise FileNotFoundError(f"{folder} holds no partitions. Outputs: {self.outputs()}.")
        frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        key = "client" if "client" in frame.columns else frame.columns[0]
        extra = [c for c in ("session", "gain_session", "row") if c in frame.columns]
        return frame.sort_values([key, *extra], kind="stable", ignore_index=True)

    def outputs(self) -> list[str]:
        """The parquet datasets in the output folder."""
        return sorted(p.parent.name for p in self.out.glob("*/part-00000.parquet"))


def _counts(records: list[dict[str, Any]], methods: list[str], level: float = 0.95) -> pd.DataFrame:
    clients = int(sum(r["clients"] for r in records))
    rows = []
    for m in methods:
        n = int(sum(r["counts"].get(m, [0, 0])[0] for r in records))
        k = int(sum(r["counts"].get(m, [0, 0])[1] for r in records))
        lo, hi = wilson_interval(k, n, level)
        rows.append(
            {
                "method": LABELS[m],
                "n_clients": clients,
                "n_analysed": n,
                "n_flagged": k,
                "share": k / n if n else np.nan,
                "share_lower": float(lo),
                "share_upper": float(hi),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def write_summary(
    out: Path,
    *,
    records: list[dict[str, Any]],
    facts: dict[str, Any],
    notes: list[str],
    methods: list[str],
) -> BatchResult:
    """Total the partitions' records, write ``summary.json`` and ``summary.html``."""
    from ..per_client._table import METHODS

    ordered = [m for m in METHODS if m in methods]
    counts = _counts(records, ordered)
    by_worker: dict[str, int] = {}
    for r in records:
        key = str(r.get("pid"))
        by_worker[key] = max(by_worker.get(key, 0), int(r.get("peak_memory", 0)))
    warnings_seen = sorted({w for r in records for w in r.get("warnings", [])})
    facts = {
        **facts,
        "partitions_complete": len(records),
        "clients": int(sum(r["clients"] for r in records)),
        "rows_validated": int(sum(r["rows_validated"] for r in records)),
        "rows_excluded": int(sum(r["excluded"] for r in records)),
        "peak_memory_per_worker_max": max(by_worker.values()) if by_worker else None,
        "complete": len(records) == facts.get("partitions"),
    }
    if "monitoring" in methods:
        # not-on-track flags: clients monitored, and flagged at least once
        n = int(sum(r["counts"].get("monitoring", [0, 0])[0] for r in records))
        k = int(sum(r["counts"].get("monitoring", [0, 0])[1] for r in records))
        facts.update(monitoring_clients=n, monitoring_flagged=k,
                     monitoring_share_flagged=k / n if n else None)  # fmt: skip
    seconds = facts.get("seconds") or 0.0
    facts["clients_per_second"] = facts["clients"] / seconds if seconds else None
    notes = list(dict.fromkeys([*notes, *warnings_seen]))
    payload = {
        "facts": facts,
        "methods": counts.replace({np.nan: None}).to_dict(orient="records"),
        "notes": notes,
    }
    _atomic_text(out / "summary.json", json.dumps(payload, indent=2, default=str))
    _atomic_text(out / "summary.html", _html(facts, counts, notes))
    return BatchResult(out=out, facts=facts, counts=counts, notes=notes)


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _html(facts: dict[str, Any], counts: pd.DataFrame, notes: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, int):
            return f"{value:,}"
        return html.escape(str(value))

    fact_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{cell(v)}</td></tr>" for k, v in facts.items()
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in counts.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in counts.itertuples(index=False)
    )
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Batch run</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:left}</style></head><body><h1>Batch run</h1>"
        f"<h2>Clients flagged per method</h2><table><tr>{head}</tr>{body}</table>"
        f"<h2>Notes</h2><ul>{note_items or '<li>none</li>'}</ul>"
        f"<h2>Run</h2><table>{fact_rows}</table></body></html>"
    )
