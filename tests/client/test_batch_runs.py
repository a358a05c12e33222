"""Batches as the command runs them (in this process, against a stylizer on loopback): every item
runs whatever the others do, and two runs on one output never mix."""

import errno
import os
from pathlib import Path

import pytest

from client import cli
from client.media.sink import VideoSink
from client.video.job import ServiceOptions, VideoJob, stylize_video
from mvstylizer_common import imagecodec
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import JPEG, PNG, encode_image, read_image_file
from tests.client.test_cli import run_cli
from tests.media import decode_all, encode_clip, moving_square_frame, style_photo

FRAMES = 6


@pytest.fixture
def media(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(FRAMES)]))
    styles = tmp_path / "styles"
    styles.mkdir()
    photo = encode_image(style_photo(), PNG).data
    for name in ("cold.png", "warm.png", "x.jpg"):
        (styles / name).write_bytes(photo)
    return tmp_path, str(clip), styles


def run_video(*argv: str) -> int:
    return cli.run_video(cli.build_parser().parse_args(["stylize", *argv, "-q", "--key-interval", "3"]))


def oversized_png() -> bytes:
    """A PNG whose header claims 7000x7000 (49 Mpx, over the limit): refused before decoding."""
    data = bytearray(encode_image(style_photo(), PNG).data)
    data[16:24] = (7000).to_bytes(4, "big") * 2
    return bytes(data)


def test_an_oversized_style_in_a_folder_fails_alone_and_the_rest_are_written(media, stylizer_address, capsys):
    folder, clip, styles = media
    (styles / "big.png").write_bytes(oversized_png())
    code = run_video(clip, "--style", str(styles), "--stylizer", stylizer_address)
    err = capsys.readouterr().err
    assert code == 2, err  # every failure was bad input
    assert sorted(p.name for p in folder.glob("clip-*")) == ["clip-cold.mp4", "clip-warm.mp4", "clip-x.mp4"]
    assert "3 of 4 stylized" in err
    assert f"failed  {clip} with big.png:" in err and "exceeds" in err
    assert err.count("  ok      ") == 3


@pytest.mark.parametrize("code", [errno.EFBIG, errno.ENOSPC], ids=["efbig", "enospc"])
def test_a_full_disk_on_item_1_fails_that_item_and_the_others_run(media, stylizer_address, capsys, monkeypatch, code):
    folder, clip, styles = media
    write = VideoSink.write

    def full_on_cold(sink, frame):
        if Path(sink.path).name.startswith(".clip-cold."):
            raise OSError(code, os.strerror(code))
        write(sink, frame)

    monkeypatch.setattr(VideoSink, "write", full_on_cold)
    exit_code = run_video(clip, "--style", str(styles), "--stylizer", stylizer_address)
    err = capsys.readouterr().err
    assert exit_code == 1, err  # a failure that is not bad input
    assert not (folder / "clip-cold.mp4").exists()
    for name in ("clip-warm.mp4", "clip-x.mp4"):
        assert len(decode_all(str(folder / name))[0]) == FRAMES
    assert "2 of 3 stylized" in err and f"failed  {clip} with cold.png: OSError: [Errno {code}]" in err
    assert not [name for name in os.listdir(folder) if "partial" in name]


