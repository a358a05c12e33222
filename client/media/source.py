"""Video input with PyAV: streams decoded frames with their timing, tolerating damage."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import av

from client.media.frames import SourceFrame
from client.media.orientation import quarter_turns, upright, upright_sample_aspect_ratio, upright_size
from mvstylizer_common.errors import InvalidInputError

log = logging.getLogger(__name__)


@dataclass
class SourceInfo:
    width: int  # upright: after the container's display rotation
    height: int
    time_base: Fraction
    frame_rate: Fraction
    frame_count: int  # 0 when the container does not say
    has_audio: bool
    rotation: int = 0  # degrees counter-clockwise the frames were turned to stand upright
    # A pixel's width over its height, upright (camcorder and DV video have non-square pixels); None: square.
    sample_aspect_ratio: Fraction | None = None


@dataclass
class DecodeReport:
    """What the decoder skipped: damaged packets are counted, never fatal."""

    damaged_packets: int = 0
    errors: list[str] = field(default_factory=list)


class VideoSource:
    """Open a video file; `frames()` yields every decodable frame, in order, once.

    A still image (PNG, JPEG, ...) opens as a one-frame video: pts 0 at FFmpeg's image rate of
    25 fps, so its stylized MP4 is one frame, 1/25 s long.

    Frames come upright: a display rotation in the container (a phone's portrait video) is
    applied as they are decoded, and `info` gives the upright size. The first frame is decoded
    on opening, to read that rotation."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._container = av.open(path)
        except FileNotFoundError as error:
            raise InvalidInputError(f"{path}: no such file") from error
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
            raise InvalidInputError(f"{path}: not a readable video ({_reason(error)})") from error
        if not self._container.streams.video:
            self._container.close()
            raise InvalidInputError(f"{path}: has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25)
        time_base = self._stream.time_base or Fraction(1, 90000)
        if not ctx.width or not ctx.height:
            self._container.close()
            raise InvalidInputError(f"{path}: video stream has no frame size")
        self.info = SourceInfo(
            width=ctx.width,
            height=ctx.height,
            time_base=Fraction(time_base),
            frame_rate=Fraction(rate),
            frame_count=self._stream.frames or 0,
            has_audio=bool(self._container.streams.audio),
        )
        self.report = DecodeReport()
        self._turns: int | None = None  # set by the first decoded frame
        self._decoder = self._decode()
        self._peeked: SourceFrame | None = None
        try:
            self.peek()
        except BaseException:
            self._container.close()
            raise
        turns = self._turns or 0
        self.info.width, self.info.height = upright_size(ctx.width, ctx.height, turns)
        self.info.rotation = 90 * turns
        self.info.sample_aspect_ratio = upright_sample_aspect_ratio(self._stream, turns)

    def peek(self) -> SourceFrame | None:
        """The first frame, decoded now (None if nothing decodes); `frames()` still yields it."""
        if self._peeked is None:
            self._peeked = next(self._decoder, None)
        return self._peeked

    def frames(self) -> Iterator[SourceFrame]:
        """Decoded frames as RGB, each once. Damaged packets are skipped and counted in `report`."""
        if self._peeked is not None:
            first, self._peeked = self._peeked, None
            yield first
        yield from self._decoder

    def _decode(self) -> Iterator[SourceFrame]:
        index = 0
        last_pts: int | None = None
        ticks_per_frame = max(1, round(1 / (self.info.frame_rate * self.info.time_base)))
        demuxer = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demuxer)
            except StopIteration:
                break
            except av.error.FFmpegError as error:
                # A truncated or damaged container: keep what was decoded so far.
                self._note_damage(error)
                break
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as error:
                self._note_damage(error)
                continue
            for frame in decoded:
                pts = frame.pts
                if pts is None or (last_pts is not None and pts <= last_pts):
                    # Missing or non-increasing timestamps: continue the frame clock.
                    pts = (last_pts + ticks_per_frame) if last_pts is not None else 0
                last_pts = pts
                if self._turns is None:
                    # One rotation for the whole video, so every frame has the same size.
                    self._turns = quarter_turns(frame, self._stream)
                rgb = upright(frame.to_ndarray(format="rgb24"), self._turns)
                yield SourceFrame(index, pts, rgb, self._stream.time_base)
                index += 1

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _note_damage(self, error: Exception) -> None:
        self.report.damaged_packets += 1
        if len(self.report.errors) < 10:
            self.report.errors.append(_reason(error))
        log.warning("%s: skipped damaged data (%s)", self.path, _reason(error))


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
