"""Optical flow and confidence on the device, from original frames (OpenCV DIS).

Flow is computed on downscaled grayscale frames and expressed in full-frame
pixels, so the wire and the warp can use any grid size.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from services.interpolator.grids import frame_to_grid_pixels, pixel_grid, shrink_to_long_side

DEFAULT_FLOW_LONG_SIDE = 320
# DIS "fast", refined down to a pyramid level at least this wide: "fast" alone stops at quarter
# resolution, which misses motion on small grids; "medium" costs several times more for
# accuracy that smooth colour maps do not need.
DEFAULT_DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
FINEST_LEVEL_MIN_WIDTH = 80
# Photometric tolerance on 0-255 grey levels: a difference of sigma gives confidence e^-1.
DEFAULT_PHOTOMETRIC_SIGMA = 14.0

_thread_local = threading.local()


def _dis(preset: int) -> cv2.DISOpticalFlow:
    """One DIS instance per thread and preset (instances keep internal buffers)."""
    instances = getattr(_thread_local, "dis", None)
    if instances is None:
        instances = _thread_local.dis = {}
    if preset not in instances:
        instances[preset] = cv2.DISOpticalFlow_create(preset)
    return instances[preset]


@dataclass(frozen=True)
class FlowFrame:
    """A frame prepared once for flow: grayscale at the flow grid size."""

    gray: np.ndarray  # gh x gw uint8
    frame_width: int
    frame_height: int
    small: np.ndarray | None = None  # gh x gw x 3 uint8: the frame at the grid size (reused by apply_detail)


def prepare(rgb: np.ndarray, long_side: int = DEFAULT_FLOW_LONG_SIDE) -> FlowFrame:
    """Downscale and convert an HxWx3 RGB frame once, for every flow it takes part in."""
    height, width = rgb.shape[:2]
    small = shrink_to_long_side(rgb, long_side)
    return FlowFrame(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), width, height, small)


def estimate_flow(current: FlowFrame, reference: FlowFrame, preset: int | None = None) -> np.ndarray:
    """Flow on current's grid, in frame pixels: current(x) ~ reference(x + flow(x)). gh x gw x 2."""
    if preset is None:
        dis = _dis(DEFAULT_DIS_PRESET)
        width = current.gray.shape[1]
        dis.setFinestScale(max(0, min(2, int(np.log2(max(1.0, width / FINEST_LEVEL_MIN_WIDTH))))))
    else:
        dis = _dis(preset)
    grid_flow = dis.calc(current.gray, reference.gray, None)
    gh, gw = current.gray.shape
    scale = np.array([current.frame_width / gw, current.frame_height / gh], dtype=np.float32)
    return grid_flow * scale


def photometric_confidence(
    current: FlowFrame,
    reference: FlowFrame,
    flow: np.ndarray,
    sigma: float = DEFAULT_PHOTOMETRIC_SIGMA,
) -> np.ndarray:
    """Per-grid-pixel trust in [0, 1] that reference warped by flow explains current.

    Low where the warped reference disagrees with the current frame (occlusion,
    disocclusion, flow failure) or where the flow points outside the reference.
    """
    gh, gw = current.gray.shape
    sample_at = pixel_grid(gh, gw) + frame_to_grid_pixels(flow, current.frame_width, current.frame_height)
    warped = cv2.remap(reference.gray, sample_at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = cv2.blur(cv2.absdiff(warped, current.gray).astype(np.float32), (3, 3))
    confidence = np.exp(-((diff * (1.0 / sigma)) ** 2))
    map_x, map_y = sample_at[..., 0], sample_at[..., 1]
    inside = (map_x >= -0.5) & (map_x <= gw - 0.5) & (map_y >= -0.5) & (map_y <= gh - 0.5)
    confidence[~inside] = 0.0
    return confidence
