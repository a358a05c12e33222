"""Keep large frame buffers in the heap instead of fresh memory maps, and give memory back after a burst (glibc only).

Every video operation allocates and frees arrays of several megabytes (a 1080p frame is
6 MB, its float copies 25 MB). glibc serves blocks above 128 KB-32 MB with their own mmap
and unmaps them on free, so every frame pays for faulting its pages in again: measured
here, half the time of applying colour maps at 720p went to the kernel. Raising the
mmap and trim thresholds lets freed buffers be reused.

What is kept is bounded. A burst of large requests (100 bad ones of 16-32 MB, see
benchmarks/bad_clients.py and docs/robustness.md) took the stylizer from 307 to 1018 MiB
resident, for good: the refused requests stayed alive in reference cycles (an exception's
traceback holds the frames that held the request) that only the cyclic garbage collector
frees, and an idle server allocates too little to run it; and the memory they freed stayed
at the top of glibc's per-thread arenas, which no trim reaches while the trim threshold is
above the 64 MB such an arena's heap can hold. A daemon thread reads the resident size four
times a second and gives memory back (give_back: cycles collected, arenas trimmed) when it
has grown by MAX_GROWTH_BYTES over the lowest size since the last time (at most every 2 s),
or has settled for 2 s more than 32 MiB above it. A steady session's buffers are left alone.
Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time

log = logging.getLogger(__name__)

# glibc's mallopt parameters, and the largest mmap threshold it accepts on 64-bit systems.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MAX_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 256 << 20
# Growth of the resident size that is answered by giving memory back (MVS_MALLOC_MAX_GROWTH_MB; 0: never).
MAX_GROWTH_BYTES = int(os.environ.get("MVS_MALLOC_MAX_GROWTH_MB", "128")) << 20
CHECK_PERIOD_S = 0.25
# Checks without change (within 1 MiB) after which the resident size counts as settled.
SETTLE_CHECKS = 8
# Memory settled this far above the lowest level since the last give-back is given back once more.
SETTLED_SLACK_BYTES = 32 << 20
# Growth is answered at most this often (a full collection holds the GIL for about 150 ms).
MIN_INTERVAL_S = 2.0

_applied = False
_trimmer: threading.Thread | None = None


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_large_buffers(max_growth_bytes: int = MAX_GROWTH_BYTES) -> bool:
    """Apply once per process; True when glibc took the settings.

    Also starts the thread that gives memory back after growth of max_growth_bytes (0: never)."""
    global _applied
    if _applied:
        return True
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    if _applied and max_growth_bytes > 0:
        bound_retained_memory(max_growth_bytes)
    return _applied


def resident_bytes() -> int:
    """This process's resident memory (VmRSS), from /proc; 0 where there is none."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def give_back(libc: ctypes.CDLL | None = None) -> None:
    """Collect garbage cycles and hand every free heap page back to the system, per-thread arenas included.

    glibc's malloc_trim releases free chunks and the main heap's top, not the top of a per-thread
    arena's heap, which only shrinks when a free() there leaves more than the trim threshold at its
    top: a threshold above the 64 MB such a heap can hold means never. So the threshold is lowered
    while the cycles (often the holders of the large buffers: exceptions keep their tracebacks,
    frames and arguments) are freed, then restored."""
    libc = libc or _libc()
    mallopt = getattr(libc, "mallopt", None)
    malloc_trim = getattr(libc, "malloc_trim", None)
    if mallopt is not None:
        mallopt(_M_TRIM_THRESHOLD, 1 << 20)
    try:
        gc.collect()
        if malloc_trim is not None:
            malloc_trim(0)
    finally:
        if mallopt is not None and _applied:
            mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def bound_retained_memory(max_growth_bytes: int, period_s: float = CHECK_PERIOD_S) -> bool:
    """Start (once) the daemon thread calling give_back() (see the module's docstring); False where
    there is no glibc or no /proc."""
    global _trimmer
    libc = _libc()
    if getattr(libc, "malloc_trim", None) is None or not resident_bytes():
        return False
    if _trimmer is not None:
        return True

    def run() -> None:
        # baseline: the lowest resident size since memory was last given back (what the process needs).
        baseline = last = resident_bytes()
        settled_checks = 0
        last_given = 0.0
        wait = threading.Event()
        while not wait.wait(period_s):
            now = resident_bytes()
            settled_checks = settled_checks + 1 if abs(now - last) < (1 << 20) else 0
            last, baseline = now, min(baseline, now)
            # Grown by the bound (at most every MIN_INTERVAL_S), or settled for a while above what the
            # process needed (a burst is over and left its memory behind).
            growing = now > baseline + max_growth_bytes and time.monotonic() - last_given >= MIN_INTERVAL_S
            settled = settled_checks >= SETTLE_CHECKS and now > baseline + SETTLED_SLACK_BYTES
            if growing or settled:
                give_back(libc)
                last_given, settled_checks = time.monotonic(), 0
                baseline = last = resident_bytes()
                log.debug("memory given back: %.0f MiB resident", baseline / 2**20)

    _trimmer = threading.Thread(target=run, name="malloc-trim", daemon=True)
    _trimmer.start()
    return True
