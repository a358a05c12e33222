"""The content's finest grey detail put back into a stylized picture.

A colour map that changes contrast changes the steepness of every edge with it; the fine-detail
restoration of `preset` and `regions` (a guided filter's residual) gives back only texture weaker
than its regularisation, not strong edges. This gives back everything the grey loses below a
Gaussian scale of a few pixels, edges included, so the picture's structure at that scale is the
content's, while its colours (everything coarser) stay the style's."""

from __future__ import annotations

import cv2
import numpy as np


def add_to_channels(rgb: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Saturating uint8 + float32 -> uint8, the same levels to each channel, without float copies."""
    return cv2.merge([cv2.add(channel, levels, dtype=cv2.CV_8U) for channel in cv2.split(rgb)])


def keep_fine_grey_detail(content_rgb: np.ndarray, output_rgb: np.ndarray, share: float, sigma: float) -> np.ndarray:
    """output_rgb (HxWx3 uint8) with `share` of the difference between the content's and its own grey
    detail finer than a Gaussian of `sigma` pixels added to every channel (content_rgb: the same size).
    With share 1 the grey of the result has about the content's detail at that scale: exactly but for
    rounding, clipping, and beside strong edges, where the detail of the added detail differs from
    it by the Gaussian's blur of it (a few levels)."""
    if share <= 0.0:
        return output_rgb
    return add_to_channels(output_rgb, fine_grey_loss(content_rgb, output_rgb, share, sigma))


def fine_grey_loss(
    content_rgb: np.ndarray, output_rgb: np.ndarray, share: float, sigma: float, added: np.ndarray | None = None
) -> np.ndarray:
    """keep_fine_grey_detail's grey levels to add (HxW float32). added: levels the caller adds to
    output_rgb's grey already (another detail step), counted as part of its grey."""
    if content_rgb.shape != output_rgb.shape:
        raise ValueError(f"content {content_rgb.shape} and output {output_rgb.shape} differ in size")
    # Detail is linear: (content - blur(content)) - (output - blur(output)) = d - blur(d), d the grey difference.
    difference = cv2.cvtColor(content_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    difference -= cv2.cvtColor(output_rgb, cv2.COLOR_RGB2GRAY)
    if added is not None:
        difference -= added
    lost = difference - cv2.GaussianBlur(difference, (0, 0), sigma)
    if share != 1.0:
        lost *= share
    return lost
