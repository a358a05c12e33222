"""camera_queue.js under node: the camera loop's frames, read as they come, given in order, a short
queue at most, every frame given up closed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.client.browser.jsbridge import NODE, require_node

MODULE = Path(__file__).resolve().parents[3] / "client" / "browser" / "camera_queue.js"

# A reader of made-up frames: `arrivals` frames come one a tick; the loop takes one each `every`
# ticks. Which frames the loop got, which were closed, and how long the queue grew.
SCRIPT = """
const { CameraQueue, CAMERA_QUEUE } = await import(process.argv[1]);
const [arrivals, every] = JSON.parse(process.argv[2]);
const closed = [];
let cancelled = false;
let sent = 0;
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
const reader = {
  async read() {
    if (sent >= arrivals || cancelled) return { done: true };
    await tick();
    const index = sent++;
    return { value: { index, close: () => closed.push(index) }, done: false };
  },
  async cancel() { cancelled = true; },
};
const queue = new CameraQueue(reader, () => true);
const got = [];
let longest = 0;
for (;;) {
  for (let k = 0; k < every; k++) await tick();
  longest = Math.max(longest, queue.frames.length);
  const frame = await queue.next();
  if (!frame) break;
  got.push(frame.index);
  frame.close();
}
queue.close();
console.log(JSON.stringify({ got, closed: closed.sort((a, b) => a - b), longest, limit: CAMERA_QUEUE, cancelled }));
"""


def run_queue(arrivals: int, every: int) -> dict:
    require_node()
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT, str(MODULE), json.dumps([arrivals, every])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_loop_as_fast_as_the_camera_gets_every_frame_in_order():
    result = run_queue(30, 1)
    assert result["got"] == list(range(30))
    assert result["closed"] == list(range(30))


def test_a_slow_loop_gets_the_frames_in_order_and_the_ones_given_up_are_closed():
    result = run_queue(40, 4)
    got = result["got"]
    assert got == sorted(got) and got[-1] == 39 and len(got) < 40
    assert result["longest"] <= result["limit"]
    # Every frame, taken or given up, is closed once.
    assert result["closed"] == list(range(40))
