"""Encode and decode frames for the wire (``EncodedImage``). Arrays are HxWx3 uint8 RGB."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from mvstylizer_common.errors import CorruptImageError, LimitExceededError
from mvstylizer_common.limits import DEFAULT_MAX_PIXELS, MAX_IMAGE_FILE_BYTES
from protos.mvstylizer.v1 import media_pb2

JPEG = media_pb2.FRAME_ENCODING_JPEG
PNG = media_pb2.FRAME_ENCODING_PNG
RAW = media_pb2.FRAME_ENCODING_RAW_RGB24

ENCODING_BY_NAME = {"jpeg": JPEG, "png": PNG, "raw": RAW}
DEFAULT_JPEG_QUALITY = 92


def encode_image(
    rgb: np.ndarray, encoding: int = JPEG, jpeg_quality: int = DEFAULT_JPEG_QUALITY
) -> media_pb2.EncodedImage:
    """Encode an HxWx3 uint8 RGB array."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    if encoding == RAW:
        data = np.ascontiguousarray(rgb).tobytes()
    else:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if encoding == PNG:
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        else:
            encoding = JPEG
            # OpenCV takes 0..100 (it clamps 101 and up with a warning, and fails on values past int32).
            quality = min(max(int(jpeg_quality), 0), 100)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("image encoding failed")
        data = buf.tobytes()
    return media_pb2.EncodedImage(encoding=encoding, data=data, width=width, height=height)


