"""Live frame sources: a camera, a video file paced at its own frame rate, a synthetic scene.

Each runs its own thread and hands frames to the consumer through a FrameMailbox, stamped
with the time they were captured. A camera cannot wait: its reader keeps only the latest
frame, and a frame replaced before it was taken is counted as dropped. A paced file or
synthetic scene queues a bounded backlog instead, dropping the oldest frame (counted)
only when the consumer falls further behind than that.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from fractions import Fraction

import av
import cv2
import numpy as np

from client.media.frames import LIVE_TIME_BASE, SourceFrame
from client.media.orientation import quarter_turns, upright, upright_sample_aspect_ratio, upright_size
from mvstylizer_common.errors import InvalidInputError

# Frames a paced source may queue ahead of a slow consumer (about a quarter second at 30 fps).
DEFAULT_BACKLOG = 8


class FrameMailbox:
    """Bounded hand-over from a source thread to the consumer; overflow drops the oldest, counted."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.dropped: Counter[str] = Counter()
        self._frames: deque[SourceFrame] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, frame: SourceFrame, overflow_reason: str) -> None:
        with self._cond:
            if len(self._frames) >= self.capacity:
                self._frames.popleft()
                self.dropped[overflow_reason] += 1
            self._frames.append(frame)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> SourceFrame | None:
        """The oldest waiting frame; None once the source has ended and everything was taken."""
        with self._cond:
            self._cond.wait_for(lambda: self._frames or self._closed, timeout)
            return self._frames.popleft() if self._frames else None

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and not self._frames

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class LiveSource:
    """Base: a thread produces frames into `mailbox` until the source ends or stop() is called."""

    width: int
    height: int
    fps: float
    sample_aspect_ratio: Fraction | None = None  # upright; None: square pixels

    def __init__(self, capacity: int):
        self.mailbox = FrameMailbox(capacity)
        self.captured = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_guarded, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as error:  # surfaced by the consumer through `error`
            self.error = error
        finally:
            self.mailbox.close()

    def _run(self) -> None:
        raise NotImplementedError

    def _emit(self, rgb: np.ndarray, pts_s: float, overflow_reason: str) -> None:
        frame = SourceFrame(self.captured, round(pts_s * 1000), rgb, LIVE_TIME_BASE, time.perf_counter())
        self.mailbox.put(frame, overflow_reason)
        self.captured += 1


class PacedFileSource(LiveSource):
    """A video file released frame by frame at its own timestamps, as a camera would deliver it.
    Frames come upright (the container's display rotation applied, read from the first frame)."""

    def __init__(self, path: str, seconds: float | None = None, capacity: int = DEFAULT_BACKLOG):
        super().__init__(capacity)
        self.path = path
        self.seconds = seconds
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise InvalidInputError(f"{path}: has no video stream")
                stream = container.streams.video[0]
                self.fps = float(stream.guessed_rate or stream.average_rate or Fraction(30))
                first = next(container.decode(stream), None)
                self._turns = quarter_turns(first, stream) if first is not None else 0
                self.width, self.height = upright_size(
                    stream.codec_context.width, stream.codec_context.height, self._turns
                )
                self.sample_aspect_ratio = upright_sample_aspect_ratio(stream, self._turns)
        except (av.error.FFmpegError, OSError) as error:
            raise InvalidInputError(f"{path}: not a readable video ({error})") from error

    def _run(self) -> None:
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start = time.perf_counter()
            first_pts: float | None = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return
                pts_s = float(frame.pts * stream.time_base) if frame.pts is not None else self.captured / self.fps
                first_pts = pts_s if first_pts is None else first_pts
                pts_s -= first_pts
                if self.seconds is not None and pts_s >= self.seconds:
                    return
                rgb = upright(frame.to_ndarray(format="rgb24"), self._turns)
                # Released at its presentation time, not earlier: the pace of a camera.
                delay = start + pts_s - time.perf_counter()
                if delay > 0 and self._stop.wait(delay):
                    return
                self._emit(rgb, pts_s, "consumer behind")


