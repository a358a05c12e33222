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


# A camera frame as the page takes it: a VideoFrame of 4:2:0 planes, converted on the GPU, shrunk
# there to the planning grid, and applied from the same upload.
CAMERA_JS = """async ({planes, format, width, height, gridW, gridH}) => {
  const { AffineApplier } = await import('/affine_gl.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const gl = document.createElement('canvas').getContext('webgl2', { preserveDrawingBuffer: true });
  const applier = new AffineApplier(gl);
  const colorSpace = { matrix: 'smpte170m', primaries: 'smpte170m', transfer: 'smpte170m', fullRange: false };
  const layout = { format, codedWidth: width, codedHeight: height, timestamp: 0, colorSpace };
  const frame = new VideoFrame(bytes(planes), layout);
  const picture = await applier.uploadVideoFrame(frame);
  frame.close();
  const small = applier.shrink(gridW, gridH);
  applier.applyColourTransform(picture, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]);
  const text = (m) => {
    let s = '';
    for (let i = 0; i < m.length; i += 0x8000) s += String.fromCharCode(...m.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return { frame: text(applier.readFrame().data), small: text(small.data) };
}"""


def limited_range_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y and 2x2-averaged U, V planes of an RGB frame (a camera's 4:2:0)."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape
    sub = lambda p: p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))  # noqa: E731
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, sub(u), sub(v)))


def limited_range_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = y.shape
    up = lambda p: cv2.resize(p.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) - 128  # noqa: E731
    luma = (y.astype(np.float64) - 16) * 255 / 219
    cb, cr = up(u) * 255 / 224, up(v) * 255 / 224
    rgb = np.stack([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb], -1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.int32)


@pytest.mark.parametrize("layout", ["I420", "NV12"])
def test_a_camera_frame_is_converted_shrunk_and_rendered_on_the_gpu(page, layout):
    frame = scene(180, 320, seed=4)
    y, u, v = limited_range_planes(frame)
    chroma = np.concatenate([u.ravel(), v.ravel()]) if layout == "I420" else np.stack([u, v], -1).ravel()
    answer = page.evaluate(
        CAMERA_JS,
        {
            "planes": base64.b64encode(np.concatenate([y.ravel(), chroma]).tobytes()).decode(),
            "format": layout,
            "width": 320,
            "height": 180,
            "gridW": 96,
            "gridH": 54,
        },
    )
    shown = np.frombuffer(base64.b64decode(answer["frame"]), np.uint8).reshape(180, 320, 3)
    small = np.frombuffer(base64.b64decode(answer["small"]), np.uint8).reshape(54, 96, 3)
    # BT.601 limited range, the chroma brought up bilinearly (centred samples), to a level.
    assert np.abs(shown.astype(np.int32) - limited_range_rgb(y, u, v)).max() <= 1
    assert np.abs(shown.astype(np.int32) - frame).mean() < 6  # 4:2:0 loses a little colour detail
    # The planning grid is cv2.resize INTER_AREA of that very frame.
    assert np.abs(small.astype(np.int32) - cv2.resize(shown, (96, 54), interpolation=cv2.INTER_AREA)).max() <= 1
