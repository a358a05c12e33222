"""The interpolation core: colour maps move along the flow and are applied to the current frame."""

import cv2
import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError
from services.interpolator import affine
from services.interpolator import flow as flowlib
from services.interpolator.core import (
    FALLBACK_BELOW,
    FILL_COARSENING,
    FILL_RADIUS_FRACTION,
    FlowToKey,
    apply_colour_transform,
    fill_coarsening,
    fill_untrusted,
    fit_colour_transform,
    key_output,
    prepare_key,
    synthesize_frame,
)
from tests.media import textured_background

W, H = 160, 96
GRID = (80, 48)
DUSK = np.array([[0.5, 0.2, 0.1, 0.05], [0.1, 0.55, 0.1, 0.0], [0.3, 0.1, 0.6, 0.15]], np.float32)
SNOW = np.array([[0.7, 0.2, 0.1, 0.2], [0.2, 0.7, 0.1, 0.2], [0.1, 0.2, 0.8, 0.25]], np.float32)


def scene(width: int = W + 40, seed: int = 0) -> np.ndarray:
    """A textured scene wider than the frame, for panning."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (H, width, 3)).astype(np.float32), (0, 0), 1.5)
    base = textured_background(width, H, seed).astype(np.float32)
    return np.clip(0.6 * base + 0.8 * (noise - 127), 0, 255).astype(np.uint8)


def view(world: np.ndarray, offset: int) -> np.ndarray:
    """The frame seen by a camera at `offset`: content moves left as the offset grows."""
    return np.ascontiguousarray(world[:, offset : offset + W])


def two_looks(image: np.ndarray, boundary: int) -> np.ndarray:
    """A stylization that is DUSK left of x=boundary and SNOW right of it."""
    out = apply_colour_transform(image, DUSK)
    out[:, boundary:] = apply_colour_transform(image, SNOW)[:, boundary:]
    return out


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def link(current: np.ndarray, key_original: np.ndarray, key) -> FlowToKey:
    cur, ref = flowlib.prepare(current), flowlib.prepare(key_original)
    flow = flowlib.estimate_flow(cur, ref)
    return FlowToKey(key, flow, flowlib.photometric_confidence(cur, ref, flow))


def test_key_output_reproduces_its_stylization():
    original = view(scene(), 0)
    key = prepare_key(0, original, apply_colour_transform(original, DUSK), GRID)
    assert psnr(key_output(key), apply_colour_transform(original, DUSK)) > 38


def test_a_look_that_varies_in_space_moves_with_the_content():
    """The DUSK/SNOW boundary is attached to the scene: after a 12 px pan it must have moved 12 px."""
    world = scene()
    key_original, current = view(world, 0), view(world, 12)
    key = prepare_key(0, key_original, two_looks(key_original, 80), GRID)
    out = synthesize_frame(5, link(current, key_original, key), None, current)
    expected = two_looks(current, 80 - 12)
    assert psnr(out[:, 8:60], expected[:, 8:60]) > 33
    assert psnr(out[:, 76:136], expected[:, 76:136]) > 33  # the last 12 columns are new content
    # Without following the flow the boundary would still sit at 80, and columns 68-80 would be wrong.
    unmoved = two_looks(current, 80)
    error = np.abs(out[:, 70:78].astype(float) - expected[:, 70:78]).mean()
    assert error < 0.5 * np.abs(unmoved[:, 70:78].astype(float) - expected[:, 70:78]).mean()


def test_detail_comes_from_the_current_frame():
    """Content that no key frame shows (fine text-like detail) appears in the output, graded."""
    world = scene()
    key_original = view(world, 0)
    current = key_original.copy()
    current[30:60, 40:120] = (np.indices((30, 80)).sum(0) % 4 < 2)[..., None] * 200 + 20
    key = prepare_key(0, key_original, apply_colour_transform(key_original, DUSK), GRID)
    out = synthesize_frame(1, link(current, key_original, key), None, current)
    assert psnr(out[30:60, 40:120], apply_colour_transform(current, DUSK)[30:60, 40:120]) > 25


def test_bidirectional_blend_follows_temporal_distance():
    original = view(scene(), 0)
    dark = prepare_key(0, original, apply_colour_transform(original, DUSK), GRID)
    bright = prepare_key(10, original, apply_colour_transform(original, SNOW), GRID)
    zero = np.zeros((H, W, 2), np.float32)
    dark_mean = apply_colour_transform(original, DUSK).mean()
    bright_mean = apply_colour_transform(original, SNOW).mean()
    for index in (1, 5, 9):
        alpha = index / 10
        out = synthesize_frame(index, FlowToKey(dark, zero, None), FlowToKey(bright, zero, None), original)
        assert abs(out.mean() - ((1 - alpha) * dark_mean + alpha * bright_mean)) < 2


def test_a_region_only_the_next_key_sees_leans_on_the_next_key():
    original = view(scene(), 0)
    prev = prepare_key(0, original, apply_colour_transform(original, DUSK), GRID)
    nxt = prepare_key(10, original, apply_colour_transform(original, SNOW), GRID)
    zero = np.zeros((H, W, 2), np.float32)
    conf_prev = np.ones((H, W), np.float32)
    conf_prev[20:80, 40:120] = 0.0  # disoccluded: the previous key never saw this region
    out = synthesize_frame(3, FlowToKey(prev, zero, conf_prev), FlowToKey(nxt, zero, None), original).astype(float)
    dusk, snow = apply_colour_transform(original, DUSK).astype(float), apply_colour_transform(original, SNOW)

    def share_of_next(region):
        return float(np.mean((out[region] - dusk[region]) / (snow[region] - dusk[region] + 1e-3)))

    inside = (slice(35, 65), slice(60, 100))
    outside = (slice(0, 10), slice(0, 30))
    assert share_of_next(inside) > 0.6
    assert abs(share_of_next(outside) - 0.3) < 0.1


def synthesized_with_untrusted(untrusted: tuple[slice, slice]):
    """Frame 2 made from a key stylized in two looks (dusk left of x=80, snow right), with the
    pixels in `untrusted` trusted by no key: (original, key, output)."""
    original = view(scene(), 0)
    key = prepare_key(0, original, two_looks(original, 80), GRID)
    confidence = np.ones((H, W), np.float32)
    confidence[untrusted] = 0.0
    out = synthesize_frame(2, FlowToKey(key, np.zeros((H, W, 2), np.float32), confidence), None, original)
    return original, key, out


def test_pixels_no_key_explains_far_from_any_trusted_pixel_use_the_global_look():
    original, key, out = synthesized_with_untrusted((slice(None), slice(90, None)))  # nothing on the right
    global_look = apply_colour_transform(original, key.transform)
    # Beyond the fill's wide window (an eighth of the frame each way, and a coarse cell) from x=90.
    assert psnr(out[:, 135:], global_look[:, 135:]) > 35
    assert psnr(out[:, 10:60], two_looks(original, 80)[:, 10:60]) > 33


def test_a_wide_untrusted_region_takes_the_look_of_trusted_pixels_like_it_before_the_global_one():
    # The dusk half untrusted from its left edge to x=60: its middle is farther from the trusted
    # dusk (60-80) than the fill's near window, within its wide one. It stays dusk: before, it took
    # the global look (half snow), as content no key saw on a plain panel took the frame's look.
    original, key, out = synthesized_with_untrusted((slice(None), slice(0, 60)))
    dusk = apply_colour_transform(original, DUSK)
    global_look = apply_colour_transform(original, key.transform)
    band = (slice(8, 88), slice(44, 54))
    assert psnr(out[band], dusk[band]) > psnr(out[band], global_look[band]) + 3


def test_a_small_untrusted_patch_keeps_the_look_around_it_not_the_global_one():
    # An occluder passing through the dusk half: its cells are trusted by neither key, but the
    # look around them is dusk, and the patch must stay dusk (the global look is half snow).
    original, key, out = synthesized_with_untrusted((slice(36, 60), slice(24, 44)))
    dusk = apply_colour_transform(original, DUSK)
    global_look = apply_colour_transform(original, key.transform)
    patch = (slice(40, 56), slice(28, 40))
    assert psnr(out[patch], dusk[patch]) > 30
    assert psnr(out[patch], dusk[patch]) > psnr(out[patch], global_look[patch]) + 5


def test_local_fit_recovers_two_looks_and_flat_regions_follow_the_prior():
    original = view(scene(), 0)
    original[:, :40] = (120, 110, 100)  # a flat region: its own A cannot be known
    small = cv2.resize(original, GRID, interpolation=cv2.INTER_AREA)
    stylized = two_looks(small, 50)
    prior = fit_colour_transform(small, stylized)
    local_map = affine.fit_local_affine(small, stylized, radius=3, prior=prior)
    assert psnr(affine.apply_full(local_map, small)[:, 25:45], stylized[:, 25:45]) > 35
    assert psnr(affine.apply_full(local_map, small)[:, 56:], stylized[:, 56:]) > 35
    a_flat = local_map.reshape(*GRID[::-1], 3, 4)[10:-10, 2:10, :, :3].mean((0, 1))
    np.testing.assert_allclose(a_flat, prior[:, :3], atol=0.1)


def test_fast_application_matches_the_exact_one():
    original = view(scene(), 0)
    small = cv2.resize(original, GRID, interpolation=cv2.INTER_AREA)
    local_map = affine.fit_local_affine(small, two_looks(small, 40))
    assert psnr(affine.apply_detail(local_map, original), affine.apply_full(local_map, original)) > 35


def test_i420_application_matches_rgb_application_then_conversion():
    original = view(scene(), 0)
    small = cv2.resize(original, GRID, interpolation=cv2.INTER_AREA)
    local_map = affine.fit_local_affine(small, two_looks(small, 40))
    via_rgb = cv2.cvtColor(affine.apply_detail(local_map, original), cv2.COLOR_RGB2YUV_I420)
    direct = affine.apply_detail_i420(local_map, original)
    assert direct.shape == (H * 3 // 2, W) and direct.dtype == np.uint8
    luma_error = np.abs(direct[:H].astype(int) - via_rgb[:H])
    assert luma_error.mean() < 0.5 and luma_error.max() <= 4
    # Chroma: compared as colours, so the two subsamplings' placement does not matter.
    back = [cv2.cvtColor(image, cv2.COLOR_YUV2RGB_I420) for image in (direct, via_rgb)]
    assert psnr(*back) > 38
    with pytest.raises(ValueError, match="even"):
        affine.apply_detail_i420(local_map, original[:, :-1])


def test_colour_transform_fit_recovers_an_affine_grade():
    original = textured_background()
    fitted = apply_colour_transform(original, fit_colour_transform(original, apply_colour_transform(original, DUSK)))
    assert np.abs(fitted.astype(np.float32) - apply_colour_transform(original, DUSK)).mean() < 1.0


def test_dis_flow_recovers_a_known_translation():
    world = scene()
    flow = flowlib.estimate_flow(flowlib.prepare(view(world, 3)), flowlib.prepare(view(world, 0)))
    median = np.median(flow[8:-8, 8:-8].reshape(-1, 2), axis=0)
    np.testing.assert_allclose(median, [3, 0], atol=0.3)  # current(x) = key(x + 3)


def test_photometric_confidence_is_low_where_content_changed():
    key = view(scene(), 0)
    current = key.copy()
    current[30:60, 40:80] = 0  # an object appears
    cur, ref = flowlib.prepare(current), flowlib.prepare(key)
    zero = np.zeros((*cur.gray.shape, 2), np.float32)
    confidence = flowlib.photometric_confidence(cur, ref, zero)
    assert confidence[35:55, 45:75].mean() < 0.2
    assert confidence[:20, :30].mean() > 0.9


def test_flow_pointing_outside_the_key_is_not_trusted():
    key = view(scene(), 0)
    cur = ref = flowlib.prepare(key)
    flow = np.zeros((*cur.gray.shape, 2), np.float32)
    flow[:, :, 0] = 500.0  # everything maps beyond the right edge
    assert flowlib.photometric_confidence(cur, ref, flow).max() == 0.0


def test_adjugate_inverse_matches_linalg():
    m = np.random.default_rng(0).random((4, 5, 3, 3)) + 2 * np.eye(3)
    planes = [[m[..., row, col] for col in range(3)] for row in range(3)]
    inverse = np.stack([np.stack(row, axis=-1) for row in affine.invert_3x3_planes(planes)], axis=-2)
    np.testing.assert_allclose(inverse, np.linalg.inv(m), atol=1e-10)


@pytest.mark.parametrize(("width", "height"), [(160, 94), (22, 10), (4, 6)], ids=str)
def test_i420_application_takes_heights_that_are_not_a_multiple_of_four(width, height):
    """The chroma planes of I420 do not start on a row of W when H % 4 == 2 (640x270, 1920x1082)."""
    original = cv2.resize(view(scene(), 0), (width, height), interpolation=cv2.INTER_AREA)
    grid = (max(8, width // 2), max(8, height // 2))
    small = cv2.resize(original, grid, interpolation=cv2.INTER_AREA)
    local_map = affine.fit_local_affine(small, two_looks(small, grid[0] // 2))
    direct = affine.apply_detail_i420(local_map, original)
    assert direct.shape == (height * 3 // 2, width)
    via_rgb = cv2.cvtColor(affine.apply_detail(local_map, original), cv2.COLOR_RGB2YUV_I420)
    back = [cv2.cvtColor(image, cv2.COLOR_YUV2RGB_I420).astype(int) for image in (direct, via_rgb)]
    assert np.abs(back[0] - back[1]).mean() < 4


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 1), (1, 3)], ids=str)
def test_frames_of_a_pixel_or_two_keep_their_size(width, height):
    """OpenCV reads a 1x1 image as a scalar in some calls (cv2.max(image, 0) returns 4x1)."""
    original = np.full((height, width, 3), (40, 120, 200), np.uint8)
    key = prepare_key(0, original, apply_colour_transform(original, DUSK), (8, 8))
    out = affine.apply_detail(key.local_map, original)
    assert out.shape == (height, width, 3)
    np.testing.assert_allclose(out.astype(int), apply_colour_transform(original, DUSK).astype(int), atol=3)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 3), (7, 5), (11, 11), (40, 3)], ids=str)
def test_flow_on_frames_too_small_for_dis_is_measured_on_an_upscaled_grid(width, height):
    """DIS refuses images under 12 px on both sides; grids that small are upscaled, and the flow comes
    back on the frame's own grid, in frame pixels."""
    world = cv2.resize(scene(), (width + 2, height), interpolation=cv2.INTER_AREA)
    current, reference = flowlib.prepare(world[:, 1 : width + 1]), flowlib.prepare(world[:, :width])
    flow = flowlib.estimate_flow(current, reference)
    assert flow.shape == (*current.gray.shape, 2) and np.isfinite(flow).all()
    assert np.abs(flow).max() < max(width, height) + 2  # frame pixels, not pixels of the upscaled grid
    confidence = flowlib.photometric_confidence(current, reference, flow)
    assert confidence.shape == current.gray.shape
    same = flowlib.estimate_flow(current, current)
    assert np.abs(same).max() < 0.5


