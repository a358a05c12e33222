"""Phone video (landscape-coded frames plus a display rotation) is read, stylized and written upright."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest

from client.live.job import LiveJob, run_live
from client.look import frame_at, frames_for_lut
from client.media.capture import CameraSource, PacedFileSource
from client.media.orientation import quarter_turns
from client.media.source import VideoSource
from client.remote.services import ServiceOptions
from client.video.job import VideoJob, stylize_video
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import decode_all, style_photo, textured_background

# Portrait, as the phone's user saw it: taller than wide.
WIDTH, HEIGHT = 48, 80
FRAMES = 8
MARK = 10


def upright_frame(index: int) -> np.ndarray:
    """A dim scene with a bright square in the top-left part, moving down: no turn or mirror maps
    it onto itself."""
    frame = (textured_background(WIDTH, HEIGHT) // 2).astype(np.uint8)
    y, x = 6 + 2 * index, 8
    frame[y : y + MARK, x : x + MARK] = 250
    return frame


def mark_centre(rgb: np.ndarray) -> tuple[float, float]:
    """(y, x) of the bright square: by far the brightest thing in the frame, styled or not."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ys, xs = np.nonzero(luma > (np.percentile(luma, 99.5) + np.median(luma)) / 2)
    return float(ys.mean()), float(xs.mean())


def expected_centre(index: int) -> tuple[float, float]:
    return 6 + 2 * index + (MARK - 1) / 2, 8 + (MARK - 1) / 2


def write_phone_clip(path, rotation: int, sample_aspect_ratio: Fraction | None = None) -> None:
    """What a phone writes: each frame turned against `rotation` (degrees counter-clockwise) and
    the display matrix that turns it back, so a player shows it upright (with non-square coded
    pixels of `sample_aspect_ratio`, as a camcorder's, when given)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        coded_frames = [np.ascontiguousarray(np.rot90(upright_frame(i), k=-rotation // 90)) for i in range(FRAMES)]
        stream.height, stream.width = coded_frames[0].shape[:2]  # landscape for a quarter turn
        stream.pix_fmt = "yuv420p"
        if sample_aspect_ratio is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        stream.set_display_rotation(rotation)
        for index, coded in enumerate(coded_frames):
            frame = av.VideoFrame.from_ndarray(coded, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def rotations_in(path) -> tuple[tuple[int, int], set[int]]:
    """The coded frame size and the display rotations the decoder reports for a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        return (stream.codec_context.width, stream.codec_context.height), {f.rotation for f in decoded}


@pytest.fixture(scope="module", params=[90, 270], ids=["rotate-90", "rotate-270"])
def phone(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"phone{request.param}")
    clip = folder / "portrait.mp4"
    write_phone_clip(clip, request.param)
    # The matrix really is in the file, on frames coded sideways (270 reads back as -90).
    assert rotations_in(clip) == ((HEIGHT, WIDTH), {(request.param + 180) % 360 - 180})
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    return clip, str(style)


def check_upright(frames: list[np.ndarray], count: int = FRAMES) -> None:
    assert len(frames) == count
    for index, rgb in enumerate(frames):
        assert rgb.shape == (HEIGHT, WIDTH, 3), index
        assert mark_centre(rgb) == pytest.approx(expected_centre(index), abs=1.5), index


def test_a_video_source_turns_frames_upright_and_keeps_their_timing(phone):
    clip, _ = phone
    with VideoSource(str(clip)) as source:
        assert (source.info.width, source.info.height) == (WIDTH, HEIGHT)
        frames = list(source.frames())
    check_upright([f.rgb for f in frames])
    assert [f.pts for f in frames] == sorted(f.pts for f in frames) and len({f.pts for f in frames}) == FRAMES


@pytest.mark.parametrize("rotation", [180, -90])
def test_a_half_turn_and_a_negative_quarter_turn(tmp_path, rotation):
    clip = tmp_path / "clip.mp4"
    write_phone_clip(clip, rotation)
    with VideoSource(str(clip)) as source:
        check_upright([f.rgb for f in source.frames()])


