"""Keep large frame buffers in the heap instead of fresh memory maps, up to a bound (glibc only).

Every video operation allocates and frees arrays of several megabytes (a 1080p frame is
6 MB, its float copies 25 MB). glibc serves blocks above 128 KB-32 MB with their own mmap
and unmaps them on free, so every frame pays for faulting its pages in again: measured
here, half the time of applying colour maps at 720p went to the kernel. Raising the
mmap and trim thresholds lets freed buffers be reused.

What is kept is bounded: a burst of large messages (100 bad requests of 16-32 MB each, see
benchmarks/bad_clients.py) leaves hundreds of megabytes free inside glibc's per-thread
arenas, which it would otherwise never give back (measured: 306 MiB resident before, 1018
after, for good). A daemon thread reads the free total (mallinfo2) a few times a second and,
once more than MAX_FREE_BYTES sits free, hands the free pages back (malloc_trim). A normal
session's buffers stay under the bound and keep being reused; elsewhere than glibc this does
nothing.
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
# Free heap memory kept for reuse before it is handed back (MVS_MALLOC_MAX_FREE_MB; 0: no bound).
MAX_FREE_BYTES = int(os.environ.get("MVS_MALLOC_MAX_FREE_MB", "128")) << 20
CHECK_PERIOD_S = 0.25
# Checks without change after which memory that grew is given back once more.
SETTLE_CHECKS = 8
# Growth is answered at most this often (a full collection holds the GIL for about 150 ms).
MIN_INTERVAL_S = 2.0

_applied = False
_trimmer: threading.Thread | None = None


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_large_buffers(max_free_bytes: int = MAX_FREE_BYTES) -> bool:
    """Apply once per process; True when glibc took the settings.

    Also starts the thread that hands free memory back above max_free_bytes (0: never)."""
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
    if _applied and max_free_bytes > 0:
        bound_free_memory(max_free_bytes)
    return _applied


def free_heap_bytes() -> int | None:
    """Bytes free inside glibc's arenas (allocated from the system, not in use); None off glibc."""
    libc = _libc()
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().fordblks)


def trim() -> bool:
    """Hand every free heap page back to the system now; True if any was (False off glibc)."""
    libc = _libc()
    malloc_trim = getattr(libc, "malloc_trim", None)
    return bool(malloc_trim(0)) if malloc_trim is not None else False


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


def bound_free_memory(max_growth_bytes: int, period_s: float = CHECK_PERIOD_S) -> bool:
    """Start (once) a daemon thread calling give_back() whenever the resident memory has grown by more
    than max_growth_bytes since the last time; False where there is no glibc or no /proc."""
    global _trimmer
    libc = _libc()
    if getattr(libc, "malloc_trim", None) is None or not resident_bytes():
        return False
    if _trimmer is not None:
        return True

    def run() -> None:
        baseline = last = resident_bytes()
        settled_checks = 0
        grew = False  # memory was given back while growing: once more when it settles
        last_given = 0.0
        wait = threading.Event()
        while not wait.wait(period_s):
            now = resident_bytes()
            settled_checks = settled_checks + 1 if abs(now - last) < (1 << 20) else 0
            last = now
            growing = now > baseline + max_growth_bytes and time.monotonic() - last_given >= MIN_INTERVAL_S
            settled = grew and settled_checks >= SETTLE_CHECKS
            if growing or settled:
                give_back(libc)
                grew, last_given = growing, time.monotonic()
                baseline = last = resident_bytes()
                log.debug("memory given back: %.0f MiB resident", baseline / 2**20)

    _trimmer = threading.Thread(target=run, name="malloc-trim", daemon=True)
    _trimmer.start()
    return True
