"""The JS device core (client/browser/*.js, run under node) against the Python core on the same inputs.

Colour maps fitted, moved along a given flow, blended and applied must agree with services/interpolator
and client/device/keyframes.py: the applied output at most 2 grey levels apart, the intermediate maps
far closer. Inputs are synthetic, made here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from client.device import keyframes
from mvstylizer_common.boxfilter import box_mean_plane
from services.interpolator import affine, closed_form, core
from services.interpolator import flow as flowlib
from tests.client.browser.jsbridge import call_js, require_node

pytestmark = pytest.mark.usefixtures("node")

# The bar for anything the user sees: frames at most this many grey levels apart.
GREY_LEVELS = 2


@pytest.fixture(scope="module")
def node():
    require_node()


def scene(height: int, width: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """Textured RGB content (waves, a ramp, a checkerboard, noise) moved `shift` pixels right."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs = (xs - shift) * (320 / width)
    ys = ys * (180 / height)
    image = np.stack(
        [
            128 + 100 * np.sin(xs / 37.0) * np.cos(ys / 23.0),
            60 + 0.5 * xs + 40 * np.sin(ys / 11.0),
            60 + 120 * ((xs // 40 + ys // 30) % 2),
        ],
        axis=-1,
    )
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def stylize(rgb: np.ndarray) -> np.ndarray:
    """A look that changes across the frame (so local maps differ from the global one), with a curve."""
    width = rgb.shape[1]
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    mix = np.array([[0.8, 0.1, 0.2], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]], np.float32)
    out = (rgb.astype(np.float32) @ mix.T) * (0.7 + 0.5 * ramp) + 30 * ramp
    return np.clip(255 * (np.clip(out, 0, None) / 255) ** 0.8, 0, 255).astype(np.uint8)


def stats_js(stats: closed_form.ColourStats) -> dict:
    return {"mean": stats[0].tolist(), "cov": stats[1].tolist()}


def key_js(key: core.HeldKey) -> dict:
    """A HeldKey as core.js holds it."""
    return {
        "index": key.index,
        "original": key.original,
        "localMap": key.local_map,
        "transform": key.transform.tolist(),
        "guideLuma": key.guide_luma,
        "contentStats": stats_js(key.content_stats),
    }


def link_js(link: core.FlowToKey) -> dict:
    return {"key": key_js(link.key), "flow": link.flow, "confidence": link.confidence}


def grey_levels(python: np.ndarray, js: np.ndarray) -> int:
    return int(np.abs(python.astype(np.int32) - js.reshape(python.shape).astype(np.int32)).max())


# --- OpenCV's operations, as cv.js writes them ---------------------------------------------------
@pytest.mark.parametrize("size", [(160, 90), (80, 45), (77, 43), (128, 72), (33, 20)])
def test_area_resize_matches_opencv(size):
    frame = scene(180, 320)
    python = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    assert grey_levels(python, call_js("cv.js", "resizeArea", frame, *size)) <= 1


def test_colour_conversions_match_opencv_exactly():
    frame = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    assert grey_levels(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), call_js("cv.js", "rgbToGray", frame)) == 0
    assert grey_levels(cv2.cvtColor(frame, cv2.COLOR_RGB2HSV), call_js("cv.js", "rgbToHsv", frame)) == 0


def test_float_filters_and_resizes_match_opencv():
    rng = np.random.default_rng(4)
    planes = rng.normal(0, 50, (45, 80, 5)).astype(np.float32)
    pairs = [
        (cv2.resize(planes, (203, 117), interpolation=cv2.INTER_LINEAR), ("resizeLinear", planes, 203, 117)),
        (cv2.GaussianBlur(planes[..., 0], (0, 0), 1.7), ("gaussianBlur", planes[..., 0], 1.7)),
        (cv2.blur(planes, (5, 5), borderType=cv2.BORDER_REPLICATE), ("boxBlur", planes, 5, 5, "replicate")),
        (cv2.blur(planes[..., 0], (3, 3)), ("boxBlur", planes[..., 0], 3, 3)),
    ]
    for python, (function, *args) in pairs:
        np.testing.assert_allclose(call_js("cv.js", function, *args).reshape(python.shape), python, atol=1e-3)


