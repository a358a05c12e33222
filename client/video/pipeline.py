"""The key-frame pipeline for one video: decode -> key frames -> stylize -> flow -> interpolate -> encode.

Threads, all joined by bounded queues so memory follows the key-frame window,
never the video's length:

  main      decodes, picks key frames, submits them to the stylizer, queues work
  flow pool computes optical flow and confidence for intermediate frames (ahead)
  worker    waits for stylized keys and flows, feeds the interpolator in output order
  writer    takes interpolated frames in order and encodes them with source timing
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from client.device.interpolation import InterpolatorBackend
from client.device.keyframes import KeyFrameSelector
from client.media.frames import FrameSink
from client.media.source import VideoSource
from client.remote.stylizer import StylizerSession
from services.interpolator import flow as flowlib
from services.interpolator.chains import checked_confidences
from services.interpolator.grids import shrink_to_long_side
from services.interpolator.session import LIVE, OFFLINE, FrameInputs

log = logging.getLogger(__name__)

_END = object()
_POLL_S = 0.2


class PipelineAbortedError(RuntimeError):
    """Another stage failed; this one stops quietly."""


@dataclass
class FrameRecord:
    index: int
    pts: int
    rgb: np.ndarray
    flow_long_side: int

    @cached_property
    def flow_frame(self) -> flowlib.FlowFrame:
        return flowlib.prepare(self.rgb, self.flow_long_side)


@dataclass
class WorkItem:
    """One output frame to produce, in output order."""

    frame: FrameRecord
    prev_key: FrameRecord
    next_key: FrameRecord | None = None
    # Resolves to (flow_prev, conf_prev, flow_next, conf_next), and offline to those and the steps
    # to the neighbouring frames (step_back, step_on); None for key frames.
    flows: Future | None = None
    # Offline: the frames just before and after this one (keys at a segment's ends), and the segment.
    before: FrameRecord | None = None
    after: FrameRecord | None = None
    segment: Segment | None = None

    def checked_flows(
        self, failed: threading.Event
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The flows and confidences to the keys; offline, confidences checked against the chained
        motion. Raises PipelineAbortedError once `failed` is set."""
        if self.segment is None:
            return self.flows.result()
        return self.segment.checked_flows(self, failed)

    @property
    def is_key(self) -> bool:
        return self.frame is self.prev_key


class Segment:
    """The frames between two keys (offline). Their flows to the keys are checked together against
    the motion chained frame to frame (services/interpolator/chains.py), which needs them all."""

    def __init__(self, items: list[WorkItem]):
        self._position = {id(item): position for position, item in enumerate(items)}
        # The items' flows, in order: set once all are submitted.
        self.futures: list[Future] | None = None
        self._checked: list[tuple | None] | None = None

    def checked_flows(self, item: WorkItem, failed: threading.Event) -> tuple[np.ndarray, ...]:
        """The item's flows to its keys and its confidences in them, checked. Waits for the whole
        segment's flows (all submitted before any of its items is queued), or until `failed`.
        Each frame's entry is dropped once taken (items are taken once, in order)."""
        if self._checked is None:
            pending = set(self.futures)
            while pending:
                if failed.is_set():
                    raise PipelineAbortedError()
                _, pending = wait(pending, timeout=_POLL_S)
            frame = item.frame.rgb
            self._checked = _check_segment([future.result() for future in self.futures], frame)
            self.futures = None
        position = self._position[id(item)]
        checked, self._checked[position] = self._checked[position], None
        return checked


def _check_segment(results: list[tuple], frame: np.ndarray) -> list[tuple]:
    height, width = frame.shape[:2]
    columns = (list(column) for column in zip(*results, strict=True))
    flows_prev, confs_prev, flows_next, confs_next, steps_back, steps_on = columns
    confs_prev = checked_confidences(flows_prev, confs_prev, steps_back, width, height)
    confs_next = checked_confidences(flows_next[::-1], confs_next[::-1], steps_on[::-1], width, height)[::-1]
    return list(zip(flows_prev, confs_prev, flows_next, confs_next, strict=True))


@dataclass
class PipelineOptions:
    mode: str = OFFLINE
    flow_long_side: int = flowlib.DEFAULT_FLOW_LONG_SIDE
    # Long side of the key frames sent to the stylizer (never enlarged); 0 sends them whole,
    # as frame-by-frame runs must, whose stylized keys are the output.
    key_long_side: int = 0
    # Work items queued ahead of the worker (bounds memory and flow look-ahead; offline, the flows
    # of a whole segment between two keys are computed ahead, as its frames are held anyway).
    max_queued: int = 48
    flow_threads: int = 2


