"""Who may use a page this machine serves: a loopback Host, the page's own origin, and the run's token.

A page on 127.0.0.1 is still reachable from any website the user visits: a cross-site form can
POST to it, and DNS rebinding (evil.example resolving to 127.0.0.1) lets a site read its answers.
So every request must name an allowed Host (loopback, or the host the page was asked to serve,
with its port), must not come from another origin (Origin, or Referer when there is no Origin),
and must carry the run's random token: in a header (the page's own fetches, and every
state-changing request, which a cross-site form cannot send without a refused CORS preflight) or,
for GET and WebSocket requests only (images and streams cannot send headers), in `?token=`.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "X-MvStylizer-Token"
TOKEN_PARAM = "token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# Sent with every answer: never cached, never sniffed into another type, never framed by another site.
SAFE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def new_token() -> str:
    """A fresh random token for one run (URL-safe, so it travels in a query string as it is)."""
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values a server on host:port answers: loopback names, the host itself, `extra`."""
    names = set(LOOPBACK_NAMES) | {name.lower() for name in extra}
    if host not in ("", "0.0.0.0", "::"):
        names.add(f"[{host}]" if ":" in host else host.lower())
    hosts = {f"{name}:{port}" for name in names}
    if port in (80, 443):  # a browser leaves the default port out
        hosts |= names
    return frozenset(hosts)


class RequestGuard:
    """ASGI middleware: refuses (403) any HTTP or WebSocket request that fails the checks above.

    `open_paths`: paths served without the token (still Host- and Origin-checked); `is_open`: a test
    of the path that does the same for a whole family of paths (e.g. static files). `scheme`: "https"
    when the page is served over TLS (its own origin then starts with https://)."""

    def __init__(
        self,
        app: ASGIApp,
        hosts: frozenset[str],
        token: str,
        open_paths: Iterable[str] = (),
        scheme: str = "http",
        is_open: Callable[[str], bool] | None = None,
    ):
        self.app = app
        self.hosts = hosts
        self.scheme = scheme
        self.origins = frozenset(f"{scheme}://{host}" for host in hosts)
        self.token = token
        self.open_paths = frozenset(open_paths)
        self.is_open = is_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": refusal})
            else:
                await PlainTextResponse(refusal, 403, headers={"cache-control": "no-store"})(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SAFE_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_safely)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = Headers(scope=scope)
        if headers.get("host", "").lower() not in self.hosts:
            return "unknown host: open the address the program printed"
        origin = headers.get("origin")
        if origin is not None:
            if origin.lower() not in self.origins:
                return "requests from other sites are refused"
        elif "referer" in headers:
            parts = urlsplit(headers["referer"])
            if parts.scheme != self.scheme or parts.netloc.lower() not in self.hosts:
                return "requests from other sites are refused"
        # The path as the app will resolve it ("//", "/./index.html" and "/a/../" name "/" there).
        path = posixpath.normpath("/" + scope["path"].lstrip("/"))
        if path in self.open_paths or (self.is_open is not None and self.is_open(path)):
            return None
        given = headers.get(TOKEN_HEADER)
        if given is None and (scope["type"] == "websocket" or scope["method"] in ("GET", "HEAD")):
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(TOKEN_PARAM, [None])[0]
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            return "this page needs its token: open the address the program printed, ?token= included"
        return None
