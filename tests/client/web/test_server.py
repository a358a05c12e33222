"""client.web.server: WebSockets on the shared uvicorn runner."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
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
