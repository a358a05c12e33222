"""Semantic label masks (Deep Photo Style Transfer's colour-coded PNGs) -> integer label maps.

Each of the mask's three channels is thresholded at 128, which gives one of 8
labels per pixel: label = (c0 >= 128) + 2 (c1 >= 128) + 4 (c2 >= 128). The
channel order (RGB or BGR) only renames labels, and does so the same way for the
content's and the style's mask, so either order may be passed as long as both
masks are decoded alike. Shared by the benchmark, the CLI and the server.
"""

from __future__ import annotations

import cv2
import numpy as np

from mvstylizer_common.errors import InvalidInputError

LABEL_COUNT = 8
# A mask drawn on its own photo has the photo's shape at any scale. Past rounding and this share of
# difference in aspect ratio, it belongs to another picture, and resizing it would put every label
# in the wrong place.
SHAPE_TOLERANCE = 0.02


def labels_from_mask(mask: np.ndarray, size: tuple[int, int] | None = None, what: str = "label mask") -> np.ndarray:
    """HxWx3 (or HxW) uint8 colour-coded mask -> HxW uint8 labels in 0..7.

    size: (width, height) of the image the mask belongs to; a mask of another size but the same
    shape is resized nearest-neighbour (labels are never blended), one of another shape refused
    (what names it in the error). A single-channel mask is read as grey: 0 below 128, 7 from 128 up.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 4:
        mask = mask[..., :3]
    if mask.ndim == 2:
        mask = np.repeat(mask[..., None], 3, axis=2)
    if mask.ndim != 3 or mask.shape[2] != 3 or mask.size == 0:
        raise InvalidInputError(f"a label mask must be HxWx3 (or HxW), got shape {mask.shape}")
    bits = mask >= 128
    labels = (bits[..., 0].astype(np.uint8) | (bits[..., 1].astype(np.uint8) << 1)) | (
        bits[..., 2].astype(np.uint8) << 2
    )
    if size is not None and (labels.shape[1], labels.shape[0]) != tuple(size):
        labels = resize_labels(labels, size, what)
    return labels


def check_same_shape(mask_size: tuple[int, int], image_size: tuple[int, int], what: str = "label mask") -> None:
    """Refuse a mask (width, height) whose aspect ratio is not its image's, beyond rounding (half a
    pixel either side, in either size) and SHAPE_TOLERANCE."""
    mask_w, mask_h = mask_size
    width, height = image_size
    difference = abs(width * mask_h - height * mask_w)
    rounding = 0.5 * (width + height + mask_w + mask_h)
    if difference > SHAPE_TOLERANCE * max(width * mask_h, height * mask_w) + rounding:
        raise InvalidInputError(
            f"the {what} is {mask_w}x{mask_h} but its photo is {width}x{height}: a mask must be drawn"
            " on its own photo, the same way up (any scale)"
        )


def resize_labels(
    labels: np.ndarray, size: tuple[int, int], what: str = "label mask", photo_size: tuple[int, int] | None = None
) -> np.ndarray:
    """HxW integer labels -> the given (width, height), nearest-neighbour; refused if their shape is not
    the photo's (photo_size, default size: give the photo's own size when size is a working size,
    rounded)."""
    width, height = size
    if width < 1 or height < 1:
        raise InvalidInputError(f"cannot resize labels to {width}x{height}")
    check_same_shape((labels.shape[1], labels.shape[0]), photo_size or size, what)
    if (labels.shape[1], labels.shape[0]) == (width, height):
        return labels
    return cv2.resize(labels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)


def check_labels(
    labels: np.ndarray,
    size: tuple[int, int] | None = None,
    what: str = "label mask",
    photo_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Validate a label map (HxW, integers 0..255); resize it nearest-neighbour to (width, height) if
    given, refusing one of another shape than its photo's (resize_labels; what names it in the error)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise InvalidInputError(f"a label map must be HxW, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"a label map must hold integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() > 255:
        raise InvalidInputError("labels must lie in 0..255")
    labels = labels.astype(np.uint8)
    return labels if size is None else resize_labels(labels, size, what, photo_size)
