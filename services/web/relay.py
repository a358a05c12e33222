"""One browser session: a WebSocket carrying v1 Stylize messages, relayed to one stylizer stream.

Each binary message from the browser is one serialized StylizeRequest (the SessionConfig first,
then key frames); each StylizeResponse (SessionReady, then one StylizedKeyFrame per key frame) goes
back as one binary message. The gateway checks every request before the stylizer sees it (the
protocol, the limits, the key-frame order the stylizer would refuse anyway), so a bad client costs
the edge nothing but its own socket: it is closed with a code and a one-line reason, and the
stylizer stream is cancelled. The stylizer ending the stream closes the socket the same way.

A lost stylizer is not hidden: the socket closes with 1013 (try again later) and the page, which
renders on its own meanwhile, opens a new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from google.protobuf.message import DecodeError
from starlette.websockets import WebSocket, WebSocketDisconnect

from mvstylizer_common.grpc_options import client_channel_options
from mvstylizer_common.imagecodec import declared_size
from mvstylizer_common.status import RETRY_AFTER_KEY
from mvstylizer_common.tls import ClientTls
from protos.mvstylizer.v1 import media_pb2, stylizer_pb2, stylizer_pb2_grpc
from services.web.limits import (
    CLOSE_BAD_DATA,
    CLOSE_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_LATER,
    CLOSE_UNSUPPORTED,
    MB,
    KeyRate,
    SessionLimits,
)

log = logging.getLogger(__name__)

# A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455, 5.5).
MAX_REASON_BYTES = 123


class CloseError(Exception):
    """Ends a session: the socket is closed with this code and reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Upstream:
    """The stylizer the sessions are relayed to: one asyncio channel (made in the server's event
    loop), round-robin over the addresses the target resolves to, TLS and a bearer token when given."""

    def __init__(
        self,
        target: str,
        token: str | None = None,
        tls: ClientTls | None = None,
        ready_timeout_s: float = 30.0,
        max_message_bytes: int = 64 * MB,
    ):
        self.target = target
        self.ready_timeout_s = ready_timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._tls = tls
        self._max_message_bytes = max_message_bytes
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> grpc.aio.StreamStreamCall:
        """A new Stylize stream (the channel is made on first use, in the running loop)."""
        if self._channel is None:
            options = client_channel_options(self._max_message_bytes)
            if self._tls is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=options)
            else:
                if self._tls.server_name:
                    options.append(("grpc.ssl_target_name_override", self._tls.server_name))
                self._channel = grpc.aio.secure_channel(self.target, self._tls.credentials(), options=options)
        stub = stylizer_pb2_grpc.StylizerStub(self._channel)
        return stub.Stylize(metadata=self._metadata, wait_for_ready=True)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


class Sessions:
    """The sessions open now, against the limit (one event loop: no lock needed)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0
        self.served = 0


async def serve_session(websocket: WebSocket, upstream: Upstream, limits: SessionLimits, sessions: Sessions) -> None:
    """Runs one session from the accepted handshake to the close."""
    await websocket.accept()
    peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "?"
    if sessions.open >= sessions.limit:
        log.warning("session from %s refused: %d sessions open (--max-sessions)", peer, sessions.open)
        await _close(
            websocket, CLOSE_TRY_LATER, f"the gateway serves {sessions.limit} sessions at once: try again later"
        )
        return
    sessions.open += 1
    sessions.served += 1
    number = sessions.served
    try:
        code, reason = await _relay(websocket, upstream, limits, number)
    finally:
        sessions.open -= 1
    log.info("session %d (%s) closed: %d %s", number, peer, code, reason)
    await _close(websocket, code, reason)


async def _relay(websocket: WebSocket, upstream: Upstream, limits: SessionLimits, number: int) -> tuple[int, str]:
    """(close code, reason) once the session is over, whichever side ended it."""
    call = None
    try:
        try:
            first = await asyncio.wait_for(_receive_request(websocket, limits), limits.config_timeout_s)
        except TimeoutError:
            raise CloseError(CLOSE_POLICY, f"no SessionConfig within {limits.config_timeout_s:g} s") from None
        if first is None:
            return CLOSE_NORMAL, "the browser left"
        # Header walks are Python loops over up to a message's bytes: off the event loop, which
        # every session and page request shares.
        await asyncio.to_thread(_check_config, first, limits)
        log.info("session %d opened: label=%r", number, first.config.client_label)
        call = upstream.open()
        try:
            ready = await asyncio.wait_for(_open(call, first), upstream.ready_timeout_s)
        except TimeoutError:
            raise CloseError(
                CLOSE_TRY_LATER, f"the stylizer did not answer within {upstream.ready_timeout_s:g} s"
            ) from None
        if ready is grpc.aio.EOF or ready.WhichOneof("kind") != "ready":
            raise CloseError(CLOSE_ERROR, "the stylizer did not answer the SessionConfig with SessionReady")
        await websocket.send_bytes(ready.SerializeToString())
        up = asyncio.create_task(_up(websocket, call, limits))
        down = asyncio.create_task(_down(call, websocket))
        done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        call.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in (up, down):  # the browser's own fault is named first
            if task in done and isinstance(task.exception(), CloseError | grpc.RpcError):
                raise task.exception()
        return (CLOSE_NORMAL, "the browser left") if up in done else (CLOSE_NORMAL, "the stylizer ended the session")
    except CloseError as closing:
        return closing.code, closing.reason
    except grpc.RpcError as error:
        return _closing_for(error)
    except WebSocketDisconnect:
        return CLOSE_NORMAL, "the browser left"
    except Exception as error:  # a fault of the gateway's own: this session ends, the others go on
        log.exception("session %d failed", number)
        return CLOSE_ERROR, f"the gateway failed: {type(error).__name__}"
    finally:
        if call is not None:
            call.cancel()


async def _open(call: grpc.aio.StreamStreamCall, config: stylizer_pb2.StylizeRequest):
    """The stylizer's first answer to the config (EOF if it ended the stream without one)."""
    await call.write(config)
    return await call.read()


