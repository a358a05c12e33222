"""Live sources: an application's frame feed is paced as a camera and owns copies of its frames."""

import numpy as np

from client.media.capture import FrameFeedSource


def take_all(source: FrameFeedSource) -> list:
    source.start()
    frames = []
    while (frame := source.mailbox.get(timeout=5)) is not None:
        frames.append(frame)
    source.stop()
    return frames


def test_frames_handed_over_at_once_are_released_no_faster_than_their_rate():
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(6)]
    source = FrameFeedSource(iter(frames[1:]), frames[0], fps=20.0, capacity=16)
    taken = take_all(source)
    assert [f.index for f in taken] == list(range(6))
    elapsed = taken[-1].captured_at - taken[0].captured_at
    assert elapsed >= 5 / 20.0 - 0.01  # a list handed over at once still arrives at 20 frames/s


def test_a_refilled_buffer_does_not_change_frames_already_taken():
    buffer = np.zeros((8, 8, 3), np.uint8)

    def camera():
        for value in range(1, 5):
            buffer[:] = value * 40  # the application refills its one buffer for each frame
            yield buffer

    source = FrameFeedSource(camera(), buffer.copy(), fps=1000.0, capacity=16)
    taken = take_all(source)
    assert [int(f.rgb[0, 0, 0]) for f in taken] == [0, 40, 80, 120, 160]
