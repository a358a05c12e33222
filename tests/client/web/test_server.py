"""client.web.server: WebSockets on the shared uvicorn runner."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from client.web.server import WebServer, bind


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        await websocket.send_bytes(message["bytes"])


def test_a_websocket_outlives_the_first_request_timeout():
    """The timer that closes a connection sending no request must not close it once it is a WebSocket."""
    server = WebServer(Starlette(routes=[WebSocketRoute("/ws", echo)]), bind("127.0.0.1", 0), request_timeout_s=0.2)
    server.start()
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as socket:
            socket.send(b"first")
            assert socket.recv(timeout=10) == b"first"
            time.sleep(0.6)  # three request timeouts
            socket.send(b"later")
            assert socket.recv(timeout=10) == b"later"
    finally:
        server.stop()


async def hello(scope, receive, send) -> None:
    await PlainTextResponse("hello")(scope, receive, send)


def test_a_request_trickled_in_after_an_answer_is_cut_off():
    """After an answer, a connection whose next request does not arrive whole in time is closed, even
    if it sends a byte now and then (uvicorn's keep-alive timer stops at the first byte)."""
    server = WebServer(hello, bind("127.0.0.1", 0), request_timeout_s=0.5)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"hello"):
                answer += client.recv(1000)
            client.settimeout(0.1)
            closed = False
            # About 8 s of a byte every 0.15 s.
            for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":
                try:
                    client.sendall(bytes([byte]))
                    closed = client.recv(100) == b""
                except TimeoutError:
                    pass
                except OSError:
                    closed = True
                if closed:
                    break
                time.sleep(0.05)
            assert closed, "the trickling connection was still open after 16 request timeouts"
    finally:
        server.stop()


def test_a_websocket_peer_that_reads_nothing_is_dropped_and_its_handler_ends():
    """A client that never reads: the server's sends fill the socket's buffers, the keepalive ping goes
    unanswered, and the connection is dropped, so the handler (a session and its slot) ends."""
    ended = threading.Event()

    async def flood(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_bytes(bytes(1 << 20))
        except Exception:  # the send that finds the connection lost
            ended.set()
            raise

    server = WebServer(
        Starlette(routes=[WebSocketRoute("/ws", flood)]),
        bind("127.0.0.1", 0),
        ws_ping_interval_s=0.5,
        ws_ping_timeout_s=0.5,
        ws_close_flush_s=0.5,
    )
    server.start()
    try:
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", server.port))
            key = base64.b64encode(os.urandom(16)).decode()
            client.sendall(
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += client.recv(1)  # the handshake's answer only; nothing after it is read
            assert b" 101 " in answer
            assert ended.wait(15)
    finally:
        server.stop()


def test_a_flood_of_frames_closes_that_socket_and_the_server_goes_on():
    """Each frame costs the shared event loop a parse: a message in thousands of fragments, or
    thousands of pongs, closes that socket; a message in a thousand fragments is still served."""
    server = WebServer(Starlette(routes=[WebSocketRoute("/ws", echo)]), bind("127.0.0.1", 0))
    server.start()
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as fine:
            fine.send([b"x"] * 1000)  # an iterable: sent as fragments of one message
            assert fine.recv(timeout=10) == b"x" * 1000
        floods = (lambda ws: ws.send([b"x"] * 5000), lambda ws: [ws.pong(b"") for _ in range(5000)])
        for flood in floods:
            with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as socket:
                with pytest.raises(ConnectionClosed) as closed:
                    flood(socket)
                    socket.recv(timeout=10)
                # The close frame, unless the reset of a socket closed with unread data overtook it.
                if closed.value.rcvd is not None:
                    assert closed.value.rcvd.code == 1008 and "4096 frames" in closed.value.rcvd.reason
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as after:
            after.send(b"still here")
            assert after.recv(timeout=10) == b"still here"
    finally:
        server.stop()
