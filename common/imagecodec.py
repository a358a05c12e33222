"""Encode and decode frames for the wire (``EncodedImage``). Arrays are HxWx3 uint8 RGB."""

from __future__ import annotations

import cv2
import numpy as np

from common.errors import CorruptImageError, LimitExceededError
from protos.mvstylizer.v1 import media_pb2

JPEG = media_pb2.FRAME_ENCODING_JPEG
PNG = media_pb2.FRAME_ENCODING_PNG
RAW = media_pb2.FRAME_ENCODING_RAW_RGB24

ENCODING_BY_NAME = {"jpeg": JPEG, "png": PNG, "raw": RAW}
DEFAULT_JPEG_QUALITY = 92
# A decoded frame larger than this is refused (8K UHD is 33 Mpx).
DEFAULT_MAX_PIXELS = 40_000_000


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
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise RuntimeError("image encoding failed")
        data = buf.tobytes()
    return media_pb2.EncodedImage(encoding=encoding, data=data, width=width, height=height)


def decode_image(message: media_pb2.EncodedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to HxWx3 uint8 RGB; raises CorruptImageError for bytes that do not decode."""
    if not message.data:
        raise CorruptImageError("empty image")
    if message.encoding == RAW:
        width, height = message.width, message.height
        if width * height > max_pixels:
            raise LimitExceededError(f"image of {width}x{height} exceeds {max_pixels} pixels")
        if width == 0 or height == 0 or len(message.data) != width * height * 3:
            raise CorruptImageError(f"raw image of {len(message.data)} bytes does not match {width}x{height}x3")
        return np.frombuffer(message.data, np.uint8).reshape(height, width, 3).copy()
    if message.width and message.height and message.width * message.height > max_pixels:
        raise LimitExceededError(f"image of {message.width}x{message.height} exceeds {max_pixels} pixels")
    bgr = cv2.imdecode(np.frombuffer(message.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CorruptImageError("image bytes do not decode as JPEG or PNG")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise LimitExceededError(f"image of {bgr.shape[1]}x{bgr.shape[0]} exceeds {max_pixels} pixels")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image_file(path: str) -> np.ndarray:
    """Read a photo from disk as RGB; raises CorruptImageError with the path on failure."""
    return load_image_file(path)[1]


def load_image_file(path: str) -> tuple[media_pb2.EncodedImage, np.ndarray]:
    """A photo file as a wire message holding its own bytes (no re-encoding) and as RGB.

    Raises CorruptImageError naming the path when the file is missing or does not decode.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CorruptImageError(f"{path}: {error.strerror or error}") from error
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        raise CorruptImageError(f"{path}: not a readable image")
    encoding = PNG if data[:8] == b"\x89PNG\r\n\x1a\n" else JPEG
    message = media_pb2.EncodedImage(encoding=encoding, data=data, width=bgr.shape[1], height=bgr.shape[0])
    return message, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image_file(path: str, rgb: np.ndarray) -> None:
    """Write RGB to disk; the format follows the extension."""
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write image")
