"""`python -m client web` as a user runs it: a separate process, what it prints, how it stops."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

from websockets.sync.client import connect

from client.remote.embedded import REPO_ROOT
from services.web import certificate
from tests.processes import services_started_by
from tests.services.web.conftest import TIMEOUT, config_request, key_frame_request, receive
from tests.waiting import wait_until


def web_command(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "client", "web", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_plain_http_off_loopback_is_refused_with_a_clear_line_and_status_2():
    process = web_command("--host", "0.0.0.0", "--http", "--port", "0")
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert stderr.strip().startswith("error: --http with --host 0.0.0.0: plain HTTP is served on loopback only")
    assert len(stderr.strip().splitlines()) == 1


def test_on_the_lan_it_serves_https_with_a_printed_fingerprint_url_and_qr_code_and_relays(tmp_path):
    """The embedded stylizer, a self-signed certificate made under the user's config folder, the
    page reachable by the printed address, a round trip over the socket, and a clean stop."""
    process = web_command("--host", "0.0.0.0", "--port", "0", env={"XDG_CONFIG_HOME": str(tmp_path)})
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any("Ctrl-C stops" in line for line in lines), timeout=120), "".join(lines)
        printed = "".join(lines)
        url = re.search(r"https://(\S+):(\d+)/\?token=(\S+)", printed)
        fingerprint = re.search(r"SHA-256 ([0-9A-F:]{95})", printed)
        assert url and fingerprint, printed
        host, port, token = url.group(1), int(url.group(2)), url.group(3)
        assert "\u2584" in printed or "\u2580" in printed  # the QR code
        certfile = tmp_path / "mvstylizer" / certificate.CERT_NAME
        context = ssl.create_default_context(cafile=str(certfile))
        # The fingerprint printed is the certificate served, the one kept in the config folder.
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            served = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()
        assert fingerprint.group(1).replace(":", "") == served
        # The page answers by the printed address (its Host), with the token only.
        assert page_status(port, host, f"/?token={token}") == 200
        assert page_status(port, host, "/") == 403
        url = f"wss://127.0.0.1:{port}/ws?token={token}"
        with connect(url, ssl=context, open_timeout=TIMEOUT) as ws:
            ws.send(config_request())
            assert receive(ws).WhichOneof("kind") == "ready"
            ws.send(key_frame_request(0))
            assert receive(ws).key_frame.index == 0
        started = services_started_by(process.pid)
        assert started, "the stylizer was started by the command"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        reader.join(10)
        assert "gateway stopped" in "".join(lines)
        assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def page_status(port: int, host: str, path: str) -> int:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE  # the LAN address may not be this test's to verify against
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=unverified)
    try:
        connection.request("GET", path, headers={"Host": f"{host}:{port}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_busy_port_ends_the_command_at_once_with_status_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = web_command("--port", str(port), env={"MVS_WARM_START": "0"})
        _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert stderr.strip().startswith(f"error: --port {port}: cannot serve on 127.0.0.1:{port}")
    assert "stylizer" not in stderr
