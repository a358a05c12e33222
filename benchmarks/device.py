"""Throughput of the device tier alone: flow + colour-map warping + blending + application.

Decode, encode and the stylizer are excluded: frames are in memory and key
frames are graded by a fixed colour map (the device tier does the same work
whatever the stylizer did). Key frames' map fitting is included. Frames are
spread over a pool of threads, as the client's pipeline does.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from client.video.pipeline import FrameRecord, WorkItem, compute_flows
from services.interpolator.core import (
    FlowToKey,
    apply_colour_transform,
    key_output,
    prepare_key,
    synthesize_frame,
)
from services.interpolator.flow import DEFAULT_FLOW_LONG_SIDE
from services.interpolator.grids import grid_size
from services.interpolator.session import DEFAULT_MAP_LONG_SIDE

GRADE = np.array([[0.55, 0.25, 0.1, 0.02], [0.1, 0.6, 0.15, 0.0], [0.2, 0.1, 0.75, 0.12]], np.float32)


def device_tier_fps(frames: list[np.ndarray], key_interval: int = 10, live: bool = False, workers: int = 2) -> dict:
    """Frames per second of the device tier over `frames` (HxWx3 uint8), keys every key_interval."""
    count = len(frames)
    height, width = frames[0].shape[:2]
    grid = grid_size(width, height, DEFAULT_MAP_LONG_SIDE)
    key_indices = sorted(set(range(0, count, key_interval)) | ({count - 1} if not live else set()))
    records = [FrameRecord(i, i, f, DEFAULT_FLOW_LONG_SIDE) for i, f in enumerate(frames)]
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        held = dict(
            zip(
                key_indices,
                pool.map(
                    lambda i: prepare_key(i, frames[i], apply_colour_transform(frames[i], GRADE), grid), key_indices
                ),
                strict=True,
            )
        )

        def make(index: int) -> np.ndarray:
            if index in held:
                return key_output(held[index])
            prev = max(k for k in key_indices if k < index)
            nxt = None if live else min(k for k in key_indices if k > index)
            item = WorkItem(records[index], records[prev], records[nxt] if nxt is not None else None)
            flow_prev, conf_prev, flow_next, conf_next = compute_flows(item)
            next_link = None if nxt is None else FlowToKey(held[nxt], flow_next, conf_next)
            prev_link = FlowToKey(held[prev], flow_prev, conf_prev)
            return synthesize_frame(index, prev_link, next_link, frames[index], records[index].flow_frame.small)

        outputs = list(pool.map(make, range(count)))
    seconds = time.perf_counter() - start
    assert len(outputs) == count
    return {
        "width": width,
        "height": height,
        "frames": count,
        "key_interval": key_interval,
        "mode": "live" if live else "offline",
        "workers": workers,
        "seconds": round(seconds, 3),
        "fps": round(count / seconds, 2),
    }
