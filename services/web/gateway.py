"""The gateway as one object: where it serves, with which certificate, and the URL it prints.

Plain HTTP is served on loopback only: off loopback the token would cross the network in clear,
and a phone's browser gives the camera only to a secure page. So off loopback the gateway serves
HTTPS, with the user's certificate or a self-signed one (services.web.certificate).
"""

from __future__ import annotations

import io
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

import segno

from client.web.guard import allowed_hosts, new_token
from client.web.server import WebServer, bind
from mvstylizer_common.errors import InvalidInputError
from services.web import certificate as certificates
from services.web.app import BROWSER_DIR, gateway_app
from services.web.limits import SessionLimits
from services.web.relay import Upstream
from services.web.styles import style_photos

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
AUTO, ON, OFF = "auto", "on", "off"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def lan_address() -> str | None:
    """This machine's address on its default route (a UDP socket's connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, only used to pick a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith(("0.", "127.")) else address


@dataclass
class GatewaySettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls: str = AUTO  # AUTO: HTTPS off loopback, HTTP on it; ON: HTTPS everywhere; OFF: HTTP (loopback only)
    certfile: str | None = None
    keyfile: str | None = None
    limits: SessionLimits = field(default_factory=SessionLimits)
    static_dir: Path = BROWSER_DIR
    cert_dir: Path | None = None  # where a self-signed certificate is kept (None: the user's config folder)
    styles_dir: Path | None = None  # style photos offered to the page (--styles)

    def check(self) -> None:
        """InvalidInputError naming the flag, before anything starts."""
        if bool(self.certfile) != bool(self.keyfile):
            raise InvalidInputError("--certfile and --keyfile go together")
        if self.tls == OFF and self.certfile:
            raise InvalidInputError("--http serves no certificate: leave out --certfile and --keyfile")
        if self.tls == OFF and not is_loopback(self.host):
            raise InvalidInputError(
                f"--http with --host {self.host}: plain HTTP is served on loopback only (the token would cross "
                "the network in clear, and a phone's browser opens the camera only on an HTTPS page); "
                "leave out --http to serve HTTPS with a self-signed certificate, or give --certfile and --keyfile"
            )
        style_photos(self.styles_dir)
        if not self.static_dir.is_dir():
            raise InvalidInputError(f"the device page is missing: no folder {self.static_dir}")
        self.limits.check()

    @property
    def uses_tls(self) -> bool:
        return bool(self.certfile) or self.tls == ON or (self.tls == AUTO and not is_loopback(self.host))

    def url_host(self) -> str:
        """The host the printed URL names: the address a phone reaches this machine at."""
        if self.host in ("", "0.0.0.0", "::"):
            return lan_address() or socket.gethostname()
        return f"[{self.host}]" if ":" in self.host else self.host

    def names(self) -> list[str]:
        """Every name the page may be asked for by (Host header, certificate)."""
        names = ["localhost", "127.0.0.1", "::1", self.url_host().strip("[]")]
        if self.host not in ("", "0.0.0.0", "::") and not is_loopback(self.host):
            names.append(self.host)
        if not is_loopback(self.host):
            hostname = socket.gethostname()
            names += [hostname, f"{hostname}.local"]
        return list(dict.fromkeys(name.lower() for name in names if name))


class Gateway:
    """Binds at once (a busy port is a one-line error before the stylizer starts); start() picks
    the certificate and serves until stop(); `url` carries the run's token."""

    def __init__(self, settings: GatewaySettings, token: str | None = None):
        settings.check()
        self.settings = settings
        self.token = token or new_token()
        self.sock = bind(settings.host, settings.port, flag="--port")
        self.port = self.sock.getsockname()[1]
        self._server: WebServer | None = None
        try:
            self.certificate = self._pick_certificate()
        except BaseException:
            self.sock.close()
            raise

    def _pick_certificate(self) -> certificates.Certificate | None:
        settings = self.settings
        if settings.certfile:
            return certificates.given(settings.certfile, settings.keyfile)
        if settings.uses_tls:
            return certificates.self_signed(settings.names(), settings.cert_dir)
        return None

    def start(self, upstream: Upstream) -> Gateway:
        """Serves, relaying every session to `upstream`."""
        settings = self.settings
        try:
            extra = [name if ":" not in name else f"[{name}]" for name in settings.names()]
            app = gateway_app(
                upstream,
                settings.limits,
                self.token,
                allowed_hosts(settings.host, self.port, extra),
                scheme=self.scheme,
                static_dir=settings.static_dir,
                styles_dir=settings.styles_dir,
            )
            self.sessions = app.state.sessions
            self._server = WebServer(
                app,
                self.sock,
                name="gateway",
                certfile=self.certificate.certfile if self.certificate else None,
                keyfile=self.certificate.keyfile if self.certificate else None,
                ws_max_size=settings.limits.max_message_bytes,
                lifespan=True,
            ).start()
        except BaseException:
            self.sock.close()
            raise
        return self

    @property
    def scheme(self) -> str:
        return "https" if self.certificate is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.settings.url_host()}:{self.port}/?token={self.token}"

    def announcement(self, qr: bool = True) -> str:
        """What the command prints: the URL, the certificate's fingerprint, a QR code of the URL."""
        lines = ["open the device page at (its token included):", f"    {self.url}"]
        if self.certificate is not None:
            kind = (
                "self-signed, made now"
                if self.certificate.made_now
                else "self-signed"
                if (self.certificate.self_signed)
                else self.certificate.certfile
            )
            lines.append(f"certificate ({kind}): SHA-256 {self.certificate.fingerprint}")
            if self.certificate.self_signed:
                lines.append("    the browser warns about it: go on only if the fingerprint it shows is this one")
        text = "\n".join(lines) + "\n"
        if qr:
            text += terminal_qr(self.url)
        return text

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        else:
            self.sock.close()


def terminal_qr(text: str) -> str:
    """A QR code of `text` in Unicode half blocks, for a phone's camera to read off the terminal."""
    out = io.StringIO()
    segno.make(text, error="l").terminal(out=out, compact=True)
    return out.getvalue()
