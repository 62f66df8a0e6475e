"""The report page: headings, paragraphs, tables and figures written as one folder.

``index.html`` is self-contained (figures embedded) and opens with a table of contents built
from the section headings; every table is also written in full, at full precision, to
``tables/<name>.csv`` (text cells made safe for spreadsheets), and every figure to
``figures/<name>.png``.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._format import csv_safe, html_table

__all__ = ["Report"]

_HTML_ROWS = 25  # longer tables show their first rows; the CSV holds every row


@dataclass
class _Block:
    kind: str  # "heading", "subheading", "text", "table", "figure", "facts" or "code"
    name: str
    content: Any
    caption: str = ""
    show: list[str] | None = None


@dataclass
class Report:
    """An ordered list of headings, paragraphs, tables and figures, written as one folder.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> page = Report("Example")
    >>> page.heading("Results")
    >>> page.table("counts", pd.DataFrame({"client": ["a"], "p_value": [1e-7]}), "Counts")
    >>> path = page.write(tempfile.mkdtemp())
    >>> "&lt; 0.001" in path.read_text()
    True
    """

    title: str
    blocks: list[_Block] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """Start a section (listed in the table of contents)."""
        self.blocks.append(_Block("heading", _anchor(text), text))

    def subheading(self, text: str) -> None:
        self.blocks.append(_Block("subheading", "", text))

    def text(self, text: str) -> None:
        self.blocks.append(_Block("text", "", text))

    def facts(self, name: str, facts: dict[str, Any], caption: str = "") -> None:
        """A two-column list of labelled values (e.g. the provenance)."""
        self.blocks.append(_Block("facts", name, dict(facts), caption))

    def code(self, text: str) -> None:
        self.blocks.append(_Block("code", "", text))

    def table(
        self,
        name: str,
        table: pd.DataFrame,
        caption: str = "",
        *,
        show: list[str] | None = None,
    ) -> None:
        """Add a table; it is written in full to ``tables/<name>.csv``, and the page shows
        its first rows (and only the ``show`` columns, when given)."""
        self.blocks.append(_Block("table", name, table.copy(), caption, show))

    def figure(self, name: str, fig: Any, caption: str = "") -> None:
        """Add a matplotlib figure; it is written to ``figures/<name>.png`` and then closed."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.blocks.append(_Block("figure", name, buffer.getvalue(), caption))

    @property
    def sections(self) -> list[str]:
        """The section headings, in order."""
        return [b.content for b in self.blocks if b.kind == "heading"]

    def write(self, folder: str | Path) -> Path:
        """Write ``index.html``, ``tables/*.csv`` and ``figures/*.png``; return the page's path."""
        folder = Path(folder)
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        body = [self._contents()]
        for block in self.blocks:
            body.append(self._block_html(block, folder))
        page = _PAGE.format(title=html.escape(self.title), body="\n".join(body))
        path = folder / "index.html"
        path.write_text(page, encoding="utf-8")
        return path

    def _contents(self) -> str:
        items = "".join(
            f"<li><a href='#{b.name}'>{html.escape(b.content)}</a></li>"
            for b in self.blocks
            if b.kind == "heading"
        )
        return f"<nav><h2>Contents</h2><ol>{items}</ol></nav>" if items else ""

    def _block_html(self, block: _Block, folder: Path) -> str:
        if block.kind == "heading":
            return f"<h2 id='{block.name}'>{html.escape(block.content)}</h2>"
        if block.kind == "subheading":
            return f"<h3>{html.escape(block.content)}</h3>"
        if block.kind == "text":
            return f"<p>{html.escape(block.content)}</p>"
        if block.kind == "code":
            return f"<pre>{html.escape(block.content)}</pre>"
        if block.kind == "facts":
            rows = "".join(
                f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                for k, v in block.content.items()
            )
            caption = (
                f"<p class='caption'>{html.escape(block.caption)}</p>" if block.caption else ""
            )
            return f"{caption}<table class='facts'>{rows}</table>"
        if block.kind == "table":
            table: pd.DataFrame = block.content
            csv_safe(table).to_csv(folder / "tables" / f"{block.name}.csv", index=False)
            if table.empty:
                return f"<p><em>{html.escape(block.caption)}: none.</em></p>"
            shown = table if block.show is None else table[block.show]
            return html_table(
                shown, max_rows=_HTML_ROWS, csv_name=block.name, caption=block.caption
            )
        (folder / "figures" / f"{block.name}.png").write_bytes(block.content)
        data = base64.b64encode(block.content).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(block.name)}" '
            f'src="data:image/png;base64,{data}"><figcaption>'
            f"{html.escape(block.caption)}</figcaption></figure>"
        )


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
        padding: 0 1rem; color: #222; line-height: 1.45; }}
h2 {{ border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.2rem; }}
nav ol {{ columns: 2; }}
.scroll {{ overflow-x: auto; max-width: 100%; margin-bottom: 1.5rem; }}
table {{ border-collapse: collapse; font-size: 0.88rem; }}
th, td {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; vertical-align: top; }}
th {{ text-align: left; background: #f4f4f4; white-space: nowrap; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.id {{ white-space: nowrap; font-weight: 600; }}
td.text {{ text-align: left; min-width: 6rem; }}
table.facts th {{ background: none; }}
img {{ max-width: 100%; }} .caption {{ color: #555; }}
pre {{ background: #f6f6f6; padding: 0.6rem; overflow-x: auto; }}
</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""
