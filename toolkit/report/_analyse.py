"""analyse(): run the report's sections on validated scores, summary first, provenance last."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._options import progress_bar
from ..data import LongScores
from ._context import Context
from ._page import Report
from .sections import SECTIONS, methods_section, provenance_section, summary_section

__all__ = ["analyse", "section_names", "file_sha256"]

#: The sections that read the per-client answer's tables (the closing ones read only its
#: methods text and settings).
READS_ANSWER = frozenset(
    {"summary", "breakthroughs", "reliable-change", "sudden-gains", "change-points"}
)


def section_names() -> list[str]:
    """The names ``skip=`` (``--skip``) accepts."""
    return [name for name, _ in SECTIONS]


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "-").replace("_", "-")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 checksum of a file, read in blocks (for the provenance)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def analyse(
    scores: LongScores,
    *,
    title: str | None = None,
    skip: Sequence[str] = (),
    group: str | None = None,
    seed: int = 0,
    min_change: float | None = None,
    provenance: Mapping[str, Any] | None = None,
    announce: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> Report:
    """Run every report section on validated scores and return the :class:`Report`.

    Parameters
    ----------
    scores : LongScores
        Validated data (see :func:`toolkit.long_scores`).
    title : str, optional
        Page title (default names the instrument and cohort size).
    skip : sequence of str
        Sections to leave out (see :func:`section_names`), e.g. ``["bayes"]``.
    group : str, optional
        A client-level covariate (e.g. a treatment arm): counts per group in the summary,
        trajectories coloured by group and a group x time growth model.
    seed : int, default 0
        For every random step.
    min_change : float, optional
        Criterion 1 of the sudden gains in points (default: the reliable-change criterion).
    provenance : mapping, optional
        Facts for the provenance block (the command line adds the command, the input file
        and its SHA-256); the date and the toolkit version are always recorded.
    announce : callable, optional
        Receives a message before a long step (the Bayesian sampling) starts.
    progress : bool, optional
        Show a progress bar over the sections (default: the global option).
    """
    names = section_names()
    wanted = {_normalise(s) for s in skip}
    unknown = sorted(wanted - set(names))
    if unknown:
        raise ValueError(
            f"Unknown report section(s) {unknown}; the sections are {names} (the summary, "
            "methods and provenance are always written)."
        )
    if group is not None:
        scores.client_values(group)  # a clear error now if it is not a client-level column
    title = title or f"Breakthrough analysis: {scores.score_label}, {scores.n_clients:,} clients"
    ctx = Context(scores, group=group, seed=seed, min_change=min_change)
    if announce is not None:
        ctx.announce = announce
    report = Report(title)
    facts = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}
    facts.update(provenance or {})
    chosen = [(n, f) for n, f in SECTIONS if n not in wanted]
    steps = [("summary", summary_section), *chosen, ("methods", methods_section)]
    last = max(i for i, (name, _) in enumerate(steps) if name in READS_ANSWER)
    for i, (_, section) in enumerate(progress_bar(steps, progress=progress, desc="report")):
        section(report, ctx)
        if i == last:
            ctx.settle_answer()  # the sections after it need none of its tables
        ctx.release()
    provenance_section(report, ctx, facts)
    return report
