"""Keep freed frame-sized buffers in the heap instead of handing them back to the OS.

glibc serves every allocation above its mmap threshold (128 KiB at first) with fresh
pages and unmaps them on free, so each new frame-sized numpy temporary page-faults all
its pages in again: 2,500 faults (10 MB) for one 384 px zoom frame's colour match, which
doubled its time. Raising the threshold (and the trim threshold beside it) lets such
buffers be reused; the heap keeps at most what a frame's temporaries need. Buffers
above the threshold (a 4K frame in float32) are still mapped and unmapped as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # as glibc sets it when it raises the threshold

_done = False


def reuse_freed_buffers() -> bool:
    """Tune glibc's malloc once per process; False where there is no glibc (macOS,
    Windows, musl): nothing changes there."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
