"""Live frames made in closed form follow --strength, as key frames do."""

from __future__ import annotations

import numpy as np

from client.live.engine import LiveEngine
from client.media.capture import PacedFileSource
from client.remote.stylizer import StylizerOptions
from tests.media import encode_clip, moving_square_frame, style_photo


class _SilentLink:
    """A stylizer link that never answers: every frame comes in closed form ("no key yet")."""

    style_generation = 0
    status = "connecting"
    style_error = None

    def __init__(self, strength: float):
        self.options = StylizerOptions(strength=strength)

    def wait_opened(self, timeout: float) -> bool:
        return True

    def answers(self) -> list:
        return []

    def offer(self, index, small) -> bool:
        return False

    def change_style(self, message) -> None:
        pass


class _Frames:
    accepts_i420 = False

    def __init__(self):
        self.frames = []

    def write(self, frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def live_closed_form(clip: str, strength: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(inputs, outputs, methods) of a live run at `strength` whose stylizer never answers."""
    sink = _Frames()
    LiveEngine(PacedFileSource(clip, capacity=64), _SilentLink(strength), style_photo(), [sink]).run()
    inputs = np.stack([f.source.rgb for f in sink.frames]).astype(np.float64)
    outputs = np.stack([f.image for f in sink.frames]).astype(np.float64)
    return inputs, outputs, [f.method for f in sink.frames]


def test_closed_form_frames_follow_the_strength(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(12)], rate=30))
    inputs, none, methods = live_closed_form(str(clip), 0.0)
    assert set(methods) == {"closed form (no key yet)"} and len(methods) == 12
    # Strength 0: the input itself (within rounding), not the style photo's look.
    assert np.abs(none - inputs).max() <= 1.0
    _, full, _ = live_closed_form(str(clip), 1.0)
    _, half, _ = live_closed_form(str(clip), 0.5)
    assert np.abs(full - inputs).mean() > 20  # the full look is far from the input
    # Strength 0.5: halfway, linear in the colour map (up to rounding and the look's clipping).
    assert np.abs(half - (inputs + full) / 2).mean() < 1.5
