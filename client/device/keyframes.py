"""Key-frame selection: which source frames the stylizer sees.

Every scene cut is a key frame, whatever the policy, and the pipeline never
blends across one. `fixed` adds a key every N frames; `auto` adds one when the
motion accumulated since the last key, or the share of pixels the last key no
longer explains, grows too large, or when the gap reaches a maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from services.interpolator import flow as flowlib

THUMB_WIDTH = 128
# Key frames travel to the stylizer at this long side (never enlarged). The interpolator uses a
# stylized key only through colour maps on a 320-px grid, so the full frame would cost the
# stylizer and both JPEG legs several times more for nothing the output shows.
KEY_LONG_SIDE = 640


@dataclass(frozen=True)
class KeyDecision:
    is_key: bool
    cut: bool = False  # the frame starts a new shot
    reason: str = ""


class KeyFrameSelector(Protocol):
    # Whether decide() looks at the picture (else any array will do). The picture may come at
    # any size down to a few hundred pixels: decisions are made on 128-px thumbnails.
    looks_at_frames: bool

    def decide(self, index: int, rgb: np.ndarray) -> KeyDecision:
        """Called once per frame, in order."""
        ...


def make_selector(policy: str, key_interval: int, max_gap: int) -> KeyFrameSelector:
    """`fixed`: every key_interval frames; `auto`: adaptive, at most max_gap apart. Cuts are keys in both."""
    if policy == "fixed":
        return FixedIntervalSelector(key_interval)
    if policy == "auto":
        return AdaptiveSelector(max_gap=max_gap)
    raise ValueError(f"unknown key-frame policy {policy!r}")


class CutDetector:
    """Hard cuts from the colour histogram distance between consecutive frames."""

    def __init__(self, threshold: float = 0.4):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, thumb: np.ndarray) -> bool:
        hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 8, 8], [0, 180, 0, 256, 0, 256])
        cv2.normalize(hist, hist)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        return cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA) > self.threshold


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    thumb_w = min(THUMB_WIDTH, width)
    return cv2.resize(rgb, (thumb_w, max(8, round(height * thumb_w / width))), interpolation=cv2.INTER_AREA)


class FixedIntervalSelector:
    """Every `interval`-th frame since the last key (interval 1 = every frame), plus every cut."""

    def __init__(self, interval: int, cut_threshold: float = 0.4):
        if interval < 1:
            raise ValueError(f"key-frame interval must be at least 1, got {interval}")
        self.interval = interval
        self.looks_at_frames = interval > 1  # for cuts
        self._cuts = CutDetector(cut_threshold)
        self._since_key: int | None = None

    def decide(self, index: int, rgb: np.ndarray) -> KeyDecision:
        cut = self.interval > 1 and self._cuts.is_cut(thumbnail(rgb))
        if cut or self._since_key is None or self._since_key + 1 >= self.interval:
            self._since_key = 0
            return KeyDecision(True, cut, "cut" if cut else "interval")
        self._since_key += 1
        return KeyDecision(False)


class AdaptiveSelector:
    """A key frame when the last one stops explaining the current frame well.

    Measured on 128-px thumbnails: accumulated motion since the last key (mean
    flow length as a share of the width), the share of pixels whose flow to the
    last key fails a photometric check, a maximum gap, and cuts.
    """

    def __init__(
        self,
        max_gap: int = 30,
        motion_share: float = 0.12,
        unexplained_share: float = 0.2,
        cut_threshold: float = 0.4,
    ):
        if max_gap < 1:
            raise ValueError(f"maximum key-frame gap must be at least 1, got {max_gap}")
        self.looks_at_frames = True
        self.max_gap = max_gap
        self.motion_share = motion_share
        self.unexplained_share = unexplained_share
        self._cuts = CutDetector(cut_threshold)
        self._key: flowlib.FlowFrame | None = None
        self._since_key = 0

    def decide(self, index: int, rgb: np.ndarray) -> KeyDecision:
        thumb = thumbnail(rgb)
        frame = flowlib.prepare(thumb, THUMB_WIDTH)
        cut = self._cuts.is_cut(thumb)
        reason = "cut" if cut else self._reason(frame)
        if reason:
            self._key, self._since_key = frame, 0
            return KeyDecision(True, cut, reason)
        self._since_key += 1
        return KeyDecision(False)

    def _reason(self, frame: flowlib.FlowFrame) -> str:
        if self._key is None:
            return "first"
        if self._since_key + 1 >= self.max_gap:
            return "gap"
        # On thumbnails "medium" costs about a millisecond and, unlike coarser presets, resolves small motion.
        flow = flowlib.estimate_flow(frame, self._key, cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        if float(np.mean(np.hypot(flow[..., 0], flow[..., 1]))) / frame.frame_width > self.motion_share:
            return "motion"
        confidence = flowlib.photometric_confidence(frame, self._key, flow)
        if float(np.mean(confidence < 0.5)) > self.unexplained_share:
            return "unexplained"
        return ""
