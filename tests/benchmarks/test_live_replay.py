"""benchmarks.live_replay on synthetic frames: the replay runs the live session as the page does."""

import numpy as np

from benchmarks.live_replay import replay
from tests.media import textured_background


def test_a_still_scene_replayed_with_late_keys_has_no_pop_and_lands_on_the_keys_look():
    frames = [textured_background(192, 108, seed=2)] * 30
    look = (frames[0] * 0.6 + np.array([60, 10, 0])).clip(0, 255).astype(np.uint8)
    result = replay(frames, [look] * 30, [look.astype(np.float32)] * 30, look, [4, 6])
    # Twice over the clip, about half of its frames dropped each time.
    assert 20 < result["frames"] < 40
    assert result["pops"] == []
    # Keys are the reference itself, so once they are held the frames come close to it.
    assert result["error"] < 10
