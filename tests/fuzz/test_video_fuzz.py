"""Small random videos through the whole file job: one output frame per input frame, in order, with its timing.

Sizes 1..64 (every parity), 1..12 frames, yuv420p / yuv444p (H.264) and rgb24 (H.264 RGB, or PNG in
MOV), frame rates ordinary and odd (NTSC's 30000/1001, 7, 1, 120), containers MP4, MOV and Matroska;
stylized against the stylizer in this process with the interpolator in-process, into a sink that keeps
what it is given."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from client.media.frames import OutputFrame
from client.media.source import VideoSource
from client.video.job import ServiceOptions, VideoJob, stylize_video
from tests.fuzz.strategies import FUZZ
from tests.media import textured_background

RATES = [Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(7), Fraction(1), Fraction(120)]


class KeepingSink:
    """A FrameSink that keeps every frame as written."""

    def __init__(self, accepts_i420: bool):
        self.accepts_i420 = accepts_i420
        self.frames: list[OutputFrame] = []
        self.closed = False

    def write(self, frame: OutputFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


@st.composite
def clips(draw) -> dict:
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    if draw(st.booleans()):  # even sizes half the time: the only ones yuv420p takes
        width, height = max(2, width & ~1), max(2, height & ~1)
    even = width % 2 == 0 and height % 2 == 0
    formats = [("libx264", "yuv444p"), ("libx264rgb", "rgb24"), ("png", "rgb24")]
    if even:
        formats.insert(0, ("libx264", "yuv420p"))
    codec, pix_fmt = draw(st.sampled_from(formats))
    containers = ["mov"] if codec == "png" else ["mp4", "mov", "matroska"]
    return {
        "width": width,
        "height": height,
        "frames": draw(st.integers(1, 12)),
        "codec": codec,
        "pix_fmt": pix_fmt,
        "rate": draw(st.sampled_from(RATES)),
        "container": draw(st.sampled_from(containers)),
        "key_interval": draw(st.sampled_from([3, 1, 2, 5])),
        "keyframes": draw(st.sampled_from(["fixed", "auto"])),
        "mode": draw(st.sampled_from(["offline", "live"])),
        "i420_sink": draw(st.booleans()),
    }


def encode(clip: dict) -> bytes:
    width, height = clip["width"], clip["height"]
    texture = textured_background(max(width, 8) + 16, max(height, 8), seed=2)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=clip["container"]) as out:
        stream = out.add_stream(clip["codec"], rate=clip["rate"])
        stream.width, stream.height, stream.pix_fmt = width, height, clip["pix_fmt"]
        for index in range(clip["frames"]):
            rgb = np.ascontiguousarray(texture[:height, index : index + width])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / clip["rate"]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@settings(FUZZ, max_examples=100)
@given(clip=clips())
def test_every_input_frame_has_its_output_frame_in_order_with_its_timing(
    tmp_path_factory, stylizer_address, style_file, clip
):
    folder = tmp_path_factory.mktemp("clip")
    suffix = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv"}[clip["container"]]
    source = folder / f"in{suffix}"
    source.write_bytes(encode(clip))
    with VideoSource(str(source)) as video:
        expected = [(frame.index, frame.pts) for frame in video.frames()]
        time_base = video.info.time_base
    assert len(expected) == clip["frames"]
    # The source's timing is the one encoded: frame i at i / rate (to within the container's tick).
    for index, pts in expected:
        assert abs(pts * time_base - index / clip["rate"]) <= max(time_base, Fraction(1, 1000)), (index, pts)
    sink = KeepingSink(clip["i420_sink"] and clip["width"] % 2 == 0 and clip["height"] % 2 == 0)
    job = VideoJob(
        str(source),
        style_file,
        str(folder / "unused.mp4"),
        ServiceOptions(stylizer=stylizer_address, interpolator="inproc"),
        keyframes=clip["keyframes"],
        key_interval=clip["key_interval"],
        max_gap=max(clip["key_interval"], 1),
        mode=clip["mode"],
    )
    metrics = stylize_video(job, sink=sink)
    event(f"{clip['codec']}/{clip['pix_fmt']}")
    assert sink.closed
    assert metrics["frames_in"] == metrics["frames_out"] == len(expected)
    assert [(frame.index, frame.pts) for frame in sink.frames] == expected
    for frame in sink.frames:
        if frame.i420:
            assert frame.image.shape == (clip["height"] * 3 // 2, clip["width"])
        else:
            assert frame.image.shape == (clip["height"], clip["width"], 3) and frame.image.dtype == np.uint8
