"""The WebGL2 blend (client/browser/core_gl.js) in headless Chromium against the Python core.

The keys' maps moved along given flows, weighted by their smoothed confidences and blended on the
GPU, with the untrusted cells filled on the CPU, must be core.blend_maps's maps; the frame made from
them by affine_gl.js within 2 grey levels of core.synthesize_frame. SwiftShader runs the shaders on
the CPU. Off CI a missing browser skips these tests (see test_affine_gl.py).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from services.interpolator import closed_form, core
from tests.client.browser.test_affine_gl import page  # noqa: F401  (the Chromium page fixture)
from tests.client.browser.test_js_core import (
    GREY_LEVELS,
    GRID,
    HEIGHT,
    WIDTH,
    given_confidences,
    given_flow,
    grey_levels,
    scene,
    stylize,
)

RUN_JS = """async ({arrays, links, index, width, height, guided, adapted}) => {
  const { CoreGL } = await import('/core_gl.js');
  const { AffineApplier } = await import('/affine_gl.js');
  const core = await import('/core.js');
  const TYPES = { float32: Float32Array, uint8: Uint8Array };
  const decode = ({ b64, dtype, shape }) => {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const [h, w, c = 1] = shape;
    return { data: new TYPES[dtype](raw.buffer), height: h, width: w, channels: c };
  };
  const text = (array) => {
    const raw = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    let out = '';
    for (let i = 0; i < raw.length; i += 0x8000) out += String.fromCharCode(...raw.subarray(i, i + 0x8000));
    return btoa(out);
  };
  const m = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, decode(v)]));
  const link = (l) => l && {
    key: {
      index: l.index, original: m[`original${l.index}`], localMap: m[`map${l.index}`],
      transform: l.transform, guideLuma: m[`luma${l.index}`],
    },
    flow: m[l.flow],
    confidence: m[l.confidence],
  };
  const [prev, next] = links.map(link);
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true });
  if (!gl) return { error: 'no WebGL2' };
  const small = guided ? m.small : null;
  const coreGl = new CoreGL(gl);
  const gpu = coreGl.blendMaps(index, prev, next, width, height, small, adapted);
  const again = coreGl.blendMaps(index, prev, next, width, height, small, adapted);  // the keys' textures kept
  const cpu = core.blendMaps(index, prev, next, width, height, small, adapted);
  const applier = new AffineApplier(gl);
  applier.applyDetail(gpu, m.current, m.small);
  return {
    shape: [gpu.height, gpu.width, gpu.channels],
    gpu: text(gpu.data), again: text(again.data), cpu: text(cpu.data), frame: text(applier.readFrame().data),
  };
}"""


def encode(array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array)
    return {"b64": base64.b64encode(array.tobytes()).decode(), "dtype": str(array.dtype), "shape": list(array.shape)}


@pytest.fixture(scope="module")
def keys():
    first, second = scene(HEIGHT, WIDTH), scene(HEIGHT, WIDTH, shift=24)
    return core.prepare_key(0, first, stylize(first), GRID), core.prepare_key(8, second, stylize(second), GRID)


def adapted(current: np.ndarray, key: core.HeldKey) -> np.ndarray:
    """The adaptation the session gives the frame's colours before the maps (the cells kept above
    black are judged on the colours the maps will see)."""
    return closed_form.adaptation(closed_form.content_statistics(current), key.content_stats)


def run_gpu(page, keys, two_keys: bool, guided: bool):  # noqa: F811
    conf_prev, conf_next = given_confidences()
    current = scene(HEIGHT, WIDTH, shift=10)
    small = cv2.resize(current, GRID, interpolation=cv2.INTER_AREA)
    arrays = {
        "flowPrev": given_flow(),
        "flowNext": given_flow(-1.0),
        "confPrev": conf_prev,
        "confNext": conf_next,
        "current": current,
        "small": small,
    }
    for key in keys:
        arrays[f"original{key.index}"] = key.original
        arrays[f"map{key.index}"] = key.local_map.astype(np.float32)
        arrays[f"luma{key.index}"] = key.guide_luma.astype(np.float32)
    links = [{"index": 0, "transform": keys[0].transform.tolist(), "flow": "flowPrev", "confidence": "confPrev"}]
    if two_keys:
        links.append(
            {"index": 8, "transform": keys[1].transform.tolist(), "flow": "flowNext", "confidence": "confNext"}
        )
    else:
        links.append(None)
    answer = page.evaluate(
        RUN_JS,
        {
            "arrays": {k: encode(v) for k, v in arrays.items()},
            "links": links,
            "index": 3,
            "width": WIDTH,
            "height": HEIGHT,
            "guided": guided,
            "adapted": adapted(current, keys[0]).tolist(),
        },
    )
    assert "error" not in answer, answer
    shape = answer["shape"]
    out = {k: np.frombuffer(base64.b64decode(answer[k]), np.float32).reshape(shape) for k in ("gpu", "again", "cpu")}
    out["frame"] = np.frombuffer(base64.b64decode(answer["frame"]), np.uint8).reshape(HEIGHT, WIDTH, 3)
    prev = core.FlowToKey(keys[0], given_flow(), conf_prev)
    next_ = core.FlowToKey(keys[1], given_flow(-1.0), conf_next) if two_keys else None
    return out, prev, next_, current, small


@pytest.mark.parametrize(
    ("two_keys", "guided"), [(False, True), (True, False), (True, True)], ids=["one-guided", "two", "two-guided"]
)
def test_gpu_blend_matches_the_python_core(page, keys, two_keys, guided):  # noqa: F811
    out, prev, next_, current, small = run_gpu(page, keys, two_keys, guided)
    python = core.blend_maps(3, prev, next_, WIDTH, HEIGHT, small if guided else None, adapted(current, prev.key))
    # Some cells are untrusted: the CPU's fill took part.
    assert (core._confidence_on_grid(prev, *GRID) < core.FALLBACK_BELOW).any()
    assert out["gpu"].shape == python.shape
    np.testing.assert_allclose(out["gpu"], python, atol=1e-3)
    np.testing.assert_allclose(out["gpu"], out["cpu"], atol=1e-3)
    np.testing.assert_array_equal(out["again"], out["gpu"])


def test_gpu_blend_and_apply_make_the_python_frame_within_two_grey_levels(page, keys):  # noqa: F811
    out, prev, next_, current, _ = run_gpu(page, keys, two_keys=True, guided=True)
    python = core.synthesize_frame(3, prev, next_, current)
    assert grey_levels(python, out["frame"]) <= GREY_LEVELS
    assert np.abs(python.astype(np.int32) - current).mean() > 5  # the look, not the frame itself
