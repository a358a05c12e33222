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
from functools import cached_property

import cv2
import numpy as np

from services.interpolator import affine
from services.interpolator.closed_form import ColourStats, content_statistics
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
# The fill's brightness bins (0-255 luma), for its joint-bilateral form (see fill_untrusted).
FILL_LUMA_BINS = (0.0, 85.0, 170.0, 255.0)
FILL_LUMA_SPACING = 85.0
# Before the global transform, a cell far from trusted cells takes those of its own brightness within
# a wide window (this share of the grid's long side, each way; guided fills only): content that no
# key saw (a plain panel whose flows to both keys were found wrong) takes the look of its surface
# seen elsewhere, not the frame's overall look. The wide window spans many surfaces, so brightness
# is matched finely, and a few such cells suffice (FILL_WIDE_BELOW of the window).
FILL_WIDE_FRACTION = 1 / 8
FILL_WIDE_LUMA_SPACING = 255.0 / 8
FILL_WIDE_LUMA_BINS = tuple(FILL_WIDE_LUMA_SPACING * k for k in range(9))
FILL_WIDE_BELOW = 0.02
_SAMPLE_ROW = 1024
# Where neither key is trusted much, each keeps this much weight, so flickering confidences do not
# make colours flicker. The floor fades as the other key's confidence rises: a region one key saw
# covered (an object passed over it) takes the other key's map, however much nearer in time the
# first key is; a floor there left the object's map behind as a trail.
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
    # grid float32: the key's brightness (0-255 luma) averaged over each map cell's fitting window:
    # what the cell's map was fitted on, so a fill can take maps of the surface a cell belongs to.
    guide_luma: np.ndarray | None = None
    # The key's content colour statistics (closed_form.content_statistics), which later frames'
    # colours are adapted to before its maps apply.
    content_stats: ColourStats | None = None
    # The stylized key's colour statistics (as content_stats): the look the stylizer brought.
    look_stats: ColourStats | None = None

    @cached_property
    def map_with_guide(self) -> np.ndarray:
        """grid x 13: the map's 12 coefficients and the guide luma, moved along the flow together."""
        return np.concatenate([self.local_map, self.guide_luma[..., None]], axis=-1)


def fit_radius(grid: tuple[int, int]) -> int:
    """The local maps' fitting window radius, in grid pixels."""
    return max(2, round(affine.DEFAULT_RADIUS * max(grid) / 480))


def window_luma(small: np.ndarray, radius: int) -> np.ndarray:
    """A grid-sized RGB image's luma (0-255) averaged over fitting windows of `radius`: grid float32."""
    side = 2 * radius + 1
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.blur(grey, (side, side), borderType=cv2.BORDER_REPLICATE)


def prepare_key(index: int, original: np.ndarray, stylized: np.ndarray, grid: tuple[int, int]) -> HeldKey:
    """Fit a key frame's maps. original: HxWx3 uint8 at the output size; stylized: the same view, any size."""
    small_original = cv2.resize(original, grid, interpolation=cv2.INTER_AREA)
    small_stylized = cv2.resize(stylized, grid, interpolation=cv2.INTER_AREA)
    transform = fit_colour_transform(small_original, small_stylized)
    radius = fit_radius(grid)
    local_map = affine.fit_local_affine(small_original, small_stylized, radius=radius, prior=transform)
    guide_luma = window_luma(small_original, radius)
    stats = content_statistics(small_original)
    return HeldKey(index, original, local_map, transform, guide_luma, stats, content_statistics(small_stylized))


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
    """Sample a key's map (or any field on a grid) at x + flow(x), on its grid. flow: any grid, in
    frame pixels."""
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


def key_weight(confidence: np.ndarray, other: np.ndarray) -> np.ndarray:
    """A key's weight in a blend before its temporal share: its confidence, plus a floor that fades
    (quadratically) as the other key's confidence rises."""
    return confidence + CONFIDENCE_FLOOR * np.square(1.0 - other)


