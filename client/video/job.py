"""The file job: one video stylized end to end, callable from the CLI, the demo and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from client.device.interpolation import InterpolatorBackend, LocalInterpolator
from client.device.keyframes import KEY_LONG_SIDE, make_selector
from client.media.frames import FrameSink
from client.media.paths import check_output_path, written_whole
from client.media.sink import PRESETS, VideoSink, encoder_for
from client.media.source import VideoSource
from client.remote.interpolator import GrpcInterpolator
from client.remote.services import ServiceOptions, connected, in_range
from client.remote.stylizer import StylizerSession
from client.video.pipeline import KeyFramePipeline, PipelineOptions
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import ENCODING_BY_NAME, load_image_file
from services.interpolator.flow import DEFAULT_FLOW_LONG_SIDE
from services.interpolator.session import LIVE, OFFLINE

# Flow is measured on a grid of this long side: below 16 px it sees no motion, above 4096 only costs.
MIN_FLOW_LONG_SIDE, MAX_FLOW_LONG_SIDE = 16, 4096


@dataclass
class VideoJob:
    input: str
    style: str
    output: str
    services: ServiceOptions = field(default_factory=ServiceOptions)
    keyframes: str = "auto"  # "auto" (adaptive) or "fixed"
    key_interval: int = 10  # fixed policy: a key every N frames (1 = every frame)
    max_gap: int = 30  # auto policy: at most this many frames between keys
    mode: str = OFFLINE
    flow_size: int = DEFAULT_FLOW_LONG_SIDE
    crf: int = 18
    preset: str = "veryfast"  # the encoder's speed/size trade-off (client.media.sink.PRESETS)
    codec: str = "h264"  # or "hevc" where the PyAV build has an encoder for it
    # False: an output that another run wrote while this one ran is kept, and this run's dropped.
    overwrite: bool = True

    def check(self) -> None:
        """InvalidInputError naming the flag, for any setting out of range (before any work starts)."""
        self.services.check()
        in_range("--key-interval", self.key_interval, 1, 10_000)
        in_range("--max-gap", self.max_gap, 1, 10_000)
        in_range("--flow-size", self.flow_size, MIN_FLOW_LONG_SIDE, MAX_FLOW_LONG_SIDE)
        in_range("--crf", self.crf, 0, 51)
        if self.preset not in PRESETS:
            raise InvalidInputError(f"--preset {self.preset!r}: expected one of {', '.join(PRESETS)}")
        encoder_for(self.codec)
        if self.mode not in (OFFLINE, LIVE):
            raise InvalidInputError(f"--mode {self.mode!r}: expected {OFFLINE} or {LIVE}")
        if self.keyframes not in ("auto", "fixed"):
            raise InvalidInputError(f"--keyframes {self.keyframes!r}: expected auto or fixed")

    @property
    def every_frame(self) -> bool:
        """Frame-by-frame: every frame is a key frame, whatever the policy says."""
        return self.key_interval == 1

    @property
    def policy(self) -> str:
        return "fixed" if self.every_frame else self.keyframes


def stylize_video(
    job: VideoJob, on_frame: Callable[[int, int], None] | None = None, sink: FrameSink | None = None
) -> dict:
    """Stylize job.input into job.output and return the run's metrics.

    on_frame(frames written, expected total or 0) is called after each output frame.
    `sink` replaces the MP4 writer (benchmarks capture frames with it); job.output is then unused.
    Raises InvalidInputError for bad input.
    """
    job.check()
    style_message, _ = load_image_file(job.style)
    if sink is None:
        check_output_path(job.output, [job.input, job.style])
    opts = job.services
    # Written whole or not at all: an interrupted or failed run leaves nothing at job.output.
    with (
        written_whole(job.output, replace=job.overwrite) if sink is None else contextlib.nullcontext() as partial,
        VideoSource(job.input) as source,
    ):
        if source.peek() is None:
            raise InvalidInputError(f"{job.input}: no decodable video frames")
        info = source.info
        with connected(opts, interpolator=True) as links:
            label = os.path.basename(job.input)
            stylizer = StylizerSession(links.stylizer, style_message, opts.stylizer_options(label))
            if sink is None:
                sink = VideoSink(
                    str(partial),
                    info.width,
                    info.height,
                    info.time_base,
                    info.frame_rate,
                    audio_from=job.input if info.has_audio else None,
                    crf=job.crf,
                    preset=job.preset,
                    codec=job.codec,
                    sample_aspect_ratio=info.sample_aspect_ratio,
                )
            interpolator: InterpolatorBackend
            # Frame-by-frame: every frame is a key, output exactly as the stylizer made it.
            if links.interpolator is None:
                interpolator = LocalInterpolator(
                    job.mode,
                    info.width,
                    info.height,
                    exact_keys=job.every_frame,
                    # Straight to the encoder's layout when the sink takes it (saves a full-size RGB pass).
                    output_i420=not job.every_frame and sink.accepts_i420,
                )
            else:
                interpolator = GrpcInterpolator(
                    links.interpolator,
                    job.mode,
                    info.width,
                    info.height,
                    encoding=ENCODING_BY_NAME[opts.wire_format],
                    exact_keys=job.every_frame,
                )
            try:
                pipeline = KeyFramePipeline(
                    source,
                    sink,
                    stylizer,
                    interpolator,
                    make_selector(job.policy, job.key_interval, job.max_gap),
                    PipelineOptions(
                        mode=job.mode,
                        flow_long_side=job.flow_size,
                        key_long_side=0 if job.every_frame else KEY_LONG_SIDE,
                    ),
                    on_frame=on_frame,
                )
                result = pipeline.run()
            finally:
                sink.close()
    if result.damaged_packets:
        print(
            f"warning: {result.damaged_packets} damaged packet(s) skipped; "
            f"{result.frames_out} decodable frames written",
            file=sys.stderr,
        )
    server_ms = stylizer.server_ms
    return {
        "input": job.input,
        "output": job.output,
        "width": info.width,
        "height": info.height,
        "mode": job.mode,
        "keyframes": job.policy,
        "key_interval": job.key_interval,
        "max_gap": job.max_gap,
        "model": stylizer.ready.model,
        "interpolator": links.interpolator_target,
        "work_long_side": stylizer.ready.work_long_side,
        "frames_in": result.frames_in,
        "frames_out": result.frames_out,
        "key_frames": result.key_frames,
        "key_reasons": result.key_reasons,
        "damaged_packets": result.damaged_packets,
        "wall_seconds": round(result.wall_seconds, 4),
        "first_output_unix_s": result.first_output_at,
        "fps": round(result.frames_out / result.wall_seconds, 3) if result.wall_seconds else 0.0,
        "stylizer_server_ms_mean": round(sum(server_ms) / max(1, len(server_ms)), 3),
        "stylizer_reconnects": stylizer.reconnects,
        "stylizer_server": stylizer.ready.server_id,
    }
