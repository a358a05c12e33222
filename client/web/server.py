"""An ASGI app (Starlette) served by uvicorn on a background thread of the job, on a socket bound first.

The socket is bound before the job starts any work, so a busy or impossible port is a one-line
error up front. One event loop serves every connection: an idle or slow viewer costs a socket,
not a thread. Blocking work (encoding a frame, decoding an upload) goes to a small thread pool
(to_thread). Connections are bounded (beyond `max_connections`, answers are 503), a connection
that sends no request within `request_timeout_s` is closed, and stop() ends open streams within
`stop_timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import uvicorn
from anyio import CapacityLimiter
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.token_bucket import TokenBucket

log = logging.getLogger(__name__)

T = TypeVar("T")

# uvicorn says what it is doing at INFO (starting, stopping, "Uvicorn running on"): the job says
# that itself. Its warnings (a malformed request, the connection limit) still show.
logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def bind(host: str, port: int, flag: str = "--preview") -> socket.socket:
    """A listening socket on host:port (0: a free port), or InvalidInputError naming `flag`."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"{flag} {port}: expected a port number of 0..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Lets a restarted job take its port back from connections in TIME_WAIT (never from a listener).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise InvalidInputError(f"{flag} {port}: cannot serve on {host}:{port}: {error.strerror or error}") from None
    sock.setblocking(False)
    return sock


class _QuietH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections that send no whole request in time, with no
    access log (request lines carry the page's token). The deadline runs from the connection's
    start and again from each answer's end: uvicorn's keep-alive timer stops at the next byte, so
    a request trickled in a byte at a time would otherwise hold the connection for good. A
    connection upgraded to a WebSocket is the WebSocket protocol's from then on: no deadline."""

    request_timeout_s = 10.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.access_log = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm(None)

    def on_response_complete(self) -> None:
        finished = self.cycle  # a pipelined request may start a new cycle within the call
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(finished)

    def _arm(self, finished_cycle) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._close_if_no_request, finished_cycle)

    def _close_if_no_request(self, finished_cycle) -> None:
        """Closes the connection unless a request has begun since `finished_cycle` (None: since it opened)."""
        if self.cycle is finished_cycle and not self.transport.is_closing():
            self.transport.close()

    def handle_websocket_upgrade(self, event) -> None:
        self._deadline.cancel()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)


class _DroppingTransport:
    """A transport whose close() gives the peer `flush_s` to take what is still buffered, then drops
    the connection. asyncio's own close() waits for the buffer to drain, for ever when the peer reads
    nothing: the connection is never lost, and a WebSocket send waiting for room never returns."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, flush_s: float):
        self._transport = transport
        self._loop = loop
        self._flush_s = flush_s

    def close(self) -> None:
        self._transport.close()
        # Whatever the buffer's size says (a TLS transport's counts only what TLS has not encrypted
        # yet): a no-op once the connection is lost.
        self._loop.call_later(self._flush_s, self._transport.abort)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _WebSockets(WebSocketsSansIOProtocol):
    """The `websockets` package's sans-I/O protocol, whose closes (keepalive ping timeout, close
    handshake timeout, the app's end) drop a peer that reads nothing after close_flush_s: a client
    that never reads its answers frees its session within the ping interval, timeout and this. A
    peer sending frames past its budget (see max_frame_rate) is closed with 1008."""

    close_flush_s = 10.0
    # Frames a connection may send (data, continuations, pings, pongs): bursts of max_burst_frames,
    # refilled at max_frame_rate a second. A browser sends a few messages a second, each whole; each
    # frame costs the shared event loop a parse, and two million one-byte fragments held every page.
    max_frame_rate = 1000.0
    max_burst_frames = 4096

    def connection_made(self, transport) -> None:
        super().connection_made(_DroppingTransport(transport, self.loop, self.close_flush_s))
        self._frame_budget = TokenBucket(self.max_frame_rate, self.max_burst_frames, self.loop.time())

    def _within_budget(self) -> bool:
        """Counts one frame; False (and the connection closed with 1008) past the budget."""
        if self.close_sent or self.transport.is_closing():
            return False
        if self._frame_budget.take(self.loop.time()):
            return True
        self.frames = []
        self.conn.fail(1008, f"more than {self.max_burst_frames} frames at once or {self.max_frame_rate:g} a second")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
        return False

    def handle_cont(self, event) -> None:
        if self._within_budget():
            super().handle_cont(event)

    def handle_text(self, event) -> None:
        if self._within_budget():
            super().handle_text(event)

    def handle_bytes(self, event) -> None:
        if self._within_budget():
            super().handle_bytes(event)

    def handle_ping(self) -> None:
        if self._within_budget():
            super().handle_ping()

    def handle_pong(self, event) -> None:
        if self._within_budget():
            super().handle_pong(event)


class WebServer:
    """Serves `app` on `sock` (from bind()) until stop(); start() returns once it accepts connections.

    certfile/keyfile: serve HTTPS (PEM files). WebSockets are served (by the `websockets` package's
    sans-I/O protocol) with messages of at most `ws_max_size` bytes (a larger one closes that socket
    with 1009) and no compression (frames are JPEG or PNG already). A WebSocket peer that answers no
    ping within ws_ping_timeout_s is closed, and dropped ws_close_flush_s later if it still reads
    nothing. lifespan: run the app's startup
    and shutdown (in the server's event loop)."""

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        *,
        name: str = "web",
        max_connections: int = 256,
        request_timeout_s: float = 10.0,
        stop_timeout_s: float = 2.0,
        certfile: str | None = None,
        keyfile: str | None = None,
        ws_max_size: int = 16 * 1024 * 1024,
        ws_ping_interval_s: float = 20.0,
        ws_ping_timeout_s: float = 20.0,
        ws_close_flush_s: float = 10.0,
        lifespan: bool = False,
    ):
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        protocol = type("Protocol", (_QuietH11,), {"request_timeout_s": request_timeout_s})
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http=protocol,
            lifespan="on" if lifespan else "off",
            ws=type("WebSockets", (_WebSockets,), {"close_flush_s": ws_close_flush_s}),
            ws_max_size=ws_max_size,
            ws_ping_interval=ws_ping_interval_s,
            ws_ping_timeout=ws_ping_timeout_s,
            ws_per_message_deflate=False,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            log_config=None,
            access_log=False,
            server_header=False,
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=max(1, round(stop_timeout_s)),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self.sock])
        except BaseException as error:  # reported by start(); a server that stops later only logs it
            self._error = error
            log.error("%s server stopped: %s", self._thread.name, error)

    def start(self, timeout_s: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self._thread.name} server did not start: {self._error}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stops accepting, ends open requests (within the stop timeout) and closes the socket."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        self.sock.close()


class Workers:
    """Runs blocking work for one server's event loop (frame encoding, image decoding, the job's
    status) on at most `threads` threads, however many requests wait for it."""

    def __init__(self, threads: int = 4):
        self.threads = threads
        self._limiter: CapacityLimiter | None = None  # made in the event loop, on first use

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
