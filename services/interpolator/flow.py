"""Optical flow and confidence on the device, from original frames (OpenCV DIS).

Flow is computed on downscaled grayscale frames and expressed in full-frame
pixels, so the wire and the warp can use any grid size.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from mvstylizer_common.errors import InvalidInputError
from services.interpolator.grids import frame_to_grid_pixels, pixel_grid, resize_field, shrink_to_long_side

DEFAULT_FLOW_LONG_SIDE = 320
# DIS "fast", refined down to a pyramid level at least this wide: "fast" alone stops at quarter
# resolution, which misses motion on small grids; "medium" costs several times more for
# accuracy that smooth colour maps do not need.
DEFAULT_DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
FINEST_LEVEL_MIN_WIDTH = 80
# Photometric tolerance on 0-255 grey levels: a difference of sigma gives confidence e^-1.
DEFAULT_PHOTOMETRIC_SIGMA = 14.0
# OpenCV's DIS refuses images with both sides under 12 px, or a side under its 8 px patch.
DIS_MIN_LONG_SIDE = 12
DIS_MIN_SHORT_SIDE = 8

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
    """Downscale and convert an HxWx3 RGB frame once, for every flow it takes part in.

    long_side: of the flow grid, in grid pixels (at least 1; grids are never under 8x8)."""
    if isinstance(long_side, bool) or not isinstance(long_side, int | np.integer) or long_side < 1:
        raise InvalidInputError(f"the flow grid's long side must be a whole number of pixels >= 1, got {long_side!r}")
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
    gh, gw = current.gray.shape
    if reference.gray.shape != (gh, gw):
        raise ValueError(f"flow between grids of different sizes: {gw}x{gh} and {reference.gray.shape[::-1]}")
    calc_w, calc_h = dis_grid_size(gw, gh)
    if (calc_w, calc_h) == (gw, gh):
        grid_flow = dis.calc(current.gray, reference.gray, None)
    else:
        # A grid too small for DIS (frames of a few pixels): measured on the grid upscaled to DIS's
        # minimum, and brought back to the grid. The flow is in frame pixels, whatever grid measured it.
        grid_flow = dis.calc(_upscale(current.gray, calc_w, calc_h), _upscale(reference.gray, calc_w, calc_h), None)
        grid_flow = resize_field(grid_flow, gw, gh)
    scale = np.array([current.frame_width / calc_w, current.frame_height / calc_h], dtype=np.float32)
    return grid_flow * scale


def dis_grid_size(width: int, height: int) -> tuple[int, int]:
    """The smallest size at least width x height, same aspect, that OpenCV's DIS accepts
    (a long side of DIS_MIN_LONG_SIDE and a short side of DIS_MIN_SHORT_SIDE)."""
    factor = max(1.0, DIS_MIN_LONG_SIDE / max(width, height), DIS_MIN_SHORT_SIDE / min(width, height))
    if factor == 1.0:
        return width, height
    return math.ceil(width * factor - 1e-6), math.ceil(height * factor - 1e-6)


def _upscale(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)


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
