"""Live stylization: every captured frame out at the camera's pace, whatever the stylizer does.

Three threads, joined by bounded queues: the source (capture), the engine (key-frame
choice, flow, colour maps) and the output (maps applied at full resolution, video
encoding, preview). Forward only: each frame is made from the latest stylized key
frame that has arrived, its colour maps moved along the flow from that key to the
frame (services.interpolator.core), so a key frame's round trip never delays a frame.
The key-frame interval follows the measured round trip (one key in flight at a time,
never more often than --min-key-interval). Where there is no usable key, the frame is
made on the device in closed form: the last key's global colour transform, or before
any key, a linear colour transfer (Monge-Kantorovich) to the style photo. When the
stylizer comes back, its next answer restores full quality.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from client.device.keyframes import KEY_LONG_SIDE
from client.live.link import KeyAnswer, StylizerLink
from client.media.capture import CapturedFrame, LiveSource
from services.interpolator import affine
from services.interpolator import flow as flowlib
from services.interpolator.core import (
    FlowToKey,
    HeldKey,
    apply_colour_transform,
    blend_maps,
    prepare_key,
)
from services.interpolator.grids import grid_size

log = logging.getLogger(__name__)

# Colour maps live on a grid of this long side (key frames travel at KEY_LONG_SIDE).
MAP_LONG_SIDE = 320


@dataclass
class LiveOptions:
    min_key_interval: int = 6  # frames; bounds the stylizer's and the key fits' share of the CPU
    max_key_interval: int = 60
    fallback_after_s: float = 1.0  # key older than this while the stylizer is away: closed form
    output_queue: int = 8  # frames between the engine and the output stage


@dataclass
class OutputItem:
    frame: CapturedFrame
    coeffs: np.ndarray | None  # colour maps on the grid, applied at full resolution by the output stage
    image: np.ndarray | None  # or the finished frame
    how: str  # "interpolated", "closed form" or "closed form (no key yet)"
    small: np.ndarray | None = None  # the frame at the map grid's size, for the output stage


@dataclass
class LiveStats:
    """What the metrics JSON reports; updated by the threads, read by the preview."""

    started: float = field(default_factory=time.perf_counter)
    output: int = 0
    key_frames_sent: int = 0
    key_frames_answered: int = 0
    how: Counter = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    round_trips_s: list[float] = field(default_factory=list)
    key_interval: int = 0
    last_answer_at: float | None = None
    answer_times: list[float] = field(default_factory=list)  # perf_counter() of each stylized key's arrival
    method_changes: list[tuple[float, str]] = field(default_factory=list)  # (perf_counter(), new method)


def closed_form_transform(content: np.ndarray, style_stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """3x4 affine map on [0, 1] colours taking content's colour distribution to the style's
    (Monge-Kantorovich linear transfer), from a thumbnail."""
    small = cv2.resize(content, (64, 36), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float64) / 255.0
    mean_c, cov_c = small.mean(0), np.cov(small.T) + 1e-4 * np.eye(3)
    mean_s, cov_s = style_stats
    root_c = _sqrtm(cov_c)
    inv_root_c = np.linalg.inv(root_c)
    middle = _sqrtm(root_c @ cov_s @ root_c)
    matrix = inv_root_c @ middle @ inv_root_c
    return np.hstack([matrix, (mean_s - matrix @ mean_c)[:, None]]).astype(np.float32)


def style_statistics(style_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    small = cv2.resize(style_rgb, (96, 64), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float64) / 255.0
    return small.mean(0), np.cov(small.T) + 1e-4 * np.eye(3)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 1e-8, None))) @ vectors.T


@dataclass
class _Key:
    held: HeldKey
    flow_frame: flowlib.FlowFrame
    generation: int


class LiveEngine:
    """Runs source -> engine -> output until the source ends or stop() is called."""

    def __init__(
        self,
        source: LiveSource,
        link: StylizerLink | None,
        style_rgb: np.ndarray,
        sinks: list,
        options: LiveOptions | None = None,
    ):
        self.source = source
        self.link = link
        self.options = options or LiveOptions()
        self.sinks = sinks  # objects with write(item: OutputItem, rgb: np.ndarray)
        self.stats = LiveStats()
        self.stats.key_interval = self.options.min_key_interval
        self._style_stats = style_statistics(style_rgb)
        self._style_lock = threading.Lock()
        self._key: _Key | None = None
        self._key_originals: dict[int, np.ndarray] = {}
        self._key_size = grid_size(source.width, source.height, KEY_LONG_SIDE)
        self._map_grid = grid_size(*self._key_size, MAP_LONG_SIDE)
        self._fitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="key-fit")
        self._fitting = False
        self._outputs: queue.Queue = queue.Queue(maxsize=self.options.output_queue)
        self._stop = threading.Event()
        self._last_key_sent = -(10**9)
        self._pressure = 1.0  # >1 while frames back up (see _note_backlog)

    # --- control -------------------------------------------------------------------------
    def change_style(self, style_message, style_rgb: np.ndarray) -> None:
        with self._style_lock:
            self._style_stats = style_statistics(style_rgb)
        if self.link is not None:
            self.link.change_style(style_message)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> LiveStats:
        output_thread = threading.Thread(target=self._output_loop, name="live-output", daemon=True)
        output_thread.start()
        self.source.start()
        try:
            self._engine_loop()
            # Stopped early: the source stops capturing, and the frames it captured still come out.
            self.source.stop()
            while (frame := self.source.mailbox.get(timeout=0)) is not None:
                self._outputs.put(self._make(frame))
        finally:
            self.source.stop()
            self._outputs.put(None)
            output_thread.join()
            self._fitter.shutdown(wait=True)
        return self.stats

    # --- engine thread -------------------------------------------------------------------
    def _engine_loop(self) -> None:
        mailbox = self.source.mailbox
        while not self._stop.is_set():
            frame = mailbox.get(timeout=0.1)
            if frame is None:
                if mailbox.closed:
                    if self.source.error is not None:
                        raise self.source.error
                    return
                continue
            self._note_backlog(len(mailbox) + self._outputs.qsize())
            self._take_answers()
            self._maybe_send_key(frame)
            self._outputs.put(self._make(frame))

    def _take_answers(self) -> None:
        if self.link is None:
            return
        answers = self.link.answers()
        for answer in answers:
            self.stats.key_frames_answered += 1
            self.stats.round_trips_s.append(answer.round_trip_s)
            self.stats.last_answer_at = time.perf_counter()
            self.stats.answer_times.append(self.stats.last_answer_at)
        current = [a for a in answers if a.style_generation == self.link.style_generation]
        newest = current[-1] if current else None
        original = self._key_originals.get(newest.index) if newest is not None else None
        if original is not None and not self._fitting:
            # Only the newest answer matters; fitting its maps runs beside the video.
            self._fitting = True
            self._fitter.submit(self._fit_key, newest, original)
        for answer in answers:
            self._key_originals.pop(answer.index, None)
        # Originals of keys that will never be answered (lost at a reconnection) are not kept.
        if len(self._key_originals) > 8:
            for index in sorted(self._key_originals)[:-8]:
                del self._key_originals[index]

    def _fit_key(self, answer: KeyAnswer, original: np.ndarray) -> None:
        try:
            stylized = answer.stylized
            if stylized.shape[:2] != original.shape[:2]:
                stylized = cv2.resize(stylized, original.shape[1::-1], interpolation=cv2.INTER_AREA)
            held = prepare_key(answer.index, original, stylized, self._map_grid)
            key = _Key(held, flowlib.prepare(original), answer.style_generation)
            if self._key is None or key.held.index > self._key.held.index or key.generation != self._key.generation:
                self._key = key
        except Exception:  # a bad answer costs one key, not the stream
            log.exception("could not fit key frame %d", answer.index)
        finally:
            self._fitting = False

    def _note_backlog(self, waiting: int) -> None:
        """Frames waiting mean the device is short of time: key frames (a round trip on the stylizer
        and a map fit here, on the same cores) become rarer until the backlog is gone."""
        if waiting >= 2:
            self._pressure = min(self._pressure * 1.25, 8.0)
        else:
            self._pressure = max(1.0, self._pressure * 0.99)
        self._adapt_interval()

    def _adapt_interval(self) -> None:
        """One key frame per round trip (the link keeps one in flight), within the bounds, stretched
        while frames are backing up."""
        recent = self.stats.round_trips_s[-5:]
        fps = self.source.fps or 30.0
        by_round_trip = math.ceil(float(np.median(recent)) * fps) if recent else 0
        wanted = max(by_round_trip, self.options.min_key_interval) * self._pressure
        self.stats.key_interval = int(
            np.clip(round(wanted), self.options.min_key_interval, self.options.max_key_interval)
        )

    def _maybe_send_key(self, frame: CapturedFrame) -> None:
        if self.link is None or frame.index - self._last_key_sent < self.stats.key_interval:
            return
        small = cv2.resize(frame.rgb, self._key_size, interpolation=cv2.INTER_AREA)
        if self.link.offer(frame.index, small):
            self._key_originals[frame.index] = small
            self._last_key_sent = frame.index
            self.stats.key_frames_sent += 1

    def _make(self, frame: CapturedFrame) -> OutputItem:
        key = self._key
        fresh_style = key is not None and (self.link is None or key.generation == self.link.style_generation)
        if key is not None and fresh_style:
            if self._answers_flowing():
                current = flowlib.prepare(frame.rgb)
                flow = flowlib.estimate_flow(current, key.flow_frame)
                confidence = flowlib.photometric_confidence(current, key.flow_frame, flow)
                coeffs = blend_maps(frame.index, FlowToKey(key.held, flow, confidence), None, *frame.rgb.shape[1::-1])
                return OutputItem(frame, coeffs, None, "interpolated", current.small)
            return OutputItem(frame, None, apply_colour_transform(frame.rgb, key.held.transform), "closed form")
        with self._style_lock:
            stats = self._style_stats
        transform = closed_form_transform(frame.rgb, stats)
        return OutputItem(frame, None, apply_colour_transform(frame.rgb, transform), "closed form (no key yet)")

    def _answers_flowing(self) -> bool:
        """Whether the stylizer answered recently enough for its last key to describe this frame:
        within --fallback-after, or two round trips when the stylizer is slow but alive. A link
        that has just come back does not count until it answers again."""
        if self.link is None:
            return True
        last = self.stats.last_answer_at
        if last is None:
            return False
        recent = self.stats.round_trips_s[-5:]
        patience = max(self.options.fallback_after_s, 2.0 * float(np.median(recent)) if recent else 0.0)
        return time.perf_counter() - last < patience

    # --- output thread -------------------------------------------------------------------
    def _output_loop(self) -> None:
        while (item := self._outputs.get()) is not None:
            rgb = item.image if item.image is not None else affine.apply_detail(item.coeffs, item.frame.rgb, item.small)
            for sink in self.sinks:
                sink.write(item, rgb)
            now = time.perf_counter()
            self.stats.latencies_s.append(now - item.frame.captured_at)
            if not self.stats.method_changes or self.stats.method_changes[-1][1] != item.how:
                self.stats.method_changes.append((now, item.how))
            self.stats.how[item.how] += 1
            self.stats.output += 1

    # --- report ---------------------------------------------------------------------------
    def report(self) -> dict:
        stats = self.stats
        dropped = dict(self.source.mailbox.dropped)
        latencies = np.array(stats.latencies_s) * 1e3
        trips = np.array(stats.round_trips_s) * 1e3

        def pct(values: np.ndarray, q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if len(values) else None

        wall = time.perf_counter() - stats.started
        return {
            "captured": self.source.captured,
            "output": stats.output,
            "dropped": sum(dropped.values()),
            "dropped_by_reason": dropped,
            "latency_ms": {
                "p50": pct(latencies, 50),
                "p95": pct(latencies, 95),
                "p99": pct(latencies, 99),
                "max": pct(latencies, 100),
            },
            "frames_by_method": dict(stats.how),
            "key_frames_sent": stats.key_frames_sent,
            "key_frames_answered": stats.key_frames_answered,
            "key_round_trip_ms": {"p50": pct(trips, 50), "p95": pct(trips, 95)},
            "key_interval": stats.key_interval,
            "output_fps": round(stats.output / wall, 2) if wall > 0 else 0.0,
            "stylizer": self.link.status if self.link is not None else "none",
            "style_error": self.link.style_error if self.link is not None else None,
            "width": self.source.width,
            "height": self.source.height,
            "source_fps": self.source.fps,
        }
