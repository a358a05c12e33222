"""The interpolation core: known motions are reproduced, unexplained pixels fall back sensibly."""

import numpy as np

from services.interpolator import flow as flowlib
from services.interpolator.core import (
    FlowToKey,
    HeldKey,
    apply_colour_transform,
    fit_colour_transform,
    synthesize_frame,
    warp_backward,
)
from tests.media import textured_background

SHIFT = (3, 2)  # the content moves right by 3 px and down by 2 px


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The image as seen after the scene moved by (dx, dy): out(x) = image(x - d)."""
    return np.roll(np.roll(image, dy, axis=0), dx, axis=1)


def stylize(image: np.ndarray) -> np.ndarray:
    """A fixed, known 'stylization': an affine colour grade."""
    matrix = np.array([[0.5, 0.2, 0.1, 0.1], [0.1, 0.6, 0.1, 0.0], [0.3, 0.1, 0.4, 0.2]], np.float32)
    return apply_colour_transform(image, matrix)


def interior(image: np.ndarray, margin: int = 8) -> np.ndarray:
    return image[margin:-margin, margin:-margin]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_warp_with_exact_flow_reproduces_a_translation():
    key = textured_background(128, 96)
    current = shifted(key, *SHIFT)
    flow = np.zeros((96, 128, 2), np.float32)
    flow[..., 0], flow[..., 1] = -SHIFT[0], -SHIFT[1]  # current(x) = key(x - shift)
    np.testing.assert_array_equal(interior(warp_backward(key, flow)), interior(current))


def test_dis_flow_recovers_a_known_translation():
    key = textured_background(128, 96)
    current = shifted(key, *SHIFT)
    flow = flowlib.estimate_flow(flowlib.prepare(current), flowlib.prepare(key))
    median = np.median(interior(flow).reshape(-1, 2), axis=0)
    np.testing.assert_allclose(median, [-SHIFT[0], -SHIFT[1]], atol=0.25)


def test_stylized_translation_is_reproduced_from_estimated_flow():
    key_original = textured_background(128, 96)
    current_original = shifted(key_original, *SHIFT)
    key = HeldKey(0, stylize(key_original), fit_colour_transform(key_original, stylize(key_original)))
    cur, ref = flowlib.prepare(current_original), flowlib.prepare(key_original)
    flow = flowlib.estimate_flow(cur, ref)
    confidence = flowlib.photometric_confidence(cur, ref, flow)
    out = synthesize_frame(4, FlowToKey(key, flow, confidence), original=current_original)
    assert psnr(interior(out), interior(stylize(current_original))) > 35


def test_bidirectional_blend_moves_smoothly_between_keys():
    """With perfect flow both keys agree; with different looks the blend follows temporal distance."""
    original = textured_background()
    zero = np.zeros((*original.shape[:2], 2), np.float32)
    dark = HeldKey(0, np.full_like(original, 40))
    bright = HeldKey(10, np.full_like(original, 200))
    means = [synthesize_frame(i, FlowToKey(dark, zero, None), FlowToKey(bright, zero, None)).mean() for i in (1, 5, 9)]
    np.testing.assert_allclose(means, [40 + 16, 40 + 80, 40 + 144], atol=2)


def test_occluded_region_falls_back_to_the_key_that_sees_it():
    """Offline: a region the previous key cannot explain comes from the next key."""
    original = textured_background()
    zero = np.zeros((*original.shape[:2], 2), np.float32)
    prev = HeldKey(0, np.full_like(original, 30))
    nxt = HeldKey(10, np.full_like(original, 220))
    conf_prev = np.ones(original.shape[:2], np.float32)
    conf_prev[20:40, 30:60] = 0.0  # disoccluded: the previous key never saw these pixels
    out = synthesize_frame(2, FlowToKey(prev, zero, conf_prev), FlowToKey(nxt, zero, None))
    assert out[25:35, 35:55].mean() > 210  # taken from the next key despite being temporally far
    assert abs(out[:10, :10].mean() - (30 * 0.8 + 220 * 0.2)) < 3  # elsewhere: the normal blend


def test_pixels_no_key_explains_take_the_current_frame_in_the_keys_look():
    original = textured_background()
    current = original.copy()
    current[20:40, 30:60] = (250, 20, 20)  # a new red object no key frame contains
    zero = np.zeros((*original.shape[:2], 2), np.float32)
    key_stylized = stylize(original)
    key = HeldKey(0, key_stylized, fit_colour_transform(original, key_stylized))
    confidence = np.ones(original.shape[:2], np.float32)
    confidence[20:40, 30:60] = 0.0
    out = synthesize_frame(3, FlowToKey(key, zero, confidence), original=current)
    expected = stylize(current)[22:38, 32:58].astype(np.float32)
    assert np.abs(out[22:38, 32:58].astype(np.float32) - expected).mean() < 4
    # Without the fallback the region would show the key's (wrong) content instead.
    assert np.abs(key_stylized[22:38, 32:58].astype(np.float32) - expected).mean() > 20


def test_colour_transform_fit_recovers_an_affine_grade():
    original = textured_background()
    fitted = apply_colour_transform(original, fit_colour_transform(original, stylize(original)))
    assert np.abs(fitted.astype(np.float32) - stylize(original)).mean() < 1.0


def test_photometric_confidence_is_low_where_content_changed():
    key = textured_background(128, 96)
    current = key.copy()
    current[30:60, 40:80] = 0  # an object appears
    cur, ref = flowlib.prepare(current), flowlib.prepare(key)
    zero = np.zeros((*cur.gray.shape, 2), np.float32)
    confidence = flowlib.photometric_confidence(cur, ref, zero)
    assert confidence[35:55, 45:75].mean() < 0.2
    assert confidence[:20, :30].mean() > 0.9


def test_flow_pointing_outside_the_key_is_not_trusted():
    key = textured_background(128, 96)
    cur = ref = flowlib.prepare(key)
    flow = np.zeros((*cur.gray.shape, 2), np.float32)
    flow[:, :, 0] = 200.0  # everything maps beyond the right edge
    assert flowlib.photometric_confidence(cur, ref, flow).max() == 0.0
