"""The frames that cross the device's stage boundaries, and the one protocol every sink follows.

A source hands on SourceFrames (a decoded file or a live capture); the interpolator hands
OutputFrames, exactly one per SourceFrame and in the same order, to the sinks (the video
file, the live preview, a benchmark's capture).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

# Live sources stamp frames in milliseconds: capture times are kept exactly, whatever the rate.
LIVE_TIME_BASE = Fraction(1, 1000)


@dataclass
class SourceFrame:
    """One input frame. index: presentation order from 0 (live: capture order, counting frames
    dropped later); pts: in time_base units; captured_at: live only, time.perf_counter() at capture."""

    index: int
    pts: int
    rgb: np.ndarray  # HxWx3 uint8
    time_base: Fraction = LIVE_TIME_BASE
    captured_at: float | None = None

    @property
    def pts_s(self) -> float:
        return float(self.pts * self.time_base)


@dataclass
class OutputFrame:
    """One stylized frame, for the input frame of the same index and pts."""

    index: int
    pts: int
    image: np.ndarray  # HxWx3 RGB, or (H*3/2) x W I420 when i420
    i420: bool = False
    method: str = ""  # how it was made (interpolated, key, closed form ...); "" when not known
    source: SourceFrame | None = None  # the input it was made from, where a sink shows it (live preview)


class FrameSink(Protocol):
    """Where output frames go. A sink whose `accepts_i420` is true also takes I420 frames, which
    the in-process interpolator then makes directly (saving a full-size RGB pass)."""

    accepts_i420: bool

    def write(self, frame: OutputFrame) -> None: ...

    def close(self) -> None: ...
