"""The WebGL2 flow estimator (client/browser/flow_gl.js) in headless Chromium against flow.js and flow.py.

Both estimators run in the same page on the same prepared frames; the GPU's field must be the CPU's
within a small error, recover the same motion, and earn the same confidence. SwiftShader runs the
shaders on the CPU. Off CI a missing browser skips these tests (see test_affine_gl.py).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from services.interpolator import flow as flowlib
from tests.client.browser.test_affine_gl import page  # noqa: F401  (the Chromium page fixture)
from tests.client.browser.test_js_core import scene

RUN_JS = """async ({current, reference, width, height, longSide}) => {
  const flow = await import('/flow.js');
  const { FlowGL, softwareRenderer } = await import('/flow_gl.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const text = (array) => {
    const raw = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    let out = '';
    for (let i = 0; i < raw.length; i += 0x8000) out += String.fromCharCode(...raw.subarray(i, i + 0x8000));
    return btoa(out);
  };
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return { error: 'no WebGL2' };
  const mat = (b64) => ({ data: bytes(b64), width, height, channels: 3 });
  const cur = flow.prepare(mat(current), longSide);
  const ref = flow.prepare(mat(reference), longSide);
  const gpu = new FlowGL(gl);
  const cpuFlow = flow.estimateFlow(cur, ref);
  const gpuFlow = gpu.estimateFlow(cur, ref);
  const gpuConfidence = gpu.photometricConfidence(cur, ref, gpuFlow);
  // A flow the GPU did not make (uploaded), and a second estimate on the same objects.
  const givenConfidence = gpu.photometricConfidence(cur, ref, cpuFlow);
  const again = gpu.estimateFlow(cur, ref);
  return {
    software: softwareRenderer(gl),
    grid: [cur.gray.height, cur.gray.width],
    cpuFlow: text(cpuFlow.data),
    gpuFlow: text(gpuFlow.data),
    again: text(again.data),
    cpuConfidence: text(flow.photometricConfidence(cur, ref, cpuFlow).data),
    gpuConfidence: text(gpuConfidence.data),
    givenConfidence: text(givenConfidence.data),
  };
}"""


def run_both(page, current: np.ndarray, reference: np.ndarray, long_side: int = 160) -> dict:  # noqa: F811
    height, width = current.shape[:2]
    answer = page.evaluate(
        RUN_JS,
        {
            "current": base64.b64encode(current.tobytes()).decode(),
            "reference": base64.b64encode(reference.tobytes()).decode(),
            "width": width,
            "height": height,
            "longSide": long_side,
        },
    )
    assert "error" not in answer, answer
    gh, gw = answer["grid"]
    out = {"software": answer["software"]}
    for name in ("cpuFlow", "gpuFlow", "again"):
        out[name] = np.frombuffer(base64.b64decode(answer[name]), np.float32).reshape(gh, gw, 2)
    for name in ("cpuConfidence", "gpuConfidence", "givenConfidence"):
        out[name] = np.frombuffer(base64.b64decode(answer[name]), np.float32).reshape(gh, gw)
    return out


def moved(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """The image each pixel x of which is image(x + flow(x)): current(x) ~ reference(x + flow(x))."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


INNER = (slice(8, -8), slice(12, -12))


@pytest.mark.parametrize("shift", [4.0, 12.0])
def test_gpu_flow_recovers_a_shift_as_the_cpu_estimator_does(page, shift):  # noqa: F811
    current, reference = scene(180, 320), scene(180, 320, shift=shift, seed=1)
    out = run_both(page, current, reference)
    gpu, cpu = out["gpuFlow"], out["cpuFlow"]
    assert np.abs(gpu - cpu)[INNER].mean() < 0.05  # frame pixels
    assert np.abs(gpu[INNER] - (shift, 0.0)).mean() < 0.5
    np.testing.assert_array_equal(out["again"], gpu)  # buffers reused, same answer
    assert out["software"] is True  # SwiftShader is known for what it is
    # The confidence of the same flow is the CPU's; of the GPU's flow, near the CPU's.
    cur, ref = flowlib.prepare(current, 160), flowlib.prepare(reference, 160)
    python = flowlib.photometric_confidence(cur, ref, cpu)
    assert np.abs(out["givenConfidence"] - python).max() < 0.02
    assert np.abs(out["cpuConfidence"] - python).max() < 0.02
    assert abs(out["gpuConfidence"][INNER].mean() - out["cpuConfidence"][INNER].mean()) < 0.02


def test_gpu_flow_follows_a_moving_scene_as_the_cpu_estimator_does(page):  # noqa: F811
    """A smooth, non-uniform motion (a zoom with a swirl) on a 1280x720 frame, measured on a 320 grid."""
    height, width = 720, 1280
    reference = scene(height, width, seed=2)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = (xs - width / 2) / width, (ys - height / 2) / height
    truth = np.stack([40 * cx - 25 * cy, 22 * cy + 14 * cx], axis=-1).astype(np.float32)
    current = moved(reference, truth)
    out = run_both(page, current, reference, long_side=320)
    gpu, cpu = out["gpuFlow"], out["cpuFlow"]
    grid_truth = cv2.resize(truth, gpu.shape[1::-1], interpolation=cv2.INTER_AREA)
    inner = (slice(16, -16), slice(24, -24))
    assert np.abs(gpu - cpu)[inner].mean() < 0.1
    # Both find the motion (up to 20 frame pixels here) to within about a pixel.
    assert np.abs(gpu - grid_truth)[inner].mean() < 1.0
    assert np.abs(cpu - grid_truth)[inner].mean() < 1.0


PREPARE_JS = """async ({frame, width, height, longSide}) => {
  const { FlowGL } = await import('/flow_gl.js');
  const rgb = Uint8Array.from(atob(frame), (c) => c.charCodeAt(0));
  // The frame as a camera gives it: an RGBA picture, never a JS array.
  const rgba = new Uint8ClampedArray(width * height * 4).fill(255);
  for (let i = 0; i < width * height; i++) rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
  const bitmap = await createImageBitmap(new ImageData(rgba, width, height), { colorSpaceConversion: 'none' });
  const prepared = new FlowGL(document.createElement('canvas').getContext('webgl2')).prepare(bitmap, longSide);
  const text = (a) => {
    let s = '';
    for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return {
    size: [prepared.small.height, prepared.small.width, prepared.frameWidth, prepared.frameHeight],
    small: text(prepared.small.data),
    gray: text(prepared.gray.data),
  };
}"""


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (1000, 562), (200, 120)])
def test_gpu_prepares_a_picture_as_flow_py_does(page, width, height):  # noqa: F811
    """The area shrink of a picture on the GPU: flow.py's grid frame and grey within a level."""
    frame = scene(height, width, seed=3)
    answer = page.evaluate(
        PREPARE_JS,
        {"frame": base64.b64encode(frame.tobytes()).decode(), "width": width, "height": height, "longSide": 320},
    )
    python = flowlib.prepare(frame, 320)
    gh, gw, frame_width, frame_height = answer["size"]
    assert (gh, gw, frame_width, frame_height) == (*python.gray.shape, width, height)
    small = np.frombuffer(base64.b64decode(answer["small"]), np.uint8).reshape(gh, gw, 3)
    gray = np.frombuffer(base64.b64decode(answer["gray"]), np.uint8).reshape(gh, gw)
    assert np.abs(small.astype(np.int32) - python.small).max() <= 1
    assert np.abs(gray.astype(np.int32) - python.gray).max() <= 1
    assert (small == python.small).mean() > 0.99
