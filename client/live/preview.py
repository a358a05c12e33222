"""Live preview page: original and stylized side by side, status, and a style picker.

    GET  /                  the page
    GET  /stream/original   MJPEG (multipart/x-mixed-replace), about 15 frames/s
    GET  /stream/stylized   the same, stylized
    GET  /frame/stylized    the latest stylized frame, one JPEG
    GET  /status            the live metrics as JSON
    POST /style             a new style photo (the request body: JPEG, PNG or any format OpenCV reads)

Served on loopback (client.web: Starlette on uvicorn, on a thread of the job). Every request needs
a loopback Host, no other site's Origin, and the run's token (client.web.guard): the printed URL
carries it, and the page sends it back. Frames are encoded for the page only while a stream is
watched; a single frame is encoded when asked for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from client.media.frames import OutputFrame
from client.web.guard import TOKEN_HEADER, TOKEN_PARAM, RequestGuard, allowed_hosts, new_token
from client.web.server import WebServer, Workers, bind
from mvstylizer_common.errors import MvStylizerError
from mvstylizer_common.imagecodec import load_image_bytes

log = logging.getLogger(__name__)

PREVIEW_FPS = 15.0
PREVIEW_LONG_SIDE = 640
MAX_STYLE_BYTES = 20 << 20
BOUNDARY = "mvsframe"
SNAPSHOT_WAIT_S = 5.0  # GET /frame/stylized before the first frame: how long it waits for one


class PreviewSink:
    """Keeps the latest frame, and its JPEGs at the preview's rate while a stream is watched."""

    def __init__(self, fps: float = PREVIEW_FPS):
        self.interval = 1.0 / fps
        self.viewers = 0  # MJPEG streams open now (changed under _lock)
        self._lock = threading.Lock()
        self._sequence = 0
        self._jpegs: dict[str, bytes] = {}
        self._latest: OutputFrame | None = None
        self._last = 0.0

    # I420 frames are turned back into RGB only for the frames the page shows (15 a second, when watched).
    accepts_i420 = True

    def write(self, frame: OutputFrame) -> None:
        self._latest = frame  # a reference: a frame is encoded only when the page asks for it
        now = time.perf_counter()
        if self.viewers == 0 or now - self._last < self.interval:
            return
        self._last = now
        jpegs = {view: encode_view(frame, view) for view in ("original", "stylized")}
        with self._lock:
            self._jpegs = jpegs
            self._sequence += 1

    def close(self) -> None:
        pass

    def add_viewer(self, change: int) -> None:
        with self._lock:
            self.viewers += change

    def current(self, view: str) -> tuple[int, bytes | None]:
        """The latest streamed frame: (sequence, JPEG); sequence 0 before the first."""
        with self._lock:
            return self._sequence, self._jpegs.get(view)

    def snapshot(self, view: str) -> bytes | None:
        """The latest frame's view as one JPEG, encoded now; None before the first frame."""
        frame = self._latest
        return encode_view(frame, view) if frame is not None else None


def encode_view(frame: OutputFrame, view: str) -> bytes:
    if view == "original":
        return _jpeg(frame.source.rgb)
    return _jpeg(cv2.cvtColor(frame.image, cv2.COLOR_YUV2RGB_I420) if frame.i420 else frame.image)


def _jpeg(rgb: np.ndarray) -> bytes:
    height, width = rgb.shape[:2]
    scale = min(1.0, PREVIEW_LONG_SIDE / max(height, width))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


def preview_app(
    sink: PreviewSink,
    status: Callable[[], dict],
    change_style: Callable[[object, np.ndarray], None],
    token: str,
    hosts: frozenset[str],
    stopping: threading.Event,
) -> Starlette:
    """The page's routes behind the Host, Origin and token guard."""
    workers = Workers()

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.replace("__TOKEN__", token))

    async def current_status(request: Request) -> Response:
        return JSONResponse(await workers.run(status))

    async def stream(request: Request) -> Response:
        view = request.path_params["view"]
        if view not in ("original", "stylized"):
            return Response(b"not found", 404, media_type="text/plain")

        async def parts():
            sink.add_viewer(+1)
            sequence = 0
            try:
                while not stopping.is_set():
                    latest, jpeg = sink.current(view)
                    if latest == sequence or not jpeg:
                        await asyncio.sleep(sink.interval / 2)
                        continue
                    sequence = latest
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    yield head.encode() + jpeg + b"\r\n"
            finally:  # also when the viewer goes away (the response is cancelled)
                sink.add_viewer(-1)

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    async def frame(request: Request) -> Response:
        deadline = time.monotonic() + SNAPSHOT_WAIT_S
        while (jpeg := await workers.run(sink.snapshot, "stylized")) is None:
            if time.monotonic() > deadline or stopping.is_set():
                return Response(b"no frame yet", 503, media_type="text/plain")
            await asyncio.sleep(0.05)
        return Response(jpeg, media_type="image/jpeg")

    async def style(request: Request) -> Response:
        limit = f"a style photo of 1 byte to {MAX_STYLE_BYTES >> 20} MiB is expected"
        declared = request.headers.get("content-length")
        if declared is not None:
            # uvicorn has already refused a malformed length (400); this refuses a too large one unread.
            if not declared.isdigit() or int(declared) == 0:
                return JSONResponse({"error": limit}, 400)
            if int(declared) > MAX_STYLE_BYTES:
                return JSONResponse({"error": limit}, 413)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_STYLE_BYTES:  # a chunked upload has no declared length
                    return JSONResponse({"error": limit}, 413)
        except ClientDisconnect:
            return Response(status_code=400)
        if not body:
            return JSONResponse({"error": limit}, 400)
        try:
            message, rgb = await workers.run(load_image_bytes, bytes(body), "style photo")
        except MvStylizerError as error:
            return JSONResponse({"error": str(error)}, 400)
        await workers.run(change_style, message, rgb)
        return JSONResponse({"ok": True, "width": rgb.shape[1], "height": rgb.shape[0]})

    routes = [
        Route("/", page),
        Route("/status", current_status),
        Route("/stream/{view:str}", stream),
        Route("/frame/stylized", frame),
        Route("/style", style, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(RequestGuard, hosts=hosts, token=token)])


