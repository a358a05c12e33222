"""The gateway's ASGI app: the device page's static files, and the key-frame socket, behind the guard.

    GET /?token=T        the page (client/browser/index.html): needs the run's token
    GET /<file>          the page's scripts and assets: open (they are the published app, no secret)
    WS  /ws?token=T      one Stylize session (services.web.relay): needs the token
    GET /styles[/<file>] the style photos offered (services.web.styles): needs the token

Every request must also name a Host the gateway serves on and come from no other site's Origin
(client.web.guard). Nothing is fetched from elsewhere: the page is served from the package.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from client.web.guard import RequestGuard
from services.web.limits import SessionLimits
from services.web.relay import Sessions, Upstream, serve_session
from services.web.styles import is_styles_path, style_routes

# The device page, as shipped in the package (client/browser/).
BROWSER_DIR = Path(__file__).resolve().parents[2] / "client" / "browser"
SOCKET_PATH = "/ws"
# The paths that need the token: the page itself and the socket.
PROTECTED_PATHS = frozenset({"/", "/index.html", SOCKET_PATH})


def gateway_app(
    upstream: Upstream,
    limits: SessionLimits,
    token: str,
    hosts: frozenset[str],
    scheme: str = "http",
    static_dir: Path = BROWSER_DIR,
    styles_dir: Path | None = None,
) -> Starlette:
    sessions = Sessions(limits.max_sessions)

    async def socket(websocket: WebSocket) -> None:
        await serve_session(websocket, upstream, limits, sessions)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await upstream.close()

    app = Starlette(
        routes=[
            WebSocketRoute(SOCKET_PATH, socket),
            *style_routes(styles_dir),
            Mount("/", StaticFiles(directory=static_dir, html=True)),
        ],
        middleware=[
            Middleware(
                RequestGuard,
                hosts=hosts,
                token=token,
                scheme=scheme,
                is_open=lambda path: path not in PROTECTED_PATHS and not is_styles_path(path),
            )
        ],
        lifespan=lifespan,
    )
    app.state.sessions = sessions
    return app
