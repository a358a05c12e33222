"""`python -m client live`: a camera, a paced file or a synthetic scene, stylized as it comes."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from client.live.engine import LiveEngine, LiveOptions
from client.live.link import StylizerLink
from client.live.preview import PreviewServer, PreviewSink
from client.media.capture import CameraSource, LiveSource, PacedFileSource, SyntheticSource
from client.media.frames import FrameSink
from client.media.paths import check_output_path, written_whole
from client.media.sink import live_video_sink
from client.remote.services import ServiceOptions, connected
from client.web.server import bind
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import load_image_file

SYNTHETIC = "synthetic"


@dataclass
class LiveJob:
    style: str
    camera: int | str | None = None  # index or capture URL
    source: str | None = None  # a video file, or SYNTHETIC
    output: str | None = None
    preview_port: int | None = None  # None: no preview page; 0: any free port
    preview_host: str = "127.0.0.1"
    seconds: float | None = None  # None: until the source ends or Ctrl-C
    size: tuple[int, int] = (1280, 720)  # synthetic source only
    fps: float = 30.0  # synthetic source only
    services: ServiceOptions = field(default_factory=ServiceOptions)
    options: LiveOptions = field(default_factory=LiveOptions)
    sinks: list[FrameSink] = field(default_factory=list)  # more places for the frames (an app's own display)

    def check(self) -> None:
        """InvalidInputError naming the flag, for any setting out of range (before anything starts)."""
        self.services.check()
        self.options.check()
        if min(self.size) < 1 or max(self.size) > 8192:
            raise InvalidInputError(f"--size {self.size[0]}x{self.size[1]}: expected sides of 1..8192")
        if not 0 < self.fps <= 240:
            raise InvalidInputError(f"--fps {self.fps}: expected 0..240")
        if self.preview_port is not None and not 0 <= self.preview_port <= 65535:
            raise InvalidInputError(f"--preview {self.preview_port}: expected a port number of 0..65535")
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidInputError(f"--seconds {self.seconds}: expected a positive duration")
        if self.output:
            check_output_path(self.output, [self.style, self.source or ""])


def open_source(job: LiveJob) -> LiveSource:
    if job.camera is not None:
        return CameraSource(job.camera, job.seconds)
    backlog = job.options.capture_backlog
    if job.source == SYNTHETIC:
        return SyntheticSource(job.size[0], job.size[1], job.fps, job.seconds, capacity=backlog)
    if job.source:
        if not Path(job.source).is_file():
            raise InvalidInputError(f"{job.source}: no such file")
        return PacedFileSource(job.source, job.seconds, capacity=backlog)
    raise InvalidInputError("give --camera INDEX or --source FILE|synthetic")


def run_live(job: LiveJob, on_started=None, stop: threading.Event | None = None) -> dict:
    """Run until the source ends, `seconds` pass, `stop` is set or SIGINT; returns the metrics.

    on_started(engine, preview_url or None) is called once everything runs (tests use it)."""
    job.check()
    # The page's port is taken first: a busy one is a clear error before any work starts.
    listener = bind(job.preview_host, job.preview_port) if job.preview_port is not None else None
    try:
        return _run_live(job, listener, on_started, stop)
    finally:
        if listener is not None:
            listener.close()


def _run_live(job: LiveJob, listener, on_started, stop: threading.Event | None) -> dict:
    style_message, style_rgb = load_image_file(job.style)
    source = open_source(job)
    opts = job.services
    recording = written_whole(job.output) if job.output else contextlib.nullcontext()
    # The link opens its session (and reopens it) by itself: no waiting for the stylizer here.
    niceness = job.options.stylizer_niceness
    with recording as partial, connected(opts, wait=False, stylizer_niceness=niceness) as links:
        link = StylizerLink(links.stylizer, style_message, opts.stylizer_options("live", max_in_flight=1))
        file_sink = preview = watcher = None
        try:
            sinks: list[FrameSink] = list(job.sinks)
            if job.output:
                file_sink = live_video_sink(
                    str(partial), source.width, source.height, source.fps, source.sample_aspect_ratio
                )
                sinks.append(file_sink)
            preview_sink = PreviewSink()
            sinks.append(preview_sink)
            engine = LiveEngine(source, link, style_rgb, sinks, job.options)
            watcher = _StopWatcher(engine, stop)
            if listener is not None:
                preview = PreviewServer(
                    preview_sink, engine.report, engine.change_style, host=job.preview_host, sock=listener
                )
                preview.start()
            if on_started is not None:
                on_started(engine, preview.url if preview else None)
            engine.run()
            report = engine.report()
        finally:
            if watcher is not None:
                watcher.done()
            if preview is not None:
                preview.stop()
            link.close()
            if file_sink is not None:
                file_sink.close()
    return report


class _StopWatcher:
    """Stops the engine on SIGINT, SIGTERM or SIGHUP (main thread only) or when `stop` is set: a stop
    still outputs every frame already captured."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, engine: LiveEngine, stop: threading.Event | None):
        self._engine = engine
        self._finished = threading.Event()
        self._previous: dict = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, lambda *_: engine.stop()) for sig in self.SIGNALS}
        if stop is not None:
            threading.Thread(target=self._watch, args=(stop,), daemon=True).start()

    def _watch(self, stop: threading.Event) -> None:
        while not self._finished.is_set():
            if stop.wait(0.1):
                self._engine.stop()
                return

    def done(self) -> None:
        self._finished.set()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def write_metrics(path: str, report: dict) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