class SyntheticSource(LiveSource):
    """A moving scene (a textured background panning, a bright square crossing it), made in real time."""

    def __init__(
        self, width: int = 1280, height: int = 720, fps: float = 30.0, seconds: float | None = None, capacity=None
    ):
        super().__init__(capacity or DEFAULT_BACKLOG)
        self.width, self.height, self.fps, self.seconds = width, height, fps, seconds
        rng = np.random.default_rng(7)
        ys, xs = np.mgrid[0 : height * 2, 0 : width * 2].astype(np.float32)
        base = np.stack(
            [90 + 80 * np.sin(xs / 57.0), 100 + 70 * np.cos(ys / 43.0), 120 + 60 * np.sin((xs + ys) / 71.0)], axis=-1
        )
        noise = cv2.resize(rng.normal(0, 18, (height // 8, width // 8, 3)), (width * 2, height * 2))
        self._canvas = np.clip(base + noise, 0, 255).astype(np.uint8)

    def frame_at(self, index: int) -> np.ndarray:
        t = index / self.fps
        x = int((np.sin(t * 0.7) * 0.5 + 0.5) * self.width)
        y = int((np.cos(t * 0.5) * 0.5 + 0.5) * self.height)
        frame = self._canvas[y : y + self.height, x : x + self.width].copy()
        size = max(8, self.height // 6)
        sx = int((t * 0.25 % 1.0) * (self.width - size))
        cv2.rectangle(
            frame,
            (sx, self.height // 2 - size // 2),
            (sx + size, self.height // 2 + size // 2),
            (250, 235, 60),
            thickness=-1,
        )
        return frame

    def _run(self) -> None:
        start = time.perf_counter()
        index = 0
        while not self._stop.is_set():
            pts_s = index / self.fps
            if self.seconds is not None and pts_s >= self.seconds:
                return
            rgb = self.frame_at(index)
            delay = start + pts_s - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                return
            self._emit(rgb, pts_s, "consumer behind")
            index += 1


class CameraSource(LiveSource):
    """An OpenCV capture: a camera index, or anything VideoCapture opens (an RTSP or HTTP stream
    URL, a file). Its reader keeps only the newest frame: one the consumer never took is dropped
    ("camera overrun") rather than delayed."""

    def __init__(self, device: int | str, seconds: float | None = None):
        super().__init__(capacity=1)
        self.seconds = seconds
        self._capture = cv2.VideoCapture(device)
        if not self._capture.isOpened():
            raise InvalidInputError(f"camera {device} could not be opened")
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 30.0)

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            while not self._stop.is_set():
                ok, bgr = self._capture.read()
                if not ok:
                    return
                pts_s = time.perf_counter() - start
                if self.seconds is not None and pts_s >= self.seconds:
                    return
                self._emit(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), pts_s, "camera overrun")
        finally:
            self._capture.release()


class FrameFeedSource(LiveSource):
    """Frames an application hands over (its own capture), taken in turn: none is dropped, the
    feed waits while the engine is behind. Timestamps follow `fps`, and a frame is released no
    earlier than its time (as a camera delivers it): frames handed over faster than `fps` (a list,
    a file read ahead) would otherwise outrun the stylizer's answers and come out in closed form.
    Each frame is copied on entry, so the caller may refill its buffer at once."""

    def __init__(self, frames, first: np.ndarray, fps: float = 30.0, capacity: int = DEFAULT_BACKLOG):
        super().__init__(capacity)
        self.height, self.width = first.shape[:2]
        self.fps = fps
        self._frames = frames
        self._first = np.array(first, copy=True)

    def _run(self) -> None:
        start = time.perf_counter()
        for index, rgb in enumerate(itertools.chain([self._first], self._frames)):
            rgb = np.asarray(rgb)
            if rgb.dtype != np.uint8 or rgb.shape != (self.height, self.width, 3):
                raise InvalidInputError(
                    f"frame {index}: expected {self.width}x{self.height} RGB uint8 like the first, got "
                    f"{rgb.shape} {rgb.dtype}"
                )
            rgb = np.array(rgb, copy=True, order="C")  # the caller's buffer is theirs again
            delay = start + index / self.fps - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                return
            while len(self.mailbox) >= self.mailbox.capacity:
                if self._stop.wait(0.002):
                    return
            if self._stop.is_set():
                return
            self._emit(rgb, index / self.fps, "consumer behind")
