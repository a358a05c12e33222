"""Video output with PyAV: H.264 MP4 with the source's size, rate and timestamps, audio copied."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import cv2

from client.media.frames import LIVE_TIME_BASE, OutputFrame

log = logging.getLogger(__name__)

# FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic value for SMPTE 170M
# (BT.601), and AVColorRange's MPEG (limited) range.
_SMPTE170M = 6
_LIMITED_RANGE = 1


class AudioPassthrough:
    """Copies a source file's first audio stream into an output container, interleaved by time."""

    def __init__(self, source_path: str, output: av.container.OutputContainer):
        self._input = av.open(source_path)
        in_stream = self._input.streams.audio[0]
        self._stream = output.add_stream_from_template(in_stream)
        self._time_base = in_stream.time_base
        self._packets = self._input.demux(in_stream)
        self._held: av.Packet | None = None
        self._exhausted = False

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux audio packets that start before `seconds` (all remaining ones when None)."""
        while not self._exhausted:
            packet = self._held or self._next_packet()
            self._held = None
            if packet is None:
                break
            if seconds is not None and packet.pts is not None and packet.pts * self._time_base > seconds:
                self._held = packet
                break
            packet.stream = self._stream
            output.mux(packet)

    def _next_packet(self) -> av.Packet | None:
        try:
            while True:
                packet = next(self._packets)
                if packet.size and packet.dts is not None:
                    return packet
        except (StopIteration, av.error.FFmpegError):
            self._exhausted = True
            return None

    def close(self) -> None:
        self._input.close()


class VideoSink:
    """Writes RGB frames with given pts to an H.264 MP4 (yuv420p, or yuv444p for odd sizes)."""

    def __init__(
        self,
        path: str,
        width: int,
        height: int,
        time_base: Fraction,
        frame_rate: Fraction,
        *,
        audio_from: str | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        tune: str | None = None,
    ):
        self.path = path
        self.time_base = time_base
        self._output = av.open(path, "w")
        self._stream = self._output.add_stream("libx264", rate=frame_rate)
        self._stream.width = width
        self._stream.height = height
        even = width % 2 == 0 and height % 2 == 0
        self._stream.pix_fmt = "yuv420p" if even else "yuv444p"
        # Say which matrix the samples use (BT.601, limited range: what both conversions below
        # apply), so players do not guess BT.709 for HD sizes and shift the colours.
        context = self._stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = _SMPTE170M
        context.color_range = _LIMITED_RANGE
        # OpenCV's BT.601 I420 conversion matches swscale's default for untagged RGB input and
        # costs a third of it (about 7 of x264's 40 core-ms per 1080p frame).
        self._convert_here = even
        # write() also takes I420 images ((H*3/2) x W) as they are, when the size is even.
        self.accepts_i420 = even
        self._width, self._height = width, height
        self._stream.time_base = time_base
        context.time_base = time_base
        self._stream.options = {"crf": str(crf), "preset": preset, **({"tune": tune} if tune else {})}
        self._audio: AudioPassthrough | None = None
        if audio_from is not None:
            try:
                self._audio = AudioPassthrough(audio_from, self._output)
            except (av.error.FFmpegError, ValueError, IndexError) as error:
                log.warning("audio not kept: %s", error)
        self.frames_written = 0
        self._last_pts: int | None = None

    def write(self, frame: OutputFrame) -> None:
        """frame.image: HxWx3 RGB, or an I420 image ((H*3/2) x W uint8) where accepts_i420.

        Timestamps are kept, made strictly increasing where a source repeats one (the encoder refuses those)."""
        image = frame.image
        if frame.i420 or image.ndim == 2:
            if not self.accepts_i420 or image.shape != (self._height * 3 // 2, self._width):
                raise ValueError(f"an I420 frame for {self._width}x{self._height} cannot be {image.shape}")
            video_frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        elif self._convert_here:
            video_frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        else:
            video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        pts = frame.pts if self._last_pts is None else max(frame.pts, self._last_pts + 1)
        self._last_pts = pts
        video_frame.pts = pts
        video_frame.time_base = self.time_base
        if self._audio is not None:
            self._audio.mux_until(self._output, float(pts * self.time_base))
        for packet in self._stream.encode(video_frame):
            self._output.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._output.mux(packet)
        if self._audio is not None:
            self._audio.mux_until(self._output, None)
            self._audio.close()
        self._output.close()


def live_video_sink(path: str, width: int, height: int, fps: float) -> VideoSink:
    """H.264 for live output: no encoder look-ahead (tune zerolatency), so a frame leaves the encoder
    at once; frames keep their capture times (milliseconds) as timestamps."""
    return VideoSink(
        path,
        width,
        height,
        LIVE_TIME_BASE,
        Fraction(round(fps * 1000), 1000),
        crf=20,
        preset="ultrafast",
        tune="zerolatency",
    )
