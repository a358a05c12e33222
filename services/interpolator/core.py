"""Interpolation core: stylized key frames + flow -> stylized intermediate frames.

Pure numpy/OpenCV, no gRPC. Images are HxWx3 uint8 RGB; flows are float32 in
frame pixels on any grid (the pixel at (x, y) of the current frame is at
(x+dx, y+dy) in the key frame); confidences are float32 in [0, 1] on any grid.

What moves along the flow is not pixels but each key frame's local colour map
(see affine.py): every output frame, key frames included, is its own original
frame under a map, so detail always comes from the frame itself and the look
changes smoothly from one key frame to the next (no pop at key frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.interpolator import affine
from services.interpolator.grids import frame_to_grid_pixels, pixel_grid, resize_field

# Below this confidence in its best key, a pixel's map shifts toward the global one (fully at 0).
FALLBACK_BELOW = 0.25
# Where neither key is trusted, the map is filled from the trusted cells around (normalised
# convolution over a window of this share of the grid's long side, each way); only where none
# are near does the keys' global transform take over. A region-aware look then stays itself
# across an occlusion instead of turning global there and back.
FILL_RADIUS_FRACTION = 1 / 16
# The fill's averages are taken on a grid this many times coarser (they are smooth at that window).
FILL_COARSENING = 4
_SAMPLE_ROW = 1024
# Every key keeps this much weight: flickering confidences must not make colours flicker.
CONFIDENCE_FLOOR = 0.2
# Confidence maps are smoothed over this many grid pixels (per 320 of the grid's long side).
CONFIDENCE_BLUR = 3.0
# Pixels sampled when fitting the global colour transform.
_FIT_SAMPLES = 20_000


def fit_colour_transform(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Least-squares affine map (3x4, on [0, 1] colours) from original colours to stylized colours."""
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


@dataclass
class HeldKey:
    """A key frame as the interpolator keeps it: its own original and its colour maps."""

    index: int
    original: np.ndarray  # full resolution, output size (the stylized frame itself when maps are not used)
    local_map: np.ndarray | None  # grid x 12, see affine.py
    transform: np.ndarray | None  # 3x4 global map, on [0, 1] colours


def prepare_key(index: int, original: np.ndarray, stylized: np.ndarray, grid: tuple[int, int]) -> HeldKey:
    """Fit a key frame's maps. original: HxWx3 uint8 at the output size; stylized: the same view, any size."""
    grid_w, grid_h = grid
    small_original = cv2.resize(original, grid, interpolation=cv2.INTER_AREA)
    small_stylized = cv2.resize(stylized, grid, interpolation=cv2.INTER_AREA)
    transform = fit_colour_transform(small_original, small_stylized)
    radius = max(2, round(affine.DEFAULT_RADIUS * max(grid_w, grid_h) / 480))
    local_map = affine.fit_local_affine(small_original, small_stylized, radius=radius, prior=transform)
    return HeldKey(index, original, local_map, transform)


def key_output(key: HeldKey, i420: bool = False) -> np.ndarray:
    """A key frame's own output: its original under its own map (as every other frame is made).

    i420: an I420 image (see affine.apply_detail_i420) instead of RGB."""
    apply = affine.apply_detail_i420 if i420 else affine.apply_detail
    return apply(key.local_map, key.original)


@dataclass
class FlowToKey:
    """How the current frame relates to one key frame."""

    key: HeldKey
    flow: np.ndarray  # on any grid, in frame pixels of the output size
    confidence: np.ndarray | None  # on any grid; None = fully trusted