@pytest.mark.parametrize("overwrite", [False, True], ids=["keep-the-first", "overwrite"])
def test_two_jobs_on_one_output_each_write_their_own_partial_file(media, stylizer_address, tmp_path, overwrite):
    _, _, styles = media
    long, short = tmp_path / "long.mp4", tmp_path / "short.mp4"
    long.write_bytes(encode_clip([moving_square_frame(i) for i in range(30)]))
    short.write_bytes(encode_clip([moving_square_frame(i) for i in range(3)]))
    out = str(tmp_path / "same.mp4")
    services = ServiceOptions(stylizer=stylizer_address)
    keep = {} if overwrite else {"overwrite": False}  # replacing is the job's default
    # ultrafast: no encoder look-ahead, so the slow job's partial file is on disk after a frame or two.
    slow = VideoJob(str(long), str(styles / "cold.png"), out, services, key_interval=10, preset="ultrafast", **keep)
    fast = VideoJob(str(short), str(styles / "warm.png"), out, services, key_interval=3, **keep)
    finished = []

    def meanwhile(_done, _total):
        if not finished and any(name.startswith(".same.") for name in os.listdir(tmp_path)):
            finished.append(stylize_video(fast))  # while the slow job writes, the fast one runs start to end

    if overwrite:
        stylize_video(slow, on_frame=meanwhile)
    else:
        with pytest.raises(InvalidInputError, match="--overwrite"):
            stylize_video(slow, on_frame=meanwhile)
    # One job's output, whole: the last to finish with --overwrite, else the first.
    assert finished and len(decode_all(out)[0]) == (30 if overwrite else 3)
    assert sorted(os.listdir(tmp_path)) == sorted(["clip.mp4", "long.mp4", "short.mp4", "same.mp4", "styles"])


def test_a_preview_frame_is_written_when_the_video_output_exists(media, stylizer_address, capsys):
    folder, clip, styles = media
    video = folder / "look.mp4"
    video.write_bytes(b"an earlier run's video")
    code = run_video(clip, "--style", str(styles / "warm.png"), "-o", str(video), "--preview-frame", "2",
                     "--stylizer", stylizer_address)  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert read_image_file(str(folder / "look.frame2.png")).shape == (64, 96 * 2 + 8, 3)
    assert video.read_bytes() == b"an earlier run's video"


def test_stylize_image_prints_one_summary_line(media, stylizer_address, capsys):
    folder, _, styles = media
    content = folder / "photo.png"
    content.write_bytes(encode_image(moving_square_frame(2), PNG).data)
    out = folder / "photo-warm.png"
    args = ["stylize-image", str(content), "--style", str(styles / "warm.png"), "-o", str(out)]
    assert cli.run_image(cli.build_parser().parse_args([*args, "--stylizer", stylizer_address])) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wrote {out}: 96x64 in ")
    # An output that exists is kept, as `stylize` keeps one, unless --overwrite.
    assert cli.run_image(cli.build_parser().parse_args([*args, "--stylizer", stylizer_address, "-q"])) == 2
    assert capsys.readouterr().err == f"error: {out}: exists (--overwrite replaces it)\n"
    args.append("--overwrite")
    assert cli.run_image(cli.build_parser().parse_args([*args, "--stylizer", stylizer_address, "-q"])) == 0
    assert capsys.readouterr().err == ""


def test_many_photos_with_a_folder_of_styles_each_get_an_output_and_a_bad_one_fails_alone(
    media, stylizer_address, capsys
):
    folder, _, styles = media
    (styles / "x.jpg").unlink()
    photos = folder / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(encode_image(moving_square_frame(2), PNG).data)
    (photos / "b.jpg").write_bytes(encode_image(moving_square_frame(4), JPEG).data)
    (photos / "broken.png").write_bytes(b"not a photo")
    inputs = [str(photos / name) for name in ("a.png", "b.jpg", "broken.png")]
    out = folder / "out"
    argv = ["stylize-image", *inputs, "--style", str(styles), "--out-dir", str(out), "--stylizer", stylizer_address]
    code = cli.run_image(cli.build_parser().parse_args(argv))
    err = capsys.readouterr().err
    assert code == 2, err  # the one failure is bad input
    # Each photo in its own format; the broken one's outputs are never written.
    assert sorted(p.name for p in out.iterdir()) == ["a-cold.png", "a-warm.png", "b-cold.jpg", "b-warm.jpg"]
    assert read_image_file(str(out / "b-warm.jpg")).shape == (64, 96, 3)
    assert "4 of 6 stylized" in err and err.count("  failed  ") == 2 and "broken.png with cold.png" in err


