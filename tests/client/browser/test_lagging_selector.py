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


# The same selector on a stand-in worker whose answers the test hands over itself.
FAKE_JS = """async ({ frames, width, height, script }) => {
  const { LaggingSelector } = await import('/keyframes_lagging.js');
  const { makeSelector } = await import('/keyframes.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const posted = [];
  const worker = { postMessage: (m) => posted.push(m), terminate: () => posted.push({ type: 'terminated' }) };
  const lagging = new LaggingSelector(worker, { maxGap: 30 });
  const own = makeSelector('auto', 1, 30);
  const out = [];
  for (const [index, b64] of frames.entries()) {
    for (const step of script[index] ?? []) {
      if (step.answer) worker.onmessage({ data: step.answer });
      if (step.fail) worker.onerror({ message: 'stand-in failure' });
    }
    const rgb = { data: bytes(b64), width, height, channels: 3 };
    out.push({ lagging: lagging.decide(index, rgb), own: own.decide(index, rgb) });
  }
  return { out, frameMessages: posted.filter((m) => m.type === 'frame').map((m) => m.index),
    terminated: posted.some((m) => m.type === 'terminated') };
}"""


def run_fake(page, frames, script):  # noqa: F811
    answer = page.evaluate(
        FAKE_JS,
        {
            "frames": [base64.b64encode(f.tobytes()).decode() for f in frames],
            "width": WIDTH,
            "height": HEIGHT,
            "script": {str(k): v for k, v in script.items()},
        },
    )
    return answer


def test_an_answer_about_the_shot_before_a_cut_is_not_taken_after_it(page):  # noqa: F811
    wide = scene(HEIGHT, WIDTH + 64, seed=11)
    first = np.ascontiguousarray(wide[:, :WIDTH])
    other = np.ascontiguousarray(scene(HEIGHT, WIDTH, seed=12)[:, ::-1, ::-1])
    frames = [first, first, other, other, other]
    # The worker's answer about frame 1 (before the cut at 2) comes after the cut; one about frame 3 comes in time.
    script = {3: [{"answer": {"index": 1, "reason": "gap"}}], 4: [{"answer": {"index": 3, "reason": "motion"}}]}
    decisions = [d["lagging"] for d in run_fake(page, frames, script)["out"]]
    assert [d["isKey"] for d in decisions] == [True, False, True, False, True], decisions
    assert decisions[2]["cut"] and decisions[4]["reason"] == "motion (frame 3)"


def test_the_worker_is_sent_at_most_two_frames_it_has_not_answered(page):  # noqa: F811
    frames = clip()
    answer = run_fake(page, frames, {6: [{"answer": {"index": 1, "reason": ""}}]})
    # Frames 0 and 1 go out; nothing more until an answer comes (at frame 6), then one more; the
    # cut always goes (the worker must know its key).
    assert answer["frameMessages"] == [0, 1, 6, len(frames) - 6], answer["frameMessages"]


def test_after_the_worker_fails_the_policy_goes_on_in_the_page(page):  # noqa: F811
    frames = clip()
    answer = run_fake(page, frames, {3: [{"fail": True}]})
    assert answer["terminated"]
    lagging = [d["lagging"] for d in answer["out"]]
    own = [d["own"] for d in answer["out"]]
    # From the failure on, keyframes.js's own policy (a first key of its own at frame 3, then motion
    # and the cut on the same frames as a selector that ran in the page from the start).
    assert lagging[3]["isKey"]
    motion = [i for i, d in enumerate(own) if d["reason"] == "motion"]
    assert motion and all(lagging[i]["isKey"] for i in motion), (lagging, own)
    assert lagging[len(frames) - 6]["cut"]
