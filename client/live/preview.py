"""Live preview page: original and stylized side by side, status, and a style picker.

    GET  /                  the page
    GET  /stream/original   MJPEG (multipart/x-mixed-replace), about 15 frames/s
    GET  /stream/stylized   the same, stylized
    GET  /frame/stylized    the latest stylized frame, one JPEG
    GET  /status            the live metrics as JSON
    POST /style             a new style photo (the request body: JPEG, PNG or any format OpenCV reads)

Served on loopback by the standard library's threading HTTP server. Frames are encoded
for the page only while someone watches.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from client.media.frames import OutputFrame
from mvstylizer_common.errors import MvStylizerError
from mvstylizer_common.imagecodec import load_image_bytes

log = logging.getLogger(__name__)

PREVIEW_FPS = 15.0
PREVIEW_LONG_SIDE = 640
MAX_STYLE_BYTES = 20 << 20
BOUNDARY = "mvsframe"


class PreviewSink:
    """Keeps the latest original and stylized frames as JPEG, at the preview's rate, while watched."""

    def __init__(self, fps: float = PREVIEW_FPS):
        self.interval = 1.0 / fps
        self.viewers = 0  # MJPEG streams open now (changed under _cond)
        self.snapshot_wanted = False
        self._cond = threading.Condition()
        self._sequence = 0
        self._jpegs: dict[str, bytes] = {}
        self._last = 0.0

    # I420 frames are turned back into RGB only for the frames the page shows (15 a second, when watched).
    accepts_i420 = True

    def write(self, frame: OutputFrame) -> None:
        now = time.perf_counter()
        if (self.viewers == 0 and not self.snapshot_wanted) or now - self._last < self.interval:
            return
        self._last = now
        stylized = cv2.cvtColor(frame.image, cv2.COLOR_YUV2RGB_I420) if frame.i420 else frame.image
        jpegs = {"original": _jpeg(frame.source.rgb), "stylized": _jpeg(stylized)}
        with self._cond:
            self._jpegs = jpegs
            self._sequence += 1
            self._cond.notify_all()

    def add_viewer(self, change: int) -> None:
        with self._cond:
            self.viewers += change

    def latest(self, view: str, after: int, timeout: float) -> tuple[int, bytes | None]:
        """The first frame newer than sequence `after` (waiting up to timeout): (sequence, JPEG)."""
        with self._cond:
            self._cond.wait_for(lambda: self._sequence > after, timeout)
            return self._sequence, self._jpegs.get(view)


def _jpeg(rgb: np.ndarray) -> bytes:
    height, width = rgb.shape[:2]
    scale = min(1.0, PREVIEW_LONG_SIDE / max(height, width))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


class PreviewServer:
    """The page and its endpoints on host:port (0 picks a free port; see `port`)."""

    def __init__(
        self,
        sink: PreviewSink,
        status: Callable[[], dict],
        change_style: Callable[[object, np.ndarray], None],
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        # One handler class per server, so stopping one server's streams leaves others alone.
        self._handler = type(
            "Handler",
            (_Handler,),
            {"sink": sink, "status": staticmethod(status), "change_style": staticmethod(change_style)},
        )
        self._server = ThreadingHTTPServer((host, port), self._handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="preview", daemon=True)

    def start(self) -> PreviewServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._handler.stopping = True
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    sink: PreviewSink
    status: Callable[[], dict]
    change_style: Callable[[object, np.ndarray], None]
    stopping = False

    def log_message(self, format, *args):
        log.debug("preview: " + format, *args)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/status":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.status()).encode())
        elif path in ("/stream/original", "/stream/stylized"):
            self._stream(path.rsplit("/", 1)[1])
        elif path == "/frame/stylized":
            self.sink.snapshot_wanted = True
            _, jpeg = self.sink.latest("stylized", 0, timeout=5.0)
            if jpeg:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
            else:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet")
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/style":
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_STYLE_BYTES:
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length else HTTPStatus.BAD_REQUEST,
                {"error": f"a style photo of 1 byte to {MAX_STYLE_BYTES >> 20} MiB is expected"},
            )
            return
        data = self.rfile.read(length)
        try:
            message, rgb = load_image_bytes(data, "style photo")
        except MvStylizerError as error:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self.change_style(message, rgb)
        self._send_json(HTTPStatus.OK, {"ok": True, "width": rgb.shape[1], "height": rgb.shape[0]})

    def _stream(self, view: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.sink.add_viewer(+1)
        sequence = 0
        try:
            while not self.stopping:
                sequence, jpeg = self.sink.latest(view, sequence, timeout=1.0)
                if not jpeg:
                    continue
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        finally:
            self.sink.add_viewer(-1)

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: HTTPStatus, payload: dict) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())


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
  <figure><figcaption>original</figcaption><img id="original" src="/stream/original" alt="original"></figure>
  <figure><figcaption>stylized</figcaption><img id="stylized" src="/stream/stylized" alt="stylized"></figure>
</div>
<script>
const $ = (id) => document.getElementById(id);
let previous = null;
async function refresh() {
  try {
    const s = await (await fetch("/status")).json();
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
  const answer = await fetch("/style", { method: "POST", body: file });
  const result = await answer.json();
  $("style-result").textContent = answer.ok ? "style changed" : result.error;
});
</script>
</body>
</html>
"""