async def _up(websocket: WebSocket, call: grpc.aio.StreamStreamCall, limits: SessionLimits) -> None:
    """Browser to stylizer: key frames, checked; returns when the browser leaves."""
    loop = asyncio.get_running_loop()
    rate = KeyRate(limits.max_key_rate, loop.time())
    last_index = -1
    while (request := await _receive_request(websocket, limits)) is not None:
        if request.WhichOneof("kind") != "key_frame":
            raise CloseError(CLOSE_POLICY, "only key frames may follow the SessionConfig")
        key_frame = request.key_frame
        if key_frame.index <= last_index:
            raise CloseError(
                CLOSE_POLICY, f"key frame {key_frame.index} after key frame {last_index}: indices must increase"
            )
        last_index = key_frame.index
        if not rate.take(loop.time()):
            raise CloseError(CLOSE_POLICY, f"more than {limits.max_key_rate:g} key frames a second (--max-key-rate)")
        await asyncio.to_thread(_check_key_frame, key_frame, limits)
        await call.write(request)


async def _down(call: grpc.aio.StreamStreamCall, websocket: WebSocket) -> None:
    """Stylizer to browser: every answer, as it comes; returns when the stylizer ends the stream."""
    while (response := await call.read()) is not grpc.aio.EOF:
        await websocket.send_bytes(response.SerializeToString())


async def _receive_request(websocket: WebSocket, limits: SessionLimits) -> stylizer_pb2.StylizeRequest | None:
    """The next request from the browser, or None once it has left."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data = message.get("bytes")
    if data is None:
        raise CloseError(CLOSE_UNSUPPORTED, "binary messages only: each one a serialized StylizeRequest")
    if len(data) > limits.max_message_bytes:  # the server's own limit closes larger ones first
        raise CloseError(
            CLOSE_TOO_BIG, f"a message of {len(data)} bytes is over the limit of {limits.max_message_bytes}"
        )
    try:
        request = stylizer_pb2.StylizeRequest.FromString(data)
    except DecodeError:
        raise CloseError(CLOSE_BAD_DATA, f"a message of {len(data)} bytes is not a StylizeRequest") from None
    if request.WhichOneof("kind") is None:
        raise CloseError(CLOSE_BAD_DATA, "a StylizeRequest with neither a config nor a key frame")
    return request


def _check_config(request: stylizer_pb2.StylizeRequest, limits: SessionLimits) -> None:
    if request.WhichOneof("kind") != "config":
        raise CloseError(CLOSE_POLICY, "the first message must be a SessionConfig")
    config = request.config
    if not config.HasField("style") or not config.style.data:
        raise CloseError(CLOSE_POLICY, "the SessionConfig carries no style photo")
    size = len(config.style.data)
    if size > limits.max_style_bytes:
        raise CloseError(
            CLOSE_TOO_BIG,
            f"a style photo of {size / MB:.1f} MB is over the limit of {limits.max_style_bytes / MB:g} MB",
        )
    _check_image(config.style, "style photo", limits.max_style_pixels)
    # An answer is made at the output size, whatever the key frame's: bounded as a key frame is.
    if config.output_width * config.output_height > limits.max_key_frame_pixels:
        raise CloseError(
            CLOSE_TOO_BIG,
            f"an output of {config.output_width}x{config.output_height} is over the limit of "
            f"{limits.max_key_frame_pixels / 1e6:g} Mpx",
        )
    if config.HasField("style_mask"):
        _check_image(config.style_mask, "style mask", limits.max_style_pixels)


def _check_key_frame(key_frame: stylizer_pb2.KeyFrame, limits: SessionLimits) -> None:
    _check_image(key_frame.image, "key frame", limits.max_key_frame_pixels)
    if key_frame.HasField("mask"):
        _check_image(key_frame.mask, "key frame's mask", limits.max_key_frame_pixels)


def _check_image(image: media_pb2.EncodedImage, what: str, max_pixels: int) -> None:
    """An image's declared size (its header, or a raw frame's fields) within max_pixels; nothing is
    decoded. The wire carries JPEG, PNG and raw frames only, so nothing else is sized."""
    size = declared_size(image)
    if size is None:
        raise CloseError(CLOSE_BAD_DATA, f"a {what} that is neither a JPEG nor a PNG with a readable header")
    width, height = size
    if width * height > max_pixels:
        raise CloseError(CLOSE_TOO_BIG, f"a {what} of {width}x{height} is over the limit of {max_pixels / 1e6:g} Mpx")


def _closing_for(error: grpc.RpcError) -> tuple[int, str]:
    """How a stylizer's status closes the socket: the request's fault, a busy or lost stylizer, or a failure."""
    code, details = error.code(), error.details() or ""
    reason = f"stylizer: {code.name}: {details}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return CLOSE_POLICY, reason
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        busy = RETRY_AFTER_KEY in dict(error.trailing_metadata() or ())
        return (CLOSE_TRY_LATER if busy else CLOSE_TOO_BIG), reason
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return CLOSE_TRY_LATER, reason
    return CLOSE_ERROR, reason


def _short(reason: str) -> str:
    """The reason cut to what a close frame carries, on a character boundary."""
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):  # the browser left first
        await websocket.close(code, _short(reason))
