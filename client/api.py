"""The Python API: stylize video files, photos and streams of numpy frames from your own code.

    from client.api import Stylizer

    with Stylizer(style="dusk.jpg") as stylizer:          # one stylizer kept warm for every job
        stylizer.stylize_video("in.mp4", "out.mp4")         # returns the run's metrics
        photo = stylizer.stylize_image("photo.jpg")         # HxWx3 uint8 RGB
        for frame in stylizer.stylize_frames(my_camera_frames(), fps=30):
            show(frame)                                     # one out per frame in, in order

`Stylizer()` starts a stylizer on loopback (as the command line does) unless `stylizer=`
names a running one (HOST:PORT, or several for replicas). Every default is the command
line's: the same dataclasses (client.remote.services.ServiceOptions, client.video.job.VideoJob,
client.live.engine.LiveOptions) hold them, and an output that exists is refused unless
overwrite=True. The look's settings (strength, model, work_size) go to Stylizer() for every job,
or to one job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from client.image import stylize_image as _stylize_image
from client.live.engine import LiveEngine, LiveOptions
from client.live.link import StylizerLink
from client.media.capture import FrameFeedSource
from client.media.frames import OutputFrame
from client.media.paths import check_output_path, written_whole
from client.remote.embedded import EmbeddedServices
from client.remote.services import ServiceOptions, connected
from client.video.job import VideoJob
from client.video.job import stylize_video as _stylize_video
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.imagecodec import load_image_file, write_image_file

__all__ = ["ServiceOptions", "Stylizer", "stylize_image", "stylize_video"]

_END = object()

# ServiceOptions' fields a job may set for itself: they travel in each session's config.
LOOK_SETTINGS = ("strength", "model", "work_size", "wire_format")


class Stylizer:
    """A warm stylizer for many jobs (a context manager). style: the default style photo for jobs
    that name none; services: how to reach or start the services (stylizer=None starts one here)."""

    def __init__(self, style: str | None = None, services: ServiceOptions | None = None, **service_options):
        self.style = style
        self.services = dataclasses.replace(services or ServiceOptions(), **service_options)
        self.services.check()
        self._embedded: EmbeddedServices | None = None
        self._closed = False

    def __enter__(self) -> Stylizer:
        self._closed = False
        if self.services.stylizer is None:
            self._embedded = EmbeddedServices(None, None, self.services.stylizer_args(), need_interpolator=False)
            self._embedded.__enter__()
            # Started here, on loopback: plaintext, whatever TLS is set for services given by address.
            self._warm = dataclasses.replace(self.services, stylizer=self._embedded.stylizer, tls=None)
        else:
            self._warm = self.services
        return self

    def __exit__(self, *exc) -> None:
        # Closed first: a job started from now on fails at once, instead of waiting for a stopped
        # stylizer (a video or photo) or making frames without it (stylize_frames' closed form).
        self._closed = True
        if self._embedded is not None:
            self._embedded.__exit__(*exc)
            self._embedded = None

    @property
    def warm_services(self) -> ServiceOptions:
        """The options jobs run with (the stylizer's address once started)."""
        self._check_open()
        if not hasattr(self, "_warm"):
            raise RuntimeError("use the Stylizer as a context manager: with Stylizer(...) as stylizer: ...")
        return self._warm

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                "this Stylizer is closed (its with block has ended): run jobs inside it, or open a new one"
            )

    def _services_for(self, options: dict) -> ServiceOptions:
        """The warm services with this job's look settings (taken out of options)."""
        look = {name: options.pop(name) for name in LOOK_SETTINGS if name in options}
        if not look:
            return self.warm_services
        services = dataclasses.replace(self.warm_services, **look)
        services.check()
        return services

    def _style(self, style: str | None) -> str:
        chosen = style or self.style
        if not chosen:
            raise InvalidInputError("no style photo: pass style= here or to Stylizer()")
        return chosen

    def stylize_video(self, input: str, output: str, style: str | None = None, **job_options) -> dict:
        """input video -> output video (same frames, timing and audio); job_options: VideoJob's fields
        (keyframes, key_interval, max_gap, mode, flow_size, crf, overwrite, ...) and the look's
        (strength, model, work_size). Returns the run's metrics."""
        services = self._services_for(job_options)
        job_options.setdefault("overwrite", False)
        _refuse_existing(output, job_options["overwrite"])
        job = VideoJob(input, self._style(style), output, services=services, **job_options)
        return _stylize_video(job)

    def stylize_image(
        self,
        content: str,
        style: str | None = None,
        output: str | None = None,
        *,
        content_mask: str | None = None,
        style_mask: str | None = None,
        overwrite: bool = False,
        **look,
    ) -> np.ndarray:
        """A photo in the style's look: HxWx3 uint8 RGB (also written to `output` when given; one
        that exists is refused unless overwrite). look: strength, model, work_size for this photo."""
        services = self._services_for(look)
        if look:
            raise TypeError(f"stylize_image() got unexpected keyword arguments: {', '.join(look)}")
        if output is not None:
            check_output_path(output, [content, self._style(style)], kind="image")
            _refuse_existing(output, overwrite)
        stylized = _stylize_image(
            content, self._style(style), services, content_mask=content_mask, style_mask=style_mask
        )
        if output is not None:
            with written_whole(output, replace=overwrite) as partial:
                write_image_file(str(partial), stylized, shown_as=output)
        return stylized

    def stylize_frames(
        self,
        frames: Iterable[np.ndarray],
        style: str | None = None,
        fps: float = 30.0,
        options: LiveOptions | None = None,
        **look,
    ) -> Iterator[np.ndarray]:
        """HxWx3 uint8 RGB frames in (all of one size), stylized frames out: one per frame, in order,
        each made as soon as its frame arrives (live mode: forward only, never waiting for a later
        key frame), in the same engine as `mvstylizer live`. fps: the frames' rate; frames are taken no
        faster than that (as from a camera), so the stylizer's answers keep up as they do live. Each
        frame is copied when taken: a capture loop may refill one buffer. look: strength, model,
        work_size for these frames. The settings are checked here, before the first frame is asked for."""
        if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
            raise InvalidInputError(f"fps must be a positive number of frames per second, got {fps!r}")
        services = self._services_for(look)
        if look:
            raise TypeError(f"stylize_frames() got unexpected keyword arguments: {', '.join(look)}")
        style_message, style_rgb = load_image_file(self._style(style))
        return self._stylized_frames(iter(frames), style_message, style_rgb, fps, options, services)

    def _stylized_frames(
        self,
        iterator: Iterator[np.ndarray],
        style_message,
        style_rgb: np.ndarray,
        fps: float,
        options: LiveOptions | None,
        services: ServiceOptions,
    ) -> Iterator[np.ndarray]:
        try:
            first = np.asarray(next(iterator))
        except StopIteration:
            return
        if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
            raise InvalidInputError(f"frames must be HxWx3 uint8 RGB, got {first.shape} {first.dtype}")
        outputs: queue.Queue = queue.Queue(maxsize=16)
        failure: list[BaseException] = []

        class _Handover:
            accepts_i420 = False

            def write(self, frame: OutputFrame) -> None:
                outputs.put(frame.image)

            def close(self) -> None:
                pass

        source = FrameFeedSource(iterator, first, fps)
        with connected(services, wait=False) as links:
            link = StylizerLink(links.stylizer, style_message, services.stylizer_options("frames", max_in_flight=1))
            engine = LiveEngine(source, link, style_rgb, [_Handover()], options or LiveOptions())

            def run() -> None:
                try:
                    engine.run()
                    if source.error is not None:
                        raise source.error
                except BaseException as error:  # handed to the caller's thread
                    failure.append(error)
                finally:
                    outputs.put(_END)

            runner = threading.Thread(target=run, name="stylize-frames", daemon=True)
            runner.start()
            try:
                while (image := outputs.get()) is not _END:
                    self._check_open()  # frames still drawn after the with block: its stylizer has stopped
                    yield image
            finally:
                engine.stop()
                source.stop()
                while runner.is_alive():  # let a blocked hand-over finish
                    with contextlib.suppress(queue.Empty):
                        outputs.get(timeout=0.1)
                link.close()
        if failure:
            raise failure[0]


def _refuse_existing(output: str, overwrite: bool) -> None:
    """An output that exists is kept unless overwrite (as the command line does), before any work."""
    if not overwrite and os.path.lexists(output):
        raise InvalidInputError(f"{output}: exists (overwrite=True replaces it)")


def stylize_video(input: str, style: str, output: str, **options) -> dict:
    """One video, with a stylizer started for it (see Stylizer for many jobs). options: VideoJob's
    fields, the look's (strength, model, work_size), and ServiceOptions' under services=ServiceOptions(...)."""
    services = options.pop("services", None)
    _refuse_existing(output, options.get("overwrite", False))  # before a stylizer is started
    with Stylizer(style, services) as stylizer:
        return stylizer.stylize_video(input, output, **options)


def stylize_image(content: str, style: str, output: str | None = None, **options) -> np.ndarray:
    """One photo, with a stylizer started for it; HxWx3 uint8 RGB (also written to `output`).
    options: Stylizer.stylize_image's (masks, overwrite, the look's settings) and services=."""
    services = options.pop("services", None)
    if output is not None:
        _refuse_existing(output, options.get("overwrite", False))  # before a stylizer is started
    with Stylizer(style, services) as stylizer:
        return stylizer.stylize_image(content, output=output, **options)