def blend_maps(
    index: int,
    prev: FlowToKey,
    next_: FlowToKey | None,
    frame_width: int,
    frame_height: int,
    current_small: np.ndarray | None = None,
    colour_transform: np.ndarray | None = None,
) -> np.ndarray:
    """The current frame's map: keys' maps moved along the flow, blended, with a global fallback.

    Weights are confidence times temporal closeness, so the look moves smoothly from one key to
    the next, and a region only one key sees comes from that key. Where neither key is trusted,
    the map comes from the trusted cells around, and where none are near, from the keys' global
    transforms. With current_small (the frame at the grid's size) that fill is joint-bilateral in
    brightness (see fill_untrusted): uncovered or entering content takes the map of trusted cells
    like it, never that of whatever stood beside it, and kept above black for its own colour
    (keep_above_black; colour_transform: the 3x4 map, on [0, 1] colours, that the frame's colours
    go through before this map, if any).
    """
    grid_h, grid_w = prev.key.local_map.shape[:2]
    keys = [prev.key] if next_ is None else [prev.key, next_.key]
    guided = current_small is not None and all(key.guide_luma is not None for key in keys)

    def moved(link: FlowToKey) -> np.ndarray:
        return warp_map(link.key.map_with_guide if guided else link.key.local_map, link.flow, frame_width, frame_height)

    map_prev = moved(prev)
    conf_prev = _confidence_on_grid(prev, grid_w, grid_h)
    if next_ is None:
        alpha = 0.0
        blended = map_prev
        trust = conf_prev
    else:
        span = next_.key.index - prev.key.index
        alpha = (index - prev.key.index) / span if span > 0 else 0.0
        map_next = moved(next_)
        conf_next = _confidence_on_grid(next_, grid_w, grid_h)
        w_prev = key_weight(conf_prev, conf_next) * (1.0 - alpha)
        w_next = key_weight(conf_next, conf_prev) * alpha
        share_next = (w_next / (w_prev + w_next))[..., None]
        # map_prev + (map_next - map_prev) * share: two passes over the planes, not five.
        blended = map_next - map_prev
        blended *= share_next
        blended += map_prev
        trust = np.maximum(conf_prev, conf_next)

    transform = prev.key.transform
    if next_ is not None:
        transform = (1.0 - alpha) * transform + alpha * next_.key.transform
    fallback = affine.global_map_coeffs(transform)[0, 0]
    fallback_share = np.clip(1.0 - trust * (1.0 / FALLBACK_BELOW), 0.0, 1.0)
    if fallback_share.max() > 0.0:
        if guided:
            cell_luma = window_luma(current_small, fit_radius((grid_w, grid_h)))
            with_guide = np.append(fallback, 0.0).astype(np.float32)  # the guide's own fill is not used
            fill_untrusted(blended, fallback_share, with_guide, cell_luma, blended[..., affine.COEFFS])
            keep_above_black(blended, fallback_share, current_small, colour_transform)
        else:
            fill_untrusted(blended, fallback_share, fallback)
    return np.ascontiguousarray(blended[..., : affine.COEFFS]) if guided else blended


def keep_above_black(
    blended: np.ndarray,
    fallback_share: np.ndarray,
    current_small: np.ndarray,
    colour_transform: np.ndarray | None = None,
) -> None:
    """In place: cells with a fallback share (content no key explains: their maps come from other
    cells or the global look) are drawn, that much, into the gamut below black
    (affine.below_black_into_gamut) for their own colour. Such a map was fitted on other colours, and
    may send a colour of its own, never seen by a key, below black, which channel-by-channel
    clipping would turn into a saturated primary (an entering dark red car painted blue). The maps
    of trusted cells were fitted on what they show, and are left as fitted."""
    rows, cols = np.nonzero(fallback_share)
    cells = blended[rows, cols, : affine.COEFFS]
    colours = current_small[rows, cols].astype(np.float32)
    if colour_transform is not None:  # the colours the maps will see
        colours = colours @ colour_transform[:, :3].T + colour_transform[:, 3] * 255.0
    inside = affine.below_black_into_gamut(cells, colours)
    blended[rows, cols, : affine.COEFFS] = cells + (inside - cells) * fallback_share[rows, cols][:, None]


def fill_untrusted(
    blended: np.ndarray,
    fallback_share: np.ndarray,
    fallback: np.ndarray,
    cell_luma: np.ndarray | None = None,
    guide_luma: np.ndarray | None = None,
) -> None:
    """In place: cells with a fallback share take, that much, the map of the trusted cells around
    them (normalised convolution), drawn towards a fallback where few are near: `fallback` (one value
    per channel), or with the brightnesses below, trusted cells of the cell's brightness farther off.

    With cell_luma (the frame's brightness at each cell) and guide_luma (the brightness each cell's
    map was fitted on), both grid-sized in 0-255, the fill is joint-bilateral in brightness: a cell
    takes the maps of trusted cells about as bright as itself, the surface it belongs to (a wall
    uncovered behind a dark box takes the wall's map, never the box's), and their plain average
    where none as bright are near. Where few trusted cells of any brightness are near, the fallback
    it is drawn towards is itself the average of the trusted cells of its brightness farther off
    (FILL_WIDE_FRACTION), and `fallback` only where there are none.

    The window spans FILL_RADIUS_FRACTION of the grid, so its averages are smooth: they are taken on
    a grid up to FILL_COARSENING times coarser (fill_coarsening) and brought back bilinearly, and
    only the cells that need them are changed (usually a few): the full-grid version cost more
    than the rest of the frame's plan.
    """
    grid_h, grid_w = fallback_share.shape
    factor = fill_coarsening(grid_w, grid_h)
    trusted = np.ascontiguousarray(1.0 - fallback_share, dtype=np.float32)
    window = _fill_window(grid_w, grid_h, factor, FILL_RADIUS_FRACTION)
    if cell_luma is None or guide_luma is None:
        weighted = _coarse(blended * trusted[..., None], factor)
        weighted_sum, weight_sum = _window_sums(weighted, _coarse(trusted, factor), window)
        around = weighted_sum / np.maximum(weight_sum, 1e-6)
    else:
        luma_here = _coarse(cell_luma, factor)
        values = _coarse(blended, factor)
        # The wide pass: trusted cells of the cell's own brightness, far around, before the global look.
        wide = _fill_window(grid_w, grid_h, factor, FILL_WIDE_FRACTION)
        _, _, alike_sum, alike_weight = _binned_sums(
            values, trusted, guide_luma, luma_here, factor, wide, FILL_WIDE_LUMA_BINS, FILL_WIDE_LUMA_SPACING
        )
        alike = np.clip(alike_weight * (1.0 / FILL_WIDE_BELOW), 0.0, 1.0)
        fallback = fallback + (alike_sum / np.maximum(alike_weight, 1e-6) - fallback) * alike
        # Joint-bilateral: the trusted cells averaged bin by bin of the brightness their maps were
        # fitted on (the bins' hats sum to 1, so the bins add up to the plain average), then each
        # coarse cell takes the bins of its own brightness, as far as such cells are near.
        weighted_sum, weight_sum, alike_sum, alike_weight = _binned_sums(
            values, trusted, guide_luma, luma_here, factor, window, FILL_LUMA_BINS, FILL_LUMA_SPACING
        )
        around = weighted_sum / np.maximum(weight_sum, 1e-6)
        alike = np.clip(alike_weight * (1.0 / FALLBACK_BELOW), 0.0, 1.0)
        around += (alike_sum / np.maximum(alike_weight, 1e-6) - around) * alike
    # Where few trusted cells are near, their average gives way to the fallback.
    near = np.clip(weight_sum * (1.0 / FALLBACK_BELOW), 0.0, 1.0)
    fill = np.ascontiguousarray(fallback + (around - fallback) * near, dtype=np.float32)
    rows, cols = np.nonzero(fallback_share)
    fill_here = _sample_bilinear(fill, cols, rows, 1.0 / factor)
    share = fallback_share[rows, cols][:, None]
    blended[rows, cols] += (fill_here - blended[rows, cols]) * share


