"""The quality metrics on cases whose answers are known."""

import cv2
import numpy as np
import pytest

from benchmarks.metrics import (
    PairScorer,
    consistency_mask,
    edge_ssim,
    farneback_flow,
    mean_psnr,
    projected_quantiles,
    psnr,
    region_style_ratio,
    style_distance_ratio,
    warping_error,
)
from services.stylizer.masks import labels_from_mask
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


def two_region_scene(height: int, width: int, top: tuple, bottom: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo whose upper half is one noisy colour and lower half another, with its colour-coded mask
    (black upper half, white lower half), as Deep Photo Style Transfer's masks are drawn."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.float64)
    image[: height // 2] = top
    image[height // 2 :] = bottom
    image = np.clip(image + rng.normal(0, 8, size=image.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((height, width, 3), np.uint8)
    mask[height // 2 :] = 255
    return image, mask


def per_label_transfer(content, content_labels, style, style_labels) -> np.ndarray:
    """Each content region replaced by its style counterpart's pixels (same distribution)."""
    rng = np.random.default_rng(5)
    out = content.copy()
    for label in np.unique(content_labels):
        source = style[style_labels == label]
        out[content_labels == label] = source[rng.integers(0, len(source), int((content_labels == label).sum()))]
    return out


def test_labels_from_mask_thresholds_each_channel_and_resizes_nearest():
    mask = np.zeros((2, 4, 3), np.uint8)
    mask[0, 1] = (200, 0, 0)
    mask[0, 2] = (0, 128, 0)
    mask[0, 3] = (127, 255, 255)
    mask[1] = 255
    labels = labels_from_mask(mask)
    assert labels.tolist() == [[0, 1, 2, 6], [7, 7, 7, 7]]
    bigger = labels_from_mask(mask, (8, 4))
    assert bigger.shape == (4, 8)
    assert set(np.unique(bigger)) <= set(np.unique(labels))  # nearest-neighbour: no blended labels
    assert bigger[0, 2] == 1 and bigger[3, 7] == 7


def test_region_style_ratio_known_answers():
    content, content_mask = two_region_scene(96, 128, (90, 140, 220), (60, 120, 40), seed=1)  # sky over grass
    style, style_mask = two_region_scene(80, 120, (250, 120, 40), (40, 30, 60), seed=2)  # orange over dusk
    content_labels, style_labels = labels_from_mask(content_mask), labels_from_mask(style_mask)
    # The unstyled content: exactly 1.
    assert region_style_ratio(content, style, content, content_labels, style_labels) == pytest.approx(1.0, abs=1e-12)
    # Each labelled region given its counterpart's colours: near 0.
    matched = per_label_transfer(content, content_labels, style, style_labels)
    assert region_style_ratio(matched, style, content, content_labels, style_labels) < 0.05
    # The regions swapped (sky gets the ground's look): far worse than matched, though as
    # close to the style globally.
    swapped = per_label_transfer(content, content_labels, style, 7 - style_labels)
    assert region_style_ratio(swapped, style, content, content_labels, style_labels) > 0.5
    assert style_distance_ratio(swapped, style, content) < 0.1


def test_region_style_ratio_ignores_small_labels_and_needs_two():
    content, content_mask = two_region_scene(100, 100, (90, 140, 220), (60, 120, 40), seed=3)
    style, style_mask = two_region_scene(100, 100, (250, 120, 40), (40, 30, 60), seed=4)
    content_labels, style_labels = labels_from_mask(content_mask), labels_from_mask(style_mask)
    matched = per_label_transfer(content, content_labels, style, style_labels)
    reference = region_style_ratio(matched, style, content, content_labels, style_labels)
    # A third label on 1% of the content (and of the style), badly styled: ignored.
    tiny_content, tiny_style = content_labels.copy(), style_labels.copy()
    tiny_content[:10, :10] = 2
    tiny_style[:10, :10] = 2
    spoiled = matched.copy()
    spoiled[:10, :10] = 0
    assert region_style_ratio(spoiled, style, content, tiny_content, tiny_style) == pytest.approx(reference, abs=0.02)
    # Fewer than two labels covering 2% of both photos: None.
    assert region_style_ratio(matched, style, content, np.zeros_like(content_labels), style_labels) is None
    half = style_labels.copy()
    half[:] = 7
    half[:1, :] = 0  # label 0 on 1% of the style only
    assert region_style_ratio(matched, style, content, content_labels, half) is None


def test_region_style_ratio_resizes_label_maps_nearest():
    content, content_mask = two_region_scene(96, 128, (90, 140, 220), (60, 120, 40), seed=1)
    style, style_mask = two_region_scene(80, 120, (250, 120, 40), (40, 30, 60), seed=2)
    content_labels, style_labels = labels_from_mask(content_mask), labels_from_mask(style_mask)
    small_content = labels_from_mask(cv2.resize(content_mask, (64, 48), interpolation=cv2.INTER_NEAREST))
    matched = per_label_transfer(content, content_labels, style, style_labels)
    exact = region_style_ratio(matched, style, content, content_labels, style_labels)
    assert region_style_ratio(matched, style, content, small_content, style_labels) == pytest.approx(exact, abs=0.02)


def test_projected_quantiles_are_numpys_quantiles_of_the_projections():
    points = np.random.default_rng(5).normal(size=(1001, 3))
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(64, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    expected = np.quantile(points @ directions.T, np.linspace(0.0, 1.0, 256), axis=0)
    np.testing.assert_allclose(projected_quantiles(points), expected, rtol=0, atol=1e-12)


def test_a_pair_scorer_gives_each_output_the_figures_of_a_fresh_call():
    content, content_mask = two_region_scene(96, 128, (90, 140, 220), (60, 120, 40), seed=1)
    style, style_mask = two_region_scene(80, 120, (250, 120, 40), (40, 30, 60), seed=2)
    content_labels, style_labels = labels_from_mask(content_mask), labels_from_mask(style_mask)
    scorer = PairScorer(style, content, content_labels, style_labels)
    matched = per_label_transfer(content, content_labels, style, style_labels)
    swapped = per_label_transfer(content, content_labels, style, 7 - style_labels)
    for output in (matched, swapped, matched, content):  # order and repeats do not matter
        assert scorer.style_ratio(output) == style_distance_ratio(output, style, content)
        assert scorer.region_ratio(output) == region_style_ratio(output, style, content, content_labels, style_labels)
    assert PairScorer(style, content).region_ratio(matched) is None