def test_dis_flow_on_the_smallest_grids_still_sees_the_motion():
    world = scene()
    current = flowlib.prepare(view(world, 4), long_side=10)  # a 10x8 grid: DIS needs 12 px
    reference = flowlib.prepare(view(world, 0), long_side=10)
    assert current.gray.shape[1] < flowlib.DIS_MIN_LONG_SIDE
    median = np.median(flowlib.estimate_flow(current, reference).reshape(-1, 2), axis=0)
    assert median[0] > 1.0  # current(x) = key(x + 4): some of the motion is seen at 1/16 of the width


@pytest.mark.parametrize("long_side", [0, -5, 2.5, None])
def test_a_flow_grid_without_a_long_side_is_invalid_input(long_side):
    with pytest.raises(InvalidInputError, match="long side"):
        flowlib.prepare(view(scene(), 0), long_side)


def exact_fill(blended: np.ndarray, share: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The fill as defined, on the full grid: normalised convolution of the trusted cells'
    maps over the FILL_RADIUS_FRACTION window, drawn to the fallback where few are near."""
    trusted = 1.0 - share
    radius = max(1, round(max(share.shape) * FILL_RADIUS_FRACTION))
    window = (2 * radius + 1, 2 * radius + 1)
    support = cv2.boxFilter(trusted, -1, window, borderType=cv2.BORDER_REPLICATE)
    around = cv2.boxFilter(blended * trusted[..., None], -1, window, borderType=cv2.BORDER_REPLICATE)
    around = around / np.maximum(support, 1e-6)[..., None]
    near = np.clip(support / FALLBACK_BELOW, 0.0, 1.0)[..., None]
    fill = fallback + (around - fallback) * near
    return blended + (fill - blended) * share[..., None]


def smooth_map(grid_h: int, grid_w: int) -> np.ndarray:
    """A 12-coefficient map that varies smoothly across the grid, as fitted maps do."""
    y, x = np.mgrid[0:grid_h, 0:grid_w].astype(np.float32)
    planes = [np.sin(x / grid_w * (2 + c) + c) + np.cos(y / grid_h * (1 + c % 3)) for c in range(12)]
    return np.stack(planes, axis=-1).astype(np.float32)


def test_the_coarse_fill_matches_the_exact_normalised_convolution():
    grid_h, grid_w = 180, 320
    blended = smooth_map(grid_h, grid_w)
    share = np.zeros((grid_h, grid_w), np.float32)
    share[40:90, 60:140] = 1.0  # an occluder
    share[40:90, 140:150] = 0.5  # its softer edge
    share[150:, 250:] = 1.0  # another, in a corner
    fallback = np.linspace(-1, 1, 12, dtype=np.float32)
    expected = exact_fill(blended, share, fallback)
    filled = blended.copy()
    fill_untrusted(filled, share, fallback)
    np.testing.assert_array_equal(filled[share == 0], blended[share == 0])
    changed = share > 0
    error = np.abs(filled[changed] - expected[changed]).max(axis=-1) / np.ptp(blended)
    # The coarse windows put the ramp from the trusted cells' look to the fallback a cell or
    # two off the exact one's: a few rows there differ, the rest agree closely.
    assert np.percentile(error, 50) < 0.01
    assert np.percentile(error, 99) < 0.2
    assert np.abs(filled[changed] - blended[changed]).max() > 0.2 * np.ptp(blended)  # it did fill


def test_a_grid_trusted_nowhere_takes_the_fallback_in_every_cell():
    # 320x180 cells: more than OpenCV's remap takes in one row or column.
    blended = smooth_map(180, 320)
    fallback = np.linspace(0, 2, 12, dtype=np.float32)
    fill_untrusted(blended, np.ones((180, 320), np.float32), fallback)
    np.testing.assert_allclose(blended, np.broadcast_to(fallback, blended.shape), atol=1e-5)


@pytest.mark.parametrize("grid", [(31, 17), (12, 9), (1, 1), (3, 2)])
def test_on_small_grids_the_fill_is_the_exact_one(grid):
    # Too few cells for a coarser grid to keep the window's shape (tiny videos): no coarsening.
    grid_w, grid_h = grid
    assert fill_coarsening(grid_w, grid_h) == 1
    blended = smooth_map(grid_h, grid_w)
    share = np.zeros((grid_h, grid_w), np.float32)
    share[: max(1, grid_h // 2), : max(1, grid_w // 3)] = 1.0
    fallback = np.linspace(-1, 1, 12, dtype=np.float32)
    expected = exact_fill(blended, share, fallback)
    fill_untrusted(blended, share, fallback)
    np.testing.assert_allclose(blended, expected, atol=1e-4)


def test_a_1080p_grid_is_filled_four_times_coarser():
    assert fill_coarsening(320, 180) == FILL_COARSENING == 4


def test_an_untrusted_strip_leans_to_the_map_of_the_surface_as_bright_as_itself():
    """Cells no key explains, on the boundary of a dark surface and a bright one (two maps): bright
    content there takes more of the bright surface's map, and dark content more of the dark one's,
    than a fill blind to brightness gives either."""
    grid_h, grid_w = 48, 96
    maps = np.empty((grid_h, grid_w, 3), np.float32)
    maps[:, :48], maps[:, 48:] = 1.0, 5.0
    guide_luma = np.where(np.arange(grid_w) < 48, 30.0, 200.0).astype(np.float32)[None].repeat(grid_h, 0)
    share = np.zeros((grid_h, grid_w), np.float32)
    share[:, 45:51] = 1.0  # a strip across the boundary, trusted by no key
    plain = maps.copy()
    fill_untrusted(plain, share, np.zeros(3, np.float32))
    for content, side in ((200.0, 1), (30.0, -1)):
        cell_luma = guide_luma.copy()
        cell_luma[:, 45:51] = content  # what the strip shows now (an uncovered wall, a dark object)
        filled = maps.copy()
        fill_untrusted(filled, share, np.zeros(3, np.float32), cell_luma, guide_luma)
        lean = (filled[:, 45:51] - plain[:, 45:51]) * side
        assert lean.min() > 0.3 and lean.mean() > 0.6, f"content at luma {content}"


def test_a_map_after_a_transform_is_their_composition():
    original = view(scene(), 0)
    small = cv2.resize(original, GRID, interpolation=cv2.INTER_AREA)
    local_map = affine.fit_local_affine(small, two_looks(small, 40))
    composed = affine.after(local_map, DUSK)
    expected = affine.apply_on_grid(local_map, apply_colour_transform(small, DUSK).astype(np.float32))
    unclipped = apply_colour_transform(small, DUSK).max() < 255  # uint8 rounding aside, exact
    assert unclipped and np.abs(affine.apply_on_grid(composed, small) - expected).max() < 2.0