def warp_map(local_map: np.ndarray, flow: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """Sample a key's map at x + flow(x), on the map's grid. flow: any grid, in frame pixels."""
    grid_h, grid_w = local_map.shape[:2]
    flow = frame_to_grid_pixels(resize_field(flow, grid_w, grid_h), frame_width, frame_height)
    sample_at = pixel_grid(grid_h, grid_w) + flow
    # All 12 channels in one call: OpenCV then interpolates at 1/32 px, which changes nothing
    # visible on maps this smooth and costs half of four-channel calls.
    return cv2.remap(
        np.ascontiguousarray(local_map, dtype=np.float32),
        sample_at,
        None,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _confidence_on_grid(link: FlowToKey, grid_w: int, grid_h: int) -> np.ndarray:
    if link.confidence is None:
        return np.ones((grid_h, grid_w), np.float32)
    confidence = resize_field(link.confidence, grid_w, grid_h)
    sigma = CONFIDENCE_BLUR * max(grid_w, grid_h) / 320
    return cv2.GaussianBlur(confidence, (0, 0), sigma) if sigma >= 0.5 else confidence


def blend_maps(index: int, prev: FlowToKey, next_: FlowToKey | None, frame_width: int, frame_height: int) -> np.ndarray:
    """The current frame's map: keys' maps moved along the flow, blended, with a global fallback.

    Weights are confidence (floored) times temporal closeness, so the look moves
    smoothly from one key to the next, and a region only one key sees comes
    mostly from that key. Where neither key is trusted, the map comes from the
    trusted cells around, and where none are near, from the keys' global transforms.
    """
    grid_h, grid_w = prev.key.local_map.shape[:2]
    map_prev = warp_map(prev.key.local_map, prev.flow, frame_width, frame_height)
    conf_prev = _confidence_on_grid(prev, grid_w, grid_h)
    if next_ is None:
        alpha = 0.0
        blended = map_prev
        trust = conf_prev
    else:
        span = next_.key.index - prev.key.index
        alpha = (index - prev.key.index) / span if span > 0 else 0.0
        map_next = warp_map(next_.key.local_map, next_.flow, frame_width, frame_height)
        conf_next = _confidence_on_grid(next_, grid_w, grid_h)
        w_prev = (CONFIDENCE_FLOOR + (1.0 - CONFIDENCE_FLOOR) * conf_prev) * (1.0 - alpha)
        w_next = (CONFIDENCE_FLOOR + (1.0 - CONFIDENCE_FLOOR) * conf_next) * alpha
        share_next = (w_next / (w_prev + w_next))[..., None]
        # map_prev + (map_next - map_prev) * share: two passes over the 12 planes, not five.
        blended = map_next - map_prev
        blended *= share_next
        blended += map_prev
        trust = np.maximum(conf_prev, conf_next)

    fallback_share = np.clip(1.0 - trust * (1.0 / FALLBACK_BELOW), 0.0, 1.0)
    if fallback_share.max() > 0.0:
        transform = prev.key.transform
        if next_ is not None:
            transform = (1.0 - alpha) * transform + alpha * next_.key.transform
        fill_untrusted(blended, fallback_share, affine.global_map_coeffs(transform)[0, 0])
    return blended


def fill_untrusted(blended: np.ndarray, fallback_share: np.ndarray, fallback: np.ndarray) -> None:
    """In place: cells with a fallback share take, that much, the map of the trusted cells around
    them (normalised convolution), drawn towards `fallback` (12 coefficients) where few are near.

    The window spans FILL_RADIUS_FRACTION of the grid, so its averages are smooth: they are taken on
    a grid up to FILL_COARSENING times coarser (fill_coarsening) and brought back bilinearly, and
    only the cells that need them are changed (usually a few): the full-grid version cost more
    than the rest of the frame's plan.
    """
    grid_h, grid_w = fallback_share.shape
    factor = fill_coarsening(grid_w, grid_h)
    trusted = np.ascontiguousarray(1.0 - fallback_share, dtype=np.float32)
    weighted = blended * trusted[..., None]
    # Whole coarse cells (OpenCV averages more than four channels only at a whole-number scale).
    pad_h, pad_w = -grid_h % factor, -grid_w % factor
    if pad_h or pad_w:
        weighted = cv2.copyMakeBorder(weighted, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        trusted = cv2.copyMakeBorder(trusted, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    coarse = ((grid_w + pad_w) // factor, (grid_h + pad_h) // factor)
    radius = max(1, round(max(grid_w, grid_h) * FILL_RADIUS_FRACTION / factor))
    window = (2 * radius + 1, 2 * radius + 1)
    weighted = cv2.resize(weighted, coarse, interpolation=cv2.INTER_AREA)
    trusted_coarse = cv2.resize(trusted, coarse, interpolation=cv2.INTER_AREA)
    support = cv2.boxFilter(trusted_coarse, -1, window, borderType=cv2.BORDER_REPLICATE)
    around = cv2.boxFilter(weighted, -1, window, borderType=cv2.BORDER_REPLICATE)
    around = around.reshape(coarse[1], coarse[0], -1) / np.maximum(support, 1e-6).reshape(coarse[1], coarse[0], 1)
    # Where few trusted cells are near, their average is drawn towards the global look.
    near = np.clip(support * (1.0 / FALLBACK_BELOW), 0.0, 1.0)[..., None]
    fill = np.ascontiguousarray(fallback + (around - fallback) * near, dtype=np.float32)
    rows, cols = np.nonzero(fallback_share)
    fill_here = _sample_bilinear(fill, cols, rows, 1.0 / factor)
    share = fallback_share[rows, cols][:, None]
    blended[rows, cols] += (fill_here - blended[rows, cols]) * share


def fill_coarsening(grid_w: int, grid_h: int) -> int:
    """How much coarser the fill's grid is: FILL_COARSENING where the window still spans a few coarse
    cells each way, less on small grids, down to 1 (the exact fill)."""
    return max(1, min(FILL_COARSENING, max(grid_w, grid_h) // 32, min(grid_w, grid_h) // 8))


def _sample_bilinear(image: np.ndarray, cols: np.ndarray, rows: np.ndarray, scale: float) -> np.ndarray:
    """image (h x w x C) read bilinearly at the cells (cols, rows) of a grid `1 / scale` times finer
    (pixel centres aligned): N x C. The points go to remap in rows of _SAMPLE_ROW (its sizes are short)."""
    count = len(rows)
    padded = -(-count // _SAMPLE_ROW) * _SAMPLE_ROW
    at = np.zeros((padded, 2), np.float32)
    at[:count, 0] = (cols + 0.5) * scale - 0.5
    at[:count, 1] = (rows + 0.5) * scale - 0.5
    sampled = cv2.remap(image, at.reshape(-1, _SAMPLE_ROW, 2), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(padded, -1)[:count]


def synthesize_frame(
    index: int,
    prev: FlowToKey,
    next_: FlowToKey | None,
    original: np.ndarray,
    small: np.ndarray | None = None,
    i420: bool = False,
) -> np.ndarray:
    """The stylized frame `index`: its original under the map blended from its key frames. uint8.

    small: the original already shrunk to the map grid (the flow's), if at hand.
    i420: an I420 image (see affine.apply_detail_i420) instead of RGB."""
    height, width = original.shape[:2]
    apply = affine.apply_detail_i420 if i420 else affine.apply_detail
    return apply(blend_maps(index, prev, next_, width, height), original, small)
