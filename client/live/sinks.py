"""Where live frames go besides the preview: an MP4 written as they come."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from client.media.sink import VideoSink

# Milliseconds: capture times are kept exactly, whatever the source's rate.
LIVE_TIME_BASE = Fraction(1, 1000)


class LiveFileSink:
    """H.264 with no encoder look-ahead (tune zerolatency), so a frame leaves the encoder at once;
    each frame keeps its capture time as its timestamp."""

    def __init__(self, path: str, width: int, height: int, fps: float):
        self._video = VideoSink(
            path,
            width,
            height,
            LIVE_TIME_BASE,
            Fraction(round(fps * 1000), 1000),
            crf=20,
            preset="ultrafast",
            tune="zerolatency",
        )
        self._last_pts = -1

    def write(self, item, rgb: np.ndarray) -> None:
        pts = max(round(item.frame.pts_s * 1000), self._last_pts + 1)  # strictly increasing
        self._video.write(rgb, pts)
        self._last_pts = pts

    def close(self) -> None:
        self._video.close()
