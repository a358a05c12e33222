"""Live stylization: every captured frame out at the camera's pace, whatever the stylizer does.

Four threads, joined by bounded queues: the source (capture), the engine (key-frame
choice, flow, colour maps), the renderer (maps applied at full resolution) and the
output (video encoding, preview). The engine drives the device tier's own machinery, as a file in
`--mode live` does: the key-frame policy of client.device.keyframes (scene cuts
included) and a forward-only InterpolationSession, which makes each frame from the
latest stylized key frame that has arrived (its colour maps moved along the flow from
that key to the frame), so a key frame's round trip never delays a frame.

Key frames are sent when the policy asks for one and the link can take it (one in flight),
never more often than the round trip allows (at least --min-key-interval apart), except
after a cut, which is sent as soon as possible. Frames no key describes come from the
session's closed form: after a cut, until the new shot's first key is answered, the new
shot's colours moved to the look the stylizer's answers have been bringing (their colour
statistics; the style photo's before the first answer; never the previous shot's maps); while the
stylizer is silent, the latest key's global look. When the stylizer comes back, its
next answer restores full quality.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from client.device.keyframes import KEY_LONG_SIDE, KeyFrameSelector, make_selector
from client.live.link import KeyAnswer, StylizerLink
from client.live.window import RecentWindow
from client.media.capture import DEFAULT_BACKLOG, LiveSource
from client.media.frames import FrameSink, OutputFrame, SourceFrame
from mvstylizer_common.errors import InvalidInputError
from services.interpolator import flow as flowlib
from services.interpolator.core import HeldKey
from services.interpolator.grids import grid_size
from services.interpolator.session import LIVE, FrameInputs, FramePlan, InterpolationSession

log = logging.getLogger(__name__)


@dataclass
class LiveOptions:
    """Live-mode settings; the CLI's defaults are these."""

    min_key_interval: int = 6  # frames; bounds the stylizer's and the key fits' share of the CPU
    max_key_interval: int = 60
    fallback_after_s: float = 1.0  # key older than this while the stylizer is away: closed form
    output_queue: int = 8  # frames between the engine and the output stage
    # Frames a paced file or synthetic source queues ahead of a slow engine before it drops the
    # oldest (a camera keeps only its newest frame, whatever this says): more means fewer drops
    # on a loaded machine, at that much more latency.
    capture_backlog: int = DEFAULT_BACKLOG
    keyframes: str = "auto"  # the key-frame policy (client.device.keyframes): auto or fixed
    max_gap: int = 30  # auto policy: a key at least this often (frames), as in file jobs
    # Capture starts once the stylizer holds the style (so the first frames are stylized, and encoding
    # the style does not compete with capture), or after this long in closed form if it is away.
    ready_timeout_s: float = 5.0
    # How many steps of CPU niceness below the job a stylizer it starts itself runs (on this machine;
    # not one given by address): the frames come first, key frames take the time left (a later key
    # costs a little colour accuracy; a late frame is a stall). 0 shares the CPU equally.
    stylizer_niceness: int = 10

    def check(self) -> None:
        if not 1 <= self.min_key_interval <= self.max_key_interval:
            raise InvalidInputError(f"--min-key-interval {self.min_key_interval}: expected 1..{self.max_key_interval}")
        if not self.fallback_after_s > 0:
            raise InvalidInputError(f"--fallback-after {self.fallback_after_s}: expected a positive number of seconds")
        if not 1 <= self.capture_backlog <= 3600:
            raise InvalidInputError(f"capture backlog {self.capture_backlog}: expected 1..3600 frames")
        if not 0 <= self.stylizer_niceness <= 19:
            raise InvalidInputError(f"stylizer niceness {self.stylizer_niceness}: expected 0..19")
        if self.keyframes not in ("auto", "fixed") or self.max_gap < 1:
            raise InvalidInputError(f"key-frame policy {self.keyframes!r} with max gap {self.max_gap}: not usable")


@dataclass
class _Planned:
    frame: SourceFrame
    plan: FramePlan


@dataclass
class _Fitted:
    """A stylized key's maps, fitted beside the video, waiting for the engine thread to hold them."""

    key: HeldKey
    flow_frame: flowlib.FlowFrame
    generation: int


