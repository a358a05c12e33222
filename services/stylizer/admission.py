"""Admission of key frames by the pixels they will occupy, decided before anything is decoded.

A key frame's cost is read from what its message declares (a raw frame's width x height, a JPEG's
or PNG's header), so a frame that does not fit is refused while it is still a few encoded bytes.
Two bounds: the server's pixels in flight (past it a key frame is refused with ServerBusyError,
RESOURCE_EXHAUSTED and a retry hint, as a full queue is), and one stream's share of them (past it
the stream's next key frame waits for its own earlier ones: flow control, not a refusal, so that
one stream of huge frames cannot take the whole server).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from mvstylizer_common.errors import CorruptImageError, LimitExceededError, ServerBusyError
from mvstylizer_common.imagecodec import declared_size
from mvstylizer_common.limits import DEFAULT_MAX_PIXELS
from protos.mvstylizer.v1 import media_pb2

# Pixels of key frames admitted at once across the server: four frames at the frame limit, or
# about 75 frames of 1080p (more than the 64 the batch queue holds).
DEFAULT_MAX_PIXELS_IN_FLIGHT = 4 * DEFAULT_MAX_PIXELS
# One stream's share: two frames at the frame limit, or every key frame of a 4K stream in flight.
DEFAULT_MAX_STREAM_PIXELS_IN_FLIGHT = 2 * DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class AdmissionSettings:
    max_pixels: int = DEFAULT_MAX_PIXELS_IN_FLIGHT
    max_stream_pixels: int = DEFAULT_MAX_STREAM_PIXELS_IN_FLIGHT

    def __post_init__(self) -> None:
        if not 0 < self.max_stream_pixels <= self.max_pixels:
            raise ValueError(f"invalid admission settings: {self}")


def declared_pixels(image: media_pb2.EncodedImage, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Pixels a frame will decode to, from its message alone (decode_image decodes no more).

    Raises what decode_image would for a size it refuses or bytes that are neither JPEG nor PNG,
    so such a frame is answered without taking a place. Blocking (reading the bytes copies them)."""
    size = declared_size(image)
    if size is None:
        raise CorruptImageError("image bytes are not a JPEG or PNG")
    width, height = size
    if width * height > max_pixels:
        raise LimitExceededError(f"image of {width}x{height} exceeds {max_pixels} pixels")
    return width * height


@dataclass
class StreamShare:
    """One stream's pixels in flight, and its key frames waiting for some of them to be released."""

    pixels: int = 0
    waiters: list[asyncio.Future] = field(default_factory=list)

    async def released(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        finally:
            self.waiters.remove(waiter)

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)


class PixelAdmission:
    """`async with admission.admit(share, pixels):` holds a key frame's place from before its
    decoding to after its answer is encoded. Loop-bound: call from the event loop only."""

    def __init__(self, settings: AdmissionSettings | None = None):
        self.settings = settings or AdmissionSettings()
        self.pixels = 0

    @contextlib.asynccontextmanager
    async def admit(self, share: StreamShare, pixels: int) -> AsyncIterator[None]:
        # A frame alone is always admitted (a single frame is bounded by the frame limit).
        while share.pixels and share.pixels + pixels > self.settings.max_stream_pixels:
            await share.released()
        if self.pixels and self.pixels + pixels > self.settings.max_pixels:
            raise ServerBusyError(
                f"server busy: {self.pixels / 1e6:.1f} Mpx of key frames in flight, "
                f"{pixels / 1e6:.1f} Mpx more is over {self.settings.max_pixels / 1e6:g}; retry later"
            )
        share.pixels += pixels
        self.pixels += pixels
        try:
            yield
        finally:
            share.pixels -= pixels
            self.pixels -= pixels
            share.wake()