def decode_image(message: media_pb2.EncodedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to HxWx3 uint8 RGB; raises CorruptImageError for bytes that do not decode."""
    # Read once: every read of a bytes field copies it (a 60 MB frame is 20 ms under the GIL).
    if message.encoding not in media_pb2.FrameEncoding.values():
        raise CorruptImageError(f"image encoding {message.encoding} is not a FrameEncoding")
    data = message.data
    if not data:
        raise CorruptImageError("empty image")
    if message.encoding == RAW:
        width, height = message.width, message.height
        if width * height > max_pixels:
            raise LimitExceededError(f"image of {width}x{height} exceeds {max_pixels} pixels")
        if width == 0 or height == 0 or len(data) != width * height * 3:
            raise CorruptImageError(f"raw image of {len(data)} bytes does not match {width}x{height}x3")
        return np.frombuffer(data, np.uint8).reshape(height, width, 3).copy()
    if message.width and message.height and message.width * message.height > max_pixels:
        raise LimitExceededError(f"image of {message.width}x{message.height} exceeds {max_pixels} pixels")
    # The size the bytes claim, read from the header before anything is decoded: a small file
    # that decodes to a huge image (a decompression bomb) is refused without being decoded.
    size = encoded_size(data)
    if size is None:
        raise CorruptImageError("image bytes are not a JPEG or PNG")
    if size[0] * size[1] > max_pixels:
        raise LimitExceededError(f"image of {size[0]}x{size[1]} exceeds {max_pixels} pixels")
    bgr = _decode(data, max_pixels)
    del data
    if bgr is None:
        raise CorruptImageError("image bytes do not decode as JPEG or PNG")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise LimitExceededError(f"image of {bgr.shape[1]}x{bgr.shape[0]} exceeds {max_pixels} pixels")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are not frames.
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _decode(data: bytes, max_pixels: int, label: str = "image") -> np.ndarray | None:
    """cv2.imdecode, with OpenCV's own pixel cap (OPENCV_IO_MAX_IMAGE_PIXELS, see the package)
    reported as the limit it is rather than as an OpenCV assertion."""
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        if "pixel" in str(error).lower():
            raise LimitExceededError(f"{label}: the image its decoder finds exceeds {max_pixels} pixels") from error
        raise CorruptImageError(f"{label}: does not decode") from error


def declared_size(image: media_pb2.EncodedImage) -> tuple[int, int] | None:
    """(width, height) a wire image declares, without decoding: a raw frame's fields, or its JPEG or
    PNG header; None for bytes that are neither. Blocking (reading the bytes copies them)."""
    if image.encoding == RAW:
        return image.width, image.height
    return encoded_size(image.data)


def encoded_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a PNG or JPEG header, without decoding; None if neither."""
    if data[:8] == _PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        if marker == 0x00:  # a stuffed byte where a marker belongs: libjpeg skips such junk and
            return None  # may find another frame header than a walk by lengths would
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_FRAME_MARKERS:
            if position + 9 > len(data):
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header
            return None
        position += 2 + length
    return None


# The photo formats a file may be in: each is one OpenCV decodes and Pillow sizes from its header
# alone, told apart by the magic bytes both libraries go by. (name, Pillow's format, test of the
# first bytes.) Anything else OpenCV reads (Radiance HDR, PAM, PFM...) is refused: its size could
# not be checked before decoding.
_PHOTO_FORMATS: tuple[tuple[str, str, Callable[[bytes], bool]], ...] = (
    ("JPEG", "JPEG", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("PNG", "PNG", lambda head: head.startswith(_PNG_SIGNATURE)),
    ("WebP", "WEBP", lambda head: head.startswith(b"RIFF") and head[8:12] == b"WEBP"),
    ("TIFF", "TIFF", lambda head: head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"))),
    ("BMP", "BMP", lambda head: head.startswith(b"BM")),
    ("GIF", "GIF", lambda head: head.startswith((b"GIF87a", b"GIF89a"))),
    ("PNM", "PPM", lambda head: len(head) >= 2 and head[0:1] == b"P" and head[1] in b"123456"),
    ("Sun raster", "SUN", lambda head: head.startswith(b"\x59\xa6\x6a\x95")),
    ("JPEG 2000", "JPEG2000", lambda head: head.startswith((b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  \r\n\x87\n"))),
    ("AVIF", "AVIF", lambda head: head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")),
)
_FORMAT_NAMES = ", ".join(name for name, _, _ in _PHOTO_FORMATS[:-1]) + " or " + _PHOTO_FORMATS[-1][0]
# Enough leading bytes to tell every format above apart.
_SNIFF_BYTES = 16
# Pillow warns while it opens images over its own, higher pixel limit and headers that are partly
# corrupt; the checks here refuse or accept those anyway, and a warning would break one-line errors.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
# The same for OpenCV's decoders ("PNG input buffer is incomplete" before "not a readable image").
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def photo_format(head: bytes) -> tuple[str, str] | None:
    """(name, Pillow's format) of the one photo format whose magic bytes start head; None when
    no format (or, for a crafted file, more than one) claims them."""
    matches = [(name, pillow) for name, pillow, test in _PHOTO_FORMATS if test(head[:_SNIFF_BYTES])]
    return matches[0] if len(matches) == 1 else None


def photo_size(data: bytes, label: str = "image") -> tuple[int, int]:
    """(width, height) of the photo in data, read from its header without decoding the pixels.

    For a multi-page or animated file this is the first page or the canvas: what OpenCV decodes.
    CorruptImageError when data is not one of the photo formats or its header does not parse."""
    kind = photo_format(data)
    if kind is None:
        raise CorruptImageError(f"{label}: not a readable image (not {_FORMAT_NAMES})")
    name, pillow_format = kind
    if pillow_format in ("JPEG", "PNG") and (size := encoded_size(data)) is not None:
        return size
    try:
        # Image.open parses the header only; the pixels would be decoded by load(), never called.
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as picture:
            return picture.size
    except Image.DecompressionBombError:  # over Pillow's own limit, far over ours
        claims = f"more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels"
        raise LimitExceededError(f"{label}: {name} image of {claims} exceeds the pixel limit") from None
    except Exception:  # a hostile header may raise anything while it is parsed
        raise CorruptImageError(f"{label}: not a readable {name} image") from None


def read_image_file(path: str) -> np.ndarray:
    """Read a photo from disk as RGB; raises CorruptImageError with the path on failure."""
    return load_image_file(path)[1]


def load_image_file(path: str) -> tuple[media_pb2.EncodedImage, np.ndarray]:
    """A photo file as a wire message holding its own bytes (no re-encoding) and as RGB.

    Raises CorruptImageError naming the path when the file is missing, not a photo or does not
    decode, LimitExceededError when it is over MAX_IMAGE_FILE_BYTES or the pixel limit. Reads
    at most MAX_IMAGE_FILE_BYTES + 1 bytes, whatever the file claims (/dev/zero claims 0)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            # Refuse what is no photo before reading it: a 3 GB video given as a style.
            if photo_format(head) is None:
                raise CorruptImageError(f"{path}: not a readable image (not {_FORMAT_NAMES})")
            if handle.seekable():  # one buffer, no copy joining the head to the rest
                handle.seek(0)
                data = handle.read(MAX_IMAGE_FILE_BYTES + 1)
            else:  # a pipe
                data = head + handle.read(MAX_IMAGE_FILE_BYTES + 1 - len(head))
    except OSError as error:
        raise CorruptImageError(f"{path}: {error.strerror or error}") from error
    return load_image_bytes(data, path)


def load_image_bytes(
    data: bytes, label: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[media_pb2.EncodedImage, np.ndarray]:
    """Photo bytes in any of the photo formats (JPEG, PNG, WebP, TIFF, BMP...), as a wire message
    and as RGB; JPEG and PNG keep their bytes, others are re-encoded as PNG. The size the header
    claims is checked against max_pixels before anything is decoded (a decompression bomb costs
    no memory), and bytes past MAX_IMAGE_FILE_BYTES are refused unread."""
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise LimitExceededError(f"{label}: larger than {MAX_IMAGE_FILE_BYTES >> 20} MiB, the most a photo file may be")
    width, height = photo_size(data, label)
    if width * height > max_pixels:
        raise LimitExceededError(f"{label}: image of {width}x{height} exceeds {max_pixels} pixels")
    bgr = _decode(data, max_pixels, label)
    if bgr is None:
        raise CorruptImageError(f"{label}: not a readable image")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise LimitExceededError(f"{label}: image of {bgr.shape[1]}x{bgr.shape[0]} exceeds {max_pixels} pixels")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if encoded_size(data) is None:
        # Other formats (BMP, TIFF, WebP...) travel as PNG: the wire carries JPEG and PNG only.
        return encode_image(rgb, PNG), rgb
    encoding = PNG if data[:8] == _PNG_SIGNATURE else JPEG
    message = media_pb2.EncodedImage(encoding=encoding, data=data, width=bgr.shape[1], height=bgr.shape[0])
    return message, rgb


def write_image_file(path: str, rgb: np.ndarray, shown_as: str | None = None) -> None:
    """Write RGB to disk; the format follows the extension. shown_as: the name errors give (the
    output a partial file becomes)."""
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{shown_as or path}: could not be written")
