"""Interpolation core: stylized key frames + flow -> stylized intermediate frames.

Pure numpy/OpenCV, no gRPC. Images are HxWx3 uint8 RGB; flows are HxWx2 float32
in frame pixels (the pixel at (x, y) of the current frame is at (x+dx, y+dy) in
the key frame); confidences are HxW float32 in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from common.flowcodec import resize_field

# Below this confidence in its best key, a pixel shifts toward the fallback (fully at 0).
FALLBACK_BELOW = 0.25
# Pixels sampled when fitting a colour transform (speed; the fit is global).
_FIT_SAMPLES = 20_000


@dataclass
class HeldKey:
    """A stylized key frame held for interpolation."""

    index: int
    stylized: np.ndarray
    # 3x4 affine colour map original -> stylized, when the original was given.
    colour_transform: np.ndarray | None = None


def fit_colour_transform(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Least-squares affine map (3x4) from original colours to stylized colours.

    Used as the fallback for pixels no key frame explains: the current frame's
    own content, in the key frame's look.
    """
    if original.shape != stylized.shape:
        original = cv2.resize(original, (stylized.shape[1], stylized.shape[0]), interpolation=cv2.INTER_AREA)
    src = original.reshape(-1, 3).astype(np.float32) / 255.0
    dst = stylized.reshape(-1, 3).astype(np.float32) / 255.0
    if len(src) > _FIT_SAMPLES:
        pick = np.linspace(0, len(src) - 1, _FIT_SAMPLES).astype(np.int64)
        src, dst = src[pick], dst[pick]
    design = np.hstack([src, np.ones((len(src), 1), np.float32)])
    # A little ridge keeps flat (single-colour) frames well posed.
    gram = design.T @ design + 1e-3 * np.eye(4, dtype=np.float32)
    solution = np.linalg.solve(gram, design.T @ dst)  # 4x3
    return solution.T.astype(np.float32)


def apply_colour_transform(image: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a 3x4 affine colour map (fitted on [0, 1] colours) to an RGB uint8 image; uint8 out."""
    scaled = transform.astype(np.float32).copy()
    scaled[:, 3] *= 255.0  # the offset, in 0-255 units
    return cv2.transform(image, scaled)


@lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> np.ndarray:
    """HxWx2 float32 (x, y) coordinates of every pixel, shared by every warp of that size."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.stack([xs, ys], axis=-1)
    grid.setflags(write=False)
    return grid


def warp_backward(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample image at x + flow(x) (bilinear, borders replicated). flow is HxWx2 at image size."""
    sample_at = pixel_grid(*flow.shape[:2]) + flow
    return cv2.remap(image, sample_at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class FlowToKey:
    """How the current frame relates to one key frame."""

    key: HeldKey
    flow: np.ndarray  # on any grid, in frame pixels
    confidence: np.ndarray | None  # on any grid; None = fully trusted


def _warped_and_confidence(link: FlowToKey, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    warped = warp_backward(link.key.stylized, resize_field(link.flow, width, height))
    if link.confidence is None:
        confidence = np.ones((height, width), np.float32)
    else:
        confidence = resize_field(link.confidence, width, height)
    return warped, confidence


def synthesize_frame(
    index: int,
    prev: FlowToKey,
    next_: FlowToKey | None = None,
    original: np.ndarray | None = None,
) -> np.ndarray:
    """Make the stylized frame `index` from its previous (and optionally next) key frame.

    Each key's warped pixels are weighted by confidence times temporal closeness,
    so the result moves smoothly from one key to the next (no pop), and a region
    only one key sees (occlusion) comes from that key. Where neither key is
    trusted, the current original frame mapped by the keys' colour transforms
    takes over, so new content appears in the right look.
    """
    height, width = prev.key.stylized.shape[:2]
    warped_prev, conf_prev = _warped_and_confidence(prev, width, height)
    if next_ is None:
        alpha = 0.0
        blended = warped_prev
        trust = conf_prev
    else:
        span = next_.key.index - prev.key.index
        alpha = (index - prev.key.index) / span if span > 0 else 0.0
        warped_next, conf_next = _warped_and_confidence(next_, width, height)
        # Pixels where both weights vanish come out black here and wholly from the fallback below.
        blended = cv2.blendLinear(warped_prev, warped_next, conf_prev * (1.0 - alpha), conf_next * alpha)
        trust = np.maximum(conf_prev, conf_next)

    fallback_share = np.clip(1.0 - trust * (1.0 / FALLBACK_BELOW), 0.0, 1.0)
    if fallback_share.max() > 0.0:
        fallback = _fallback(prev, next_, alpha, original, warped_prev, width, height)
        blended = cv2.blendLinear(blended, fallback, 1.0 - fallback_share, fallback_share)
    return blended


def _fallback(
    prev: FlowToKey,
    next_: FlowToKey | None,
    alpha: float,
    original: np.ndarray | None,
    warped_prev: np.ndarray,
    width: int,
    height: int,
) -> np.ndarray:
    """The picture used where no key explains a pixel (uint8 HxWx3)."""
    transform = prev.key.colour_transform
    if next_ is not None and next_.key.colour_transform is not None:
        transform = (
            next_.key.colour_transform
            if transform is None
            else (1.0 - alpha) * transform + alpha * next_.key.colour_transform
        )
    if original is None or transform is None:
        return warped_prev
    if original.shape[:2] != (height, width):
        original = cv2.resize(original, (width, height), interpolation=cv2.INTER_LINEAR)
    return apply_colour_transform(original, transform)
