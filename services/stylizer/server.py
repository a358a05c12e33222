"""gRPC adapter for the stylizer: sessions over bidirectional streams, errors to status codes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import time

import grpc
import torch

from common.auth import server_interceptors
from common.errors import BadStyleError, CorruptImageError, InvalidInputError, MvStylizerError, TooSlowError
from common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES, message_size_options
from common.imagecodec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from common.serving import abort_with, add_health_and_reflection, bind
from common.tls import ServerTls
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.batcher import BatchSettings, KeyFrameBatcher
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.models import DEFAULT_MODEL, StyleModel, get_model, get_model_spec, list_models
from services.stylizer.pipeline import StylizationSession, StylizeSettings
from services.stylizer.smoothing import SHIPPED as SHIPPED_SMOOTHING
from services.stylizer.smoothing import load_smoothing
from services.stylizer.style_cache import StyleCache, style_key
from services.stylizer.weight_files import shipped_weights

log = logging.getLogger(__name__)

SERVICE_NAME = stylizer_pb2.DESCRIPTOR.services_by_name["Stylizer"].full_name
# Encoded styles kept for reuse by later sessions (least recently used dropped first).
DEFAULT_STYLE_CACHE_ENTRIES = 64
# Key frames of one stream decoded/stylized ahead of the one being answered.
DEFAULT_MAX_IN_FLIGHT = 4
# A stream that has sent no SessionConfig by then is ended (it would hold a session slot for nothing).
DEFAULT_CONFIG_TIMEOUT_S = 30.0
_END = object()
SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"


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


class StylizerServicer(stylizer_pb2_grpc.StylizerServicer):
    def __init__(
        self,
        *,
        device: torch.device,
        default_model: str = DEFAULT_MODEL,
        weights: dict[str, str] | None = None,
        smoothing_weights: str | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        metrics: StylizerMetrics | None = None,
        style_cache_entries: int = DEFAULT_STYLE_CACHE_ENTRIES,
        batching: BatchSettings | None = None,
        config_timeout_s: float = DEFAULT_CONFIG_TIMEOUT_S,
    ):
        get_model_spec(default_model)  # fail at start-up, not on the first session
        self.default_model = default_model
        self.pool = ModelPool(device, weights, smoothing_weights)
        # Build the default model and every model given weights now: a bad file fails at start-up.
        for name in {default_model, *(weights or {})}:
            self.pool.get(name)
        self.max_in_flight = max_in_flight
        self.config_timeout_s = config_timeout_s
        self.metrics = metrics or StylizerMetrics()
        self.style_cache = StyleCache(style_cache_entries)
        if batching is None and device.type != "cpu":
            # One accelerator: its key frames run one after another; batches still form under load.
            batching = BatchSettings(workers=1)
        self.batcher = KeyFrameBatcher(batching, self.metrics)
        self._session_ids = itertools.count(1)

    async def ListModels(self, request, context):
        return stylizer_pb2.ListModelsResponse(
            models=[
                stylizer_pb2.ModelInfo(
                    name=spec.name,
                    description=spec.description,
                    weights=self.pool.weights_for(spec.name),
                    work_long_side=spec.work_long_side,
                    is_default=spec.name == self.default_model,
                )
                for spec in list_models()
            ]
        )

    async def Stylize(self, request_iterator, context: grpc.aio.ServicerContext):
        loop = asyncio.get_running_loop()
        reader: asyncio.Task | None = None
        opened = False
        pending: asyncio.Queue = asyncio.Queue(maxsize=self.max_in_flight)
        try:
            try:
                first = await asyncio.wait_for(_first_request(request_iterator), self.config_timeout_s)
            except TimeoutError:
                raise TooSlowError(f"no SessionConfig within {self.config_timeout_s:g}s") from None
            if first is None:
                return
            if first.WhichOneof("kind") != "config":
                raise InvalidInputError("the first message of a stream must be a SessionConfig")
            session_id = f"s{next(self._session_ids)}"
            self.metrics.sessions.inc()
            self.metrics.active_sessions.inc()
            opened = True
            start = time.perf_counter()
            session, model_name, long_side = await loop.run_in_executor(None, self._open_session, first.config)
            config = first.config
            encoding = config.response_encoding or media_pb2.FRAME_ENCODING_JPEG
            quality = config.jpeg_quality or DEFAULT_JPEG_QUALITY
            log.info(
                "session %s opened: model=%s work=%d label=%s", session_id, model_name, long_side, config.client_label
            )
            yield stylizer_pb2.StylizeResponse(
                ready=stylizer_pb2.SessionReady(
                    session_id=session_id,
                    model=model_name,
                    work_long_side=long_side,
                    style_encode_ms=(time.perf_counter() - start) * 1e3,
                    server_id=SERVER_ID,
                )
            )

            async def read_key_frames() -> None:
                try:
                    async for request in request_iterator:
                        if request.WhichOneof("kind") != "key_frame":
                            failed = loop.create_future()
                            failed.set_exception(InvalidInputError("only key frames may follow the SessionConfig"))
                            await pending.put(failed)
                            return
                        task = asyncio.ensure_future(self._stylize_one(session, request.key_frame, encoding, quality))
                        try:
                            await pending.put(task)
                        except BaseException:  # cancelled while waiting for room: the task is nobody's
                            task.cancel()
                            raise
                finally:
                    await pending.put(_END)

            reader = asyncio.create_task(read_key_frames())
            while (item := await pending.get()) is not _END:
                yield stylizer_pb2.StylizeResponse(key_frame=await item)
            await reader
            log.info("session %s closed", session_id)
        except MvStylizerError as error:
            log.info("stylize stream rejected: %s", error)
            self.metrics.errors.labels(error.status_code.name).inc()
            await abort_with(context, error)
        finally:
            if opened:
                self.metrics.active_sessions.dec()
            # Free the session's queued work and collect every outcome, so nothing is left running
            # or unretrieved when a stream ends early (error, cancellation, client gone).
            leftovers = [reader] if reader is not None else []
            while not pending.empty():
                item = pending.get_nowait()
                if isinstance(item, asyncio.Future):
                    leftovers.append(item)
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

    def _open_session(self, config: stylizer_pb2.SessionConfig) -> tuple[StylizationSession, str, int]:
        name = config.model or self.default_model
        spec = get_model_spec(name)
        long_side = config.work_long_side or spec.work_long_side
        if not config.HasField("style"):
            raise BadStyleError("the SessionConfig has no style photo")
        settings = StylizeSettings(long_side, config.output_width, config.output_height)
        model = self.pool.get(name)
        key = style_key(name, long_side, config.style.data)
        code = self.style_cache.get(key)
        if code is not None:
            self.metrics.style_cache.labels("hit").inc()
            session = StylizationSession(model, None, settings, self.pool.device, self.pool.smoothing, style_code=code)
            return session, name, long_side
        self.metrics.style_cache.labels("miss").inc()
        try:
            style = decode_image(config.style)
        except CorruptImageError as error:
            raise BadStyleError(f"style photo: {error}") from error
        session = StylizationSession(model, style, settings, self.pool.device, self.pool.smoothing)
        self.style_cache.put(key, session.style_code)
        return session, name, long_side

    async def _stylize_one(
        self, session: StylizationSession, key_frame: stylizer_pb2.KeyFrame, encoding: int, quality: int
    ) -> stylizer_pb2.StylizedKeyFrame:
        loop = asyncio.get_running_loop()
        received = time.perf_counter()
        content = await loop.run_in_executor(None, decode_image, key_frame.image)
        decoded = time.perf_counter()
        done_by_batch = await self.batcher.run(lambda: session.stylize(content))
        stylized = done_by_batch.value
        computed = time.perf_counter()
        queue_s = done_by_batch.queue_wait_s
        image = await loop.run_in_executor(None, encode_image, stylized, encoding, quality)
        done = time.perf_counter()
        self.metrics.key_frames.inc()
        self.metrics.latency.observe(done - received)
        self.metrics.queue_wait.observe(queue_s)
        return stylizer_pb2.StylizedKeyFrame(
            index=key_frame.index,
            pts=key_frame.pts,
            image=image,
            timings=media_pb2.Timings(
                decode_ms=(decoded - received) * 1e3,
                queue_ms=queue_s * 1e3,
                compute_ms=(computed - decoded) * 1e3 - queue_s * 1e3,
                encode_ms=(done - computed) * 1e3,
                total_ms=(done - received) * 1e3,
            ),
        )


async def _first_request(request_iterator):
    async for request in request_iterator:
        return request
    return None


def create_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    device: str = "cpu",
    default_model: str = DEFAULT_MODEL,
    weights: dict[str, str] | None = None,
    smoothing_weights: str | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    auth_token: str | None = None,
    tls: ServerTls | None = None,
    metrics: StylizerMetrics | None = None,
    batching: BatchSettings | None = None,
    config_timeout_s: float = DEFAULT_CONFIG_TIMEOUT_S,
) -> tuple[grpc.aio.Server, int, object]:
    """Build (not start) the stylizer server; calls need `auth_token` when one is set.

    Returns (server, bound port, health servicer)."""
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda asked for, but no CUDA device is available")
    # Models and weights first: a bad file fails before anything else is set up.
    servicer = StylizerServicer(
        device=torch_device,
        default_model=default_model,
        weights=weights,
        smoothing_weights=smoothing_weights,
        metrics=metrics,
        batching=batching,
        config_timeout_s=config_timeout_s,
    )
    server = grpc.aio.server(
        options=message_size_options(max_message_bytes), interceptors=server_interceptors(auth_token)
    )
    stylizer_pb2_grpc.add_StylizerServicer_to_server(servicer, server)
    health_servicer = add_health_and_reflection(server, [SERVICE_NAME])
    bound = bind(server, host, port, tls.credentials() if tls else None)
    return server, bound, health_servicer
