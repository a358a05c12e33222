"""HTTPS for the gateway: the self-signed certificate is made once and reused, its printed fingerprint
is the one the server presents, and the page and socket work over it."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from mvstylizer_common.errors import InvalidInputError
from services.web import certificate
from services.web.gateway import AUTO, ON, GatewaySettings
from tests.services.web.conftest import TIMEOUT, config_request, key_frame_request, receive, start_gateway


def served_fingerprint(port: int) -> str:
    """SHA-256 of the certificate the server on loopback:port presents, as browsers show it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        digest = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def test_the_self_signed_certificate_is_made_once_then_reused(tmp_path):
    made = certificate.self_signed(["localhost", "127.0.0.1", "::1"], tmp_path)
    assert made.made_now and made.self_signed
    assert stat.S_IMODE(os.stat(made.keyfile).st_mode) == 0o600
    again = certificate.self_signed(["localhost", "127.0.0.1"], tmp_path)
    assert not again.made_now and again.fingerprint == made.fingerprint
    # A name the certificate lacks (the machine moved to another network): a new one is made.
    moved = certificate.self_signed(["localhost", "127.0.0.1", "192.0.2.7"], tmp_path)
    assert moved.made_now and moved.fingerprint != made.fingerprint
    made_for = x509.load_pem_x509_certificate(Path(moved.certfile).read_bytes()).extensions
    names = made_for.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "192.0.2.7" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def test_a_damaged_certificate_is_replaced(tmp_path):
    made = certificate.self_signed(["localhost"], tmp_path)
    (tmp_path / certificate.CERT_NAME).write_text("not a certificate")
    replaced = certificate.self_signed(["localhost"], tmp_path)
    assert replaced.made_now and replaced.fingerprint != made.fingerprint


def test_the_printed_fingerprint_is_the_served_certificate_and_the_socket_works_over_tls(stylizer_address, tmp_path):
    gateway = start_gateway(stylizer_address, tls=ON, cert_dir=tmp_path)
    try:
        printed = gateway.announcement(qr=True)
        assert gateway.url.startswith("https://127.0.0.1:")
        assert f"SHA-256 {served_fingerprint(gateway.port)}" in printed
        assert ("made now" in printed and "\u2580" in printed) or "\u2584" in printed  # the QR code's half blocks
        # The certificate is its own authority: a client trusting it reaches the socket by address.
        context = ssl.create_default_context(cafile=gateway.certificate.certfile)
        url = f"wss://127.0.0.1:{gateway.port}/ws?token={gateway.token}"
        with connect(url, ssl=context, origin=f"https://127.0.0.1:{gateway.port}", open_timeout=TIMEOUT) as ws:
            ws.send(config_request())
            assert receive(ws).WhichOneof("kind") == "ready"
            ws.send(key_frame_request(0))
            assert receive(ws).key_frame.index == 0
    finally:
        gateway.stop()
    # The next run reuses it: the fingerprint the user checked stays the same.
    again = start_gateway(stylizer_address, tls=ON, cert_dir=tmp_path)
    try:
        assert "made now" not in again.announcement(qr=False)
        assert again.certificate.fingerprint == served_fingerprint(again.port) == gateway.certificate.fingerprint
    finally:
        again.stop()


def test_a_plain_http_origin_is_refused_on_an_https_gateway(stylizer_address, tmp_path):
    gateway = start_gateway(stylizer_address, tls=ON, cert_dir=tmp_path)
    try:
        context = ssl.create_default_context(cafile=gateway.certificate.certfile)
        url = f"wss://127.0.0.1:{gateway.port}/ws?token={gateway.token}"
        with pytest.raises(InvalidStatus, match="403"):
            connect(url, ssl=context, origin=f"http://127.0.0.1:{gateway.port}", open_timeout=TIMEOUT)
    finally:
        gateway.stop()


def test_off_loopback_the_gateway_serves_https_and_refuses_plain_http(tmp_path):
    assert GatewaySettings(host="0.0.0.0", tls=AUTO).uses_tls
    assert not GatewaySettings(host="127.0.0.1", tls=AUTO).uses_tls
    with pytest.raises(InvalidInputError, match="plain HTTP is served on loopback only"):
        GatewaySettings(host="0.0.0.0", tls="off").check()
    with pytest.raises(InvalidInputError, match="--certfile and --keyfile go together"):
        GatewaySettings(certfile=str(tmp_path / "cert.pem")).check()
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(InvalidInputError, match="not a usable pair"):
        certificate.given(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
