"""keyframes_lagging.js in headless Chromium: the page's key-frame policy with its flow in a worker
thread decides cuts and the first frame at once, and motion a frame or two after keyframes.js's own
selector on the same frames."""

from __future__ import annotations

import base64

import numpy as np

from tests.client.browser.test_affine_gl import page  # noqa: F401  (the Chromium page fixture)
from tests.client.browser.test_js_core import scene

WIDTH, HEIGHT = 192, 108

# Both selectors see the same frames; the page's camera gives a frame every 33 ms, and so does this.
RUN_JS = """async ({ frames, width, height }) => {
  const { makeSelector } = await import('/keyframes.js');
  const { makeLaggingSelector } = await import('/keyframes_lagging.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const own = makeSelector('auto', 1, 30);
  const lagging = makeLaggingSelector();
  if (!lagging) return { error: 'no worker' };
  const decisions = { own: [], lagging: [] };
  for (const [index, b64] of frames.entries()) {
    const rgb = { data: bytes(b64), width, height, channels: 3 };
    decisions.own.push(own.decide(index, rgb));
    decisions.lagging.push(lagging.decide(index, rgb));
    await new Promise((resolve) => setTimeout(resolve, 33));
  }
  lagging.close();
  return decisions;
}"""


def clip() -> list[np.ndarray]:
    """Still for 8 frames, then a pan of 4 px a frame for 14, then a cut to another picture, still."""
    wide = scene(HEIGHT, WIDTH + 64, seed=11)
    still = [wide[:, :WIDTH]] * 8
    pan = [wide[:, 4 * k : 4 * k + WIDTH] for k in range(1, 15)]
    other = scene(HEIGHT, WIDTH, seed=12)[:, ::-1, ::-1]
    return [np.ascontiguousarray(f) for f in still + pan + [other] * 6]


def keys(decisions: list[dict]) -> dict[int, dict]:
    return {i: d for i, d in enumerate(decisions) if d["isKey"]}


def test_cuts_and_the_first_frame_at_once_and_motion_a_frame_or_two_later(page):  # noqa: F811
    frames = clip()
    answer = page.evaluate(
        RUN_JS,
        {"frames": [base64.b64encode(f.tobytes()).decode() for f in frames], "width": WIDTH, "height": HEIGHT},
    )
    assert "error" not in answer, answer
    own, lagging = keys(answer["own"]), keys(answer["lagging"])
    cut = len(frames) - 6
    # The first frame and the cut: the same frames, at once.
    assert own[0]["reason"] == lagging[0]["reason"] == "first"
    assert own[cut]["cut"] and lagging[cut]["cut"]
    # The pan makes motion keys; each of keyframes.js's is matched by one of the lagging selector's
    # a frame or two later (not sooner: it has not seen the frame yet).
    motion = [i for i, d in own.items() if d["reason"] == "motion"]
    assert motion, own
    for index in motion:
        late = [i for i in lagging if index < i <= index + 2]
        assert late and "motion" in lagging[late[0]]["reason"], (index, lagging)
    # No key of its own beyond those: still frames give none.
    assert not [i for i in lagging if 0 < i < 8]
    assert len(lagging) <= len(own) + 1