def test_box_means_with_shrinking_windows_match():
    plane = np.random.default_rng(5).normal(0, 1, (31, 47)).astype(np.float32)
    js = call_js("cv.js", "boxMeanPlane", plane.ravel(), 31, 47, 3)
    np.testing.assert_allclose(js.reshape(31, 47), box_mean_plane(plane.copy(), 3), atol=1e-5)


# --- closed_form.py ----------------------------------------------------------------------------
def test_closed_form_matches():
    content, style = scene(180, 320), stylize(scene(120, 160, seed=1))
    content_stats, style_stats = closed_form.content_statistics(content), closed_form.colour_statistics(style)
    js_stats = call_js("closed_form.js", "contentStatistics", content)
    np.testing.assert_allclose(js_stats["mean"], content_stats[0], atol=1e-9)
    np.testing.assert_allclose(js_stats["cov"], content_stats[1], atol=1e-9)
    transfer = closed_form.linear_transfer(content_stats, style_stats)
    js_transfer = call_js("closed_form.js", "linearTransfer", stats_js(content_stats), stats_js(style_stats))
    np.testing.assert_allclose(js_transfer, transfer, atol=1e-5)
    np.testing.assert_allclose(
        call_js("closed_form.js", "transferTransform", content, stats_js(style_stats)),
        closed_form.transfer_transform(content, style_stats),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        call_js("closed_form.js", "atStrength", transfer.tolist(), 0.4), closed_form.at_strength(transfer, 0.4)
    )
    other = closed_form.adaptation(style_stats, content_stats)
    np.testing.assert_allclose(
        call_js("closed_form.js", "compose", transfer.tolist(), other.tolist()),
        closed_form.compose(transfer, other),
        atol=1e-6,
    )
    looked = core.apply_colour_transform(content, transfer)
    assert grey_levels(looked, call_js("core.js", "applyColourTransform", content, transfer.tolist())) <= 1


# --- affine.py -----------------------------------------------------------------------------------
def test_the_stylizers_look_from_its_answers_matches():
    rng = np.random.default_rng(5)
    style = closed_form.colour_statistics(scene(60, 90, seed=3))
    # Answers that agree on a darker red (kept) and scatter in green and blue (the photo's kept).
    looks = []
    for k in range(5):
        mean = style[0] + np.array([-0.05, 0.0, 0.0]) + rng.normal(0, 0.01, 3)
        looks.append((mean, style[1] * (1.0 + 0.1 * k)))
    python = closed_form.stylizer_look(style, looks)
    assert python[0][0] < style[0][0] - 0.04 and np.abs(python[0][1:] - style[0][1:]).max() < 0.01
    js = call_js("closed_form.js", "stylizerLook", stats_js(style), [stats_js(look) for look in looks])
    np.testing.assert_allclose(js["mean"], python[0], atol=1e-9)
    np.testing.assert_allclose(js["cov"], python[1], atol=1e-9)


def test_fitted_local_maps_match():
    original = scene(90, 160)
    stylized = stylize(original)
    prior = core.fit_colour_transform(original, stylized)
    np.testing.assert_allclose(call_js("core.js", "fitColourTransform", original, stylized), prior, atol=1e-3)
    python = affine.fit_local_affine(original, stylized, radius=3, prior=prior)
    js = call_js("affine.js", "fitLocalAffine", original, stylized, 3, affine.DEFAULT_EPS, prior.tolist())
    assert js.shape == python.shape
    # Gains within a few thousandths; and what matters, the colours they make, within a tenth of a level.
    np.testing.assert_allclose(js, python, atol=0.05)
    assert np.abs(affine.apply_on_grid(js, original) - affine.apply_on_grid(python, original)).max() < 0.1


def test_global_map_and_composition_match():
    coeffs = affine.fit_local_affine(scene(45, 80), stylize(scene(45, 80)))
    transform = np.array([[0.9, 0.1, 0.0, 0.05], [0.0, 1.1, 0.05, -0.02], [0.1, 0.0, 0.8, 0.1]], np.float32)
    np.testing.assert_allclose(
        call_js("affine.js", "globalMapCoeffs", transform.tolist()).ravel(),
        affine.global_map_coeffs(transform).ravel(),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        call_js("affine.js", "after", coeffs, transform.tolist()), affine.after(coeffs, transform), atol=1e-3
    )


