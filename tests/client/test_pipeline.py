"""Whole videos through the real services on loopback (servers in this process, client threads)."""

from fractions import Fraction

import pytest

from client.jobs import INPROC, ServiceOptions, VideoJob, stylize_video
from common.imagecodec import PNG, encode_image
from services.interpolator.session import LIVE, OFFLINE
from tests.media import decode_all, encode_clip, moving_square_frame, square_centroid_x, style_photo

FRAMES = 23  # not a multiple of the key interval: the last frame closes the video as a key
STEP = 2


@pytest.fixture(scope="module")
def clip_and_style(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    clip = folder / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i, step=STEP) for i in range(FRAMES)]))
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    return str(clip), str(style)


def check_output(path: str, expected_frames: int = FRAMES) -> None:
    frames, pts, time_base, _ = decode_all(path)
    assert len(frames) == expected_frames
    assert frames[0].shape == (64, 96, 3)
    assert [p * time_base for p in pts] == [Fraction(i, 25) for i in range(expected_frames)]
    # Order and motion: the square sits where the source put it in every frame.
    for index, frame in enumerate(frames):
        assert abs(square_centroid_x(frame) - (4 + STEP * index + 5.5)) < 1.5, index


@pytest.mark.parametrize(
    ("mode", "interval", "interpolator"),
    [(OFFLINE, 5, "grpc"), (LIVE, 5, "grpc"), (OFFLINE, 1, "grpc"), (OFFLINE, 4, INPROC)],
    ids=["offline", "live", "frame-by-frame", "in-process"],
)
def test_every_frame_comes_out_once_in_order_with_its_timing(
    tmp_path, clip_and_style, stylizer_address, interpolator_address, mode, interval, interpolator
):
    clip, style = clip_and_style
    out = tmp_path / "out.mp4"
    services = ServiceOptions(
        stylizer=stylizer_address, interpolator=interpolator_address if interpolator == "grpc" else INPROC
    )
    metrics = stylize_video(VideoJob(clip, style, str(out), services, key_interval=interval, mode=mode))
    assert metrics["frames_in"] == metrics["frames_out"] == FRAMES
    # Offline closes the video with a key frame so every frame has a next key; live never looks ahead.
    closing_key = mode == OFFLINE and (FRAMES - 1) % interval != 0
    expected_keys = len(range(0, FRAMES, interval)) + closing_key
    assert metrics["key_frames"] == expected_keys
    check_output(str(out))
