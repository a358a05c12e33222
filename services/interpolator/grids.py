"""Coarse grids that flows, confidences and colour maps live on, and their pixel coordinates."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def grid_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(grid_width, grid_height) with the given long side for a frame size: never scaled up, except that
    a side is never under 8 (frames of a few pixels get an 8-pixel grid, upscaled)."""
    factor = min(1.0, long_side / max(width, height))
    return max(8, round(width * factor)), max(8, round(height * factor))


def shrink_to_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """The image at grid_size's size for `long_side` (area-averaged); the image itself if that is its size."""
    height, width = image.shape[:2]
    size = grid_size(width, height, long_side)
    return image if size == (width, height) else cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> np.ndarray:
    """HxWx2 float32 (x, y) coordinates of every pixel, shared by every warp of that size."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.stack([xs, ys], axis=-1)
    grid.setflags(write=False)
    return grid


def frame_to_grid_pixels(flow: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """Convert a flow in frame pixels to pixels of its own grid (for warping on the grid)."""
    gh, gw = flow.shape[:2]
    return flow * np.array([gw / frame_width, gh / frame_height], dtype=np.float32)


def resize_field(field: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a grid field to width x height (values are not rescaled)."""
    if field.shape[1] == width and field.shape[0] == height:
        return field
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
