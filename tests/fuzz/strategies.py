"""Hypothesis strategies shared by the fuzz suite: images good, garbled and lying, and the statuses allowed.

Every example is small (frames of at most 48 px) so the suite stays within a few minutes on two cores."""

from __future__ import annotations

import struct
import zlib

import grpc
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mvstylizer_common.imagecodec import JPEG, PNG, RAW, encode_image
from protos.mvstylizer.v1 import media_pb2

# The documented refusals (mvstylizer_common/status.py); UNKNOWN or INTERNAL would be a bug.
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.FAILED_PRECONDITION,
}

# Deterministic in CI: the same examples every run, no example database, no deadline per example.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

# Sizes at the edges of every limit a message field meets (frame sides, 40 Mpx, uint32).
EDGE_SIDES = [0, 1, 2, 3, 7, 16, 17, 48, 65535, 65536, 2**31, 2**32 - 1]
sides = st.one_of(st.sampled_from(EDGE_SIDES), st.integers(0, 64))
uint32 = st.one_of(st.sampled_from([0, 1, 100, 101, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
encodings = st.integers(0, 7)  # 0..3 are FrameEncoding's values; the rest are unknown to the server


@st.composite
def rgb_images(draw, max_side: int = 48, min_side: int = 1) -> np.ndarray:
    height, width = draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))
    kind = draw(st.sampled_from(["noise", "flat", "gradient"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "flat":
        return np.full((height, width, 3), draw(st.integers(0, 255)), np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) % 256], axis=-1).astype(np.uint8)


def png_claiming(width: int, height: int, tail: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width % 2**32, height % 2**32, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + tail


def jpeg_claiming(width: int, height: int, tail: bytes = b"") -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height % 65536, width % 65536, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + tail


@st.composite
def encoded_images(draw) -> media_pb2.EncodedImage:
    """An EncodedImage that may be valid, garbled, truncated, lying about its size, or nonsense."""
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "valid",
                "valid",
                "valid",
                "raw",
                "truncated",
                "bitflip",
                "png_header",
                "jpeg_header",
                "bytes",
                "empty",
            ]
        )
    )
    if kind in ("valid", "truncated", "bitflip"):
        encoding = draw(st.sampled_from([JPEG, PNG]))
        message = encode_image(draw(rgb_images()), encoding)
        data = bytearray(message.data)
        if kind == "truncated":
            data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
        elif kind == "bitflip":
            for _ in range(draw(st.integers(1, 8))):
                position = draw(st.integers(0, len(data) - 1))
                data[position] ^= 1 << draw(st.integers(0, 7))
        message = media_pb2.EncodedImage(encoding=encoding, data=bytes(data))
        if draw(st.booleans()):  # a size field that may disagree with the bytes
            message.width, message.height = draw(sides), draw(sides)
        return message
    if kind == "raw":
        width, height = draw(sides), draw(sides)
        length = draw(st.sampled_from(["match", "short", "random"]))
        size = width * height * 3 if length == "match" and width * height <= 48 * 48 else draw(st.integers(0, 9000))
        if length == "short":
            size = max(0, min(size, width * height * 3) - 1)
        return media_pb2.EncodedImage(encoding=RAW, data=bytes(size), width=width, height=height)
    if kind == "png_header":
        tail = draw(st.binary(max_size=64))
        return media_pb2.EncodedImage(encoding=PNG, data=png_claiming(draw(sides), draw(sides), tail))
    if kind == "jpeg_header":
        tail = draw(st.binary(max_size=64))
        return media_pb2.EncodedImage(encoding=JPEG, data=jpeg_claiming(draw(sides), draw(sides), tail))
    if kind == "bytes":
        return media_pb2.EncodedImage(encoding=draw(encodings), data=draw(st.binary(max_size=256)))
    return media_pb2.EncodedImage(encoding=draw(encodings))


def status_of_call(call) -> grpc.StatusCode:
    """Read a response stream to its end; the status it ended with."""
    try:
        for _ in call:
            pass
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK
