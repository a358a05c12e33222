"""A gateway on a loopback port relaying to the test stylizer, and a WebSocket client for it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from mvstylizer_common.imagecodec import JPEG, PNG, encode_image
from protos.mvstylizer.v1 import stylizer_pb2
from services.web.gateway import OFF, Gateway, GatewaySettings
from services.web.limits import SessionLimits
from services.web.relay import Upstream
from tests.media import moving_square_frame, style_photo

TIMEOUT = 60


def start_gateway(stylizer_address: str, **settings) -> Gateway:
    limits = settings.pop("limits", SessionLimits())
    base = GatewaySettings(host="127.0.0.1", port=0, tls=OFF, limits=limits)
    return Gateway(replace(base, **settings)).start(Upstream(stylizer_address))


@pytest.fixture
def gateway(stylizer_address):
    running = start_gateway(stylizer_address)
    yield running
    running.stop()


def socket_url(gateway: Gateway, token: str | None = "") -> str:
    """The socket's address: with the gateway's token unless another (or None: no token) is given."""
    given = gateway.token if token == "" else token
    query = f"?token={given}" if given is not None else ""
    return f"ws://127.0.0.1:{gateway.port}/ws{query}"


def open_socket(gateway: Gateway, token: str | None = "", **options) -> ClientConnection:
    return connect(
        socket_url(gateway, token), open_timeout=TIMEOUT, close_timeout=5, max_size=None, legacy=True, **options
    )


def config_request(**overrides) -> bytes:
    base = dict(style=encode_image(style_photo(), PNG), output_width=48, output_height=32, client_label="test")
    base.update(overrides)
    return stylizer_pb2.StylizeRequest(config=stylizer_pb2.SessionConfig(**base)).SerializeToString()


def key_frame_request(index: int) -> bytes:
    key_frame = stylizer_pb2.KeyFrame(index=index, pts=index * 40, image=encode_image(moving_square_frame(index), JPEG))
    return stylizer_pb2.StylizeRequest(key_frame=key_frame).SerializeToString()


def receive(socket: ClientConnection) -> stylizer_pb2.StylizeResponse:
    data = socket.recv(timeout=TIMEOUT)
    assert isinstance(data, bytes), "answers are binary messages"
    return stylizer_pb2.StylizeResponse.FromString(data)


def open_session(gateway: Gateway, **options) -> ClientConnection:
    """A socket whose session is open: config sent, SessionReady received."""
    socket = open_socket(gateway, **options)
    socket.send(config_request())
    assert receive(socket).WhichOneof("kind") == "ready"
    return socket


def stylize_one(socket: ClientConnection, index: int) -> stylizer_pb2.StylizedKeyFrame:
    socket.send(key_frame_request(index))
    answer = receive(socket)
    assert answer.WhichOneof("kind") == "key_frame"
    return answer.key_frame


def close_of(socket: ClientConnection) -> tuple[int, str]:
    """The code and reason the gateway closed the socket with (waits for the close)."""
    try:
        while True:
            socket.recv(timeout=TIMEOUT)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the gateway sent a close frame"
        return closed.rcvd.code, closed.rcvd.reason
