"""The WebGL2 full-size pass (client/browser/affine_gl.js) in headless Chromium against the Python core.

Chromium runs WebGL2 on SwiftShader (the CPU); the page's pixels are read back through the page,
not from screenshots. The modules are served to the page by request interception: no server, no network.
Off CI a missing browser skips these tests; on CI (CI=true) they fail instead.
"""

from __future__ import annotations

import base64
import os

import cv2
import numpy as np
import pytest

from benchmarks.browser import CHROMIUM, GL_ARGS, serve_modules
from services.interpolator import affine, core
from tests.client.browser.test_js_core import scene, stylize

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("chromium is not installed (make setup installs it)", allow_module_level=True)
sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright


# Decodes the inputs, runs the shader once, reads the pixels back (base64 in and out).
RUN_JS = """async ({mode, frame, width, height, coeffs, gridW, gridH, transform, small, asPicture}) => {
  const { AffineApplier } = await import('/affine_gl.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true });
  if (!gl) return { error: 'no WebGL2' };
  const applier = new AffineApplier(gl);
  let image = { data: bytes(frame), width, height, channels: 3 };
  if (asPicture) {
    // The frame as the page gets it from a camera: an RGBA picture, never a JS array.
    const rgba = new Uint8ClampedArray(width * height * 4).fill(255);
    for (let i = 0; i < width * height; i++) rgba.set(image.data.subarray(3 * i, 3 * i + 3), 4 * i);
    image = await createImageBitmap(new ImageData(rgba, width, height), { colorSpaceConversion: 'none' });
  }
  if (mode === 'detail') {
    const map = { data: new Float32Array(bytes(coeffs).buffer), width: gridW, height: gridH, channels: 12 };
    const grid = small && { data: bytes(small), width: gridW, height: gridH, channels: 3 };
    applier.applyDetail(map, image, grid);
  } else {
    applier.applyColourTransform(image, transform);
  }
  const out = applier.readFrame().data;
  let text = '';
  for (let i = 0; i < out.length; i += 0x8000) text += String.fromCharCode(...out.subarray(i, i + 0x8000));
  return { pixels: btoa(text), renderer: gl.getParameter(gl.RENDERER) };
}"""


@pytest.fixture(scope="module")
def page():
    assert CHROMIUM is not None, "chromium is required on CI"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=GL_ARGS, headless=True)
        try:
            page = browser.new_page()

            serve_modules(page, "core")
            yield page
        finally:
            browser.close()


def run_shader(page, frame: np.ndarray, **inputs) -> np.ndarray:
    height, width = frame.shape[:2]
    answer = page.evaluate(
        RUN_JS,
        {
            "frame": base64.b64encode(frame.tobytes()).decode(),
            "width": width,
            "height": height,
            "coeffs": None,
            "gridW": 0,
            "gridH": 0,
            "transform": None,
            "small": None,
            "asPicture": False,
            **inputs,
        },
    )
    assert "error" not in answer, answer
    return np.frombuffer(base64.b64decode(answer["pixels"]), np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize("as_picture", [False, True], ids=["array", "image-bitmap"])
def test_shader_applies_maps_with_the_frames_detail_within_two_grey_levels(page, as_picture):
    grid_original = scene(90, 160)
    coeffs = affine.fit_local_affine(grid_original, stylize(grid_original))
    frame = scene(360, 640, shift=3)
    small = cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA)
    gpu = run_shader(
        page,
        frame,
        mode="detail",
        coeffs=base64.b64encode(np.ascontiguousarray(coeffs, np.float32).tobytes()).decode(),
        gridW=160,
        gridH=90,
        small=base64.b64encode(small.tobytes()).decode() if as_picture else None,
        asPicture=as_picture,
    )
    python = affine.apply_detail(coeffs, frame)
    gap = np.abs(gpu.astype(np.int32) - python.astype(np.int32))
    assert gap.max() <= 2
    # Mostly identical (the reference's fixed point differs from float by a fraction of a level),
    # and the output is the styled frame, not the frame itself.
    assert (gap == 0).mean() > 0.9
    assert np.abs(gpu.astype(np.int32) - frame).mean() > 5


def test_shader_applies_a_global_transform_within_one_grey_level(page):
    frame = scene(120, 200, seed=2)
    transform = core.fit_colour_transform(cv2.resize(frame, (100, 60)), stylize(cv2.resize(frame, (100, 60))))
    gpu = run_shader(page, frame, mode="transform", transform=transform.tolist())
    assert np.abs(gpu.astype(np.int32) - core.apply_colour_transform(frame, transform)).max() <= 1


