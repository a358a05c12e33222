"""Start-up and argument checks: the command's name, Ctrl-C before the run, --lut refused up front
or never half-done, and a Stylizer used after its with block."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from client.api import Stylizer
from client.remote.embedded import REPO_ROOT
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.client.test_cli import run_cli
from tests.media import encode_clip, moving_square_frame, style_photo

FAR = ["--stylizer", "127.0.0.1:1", "--connect-timeout", "120"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checks")
    clip = folder / "clip.mp4"
    clip.write_bytes(encode_clip([moving_square_frame(i) for i in range(8)]))
    style = folder / "style.png"
    style.write_bytes(encode_image(style_photo(), PNG).data)
    return folder, str(clip), str(style)


_RUN_AS_MVSTYLIZER = "import sys; sys.argv[0] = '/x/bin/mvstylizer'; from client.launcher import main; main()"


def test_usage_names_the_command_as_it_was_run():
    from client.cli import program_name

    assert program_name("/home/me/.venv/bin/mvstylizer") == "mvstylizer"
    assert program_name("/repo/client/__main__.py") == "python -m client"
    shown = subprocess.run(
        [sys.executable, "-c", _RUN_AS_MVSTYLIZER, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: mvstylizer "), shown.stdout[:80]


# Ctrl-C while the client's modules are still importing, made certain: the import raises it.
_INTERRUPTED_IMPORT = """
import builtins, runpy, sys
real = builtins.__import__
def interrupting(name, *args, **kwargs):
    if name == "client.cli":
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = interrupting
sys.argv = ["mvstylizer", "stylize", "clip.mp4", "--style", "s.png"]
runpy.run_module("client", run_name="__main__")
"""


def _wait_for_the_client_to_import(pid: int) -> None:
    """Until the client's own imports run (numpy's extension is mapped): a signal during the
    interpreter's start-up, before any of the client's code, is the interpreter's to handle."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text():
            return
        time.sleep(0.002)
    raise AssertionError("the client never started importing")


def test_ctrl_c_during_start_up_exits_130_without_a_traceback():
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip() == "interrupted"
    # A real SIGINT while the client's modules import (they take about a second).
    started = subprocess.Popen(
        [sys.executable, "-m", "client", "stylize", "clip.mp4", "--style", "s.png"],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_the_client_to_import(started.pid)
    started.send_signal(signal.SIGINT)
    _, err = started.communicate(timeout=60)
    assert started.returncode == 130 and "Traceback" not in err, err


def test_a_lut_naming_a_directory_is_refused_before_any_work(media):
    folder, clip, style = media
    target = folder / "look.cube"
    target.mkdir()
    out = folder / "out.mp4"
    # Refused before the (unreachable) stylizer is waited for: exit 2, one line, nothing written.
    done = run_cli("stylize", clip, "--style", style, "-o", str(out), "--lut", str(target), *FAR, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "is a directory" in done.stderr
    assert not out.exists() and target.is_dir()
    photo = str(folder / "p.png")
    image = run_cli("stylize-image", style, "--style", style, "-o", photo, "--lut", str(target), *FAR, timeout=120)
    assert image.returncode == 2 and "is a directory" in image.stderr


def test_a_preview_frame_the_video_lacks_writes_no_lut(media, stylizer_address):
    folder, clip, style = media
    lut = folder / "none.cube"
    done = run_cli(
        "stylize",
        clip,
        "--style",
        style,
        "-o",
        str(folder / "p.mp4"),
        "--preview-frame",
        "999",
        "--lut",
        str(lut),
        "--stylizer",
        stylizer_address,
        timeout=120,
    )
    assert done.returncode == 2 and "no frame 999" in done.stderr, done.stderr
    assert not lut.exists()


def test_a_stylizer_used_after_its_with_block_fails_at_once(media, stylizer_address):
    folder, clip, style = media
    with Stylizer(style=style, stylizer=stylizer_address) as stylizer:
        frames = stylizer.stylize_frames(iter([moving_square_frame(i) for i in range(200)]), fps=200)
        first = next(frames)
    assert first.shape == (64, 96, 3)
    with pytest.raises(RuntimeError, match="closed"):
        next(frames)  # a stream begun inside the block and drawn after it
    with pytest.raises(RuntimeError, match="closed"):
        stylizer.stylize_image(style)
    with pytest.raises(RuntimeError, match="closed"):
        stylizer.stylize_video(clip, str(folder / "late.mp4"))
    with pytest.raises(RuntimeError, match="closed"):
        next(stylizer.stylize_frames(iter([np.zeros((64, 96, 3), np.uint8)])))
    assert not (folder / "late.mp4").exists()