def test_overwrite_never_replaces_another_input_of_the_run(media):
    folder, clip, styles = media
    second = folder / "clip-warm.mp4"  # what item 1 would write
    second.write_bytes(Path(clip).read_bytes())
    done = run_cli(
        "stylize", clip, str(second), "--style", str(styles / "warm.png"), "--overwrite",
        "--stylizer", "127.0.0.1:1", "--connect-timeout", "60", timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "overwrite an input" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert second.read_bytes() == Path(clip).read_bytes()


def test_a_lut_that_cannot_be_written_late_leaves_no_photo_either(media, stylizer_address, capsys, monkeypatch):
    """The photo and its LUT are one output: a LUT write failing after the checks (a full disk, a
    folder refusing new files) publishes neither."""
    folder, _, styles = media
    content = folder / "photo.png"
    content.write_bytes(encode_image(moving_square_frame(2), PNG).data)
    out, lut = folder / "photo-warm.png", folder / "look.cube"

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "write_fitted_lut", full_disk)
    argv = ["stylize-image", str(content), "--style", str(styles / "warm.png"), "-o", str(out), "--lut", str(lut)]
    assert cli.run_image(cli.build_parser().parse_args([*argv, "--stylizer", stylizer_address])) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() and not lut.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["clip.mp4", "photo.png", "styles"]


def test_a_photo_given_twice_is_stylized_once_with_a_note(media, stylizer_address, capsys, monkeypatch):
    folder, _, styles = media
    monkeypatch.chdir(folder)
    Path("photo.png").write_bytes(encode_image(moving_square_frame(2), PNG).data)
    argv = ["stylize-image", "photo.png", str(folder / "photo.png"), "--style", str(styles / "warm.png")]
    assert cli.run_image(cli.build_parser().parse_args([*argv, "-q", "--stylizer", stylizer_address])) == 0
    assert capsys.readouterr().err == f"note: {folder / 'photo.png'} was given already: stylized once\n"
    assert read_image_file("photo-warm.png").shape == (64, 96, 3)


def test_a_lut_that_exists_is_kept_unless_overwrite_before_any_work(media, capsys):
    folder, clip, styles = media
    lut = folder / "look.cube"
    lut.write_text("an earlier look")
    content = folder / "photo.png"
    content.write_bytes(encode_image(moving_square_frame(2), PNG).data)
    far = ["--stylizer", "127.0.0.1:1", "--connect-timeout", "1"]  # never reached: refused first
    for argv in (
        ["stylize-image", str(content), "--style", str(styles / "warm.png"), "-o", str(folder / "p.png")],
        ["stylize", clip, "--style", str(styles / "warm.png"), "-o", str(folder / "v.mp4")],
    ):
        with pytest.raises(InvalidInputError, match=r"look\.cube: exists \(--overwrite replaces it\)"):
            _run([*argv, "--lut", str(lut), *far])
    assert lut.read_text() == "an earlier look"
    assert not (folder / "p.png").exists() and not (folder / "v.mp4").exists()
    # Many items with --lut: refused before --out-dir is made.
    with pytest.raises(InvalidInputError, match="one"):
        _run(["stylize-image", str(content), "--style", str(styles), "--out-dir", str(folder / "new"), "--lut",
              str(folder / "other.cube"), *far])  # fmt: skip
    assert not (folder / "new").exists()


def _run(argv: list[str]) -> int:
    args = cli.build_parser().parse_args(argv)
    return (cli.run_image if argv[0] == "stylize-image" else cli.run_video)(args)


def test_a_photo_that_cannot_be_written_is_named_as_the_output(media, stylizer_address, capsys, monkeypatch):
    """Written through a hidden partial file: the error names the output the user asked for."""
    folder, _, styles = media
    content = folder / "photo.png"
    content.write_bytes(encode_image(moving_square_frame(2), PNG).data)
    out = folder / "photo-warm.png"
    monkeypatch.setattr(imagecodec.cv2, "imwrite", lambda *_args: False)
    argv = ["stylize-image", str(content), "--style", str(styles / "warm.png"), "-o", str(out), "-q"]
    assert cli.run_image(cli.build_parser().parse_args([*argv, "--stylizer", stylizer_address])) == 1
    err = capsys.readouterr().err
    assert err == f"error: OSError: {out}: could not be written\n" and not out.exists()
