"""The preview page against hostile clients: other websites, DNS rebinding, broken requests, idle
connections, viewers that vanish; and its port checked before a live job starts."""

from __future__ import annotations

import http.client
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import client.live.preview as preview_module
from client.live.preview import PreviewServer, PreviewSink
from client.media.frames import OutputFrame, SourceFrame
from client.remote.embedded import REPO_ROOT
from mvstylizer_common.imagecodec import PNG, encode_image, write_image_file
from tests.media import style_photo

TOKEN_HEADER = "X-MvStylizer-Token"
EVIL = "http://evil.example"


@pytest.fixture
def preview():
    sink = PreviewSink(fps=1000)
    changes: list = []
    server = PreviewServer(sink, lambda: {"output": 3}, lambda message, rgb: changes.append(rgb.shape)).start()
    yield server, sink, changes
    server.stop()


def a_frame(value: int = 200) -> OutputFrame:
    source = SourceFrame(0, 0, np.zeros((90, 160, 3), np.uint8))
    return OutputFrame(0, 0, np.full((90, 160, 3), value, np.uint8), source=source)


def token_of(server) -> str:
    return getattr(server, "token", "")


def request(server, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    """(status, body) of one request with exactly these headers (Host included)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        # A stream never ends: its first bytes are enough.
        return answer.status, answer.read(64) if answer.status == 200 else answer.read()
    finally:
        connection.close()


def raw_answer(server, data: bytes) -> bytes:
    """The first bytes the server answers to `data`, sent as is (b"" if it answers nothing)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        try:
            return sock.recv(256)
        except (ConnectionResetError, TimeoutError):
            return b""


def test_a_cross_site_post_cannot_change_the_style(preview):
    server, _, changes = preview
    host = {"Host": f"127.0.0.1:{server.port}"}
    photo = encode_image(style_photo(), PNG).data
    # What a form on another site sends: text/plain, its Origin (or only a Referer), no token.
    form = {**host, "Content-Type": "text/plain", "Origin": EVIL}
    assert request(server, "POST", "/style", form, photo)[0] == 403
    referred = {**host, "Content-Type": "text/plain", "Referer": EVIL + "/page"}
    assert request(server, "POST", "/style", referred, photo)[0] == 403
    # Nor does the token in the address make a state change: a POST must send it as a header.
    assert request(server, "POST", f"/style?token={token_of(server)}", host, photo)[0] == 403
    # Even with the token, another site's Origin is refused.
    stolen = {**host, "Origin": EVIL, TOKEN_HEADER: token_of(server)}
    assert request(server, "POST", "/style", stolen, photo)[0] == 403
    assert changes == []
    # The page itself (its origin, its token) changes the style.
    own = {**host, "Origin": f"http://127.0.0.1:{server.port}", TOKEN_HEADER: token_of(server)}
    assert request(server, "POST", "/style", own, photo)[0] == 200 and changes == [(60, 80, 3)]


@pytest.mark.parametrize("path", ["/", "/status", "/frame/stylized", "/stream/original", "/stream/stylized"])
def test_dns_rebinding_and_requests_without_the_token_read_nothing(preview, path):
    server, sink, _ = preview
    sink.write(a_frame())
    token = token_of(server)
    # A rebound name reaches the port, with or without the token.
    for headers in ({"Host": "evil.example"}, {"Host": f"evil.example:{server.port}", TOKEN_HEADER: token}):
        assert request(server, "GET", path, headers)[0] == 403
    # A loopback Host without the token, or with a wrong one.
    assert request(server, "GET", path, {"Host": f"127.0.0.1:{server.port}"})[0] == 403
    assert request(server, "GET", path + "?token=wrong", {"Host": f"localhost:{server.port}"})[0] == 403
    # Every loopback name with the token: served (streams start while frames come).
    writer = threading.Timer(0.3, lambda: sink.write(a_frame()))
    writer.start()
    for name in ("127.0.0.1", "localhost", "[::1]"):
        assert request(server, "GET", f"{path}?token={token}", {"Host": f"{name}:{server.port}"})[0] == 200
    writer.join()


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", str(1 << 40)])
def test_a_bad_content_length_gets_an_answer(preview, length):
    server, _, changes = preview
    head = f"POST /style HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{TOKEN_HEADER}: {token_of(server)}\r\n"
    answer = raw_answer(server, (head + f"Content-Length: {length}\r\n\r\nxyz").encode())
    assert answer.split(b" ")[1:2] in ([b"400"], [b"413"]), answer
    assert changes == []


def test_viewers_that_vanish_leave_no_traceback(preview, capfd, caplog):
    server, sink, _ = preview
    caplog.set_level("INFO")
    for path in ("/frame/stylized", "/stream/stylized"):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(f"GET {path}?token={token_of(server)} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        time.sleep(0.2)
        # Gone at once, with a reset: the server's next write to it fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        for value in range(20):
            sink.write(a_frame(value))
            time.sleep(0.02)
    time.sleep(0.5)
    assert "Traceback" not in capfd.readouterr().err
    assert [r.getMessage() for r in caplog.records if r.levelname != "DEBUG"] == []
    headers = {"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: token_of(server)}
    assert request(server, "GET", "/status", headers)[0] == 200  # the server goes on


def test_idle_connections_take_no_thread_each_and_the_page_still_answers(preview):
    server, _, _ = preview
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(160)]
    try:
        time.sleep(0.5)
        assert threading.active_count() - before < 10
        headers = {"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: token_of(server)}
        assert request(server, "GET", "/status", headers)[0] == 200
    finally:
        for sock in idle:
            sock.close()


def test_one_snapshot_does_not_leave_frame_encoding_on(preview, monkeypatch):
    server, sink, _ = preview
    encoded = []
    real = preview_module._jpeg
    monkeypatch.setattr(preview_module, "_jpeg", lambda rgb: encoded.append(1) or real(rgb))
    headers = {"Host": f"127.0.0.1:{server.port}", TOKEN_HEADER: token_of(server)}
    answer: dict = {}
    getter = threading.Thread(target=lambda: answer.update(r=request(server, "GET", "/frame/stylized", headers)))
    getter.start()
    while getter.is_alive():  # frames keep coming while the snapshot is asked for
        sink.write(a_frame())
        time.sleep(0.01)
    assert answer["r"][0] == 200 and answer["r"][1][:2] == b"\xff\xd8"
    encoded.clear()
    for value in range(30):  # nobody watches now
        sink.write(a_frame(value))
        time.sleep(0.005)
    assert encoded == []


def live_command(tmp_path, port: str) -> subprocess.CompletedProcess:
    style = tmp_path / "style.png"
    write_image_file(str(style), style_photo())
    command = [sys.executable, "-m", "client", "live", "--source", "synthetic", "--seconds", "1"]
    command += ["--style", str(style), "--stylizer", "127.0.0.1:9", "--preview", port]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_an_impossible_or_busy_preview_port_fails_up_front(tmp_path):
    result = live_command(tmp_path, "70000")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["error: --preview 70000: expected a port number of 0..65535"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = live_command(tmp_path, str(port))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --preview {port}: cannot serve on 127.0.0.1:{port}") and "in use" in line