def test_stylize_writes_upright_frames_without_a_rotation(phone, tmp_path, stylizer_address):
    clip, style = phone
    out = tmp_path / "out.mp4"
    metrics = stylize_video(VideoJob(str(clip), style, str(out), ServiceOptions(stylizer=stylizer_address)))
    assert metrics["frames_in"] == metrics["frames_out"] == FRAMES
    # Upright pixels and no display matrix: every player shows them as they are.
    assert rotations_in(out) == ((WIDTH, HEIGHT), {0})
    frames, pts, time_base, _ = decode_all(str(out))
    check_upright(frames)
    _, in_pts, in_time_base, _ = decode_all(str(clip))
    assert [p * time_base for p in pts] == [p * in_time_base for p in in_pts]


def test_live_from_a_phone_clip_writes_upright_frames_without_a_rotation(phone, tmp_path, stylizer_address):
    clip, style = phone
    source = PacedFileSource(str(clip))
    assert (source.width, source.height) == (WIDTH, HEIGHT)
    out = tmp_path / "live.mp4"
    job = LiveJob(style=style, source=str(clip), output=str(out), services=ServiceOptions(stylizer=stylizer_address))
    report = run_live(job)
    assert report["captured"] == report["output"] == FRAMES
    assert rotations_in(out) == ((WIDTH, HEIGHT), {0})
    check_upright(decode_all(str(out))[0])


@pytest.mark.parametrize("rotation", [0, 90])
def test_non_square_pixels_are_kept_by_stylize_and_live(tmp_path, stylizer_address, rotation):
    """Camcorder and DV video have non-square pixels (128/117 here, coded): the outputs say so too,
    turned with the picture, or players show them squeezed."""
    clip = tmp_path / "camcorder.mp4"
    write_phone_clip(clip, rotation, sample_aspect_ratio=Fraction(128, 117))
    upright_ratio = Fraction(128, 117) if rotation == 0 else Fraction(117, 128)
    with VideoSource(str(clip)) as source:
        assert source.info.sample_aspect_ratio == upright_ratio
    assert PacedFileSource(str(clip)).sample_aspect_ratio == upright_ratio
    style = tmp_path / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    services = ServiceOptions(stylizer=stylizer_address)
    stylize_video(VideoJob(str(clip), str(style), str(tmp_path / "file.mp4"), services))
    run_live(LiveJob(style=str(style), source=str(clip), output=str(tmp_path / "live.mp4"), services=services))
    for name in ("file.mp4", "live.mp4"):
        with av.open(str(tmp_path / name)) as container:
            assert container.streams.video[0].sample_aspect_ratio == upright_ratio, name


def test_square_pixels_are_written_as_they_were_read(phone, tmp_path, stylizer_address):
    clip, style = phone
    with VideoSource(str(clip)) as source:
        assert source.info.sample_aspect_ratio is None
    out = tmp_path / "out.mp4"
    stylize_video(VideoJob(str(clip), style, str(out), ServiceOptions(stylizer=stylizer_address)))
    with av.open(str(out)) as container:
        assert container.streams.video[0].sample_aspect_ratio in (None, 0, 1)


def test_the_preview_frame_and_the_lut_read_upright_frames(phone):
    clip, _ = phone
    picture = frame_at(str(clip), 3)
    assert picture.shape == (HEIGHT, WIDTH, 3)
    assert mark_centre(picture) == pytest.approx(expected_centre(3), abs=1.5)
    assert all(rgb.shape == (HEIGHT, WIDTH, 3) for rgb in frames_for_lut(str(clip)))


def test_the_legacy_rotate_tag_is_read_where_no_display_matrix_is():
    # The tag says degrees clockwise; a display matrix, where there is one, decides.
    def turns(rotation, tag):
        return quarter_turns(SimpleNamespace(rotation=rotation), SimpleNamespace(metadata={"rotate": tag}))

    assert [turns(0, "90"), turns(0, "270"), turns(0, "180"), turns(0, "0"), turns(-90, "90")] == [3, 1, 2, 0, 3]
    assert turns(0, "sideways") == 0


def test_a_camera_url_naming_a_phone_clip_comes_upright_from_opencv(phone):
    # OpenCV applies the display rotation itself: what the usage notes promise for --camera.
    clip, _ = phone
    source = CameraSource(str(clip))
    assert (source.width, source.height) == (WIDTH, HEIGHT)
    source.start()
    frame = source.mailbox.get(timeout=5)
    source.stop()
    assert frame is not None and frame.rgb.shape == (HEIGHT, WIDTH, 3)
    assert mark_centre(frame.rgb)[1] == pytest.approx(expected_centre(0)[1], abs=1.5)
