"""The client's two jobs, callable from the CLI, the demo and the benchmarks."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from client.device.interpolation import InterpolatorBackend, LocalInterpolator
from client.device.keyframes import KEY_LONG_SIDE, make_selector
from client.media.frames import FrameSink
from client.media.sink import VideoSink
from client.media.source import VideoSource
from client.remote.embedded import EmbeddedServices
from client.remote.interpolator import GrpcInterpolator
from client.remote.stylizer import StylizerOptions, StylizerSession, open_channel, wait_for_ready
from client.video.pipeline import KeyFramePipeline, PipelineOptions
from common.errors import InvalidInputError
from common.imagecodec import ENCODING_BY_NAME, PNG, load_image_file
from common.tls import ClientTls
from services.interpolator.flow import DEFAULT_FLOW_LONG_SIDE
from services.interpolator.session import OFFLINE

INPROC = "inproc"
# Start an interpolator service on loopback (a separate process, reached over gRPC).
LOOPBACK = "loopback"
CONNECT_TIMEOUT_S = 30.0


@dataclass
class ServiceOptions:
    stylizer: str | None = None  # gRPC target; None starts one on loopback
    interpolator: str | None = None  # gRPC target, INPROC, or None to start one on loopback
    model: str = ""
    work_size: int = 0
    device: str = "cpu"  # for an embedded stylizer
    weights: str = ""  # weight file for an embedded stylizer's model (e.g. photo_wct.pth)
    auth_token: str | None = None  # bearer token sent on every call (None: none)
    tls: ClientTls | None = None  # TLS to services given by address (None: plaintext)
    wire_format: str = "jpeg"
    connect_timeout: float = CONNECT_TIMEOUT_S  # seconds to wait for a service to answer

    def tls_for(self, given_address: str | None) -> ClientTls | None:
        """TLS applies to services given by address; the ones the client starts itself listen on
        loopback in plaintext."""
        return self.tls if given_address else None

    def stylizer_args(self) -> list[str]:
        extra = ["--device", self.device]
        if self.model:
            extra += ["--model", self.model]
        if self.weights:
            extra += ["--weights", self.weights]
        return extra


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

    @property
    def every_frame(self) -> bool:
        """Frame-by-frame: every frame is a key frame, whatever the policy says."""
        return self.key_interval == 1

    @property
    def policy(self) -> str:
        return "fixed" if self.every_frame else self.keyframes


def check_output_path(path: str, inputs: list[str]) -> None:
    out = Path(path)
    if not out.parent.resolve().is_dir():
        raise InvalidInputError(f"{path}: output folder does not exist")
    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise InvalidInputError(f"{path}: output would overwrite an input")


def connect(
    target: str,
    what: str,
    timeout: float = CONNECT_TIMEOUT_S,
    token: str | None = None,
    tls: ClientTls | None = None,
) -> grpc.Channel:
    channel = open_channel(target, token=token, tls=tls)
    try:
        wait_for_ready(channel, timeout)
    except grpc.FutureTimeoutError as error:
        channel.close()
        raise ConnectionError(f"{what} at {target} is not reachable") from error
    return channel


def stylize_video(
    job: VideoJob, on_frame: Callable[[int, int], None] | None = None, sink: FrameSink | None = None
) -> dict:
    """Stylize job.input into job.output and return the run's metrics.

    on_frame(frames written, expected total or 0) is called after each output frame.
    `sink` replaces the MP4 writer (benchmarks capture frames with it); job.output is then unused.
    Raises InvalidInputError for bad input.
    """
    if job.key_interval < 1:
        raise InvalidInputError("--key-interval must be at least 1")
    if job.max_gap < 1:
        raise InvalidInputError("--max-gap must be at least 1")
    style_message, _ = load_image_file(job.style)
    if sink is None:
        check_output_path(job.output, [job.input, job.style])
    opts = job.services
    encoding = ENCODING_BY_NAME[opts.wire_format]
    inproc = opts.interpolator == INPROC
    with VideoSource(job.input) as source:
        if source.peek() is None:
            raise InvalidInputError(f"{job.input}: no decodable video frames")
        info = source.info
        with EmbeddedServices(
            opts.stylizer, opts.interpolator, opts.stylizer_args(), need_interpolator=not inproc
        ) as services:
            interpolator_target = INPROC if inproc else services.interpolator
            stylizer_channel = connect(
                services.stylizer, "stylizer", opts.connect_timeout, opts.auth_token, opts.tls_for(opts.stylizer)
            )
            interpolator_channel = (
                None
                if inproc
                else connect(
                    services.interpolator,
                    "interpolator",
                    opts.connect_timeout,
                    opts.auth_token,
                    opts.tls_for(opts.interpolator),
                )
            )
            try:
                stylizer = StylizerSession(
                    stylizer_channel,
                    style_message,
                    StylizerOptions(
                        model=opts.model,
                        work_long_side=opts.work_size,
                        encoding=encoding,
                        label=os.path.basename(job.input),
                    ),
                )
                if sink is None:
                    sink = VideoSink(
                        job.output,
                        info.width,
                        info.height,
                        info.time_base,
                        info.frame_rate,
                        audio_from=job.input if info.has_audio else None,
                        crf=job.crf,
                    )
                interpolator: InterpolatorBackend
                # Frame-by-frame: every frame is a key, output exactly as the stylizer made it.
                if inproc:
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
                        interpolator_channel,
                        job.mode,
                        info.width,
                        info.height,
                        encoding=encoding,
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
            finally:
                stylizer_channel.close()
                if interpolator_channel is not None:
                    interpolator_channel.close()
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
        "interpolator": interpolator_target,
        "work_long_side": stylizer.ready.work_long_side,
        "frames_in": result.frames_in,
        "frames_out": result.frames_out,
        "key_frames": result.key_frames,
        "key_reasons": result.key_reasons,
        "damaged_packets": result.damaged_packets,
        "wall_seconds": round(result.wall_seconds, 4),
        "fps": round(result.frames_out / result.wall_seconds, 3) if result.wall_seconds else 0.0,
        "stylizer_server_ms_mean": round(sum(server_ms) / max(1, len(server_ms)), 3),
        "stylizer_reconnects": stylizer.reconnects,
        "stylizer_server": stylizer.ready.server_id,
    }


def stylize_image(content_path: str, style_path: str, services_opts: ServiceOptions) -> np.ndarray:
    """Stylize one photo; returns HxWx3 uint8 RGB at the content's size."""
    style_message, _ = load_image_file(style_path)
    _, content = load_image_file(content_path)
    with EmbeddedServices(
        services_opts.stylizer, None, services_opts.stylizer_args(), need_interpolator=False
    ) as services:
        channel = connect(
            services.stylizer,
            "stylizer",
            services_opts.connect_timeout,
            services_opts.auth_token,
            services_opts.tls_for(services_opts.stylizer),
        )
        try:
            session = StylizerSession(
                channel,
                style_message,
                StylizerOptions(
                    model=services_opts.model,
                    work_long_side=services_opts.work_size,
                    encoding=PNG,
                    label=os.path.basename(content_path),
                ),
            )
            session.submit(0, 0, content)
            stylized = session.result(0)
            session.close()
        finally:
            channel.close()
    return stylized