def test_maps_applied_at_full_size_with_the_frames_detail_within_two_levels():
    grid_original = scene(90, 160)
    coeffs = affine.fit_local_affine(grid_original, stylize(grid_original))
    frame = scene(360, 640, shift=3)
    assert grey_levels(affine.apply_detail(coeffs, frame), call_js("affine.js", "applyDetail", coeffs, frame)) <= 1
    assert grey_levels(affine.apply_full(coeffs, frame), call_js("affine.js", "applyFull", coeffs, frame)) <= 1


# --- core.py -------------------------------------------------------------------------------------
WIDTH, HEIGHT, GRID = 640, 360, (160, 90)


@pytest.fixture(scope="module")
def keys():
    first, second = scene(HEIGHT, WIDTH), scene(HEIGHT, WIDTH, shift=24)
    return core.prepare_key(0, first, stylize(first), GRID), core.prepare_key(8, second, stylize(second), GRID)


def given_flow(sign: float = 1.0) -> np.ndarray:
    """A smooth, varied flow (frame pixels) on a coarser grid than the maps'."""
    ys, xs = np.mgrid[0:45, 0:80].astype(np.float32)
    return (sign * np.stack([10 + 6 * np.sin(xs / 9), -4 + 5 * np.cos(ys / 7)], axis=-1)).astype(np.float32)


def given_confidences() -> tuple[np.ndarray, np.ndarray]:
    """Confidences with regions neither key trusts, so the fill of untrusted cells takes part."""
    ys, xs = np.mgrid[0:45, 0:80].astype(np.float32)
    prev = np.clip(0.5 + 0.5 * np.sin(xs / 5) * np.cos(ys / 4), 0, 1).astype(np.float32)
    prev[10:30, 20:50] = 0.0
    next_ = np.clip(1.1 - prev, 0, 1).astype(np.float32)
    next_[12:25, 25:45] = 0.0
    return prev, next_


def test_prepared_key_matches(keys):
    original = keys[0].original
    js = call_js("core.js", "prepareKey", 0, original, stylize(original), list(GRID))
    python = keys[0]
    np.testing.assert_allclose(js["transform"], python.transform, atol=1e-3)
    np.testing.assert_allclose(js["guideLuma"][..., 0], python.guide_luma, atol=1e-3)
    np.testing.assert_allclose(js["contentStats"]["cov"], python.content_stats[1], atol=1e-9)
    np.testing.assert_allclose(js["lookStats"]["mean"], python.look_stats[0], atol=1e-9)
    np.testing.assert_allclose(js["lookStats"]["cov"], python.look_stats[1], atol=1e-9)
    small = cv2.resize(original, GRID, interpolation=cv2.INTER_AREA)
    gap = np.abs(affine.apply_on_grid(js["localMap"], small) - affine.apply_on_grid(python.local_map, small))
    assert gap.max() < 0.1


def test_map_moved_along_a_given_flow_matches(keys):
    flow = given_flow()
    python = core.warp_map(keys[0].local_map, flow, WIDTH, HEIGHT)
    np.testing.assert_allclose(call_js("core.js", "warpMap", keys[0].local_map, flow, WIDTH, HEIGHT), python, atol=1e-3)


def test_key_weights_match():
    prev, next_ = given_confidences()
    js = call_js("core.js", "keyWeight", prev.ravel(), next_.ravel())
    np.testing.assert_allclose(js.reshape(prev.shape), core.key_weight(prev, next_), atol=1e-6)