# Live statistics keep recent samples only, so a run of any length holds the same memory and the
# preview's /status costs the same: latency percentiles are over the last LATENCY_WINDOW frames
# (5 minutes at 30 frames/s), round trips over the last ROUND_TRIP_WINDOW keys. Counts stay exact.
LATENCY_WINDOW = 9000
ROUND_TRIP_WINDOW = 1000
EVENT_WINDOW = 1000  # answer times and method changes kept (benchmarks and tests read them)


@dataclass
class LiveStats:
    """What the metrics JSON reports; updated by the threads, read by the preview."""

    started: float = field(default_factory=time.perf_counter)
    output: int = 0
    key_frames_sent: int = 0
    key_frames_answered: int = 0
    cuts: int = 0
    how: Counter = field(default_factory=Counter)
    latencies_s: RecentWindow = field(default_factory=lambda: RecentWindow(LATENCY_WINDOW))
    round_trips_s: RecentWindow = field(default_factory=lambda: RecentWindow(ROUND_TRIP_WINDOW))
    key_interval: int = 0
    last_answer_at: float | None = None
    # perf_counter() of each recent stylized key's arrival
    answer_times: deque[float] = field(default_factory=lambda: deque(maxlen=EVENT_WINDOW))
    # (perf_counter(), new method) of the recent changes of how frames are made
    method_changes: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=EVENT_WINDOW))


