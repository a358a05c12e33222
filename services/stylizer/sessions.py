"""Stylizer sessions without gRPC: the model pool, opening a session (styles cached), stylizing
one key frame through the cross-session batcher, and one stream's key frames in flight.

The gRPC servicer (server.py) only translates messages and errors around these.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mvstylizer_common.errors import BadStyleError, CorruptImageError, InvalidInputError, LimitExceededError
from mvstylizer_common.limits import check_frame_size
from services.stylizer.admission import AdmissionSettings, PixelAdmission, StreamShare
from services.stylizer.batcher import BatchSettings, KeyFrameBatcher
from services.stylizer.masks import labels_from_mask
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.models import DEFAULT_MODEL, StyleModel, get_model, get_model_spec
from services.stylizer.pipeline import StylizationSession, StylizeSettings
from services.stylizer.smoothing import SHIPPED as SHIPPED_SMOOTHING
from services.stylizer.smoothing import load_smoothing
from services.stylizer.style_cache import StyleCache, style_key
from services.stylizer.weight_files import shipped_weights

# Encoded styles kept for reuse by later sessions (least recently used dropped first).
DEFAULT_STYLE_CACHE_ENTRIES = 64
# Key frames of one stream decoded/stylized ahead of the one being answered.
DEFAULT_MAX_IN_FLIGHT = 4
# The model's working resolution is a few hundred pixels; past this a session only burns memory.
MAX_WORK_LONG_SIDE = 4096


class ModelPool:
    """One instance per model name, built on first use and shared by every session."""

    def __init__(
        self, device: torch.device, weights: dict[str, str] | None = None, smoothing_weights: str | None = None
    ):
        self.device = device
        self.weights = dict(weights or {})
        self._models: dict[str, StyleModel] = {}
        self._lock = threading.Lock()
        self.smoothing_weights = smoothing_weights or str(shipped_weights(SHIPPED_SMOOTHING))
        # One meta-smoothing module serves every model and session.
        self.smoothing = load_smoothing(self.smoothing_weights).to(device)

    def weights_for(self, name: str) -> str:
        """The weight file a model runs with: the one given, else the shipped one, else ""."""
        return self.weights.get(name) or get_model_spec(name).default_weights

    def get(self, name: str) -> StyleModel:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = get_model(name, weights=self.weights.get(name)).to(self.device)
                self._models[name] = model
            return model


@dataclass(frozen=True)
class SessionRequest:
    """What a client asks of a session (zeros: the defaults)."""

    style_data: bytes  # the style photo as sent (the style cache's key)
    decode_style: Callable[[], np.ndarray]  # -> HxWx3 uint8; raises CorruptImageError
    model: str = ""
    work_long_side: int = 0
    output_width: int = 0
    output_height: int = 0
    strength: float = 1.0
    style_mask_data: bytes = b""  # the style's label mask as sent (part of the cache key); b"": none
    decode_style_mask: Callable[[], np.ndarray] | None = None  # -> the mask image; raises CorruptImageError


@dataclass
class OpenedSession:
    id: str
    session: StylizationSession
    model: str
    work_long_side: int
    style_encode_ms: float
    has_labels: bool = False  # the style came with a label mask: key frames may carry theirs
    last_index: int = -1  # key-frame indices must increase within a stream
    share: StreamShare = field(default_factory=StreamShare)  # its pixels in flight (admission.py)


@dataclass(frozen=True)
class KeyFrameResult:
    value: Any  # what encode() made of the stylized frame
    decode_ms: float
    queue_ms: float
    compute_ms: float
    encode_ms: float
    total_ms: float


def check_session_sizes(request: SessionRequest) -> None:
    """Every size a client can ask for is bounded before anything is allocated."""
    width, height = request.output_width, request.output_height
    if (width == 0) != (height == 0):
        raise InvalidInputError("output width and height must both be set or both be 0")
    if width:
        check_frame_size(width, height, "output size")
    if request.work_long_side > MAX_WORK_LONG_SIDE:
        raise LimitExceededError(
            f"working long side {request.work_long_side} is over the limit of {MAX_WORK_LONG_SIDE}"
        )


class Stylizer:
    """Every session of one server: shared models, style cache and batcher."""

    def __init__(
        self,
        *,
        device: torch.device,
        default_model: str = DEFAULT_MODEL,
        weights: dict[str, str] | None = None,
        smoothing_weights: str | None = None,
        metrics: StylizerMetrics | None = None,
        style_cache_entries: int = DEFAULT_STYLE_CACHE_ENTRIES,
        batching: BatchSettings | None = None,
        admission: AdmissionSettings | None = None,
    ):
        get_model_spec(default_model)  # fail at start-up, not on the first session
        self.default_model = default_model
        self.pool = ModelPool(device, weights, smoothing_weights)
        # Build the default model and every model given weights now: a bad file fails at start-up.
        for name in {default_model, *(weights or {})}:
            self.pool.get(name)
        self.metrics = metrics or StylizerMetrics()
        self.style_cache = StyleCache(style_cache_entries)
        if batching is None and device.type != "cpu":
            # One accelerator: its key frames run one after another; batches still form under load.
            batching = BatchSettings(workers=1)
        self.batcher = KeyFrameBatcher(batching, self.metrics)
        self.admission = PixelAdmission(admission)
        self._session_ids = itertools.count(1)

    def open(self, request: SessionRequest) -> OpenedSession:
        """Open a session: the style encoded once (or found in the cache). Blocking: run it off the loop."""
        start = time.perf_counter()
        check_session_sizes(request)
        name = request.model or self.default_model
        spec = get_model_spec(name)
        long_side = request.work_long_side or spec.work_long_side
        if not request.style_data:
            raise BadStyleError("the SessionConfig has no style photo")
        if not 0.0 <= request.strength <= 1.0:  # also refuses NaN
            raise InvalidInputError(f"strength {request.strength} is outside 0..1")
        settings = StylizeSettings(long_side, request.output_width, request.output_height, request.strength)
        model = self.pool.get(name)
        has_labels = bool(request.style_mask_data)
        key = style_key(name, long_side, request.style_data + request.style_mask_data)
        code = self.style_cache.get(key)
        if code is not None:
            self.metrics.style_cache.labels("hit").inc()
            session = StylizationSession(model, None, settings, self.pool.device, self.pool.smoothing, style_code=code)
        else:
            self.metrics.style_cache.labels("miss").inc()
            try:
                style = request.decode_style()
            except CorruptImageError as error:
                raise BadStyleError(f"style photo: {error}") from error
            labels = self._style_labels(request) if has_labels else None
            session = StylizationSession(
                model, style, settings, self.pool.device, self.pool.smoothing, style_labels=labels
            )
            self.style_cache.put(key, session.style_code)
        session_id = f"s{next(self._session_ids)}"
        elapsed_ms = (time.perf_counter() - start) * 1e3
        return OpenedSession(session_id, session, name, long_side, elapsed_ms, has_labels)

    @staticmethod
    def _style_labels(request: SessionRequest) -> np.ndarray:
        try:
            return labels_from_mask(request.decode_style_mask())
        except CorruptImageError as error:
            raise InvalidInputError(f"style mask: {error}") from error

    async def stylize(
        self,
        opened: OpenedSession,
        decode: Callable[[], np.ndarray],
        encode: Callable[[np.ndarray], Any],
        decode_mask: Callable[[], np.ndarray] | None = None,
        *,
        declared_pixels: Callable[[], int],
    ) -> KeyFrameResult:
        """One key frame: admitted, decoded off the loop, stylized in a batch with other sessions'
        frames, encoded. decode_mask: the frame's label mask, for a session whose style has one.
        declared_pixels: what the frame and its mask will decode to, read from their messages
        (admission.declared_pixels; blocking), so that the frame's place is decided before decoding."""
        if decode_mask is not None and not opened.has_labels:
            raise InvalidInputError("a key frame's mask needs a session opened with a style mask")
        loop = asyncio.get_running_loop()
        received = time.perf_counter()
        settings = opened.session.settings
        pixels = await loop.run_in_executor(None, declared_pixels)
        # An asked output size is counted because it may be far larger than the frame. An answer
        # at the frame's own size is not: it exists only from a worker's compute to its encoding,
        # which the per-worker term of the memory bound (docs/robustness.md) already covers.
        pixels += settings.output_width * settings.output_height
        async with self.admission.admit(opened.share, pixels):
            return await self._stylize_admitted(opened, decode, encode, decode_mask, received)

    async def _stylize_admitted(
        self,
        opened: OpenedSession,
        decode: Callable[[], np.ndarray],
        encode: Callable[[np.ndarray], Any],
        decode_mask: Callable[[], np.ndarray] | None,
        received: float,
    ) -> KeyFrameResult:
        self.batcher.check_room()
        loop = asyncio.get_running_loop()
        admitted = time.perf_counter()

        def decode_all() -> tuple[np.ndarray, np.ndarray | None]:
            content = decode()
            if decode_mask is None:
                return content, None
            try:
                mask = decode_mask()
            except CorruptImageError as error:
                raise InvalidInputError(f"key frame mask: {error}") from error
            return content, labels_from_mask(mask, (content.shape[1], content.shape[0]), "content mask")

        content, labels = await loop.run_in_executor(None, decode_all)
        decoded = time.perf_counter()
        done_by_batch = await self.batcher.run(lambda: opened.session.stylize(content, labels))
        computed = time.perf_counter()
        # Waiting for a place counts as queueing.
        queue_s = done_by_batch.queue_wait_s + (admitted - received)
        value = await loop.run_in_executor(None, encode, done_by_batch.value)
        done = time.perf_counter()
        self.metrics.key_frames.inc()
        self.metrics.latency.observe(done - received)
        self.metrics.queue_wait.observe(queue_s)
        return KeyFrameResult(
            value,
            decode_ms=(decoded - admitted) * 1e3,
            queue_ms=queue_s * 1e3,
            compute_ms=(computed - decoded - done_by_batch.queue_wait_s) * 1e3,
            encode_ms=(done - computed) * 1e3,
            total_ms=(done - received) * 1e3,
        )


