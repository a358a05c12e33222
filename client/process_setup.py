"""How a client process runs its frames: set once, first thing, by the CLI (and the benchmarks
that run jobs as the CLI does)."""

from __future__ import annotations

import cv2

from mvstylizer_common.malloc import keep_large_buffers


def prepare_client_process() -> None:
    # Frame buffers stay in the heap, with no give-back thread: its full collections would stall frames.
    keep_large_buffers(max_growth_bytes=0)
    # The pipelines run their stages on threads of their own (decode, flow pool, maps, encode); OpenCV's
    # pool inside each stage only added contention on top: one OpenCV thread took the device stages of
    # a 1080p file job from 40 to 32 CPU-ms a frame on two cores (benchmarks.profile's stages).
    cv2.setNumThreads(1)
