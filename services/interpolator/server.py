"""gRPC adapter for the interpolator: translates messages and errors, nothing more."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from mvstylizer_common.auth import server_interceptors
from mvstylizer_common.errors import InvalidInputError, MvStylizerError
from mvstylizer_common.flowcodec import decode_confidence, decode_flow
from mvstylizer_common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES, message_size_options
from mvstylizer_common.imagecodec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from mvstylizer_common.serving import abort_with, add_health_and_reflection, bind
from mvstylizer_common.tls import ServerTls
from protos.mvstylizer.v1 import interpolator_pb2, interpolator_pb2_grpc, media_pb2
from services.interpolator.session import LIVE, OFFLINE, FrameInputs, InterpolationSession

log = logging.getLogger(__name__)

SERVICE_NAME = interpolator_pb2.DESCRIPTOR.services_by_name["Interpolator"].full_name
_MODES = {
    interpolator_pb2.INTERPOLATION_MODE_UNSPECIFIED: OFFLINE,
    interpolator_pb2.INTERPOLATION_MODE_OFFLINE: OFFLINE,
    interpolator_pb2.INTERPOLATION_MODE_LIVE: LIVE,
}


def frame_inputs_from_message(request: interpolator_pb2.FrameRequest) -> FrameInputs:
    """Decode a FrameRequest's payloads into arrays."""
    return FrameInputs(
        index=request.index,
        prev_key=request.prev_key,
        next_key=request.next_key if request.HasField("next_key") else None,
        flow_to_prev=decode_flow(request.flow_to_prev) if request.HasField("flow_to_prev") else None,
        confidence_prev=(decode_confidence(request.confidence_prev) if request.HasField("confidence_prev") else None),
        flow_to_next=decode_flow(request.flow_to_next) if request.HasField("flow_to_next") else None,
        confidence_next=(decode_confidence(request.confidence_next) if request.HasField("confidence_next") else None),
        original=decode_image(request.original) if request.HasField("original") else None,
        frame_size=(
            (request.flow_to_prev.frame_width, request.flow_to_prev.frame_height)
            if request.HasField("flow_to_prev")
            else None
        ),
    )


class InterpolatorServicer(interpolator_pb2_grpc.InterpolatorServicer):
    async def Interpolate(self, request_iterator, context: grpc.aio.ServicerContext):
        loop = asyncio.get_running_loop()
        session: InterpolationSession | None = None
        encoding = media_pb2.FRAME_ENCODING_JPEG
        quality = DEFAULT_JPEG_QUALITY
        try:
            async for request in request_iterator:
                kind = request.WhichOneof("kind")
                if session is None:
                    if kind != "config":
                        raise InvalidInputError("the first message of a stream must be an InterpolatorConfig")
                    config = request.config
                    session = InterpolationSession(
                        _MODES.get(config.mode, OFFLINE), config.width, config.height, exact_keys=config.exact_keys
                    )
                    encoding = config.output_encoding or media_pb2.FRAME_ENCODING_JPEG
                    if config.jpeg_quality > 100:
                        raise InvalidInputError(f"jpeg_quality {config.jpeg_quality} is over 100")
                    quality = config.jpeg_quality or DEFAULT_JPEG_QUALITY
                elif kind == "key":
                    await loop.run_in_executor(None, _add_key, session, request.key)
                elif kind == "frame":
                    output = await loop.run_in_executor(None, _make_frame, session, request.frame, encoding, quality)
                    yield interpolator_pb2.InterpolateResponse(frame=output)
                else:
                    raise InvalidInputError(f"unexpected message {kind!r} after the config")
        except MvStylizerError as error:
            log.info("interpolation stream rejected: %s", error)
            await abort_with(context, error)


def _add_key(session: InterpolationSession, key: interpolator_pb2.StylizedKey) -> None:
    original = decode_image(key.original) if key.HasField("original") else None
    session.add_key(key.index, decode_image(key.stylized), original)


def _make_frame(
    session: InterpolationSession, request: interpolator_pb2.FrameRequest, encoding: int, quality: int
) -> interpolator_pb2.OutputFrame:
    start = time.perf_counter()
    inputs = frame_inputs_from_message(request)
    decoded = time.perf_counter()
    frame = session.make_frame(inputs)
    computed = time.perf_counter()
    image = encode_image(frame, encoding, quality)
    done = time.perf_counter()
    timings = media_pb2.Timings(
        decode_ms=(decoded - start) * 1e3,
        compute_ms=(computed - decoded) * 1e3,
        encode_ms=(done - computed) * 1e3,
        total_ms=(done - start) * 1e3,
    )
    return interpolator_pb2.OutputFrame(index=request.index, pts=request.pts, image=image, timings=timings)


def create_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    auth_token: str | None = None,
    tls: ServerTls | None = None,
) -> tuple[grpc.aio.Server, int, object]:
    """Build (not start) the interpolator server; calls need `auth_token` when one is set.

    Returns (server, bound port, health servicer)."""
    server = grpc.aio.server(
        options=message_size_options(max_message_bytes), interceptors=server_interceptors(auth_token)
    )
    interpolator_pb2_grpc.add_InterpolatorServicer_to_server(InterpolatorServicer(), server)
    health_servicer = add_health_and_reflection(server, [SERVICE_NAME])
    bound = bind(server, host, port, tls.credentials() if tls else None)
    return server, bound, health_servicer
