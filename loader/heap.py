"""Giving the C heap's free pages back to the system, where the peak memory of a big file
is decided."""

from __future__ import annotations

import contextlib
import ctypes
import sys


def release_free_memory() -> None:
    """Give glibc's free pages back to the system (``malloc_trim``); nothing elsewhere.

    The parse's worker threads free NumPy arrays and Python objects of every
    piece into glibc's arenas, which keep them unless asked: trimmed after each
    piece, a 10M-row parse peaked ~75-130 MB lower for ~0.3-0.5 s more, and
    between parse and staging the staging key order does not come on top of
    the parse's garbage. Polars' own allocator is set apart (``loader/__init__``).
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
