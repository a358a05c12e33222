"""Grey detail of the content put back into a stylized picture, at output resolution.

Two steps, computed in one pass over shared grey planes (at 1080p each full-size pass costs about
half a millisecond, so the pass count is the cost):
- the guided-filter step of `preset` and `regions`: a share of the fine luminance detail the mapping
  took, measured as a guided filter's residual. It gives back texture weaker than the filter's
  regularisation, not strong edges;
- the finest grey detail: a colour map that changes contrast changes the steepness of every edge with
  it, so what the grey still lacks of the content's detail finer than a Gaussian of a few pixels is
  given back, edges included. The picture's structure at that scale is then the content's, while its
  colours (everything coarser) stay the style's."""

from __future__ import annotations

import cv2
import numpy as np

from mvstylizer_common.boxfilter import box_mean_plane


def add_to_channels(rgb: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Saturating uint8 + float32 -> uint8, the same levels to each channel, without float copies."""
    return cv2.merge([cv2.add(channel, levels, dtype=cv2.CV_8U) for channel in cv2.split(rgb)])


def detail_radius(size: tuple[int, int], fraction: float) -> int:
    return max(1, round(max(size) * fraction))


def guided_base(luma: np.ndarray, radius: int, eps: float, subsample: int | None = None):
    """HxW float32 luma in [0, 1] -> the self-guided filter's coefficients (gain, offset), each HxW
    float32 or, when fitted on a grid `subsample` times coarser (the fast guided filter, He & Sun 2015:
    at 1080p a fraction of the cost), at that grid's size. The base is gain * luma + offset once both are
    brought to luma's size; the detail is luma minus the base."""
    if subsample is None:
        subsample = max(1, radius // 4)
    height, width = luma.shape
    small = luma
    if subsample > 1:
        size = (max(1, width // subsample), max(1, height // subsample))
        small = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
    small_radius = max(1, round(radius / subsample))
    mean = box_mean_plane(small, small_radius)
    variance = np.maximum(box_mean_plane(small * small, small_radius) - mean * mean, 0.0)
    gain = variance / (variance + eps)
    return box_mean_plane(gain, small_radius), box_mean_plane(mean - gain * mean, small_radius)


def _to_size(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if plane.shape == shape:
        return plane
    return cv2.resize(plane, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def grey_detail_to_add(
    content_rgb: np.ndarray,
    output_rgb: np.ndarray,
    guided_share: float,
    radius_fraction: float,
    eps: float,
    fine_share: float = 0.0,
    fine_sigma: float = 2.0,
) -> np.ndarray | None:
    """Grey levels (HxW float32) to add to every channel of output_rgb (HxWx3 uint8, content_rgb's
    size), or None for none: guided_share of the fine luminance detail the mapping took (the guided
    filter's residual, radius radius_fraction of the long side, regularisation eps), then fine_share of
    what the grey, those levels added, still lacks of the content's detail finer than a Gaussian of
    fine_sigma pixels. With fine_share 1 the result's grey has about the content's detail at that
    scale: exactly but for rounding, clipping, and beside strong edges, where the blur of the added
    detail differs from it by a few levels."""
    if content_rgb.shape != output_rgb.shape:
        raise ValueError(f"content {content_rgb.shape} and output {output_rgb.shape} differ in size")
    if guided_share <= 0.0 and fine_share <= 0.0:
        return None
    content_grey = cv2.cvtColor(content_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    output_grey = cv2.cvtColor(output_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    levels = None
    if guided_share > 0.0:
        levels = _guided_levels(content_grey, output_grey, guided_share, radius_fraction, eps)
    if fine_share > 0.0:
        # Detail is linear: (content - blur(content)) - (output - blur(output)) = d - blur(d), d the
        # grey difference, the guided step's levels counted as part of the output's grey.
        difference = np.subtract(content_grey, output_grey, out=content_grey)
        if levels is not None:
            difference -= levels
        difference -= cv2.GaussianBlur(difference, (0, 0), fine_sigma)
        if fine_share != 1.0:
            difference *= fine_share
        levels = difference if levels is None else np.add(levels, difference, out=levels)
    return levels


def _guided_levels(content_grey, output_grey, share: float, radius_fraction: float, eps: float) -> np.ndarray:
    """share x 255 x (the content's guided-filter residual - the output's), greys in 0..255, with one
    upsampling of the two offsets' difference instead of one of each (the upsampling is linear)."""
    radius = detail_radius(content_grey.shape, radius_fraction)
    gain_content, offset_content = guided_base(content_grey * (1.0 / 255.0), radius, eps)
    gain_output, offset_output = guided_base(output_grey * (1.0 / 255.0), radius, eps)
    shape = content_grey.shape
    # detail(x) = x - (gain x + offset) = (1 - gain) x - offset, in levels.
    levels = _to_size(gain_content, shape)
    np.subtract(1.0, levels, out=levels)
    levels *= content_grey
    output_part = _to_size(gain_output, shape)
    np.subtract(1.0, output_part, out=output_part)
    output_part *= output_grey
    levels -= output_part
    levels -= _to_size((offset_content - offset_output) * 255.0, shape)
    levels *= share
    return levels


def with_grey_detail(
    content_rgb: np.ndarray,
    output_rgb: np.ndarray,
    guided_share: float,
    radius_fraction: float,
    eps: float,
    fine_share: float = 0.0,
    fine_sigma: float = 2.0,
) -> np.ndarray:
    """output_rgb with grey_detail_to_add's levels added to every channel (itself where there are none)."""
    levels = grey_detail_to_add(content_rgb, output_rgb, guided_share, radius_fraction, eps, fine_share, fine_sigma)
    return output_rgb if levels is None else add_to_channels(output_rgb, levels)


def keep_fine_grey_detail(content_rgb: np.ndarray, output_rgb: np.ndarray, share: float, sigma: float) -> np.ndarray:
    """output_rgb with `share` of the content's grey detail finer than a Gaussian of `sigma` pixels
    that it lacks added to every channel (the finest step alone)."""
    return with_grey_detail(content_rgb, output_rgb, 0.0, 0.0, 0.0, share, sigma)
