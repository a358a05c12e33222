"""Photo files in every format: sized from the header before decoding, read with a size cap."""

import io
import os
import struct
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from client.remote.embedded import REPO_ROOT
from mvstylizer_common import imagecodec
from mvstylizer_common.errors import CorruptImageError, LimitExceededError
from mvstylizer_common.imagecodec import decode_image, load_image_bytes, load_image_file
from protos.mvstylizer.v1 import media_pb2

PICTURE = (np.arange(37 * 53 * 3) % 251).astype(np.uint8).reshape(37, 53, 3)

# Every format OpenCV writes and the photo reader takes (PGM holds one channel).
FORMATS = [".jpg", ".png", ".webp", ".tif", ".bmp", ".gif", ".ppm", ".pgm", ".ras", ".jp2", ".avif"]


def encoded(extension: str) -> bytes:
    picture = PICTURE
    if extension == ".pgm":
        picture = picture[..., 0]
    ok, buffer = cv2.imencode(extension, picture)
    assert ok
    return buffer.tobytes()


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if OpenCV is asked to decode anything."""

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(cv2, "imdecode", must_not_decode)
    monkeypatch.setattr(cv2, "imread", must_not_decode)


@pytest.mark.parametrize("extension", FORMATS)
def test_every_format_loads_the_pixels_opencv_decodes(tmp_path, extension):
    data = encoded(extension)
    path = tmp_path / f"photo{extension}"
    path.write_bytes(data)
    message, rgb = load_image_file(str(path))
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb, expected)
    assert (message.width, message.height) == (53, 37)
    if extension != ".jpg":  # everything else travels losslessly
        np.testing.assert_array_equal(decode_image(message), rgb)


@pytest.mark.parametrize("extension", FORMATS)
def test_every_format_over_the_pixel_limit_is_refused_before_decoding(no_decoding, extension):
    with pytest.raises(LimitExceededError, match="53x37 exceeds 1000 pixels"):
        load_image_bytes(encoded(extension), "photo", max_pixels=1000)


def webp_header(width: int, height: int) -> bytes:
    """A lossless WebP header claiming width x height (16383 is WebP's largest side)."""
    payload = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14) + bytes(8)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_rle8(side: int) -> bytes:
    """An 8-bit RLE BMP whose header claims side x side; its data ends at once (all colour 0)."""
    palette, pixels = bytes(4 * 256), b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def tiff_group4(*sides: int) -> bytes:
    """A bilevel TIFF in Group 4 with one page per side (a few KB for 8000x8000)."""
    pages = [Image.new("1", (side, side), 1) for side in sides]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", compression="group4", save_all=True, append_images=pages[1:])
    return out.getvalue()


def gif_claiming(side: int) -> bytes:
    """A 4x4 GIF whose screen and image descriptor claim side x side."""
    out = io.BytesIO()
    Image.new("P", (4, 4), 0).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", side, side)
    descriptor = data.index(b"\x2c")
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", side, side)
    return bytes(data)


