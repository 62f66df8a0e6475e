"""The analysis report: a folder with tables (CSV), figures (PNG) and one self-contained HTML page.

:func:`analyse` runs every report section on validated scores; each section is a short
function that adds text, tables and figures to a :class:`Report`. Later methods add their
section to :data:`SECTIONS`.

Examples
--------
>>> import tempfile, toolkit
>>> from toolkit.report import analyse
>>> report = analyse(toolkit.datasets.load_scores("sgdata"), progress=False)
>>> path = report.write(tempfile.mkdtemp())
>>> path.name
'index.html'
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from . import bayes, changepoint, growth, reliable_change, sudden_gains
from .data import LongScores

__all__ = ["Report", "analyse", "SECTIONS"]

_HTML_ROWS = 50  # longer tables are shown truncated in the page; the CSV holds every row


@dataclass
class _Block:
    kind: str  # "heading", "text", "table" or "figure"
    name: str
    content: object
    caption: str = ""


@dataclass
class Report:
    """An ordered list of headings, paragraphs, tables and figures, written as one folder."""

    title: str
    blocks: list[_Block] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(_Block("heading", text, text))

    def text(self, text: str) -> None:
        self.blocks.append(_Block("text", "", text))

    def table(self, name: str, table: pd.DataFrame, caption: str = "") -> None:
        """Add a table; it is written in full to ``tables/<name>.csv``."""
        self.blocks.append(_Block("table", name, table.copy(), caption))

    def figure(self, name: str, fig, caption: str = "") -> None:
        """Add a matplotlib figure; it is written to ``figures/<name>.png`` and then closed."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.blocks.append(_Block("figure", name, buffer.getvalue(), caption))

    def write(self, folder: str | Path) -> Path:
        """Write ``index.html``, ``tables/*.csv`` and ``figures/*.png``; return the page's path."""
        folder = Path(folder)
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        body = []
        for block in self.blocks:
            if block.kind == "heading":
                body.append(f"<h2>{html.escape(block.content)}</h2>")
            elif block.kind == "text":
                body.append(f"<p>{html.escape(block.content)}</p>")
            elif block.kind == "table":
                block.content.to_csv(folder / "tables" / f"{block.name}.csv", index=False)
                body.append(_table_html(block))
            else:
                (folder / "figures" / f"{block.name}.png").write_bytes(block.content)
                data = base64.b64encode(block.content).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(block.name)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>'
                    f"{html.escape(block.caption)}</figcaption></figure>"
                )
        page = _PAGE.format(title=html.escape(self.title), body="\n".join(body))
        path = folder / "index.html"
        path.write_text(page, encoding="utf-8")
        return path


def _table_html(block: _Block) -> str:
    table: pd.DataFrame = block.content
    shown = table.head(_HTML_ROWS)
    note = (
        f" (first {_HTML_ROWS} of {len(table)} rows; all in tables/{block.name}.csv)"
        if len(table) > _HTML_ROWS
        else f" (tables/{block.name}.csv)"
    )
    if table.empty:
        return f"<p><em>{html.escape(block.caption)}: none.</em></p>"
    return (
        f"<p class='caption'>{html.escape(block.caption)}{html.escape(note)}</p>"
        + shown.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="", border=0)
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; margin-bottom: 1.5rem; }}
th, td {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }}
img {{ max-width: 100%; }} .caption {{ color: #555; }}
</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""


# --- Sections ------------------------------------------------------------------------------
def _data_section(report: Report, scores: LongScores) -> None:
    report.heading("Validated data")
    r = scores.roles
    report.text(
        f"Columns: client = {r['client']!r}, session = {r['session']!r}, score = {r['score']!r}"
        f" ({scores.instrument.name if scores.instrument else 'no instrument'}). Missing "
        "scores are kept as missing sessions."
    )
    report.table("data_summary", scores.summary(), "Summary of the validated data")
    report.table(
        "excluded_rows",
        scores.excluded,
        "Rows excluded as invalid, with the reason",
    )


def _trajectory_section(report: Report, scores: LongScores) -> None:
    import matplotlib.pyplot as plt

    report.heading("Trajectories")
    fig, ax = plt.subplots(figsize=(8, 5))
    scores.plot(ax=ax, n=min(60, scores.n_clients))
    report.figure("spaghetti", fig, "Trajectories of a sample of clients, with the mean per "
                  "session and its 95% confidence interval.")


#: The report's sections, in order: (name, function(report, scores)).
SECTIONS: list[tuple[str, Callable[[Report, LongScores], None]]] = [
    ("data", _data_section),
    ("trajectories", _trajectory_section),
    ("reliable change", reliable_change.report_section),
    ("sudden gains", sudden_gains.report_section),
    ("change points", changepoint.report_section),
    ("growth model", growth.report_section),
    ("bayes", bayes.report_section),
]


def analyse(
    scores: LongScores,
    *,
    title: str | None = None,
    skip: Sequence[str] = (),
    progress: bool = True,
) -> Report:
    """Run every report section on validated scores and return the :class:`Report`.

    Parameters
    ----------
    scores : LongScores
        Validated data (see :func:`toolkit.data.long_scores`).
    title : str, optional
        Page title (default names the instrument and cohort size).
    skip : sequence of str
        Names of sections to leave out (see :data:`SECTIONS`), e.g. ``["bayes"]``.
    progress : bool, default True
        Show a progress bar over the sections.
    """
    title = title or f"Breakthrough analysis: {scores.score_label}, {scores.n_clients} clients"
    unknown = set(skip) - {name for name, _ in SECTIONS}
    if unknown:
        raise ValueError(f"Unknown report section(s) {sorted(unknown)}; sections are "
                         f"{[name for name, _ in SECTIONS]}.")
    report = Report(title)
    chosen = [(name, section) for name, section in SECTIONS if name not in skip]
    for name, section in tqdm(chosen, desc="report", disable=not progress):
        section(report, scores)
    return report
