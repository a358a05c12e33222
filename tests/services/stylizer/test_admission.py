"""Key frames are admitted by the pixels their messages declare, before anything is decoded.

The server's decoder is replaced by one that records each key frame it is given and holds it
until the test lets go: the frames' headers claim 39.9 Mpx (what admission reads), while what
the decoder returns is small, so the test costs no memory.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time

import grpc
import numpy as np
import pytest

from mvstylizer_common.imagecodec import JPEG
from mvstylizer_common.imagecodec import decode_image as real_decode_image
from mvstylizer_common.status import RETRY_AFTER_KEY
from protos.mvstylizer.v1 import media_pb2
from services.stylizer import server as server_module
from services.stylizer.admission import (
    DEFAULT_MAX_PIXELS_IN_FLIGHT,
    DEFAULT_MAX_STREAM_PIXELS_IN_FLIGHT,
    PixelAdmission,
    StreamShare,
)
from tests.media import moving_square_frame
from tests.services.stylizer.test_server import Stream, config

# 7000 x 5700 = 39.9 Mpx: just under the frame limit; four fit the server's default, two a stream's.
LARGE = (7000, 5700)


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """SOI and a baseline frame header claiming width x height (the rest never reaches a decoder here)."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + bytes(64)


class HeldDecoder:
    """Stands in for decode_image: key frames (the JPEGs claiming LARGE) are counted and held
    until release(); anything else (the style photo) is decoded as usual."""

    def __init__(self):
        self.entered = 0
        self._lock = threading.Lock()
        self._release = threading.Event()

    def __call__(self, message: media_pb2.EncodedImage, *args) -> np.ndarray:
        if not message.data.startswith(jpeg_header_claiming(*LARGE)[:13]):
            return real_decode_image(message, *args)
        with self._lock:
            self.entered += 1
        self._release.wait(30)
        return moving_square_frame(0)

    def release(self) -> None:
        self._release.set()

    def wait_for(self, count: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.entered < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.entered == count, f"{self.entered} key frames decoding, expected {count}"


@pytest.fixture
def decoder(monkeypatch):
    held = HeldDecoder()
    monkeypatch.setattr(server_module, "decode_image", held)
    yield held
    held.release()


LARGE_FRAME = media_pb2.EncodedImage(encoding=JPEG, data=jpeg_header_claiming(*LARGE))


def test_defaults_admit_four_frames_at_the_limit_and_two_per_stream():
    pixels = LARGE[0] * LARGE[1]
    assert DEFAULT_MAX_PIXELS_IN_FLIGHT // pixels == 4
    assert DEFAULT_MAX_STREAM_PIXELS_IN_FLIGHT // pixels == 2


def test_a_key_frame_past_the_servers_pixels_in_flight_is_refused_without_being_decoded(stylizer_address, decoder):
    first, second = Stream(stylizer_address, config()), Stream(stylizer_address, config())
    late = Stream(stylizer_address, config())
    try:
        for stream in (first, second, late):
            stream.receive()  # ready
        for stream in (first, second):
            stream.send_frame(0, LARGE_FRAME)
            stream.send_frame(1, LARGE_FRAME)
        decoder.wait_for(4)  # 4 x 39.9 Mpx: the server's pixels in flight are taken
        late.send_frame(0, LARGE_FRAME)
        with pytest.raises(grpc.RpcError) as refused:
            late.receive()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "busy" in refused.value.details()
        assert int(dict(refused.value.trailing_metadata())[RETRY_AFTER_KEY]) > 0
        assert decoder.entered == 4  # the refused frame was never decoded
        decoder.release()
        for stream in (first, second):
            assert [stream.receive().key_frame.index for _ in range(2)] == [0, 1]
        assert decoder.entered == 4
    finally:
        for stream in (first, second, late):
            stream.close()


def test_a_streams_next_key_frame_waits_for_its_own_place_and_is_not_refused(stylizer_address, decoder):
    stream = Stream(stylizer_address, config())
    try:
        stream.receive()
        for index in range(3):
            stream.send_frame(index, LARGE_FRAME)
        decoder.wait_for(2)  # a stream's share: two frames of 39.9 Mpx
        time.sleep(0.5)  # the third has arrived by now; it must wait, undecoded
        assert decoder.entered == 2
        decoder.release()
        assert [stream.receive().key_frame.index for _ in range(3)] == [0, 1, 2]
        assert decoder.entered == 3
    finally:
        stream.close()


def test_places_are_given_back_when_frames_finish_fail_or_are_cancelled():
    async def scenario() -> None:
        admission = PixelAdmission()
        share = StreamShare()
        async with admission.admit(share, 10):
            assert (admission.pixels, share.pixels) == (10, 10)
        with pytest.raises(RuntimeError):
            async with admission.admit(share, 20):
                raise RuntimeError("decode failed")
        assert (admission.pixels, share.pixels) == (0, 0)
        held, admitted = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with admission.admit(share, DEFAULT_MAX_STREAM_PIXELS_IN_FLIGHT):
                held.set()
                await asyncio.sleep(60)

        async def next_frame() -> None:
            async with admission.admit(share, 1):
                admitted.set()

        holder = asyncio.create_task(hold())
        await held.wait()
        waiter = asyncio.create_task(next_frame())
        await asyncio.sleep(0.01)
        assert not admitted.is_set()  # the stream's share is taken: its next frame waits
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
        await asyncio.wait_for(waiter, 5)  # woken when the place was given back
        assert admitted.is_set() and (admission.pixels, share.pixels) == (0, 0)

    asyncio.run(scenario())
