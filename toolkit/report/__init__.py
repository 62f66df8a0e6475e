"""The analysis report: a folder with tables (CSV), figures (PNG) and one self-contained HTML page.

The report sits on top of the methods: the per-client answer (:func:`toolkit.breakthroughs`)
is computed once and every section reads from it, so the page gives one answer. The page
opens with a summary (what was analysed, who had a breakthrough by each method and how far
the methods agree) and a table of contents, then the method sections (:data:`SECTIONS`), and
closes with the methods paragraph (with references) and the provenance: toolkit version,
date, command line, input file and its SHA-256, counts, seed and every setting.

Examples
--------
>>> import tempfile, toolkit
>>> from toolkit.report import analyse
>>> report = analyse(toolkit.datasets.load_scores("sgdata"), skip=["bayes"], progress=False)
>>> report.sections[0], report.sections[-1]
('Summary', 'Provenance')
>>> path = report.write(tempfile.mkdtemp())
>>> path.name
'index.html'
"""

from __future__ import annotations

from ._analyse import analyse, file_sha256, section_names
from ._context import Context
from ._page import Report
from .sections import SECTIONS

__all__ = ["Report", "Context", "analyse", "SECTIONS", "section_names", "file_sha256"]
