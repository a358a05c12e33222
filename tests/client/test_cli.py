"""The command line as a user runs it: a separate process, exit codes, files on disk."""

import io
import itertools
import json
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from client.cli import is_still_photo
from client.device.lut import apply_lut, read_cube
from client.progress import Progress
from client.remote.embedded import REPO_ROOT
from mvstylizer_common.imagecodec import PNG, encode_image, read_image_file
from services.stylizer.models.photo_wct import PhotoWCT
from tests.media import (
    decode_all,
    encode_clip,
    moving_square_frame,
    square_centroid_x,
    style_photo,
    textured_background,
)
from tests.processes import services_started_by
from tests.waiting import wait_until

VFR_PTS = [0, 40, 80, 150, 190, 230, 300, 340, 380, 420, 460, 530, 570, 610]


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "client", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


def square_photo(path: Path) -> str:
    """Writes the moving square's frame 3 as a PNG photo at path; its path as a string."""
    path.write_bytes(encode_image(moving_square_frame(3), PNG).data)
    return str(path)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    clip = folder / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(len(VFR_PTS))], pts=VFR_PTS, audio_seconds=0.7))
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    return folder, str(clip), str(style)


@pytest.mark.parametrize("interpolator", [None, "loopback"], ids=["in-process", "loopback-service"])
def test_stylize_with_embedded_services_keeps_frames_timing_size_and_audio(media, interpolator):
    folder, clip, style = media
    # One output per case: an output that exists is never overwritten without --overwrite.
    out, metrics_path = folder / f"out-{interpolator or 'inproc'}.mp4", folder / "metrics.json"
    choice = ["--interpolator", interpolator] if interpolator else []
    done = run_cli(
        "stylize",
        clip,
        "--style",
        style,
        "-o",
        str(out),
        "--key-interval",
        "4",
        "--metrics-json",
        str(metrics_path),
        *choice,
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(metrics_path.read_text())
    # By default the interpolator runs in the client; 'loopback' starts it as a service.
    if interpolator:
        assert metrics["interpolator"].startswith("127.0.0.1:")
    else:
        assert metrics["interpolator"] == "inproc"
    assert metrics["frames_in"] == metrics["frames_out"] == len(VFR_PTS)
    assert metrics["key_frames"] == 5  # 0, 4, 8, 12 and the closing frame 13
    assert metrics["wall_seconds"] > 0 and metrics["fps"] > 0
    frames, pts, time_base, kinds = decode_all(str(out))
    assert kinds == ["video", "audio"]
    assert [p * time_base for p in pts] == [Fraction(p, 1000) for p in VFR_PTS]
    assert frames[0].shape == (64, 96, 3)
    xs = [square_centroid_x(f) for f in frames]
    assert all(b - a == pytest.approx(2, abs=1) for a, b in itertools.pairwise(xs))


def test_stylize_image_with_label_masks_and_strength(media, stylizer_address, tmp_path):
    _, _, style = media
    content = square_photo(tmp_path / "content.png")
    # Each photo its own mask: the content is 96x64, the style 80x60.
    paths = []
    for name, (height, width) in (("content", (64, 96)), ("style", (60, 80))):
        mask = np.zeros((height, width, 3), np.uint8)
        mask[: height // 2] = 255
        paths.append(tmp_path / f"mask_{name}.png")
        paths[-1].write_bytes(encode_image(mask, PNG).data)
    out = tmp_path / "masked.png"
    done = run_cli(
        "stylize-image", content, "--style", style, "-o", str(out), "--stylizer", stylizer_address,
        "--content-mask", str(paths[0]), "--style-mask", str(paths[1]), "--strength", "0.7",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_image_file(str(out)).shape == (64, 96, 3)


def test_a_photo_given_to_stylize_makes_a_one_frame_video_and_a_hint(media, stylizer_address, tmp_path):
    _, _, style = media
    photo = square_photo(tmp_path / "photo.png")
    out = tmp_path / "photo.mp4"
    done = run_cli("stylize", photo, "--style", style, "-o", str(out), "--stylizer", stylizer_address)
    assert done.returncode == 0, done.stderr
    assert "is a photo" in done.stderr and "stylize-image" in done.stderr
    frames, _, _, _ = decode_all(str(out))
    assert len(frames) == 1 and frames[0].shape == (64, 96, 3)


def test_only_a_one_frame_photo_counts_as_a_still(media, tmp_path):
    from PIL import Image

    _, clip, _ = media
    still = square_photo(tmp_path / "still.png")
    animated = tmp_path / "animated.gif"
    frames = [Image.fromarray(moving_square_frame(i)) for i in range(3)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=40)
    assert is_still_photo(still)
    assert not is_still_photo(str(animated)) and not is_still_photo(clip) and not is_still_photo(str(tmp_path))


def test_stylize_image(media, stylizer_address):
    folder, _, style = media
    content = square_photo(folder / "content.png")
    out = folder / "styled.png"
    done = run_cli("stylize-image", content, "--style", style, "-o", str(out), "--stylizer", stylizer_address)
    assert done.returncode == 0, done.stderr
    result = read_image_file(str(out))
    assert result.shape == (64, 96, 3)
    assert abs(square_centroid_x(result) - square_centroid_x(moving_square_frame(3))) < 0.5


def test_truncated_video_gives_every_decodable_frame(media, stylizer_address, interpolator_address):
    folder, _, style = media
    data = encode_clip([moving_square_frame(i) for i in range(20)], container="mpegts")
    cut = folder / "cut.ts"
    cut.write_bytes(data[: len(data) * 6 // 10])
    decodable = len(decode_all(str(cut))[0])
    out = folder / "cut_out.mp4"
    done = run_cli(
        "stylize",
        str(cut),
        "--style",
        style,
        "-o",
        str(out),
        "--stylizer",
        stylizer_address,
        "--interpolator",
        interpolator_address,
    )
    assert done.returncode == 0, done.stderr
    assert 0 < decodable < 20
    assert len(decode_all(str(out))[0]) == decodable


def bad_inputs(folder, clip, style):
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    bad_style = folder / "bad_style.jpg"
    bad_style.write_bytes(b"\xff\xd8 not a photo")
    out = str(folder / "x.mp4")
    video = ["stylize", clip, "--style", style, "-o"]
    far = ["--stylizer", "127.0.0.1:1", "--connect-timeout", "120"]
    content_png = square_photo(folder / "content_for_masks.png")
    image_to_png = ["stylize-image", content_png, "--style", style, "-o", str(folder / "x.png")]
    return {
        "missing-input": (["stylize", str(folder / "nope.mp4"), "--style", style, "-o", out], "nope.mp4"),
        "corrupt-input": (["stylize", str(corrupt), "--style", style, "-o", out], "corrupt.mp4"),
        "bad-style": (["stylize", clip, "--style", str(bad_style), "-o", out], "bad_style.jpg"),
        "missing-style": (["stylize", clip, "--style", str(folder / "nostyle.png"), "-o", out], "nostyle.png"),
        "bad-interval": (["stylize", clip, "--style", style, "-o", out, "--key-interval", "0"], "key-interval"),
        "no-output-folder": (["stylize", clip, "--style", style, "-o", str(folder / "no" / "x.mp4")], "folder"),
        "overwrite-input": (["stylize", clip, "--style", style, "-o", clip], "overwrite"),
        "bad-usage": (["stylize", clip], "--style"),
        "missing-content": (
            ["stylize-image", str(folder / "none.png"), "--style", style, "-o", str(folder / "x.png")],
            "none.png",
        ),
        # Refused before any service starts: an unreachable stylizer would otherwise be waited for.
        "no-extension": ([*video, str(folder / "x"), *far], "no extension"),
        "webm": ([*video, str(folder / "x.webm"), *far], ".webm is not a format"),
        "directory": ([*video, str(folder), *far], "is a directory"),
        "image-extension": (["stylize-image", clip, "--style", style, "-o", str(folder / "x.xyz"), *far], ".xyz"),
        "work-size": ([*video, out, "--work-size", "-1", *far], "--work-size"),
        "crf": ([*video, out, "--crf", "99", *far], "--crf"),
        "flow-size": ([*video, out, "--flow-size", "0", *far], "--flow-size"),
        "strength": ([*video, out, "--strength", "2", *far], "--strength"),
        "one-mask": (
            ["stylize-image", clip, "--style", style, "-o", str(folder / "x.png"), "--content-mask", style, *far],
            "go together",
        ),
        "unreadable-mask": (
            [*image_to_png, "--content-mask", str(bad_style), "--style-mask", style, *far],
            "content mask",
        ),
        "live-min-key-interval": (
            ["live", "--source", clip, "--style", style, "--min-key-interval", "0", *far],
            "--min-key-interval",
        ),
    }


BAD_INPUT_CASES = [
    "missing-input",
    "corrupt-input",
    "bad-style",
    "missing-style",
    "bad-interval",
    "no-output-folder",
    "overwrite-input",
    "bad-usage",
    "missing-content",
    "no-extension",
    "webm",
    "directory",
    "image-extension",
    "work-size",
    "crf",
    "flow-size",
    "strength",
    "one-mask",
    "unreadable-mask",
    "live-min-key-interval",
]


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_exits_2_with_one_line_and_no_traceback(media, case):
    folder, clip, style = media
    args, mention = bad_inputs(folder, clip, style)[case]
    done = run_cli(*args, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert mention in done.stderr
    assert not (folder / "x.mp4").exists()


def test_unknown_model_is_bad_input(media, stylizer_address, interpolator_address):
    folder, clip, style = media
    done = run_cli(
        "stylize",
        clip,
        "--style",
        style,
        "-o",
        str(folder / "m.mp4"),
        "--model",
        "no-such-model",
        "--stylizer",
        stylizer_address,
        "--interpolator",
        interpolator_address,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no-such-model" in done.stderr and "Traceback" not in done.stderr


def test_byo_weights_reach_the_embedded_stylizer_and_bad_ones_are_bad_input(media):
    """--model photowct --weights PATH starts the embedded stylizer with that file; a missing or
    mismatched file is a one-line error (exit 2) from the service's own check."""
    folder, _, style = media
    content = folder / "content_wct.png"
    content.write_bytes(encode_image(moving_square_frame(2), PNG).data)
    torch.manual_seed(0)
    weights = folder / "photo_wct.pth"
    torch.save(PhotoWCT().state_dict(), weights)
    out = folder / "wct.png"
    common = ("stylize-image", str(content), "--style", style, "--model", "photowct", "--work-size", "48")
    done = run_cli(*common, "-o", str(out), "--weights", str(weights), timeout=120)
    assert done.returncode == 0, done.stderr
    assert read_image_file(str(out)).shape == (64, 96, 3)
    for bad in (folder / "missing.pth", content):
        done = run_cli(*common, "-o", str(folder / "bad.png"), "--weights", str(bad), timeout=120)
        assert done.returncode == 2, done.stderr
        assert str(bad) in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_unreachable_stylizer_fails_with_exit_1(media):
    folder, clip, style = media
    done = run_cli(
        "stylize",
        clip,
        "--style",
        style,
        "-o",
        str(folder / "u.mp4"),
        "--stylizer",
        "127.0.0.1:1",
        "--interpolator",
        "inproc",
        "--connect-timeout",
        "2",
        timeout=60,
    )
    assert done.returncode == 1
    assert "did not answer" in done.stderr and "Traceback" not in done.stderr
    # Said while waiting, not after a silence: what is awaited, where, and the flag that bounds it.
    assert "waiting for the stylizer at 127.0.0.1:1" in done.stderr and "--connect-timeout" in done.stderr


def test_live_from_a_paced_file_writes_metrics_and_video(media, stylizer_address):
    folder, clip, style = media
    out, metrics_path = folder / "live.mp4", folder / "live.json"
    done = run_cli(
        "live",
        "--source",
        clip,
        "--style",
        style,
        "--stylizer",
        stylizer_address,
        "-o",
        str(out),
        "--metrics-json",
        str(metrics_path),
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(metrics_path.read_text())
    assert metrics["captured"] == metrics["output"] == len(VFR_PTS) and metrics["dropped"] == 0
    assert {"p50", "p95", "p99"} <= set(metrics["latency_ms"])
    frames, pts, _, _ = decode_all(str(out))
    assert len(frames) == len(VFR_PTS)
    # Capture times become timestamps: the source's uneven spacing survives.
    gaps = [b - a for a, b in itertools.pairwise(pts)]
    assert max(gaps) > 1.4 * min(gaps)


@pytest.mark.parametrize(
    "extra",
    [["--source", "synthetic", "--size", "big"], ["--source", "/no/such/clip.mp4"], ["--camera", "/no/such/camera"]],
    ids=["bad-size", "missing-file", "camera-not-opened"],
)
def test_live_bad_input_exits_2(media, stylizer_address, extra):
    _, _, style = media
    done = run_cli("live", *extra, "--style", style, "--stylizer", stylizer_address, "--seconds", "1")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    clip = tmp_path_factory.mktemp("long") / "long.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i % 40) for i in range(1500)]))
    return clip


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["term", "hup", "int"])
def test_a_stopped_run_leaves_no_output_no_service_and_no_file(media, long_clip, tmp_path, stop):
    _, _, style = media
    out = tmp_path / "stopped.mp4"
    logs_before = set(Path(tempfile.gettempdir()).glob("mvs-*"))
    client = subprocess.Popen(
        [sys.executable, "-m", "client", "stylize", str(long_clip), "--style", style, "-o", str(out)],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(lambda: services_started_by(client.pid), 60), "the client started no stylizer"
    assert wait_until(lambda: any(tmp_path.iterdir()), 120), "no frame was being written"
    service = services_started_by(client.pid)
    client.send_signal(stop)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 128 + stop, stderr
    assert "interrupted" in stderr and "not written" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # neither the output nor its partial file
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in service), 15)
    assert set(Path(tempfile.gettempdir()).glob("mvs-*")) == logs_before


def test_services_die_with_a_client_killed_outright(media, long_clip, tmp_path):
    _, _, style = media
    client = subprocess.Popen(
        [sys.executable, "-m", "client", "stylize", str(long_clip), "--style", style, "-o", str(tmp_path / "k.mp4")],
        cwd=REPO_ROOT,
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: services_started_by(client.pid), 60)
    service = services_started_by(client.pid)
    client.kill()
    client.wait(10)
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in service), 20), (
        "a stylizer outlived its client"
    )


def test_bad_input_stops_the_stylizer_started_ahead_of_the_checks(media, tmp_path):
    # The command starts its embedded stylizer before parsing (to overlap the imports); refused
    # input must not leave it behind.
    _, clip, style = media
    client = subprocess.Popen(
        [sys.executable, "-m", "client", "stylize", clip, "--style", style, "-o", str(tmp_path / "out.webm")],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = []
    while client.poll() is None:
        started = started or services_started_by(client.pid)
        time.sleep(0.02)
    assert client.returncode == 2 and ".webm" in client.stderr.read()
    assert started, "no stylizer was started ahead"
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in started), 10)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--model", "nope"], ["--model nope", "choose from", "preset"]),
        (["--model", "photowct"], ["--weights PATH"]),  # the client's flag, not the service's NAME=PATH
    ],
    ids=["unknown-model", "missing-weights"],
)
def test_a_refusal_of_the_embedded_stylizer_is_one_line_in_the_clients_terms(media, extra, words):
    folder, clip, style = media
    done = run_cli("stylize", clip, "--style", style, "-o", str(folder / "refused.mp4"), *extra, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert all(word in done.stderr for word in words), done.stderr
    assert "usage:" not in done.stderr


def test_a_batch_reports_a_bad_file_finishes_the_others_and_never_overwrites(media, stylizer_address, tmp_path):
    _, clip, style = media
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("warm.png", "cold.png"):
        (styles / name).write_bytes(Path(style).read_bytes())
    good = tmp_path / "good.mp4"
    good.write_bytes(Path(clip).read_bytes())
    existing = tmp_path / "good-cold.mp4"
    existing.write_bytes(b"keep me")
    done = run_cli(
        "stylize", str(good), str(tmp_path / "missing.mp4"), "--style", str(styles),
        "--stylizer", stylizer_address, "--key-interval", "5",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert len(decode_all(str(tmp_path / "good-warm.mp4"))[0]) == len(VFR_PTS)  # beside the input, named by style
    assert existing.read_bytes() == b"keep me" and "--overwrite" in done.stderr
    assert "missing.mp4" in done.stderr and "1 of 4 stylized" in done.stderr
    # Progress on a pipe: a summary line per output (and no bar).
    assert "wrote " + str(tmp_path / "good-warm.mp4") in done.stderr
    again = run_cli(
        "stylize", str(good), "--style", str(styles / "cold.png"), "--stylizer", stylizer_address, "--overwrite", "-q",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stderr == "" and len(decode_all(str(existing))[0]) == len(VFR_PTS)


def test_preview_frame_writes_original_and_stylized_side_by_side(media, stylizer_address, tmp_path):
    _, clip, style = media
    out = tmp_path / "look.mp4"
    done = run_cli(
        "stylize", clip, "--style", style, "-o", str(out), "--preview-frame", "3", "--stylizer", stylizer_address
    )
    assert done.returncode == 0, done.stderr
    picture = read_image_file(str(tmp_path / "look.frame3.png"))
    assert picture.shape == (64, 96 * 2 + 8, 3) and not out.exists()
    # The left half is frame 3 itself: the square where the source put it.
    assert abs(square_centroid_x(picture[:, :96]) - square_centroid_x(moving_square_frame(3))) < 1.5
    too_far = run_cli(
        "stylize", clip, "--style", style, "-o", str(out), "--preview-frame", "999", "--stylizer", stylizer_address
    )
    assert too_far.returncode == 2 and "no frame 999" in too_far.stderr


def test_progress_lines_on_a_pipe():
    stream = io.StringIO()
    progress = Progress("clip.mp4", stream=stream, every_s=0.0)
    progress.update(10, 40)
    progress.update(20, 40)
    progress.close("wrote clip.mp4")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("clip.mp4: 10/40 frames") and "frames/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1] == "wrote clip.mp4" and len(lines) == 3
    quiet = io.StringIO()
    silent = Progress("clip.mp4", quiet=True, stream=quiet, every_s=0.0)
    silent.update(10, 40)
    silent.close("wrote clip.mp4")
    assert quiet.getvalue() == ""


def test_the_look_exported_as_a_lut_reproduces_the_stylized_photo(media, stylizer_address, tmp_path):
    _, _, style = media
    content = tmp_path / "content.png"
    content.write_bytes(encode_image(textured_background(), PNG).data)
    out, lut = tmp_path / "styled.png", tmp_path / "look.cube"
    done = run_cli(
        "stylize-image",
        str(content),
        "--style",
        style,
        "-o",
        str(out),
        "--lut",
        str(lut),
        "--stylizer",
        stylizer_address,
    )
    assert done.returncode == 0, done.stderr
    assert "LUT_3D_SIZE 33" in lut.read_text()
    # The LUT applied here to the content gives (about) the stylizer's own output (this look darkens
    # some brighter colours: the LUT follows it on the photo's own colours, off the grey axis).
    original, styled = read_image_file(str(content)), read_image_file(str(out))
    graded = apply_lut(original, read_cube(str(lut)))
    assert psnr(graded, styled) > 30 and psnr(graded, styled) >= psnr(original, styled) + 8
    unwritable = str(tmp_path / "no" / "x.cube")
    bad = run_cli("stylize-image", str(content), "--style", style, "-o", str(tmp_path / "b.png"), "--lut", unwritable)
    assert bad.returncode == 2 and "--lut" in bad.stderr
