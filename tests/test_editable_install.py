"""`make setup`'s editable install: `mvstylizer` runs this checkout from any folder, names itself in
its usage line, and takes relative paths from the folder it is run in."""

import site
import subprocess
import sys
from pathlib import Path

import pytest

from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import encode_clip, moving_square_frame, style_photo

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mvstylizer(tmp_path_factory) -> Path:
    """A fresh environment holding only the project (editable, as `make setup` installs it); the
    dependencies come from this interpreter's site-packages, so nothing is downloaded."""
    env = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (purelib,) = env.glob("lib/python3*/site-packages")
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", REPO_ROOT],
        check=True,
        cwd=env,
    )
    return env / "bin" / "mvstylizer"


def test_the_installed_command_names_itself_and_works_from_another_folder(mvstylizer, tmp_path, stylizer_address):
    shown = subprocess.run([mvstylizer, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: mvstylizer "), shown.stdout[:80]
    (tmp_path / "clip.mp4").write_bytes(encode_clip([moving_square_frame(i) for i in range(6)]))
    (tmp_path / "dusk.png").write_bytes(encode_image(style_photo(), PNG).data)
    relative = ["clip.mp4", "--style", "dusk.png", "--preview-frame", "2"]
    done = subprocess.run(
        [mvstylizer, "stylize", *relative, "--stylizer", stylizer_address],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "clip-dusk.frame2.png").is_file()