BOMBS = {
    "webp-16383x16383": (lambda: webp_header(16383, 16383), "WebP image of more than"),
    "tiff-8000x8000": (lambda: tiff_group4(8000), "8000x8000 exceeds 40000000 pixels"),
    "bmp-30000x30000": (lambda: bmp_rle8(30000), "BMP image of more than"),
    "bmp-9000x9000": (lambda: bmp_rle8(9000), "9000x9000 exceeds 40000000 pixels"),
    "gif-65535x65535": (lambda: gif_claiming(65535), "GIF image of more than"),
    "pnm-20000x20000": (lambda: b"P6\n20000 20000\n255\n" + bytes(64), "PNM image of more than"),
    "tiff-first-page-8000x8000": (lambda: tiff_group4(8000, 64), "8000x8000 exceeds"),
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_small_file_claiming_a_huge_image_is_refused_before_decoding(tmp_path, no_decoding, bomb):
    make, words = BOMBS[bomb]
    path = tmp_path / "bomb"
    path.write_bytes(make())
    with pytest.raises(LimitExceededError, match=words) as refusal:
        load_image_file(str(path))
    assert str(path) in str(refusal.value)


def test_a_multi_page_tiff_gives_its_first_page_without_decoding_the_others(tmp_path):
    """OpenCV reads the first page only, so only the first page's size is checked."""
    path = tmp_path / "pages.tif"
    path.write_bytes(tiff_group4(64, 8000))
    assert load_image_file(str(path))[1].shape == (64, 64, 3)


@pytest.mark.parametrize(
    "data",
    [b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n", b"P7\nWIDTH 8\n", b"PF\n8 8\n-1\n", b"", bytes(64)],
    ids=["hdr", "pam", "pfm", "empty", "zeros"],
)
def test_formats_whose_size_is_not_checked_are_refused(no_decoding, data):
    with pytest.raises(CorruptImageError, match="photo: not a readable image \\(not JPEG, PNG, WebP"):
        load_image_bytes(data, "photo")


def test_a_lying_header_is_refused_as_corrupt(no_decoding):
    with pytest.raises(CorruptImageError, match="not a readable TIFF image"):
        load_image_bytes(b"II*\x00" + b"\xff" * 40, "photo")


def fifo_feeding(path, head: bytes, total: int) -> threading.Thread:
    """A named pipe at path that yields head, then zeros up to total bytes (a stream with no size)."""
    os.mkfifo(path)

    def feed():
        try:
            with open(path, "wb") as pipe:
                pipe.write(head)
                left = total - len(head)
                while left > 0:
                    left -= pipe.write(bytes(min(left, 1 << 16)))
        except BrokenPipeError:  # the reader stopped early, as it should
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return feeder


def test_a_stream_past_the_file_cap_is_refused_after_reading_just_past_it(tmp_path, monkeypatch, no_decoding):
    monkeypatch.setattr(imagecodec, "MAX_IMAGE_FILE_BYTES", 1 << 20)
    path = tmp_path / "endless.png"
    feeder = fifo_feeding(path, b"\x89PNG\r\n\x1a\n", 8 << 20)
    with pytest.raises(LimitExceededError, match="larger than 1 MiB"):
        load_image_file(str(path))
    feeder.join(10)
    assert not feeder.is_alive()


def test_a_stream_that_is_no_image_is_refused_from_its_first_bytes(tmp_path, no_decoding):
    """/dev/zero, a video given as a photo: refused before the rest is read."""
    path = tmp_path / "zeros"
    feeder = fifo_feeding(path, b"", 8 << 20)
    with pytest.raises(CorruptImageError, match="zeros: not a readable image \\(not JPEG"):
        load_image_file(str(path))
    feeder.join(10)
    assert not feeder.is_alive()


def test_a_huge_file_that_is_no_image_is_refused_unread(tmp_path, no_decoding):
    path = tmp_path / "film.mp4"
    with open(path, "wb") as handle:  # sparse: 3 GB claimed, no disk used
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        handle.truncate(3 << 30)
    with pytest.raises(CorruptImageError, match=r"film\.mp4: not a readable image \(not JPEG"):
        load_image_file(str(path))


def jpeg_with_a_decoy_frame_header(width: int, height: int) -> bytes:
    """A JPEG whose real frame header claims width x height, behind a junk `FF 00` and an APP1
    segment holding a decoy 16x16 frame header: a walk by segment lengths reads the decoy, while
    libjpeg skips the junk, then the APP1 segment, and decodes the real (huge) frame."""
    ok, encoded_jpeg = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    assert ok
    body = bytearray(encoded_jpeg.tobytes())
    position = 2
    while body[position + 1] not in (0xC0, 0xC1, 0xC2):
        position += 2 + int.from_bytes(body[position + 2 : position + 4], "big")
    body[position + 5 : position + 9] = struct.pack(">HH", height, width)
    decoy = bytes.fromhex("ffc0001108001000100301220002110103110100")[:19]
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(decoy)) + decoy
    return b"\xff\xd8" + b"\xff\x00\x00\x06" + app1 + bytes(body[2:])


def test_a_jpeg_with_a_decoy_frame_header_is_refused_before_decoding(no_decoding):
    bomb = jpeg_with_a_decoy_frame_header(8000, 8000)
    assert imagecodec.encoded_size(bomb) is None  # junk where a marker belongs: no size is trusted
    with pytest.raises(CorruptImageError):
        decode_image(media_pb2.EncodedImage(encoding=imagecodec.JPEG, data=bomb))


def test_opencv_itself_refuses_an_image_past_the_pixel_limit_in_every_entry_point():
    # The backstop behind the header checks: set as the packages load, before OpenCV does.
    bomb = jpeg_with_a_decoy_frame_header(8000, 8000)
    script = (
        "import sys, {package}, cv2, numpy as np\n"
        "try:\n"
        "    image = cv2.imdecode(np.frombuffer(sys.stdin.buffer.read(), np.uint8), cv2.IMREAD_COLOR)\n"
        "    print('decoded', None if image is None else image.shape)\n"
        "except cv2.error:\n"
        "    print('refused')\n"
    )
    for package in ("client", "services", "mvstylizer_common", "benchmarks"):
        done = subprocess.run(
            [sys.executable, "-c", script.format(package=package)],
            input=bomb,
            capture_output=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert done.stdout.decode().strip() == "refused", (package, done.stdout, done.stderr[-500:])
    with pytest.raises(LimitExceededError):
        load_image_bytes(bomb, "bomb.jpg")
