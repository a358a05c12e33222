"""The quality metrics on cases whose answers are known."""

import cv2
import numpy as np
import pytest

from benchmarks.metrics import (
    consistency_mask,
    edge_ssim,
    farneback_flow,
    mean_psnr,
    psnr,
    style_distance_ratio,
    warping_error,
)
from tests.media import textured_background


def pan(frame_count: int, step: int = 2) -> list[np.ndarray]:
    """A camera panning right over a wide textured scene: content moves left by `step` px per frame."""
    width, height = 192, 128
    rng = np.random.default_rng(3)
    noise = rng.uniform(0, 255, size=(height, width + step * frame_count, 3)).astype(np.float32)
    scene = np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(scene[:, step * t : step * t + width]) for t in range(frame_count)]


def test_farneback_recovers_a_known_shift():
    frames = pan(2, step=3)
    flow = farneback_flow(frames[0], frames[1])
    assert np.median(flow[16:-16, 16:-16, 0]) == pytest.approx(-3.0, abs=0.3)
    assert np.median(flow[16:-16, 16:-16, 1]) == pytest.approx(0.0, abs=0.3)


def test_warping_error_is_zero_for_a_static_video_and_small_for_consistent_motion():
    still = [textured_background()] * 4
    assert warping_error(still, still) == pytest.approx(0.0, abs=1e-6)
    moving = pan(5)
    assert warping_error(moving, moving) < 2e-3


def test_warping_error_catches_flicker():
    moving = pan(5)
    flicker = [np.clip(f.astype(int) + (25 if t % 2 else -25), 0, 255).astype(np.uint8) for t, f in enumerate(moving)]
    expected = 3 * (50 / 255) ** 2  # a +-25 level swing on every channel
    assert warping_error(flicker, moving) == pytest.approx(expected, rel=0.2)
    assert warping_error(flicker, moving) > 20 * warping_error(moving, moving)


def test_consistency_mask_excludes_occluded_pixels():
    frames = pan(2, step=3)
    forward = farneback_flow(frames[0], frames[1])
    backward = farneback_flow(frames[1], frames[0])
    mask = consistency_mask(forward, backward)
    assert mask[10:-10, 10:-20].mean() > 0.9
    # Pixels that leave the frame (the left edge moves out) are masked.
    assert mask[:, :2].mean() < 0.5


def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[...] = 110  # MSE 100 -> 10*log10(255^2/100)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")
    assert mean_psnr([a, a], [b, a]) == pytest.approx(10 * np.log10(255**2 / 50))


def test_edge_ssim_is_one_for_kept_structure_and_lower_for_blur():
    content = textured_background(128, 96)
    assert edge_ssim(content, content) == pytest.approx(1.0)
    graded = np.clip(content * 0.9 + 10, 0, 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(content, (9, 9), 3)
    assert edge_ssim(content, graded) > 0.9
    assert edge_ssim(content, blurred) < edge_ssim(content, graded) - 0.2


def test_style_distance_ratio_known_ends():
    content = textured_background(seed=1)
    style = np.zeros_like(content)
    style[..., 0], style[..., 1], style[..., 2] = 30, 60, 160  # deep blue photo
    style[::2] = (20, 40, 120)
    assert style_distance_ratio(content, style, content) == pytest.approx(1.0, abs=0.01)
    shuffled = style.reshape(-1, 3)[np.random.default_rng(0).permutation(style.size // 3)].reshape(style.shape)
    assert style_distance_ratio(shuffled, style, content) < 0.05