def check_next_index(opened: OpenedSession, index: int) -> None:
    """Key-frame indices strictly increase within a stream (answers are matched to them)."""
    if index <= opened.last_index:
        raise InvalidInputError(f"key frame {index} after key frame {opened.last_index}: indices must increase")
    opened.last_index = index


async def in_order(
    requests: AsyncIterator[Any], start: Callable[[Any], Awaitable[Any]], max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
) -> AsyncIterator[Any]:
    """Answers to a stream's requests, in order, with up to max_in_flight started ahead of the one
    being answered (flow control beyond that). start(request) raising ends the stream with that error
    once the answers before it are out. Whatever is still queued when the stream ends early
    (error, cancellation, client gone) is cancelled and collected, so nothing is left running."""
    loop = asyncio.get_running_loop()
    end = object()
    pending: asyncio.Queue = asyncio.Queue(maxsize=max_in_flight)

    async def read() -> None:
        try:
            async for request in requests:
                try:
                    task = asyncio.ensure_future(start(request))
                except Exception as error:  # a request refused before any work: answered in turn
                    task = loop.create_future()
                    task.set_exception(error)
                    await pending.put(task)
                    return
                try:
                    await pending.put(task)
                except BaseException:  # cancelled while waiting for room: the task is nobody's
                    task.cancel()
                    raise
        finally:
            await pending.put(end)

    reader = asyncio.create_task(read())
    try:
        while (item := await pending.get()) is not end:
            yield await item
        await reader
    finally:
        leftovers = [reader]
        while not pending.empty():
            item = pending.get_nowait()
            if isinstance(item, asyncio.Future):
                leftovers.append(item)
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
