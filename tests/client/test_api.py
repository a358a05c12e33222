"""The Python API: a warm stylizer for many jobs, numpy frames in and out, the CLI's defaults."""

import numpy as np
import pytest

from client.api import Stylizer, stylize_video
from client.cli import _services, _video_job, build_parser
from client.live.engine import LiveOptions
from client.remote.services import ServiceOptions
from client.video.job import VideoJob
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import PNG, encode_image, load_image_file
from tests.media import decode_all, encode_clip, most_like, moving_square_frame, style_photo


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    photo = folder / "photo.png"
    photo.write_bytes(encode_image(moving_square_frame(5), PNG).data)
    clip = folder / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(12)]))
    return folder, str(style), str(photo), str(clip)


def test_one_warm_stylizer_serves_photos_videos_and_frame_streams(files, stylizer_address):
    folder, style, photo, clip = files
    with Stylizer(style=style, stylizer=stylizer_address) as stylizer:
        image = stylizer.stylize_image(photo, output=str(folder / "photo_out.png"))
        assert image.shape == (64, 96, 3) and image.dtype == np.uint8 and (folder / "photo_out.png").exists()
        metrics = stylizer.stylize_video(clip, str(folder / "clip_out.mp4"), key_interval=4, keyframes="fixed")
        assert metrics["frames_out"] == 12 and len(decode_all(str(folder / "clip_out.mp4"))[0]) == 12
        frames = [moving_square_frame(i) for i in range(30)]
        outputs = list(stylizer.stylize_frames(iter(frames), fps=30))
    assert len(outputs) == 30 and all(o.shape == (64, 96, 3) for o in outputs)
    # In order: each output keeps its own frame's structure (the square moves 2 px a frame).
    assert [most_like(output, frames) for output in outputs] == list(range(30))


def test_frames_must_keep_one_size_and_a_style_is_needed(files, stylizer_address):
    _, style, photo, _ = files
    with Stylizer(stylizer=stylizer_address) as stylizer:
        with pytest.raises(InvalidInputError, match="style"):
            stylizer.stylize_image(photo)
        mixed = [moving_square_frame(0), np.zeros((10, 10, 3), np.uint8)]
        with pytest.raises(InvalidInputError, match="frame 1"):
            list(stylizer.stylize_frames(mixed, style=style))
    with pytest.raises(RuntimeError, match="context manager"):
        Stylizer(style=style).stylize_image(photo)


@pytest.mark.parametrize("fps", [0, -30, float("nan"), float("inf"), "30"])
def test_a_frame_rate_that_is_not_a_positive_number_is_refused(files, fps):
    _, style, _, _ = files
    with pytest.raises(InvalidInputError, match="fps"):
        next(Stylizer(style=style).stylize_frames(iter([moving_square_frame(0)]), fps=fps))


def test_the_api_and_the_command_line_share_every_default():
    args = build_parser().parse_args(["stylize", "in.mp4", "--style", "s.png"])
    assert _services(args) == ServiceOptions(auth_token=_services(args).auth_token)
    job = _video_job(args, "in.mp4", "s.png", "out.mp4")
    assert job == VideoJob("in.mp4", "s.png", "out.mp4", services=job.services, overwrite=False)
    live = build_parser().parse_args(["live", "--source", "synthetic", "--style", "s.png"])
    assert (live.min_key_interval, live.fallback_after) == (LiveOptions.min_key_interval, LiveOptions.fallback_after_s)


def test_an_output_that_exists_is_kept_unless_overwrite_and_a_job_may_set_its_own_look(files, stylizer_address):
    folder, style, photo, clip = files
    photo_out, video_out = folder / "kept.png", folder / "kept.mp4"
    photo_out.write_bytes(b"an earlier photo")
    video_out.write_bytes(b"an earlier video")
    with Stylizer(style=style, stylizer=stylizer_address) as stylizer:
        with pytest.raises(InvalidInputError, match=r"kept\.png: exists \(overwrite=True"):
            stylizer.stylize_image(photo, output=str(photo_out))
        with pytest.raises(InvalidInputError, match=r"kept\.mp4: exists \(overwrite=True"):
            stylizer.stylize_video(clip, str(video_out))
        assert photo_out.read_bytes() == b"an earlier photo" and video_out.read_bytes() == b"an earlier video"
        full = stylizer.stylize_image(photo, output=str(photo_out), overwrite=True)
        assert load_image_file(str(photo_out))[1].shape == full.shape
        stylizer.stylize_video(clip, str(video_out), overwrite=True, strength=0.0)
        # strength 0: the content's own look; the warm stylizer's default (1) is the style's.
        none = stylizer.stylize_image(photo, strength=0.0)
        original = load_image_file(photo)[1].astype(float)
        assert np.abs(none - original).mean() < 3 < np.abs(full - original).mean()
        kept = decode_all(str(video_out))[0]
        assert len(kept) == 12
        with pytest.raises(TypeError, match="unexpected keyword arguments: colour"):
            stylizer.stylize_image(photo, colour="red")
        # Checked when called, not when (or if ever) the first frame is asked for.
        with pytest.raises(TypeError, match="unexpected keyword arguments: colour"):
            stylizer.stylize_frames([], colour="red")
        for strength in (2.0, None, "0.5", True):
            with pytest.raises(InvalidInputError, match=r"strength .*: expected a number in 0\.\.1"):
                stylizer.stylize_frames([], strength=strength)
        with pytest.raises(InvalidInputError, match=r"no-such-style\.png"):
            stylizer.stylize_frames([], style=str(folder / "no-such-style.png"))
    # The one-job functions check the output before they start a stylizer (none is reachable here).
    with pytest.raises(InvalidInputError, match="exists"):
        stylize_video(clip, style, str(video_out), services=ServiceOptions(stylizer="127.0.0.1:1"))