class LiveEngine:
    """Runs source -> engine -> output until the source ends or stop() is called."""

    def __init__(
        self,
        source: LiveSource,
        link: StylizerLink | None,
        style_rgb: np.ndarray,
        sinks: list[FrameSink],
        options: LiveOptions | None = None,
        strength: float | None = None,
    ):
        """strength: how far (0..1) frames made in closed form move towards the style photo's colours;
        None: the link's own (--strength, as the stylizer applies it to key frames), else 1."""
        self.source = source
        self.link = link
        self.options = options or LiveOptions()
        self.sinks = sinks
        self.stats = LiveStats()
        self.stats.key_interval = self.options.min_key_interval
        self.selector: KeyFrameSelector = make_selector(
            self.options.keyframes, self.options.min_key_interval, self.options.max_gap
        )
        # Frames are made straight in the encoder's layout when every sink takes it (no full-size RGB pass).
        i420 = source.width % 2 == 0 and source.height % 2 == 0 and all(sink.accepts_i420 for sink in sinks)
        if strength is None:
            strength = link.options.strength if link is not None else 1.0
        self.session = InterpolationSession(
            LIVE, source.width, source.height, style_reference=style_rgb, output_i420=i420, strength=strength
        )
        self._new_style: np.ndarray | None = None  # set by change_style(), taken by the engine thread
        self._style_lock = threading.Lock()
        self._generation = 0  # the style the session's keys are in (the link's generation)
        self._key_flow: dict[int, flowlib.FlowFrame] = {}  # held key -> its frame, prepared for flow
        self._key_originals: dict[int, np.ndarray] = {}
        self._key_size = grid_size(source.width, source.height, KEY_LONG_SIDE)
        self._fitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="key-fit")
        self._fitting = False
        self._fitted: queue.SimpleQueue[_Fitted] = queue.SimpleQueue()
        self._outputs: queue.Queue = queue.Queue(maxsize=self.options.output_queue)
        self._rendered: queue.Queue = queue.Queue(maxsize=2)  # rendered frames waiting for the sinks
        self._output_error: BaseException | None = None
        self._stop = threading.Event()
        self._last_key_sent = -(10**9)
        self._key_due = False  # the policy asked for a key frame that is not sent yet
        self._key_wanted_at: float | None = None  # since when a due key frame has been tried and not answered
        self._cut_pending = False  # ... and it starts a new shot: sent as soon as the link takes it
        self._pressure = 1.0  # >1 while frames back up (see _note_backlog)

    # --- control -------------------------------------------------------------------------
    def change_style(self, style_message, style_rgb: np.ndarray) -> None:
        with self._style_lock:
            self._new_style = style_rgb
        if self.link is not None:
            self.link.change_style(style_message)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> LiveStats:
        render_thread = threading.Thread(
            target=self._guarded,
            args=(self._render_loop, self._outputs, self._rendered),
            name="live-render",
            daemon=True,
        )
        output_thread = threading.Thread(
            target=self._guarded, args=(self._output_loop, self._rendered, None), name="live-output", daemon=True
        )
        render_thread.start()
        output_thread.start()
        try:
            deadline = time.perf_counter() + self.options.ready_timeout_s
            while self.link is not None and not self._stop.is_set() and time.perf_counter() < deadline:
                if self.link.wait_opened(0.05):
                    break
            self.source.start()
            self._engine_loop()
            # Stopped early: the source stops capturing, and the frames it captured still come out
            # (unless the output stage failed: then nothing more can).
            self.source.stop()
            while self._output_error is None and (frame := self.source.mailbox.get(timeout=0)) is not None:
                self._outputs.put(self._make(frame, flowlib.prepare(frame.rgb)))
        finally:
            self.source.stop()
            self._outputs.put(None)
            render_thread.join()
            output_thread.join()
            self._fitter.shutdown(wait=True)
        if self._output_error is not None:
            raise self._output_error
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
            self._note_backlog(len(mailbox) + self._outputs.qsize() + self._rendered.qsize())
            self._take_new_style()
            # Prepared once: the policy looks at it, and the flow to the key starts from it.
            prepared = flowlib.prepare(frame.rgb)
            self._choose_key(frame.index, prepared)
            self._take_answers()
            self._hold_fitted()
            self._maybe_send_key(frame)
            self._outputs.put(self._make(frame, prepared))

    def _take_new_style(self) -> None:
        with self._style_lock:
            style, self._new_style = self._new_style, None
        if style is not None:
            # The old style's keys are not used again: the closed form moves colours to the new
            # photo until the new style's first answer.
            self.session.set_style_reference(style)
            self._key_flow.clear()
            self._generation = self.link.style_generation if self.link is not None else self._generation + 1

    def _choose_key(self, index: int, prepared: flowlib.FlowFrame) -> None:
        """The key-frame policy, as file jobs run it. A cut starts a new shot in the session at once:
        the previous shot's maps never make a frame of this one."""
        decision = self.selector.decide(index, prepared.small)
        if decision.cut:
            self.stats.cuts += 1
            self.session.start_shot(index)
            self._key_flow.clear()
            self._cut_pending = True
        if decision.is_key:
            self._key_due = True

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
        if newest is not None:
            # Answered: a key still due (asked for meanwhile) is waited for from its next try on.
            self._key_wanted_at = None
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
            held = self.session.fit_key(answer.index, answer.stylized, original)
            self._fitted.put(_Fitted(held, flowlib.prepare(original), answer.style_generation))
        except Exception:  # a bad answer costs one key, not the stream
            log.exception("could not fit key frame %d", answer.index)
        finally:
            self._fitting = False

    def _hold_fitted(self) -> None:
        """Keys fitted since the last frame join the session (on this thread: it owns the session)."""
        while True:
            try:
                fitted = self._fitted.get_nowait()
            except queue.Empty:
                return
            if self.link is not None and fitted.generation != self.link.style_generation:
                continue  # made in a style no longer wanted
            try:
                self.session.hold_key(fitted.key)
            except InvalidInputError as error:  # a key of the previous shot, or older than the one held
                log.debug("key frame %d not used: %s", fitted.key.index, error)
                continue
            self._key_flow = {fitted.key.index: fitted.flow_frame}

    def _note_backlog(self, waiting: int) -> None:
        """Frames waiting mean the device is short of time: key frames (a round trip on the stylizer
        and a map fit here, on the same cores) become rarer until the backlog is gone."""
        if waiting >= 2:
            self._pressure = min(self._pressure * 1.25, 8.0)
        else:
            self._pressure = max(1.0, self._pressure * 0.99)
        self._adapt_interval()

    def _adapt_interval(self) -> None:
        """At most one key frame per round trip (the link keeps one in flight), within the bounds,
        stretched while frames are backing up."""
        recent = self.stats.round_trips_s.recent(5)
        fps = self.source.fps or 30.0
        by_round_trip = math.ceil(float(np.median(recent)) * fps) if len(recent) else 0
        wanted = max(by_round_trip, self.options.min_key_interval) * self._pressure
        self.stats.key_interval = int(
            np.clip(round(wanted), self.options.min_key_interval, self.options.max_key_interval)
        )

    def _maybe_send_key(self, frame: SourceFrame) -> None:
        if self.link is None or not self._key_due:
            return
        if not self._cut_pending and frame.index - self._last_key_sent < self.stats.key_interval:
            return
        # From the first try on, the key is waited for (a key held back for the interval is not).
        if self._key_wanted_at is None:
            self._key_wanted_at = time.perf_counter()
        small = cv2.resize(frame.rgb, self._key_size, interpolation=cv2.INTER_AREA)
        if self.link.offer(frame.index, small):
            self._key_originals[frame.index] = small
            self._last_key_sent = frame.index
            self._key_due = self._cut_pending = False
            self.stats.key_frames_sent += 1

    def _make(self, frame: SourceFrame, prepared: flowlib.FlowFrame) -> _Planned:
        key_index = self.session.latest_key()
        if key_index is not None and self._answers_flowing():
            key_frame = self._key_flow[key_index]
            flow = flowlib.estimate_flow(prepared, key_frame)
            confidence = flowlib.photometric_confidence(prepared, key_frame, flow)
            inputs = FrameInputs(
                index=frame.index,
                prev_key=key_index,
                flow_to_prev=flow,
                confidence_prev=confidence,
                original=frame.rgb,
                small=prepared.small,
            )
            return _Planned(frame, self.session.plan_frame(inputs))
        return _Planned(frame, self.session.plan_closed_form(frame.index, frame.rgb))

    def _answers_flowing(self) -> bool:
        """Whether the latest key still describes this frame: the stylizer has answered, and no key
        frame the policy asked for has gone unanswered longer than --fallback-after (or two round
        trips when the stylizer is slow but alive). A quiet scene that asks for no key keeps its
        key; a link that has just come back does not count until it answers again."""
        if self.link is None:
            return True
        if self.stats.last_answer_at is None:
            return False
        if self._key_wanted_at is None:
            return True
        recent = self.stats.round_trips_s.recent(5)
        patience = max(self.options.fallback_after_s, 2.0 * float(np.median(recent)) if len(recent) else 0.0)
        return time.perf_counter() - self._key_wanted_at < patience

    # --- output threads --------------------------------------------------------------------
    # Rendering at full size and encoding are two threads, so one frame's encode overlaps the next
    # frame's render: on one thread their sum, not the longer of them, bounded the frame rate.
    def _guarded(self, loop, inputs: queue.Queue, outputs: queue.Queue | None) -> None:
        """Run an output thread; if it fails (a sink's disk is full, say), the engine stops and run()
        raises the error, and the thread's queue is drained to its end so no thread waits on it.
        Its end is passed on to the next thread's queue (`outputs`), however it ended."""
        try:
            loop()
        except BaseException as error:
            if self._output_error is None:
                self._output_error = error
            self._stop.set()
            while inputs.get() is not None:
                pass
        finally:
            if outputs is not None:
                outputs.put(None)

    def _render_loop(self) -> None:
        while (item := self._outputs.get()) is not None:
            if self._output_error is not None:
                continue  # the output stage failed: nothing rendered now could come out
            frame, method = item.frame, item.plan.method
            image = self.session.render(item.plan)
            self._rendered.put(OutputFrame(frame.index, frame.pts, image, self.session.output_i420, method, frame))

    def _output_loop(self) -> None:
        while (output := self._rendered.get()) is not None:
            for sink in self.sinks:
                sink.write(output)
            now = time.perf_counter()
            method = output.method
            self.stats.latencies_s.append(now - output.source.captured_at)
            if not self.stats.method_changes or self.stats.method_changes[-1][1] != method:
                self.stats.method_changes.append((now, method))
            self.stats.how[method] += 1
            self.stats.output += 1

    # --- report ---------------------------------------------------------------------------
    def report(self) -> dict:
        stats = self.stats
        dropped = dict(self.source.mailbox.dropped)
        latencies, trips = stats.latencies_s, stats.round_trips_s

        def pct(window: RecentWindow, q: float) -> float | None:
            value = window.percentile(q)
            return None if value is None else round(value * 1e3, 2)

        def peak(window: RecentWindow) -> float | None:
            return None if window.peak is None else round(window.peak * 1e3, 2)

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
                "max": peak(latencies),
            },
            "latency_window_frames": len(latencies),  # the recent frames the percentiles are over
            "frames_by_method": dict(stats.how),
            "key_frames_sent": stats.key_frames_sent,
            "cuts": stats.cuts,
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
