"""The preview server's endpoints, without a browser: status, frames, style uploads and their errors."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from client.live.preview import MAX_STYLE_BYTES, PreviewServer, PreviewSink
from client.media.frames import OutputFrame, SourceFrame
from mvstylizer_common.imagecodec import PNG, encode_image
from tests.media import style_photo


@pytest.fixture
def preview():
    sink = PreviewSink(fps=1000)
    changes: list = []
    server = PreviewServer(sink, lambda: {"output": 3}, lambda message, rgb: changes.append(rgb.shape)).start()
    yield server, sink, changes
    server.stop()


def fetch(url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Content-Type"), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def a_frame(value: int = 200) -> OutputFrame:
    source = SourceFrame(0, 0, np.zeros((90, 160, 3), np.uint8))
    return OutputFrame(0, 0, np.full((90, 160, 3), value, np.uint8), source=source)


def test_page_status_and_latest_frame(preview):
    server, sink, _ = preview
    status, kind, body = fetch(server.url)
    assert status == 200 and kind.startswith("text/html") and b"/stream/stylized" in body
    assert server.token.encode() in body  # the page carries the token for its own requests
    assert json.loads(fetch(server.base_url + "status", headers=server.headers)[2]) == {"output": 3}
    sink.write(a_frame())
    status, kind, body = fetch(server.base_url + "frame/stylized", headers=server.headers)
    assert status == 200 and kind == "image/jpeg" and body[:2] == b"\xff\xd8"
    assert fetch(server.base_url + "nowhere", headers=server.headers)[0] == 404
    assert fetch(server.base_url + "stream/elsewhere", headers=server.headers)[0] == 404


def test_style_upload_changes_style_and_bad_photos_are_refused(preview):
    server, _, changes = preview
    good = encode_image(style_photo(), PNG).data
    status, _, body = fetch(server.base_url + "style", good, server.headers)
    assert status == 200 and json.loads(body)["ok"] and changes == [(60, 80, 3)]
    status, _, body = fetch(server.base_url + "style", b"not a photo", server.headers)
    assert status == 400 and "not a readable image" in json.loads(body)["error"]
    # An oversized upload is refused from its declared length, before any of it is read.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/style")
    connection.putheader("Content-Length", str(MAX_STYLE_BYTES + 1))
    connection.putheader(*next(iter(server.headers.items())))
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()
    assert changes == [(60, 80, 3)]