# Camera frames as the page takes them: VideoFrames of 4:2:0 planes, whose planes are uploaded as
# they are and converted by each pass that reads them. `frames` are run in order, each uploaded,
# then shrunk to the planning grid without waiting (shrinkLater); each is rendered after the next
# one's upload (as the page's camera loop does), under `coeffs` (a grid map, with mapSmall: the frame
# at the map's size) or else the identity.
CAMERA_JS = """async ({frames, format, matrix, width, height, gridW, gridH, coeffs, mapW, mapH, mapSmall}) => {
  const { AffineApplier } = await import('/affine_gl.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const gl = document.createElement('canvas').getContext('webgl2', { preserveDrawingBuffer: true });
  const applier = new AffineApplier(gl);
  const colorSpace = { matrix, primaries: matrix, transfer: matrix, fullRange: false };
  const text = (m) => {
    let s = '';
    for (let i = 0; i < m.length; i += 0x8000) s += String.fromCharCode(...m.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const map = coeffs && { data: new Float32Array(bytes(coeffs).buffer), width: mapW, height: mapH, channels: 12 };
  const out = [];
  let before = null;
  for (const planes of [...frames, null]) {
    let begun = null;
    if (planes) {
      const layout = { format, codedWidth: width, codedHeight: height, timestamp: 0, colorSpace };
      const frame = new VideoFrame(bytes(planes), layout);
      const picture = await applier.uploadVideoFrame(frame);
      frame.close();
      begun = { picture, small: applier.shrinkLater(gridW, gridH, picture) };
    }
    if (before) {
      const small = before.small.read();
      const grid = map && { data: bytes(mapSmall), width: mapW, height: mapH, channels: 3 };
      if (map) applier.applyDetail(map, before.picture, grid);
      else applier.applyColourTransform(before.picture, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]);
      out.push({ frame: text(applier.readFrame().data), small: text(small.data) });
    }
    before = begun;
  }
  return out;
}"""

# Y'CbCr of BT.601 (smpte170m) and BT.709: (kr, kb).
LUMA_WEIGHTS = {"smpte170m": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def limited_range_planes(rgb: np.ndarray, matrix: str = "smpte170m") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Limited-range Y and 2x2-averaged U, V planes of an RGB frame (a camera's 4:2:0)."""
    kr, kb = LUMA_WEIGHTS[matrix]
    r, g, b = (rgb[..., c].astype(np.float64) / 255 for c in range(3))
    luma = kr * r + (1 - kr - kb) * g + kb * b
    y = 16 + 219 * luma
    u = 128 + 224 * (b - luma) / (2 * (1 - kb))
    v = 128 + 224 * (r - luma) / (2 * (1 - kr))
    h, w = y.shape
    sub = lambda p: p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, sub(u), sub(v)))


def to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, matrix: str) -> np.ndarray:
    """Limited-range Y'CbCr (levels, chroma centred on 0) to RGB levels, unclipped."""
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1 - kr - kb
    luma = (y - 16) * 255 / 219
    cb, cr = cb * 255 / 224, cr * 255 / 224
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    return np.stack([r, luma - (2 * (1 - kb) * kb * cb + 2 * (1 - kr) * kr * cr) / kg, b], -1)


def limited_range_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "smpte170m") -> np.ndarray:
    """The planes as RGB levels, the chroma brought up bilinearly (centred samples)."""
    h, w = y.shape
    up = lambda p: cv2.resize(p.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) - 128  # noqa: E731
    rgb = to_rgb(y.astype(np.float64), up(u), up(v), matrix)
    return np.clip(np.rint(rgb), 0, 255).astype(np.int32)


def area_of_planes(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, size: tuple[int, int], matrix: str = "smpte170m"
) -> np.ndarray:
    """The planes' own area means at `size` (luma at full size, chroma at half), then RGB."""
    area = lambda p: cv2.resize(p.astype(np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float64)  # noqa: E731
    rgb = to_rgb(area(y), area(u) - 128, area(v) - 128, matrix)
    return np.clip(np.rint(rgb), 0, 255).astype(np.int32)


def run_camera(
    page, frames: list[np.ndarray], layout: str, matrix: str, grid: tuple[int, int], coeffs=None, map_small=None
) -> list[dict]:
    """CAMERA_JS on these RGB frames' planes: [{frame (shown), small (the planning grid)}] in order."""
    height, width = frames[0].shape[:2]
    b64 = lambda array: base64.b64encode(array.tobytes()).decode()  # noqa: E731
    encoded = []
    for rgb in frames:
        y, u, v = limited_range_planes(rgb, matrix)
        chroma = np.concatenate([u.ravel(), v.ravel()]) if layout == "I420" else np.stack([u, v], -1).ravel()
        encoded.append(b64(np.concatenate([y.ravel(), chroma])))
    answer = page.evaluate(
        CAMERA_JS,
        {
            "frames": encoded,
            "format": layout,
            "matrix": matrix,
            "width": width,
            "height": height,
            "gridW": grid[0],
            "gridH": grid[1],
            "coeffs": None if coeffs is None else b64(np.ascontiguousarray(coeffs, np.float32)),
            "mapW": 0 if coeffs is None else coeffs.shape[1],
            "mapH": 0 if coeffs is None else coeffs.shape[0],
            "mapSmall": None if map_small is None else b64(map_small),
        },
    )
    decode = lambda b64, h, w: np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 3).astype(np.int32)  # noqa: E731
    return [{"frame": decode(a["frame"], height, width), "small": decode(a["small"], grid[1], grid[0])} for a in answer]