def _binned_sums(
    values: np.ndarray,
    trusted: np.ndarray,
    guide_luma: np.ndarray,
    luma_here: np.ndarray,
    factor: int,
    window: tuple[int, int],
    bins: tuple[float, ...],
    spacing: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window sums of the trusted coarse maps (values) and their weights, over all brightnesses and
    over the coarse cell's own (luma_here), by the brightness bins the maps were fitted on.
    The maps are smooth within a coarse cell, so each bin's products are taken there."""
    weighted_sum = alike_sum = weight_sum = alike_weight = 0.0
    for centre in bins:
        weight = _coarse(trusted * _luma_hat(guide_luma, centre, spacing), factor)
        sums, weights = _window_sums(values * weight, weight, window)
        share_here = _luma_hat(luma_here, centre, spacing)
        weighted_sum, weight_sum = weighted_sum + sums, weight_sum + weights
        alike_sum, alike_weight = alike_sum + sums * share_here, alike_weight + weights * share_here
    return weighted_sum, weight_sum, alike_sum, alike_weight


def _luma_hat(luma: np.ndarray, centre: float, spacing: float = FILL_LUMA_SPACING) -> np.ndarray:
    """Membership of a brightness in a bin at `centre` of bins `spacing` apart (their hats sum to 1)."""
    return np.clip(1.0 - np.abs(luma - centre) * (1.0 / spacing), 0.0, 1.0).astype(np.float32)


def _coarse(plane: np.ndarray, factor: int) -> np.ndarray:
    """A grid plane (or grid x C array) averaged over whole coarse cells of factor x factor
    (the grid padded by replication to whole cells). OpenCV averages more than four channels only
    at a whole-number scale, hence the padding."""
    grid_h, grid_w = plane.shape[:2]
    pad_h, pad_w = -grid_h % factor, -grid_w % factor
    if pad_h or pad_w:
        plane = cv2.copyMakeBorder(plane, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    coarse = ((grid_w + pad_w) // factor, (grid_h + pad_h) // factor)
    return cv2.resize(plane, coarse, interpolation=cv2.INTER_AREA).reshape(coarse[1], coarse[0], -1)


def _fill_window(grid_w: int, grid_h: int, factor: int, fraction: float) -> tuple[int, int]:
    """A fill's box window, spanning `fraction` of the grid's long side each way, in coarse cells."""
    radius = max(1, round(max(grid_w, grid_h) * fraction / factor))
    return 2 * radius + 1, 2 * radius + 1


def _window_sums(weighted: np.ndarray, weight: np.ndarray, window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Box averages over the window of coarse weighted values (h x w x C) and weights (h x w x 1)."""
    shape = weighted.shape
    weighted_sum = cv2.boxFilter(weighted, -1, window, borderType=cv2.BORDER_REPLICATE).reshape(shape)
    weight_sum = cv2.boxFilter(weight, -1, window, borderType=cv2.BORDER_REPLICATE).reshape(*shape[:2], 1)
    return weighted_sum, weight_sum


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
    grid_h, grid_w = prev.key.local_map.shape[:2]
    if small is None or small.shape[:2] != (grid_h, grid_w):
        small = cv2.resize(original, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    apply = affine.apply_detail_i420 if i420 else affine.apply_detail
    return apply(blend_maps(index, prev, next_, width, height, small), original, small)
