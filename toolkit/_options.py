"""Global options: one switch for every progress bar.

``toolkit.set_options(progress=False)`` turns every progress bar off; the environment variable
``TQDM_DISABLE=1`` does the same. A function's own ``progress=True/False`` wins over both.
Progress bars appear only for work that takes more than a few seconds (tqdm's ``delay``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["set_options", "get_options", "progress_enabled", "progress_bar", "options"]

T = TypeVar("T")
_OPTIONS: dict[str, Any] = {"progress": True}
#: Seconds of work before a bar is drawn: short calls stay silent.
BAR_DELAY = 2.0


def set_options(*, progress: bool | None = None) -> None:
    """Set global options.

    Parameters
    ----------
    progress : bool, optional
        Show progress bars for long work (default True; ``TQDM_DISABLE=1`` in the
        environment turns them off too).

    Examples
    --------
    >>> import toolkit
    >>> toolkit.set_options(progress=False)
    >>> toolkit.get_options()["progress"]
    False
    >>> toolkit.set_options(progress=True)
    """
    if progress is not None:
        if not isinstance(progress, bool):
            from .errors import OptionError

            raise OptionError(
                f"The 'progress' option must be True or False. Got {progress!r} instead."
            )
        _OPTIONS["progress"] = progress


def get_options() -> dict[str, Any]:
    """A copy of the current global options."""
    return dict(_OPTIONS)


@contextmanager
def options(**kwargs: Any) -> Iterator[None]:
    """Set options within a ``with`` block only."""
    before = get_options()
    set_options(**kwargs)
    try:
        yield
    finally:
        _OPTIONS.update(before)


def progress_enabled(progress: bool | None) -> bool:
    """Whether to draw a bar: the call's own choice, else the global option and TQDM_DISABLE."""
    if progress is not None:
        return bool(progress)
    disabled = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")
    return bool(_OPTIONS["progress"]) and not disabled


def progress_bar(
    iterable: Iterable[T],
    *,
    progress: bool | None,
    desc: str,
    total: int | None = None,
    leave: bool = False,
) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm bar that appears only after :data:`BAR_DELAY` seconds."""
    if not progress_enabled(progress):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave, delay=BAR_DELAY)
