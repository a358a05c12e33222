"""Video output with PyAV: H.264 MP4 with the source's size, rate and timestamps, audio kept (copied or AAC)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2

from client.media.frames import LIVE_TIME_BASE, OutputFrame
from mvstylizer_common.errors import InvalidInputError

log = logging.getLogger(__name__)

# FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic value for SMPTE 170M
# (BT.601), and AVColorRange's MPEG (limited) range.
_SMPTE170M = 6
_LIMITED_RANGE = 1


# Audio codecs players handle in each output container: copied as they are. Anything else (PCM
# from a .mov, which FFmpeg would write into an MP4 as "ipcm" that few players read; Vorbis; ...)
# is re-encoded to AAC. Containers not listed copy whatever the muxer accepts.
_PLAYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    "matroska": None,  # Matroska plays everything FFmpeg writes into it
    "webm": {"opus", "vorbis"},
}
_REENCODE_CODEC = {"webm": "libopus"}
_AAC_BIT_RATE = 192_000


def _copyable(codec_name: str, output: av.container.OutputContainer) -> bool:
    """Whether a stream of this codec is copied into `output` as it is (rather than re-encoded)."""
    format_name = output.format.name.split(",")[0]
    playable = _PLAYABLE_AUDIO.get(format_name, output.supported_codecs)
    return playable is None or codec_name in playable


class AudioPassthrough:
    """A source file's first audio stream in an output container, interleaved by time.

    Packets are copied where the container plays the codec, re-encoded (AAC in MP4) otherwise;
    either way every sample keeps its time (`copied` says which)."""

    def __init__(self, source_path: str, output: av.container.OutputContainer):
        self._input = av.open(source_path)
        try:
            in_stream = self._input.streams.audio[0]
            self.copied = _copyable(in_stream.codec_context.name, output)
            if self.copied:
                self._stream = output.add_stream_from_template(in_stream)
                self._encoder = None
            else:
                self._stream = self._encoder = _encoder_for(in_stream, output)
        except BaseException:
            self._input.close()
            raise
        self._in_stream = in_stream
        self._packets = self._input.demux(in_stream)
        self._pending = self._copied_packets() if self.copied else self._encoded_packets()
        self._held: av.Packet | None = None
        self._exhausted = False

    def mux_until(self, output: av.container.OutputContainer, seconds: float | None) -> None:
        """Mux audio packets that start before `seconds` (all remaining ones when None)."""
        while not self._exhausted:
            packet = self._held or next(self._pending, None)
            self._held = None
            if packet is None:
                self._exhausted = True
                break
            if seconds is not None and packet.pts is not None and packet.pts * packet.time_base > seconds:
                self._held = packet
                break
            packet.stream = self._stream
            output.mux(packet)

    def _source_packets(self) -> Iterator[av.Packet]:
        try:
            for packet in self._packets:
                if packet.size and packet.dts is not None:
                    yield packet
        except av.error.FFmpegError:
            return  # a damaged or truncated source: keep the audio read so far

    def _copied_packets(self) -> Iterator[av.Packet]:
        for packet in self._source_packets():
            packet.time_base = self._in_stream.time_base
            yield packet

    def _encoded_packets(self) -> Iterator[av.Packet]:
        """Decoded source audio re-encoded; frames keep their source times (in 1/sample_rate units)."""
        encoder = self._encoder
        rate = encoder.codec_context.sample_rate
        in_base = self._in_stream.time_base
        next_pts: int | None = None
        for packet in self._source_packets():
            try:
                frames = packet.decode()
            except av.error.FFmpegError as error:
                log.warning("audio: skipped damaged data (%s)", error)
                continue
            for frame in frames:
                if frame.pts is not None and in_base:
                    pts = round(frame.pts * in_base * rate)
                    # Never step back: an encoder refuses timestamps out of order.
                    next_pts = pts if next_pts is None else max(pts, next_pts)
                frame.pts = next_pts if next_pts is not None else 0
                frame.time_base = Fraction(1, rate)
                next_pts = frame.pts + frame.samples * rate // frame.sample_rate
                yield from _with_time_base(encoder.encode(frame), encoder)
        yield from _with_time_base(encoder.encode(None), encoder)

    def close(self) -> None:
        self._input.close()


def _with_time_base(packets: list[av.Packet], stream: av.audio.stream.AudioStream) -> Iterator[av.Packet]:
    for packet in packets:
        if packet.time_base is None:
            packet.time_base = stream.codec_context.time_base
        yield packet


def _encoder_for(in_stream: av.audio.stream.AudioStream, output: av.container.OutputContainer):
    """An output audio stream re-encoding in_stream: its sample rate (nearest the codec takes) and channels."""
    codec_name = _REENCODE_CODEC.get(output.format.name.split(",")[0], "aac")
    context = in_stream.codec_context
    rates = av.Codec(codec_name, "w").audio_rates or ()
    rate = context.sample_rate or 48000
    if rates and rate not in rates:
        rate = min(rates, key=lambda r: (abs(r - rate), -r))
    stream = output.add_stream(codec_name, rate=rate)
    channels = context.channels or 2
    stream.layout = context.layout.name if channels <= 8 and context.layout.name else "stereo"
    stream.bit_rate = _AAC_BIT_RATE if channels <= 2 else _AAC_BIT_RATE * 3
    stream.time_base = Fraction(1, rate)
    stream.codec_context.time_base = Fraction(1, rate)
    return stream


# Output codecs by name: the encoder PyAV's FFmpeg build must have for each.
ENCODERS = {"h264": "libx264", "hevc": "libx265"}
# x264's and x265's speed/size trade-offs, fastest first.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def encoder_for(codec: str) -> str:
    """The encoder for an output codec name; InvalidInputError when this build lacks it."""
    encoder = ENCODERS.get(codec)
    if encoder is None:
        raise InvalidInputError(f"--codec {codec}: expected one of {', '.join(ENCODERS)}")
    if encoder not in av.codecs_available:
        raise InvalidInputError(f"--codec {codec}: this PyAV build has no {encoder} encoder")
    return encoder


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
        codec: str = "h264",
        sample_aspect_ratio: Fraction | None = None,
    ):
        self.path = path
        self.time_base = time_base
        encoder = encoder_for(codec)
        self._output = av.open(path, "w")
        self._stream = self._output.add_stream(encoder, rate=frame_rate)
        self._stream.width = width
        self._stream.height = height
        even = width % 2 == 0 and height % 2 == 0
        self._stream.pix_fmt = "yuv420p" if even else "yuv444p"
        # Say which matrix the samples use (BT.601, limited range: what both conversions below
        # apply), so players do not guess BT.709 for HD sizes and shift the colours.
        context = self._stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = _SMPTE170M
        context.color_range = _LIMITED_RANGE
        if sample_aspect_ratio is not None:  # non-square pixels, kept: the picture plays at its own shape
            context.sample_aspect_ratio = sample_aspect_ratio
        # OpenCV's BT.601 I420 conversion matches swscale's default for untagged RGB input and
        # costs a third of it (about 7 of x264's 40 core-ms per 1080p frame).
        self._convert_here = even
        # write() also takes I420 images ((H*3/2) x W) as they are, when the size is even.
        self.accepts_i420 = even
        self._width, self._height = width, height
        self._stream.time_base = time_base
        context.time_base = time_base
        options = {"crf": str(crf), "preset": preset, **({"tune": tune} if tune else {})}
        if encoder == "libx265":
            options["x265-params"] = "log-level=error"  # x265 reports every setting on stderr otherwise
        self._stream.options = options
        # Opened now, not on the first frame: a live recording's first frame then waits for no
        # encoder start-up (tens of milliseconds at 1080p), and settings it refuses fail before any work.
        try:
            context.open()
        except BaseException:
            self._output.close()
            raise
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


def live_video_sink(
    path: str, width: int, height: int, fps: float, sample_aspect_ratio: Fraction | None = None
) -> VideoSink:
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
        sample_aspect_ratio=sample_aspect_ratio,
    )
