"""Box means over (2r+1)^2 windows that shrink at the image borders, for HxW float32 planes (OpenCV).

Shared by the stylizer's guided filters and the interpolator's local colour fits.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np


def box_mean_plane(plane: np.ndarray, radius: int, out: np.ndarray | None = None) -> np.ndarray:
    """Mean of each pixel's window in one contiguous HxW float32 array."""
    size = (2 * radius + 1, 2 * radius + 1)
    out = cv2.boxFilter(plane, -1, size, dst=out, normalize=False, borderType=cv2.BORDER_CONSTANT)
    out *= inverse_window_counts(plane.shape[0], plane.shape[1], radius)
    return out


@functools.lru_cache(maxsize=16)
def inverse_window_counts(height: int, width: int, radius: int) -> np.ndarray:
    """1 / (pixels in each (2r+1)^2 window clipped to an HxW image), float32 HxW (shared: read only)."""
    rows = np.minimum(np.arange(height), radius) + np.minimum(np.arange(height)[::-1], radius) + 1
    cols = np.minimum(np.arange(width), radius) + np.minimum(np.arange(width)[::-1], radius) + 1
    counts = (1.0 / np.outer(rows, cols)).astype(np.float32)
    counts.flags.writeable = False
    return counts