@dataclass
class PipelineResult:
    frames_in: int = 0
    frames_out: int = 0
    key_frames: int = 0
    key_reasons: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    damaged_packets: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    first_output_at: float | None = None  # time.time() when the first frame reached the sink


def compute_flows(item: WorkItem) -> tuple[np.ndarray | None, ...]:
    """Flow and confidence from the item's frame to its key frame(s), on the flow grid:
    (flow_prev, conf_prev, flow_next, conf_next), and for a frame of an offline segment its flows to
    the frames just before and after it too (step_back, step_on; a key's is the flow to the key)."""
    current = item.frame.flow_frame
    prev = item.prev_key.flow_frame
    flow_prev = flowlib.estimate_flow(current, prev)
    conf_prev = flowlib.photometric_confidence(current, prev, flow_prev)
    if item.next_key is None:
        return flow_prev, conf_prev, None, None
    nxt = item.next_key.flow_frame
    flow_next = flowlib.estimate_flow(current, nxt)
    conf_next = flowlib.photometric_confidence(current, nxt, flow_next)
    if item.segment is None:
        return flow_prev, conf_prev, flow_next, conf_next
    step_back = flow_prev if item.before is item.prev_key else flowlib.estimate_flow(current, item.before.flow_frame)
    step_on = flow_next if item.after is item.next_key else flowlib.estimate_flow(current, item.after.flow_frame)
    return flow_prev, conf_prev, flow_next, conf_next, step_back, step_on


