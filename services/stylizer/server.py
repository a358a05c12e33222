"""gRPC adapter for the stylizer: messages to sessions (services/stylizer/sessions.py) and back,
domain errors to status codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import grpc
import torch
from google.protobuf.message import DecodeError
from grpc._cython.cygrpc import ExecuteBatchError  # what a send to a client that has gone raises

from mvstylizer_common.auth import server_interceptors
from mvstylizer_common.errors import (
    CorruptImageError,
    InvalidInputError,
    LimitExceededError,
    MvStylizerError,
    TooSlowError,
)
from mvstylizer_common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES, message_size_options
from mvstylizer_common.imagecodec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from mvstylizer_common.serving import abort_with, add_health_and_reflection, bind
from mvstylizer_common.status import status_of
from mvstylizer_common.tls import ServerTls
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.admission import AdmissionSettings, declared_pixels
from services.stylizer.batcher import BatchSettings
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.models import DEFAULT_MODEL, list_models
from services.stylizer.sessions import (
    DEFAULT_MAX_IN_FLIGHT,
    OpenedSession,
    SessionRequest,
    Stylizer,
    check_next_index,
    in_order,
)

log = logging.getLogger(__name__)

SERVICE_NAME = stylizer_pb2.DESCRIPTOR.services_by_name["Stylizer"].full_name
# A stream that has sent no SessionConfig by then is ended (it would hold a session slot for nothing).
DEFAULT_CONFIG_TIMEOUT_S = 30.0
SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"


class StylizerServicer(stylizer_pb2_grpc.StylizerServicer):
    """Translates Stylize and ListModels messages to the server's sessions (sessions.Stylizer) and back."""

    def __init__(
        self,
        stylizer: Stylizer,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        config_timeout_s: float = DEFAULT_CONFIG_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        self.stylizer = stylizer
        self.metrics = stylizer.metrics
        self.max_in_flight = max_in_flight
        self.config_timeout_s = config_timeout_s
        self.max_message_bytes = max_message_bytes

    async def ListModels(self, request, context):
        if request is None:  # bytes that are not a ListModelsRequest (_lenient_parser)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid ListModelsRequest")
        return stylizer_pb2.ListModelsResponse(
            models=[
                stylizer_pb2.ModelInfo(
                    name=spec.name,
                    description=spec.description,
                    weights=self.stylizer.pool.weights_for(spec.name),
                    work_long_side=spec.work_long_side,
                    is_default=spec.name == self.stylizer.default_model,
                )
                for spec in list_models()
            ]
        )

    async def Stylize(self, request_iterator, context: grpc.aio.ServicerContext) -> None:
        # Answers are written here (context.write), not yielded to gRPC: a write to a client that
        # has gone (cancelled, disconnected, past its deadline) is then caught and logged as the
        # normal event it is, instead of failing inside gRPC with an ERROR traceback.
        loop = asyncio.get_running_loop()
        opened_stream = False
        session = "stream"
        try:
            try:
                first = await asyncio.wait_for(_first_request(request_iterator), self.config_timeout_s)
            except TimeoutError:
                raise TooSlowError(f"no SessionConfig within {self.config_timeout_s:g}s") from None
            if first is None:
                return
            if first.WhichOneof("kind") != "config":
                raise InvalidInputError("the first message of a stream must be a SessionConfig")
            self.metrics.sessions.inc()
            self.metrics.active_sessions.inc()
            opened_stream = True
            config = first.config
            if config.jpeg_quality > 100:
                raise InvalidInputError(f"jpeg_quality {config.jpeg_quality} is over 100")
            check_response_encoding(config, self.max_message_bytes)
            opened = await loop.run_in_executor(None, self.stylizer.open, _session_request(config))
            session = f"session {opened.id}"
            encoding = config.response_encoding or media_pb2.FRAME_ENCODING_JPEG
            quality = config.jpeg_quality or DEFAULT_JPEG_QUALITY
            log.info(
                "session %s opened: model=%s work=%d label=%s",
                opened.id,
                opened.model,
                opened.work_long_side,
                config.client_label,
            )
            await _write(
                context,
                stylizer_pb2.StylizeResponse(
                    ready=stylizer_pb2.SessionReady(
                        session_id=opened.id,
                        model=opened.model,
                        work_long_side=opened.work_long_side,
                        style_encode_ms=opened.style_encode_ms,
                        server_id=SERVER_ID,
                    )
                ),
            )

            def start(request: stylizer_pb2.StylizeRequest):
                if request.WhichOneof("kind") != "key_frame":
                    raise InvalidInputError("only key frames may follow the SessionConfig")
                check_next_index(opened, request.key_frame.index)
                return self._stylize_one(opened, request.key_frame, encoding, quality)

            async with contextlib.aclosing(in_order(request_iterator, start, self.max_in_flight)) as answers:
                async for answer in answers:
                    await _write(context, stylizer_pb2.StylizeResponse(key_frame=answer))
            log.info("%s closed", session)
        except MvStylizerError as error:
            log.info("%s refused: %s", session, error)
            self.metrics.errors.labels(status_of(error).name).inc()
            # The traceback holds the refused request's frames in a cycle through its failed task:
            # dropped here, a large bad request is freed at once, not at the next cyclic collection.
            error.__traceback__ = None
            try:
                await abort_with(context, error)
            except ExecuteBatchError:  # the client went away before the status could reach it
                raise _client_gone(session) from None
        except _ClientGoneError:
            raise _client_gone(session) from None
        except asyncio.CancelledError:
            log.info("%s cancelled", session)
            raise
        finally:
            if opened_stream:
                self.metrics.active_sessions.dec()

    async def _stylize_one(
        self, opened: OpenedSession, key_frame: stylizer_pb2.KeyFrame, encoding: int, quality: int
    ) -> stylizer_pb2.StylizedKeyFrame:
        mask = key_frame.mask if key_frame.HasField("mask") else None
        result = await self.stylizer.stylize(
            opened,
            lambda: decode_image(key_frame.image),
            lambda rgb: encode_image(rgb, encoding, quality),
            (lambda: decode_image(mask)) if mask is not None else None,
            declared_pixels=lambda: _declared_pixels(key_frame.image, mask),
        )
        return stylizer_pb2.StylizedKeyFrame(
            index=key_frame.index,
            pts=key_frame.pts,
            image=result.value,
            timings=media_pb2.Timings(
                decode_ms=result.decode_ms,
                queue_ms=result.queue_ms,
                compute_ms=result.compute_ms,
                encode_ms=result.encode_ms,
                total_ms=result.total_ms,
            ),
        )


# What a StylizeResponse adds to a raw answer's pixels (fields, timings): far less than this.
RESPONSE_OVERHEAD_BYTES = 4096


def check_response_encoding(config: stylizer_pb2.SessionConfig, max_message_bytes: int) -> None:
    """An encoding the wire knows, and raw answers that fit a message: refused before any work,
    not after each key frame's."""
    encoding = config.response_encoding
    if encoding not in media_pb2.FrameEncoding.values():
        raise InvalidInputError(f"response_encoding {encoding} is not a FrameEncoding")
    if encoding == media_pb2.FRAME_ENCODING_RAW_RGB24 and config.output_width and config.output_height:
        answer = config.output_width * config.output_height * 3 + RESPONSE_OVERHEAD_BYTES
        if answer > max_message_bytes:
            raise LimitExceededError(
                f"raw answers of {config.output_width}x{config.output_height} are {answer / 2**20:.1f} MB, over the "
                f"message limit of {max_message_bytes / 2**20:g} MB: ask for JPEG or PNG, or a smaller output"
            )


def _session_request(config: stylizer_pb2.SessionConfig) -> SessionRequest:
    style = config.style if config.HasField("style") else None
    mask = config.style_mask if config.HasField("style_mask") else None
    return SessionRequest(
        style_data=style.data if style is not None else b"",
        decode_style=lambda: decode_image(style),
        model=config.model,
        work_long_side=config.work_long_side,
        output_width=config.output_width,
        output_height=config.output_height,
        strength=config.strength if config.HasField("strength") else 1.0,
        style_mask_data=mask.data if mask is not None else b"",
        decode_style_mask=(lambda: decode_image(mask)) if mask is not None else None,
    )


def _declared_pixels(image: media_pb2.EncodedImage, mask: media_pb2.EncodedImage | None) -> int:
    """Pixels a key frame and its mask declare (admission.declared_pixels)."""
    pixels = declared_pixels(image)
    if mask is not None:
        try:
            pixels += declared_pixels(mask)
        except CorruptImageError as error:
            raise InvalidInputError(f"key frame mask: {error}") from error
    return pixels


class _ClientGoneError(Exception):
    """A write failed: the client has cancelled the call, dropped the connection or passed its deadline."""


async def _write(context: grpc.aio.ServicerContext, response: stylizer_pb2.StylizeResponse) -> None:
    try:
        await context.write(response)
    except ExecuteBatchError:
        raise _ClientGoneError from None


def _client_gone(session: str) -> asyncio.CancelledError:
    """Logged once, as the normal event it is; gRPC takes a handler's CancelledError quietly."""
    log.info("%s ended: the client went away", session)
    return asyncio.CancelledError()


def _request_parser(message_class):
    """A request deserializer whose failure reaches the handler as InvalidInputError (a stream's
    bad message ends that stream with INVALID_ARGUMENT; gRPC's own would end it UNKNOWN)."""
    name = message_class.DESCRIPTOR.name

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError:
            raise InvalidInputError(f"a message on the stream is not a valid {name}") from None

    return parse


def _lenient_parser(message_class):
    """A unary request deserializer that gives None for bytes that do not parse: a deserializer's
    exception there never reaches the handler, so the handler answers INVALID_ARGUMENT itself."""

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError:
            return None

    return parse


def add_servicer(servicer: StylizerServicer, server: grpc.aio.Server) -> None:
    """As the generated add_StylizerServicer_to_server, with deserializers that refuse bad bytes
    with INVALID_ARGUMENT."""
    handlers = {
        "Stylize": grpc.stream_stream_rpc_method_handler(
            servicer.Stylize,
            request_deserializer=_request_parser(stylizer_pb2.StylizeRequest),
            response_serializer=stylizer_pb2.StylizeResponse.SerializeToString,
        ),
        "ListModels": grpc.unary_unary_rpc_method_handler(
            servicer.ListModels,
            request_deserializer=_lenient_parser(stylizer_pb2.ListModelsRequest),
            response_serializer=stylizer_pb2.ListModelsResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


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
    admission: AdmissionSettings | None = None,
) -> tuple[grpc.aio.Server, int, object]:
    """Build (not start) the stylizer server; calls need `auth_token` when one is set.

    Returns (server, bound port, health servicer)."""
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda asked for, but no CUDA device is available")
    # Models and weights first: a bad file fails before anything else is set up.
    stylizer = Stylizer(
        device=torch_device,
        default_model=default_model,
        weights=weights,
        smoothing_weights=smoothing_weights,
        metrics=metrics,
        batching=batching,
        admission=admission,
    )
    servicer = StylizerServicer(stylizer, config_timeout_s=config_timeout_s, max_message_bytes=max_message_bytes)
    server = grpc.aio.server(
        options=message_size_options(max_message_bytes), interceptors=server_interceptors(auth_token)
    )
    add_servicer(servicer, server)
    health_servicer = add_health_and_reflection(server, [SERVICE_NAME])
    bound = bind(server, host, port, tls.credentials() if tls else None)
    return server, bound, health_servicer
