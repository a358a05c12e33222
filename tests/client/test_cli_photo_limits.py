"""A photo over the pixel limit, or no photo at all, is bad input: exit 2 and one line."""

import struct
import subprocess
import sys
import zlib

import pytest

from client.remote.embedded import REPO_ROOT
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import moving_square_frame

# Refused before any service is reached: an unreachable stylizer would otherwise be waited for.
FAR = ["--stylizer", "127.0.0.1:1", "--connect-timeout", "120"]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header (no pixels) claiming width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def bmp_rle8(side: int) -> bytes:
    """An 8-bit RLE BMP whose header claims side x side; its data ends at once (all colour 0)."""
    palette, pixels = bytes(4 * 256), b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


@pytest.mark.parametrize(
    ("which", "name", "data", "words"),
    [
        ("style", "bad.png", png_claiming(8000, 8000), "8000x8000 exceeds 40000000 pixels"),
        ("content", "bad.bmp", bmp_rle8(7000), "7000x7000 exceeds 40000000 pixels"),
    ],
    ids=["style-png", "content-bmp"],
)
def test_a_photo_over_the_pixel_limit_exits_2_with_one_line(tmp_path, which, name, data, words):
    good = tmp_path / "good.png"
    good.write_bytes(encode_image(moving_square_frame(0), PNG).data)
    bad = tmp_path / name
    bad.write_bytes(data)
    content, style = (good, bad) if which == "style" else (bad, good)
    out = tmp_path / "out.png"
    done = subprocess.run(
        [sys.executable, "-m", "client", "stylize-image", str(content), "--style", str(style), "-o", str(out), *FAR],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {bad}: image of {words}"]
    assert not out.exists()