class KeyFramePipeline:
    """Runs one video through a stylizer session and an interpolator backend."""

    def __init__(
        self,
        source: VideoSource,
        sink: FrameSink,
        stylizer: StylizerSession,
        interpolator: InterpolatorBackend,
        selector: KeyFrameSelector,
        options: PipelineOptions | None = None,
        on_frame: Callable[[int, int], None] | None = None,
    ):
        self.source = source
        self.sink = sink
        self.stylizer = stylizer
        self.interpolator = interpolator
        self.selector = selector
        self.options = options or PipelineOptions()
        if self.options.mode not in (OFFLINE, LIVE):
            raise ValueError(f"unknown mode {self.options.mode!r}")
        self.on_frame = on_frame
        self._work: queue.Queue = queue.Queue(maxsize=self.options.max_queued)
        self._failed = threading.Event()
        self._errors: list[BaseException] = []
        self._result = PipelineResult()

    def run(self) -> PipelineResult:
        start = time.perf_counter()
        flow_pool = ThreadPoolExecutor(self.options.flow_threads, thread_name_prefix="flow")
        worker = threading.Thread(target=self._guard, args=(self._feed_interpolator,), name="worker")
        writer = threading.Thread(target=self._guard, args=(self._write_outputs,), name="writer")
        worker.start()
        writer.start()
        try:
            self._guard(self._produce, flow_pool)
        finally:
            if self._failed.is_set():
                self._cancel_streams()
            worker.join()
            writer.join()
            flow_pool.shutdown(wait=True, cancel_futures=True)
        if self._errors:
            raise self._errors[0]
        self.stylizer.close()
        self._result.wall_seconds = time.perf_counter() - start
        self._result.damaged_packets = self.source.report.damaged_packets
        return self._result

    # -- stages ---------------------------------------------------------------

    def _produce(self, flow_pool: ThreadPoolExecutor) -> None:
        """Decode, choose key frames, and queue work in output order."""
        offline = self.options.mode == OFFLINE
        last_key: FrameRecord | None = None
        pending: list[FrameRecord] = []  # offline: intermediates waiting for their next key

        def queue_intermediates(next_key: FrameRecord) -> None:
            frames = [last_key, *pending, next_key]
            items = [
                WorkItem(record, last_key, next_key, before=frames[i], after=frames[i + 2])
                for i, record in enumerate(pending)
            ]
            segment = Segment(items)
            # Every flow of the segment is submitted before any item is queued: the worker waits
            # for them all at the segment's first frame.
            for item in items:
                item.segment = segment
                item.flows = flow_pool.submit(compute_flows, item)
            segment.futures = [item.flows for item in items]
            for item in items:
                self._put(item)
            pending.clear()

        def make_key(record: FrameRecord, reason: str) -> None:
            nonlocal last_key
            self.stylizer.submit(record.index, record.pts, self._key_image(record.rgb))
            self._result.key_frames += 1
            self._result.key_reasons[reason] = self._result.key_reasons.get(reason, 0) + 1
            if offline:
                queue_intermediates(record)
            last_key = record
            self._put(WorkItem(record, record))

        for frame in self.source.frames():
            self._result.frames_in += 1
            if self._failed.is_set():
                raise PipelineAbortedError()
            record = FrameRecord(frame.index, frame.pts, frame.rgb, self.options.flow_long_side)
            # The frame as the flow shrinks it anyway (made once, reused by the flow threads):
            # shrinking 1080p to a thumbnail directly cost more than the rest of the decision.
            picture = record.flow_frame.small if self.selector.looks_at_frames else frame.rgb
            decision = self.selector.decide(frame.index, picture)
            if decision.is_key or last_key is None:
                if decision.cut and pending:
                    # Never blend across a cut: the shot's last frame closes it as a key.
                    make_key(pending.pop(), "shot end")
                make_key(record, decision.reason or "first")
            elif offline:
                pending.append(record)
            else:
                item = WorkItem(record, last_key)
                item.flows = flow_pool.submit(compute_flows, item)
                self._put(item)
        if pending:
            # The last frame closes the video as a key frame, so no frame lacks a next key.
            make_key(pending.pop(), "video end")
        self._put(_END)

    def _feed_interpolator(self) -> None:
        """Send stylized keys as they are needed, then each frame's request, in order."""
        sent_keys: set[int] = set()
        try:
            while (item := self._get()) is not _END:
                for key in (item.prev_key, item.next_key):
                    if key is not None and key.index not in sent_keys:
                        self.interpolator.send_key(key.index, self.stylizer.result(key.index), key.rgb)
                        sent_keys.add(key.index)
                if item.is_key:
                    inputs = FrameInputs(index=item.frame.index, prev_key=item.frame.index)
                else:
                    flow_prev, conf_prev, flow_next, conf_next = item.checked_flows(self._failed)
                    height, width = item.frame.rgb.shape[:2]
                    inputs = FrameInputs(
                        index=item.frame.index,
                        prev_key=item.prev_key.index,
                        next_key=item.next_key.index if item.next_key is not None else None,
                        flow_to_prev=flow_prev,
                        confidence_prev=conf_prev,
                        flow_to_next=flow_next,
                        confidence_next=conf_next,
                        original=item.frame.rgb,
                        frame_size=(width, height),
                        small=item.frame.flow_frame.small,
                    )
                self.interpolator.request_frame(item.frame.pts, inputs)
                sent_keys = {k for k in sent_keys if k >= item.prev_key.index}
        finally:
            self.interpolator.finish()

    def _write_outputs(self) -> None:
        """Encode interpolated frames; they must arrive one per input frame, in order."""
        for expected, output in enumerate(self.interpolator.outputs()):
            if output.index != expected:
                raise RuntimeError(f"interpolator returned frame {output.index}, expected {expected}")
            self.sink.write(output)
            self._result.frames_out += 1
            if self._result.first_output_at is None:
                self._result.first_output_at = time.time()
            if self.on_frame is not None:
                self.on_frame(expected + 1, self.source.info.frame_count)

    # -- plumbing -------------------------------------------------------------

    def _key_image(self, rgb: np.ndarray) -> np.ndarray:
        return shrink_to_long_side(rgb, self.options.key_long_side) if self.options.key_long_side else rgb

    def _guard(self, stage: Callable, *args) -> None:
        try:
            stage(*args)
        except PipelineAbortedError:
            pass
        except BaseException as error:
            if not self._failed.is_set():
                self._errors.append(error)
            self._failed.set()
            self._cancel_streams()

    def _cancel_streams(self) -> None:
        self.stylizer.cancel()
        self.interpolator.cancel()

    def _put(self, item: object) -> None:
        while True:
            if self._failed.is_set():
                raise PipelineAbortedError()
            try:
                self._work.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _get(self) -> object:
        while True:
            if self._failed.is_set():
                raise PipelineAbortedError()
            try:
                return self._work.get(timeout=_POLL_S)
            except queue.Empty:
                continue