class PreviewServer:
    """The page and its endpoints on host:port (0 picks a free port; see `port`), or on a socket
    bound beforehand (client.web.server.bind). `url` is the page's address with its token."""

    def __init__(
        self,
        sink: PreviewSink,
        status: Callable[[], dict],
        change_style: Callable[[object, np.ndarray], None],
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ):
        sock = sock if sock is not None else bind(host, port)
        self.port = sock.getsockname()[1]
        self.token = new_token()
        self.base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"
        self.url = f"{self.base_url}?{TOKEN_PARAM}={self.token}"
        self.headers = {TOKEN_HEADER: self.token}  # what a program's requests send
        self._stopping = threading.Event()
        app = preview_app(sink, status, change_style, self.token, allowed_hosts(host, self.port), self._stopping)
        self._web = WebServer(app, sock, name="preview")

    def start(self) -> PreviewServer:
        self._web.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._web.stop()


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mvstylizer live</title>
<style>
  /* One screen at 1280 px wide: the bar (figures and style picker) on top, both views side by side. */
  body { font-family: system-ui, sans-serif; margin: 0; padding: 10px 12px; background: #111; color: #eee; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 20px; margin-bottom: 10px; }
  h1 { font-size: 18px; margin: 0; }
  #status { font-variant-numeric: tabular-nums; font-size: 14px; }
  #status span { margin-right: 14px; white-space: nowrap; }
  #picker { font-size: 14px; }
  .views { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
  figure { margin: 0; min-width: 0; }
  figcaption { font-size: 13px; color: #aaa; margin-bottom: 4px; }
  img { width: 100%; max-height: calc(100vh - 90px); object-fit: contain; background: #222; display: block; }
  .down { color: #f77; } .up { color: #7f7; }
</style>
</head>
<body>
<header>
  <h1>mvstylizer live</h1>
  <div id="status">
    <span>fps <b id="fps">-</b></span>
    <span>latency p50 <b id="latency">-</b> ms</span>
    <span>key frames/s <b id="keyrate">-</b></span>
    <span>stylizer <b id="stylizer">-</b></span>
    <span>frames <b id="frames">-</b></span>
  </div>
  <div id="picker">
    <label>style photo <input type="file" id="style" accept="image/*"></label>
    <span id="style-result"></span>
  </div>
</header>
<div class="views">
  <figure><figcaption>original</figcaption>
    <img id="original" src="/stream/original?token=__TOKEN__" alt="original"></figure>
  <figure><figcaption>stylized</figcaption>
    <img id="stylized" src="/stream/stylized?token=__TOKEN__" alt="stylized"></figure>
</div>
<script>
const $ = (id) => document.getElementById(id);
// The run's token: every request of the page carries it (the server refuses requests without it).
const AUTH = { "X-MvStylizer-Token": "__TOKEN__" };
let previous = null;
async function refresh() {
  try {
    const s = await (await fetch("/status", { headers: AUTH })).json();
    const now = performance.now();
    if (previous) {
      const seconds = (now - previous.at) / 1000;
      $("fps").textContent = ((s.output - previous.output) / seconds).toFixed(1);
      $("keyrate").textContent = ((s.key_frames_answered - previous.keys) / seconds).toFixed(1);
    }
    previous = { at: now, output: s.output, keys: s.key_frames_answered };
    $("latency").textContent = s.latency_ms.p50 === null ? "-" : s.latency_ms.p50.toFixed(0);
    $("stylizer").textContent = s.stylizer;
    $("stylizer").className = s.stylizer === "connected" ? "up" : "down";
    $("frames").textContent = `${s.output} out, ${s.dropped} dropped`;
    if (s.style_error) $("style-result").textContent = `style refused by the stylizer: ${s.style_error}`;
  } catch (error) {
    $("stylizer").textContent = "page lost the client";
  }
}
setInterval(refresh, 500);
$("style").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const answer = await fetch("/style", { method: "POST", body: file, headers: AUTH });
  const result = await answer.json();
  $("style-result").textContent = answer.ok ? "style changed" : result.error;
});
</script>
</body>
</html>
"""