@pytest.mark.parametrize(
    ("two_keys", "guided"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["one", "two", "one-guided", "two-guided"],
)
def test_blended_maps_match(keys, two_keys, guided):
    conf_prev, conf_next = given_confidences()
    prev = core.FlowToKey(keys[0], given_flow(), conf_prev)
    next_ = core.FlowToKey(keys[1], given_flow(-1.0), conf_next) if two_keys else None
    current = scene(HEIGHT, WIDTH, shift=10)
    small = cv2.resize(current, GRID, interpolation=cv2.INTER_AREA) if guided else None
    # The case is one where some cells are untrusted: the fill takes part.
    trust = core._confidence_on_grid(prev, *GRID)
    if next_ is not None:
        trust = np.maximum(trust, core._confidence_on_grid(next_, *GRID))
    assert (trust < core.FALLBACK_BELOW).any()

    # The frame's colours go through an adaptation first (as the session's): the cells kept above
    # black are judged on the colours the maps will see.
    adapted = closed_form.adaptation(closed_form.content_statistics(current), keys[0].content_stats)
    python = core.blend_maps(3, prev, next_, WIDTH, HEIGHT, small, adapted)
    js = call_js(
        "core.js",
        "blendMaps",
        3,
        link_js(prev),
        None if next_ is None else link_js(next_),
        WIDTH,
        HEIGHT,
        small,
        adapted.tolist(),
    )
    assert js.shape == python.shape
    np.testing.assert_allclose(js, python, atol=1e-3)


@pytest.mark.parametrize("guided", [False, True], ids=["plain", "by-brightness"])
def test_fill_of_untrusted_cells_matches(guided):
    rng = np.random.default_rng(6)
    blended = rng.normal(0, 1, (90, 160, 13)).astype(np.float32)
    share = np.zeros((90, 160), np.float32)
    share[20:60, 30:90] = 1.0
    share[60:70, 30:90] = 0.5
    fallback = rng.normal(0, 1, 13).astype(np.float32)
    # Brightness: a dark left part and a bright right one, each cell's map fitted on a little less.
    cell_luma = np.where(np.arange(160) < 60, 40.0, 200.0).astype(np.float32)[None, :].repeat(90, 0)
    lumas = (cell_luma, np.clip(cell_luma - 10, 0, 255)) if guided else ()
    python = blended.copy()
    core.fill_untrusted(python, share, fallback, *lumas)
    returned, (js,) = call_js(
        "core.js", "fillUntrusted", blended, share.ravel(), fallback, *[x.ravel() for x in lumas], inplace=(0,)
    )
    assert returned is None
    assert not np.allclose(python, blended)  # it filled something
    np.testing.assert_allclose(js, python, atol=1e-3)


@pytest.mark.parametrize("adapted", [False, True], ids=["as-is", "adapted"])
def test_untrusted_cells_kept_above_black_match(adapted):
    """Maps that send their cells' colours below black (and some that do not), half of them untrusted."""
    rng = np.random.default_rng(8)
    blended = rng.normal(0, 0.6, (90, 160, 13)).astype(np.float32)
    blended[..., [0, 5, 10]] += 1.0
    blended[..., [3, 7, 11]] = rng.normal(-20, 40, (90, 160, 3))
    share = np.zeros((90, 160), np.float32)
    share[20:60, 30:90] = 1.0
    share[60:70, 30:90] = 0.4
    small = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    transform = np.array([[0.9, 0.1, 0.0, 0.02], [0.0, 1.1, 0.0, -0.03], [0.05, 0.0, 0.8, 0.01]], np.float32)
    extra = [transform] if adapted else []
    python = blended.copy()
    core.keep_above_black(python, share, small, *extra)
    mapped = affine.apply_on_grid(python[..., :12], small)
    assert not np.allclose(python, blended)  # some cells were below black
    assert np.array_equal(python[share == 0], blended[share == 0])  # trusted cells are left alone
    returned, (js,) = call_js(
        "core.js", "keepAboveBlack", blended, share.ravel(), small, *[t.tolist() for t in extra], inplace=(0,)
    )
    assert returned is None
    np.testing.assert_allclose(js, python, atol=2e-3)
    if not adapted:  # fully untrusted cells now take their colour no lower than black's grey
        lumas = mapped[share == 1] @ affine.LUMA_WEIGHTS
        assert (mapped[share == 1].min(-1) >= np.minimum(lumas, 0) - 0.05).all()


def test_synthesized_frame_within_two_grey_levels(keys):
    conf_prev, conf_next = given_confidences()
    prev = core.FlowToKey(keys[0], given_flow(), conf_prev)
    next_ = core.FlowToKey(keys[1], given_flow(-1.0), conf_next)
    current = scene(HEIGHT, WIDTH, shift=10)
    python = core.synthesize_frame(3, prev, next_, current)
    js = call_js("core.js", "synthesizeFrame", 3, link_js(prev), link_js(next_), current)
    assert grey_levels(python, js) <= GREY_LEVELS
    key_frame = core.key_output(keys[0])
    assert grey_levels(key_frame, call_js("core.js", "keyOutput", key_js(keys[0]))) <= GREY_LEVELS


# --- flow.py and keyframes.py ----------------------------------------------------------------------
def flow_frame_js(frame: flowlib.FlowFrame) -> dict:
    return {
        "gray": frame.gray,
        "frameWidth": frame.frame_width,
        "frameHeight": frame.frame_height,
        "small": frame.small,
    }


def test_photometric_confidence_of_a_given_flow_matches():
    current, reference = flowlib.prepare(scene(180, 320), 160), flowlib.prepare(scene(180, 320, shift=7.5), 160)
    flow = flowlib.estimate_flow(current, reference)
    python = flowlib.photometric_confidence(current, reference, flow)
    js = call_js("flow.js", "photometricConfidence", flow_frame_js(current), flow_frame_js(reference), flow)
    np.testing.assert_allclose(js[..., 0], python, atol=0.01)
    prepared = call_js("flow.js", "prepare", scene(180, 320), 160)
    assert grey_levels(current.gray, prepared["gray"]) == 0


@pytest.mark.parametrize("shift", [4.0, 12.0])
def test_flow_recovers_a_shift_as_dis_does(shift):
    """flow.js is not DIS (no browser build of it): it must find the same motion, not the same field."""
    current = flowlib.prepare(scene(180, 320), 160)
    reference = flowlib.prepare(scene(180, 320, shift=shift, seed=1), 160)
    dis = flowlib.estimate_flow(current, reference)
    js = call_js("flow.js", "estimateFlow", flow_frame_js(current), flow_frame_js(reference))
    inner = (slice(8, -8), slice(12, -12))
    assert np.abs(np.median(js[inner], axis=(0, 1)) - np.median(dis[inner], axis=(0, 1))).max() < 0.5
    assert np.abs(js[inner] - (shift, 0.0)).mean() < 0.5  # frame pixels
    # And the confidence it earns is close to DIS's.
    own = flowlib.photometric_confidence(current, reference, js)
    assert own[inner].mean() > flowlib.photometric_confidence(current, reference, dis)[inner].mean() - 0.05


def decisions(policy: str, frames: list[np.ndarray], **options) -> tuple[list, list]:
    if policy == "fixed":
        selector, args = keyframes.FixedIntervalSelector(options["interval"]), [options["interval"]]
        name = "FixedIntervalSelector"
    else:
        selector, args = keyframes.AdaptiveSelector(max_gap=options["max_gap"]), [{"maxGap": options["max_gap"]}]
        name = "AdaptiveSelector"
    python = [(d.is_key, d.cut, d.reason) for d in (selector.decide(i, f) for i, f in enumerate(frames))]
    js = call_js("keyframes.js", name, *args, steps=[("decide", [i, f]) for i, f in enumerate(frames)])
    return python, [(d["isKey"], d["cut"], d["reason"]) for d in js]


@pytest.fixture(scope="module")
def shots() -> list[np.ndarray]:
    """Small moves, a jump, a cut (another picture), back, larger moves, then a still stretch."""
    frames = [scene(180, 320, shift=s, seed=s) for s in (0, 1, 2, 3, 30, 31, 32, 70, 72, 74)]
    cut = np.zeros_like(frames[0])
    cut[..., 2] = 200
    cut[::2] = 255 - cut[::2]
    return [*frames[:5], cut, *frames[5:], *[frames[0]] * 5]


@pytest.mark.parametrize(("policy", "options"), [("fixed", {"interval": 4}), ("auto", {"max_gap": 6})])
def test_key_frame_decisions_match(shots, policy, options):
    python, js = decisions(policy, shots, **options)
    assert {reason for _, _, reason in python} >= (
        {"cut", "interval"} if policy == "fixed" else {"cut", "motion", "first"}
    )
    assert js == python


def test_bad_flow_grid_is_a_clear_error():
    with pytest.raises(AssertionError, match="long side must be a whole number"):
        call_js("flow.js", "prepare", scene(18, 32), 0)
