"""Local affine colour maps on a coarse grid: fitted on key frames, applied to any frame.

A stylization that keeps content photo-real is, locally, an affine map of colours
(out = A @ rgb + b, A 3x3 and b 3-vector, varying smoothly over the image). The
interpolator moves these smooth maps along the flow instead of moving pixels,
and applies them to the current frame, so detail always comes from the frame
itself: nothing smears, drifts or ghosts where the flow is wrong, it only gets
the colour slightly wrong.

Maps are HxWx12 float32 arrays on a grid: for output channel c, entries 4c..4c+2
are the coefficients of input R, G, B and 4c+3 is the offset, all for colours in
[0, 255].
"""

from __future__ import annotations

import cv2
import numpy as np

from mvstylizer_common.boxfilter import box_mean_plane

COEFFS = 12
# Window radius (grid pixels) and regularisation (on [0, 1] colours) of the fit.
DEFAULT_RADIUS = 4
DEFAULT_EPS = 1e-3


def fit_local_affine(
    original: np.ndarray,
    stylized: np.ndarray,
    radius: int = DEFAULT_RADIUS,
    eps: float = DEFAULT_EPS,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """The map taking original to stylized in every window (a colour guided filter). uint8 HxWx3 in, HxWx12 out.

    The ridge term pulls each window's A toward `prior` (3x4, e.g. the frame's global
    colour transform) rather than toward zero, so flat windows, which cannot tell
    their own A, inherit the frame's look instead of a flat paint that would be
    wrong wherever texture later moves in.

    Computed plane by plane (each statistic a contiguous HxW array): several times faster
    than on interleaved HxWxC arrays, whose short last axis defeats vectorisation.
    """
    height, width = original.shape[:2]
    guide = [plane.astype(np.float32) * (1.0 / 255.0) for plane in cv2.split(original)]
    target = [plane.astype(np.float32) * (1.0 / 255.0) for plane in cv2.split(stylized)]

    def box(plane: np.ndarray) -> np.ndarray:
        return box_mean_plane(plane, radius)

    mean_i = [box(g) for g in guide]
    mean_p = [box(t) for t in target]
    # Covariances of the guide (symmetric) and between guide and target, window by window.
    cov_ii = [[None] * 3 for _ in range(3)]
    for k in range(3):
        for j in range(k, 3):
            cov_ii[k][j] = box(guide[k] * guide[j]) - mean_i[k] * mean_i[j]
            if k == j:
                cov_ii[k][j] += eps
            cov_ii[j][k] = cov_ii[k][j]
    cov_ip = [[box(guide[j] * target[c]) - mean_i[j] * mean_p[c] for c in range(3)] for j in range(3)]
    if prior is not None:
        for j in range(3):
            for c in range(3):
                cov_ip[j][c] += eps * float(prior[c, j])
    inverse = invert_3x3_planes(cov_ii)
    coeffs = np.empty((height, width, COEFFS), np.float32)
    for c in range(3):
        offset = mean_p[c].copy()
        for k in range(3):
            # a[c, k] = sum_j inverse[k, j] * cov_ip[j, c]: coefficient of guide channel k in target c.
            a_ck = inverse[k][0] * cov_ip[0][c] + inverse[k][1] * cov_ip[1][c] + inverse[k][2] * cov_ip[2][c]
            offset -= a_ck * mean_i[k]
            coeffs[..., 4 * c + k] = box(a_ck)
        coeffs[..., 4 * c + 3] = box(offset * 255.0)
    return coeffs


def invert_3x3_planes(m: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Inverse of a field of 3x3 matrices given as 3x3 planes, by the adjugate."""
    c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1]
    c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2]
    c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0]
    inv_det = 1.0 / (m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02)
    return [
        [
            c00 * inv_det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det,
        ],
        [
            c01 * inv_det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det,
        ],
        [
            c02 * inv_det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det,
        ],
    ]


def global_map_coeffs(transform: np.ndarray) -> np.ndarray:
    """The 12 map coefficients (broadcastable to a grid) of a 3x4 transform fitted on [0, 1] colours."""
    coeffs = transform.astype(np.float32).copy()
    coeffs[:, 3] *= 255.0
    return coeffs.reshape(1, 1, COEFFS)


def after(coeffs: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """The map x -> coeffs(transform(x)) on the same grid; transform: 3x4 on [0, 1] colours.

    Each output channel's four coefficients (its gains on R, G, B and its offset) are one
    4-channel pixel, taken to the composed map's by one 4x4 matrix: one OpenCV pass over the grid."""
    matrix = np.zeros((4, 4), np.float32)
    matrix[:3, :3] = transform[:, :3].T  # new gain k = sum_j gain_j * transform[j, k]
    matrix[3, :3] = transform[:, 3] * 255.0  # new offset = sum_j gain_j * transform offset_j + offset
    matrix[3, 3] = 1.0
    height, width = coeffs.shape[:2]
    pixels = np.ascontiguousarray(coeffs, dtype=np.float32).reshape(height, width * 3, 4)
    return cv2.transform(pixels, matrix).reshape(coeffs.shape)


def apply_on_grid(coeffs: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Apply a map to an image of the grid's size; float32 HxWx3 in [0, 255] (unclipped)."""
    rgb1 = np.concatenate([image.astype(np.float32), np.ones((*image.shape[:2], 1), np.float32)], axis=-1)
    return (coeffs.reshape(*coeffs.shape[:2], 3, 4) @ rgb1[..., None])[..., 0]


# BT.601 luma weights: the stylizer draws a colour past the gamut towards the grey of its luma.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def below_black_into_gamut(cells: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Maps (N x 12) changed so that each takes its colour (N x 3, 0-255) no further below black than
    its luma allows: a colour the map sends below 0 in some channel is drawn towards the grey of its
    own luma (clamped at 0) until it fits, as the stylizer's looks treat colours past the gamut.
    Clipped channel by channel instead, a colour sent below black in its strong channels shows only
    its weak one, at full strength: a dark red turns a saturated blue.

    out = g + k (m(x) - g), g the grey of m(x)'s luma and k the largest share of the chroma that
    fits, written as a map: each channel's coefficients move k of the way from the luma row's (with
    the clamp's shift in the offset). Maps whose colour is not below black are unchanged."""
    maps = cells.reshape(-1, 3, 4)
    mapped = maps[..., :3] @ colours[..., None].astype(np.float32)
    mapped = mapped[..., 0] + maps[..., 3]
    luma = mapped @ LUMA_WEIGHTS
    grey = np.maximum(luma, 0.0)
    low = mapped.min(-1) - grey
    share = np.where(low < -grey, grey / np.maximum(-low, 1e-6), 1.0).astype(np.float32)
    luma_row = np.einsum("c,nck->nk", LUMA_WEIGHTS, maps)
    luma_row[:, 3] += grey - luma
    luma_row = luma_row[:, None, :]
    return (luma_row + share[:, None, None] * (maps - luma_row)).reshape(cells.shape)


def resize_map(coeffs: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an HxWx12 map, four channels at a time (OpenCV's fast path)."""
    if coeffs.shape[:2] == (height, width):
        return coeffs
    parts = [
        cv2.resize(np.ascontiguousarray(coeffs[..., i : i + 4]), (width, height), interpolation=cv2.INTER_LINEAR)
        for i in range(0, COEFFS, 4)
    ]
    return np.concatenate(parts, axis=-1)


def apply_full(coeffs: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Exact: the map upsampled to the frame and applied per pixel. uint8 out."""
    height, width = frame.shape[:2]
    out = apply_on_grid(resize_map(coeffs, width, height), frame)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# Fixed-point scales for the full-resolution pass (int16 resizing is several times faster than float).
_OFFSET_SCALE = 16.0  # offsets in 1/16 colour levels: +-2047 levels of range
_GAIN_SCALE = 1024.0  # gains in Q10: +-32 of range


def apply_detail(coeffs: np.ndarray, frame: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
    """Fast: the map's smooth part from the grid, plus the frame's own luma detail. uint8 out.

    out_c = up(offset_c) + up(gain_c) * Y, where gain_c is the map's response to
    grey (the row sum of A) and offset_c = map(frame on the grid)_c - gain_c * Y_grid.
    Exact for grey detail, which is what the fine detail of natural images mostly
    is; the full-resolution pass is two int16 resizes and three saturating ops.
    """
    height, width = frame.shape[:2]
    offsets, gains = _offsets_and_gains(coeffs, frame, small)
    luma3 = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return _offset_plus_gain_times(cv2.merge(offsets), cv2.merge(gains), luma3, (width, height))


# BT.601 studio swing, RGB -> Y'CbCr: OpenCV's RGB2YUV_I420 matrix, and swscale's for untagged RGB.
_RGB_TO_YUV = np.array([[0.257, 0.504, 0.098], [-0.148, -0.291, 0.439], [0.439, -0.368, -0.071]], np.float32)
_YUV_OFFSETS = (16.0, 128.0, 128.0)


def apply_detail_i420(coeffs: np.ndarray, frame: np.ndarray, small: np.ndarray | None = None) -> np.ndarray:
    """apply_detail, written straight to an I420 image ((H*3/2) x W uint8; H, W even), as encoders take it.

    The colour conversion is linear, so it folds into the map's offsets and gains on the
    grid; the chroma planes are made at half resolution from the luma's 2x2 means. Full
    resolution then holds one plane instead of three, and no RGB frame is assembled
    only to be converted. Matches apply_detail followed by the conversion within a level
    or two, except where apply_detail clips out-of-gamut colours first.
    """
    height, width = frame.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"I420 needs an even frame size, got {width}x{height}")
    offsets, gains = _offsets_and_gains(coeffs, frame, small)
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    luma_half = cv2.resize(luma, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    out = np.empty((height * 3 // 2, width), np.uint8)
    # Y, then the U and V planes, each (H/2) x (W/2) packed one after the other: in rows of W they
    # take H/4 rows each, which is not a whole number of rows when H % 4 == 2, so they are written
    # through the flat buffer.
    flat = out.reshape(-1)
    luma_size, chroma_size = height * width, (height // 2) * (width // 2)
    chroma_shape = (height // 2, width // 2)
    targets = [
        (out[:height], luma),
        (flat[luma_size : luma_size + chroma_size].reshape(chroma_shape), luma_half),
        (flat[luma_size + chroma_size :].reshape(chroma_shape), luma_half),
    ]
    for j, (target, plane_luma) in enumerate(targets):
        row = _RGB_TO_YUV[j]
        offset = row[0] * offsets[0] + row[1] * offsets[1] + row[2] * offsets[2] + _YUV_OFFSETS[j]
        gain = row[0] * gains[0] + row[1] * gains[1] + row[2] * gains[2]
        size = (plane_luma.shape[1], plane_luma.shape[0])
        _offset_plus_gain_times(offset, gain, plane_luma, size, out=target)
    return out


def _offsets_and_gains(
    coeffs: np.ndarray, frame: np.ndarray, small: np.ndarray | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per output channel, on the grid: gain_c (the map's response to grey) and offset_c (levels)."""
    grid_h, grid_w = coeffs.shape[:2]
    if small is None or small.shape[:2] != (grid_h, grid_w):  # else: the frame at grid size, made already
        small = cv2.resize(frame, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    # On the grid, plane by plane (contiguous HxW arrays vectorise; interleaved HxWx12 ones do not).
    planes = cv2.split(np.ascontiguousarray(coeffs, dtype=np.float32))
    pixels = [plane.astype(np.float32) for plane in cv2.split(small)]
    luma_small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    offsets, gains = [], []
    for c in range(3):
        a0, a1, a2, b = planes[4 * c : 4 * c + 4]
        gain = a0 + a1 + a2
        offsets.append(a0 * pixels[0] + a1 * pixels[1] + a2 * pixels[2] + b - gain * luma_small)
        gains.append(gain)
    return offsets, gains


def _offset_plus_gain_times(
    offset: np.ndarray, gain: np.ndarray, luma: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """uint8 up(offset) + up(gain) * luma at `size`, in int16 fixed point (several times faster than float)."""
    offset16 = np.clip(offset * _OFFSET_SCALE, -32768, 32767).astype(np.int16)
    gain16 = np.clip(gain * _GAIN_SCALE, -32768, 32767).astype(np.int16)
    offset_up = cv2.resize(offset16, size, interpolation=cv2.INTER_LINEAR)
    gain_up = cv2.resize(gain16, size, interpolation=cv2.INTER_LINEAR)
    # Same-depth operands: OpenCV's mixed-depth products and weighted sums take a slow path.
    total = cv2.multiply(gain_up, luma.astype(np.int16), scale=_OFFSET_SCALE / _GAIN_SCALE)
    cv2.add(total, offset_up, dst=total)
    # Negatives to 0 first (in place), so the absolute value convertScaleAbs takes changes nothing.
    cv2.threshold(total, 0, 0, cv2.THRESH_TOZERO, dst=total)
    return cv2.convertScaleAbs(total, dst=out, alpha=1.0 / _OFFSET_SCALE)  # into `out` when given
