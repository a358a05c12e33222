"""Bearer-token check on the services, and the client side that sends the token.

A service started with a token answers UNAUTHENTICATED to any call whose
`authorization` metadata is not `Bearer <token>`. The health service and reflection
stay open, so orchestrators can probe a service without holding its secret.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import grpc

from mvstylizer_common.errors import InvalidInputError

TOKEN_ENV = "MVS_AUTH_TOKEN"
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def resolve_token(token_file: str | None) -> str | None:
    """The token from a file (first line) if given, else from $MVS_AUTH_TOKEN, else None."""
    if token_file:
        try:
            token = Path(token_file).read_text().strip().splitlines()[0].strip()
        except (OSError, IndexError) as error:
            raise InvalidInputError(f"token file {token_file}: no token to read") from error
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        if hmac.compare_digest(str(metadata.get("authorization", "")).encode(), self._expected):
            return handler
        return _refusal(handler)


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape that ends the call with UNAUTHENTICATED."""

    async def refuse(_request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)


def server_interceptors(token: str | None) -> list[grpc.aio.ServerInterceptor]:
    return [BearerTokenInterceptor(token)] if token else []


class _TokenMetadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call on a channel."""

    def __init__(self, token: str):
        self._pair = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = [*(details.metadata or ()), self._pair]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._with_token(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._with_token(details), request_iterator)


class _Details(grpc.ClientCallDetails):
    def __init__(self, details, metadata):
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


def with_token(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """The channel, sending the token on every call when there is one."""
    return grpc.intercept_channel(channel, _TokenMetadata(token)) if token else channel
