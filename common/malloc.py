"""Keep large frame buffers in the heap instead of fresh memory maps (glibc only).

Every video operation allocates and frees arrays of several megabytes (a 1080p frame is
6 MB, its float copies 25 MB). glibc serves blocks above 128 KB-32 MB with their own mmap
and unmaps them on free, so every frame pays for faulting its pages in again: measured
here, half the time of applying colour maps at 720p went to the kernel. Raising the
mmap and trim thresholds lets freed buffers be reused. Peak memory is unchanged (what is
kept is what the previous frame used); elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameters, and the largest mmap threshold it accepts on 64-bit systems.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MAX_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 256 << 20

_applied = False


def keep_large_buffers() -> bool:
    """Apply once per process; True when glibc took the settings."""
    global _applied
    if _applied:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _applied