@pytest.mark.parametrize("layout", ["I420", "NV12"])
def test_camera_frames_are_converted_shrunk_and_rendered_on_the_gpu_each_as_itself(page, layout):
    frames = [scene(180, 320, seed=4), scene(180, 320, seed=5, shift=7)]
    shown = run_camera(page, frames, layout, "smpte170m", (96, 54))
    assert len(shown) == 2
    for rgb, out in zip(frames, shown, strict=True):
        y, u, v = limited_range_planes(rgb)
        # BT.601 limited range, the chroma brought up bilinearly (centred samples), to a level:
        # each frame rendered after the next one's upload is still itself.
        assert np.abs(out["frame"] - limited_range_rgb(y, u, v)).max() <= 1
        assert np.abs(out["frame"] - rgb).mean() < 6  # 4:2:0 loses a little colour detail
        # The planning grid: the planes' area means, converted; and so close to cv2.resize
        # INTER_AREA of the frame shown (it differs where the chroma changes within a cell).
        assert np.abs(out["small"] - area_of_planes(y, u, v, (96, 54))).max() <= 1
        converted_area = cv2.resize(out["frame"].astype(np.uint8), (96, 54), interpolation=cv2.INTER_AREA)
        assert np.abs(out["small"] - converted_area).mean() < 2
    assert np.abs(shown[0]["frame"] - shown[1]["frame"]).mean() > 10  # two different frames


@pytest.mark.parametrize("matrix", ["smpte170m", "bt709"])
def test_a_camera_frame_under_a_map_is_the_python_map_of_its_planes(page, matrix):
    rgb = scene(180, 320, seed=6)
    y, u, v = limited_range_planes(rgb, matrix)
    converted = limited_range_rgb(y, u, v, matrix).astype(np.uint8)
    small = cv2.resize(converted, (80, 45), interpolation=cv2.INTER_AREA)
    coeffs = affine.fit_local_affine(small, stylize(small))
    gpu = run_camera(page, [rgb], "I420", matrix, (96, 54), coeffs=coeffs, map_small=small)[0]["frame"]
    if matrix == "bt709":
        # The map's detail is the grey of the frame's RGB levels, as for an RGB frame.
        python = affine.apply_detail(coeffs, converted, small)
    else:
        # BT.601's luma weights are the grey's: the grey is read from the luma plane alone, without
        # the RGB levels' rounding (so within a level of theirs) and without their clipping.
        grey = np.clip(np.floor((y.astype(np.float64) - 16) * 255 / 219 + 0.5), 0, 255).astype(np.uint8)
        unclipped = ((converted > 0) & (converted < 255)).all(axis=-1)
        grey_of_rgb = cv2.cvtColor(converted, cv2.COLOR_RGB2GRAY).astype(np.int32)
        assert np.abs(grey.astype(np.int32) - grey_of_rgb)[unclipped].max() <= 1
        offsets, gains = affine._offsets_and_gains(coeffs, converted, small)
        grey3 = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        python = affine._offset_plus_gain_times(cv2.merge(offsets), cv2.merge(gains), grey3, (320, 180))
    gap = np.abs(gpu - python.astype(np.int32))
    assert gap.max() <= 2
    assert (gap == 0).mean() > 0.9
    assert np.abs(gpu - converted).mean() > 5  # the styled frame, not the frame itself


def test_the_grey_of_a_bt601_frame_needs_no_chroma_and_a_bt709_frames_does(page):
    answer = page.evaluate(
        """async () => { const { greyOfLuma, yuvToRgb } = await import('/affine_gl.js');
        return ['smpte170m', 'bt470bg', 'bt709', 'bt2020-ncl'].map((matrix) =>
          greyOfLuma(...yuvToRgb({ matrix, fullRange: false }))); }"""
    )
    bt601, bt470bg, bt709, bt2020 = answer
    assert bt709 is None and bt2020 is None
    assert bt601 == bt470bg
    # Limited range: luma 16 is grey level 0, luma 235 is grey level 255.
    scale, offset = bt601
    assert abs(16 / 255 * scale + offset) < 0.01 and abs(235 / 255 * scale + offset - 255) < 0.01
