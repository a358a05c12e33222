"""Command line: stylize a video or a photo, with the services given or started on loopback.

Exit codes: 0 success, 2 bad usage or bad input, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import grpc

from client.embedded import EmbeddedServices
from client.interpolator_client import GrpcInterpolator, InterpolatorBackend, LocalInterpolator
from client.keyframes import FixedIntervalSelector
from client.pipeline import KeyFramePipeline, PipelineOptions
from client.sink import VideoSink
from client.source import VideoSource
from client.stylizer_client import StylizerOptions, StylizerSession, StylizerStreamError, open_channel, wait_for_ready
from common.errors import InvalidInputError
from common.imagecodec import ENCODING_BY_NAME, load_image_file, write_image_file
from services.interpolator.session import LIVE, OFFLINE

log = logging.getLogger("client")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
INPROC = "inproc"
CONNECT_TIMEOUT_S = 30.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client", description="Photorealistic video style transfer.")
    commands = parser.add_subparsers(dest="command", required=True)

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr")
        sub.add_argument("--style", required=True, help="style photo (JPEG, PNG, ...)")
        sub.add_argument("-o", "--output", required=True, help="output file")
        sub.add_argument("--stylizer", help="stylizer gRPC target (default: start one on loopback)")
        sub.add_argument("--model", default="", help="stylizer model (default: the server's)")
        sub.add_argument("--work-size", type=int, default=0, help="long side the model runs at (0: model default)")
        sub.add_argument("--device", default="cpu", help="device for an embedded stylizer: cpu or cuda")
        sub.add_argument("--wire-format", choices=sorted(ENCODING_BY_NAME), default="jpeg",
                         help="how frames travel between client and services")

    video = commands.add_parser("stylize", help="stylize a video file")
    video.add_argument("input", help="input video")
    add_common(video)
    video.add_argument("--interpolator", help=f"interpolator gRPC target, or '{INPROC}' to run it in this process "
                       "(default: start one on loopback)")
    video.add_argument("--key-interval", type=int, default=10, help="a key frame every N frames (1: every frame)")
    video.add_argument("--mode", choices=[OFFLINE, LIVE], default=OFFLINE,
                       help="offline: blend previous and next key frames; live: forward only")
    video.add_argument("--flow-size", type=int, default=480, help="long side at which optical flow is computed")
    video.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better)")
    video.add_argument("--metrics-json", help="write run metrics to this JSON file")

    image = commands.add_parser("stylize-image", help="stylize one photo")
    image.add_argument("content", help="content photo")
    add_common(image)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code = run_video(args) if args.command == "stylize" else run_image(args)
    except InvalidInputError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except StylizerStreamError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_BAD_INPUT if error.code == grpc.StatusCode.INVALID_ARGUMENT else EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except Exception as error:  # noqa: BLE001  (one line, no traceback, unless verbose)
        if args.verbose:
            log.exception("failed")
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        code = EXIT_FAILURE
    sys.exit(code)


def _check_output(path: str, inputs: list[str]) -> None:
    out = Path(path)
    if not out.parent.resolve().is_dir():
        raise InvalidInputError(f"{path}: output folder does not exist")
    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise InvalidInputError(f"{path}: output would overwrite an input")


def _stylizer_args(args: argparse.Namespace) -> list[str]:
    extra = ["--device", args.device]
    if args.model:
        extra += ["--model", args.model]
    return extra


def _connect(target: str, what: str) -> grpc.Channel:
    channel = open_channel(target)
    try:
        wait_for_ready(channel, CONNECT_TIMEOUT_S)
    except grpc.FutureTimeoutError as error:
        channel.close()
        raise ConnectionError(f"{what} at {target} is not reachable") from error
    return channel


def run_video(args: argparse.Namespace) -> int:
    if args.key_interval < 1:
        raise InvalidInputError("--key-interval must be at least 1")
    style_message, _ = load_image_file(args.style)
    _check_output(args.output, [args.input, args.style])
    source = VideoSource(args.input)
    with source:
        if source.peek() is None:
            raise InvalidInputError(f"{args.input}: no decodable video frames")
        info = source.info
        encoding = ENCODING_BY_NAME[args.wire_format]
        inproc = args.interpolator == INPROC
        with EmbeddedServices(args.stylizer, args.interpolator, _stylizer_args(args),
                              need_interpolator=not inproc) as services:
            stylizer_channel = _connect(services.stylizer, "stylizer")
            interpolator_channel = None if inproc else _connect(services.interpolator, "interpolator")
            try:
                stylizer = StylizerSession(
                    stylizer_channel,
                    style_message,
                    StylizerOptions(model=args.model, work_long_side=args.work_size, encoding=encoding,
                                    label=os.path.basename(args.input)),
                )
                interpolator: InterpolatorBackend
                if inproc:
                    interpolator = LocalInterpolator(args.mode, info.width, info.height)
                else:
                    interpolator = GrpcInterpolator(interpolator_channel, args.mode, info.width, info.height,
                                                    encoding=encoding)
                sink = VideoSink(args.output, info.width, info.height, info.time_base, info.frame_rate,
                                 audio_from=args.input if info.has_audio else None, crf=args.crf)
                progress = _progress(info.frame_count)
                try:
                    pipeline = KeyFramePipeline(
                        source, sink, stylizer, interpolator, FixedIntervalSelector(args.key_interval),
                        PipelineOptions(mode=args.mode, flow_long_side=args.flow_size),
                        on_frame=(lambda n: progress.update(1)) if progress else None,
                    )
                    result = pipeline.run()
                finally:
                    sink.close()
                    if progress:
                        progress.close()
            finally:
                stylizer_channel.close()
                if interpolator_channel is not None:
                    interpolator_channel.close()
    if result.damaged_packets:
        print(f"warning: {result.damaged_packets} damaged packet(s) skipped; "
              f"{result.frames_out} decodable frames written", file=sys.stderr)
    metrics = {
        "input": args.input,
        "output": args.output,
        "width": info.width,
        "height": info.height,
        "mode": args.mode,
        "key_interval": args.key_interval,
        "model": stylizer.ready.model,
        "work_long_side": stylizer.ready.work_long_side,
        "frames_in": result.frames_in,
        "frames_out": result.frames_out,
        "key_frames": result.key_frames,
        "damaged_packets": result.damaged_packets,
        "wall_seconds": round(result.wall_seconds, 4),
        "fps": round(result.frames_out / result.wall_seconds, 3) if result.wall_seconds else 0.0,
        "stylizer_server_ms_mean": round(sum(stylizer.server_ms) / max(1, len(stylizer.server_ms)), 3),
    }
    if args.metrics_json:
        Path(args.metrics_json).write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("done: %s", metrics)
    return EXIT_OK


def run_image(args: argparse.Namespace) -> int:
    style_message, _ = load_image_file(args.style)
    _, content = load_image_file(args.content)
    _check_output(args.output, [args.content, args.style])
    with EmbeddedServices(args.stylizer, None, _stylizer_args(args), need_interpolator=False) as services:
        channel = _connect(services.stylizer, "stylizer")
        try:
            session = StylizerSession(
                channel, style_message,
                StylizerOptions(model=args.model, work_long_side=args.work_size,
                                encoding=ENCODING_BY_NAME["png"], label=os.path.basename(args.content)),
            )
            session.submit(0, 0, content)
            stylized = session.result(0)
            session.close()
        finally:
            channel.close()
    write_image_file(args.output, stylized)
    return EXIT_OK


def _progress(total: int):
    """A progress bar on a terminal; None when stderr is not one."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total or None, unit="frame", dynamic_ncols=True)
