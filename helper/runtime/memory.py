"""Giving freed memory back to the system. glibc keeps what Python frees in its heaps (one
per thread) for reuse, until asked: after a blocklist of a million names is parsed,
replaced or refused, that is tens of MB the helper would otherwise keep for good.
"""

import ctypes
import ctypes.util

_trim = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None)


def release_memory() -> None:
    """Return the free pages of every heap to the system (a no-op without glibc)."""
    if _trim is not None:
        _trim(0)
