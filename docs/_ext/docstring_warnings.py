"""Keep reStructuredText slips in docstrings visible without failing the site build.

The site builds with warnings as errors. Formatting warnings that docutils raises while
parsing a *docstring* (an unclosed ``*``, a stray ``|``) come from the library's source, not
from these pages, so they are listed instead: printed at the end of the build and written to
``docstring-warnings.txt`` beside the HTML. Every other warning (a page, a notebook, a
missing module, a broken reference) still fails the build.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from sphinx.util import logging as sphinx_logging


class _DocstringFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        location = str(getattr(record, "location", "") or "")
        if getattr(record, "type", "") == "docutils" and "docstring of" in location:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                message = str(record.msg)
            self.found.append(f"{location}: {message}")
            return False
        return True


_FILTER = _DocstringFilter()


def _install(app: Any) -> None:
    for handler in logging.getLogger(sphinx_logging.NAMESPACE).handlers:
        if isinstance(handler, sphinx_logging.WarningStreamHandler):
            if _FILTER not in handler.filters:
                handler.filters.insert(0, _FILTER)


def _report(app: Any, exception: Exception | None) -> None:
    out = Path(app.outdir) / "docstring-warnings.txt"
    unique = sorted(set(_FILTER.found))
    out.write_text("".join(line + "\n" for line in unique), encoding="utf-8")
    if unique:
        # Printed even with -q, so the slips stay in view until someone fixes them.
        print(
            f"{len(unique)} docstring formatting problem(s), not errors (listed in {out}):\n  "
            + "\n  ".join(unique),
            file=sys.stderr,
        )


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", lambda app, config: _install(app))
    app.connect("build-finished", _report)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
