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
