"""Every frame size works end to end: one output frame per input frame, at the input's size, in order.

Clips are synthetic and tiny, encoded in memory with PyAV the way the project's sink writes them
(H.264, yuv420p for even sizes, yuv444p for odd ones), and run through `stylize_video` against a
stylizer server in this process, with the interpolator in-process (the default path) or over gRPC.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from client.video.job import ServiceOptions, VideoJob, stylize_video
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import decode_all, style_photo, textured_background

RATE = 25
BAR = 4  # width of the bright bar that moves across the frame
INPROC = "inproc"  # ServiceOptions.interpolator: the interpolator core in this process


def sized_frame(index: int, width: int, height: int) -> np.ndarray:
    """A dim texture panning 1 px a frame, and on frames at least 16 wide a bright bar at x = 2 * index.

    The pan wraps around, so colours stay the same and no frame looks like a cut (cuts force keys)."""
    texture = textured_background(max(width, 8), max(height, 8), seed=1)[:height, :width] // 2
    frame = np.ascontiguousarray(np.roll(texture, index, axis=1)).astype(np.uint8)
    if width >= 16:
        frame[:, 2 * index : 2 * index + BAR] = (250, 240, 40)
    return frame


def encode_sized_clip(frames: list[np.ndarray]) -> bytes:
    """H.264 in MP4 as client.media.sink.VideoSink writes it: yuv444p when a side is odd."""
    height, width = frames[0].shape[:2]
    time_base = Fraction(1, 1000)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream.time_base = stream.codec_context.time_base = time_base
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i * 1000 // RATE
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def style_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sizes") / "style.png"
    path.write_bytes(encode_image(style_photo(), PNG).data)
    return str(path)


def run_clip(
    tmp_path,
    style: str,
    width: int,
    height: int,
    frames: int,
    services: tuple[str, str],
    mode: str = "offline",
    keyframes: str = "fixed",
):
    """services: (stylizer address, interpolator address or INPROC)."""
    clip = tmp_path / f"in_{width}x{height}.mp4"
    sources = [sized_frame(i, width, height) for i in range(frames)]
    clip.write_bytes(encode_sized_clip(sources))
    out = tmp_path / f"out_{width}x{height}.mp4"
    # A key at least every 3 frames: most frames are interpolated from flow, not stylized.
    job = VideoJob(
        str(clip),
        style,
        str(out),
        ServiceOptions(stylizer=services[0], interpolator=services[1]),
        keyframes=keyframes,
        key_interval=3,
        max_gap=3,
        mode=mode,
    )
    metrics = stylize_video(job)
    assert metrics["frames_in"] == metrics["frames_out"] == frames
    if keyframes == "fixed":  # the adaptive policy may key every frame of a clip this small (1 px is a lot)
        assert metrics["key_frames"] < frames
    made, pts, time_base, _ = decode_all(str(out))
    assert len(made) == frames
    assert all(frame.shape == (height, width, 3) for frame in made)
    assert [p * time_base for p in pts] == [Fraction(i, RATE) for i in range(frames)]
    if width >= 16:
        # Order: each output frame looks most like its own source frame (the bar moves 2 px a frame).
        for index, frame in enumerate(made):
            likeness = [np.corrcoef(luma(frame).ravel(), luma(source).ravel())[0, 1] for source in sources]
            assert int(np.argmax(likeness)) == index, (index, likeness)
    return made


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


# (width, height, frames): every parity, below and around DIS's minimum size, H % 4 != 0 for I420.
SIZES = [
    (1, 1, 4),
    (2, 1, 4),
    (1, 2, 4),
    (2, 2, 4),
    (3, 3, 4),
    (7, 5, 4),
    (11, 13, 4),
    (16, 9, 4),
    (18, 6, 4),
    (33, 17, 5),
    (64, 48, 5),
    (97, 61, 5),
    (640, 270, 4),
    (720, 406, 4),
]


@pytest.mark.parametrize(("width", "height", "frames"), SIZES, ids=[f"{w}x{h}" for w, h, _ in SIZES])
def test_in_process_interpolator_keeps_every_frame_size(tmp_path, style_path, stylizer_address, width, height, frames):
    run_clip(tmp_path, style_path, width, height, frames, (stylizer_address, INPROC))


GRPC_SIZES = [(1, 1), (3, 3), (7, 5), (11, 13), (97, 61)]


@pytest.mark.parametrize(("width", "height"), GRPC_SIZES, ids=[f"{w}x{h}" for w, h in GRPC_SIZES])
def test_grpc_interpolator_keeps_odd_frame_sizes(
    tmp_path, style_path, stylizer_address, interpolator_address, width, height
):
    run_clip(tmp_path, style_path, width, height, 4, (stylizer_address, interpolator_address))


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 5), (22, 10)], ids=["1x1", "7x5", "22x10"])
def test_live_mode_keeps_tiny_frame_sizes(tmp_path, style_path, stylizer_address, width, height):
    run_clip(tmp_path, style_path, width, height, 4, (stylizer_address, INPROC), mode="live")


@pytest.mark.parametrize(("width", "height"), [(1, 1), (7, 5), (33, 17)], ids=["1x1", "7x5", "33x17"])
def test_adaptive_key_frames_keep_tiny_frame_sizes(tmp_path, style_path, stylizer_address, width, height):
    """The adaptive selector measures flow on thumbnails: DIS's minimum size applies there too."""
    run_clip(tmp_path, style_path, width, height, 4, (stylizer_address, INPROC), keyframes="auto")
