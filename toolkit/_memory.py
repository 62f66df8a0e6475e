"""Handing freed memory back to the system between large steps."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

__all__ = ["trim_heap"]

_TRIM: Any = None


def trim_heap() -> None:
    """Return the heap's freed blocks to the system (glibc only; elsewhere nothing).

    Freed small and middle-sized blocks otherwise stay with the process and count as its
    resident memory until it ends. Trimming once after a large step keeps that memory
    bounded without the cost of trimming on every free (the ``MALLOC_TRIM_THRESHOLD_``
    setting, which also makes every large array a fresh mapping of zeroed pages).
    """
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    if _TRIM:
        _TRIM(0)
